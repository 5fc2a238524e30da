"""The statistics behind every verdict: a difference in test accuracy with its 95 % interval, a test that counts both
seed-to-seed noise and test-set sampling noise, Holm's correction within a family of comparisons, and the verdict.

Two runs of the same model differ because training is random (the seed) and because the test set is one sample of
images. The variance of a difference of mean accuracies is estimated as the sum of three parts:

- seed noise of each arm, s²/n over its seeds (Welch's unequal-variance form);
- test-set noise of the difference, paired image by image: var_i(c̄_a,i − c̄_b,i) / N, where c̄_x,i is image i's
  correctness averaged over the seeds of arm x (both arms are scored on the same N images).

The degrees of freedom are those of the seed part (Welch–Satterthwaite), the p-value and the interval come from
Student's t: so the test is never less conservative than Welch's t-test on the seeds alone.
With one seed in an arm the seed noise cannot be estimated: no test, and the verdict says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

ALPHA = 0.05  # the level of every verdict (after correction within its family)


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: test accuracy of each seed, and optionally each seed's per-image correctness."""

    accuracies: tuple[float, ...]  # fractions in [0, 1], one per seed
    correct: np.ndarray | None = None  # seeds × test images, True where the prediction was right

    @classmethod
    def of(cls, accuracies: Sequence[float], correct: np.ndarray | None = None) -> Arm:
        correct = None if correct is None else np.asarray(correct, dtype=float).reshape(len(accuracies), -1)
        return cls(tuple(float(a) for a in accuracies), correct)

    @property
    def seeds(self) -> int:
        return len(self.accuracies)


@dataclass(frozen=True)
class Difference:
    """Arm a minus arm b in accuracy points, its 95 % interval, the test's p-value and degrees of freedom."""

    difference: float  # points
    low: float  # 95 % interval, points
    high: float
    p_value: float  # two-sided; NaN when an arm has a single seed
    df: float
    seeds_a: int
    seeds_b: int
    seed_se: float  # standard error from seed noise alone, points
    test_se: float  # standard error from test-set sampling alone, points (0 without per-image data)

    def to_dict(self) -> dict:
        return asdict(self)


def compare(a: Arm, b: Arm, level: float = 0.95) -> Difference:
    """a − b: Welch over seeds plus the paired test-set component, Welch–Satterthwaite degrees of freedom."""
    difference = (np.mean(a.accuracies) - np.mean(b.accuracies)) * 100
    if min(a.seeds, b.seeds) < 2:
        nan = float("nan")
        return Difference(difference, nan, nan, nan, nan, a.seeds, b.seeds, nan, nan)
    parts = [(np.var(arm.accuracies, ddof=1) / arm.seeds, arm.seeds - 1) for arm in (a, b)]
    test_variance = 0.0
    if a.correct is not None and b.correct is not None:
        per_image = a.correct.mean(0) - b.correct.mean(0)
        test_variance = float(np.var(per_image, ddof=1) / len(per_image))
        parts.append((test_variance, len(per_image) - 1))
    variance = sum(v for v, _ in parts)
    seed_variance = parts[0][0] + parts[1][0]
    # Degrees of freedom of the seed part alone (Welch–Satterthwaite): the test-set part is estimated from
    # thousands of images and would otherwise raise them, so adding a noise source could narrow the interval.
    # With this choice the test is never less conservative than Welch's on the seeds alone.
    seed_parts = [(v, d) for v, d in parts[:2] if v > 0]
    if variance == 0:
        p_value, df, half = (1.0 if difference == 0 else 0.0), float("inf"), 0.0
    else:
        used = seed_parts or [(v, d) for v, d in parts if v > 0]
        df = sum(v for v, _ in used) ** 2 / sum(v**2 / d for v, d in used)
        t = difference / 100 / math.sqrt(variance)
        p_value = float(2 * scipy_stats.t.sf(abs(t), df))
        half = float(scipy_stats.t.ppf(0.5 + level / 2, df) * math.sqrt(variance) * 100)
    return Difference(float(difference), float(difference - half), float(difference + half), p_value, float(df),
                      a.seeds, b.seeds, math.sqrt(seed_variance) * 100, math.sqrt(test_variance) * 100)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count towards the family's size)."""
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(len(values), np.nan)
    valid = np.flatnonzero(~np.isnan(values))
    order = valid[np.argsort(values[valid], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(order) - rank) * values[index])
        adjusted[index] = min(1.0, running)
    return adjusted.tolist()


def verdict(difference: float, adjusted_p: float, seeds: int, alpha: float = ALPHA) -> str:
    """'better' / 'worse' only when significant after correction; otherwise what the budget could not resolve."""
    if not math.isnan(adjusted_p) and adjusted_p < alpha:
        return "better" if difference > 0 else "worse"
    return f"not resolved with {seeds} seed{'s' if seeds != 1 else ''}"


def compare_family(comparisons: dict[str, tuple[Arm, Arm]], alpha: float = ALPHA) -> pd.DataFrame:
    """One row per named comparison (a, b): a − b with its interval, p, Holm-adjusted p within this family, verdict."""
    rows = []
    for name, (a, b) in comparisons.items():
        rows.append({"comparison": name, **compare(a, b).to_dict()})
    table = pd.DataFrame(rows, columns=["comparison", *Difference.__dataclass_fields__])
    table["p_holm"] = holm(table.p_value.tolist()) if len(table) else []
    table["family_size"] = int(table.p_value.notna().sum())
    table["verdict"] = [verdict(d, p, min(sa, sb), alpha)
                        for d, p, sa, sb in zip(table.difference, table.p_holm, table.seeds_a, table.seeds_b)]
    return table


def rank_sum(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann–Whitney p-value for 'a and b come from the same distribution' (used for per-channel scores)."""
    return float(scipy_stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class MeanInterval:
    """A mean over seeds with its Student's t interval (NaN bounds for a single value)."""

    mean: float
    low: float
    high: float


def mean_interval(values: Sequence[float], level: float = 0.95) -> MeanInterval:
    """Student's t interval of a mean over seeds; the interval is NaN for a single value."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return MeanInterval(mean, float("nan"), float("nan"))
    half = float(scipy_stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return MeanInterval(mean, mean - half, mean + half)


def interval_from_summary(mean: float, std: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Student's t interval of a mean from its summary (mean, std over n seeds); NaN for fewer than 2 seeds."""
    if n < 2 or math.isnan(std):
        return float("nan"), float("nan")
    half = float(scipy_stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n))
    return mean - half, mean + half


# --- the tables every verdict is read from: runs summarised per variant, and variants against their reference ---

def summarise_runs(runs: pd.DataFrame, by: tuple[str, ...] = ("experiment", "variant")) -> pd.DataFrame:
    """Recorded runs (runs.csv) grouped: mean ± std over seeds of accuracy, loss and time, with parameters and MACs
    (section 11's run summary)."""
    if runs.empty:
        return pd.DataFrame()
    grouped = runs.groupby(list(by), sort=False)
    table = grouped.agg(
        seeds=("seed", "nunique"),
        epochs=("epochs", "first"),
        train_size=("train_size", "first"),
        parameters=("parameters", "first"),
        macs=("macs", "first"),
        test_accuracy_mean=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std"),
        test_loss_mean=("test_loss", "mean"),
        best_val_accuracy_mean=("best_val_accuracy", "mean"),
        train_seconds_mean=("train_seconds", "mean"),
    ).reset_index()
    table["test_accuracy_std"] = table["test_accuracy_std"].fillna(0.0)
    return table


def _mean_of(outcomes, field_name: str) -> float:
    """The mean over seeds of one recorded field of a variant's runs (test_loss, train_seconds...)."""
    return float(pd.Series([o.record[field_name] for o in outcomes], dtype=float).mean())


def validation_summary(outcomes: dict[str, list]) -> pd.DataFrame:
    """One row per variant ({variant: [Outcome per seed]}) of what a recipe is chosen on: the mean (and 95 %
    interval over seeds) of each run's best validation accuracy, never a test number (sections 3.4 and 5.2)."""
    rows = []
    for variant, runs in outcomes.items():
        values = [o.record["best_val_accuracy"] for o in runs]
        interval = mean_interval(values)
        rows.append({"variant": variant, "augment": runs[0].record["train_config"]["augment"], "seeds": len(runs),
                     "best_val_accuracy_mean": interval.mean, "best_val_accuracy_low": interval.low,
                     "best_val_accuracy_high": interval.high})
    return pd.DataFrame(rows)


def summarise_outcomes(outcomes: dict[str, list]) -> pd.DataFrame:
    """One row per variant ({variant: [Outcome per seed]}): mean ± std test accuracy over seeds, parameters, MACs
    and training time."""
    rows = []
    for variant, runs in outcomes.items():
        accuracy = pd.Series([o.record["test_accuracy"] for o in runs], dtype=float)
        rows.append({
            "variant": variant,
            "seeds": len(runs),
            "train_size": runs[0].record["train_size"],
            "epochs": runs[0].record["epochs"],
            "augment": runs[0].record["train_config"]["augment"],
            "parameters": runs[0].record["parameters"],
            "macs": runs[0].record["macs"],
            "test_accuracy_mean": accuracy.mean(),
            "test_accuracy_std": accuracy.std() if len(runs) > 1 else float("nan"),
            "test_loss_mean": _mean_of(runs, "test_loss"),
            "train_seconds_mean": _mean_of(runs, "train_seconds"),
        })
    return pd.DataFrame(rows)


def arm(outcomes: list, test_labels) -> Arm:
    """A variant's runs as one side of a comparison: accuracy per seed and correctness per test image."""
    labels = np.asarray(test_labels)
    return Arm.of([o.record["test_accuracy"] for o in outcomes],
                  np.stack([o.test_predictions == labels for o in outcomes]))


def effects_table(groups: dict[str, dict[str, list]], test_labels) -> pd.DataFrame:
    """Every variant of every experiment ({experiment: {variant: [Outcome]}}) against its experiment's first
    variant, as ONE family of comparisons (sections 3.3, 5.2, 6 and 7).

    One row per (experiment, variant): the summary columns, then the difference from the reference in points with
    its 95 % interval, p, Holm-adjusted p over all comparisons passed together, and the verdict.
    """
    tables, comparisons = [], {}
    for experiment, outcomes in groups.items():
        reference = next(iter(outcomes))
        tables.append(summarise_outcomes(outcomes).assign(experiment=experiment, reference=reference))
        for variant, runs in outcomes.items():
            if variant != reference:
                comparisons[(experiment, variant)] = (arm(runs, test_labels), arm(outcomes[reference], test_labels))
    table = pd.concat(tables, ignore_index=True)
    family = compare_family(comparisons)
    family["experiment"] = [name[0] for name in family.comparison]
    family["variant"] = [name[1] for name in family.comparison]
    table = table.merge(family.drop(columns="comparison"), on=["experiment", "variant"], how="left")
    table.loc[table.variant == table.reference, "verdict"] = "reference"
    columns = ["experiment", "variant", "reference"]
    return table[columns + [c for c in table.columns if c not in columns]]


# --- accuracy against cost (section 6.10) ---

def distinct_configurations(table: pd.DataFrame) -> pd.DataFrame:
    """Each distinct configuration of an effects table once (the shared reference CNN is named 'default CNN').

    Used in section 6.10.
    """
    unique = table.copy()
    unique.loc[unique.verdict == "reference", "variant"] = "default CNN"
    unique.loc[unique.verdict == "reference", "experiment"] = "all"
    return unique.drop_duplicates(["parameters", "macs", "test_accuracy_mean"]).reset_index(drop=True)


def pareto_front(points: pd.DataFrame, cost: str) -> pd.Series:
    """True for the rows no other row beats on both mean accuracy (higher) and `cost` (lower)."""
    ordered = points.sort_values([cost, "test_accuracy_mean"], ascending=[True, False])
    best, front = -np.inf, pd.Series(False, index=points.index)
    for index, row in ordered.iterrows():
        if row.test_accuracy_mean > best:
            front[index], best = True, row.test_accuracy_mean
    return front


# --- the probes' tests (sections 7.1 and 7.4) ---

@dataclass(frozen=True)
class ShiftTest:
    """Whether the default CNN's accuracy falls under a 2-pixel shift: the mean drop over seeds and its t interval."""

    seeds: int
    drop: float  # points
    low: float
    high: float

    @property
    def verdict(self) -> str:
        if self.seeds == 0:
            return "not measured"
        if self.seeds < 2:
            return "one seed: no test"
        if self.low > 0:  # invariance is refuted only when the interval excludes 0
            return (f"not invariant: accuracy falls by {self.drop:.1f} points (95 % interval {self.low:.1f} to "
                    f"{self.high:.1f}, {self.seeds} seeds)")
        return f"not resolved with {self.seeds} seeds"


def shift_test(per_seed_drops: Sequence[float]) -> ShiftTest:
    """Student's t interval of the mean accuracy drop (points) over seeds, the same images scored shifted and not."""
    drops = np.asarray([d for d in per_seed_drops if not math.isnan(d)], dtype=float)
    if len(drops) == 0:
        return ShiftTest(0, float("nan"), float("nan"), float("nan"))
    interval = mean_interval(drops)
    return ShiftTest(len(drops), interval.mean, interval.low, interval.high)


def selectivity_tests(table: pd.DataFrame) -> pd.DataFrame:
    """Per block of a class_selectivity table: the median class entropy of its channels, the shuffled-label
    baseline, Wilcoxon's p for 'below shuffled' (paired over channels) and Mann–Whitney's p against the first block."""
    blocks = list(dict.fromkeys(table.block))
    first = table[table.block == blocks[0]].entropy
    rows = []
    for block in blocks:
        part = table[table.block == block]
        rows.append({"block": block, "channels": len(part), "median_entropy": float(part.entropy.median()),
                     "shuffled_entropy": float(part.shuffled_entropy.mean()),
                     "p_below_shuffled": float(scipy_stats.wilcoxon(part.entropy, part.shuffled_entropy,
                                                                    alternative="less").pvalue),
                     "p_vs_first": float("nan") if block == blocks[0] else rank_sum(part.entropy, first)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class EdgeLikenessTest:
    """Are trained first-layer filters more edge-like than random ones drawn as at initialisation?"""

    trained_median: float
    random_median: float
    random_95th: float  # the |cosine| only 5 % of random filters exceed
    trained_above: int  # trained filters above it
    trained_count: int
    random_count: int
    p_value: float  # one-sided Mann–Whitney, trained > random, the filters of one model as the sample

    @property
    def more_edge_like(self) -> bool:
        return self.trained_median > self.random_median and self.p_value < ALPHA


def edge_likeness_test(edges: pd.DataFrame) -> EdgeLikenessTest:
    """The test behind section 5.5's sentence, on a probes.edge_likeness table."""
    trained = edges[edges.weights == "trained"].edge_cosine
    drawn = edges[edges.weights != "trained"].edge_cosine
    high = float(drawn.quantile(0.95))
    p_value = float(scipy_stats.mannwhitneyu(trained, drawn, alternative="greater").pvalue)
    return EdgeLikenessTest(float(trained.median()), float(drawn.median()), high, int((trained > high).sum()),
                            len(trained), len(drawn), p_value)


@dataclass(frozen=True)
class HierarchyTest:
    """Are the last block's channels more class-specific than the first block's (lower median entropy, p < ALPHA)?"""

    first_block: str
    last_block: str
    first_median: float
    last_median: float
    shuffled: float
    p_value: float

    @property
    def deeper_more_specific(self) -> bool:
        return self.last_median < self.first_median and self.p_value < ALPHA


def hierarchy_test(selectivity: pd.DataFrame) -> HierarchyTest:
    """Mann–Whitney over channels, last block against first, of a class_selectivity table (section 7.4)."""
    blocks = list(dict.fromkeys(selectivity.block))
    first, last = (selectivity[selectivity.block == b] for b in (blocks[0], blocks[-1]))
    return HierarchyTest(blocks[0], blocks[-1], float(first.entropy.median()), float(last.entropy.median()),
                         float(selectivity.shuffled_entropy.mean()), rank_sum(last.entropy, first.entropy))
