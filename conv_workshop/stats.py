"""The statistics behind every verdict: a difference (or any contrast) of mean test accuracies with its 95 %
interval, a test that counts seed-to-seed noise and test-set sampling noise once each, Holm's correction within a
declared family of tests, equivalence (TOST) for "no difference", McNemar per class, and the seeds a difference needs.

Two runs of the same model differ because training is random (the seed) and because the test set is one sample of
images. For a contrast D = Σ_x w_x · (mean accuracy of arm x over its n_x seeds), the variance is the sum of:

- seed noise, Σ_x w_x² s²_x / n_x, with s²_x the variance over seeds of arm x's test accuracy. Arms that share data
  and recipe (the same `pool`) share one pooled estimate s²_p = Σ (n_x − 1) s²_x / Σ (n_x − 1), with
  Σ (n_x − 1) degrees of freedom; an arm alone in its pool is Welch's unequal-variance case;
- test-set noise: which images the test set happens to hold. Image by image, d_i = Σ_x w_x c̄_x,i, where c̄_x,i is
  image i's correctness averaged over arm x's seeds (every arm is scored on the same N images). var_i(d_i) / N also
  contains each image's seed-to-seed flips, Σ_x w_x² σ²_x,i / n_x averaged over images, which the seed term already
  counts: that part is estimated without bias from each image's variance over seeds and subtracted, so no noise
  is counted twice (with one seed in an arm its flips cannot be estimated and stay in: conservative).

The degrees of freedom combine the parts (Welch–Satterthwaite), and the p-value and the interval come from Student's
t. tests/test_stats.py checks by simulation, with both noise sources known, that the 95 % interval covers the true
difference 93–97 % of the time and that a true zero is called a difference at most 5 % of the time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from .i18n import in_language, verdict_words

ALPHA = 0.05  # the level of every verdict (after correction within its family)
EQUIVALENCE_MARGIN = 0.5  # points: "equivalent" means the difference is shown to lie within ± this (TOST)


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: test accuracy of each seed, optionally each seed's per-image correctness, and the
    pool of arms (same data and recipe) whose seed variance it shares."""

    accuracies: tuple[float, ...]  # fractions in [0, 1], one per seed
    correct: np.ndarray | None = None  # seeds × test images, True where the prediction was right
    pool: str = ""  # arms with the same non-empty pool share one seed variance; "" = this arm alone

    @classmethod
    def of(cls, accuracies: Sequence[float], correct: np.ndarray | None = None, pool: str = "") -> Arm:
        correct = None if correct is None else np.asarray(correct, dtype=float).reshape(len(accuracies), -1)
        return cls(tuple(float(a) for a in accuracies), correct, pool)

    @property
    def seeds(self) -> int:
        return len(self.accuracies)


@dataclass(frozen=True)
class SeedPool:
    """A seed variance (of test accuracy, as a fraction²) pooled over arms that share data and recipe."""

    variance: float
    df: int  # Σ (seeds − 1) over the pooled arms
    arms: int


def seed_pools(arms: Sequence[Arm]) -> dict[str, SeedPool]:
    """Each pool's variance over the arms of `arms` in it (an arm met twice, such as a reference shared by several
    comparisons, counts once: arms are told apart by their accuracies); pools whose arms all have a single seed are
    absent (their seed noise cannot be estimated)."""
    grouped: dict[str, dict[tuple, Arm]] = {}
    for arm in arms:
        if arm.pool:
            grouped.setdefault(arm.pool, {})[arm.accuracies] = arm
    pools = {}
    for name, members in grouped.items():
        df = sum(arm.seeds - 1 for arm in members.values())
        if df > 0:
            total = sum((arm.seeds - 1) * np.var(arm.accuracies, ddof=1) for arm in members.values() if arm.seeds > 1)
            pools[name] = SeedPool(float(total / df), df, len(members))
    return pools


@dataclass(frozen=True)
class Difference:
    """A contrast of arms (arm a minus arm b for a comparison) in accuracy points: its 95 % interval, the test's
    p-value and degrees of freedom, and the equivalence test's p-value for the margin ±EQUIVALENCE_MARGIN."""

    difference: float  # points
    low: float  # 95 % interval, points
    high: float
    p_value: float  # two-sided, H0: no difference; NaN when the seed noise cannot be estimated
    df: float
    seeds_a: int
    seeds_b: int
    seed_se: float  # standard error from seed noise alone, points
    test_se: float  # standard error from test-set sampling alone, points (0 without per-image data)
    se: float  # the total standard error, points
    p_equivalent: float  # TOST, H0: |difference| ≥ EQUIVALENCE_MARGIN

    def to_dict(self) -> dict:
        return asdict(self)


def _untestable(difference: float, seeds_a: int, seeds_b: int) -> Difference:
    nan = float("nan")
    return Difference(float(difference), nan, nan, nan, nan, seeds_a, seeds_b, nan, nan, nan, nan)


def contrast(arms: Sequence[Arm], weights: Sequence[float], pools: dict[str, SeedPool] | None = None,
             level: float = 0.95, margin: float = EQUIVALENCE_MARGIN) -> Difference:
    """Σ w_x · mean accuracy of arm x, in points, tested as the module docstring says. `pools` defaults to the
    pools of these arms (seed_pools); an arm whose seed noise cannot be estimated makes the contrast untestable.

    seeds_a / seeds_b are the seeds of the first and last arm."""
    pools = seed_pools(arms) if pools is None else pools
    weights = np.asarray(weights, dtype=float)
    difference = float(sum(w * np.mean(arm.accuracies) for w, arm in zip(weights, arms)) * 100)
    seeds_a, seeds_b = arms[0].seeds, arms[-1].seeds
    terms: list[tuple[float, float]] = []  # (variance, degrees of freedom) of each independent estimate
    pooled: dict[str, float] = {}
    for w, arm in zip(weights, arms):
        if arm.pool in pools:
            pooled[arm.pool] = pooled.get(arm.pool, 0.0) + w**2 / arm.seeds
        elif arm.seeds > 1:
            terms.append((w**2 * np.var(arm.accuracies, ddof=1) / arm.seeds, arm.seeds - 1))
        else:
            return _untestable(difference, seeds_a, seeds_b)
    terms += [(pools[name].variance * factor, pools[name].df) for name, factor in pooled.items()]
    seed_variance = sum(v for v, _ in terms)
    test_variance = 0.0
    if all(arm.correct is not None for arm in arms):
        per_image = sum(w * arm.correct.mean(0) for w, arm in zip(weights, arms))
        flips = sum(w**2 * arm.correct.var(0, ddof=1) / arm.seeds for w, arm in zip(weights, arms) if arm.seeds > 1)
        images = len(per_image)
        test_variance = max(0.0, float(np.var(per_image, ddof=1) - np.mean(flips))) / images
        terms.append((test_variance, images - 1))
    variance = seed_variance + test_variance
    if variance == 0:
        same = difference == 0
        inside = abs(difference) < margin
        return Difference(difference, difference, difference, 1.0 if same else 0.0, float("inf"), seeds_a, seeds_b,
                          0.0, 0.0, 0.0, 0.0 if inside else 1.0)
    df = variance**2 / sum(v**2 / d for v, d in terms if v > 0)
    se = math.sqrt(variance) * 100
    p_value = float(2 * scipy_stats.t.sf(abs(difference) / se, df))
    half = float(scipy_stats.t.ppf(0.5 + level / 2, df) * se)
    # TOST: two one-sided tests, "difference ≤ −margin" and "difference ≥ +margin"; both must be rejected.
    p_equivalent = float(max(scipy_stats.t.sf((difference + margin) / se, df),
                             scipy_stats.t.cdf((difference - margin) / se, df)))
    return Difference(difference, difference - half, difference + half, p_value, float(df), seeds_a, seeds_b,
                      math.sqrt(seed_variance) * 100, math.sqrt(test_variance) * 100, se, p_equivalent)


def compare(a: Arm, b: Arm, pools: dict[str, SeedPool] | None = None, level: float = 0.95) -> Difference:
    """a − b, in points (contrast with weights +1, −1)."""
    return contrast([a, b], [1.0, -1.0], pools, level)


def holm(p_values: Sequence[float], family_size: int | None = None) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count towards the family's size).

    `family_size` counts tests of the declared family not passed here (not run yet, or shown elsewhere) as p = 1:
    Holm's adjusted p-values only grow when an input grows, so this can only make a verdict stricter."""
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(len(values), np.nan)
    valid = np.flatnonzero(~np.isnan(values))
    order = valid[np.argsort(values[valid], kind="stable")]
    size = max(len(order), family_size or 0)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (size - rank) * values[index])
        adjusted[index] = min(1.0, running)
    return adjusted.tolist()


VERDICTS = {
    "better": "the variant's test accuracy is higher: the difference is significant after Holm's correction",
    "worse": "lower, by the same test",
    f"equivalent within ±{EQUIVALENCE_MARGIN:g}": "no difference larger than the margin: both one-sided tests of "
                                                "the TOST equivalence test reject it after Holm's correction",
    "not resolved with N seeds": "neither: the budget cannot tell, which is not the same as 'no difference'",
}


# What a test can decide. Effects tables mark their reference rows "reference"; the data-size interaction says whether
# the lead is larger or smaller with fewer images; the shift probe may find no seeds or one.
VERDICT_KINDS = ("better", "worse", "equivalent", "not resolved", "reference", "larger with fewer images",
                 "smaller with fewer images", "not invariant", "not measured", "one seed: no test")


@dataclass(frozen=True)
class Verdict:
    """What a test decided, as data: its kind and what its words need (the seeds, the margin, the shift's drop). It is
    turned into words only where it is shown: `words()` in the current language, `str()` in English (files, README).
    Code reads `kind` and the fields, never the words."""

    kind: str  # one of VERDICT_KINDS
    seeds: int | None = None  # "not resolved with N seeds", "not invariant ... N seeds"
    margin: float | None = None  # "equivalent within ±margin"
    drop: float | None = None  # "not invariant": the mean drop (points) and its 95 % interval
    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        if self.kind not in VERDICT_KINDS:
            raise ValueError(f"{self.kind!r} is not a verdict: one of {', '.join(VERDICT_KINDS)}")

    @property
    def decided(self) -> bool:
        """Better or worse: a difference the test established."""
        return self.kind in ("better", "worse")

    def words(self) -> str:
        """The verdict in the current language (i18n.verdict_words)."""
        return verdict_words(self)

    def __str__(self) -> str:
        with in_language("en"):
            return verdict_words(self)


REFERENCE = Verdict("reference")


def verdict(difference: float, adjusted_p: float, seeds: int, adjusted_equivalence: float = float("nan"),
            alpha: float = ALPHA, margin: float = EQUIVALENCE_MARGIN) -> Verdict:
    """Better / worse when the difference is significant after correction; equivalent within ±margin when the
    equivalence test is; otherwise not resolved with this many seeds (VERDICTS explains each)."""
    if not math.isnan(adjusted_p) and adjusted_p < alpha:
        return Verdict("better" if difference > 0 else "worse")
    if not math.isnan(adjusted_equivalence) and adjusted_equivalence < alpha:
        return Verdict("equivalent", margin=margin)
    return Verdict("not resolved", seeds=seeds)


def compare_family(comparisons: dict, alpha: float = ALPHA, family_size: int | None = None,
                   pools: dict[str, SeedPool] | None = None) -> pd.DataFrame:
    """One row per named comparison (a, b): a − b with its interval, p, Holm-adjusted p (of the difference and of
    the equivalence test) within this family of `family_size` tests (default: those passed), and the verdict.
    The seed variance is pooled over all arms passed that share a pool (default), or taken from `pools`."""
    arms = [arm for pair in comparisons.values() for arm in pair]
    pools = seed_pools(arms) if pools is None else pools
    rows = [{"comparison": name, **compare(a, b, pools).to_dict()} for name, (a, b) in comparisons.items()]
    table = pd.DataFrame(rows, columns=["comparison", *Difference.__dataclass_fields__])
    table["p_holm"] = holm(table.p_value.tolist(), family_size) if len(table) else []
    table["p_equivalent_holm"] = holm(table.p_equivalent.tolist(), family_size) if len(table) else []
    table["family_size"] = max(int(table.p_value.notna().sum()), family_size or 0)
    table["verdict"] = [verdict(d, p, min(sa, sb), pe, alpha) for d, p, sa, sb, pe in zip(
        table.difference, table.p_holm, table.seeds_a, table.seeds_b, table.p_equivalent_holm)]
    return table


def mcnemar_by_class(correct_a, correct_b, labels, class_names: Sequence[str]) -> pd.DataFrame:
    """Per class, McNemar's exact test of two trained models on the same test images (section 5.3): the images only
    model a gets right and only model b gets right, the binomial p-value of that split, Holm over the classes.

    It conditions on the two trained models: it says whether *these* models differ on this class's test images, not
    whether another seed would."""
    correct_a, correct_b, labels = (np.asarray(x) for x in (correct_a, correct_b, labels))
    rows = []
    for index, name in enumerate(class_names):
        mine = labels == index
        only_a, only_b = int((correct_a & ~correct_b & mine).sum()), int((~correct_a & correct_b & mine).sum())
        p_value = float(scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0
        rows.append({"class": name, "images": int(mine.sum()), "accuracy_a": float(correct_a[mine].mean()),
                     "accuracy_b": float(correct_b[mine].mean()), "only_a": only_a, "only_b": only_b,
                     "p_value": p_value})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table.p_value.tolist())
    table["verdict"] = [Verdict("better" if a > b else "worse") if p < ALPHA else Verdict("not resolved")
                        for p, a, b in zip(table.p_holm, table.only_a, table.only_b)]
    return table


def power(difference: float, seeds: int, seed_sd: float, test_se: float, family_size: int = 1,
          pooled_arms: int = 2, alpha: float = ALPHA) -> float:
    """The chance that a true `difference` (points) between two arms of `seeds` seeds each is called better or
    worse, with seed SD `seed_sd` (points, per run) pooled over `pooled_arms` arms, test-set SE `test_se` (points)
    and Bonferroni's α / family_size (Holm's first step; Holm is at least as powerful). Noncentral t."""
    se = math.sqrt(2 * seed_sd**2 / seeds + test_se**2)
    df = max(1, pooled_arms * (seeds - 1))
    critical = scipy_stats.t.ppf(1 - alpha / family_size / 2, df)
    shift = difference / se
    return float(scipy_stats.nct.sf(critical, df, shift) + scipy_stats.nct.cdf(-critical, df, shift))


def seeds_needed(seed_sd: float, test_se: float, difference: float = EQUIVALENCE_MARGIN, target: float = 0.8,
                 family_size: int = 1, pooled_arms: int = 2, most: int = 200) -> int:
    """The fewest seeds per arm that detect a true `difference` with probability `target` (power)."""
    for seeds in range(2, most + 1):
        if power(difference, seeds, seed_sd, test_se, family_size, pooled_arms) >= target:
            return seeds
    return most


def power_table(seed_sd: float, test_se: float, family_size: int, pooled_arms: int,
                seeds: Sequence[int] = (3, 5, 7, 10, 15, 20), difference: float = EQUIVALENCE_MARGIN) -> pd.DataFrame:
    """Section 6: for each number of seeds per arm, the power to detect `difference` points and the smallest
    difference detected 80 % of the time, at the measured noise and the family's correction."""
    rows = []
    for n in seeds:
        detectable = next((d / 100 for d in range(1, 1001)
                           if power(d / 100, n, seed_sd, test_se, family_size, pooled_arms) >= 0.8), float("nan"))
        rows.append({"seeds": n, "power": power(difference, n, seed_sd, test_se, family_size, pooled_arms),
                     "detectable": detectable})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Noise:
    """The noise of a family's comparisons (section 6): seed SD pooled over the reference's pool, the median
    test-set standard error of a difference, and the seeds per arm a 0.5-point difference needs (80 % power)."""

    seed_sd: float  # points, one run's test accuracy
    arms: int  # arms pooled
    test_se: float  # points
    family_size: int
    seeds_needed: int

    def power_table(self) -> pd.DataFrame:
        return power_table(self.seed_sd, self.test_se, self.family_size, self.arms)


def family_noise(groups: dict[str, dict[str, list]], test_labels, family_size: int) -> Noise:
    """The Noise of a family of experiments ({experiment: {variant: runs}}, each experiment's first variant the
    reference), measured on the first experiment's reference pool. Used in section 6."""
    if isinstance(family_size, bool) or not isinstance(family_size, (int, np.integer)) or family_size < 1:
        raise ValueError(f"family_size is {family_size!r}: send the declared family's number of tests, a whole "
                         "number ≥ 1 (catalogue.family_size)")
    table = effects_table(groups, test_labels, family_size)
    reference = next(iter(next(iter(groups.values())).values()))
    arms = [arm(runs, test_labels) for outcomes in groups.values() for runs in outcomes.values()]
    pool = seed_pools(arms).get(pool_key(reference[0].record))
    if pool is None:
        return Noise(float("nan"), 0, float("nan"), family_size, 0)
    seed_sd = math.sqrt(pool.variance) * 100
    test_se = float(table.test_se.dropna().median())
    return Noise(seed_sd, pool.arms, test_se, family_size,
                 seeds_needed(seed_sd, test_se, family_size=family_size, pooled_arms=pool.arms))


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


def accuracy_interval(correct: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """The interval of one model's accuracy over a test set (Wilson's score interval for a proportion): how far the
    accuracy on other images like these could be, from test-set sampling alone."""
    interval = scipy_stats.binomtest(int(correct), int(total)).proportion_ci(confidence_level=level, method="wilson")
    return float(interval.low), float(interval.high)


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
    columns = dict(
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
    )
    table = grouped.agg(**{name: how for name, how in columns.items() if name not in by}).reset_index()
    table["test_accuracy_std"] = table["test_accuracy_std"].fillna(0.0)
    return table


def _mean_of(outcomes, field_name: str) -> float:
    """The mean over seeds of one recorded field of a variant's runs (test_loss, train_seconds...)."""
    return float(pd.Series([o.record[field_name] for o in outcomes], dtype=float).mean())


def validation_summary(outcomes: dict[str, list]) -> pd.DataFrame:
    """One row per variant ({variant: [Outcome per seed]}) of what a recipe is chosen on: the mean (and 95 %
    interval over seeds) of each run's best validation accuracy, never a test number (sections 3.3 and 5.2)."""
    rows = []
    for variant, runs in outcomes.items():
        values = [o.record["best_val_accuracy"] for o in runs]
        interval = mean_interval(values)
        rows.append({"variant": variant, "augment": runs[0].record["train_config"]["augment"], "seeds": len(runs),
                     "train_size": runs[0].record["train_size"], "epochs": runs[0].record["epochs"],
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


def pool_key(record: dict) -> str:
    """Runs that share data and recipe (training-set size, data, training config, kind of model) share a pool."""
    config = record["train_config"]
    return f"{record.get('model')}|{record.get('data')}|{record.get('train_size')}|{sorted(config.items())}"


def arm(outcomes: list, test_labels) -> Arm:
    """A variant's runs as one side of a comparison: accuracy per seed, correctness per test image, and its pool."""
    labels = np.asarray(test_labels)
    return Arm.of([o.record["test_accuracy"] for o in outcomes],
                  np.stack([o.test_predictions == labels for o in outcomes]), pool=pool_key(outcomes[0].record))


def effects_table(groups: dict[str, dict[str, list]], test_labels, family_size: int | None = None) -> pd.DataFrame:
    """Every variant of every experiment ({experiment: {variant: [Outcome]}}) against its experiment's first
    variant, as ONE family of tests (of `family_size` tests in all, when some are not passed; sections 3.4, 5.2, 6
    and 7).

    One row per (experiment, variant): the summary columns, then the difference from the reference in points with
    its 95 % interval, p, Holm-adjusted p over the family, the equivalence test and the verdict. The seed variance
    is pooled over the arms passed that share data and recipe (pool_key).
    """
    tables, comparisons = [], {}
    for experiment, outcomes in groups.items():
        reference = next(iter(outcomes))
        tables.append(summarise_outcomes(outcomes).assign(experiment=experiment, reference=reference))
        for variant, runs in outcomes.items():
            if variant != reference:
                comparisons[(experiment, variant)] = (arm(runs, test_labels), arm(outcomes[reference], test_labels))
    table = pd.concat(tables, ignore_index=True)
    family = compare_family(comparisons, family_size=family_size)
    family["experiment"] = [name[0] for name in family.comparison]
    family["variant"] = [name[1] for name in family.comparison]
    table = table.merge(family.drop(columns="comparison"), on=["experiment", "variant"], how="left")
    table["verdict"] = [REFERENCE if variant == reference else found
                        for variant, reference, found in zip(table.variant, table.reference, table.verdict)]
    columns = ["experiment", "variant", "reference"]
    return table[columns + [c for c in table.columns if c not in columns]]


def lead_change(groups: dict[str, dict[str, list]], test_labels, small: str, large: str) -> pd.DataFrame:
    """The interaction behind "does the CNN's lead grow with less data?" (section 7.3): the lead (second variant
    minus first, the reference) at experiment `small` minus the lead at `large`, a contrast of four arms tested as
    one family of one test; its verdict says whether the lead is larger or smaller with fewer images."""
    arms = []
    for experiment in (small, large):
        reference, other = list(groups[experiment].values())[:2]
        arms += [arm(other, test_labels), arm(reference, test_labels)]
    result = contrast(arms, [1.0, -1.0, -1.0, 1.0])
    p_adjusted, equivalent = holm([result.p_value])[0], holm([result.p_equivalent])[0]
    word = verdict(result.difference, p_adjusted, min(a.seeds for a in arms), equivalent)
    if word.decided:
        word = Verdict("larger with fewer images" if word.kind == "better" else "smaller with fewer images")
    return pd.DataFrame([{"small": small, "large": large, **result.to_dict(), "p_holm": p_adjusted,
                          "p_equivalent_holm": equivalent, "verdict": word}])


# --- accuracy against cost (section 6.10) ---

def distinct_configurations(table: pd.DataFrame) -> pd.DataFrame:
    """Each distinct configuration of an effects table once (the shared reference CNN is named 'default CNN').

    Used in section 6.10.
    """
    unique = table.copy()
    unique.loc[unique.verdict == REFERENCE, "variant"] = "default CNN"
    unique.loc[unique.verdict == REFERENCE, "experiment"] = "all"
    return unique.drop_duplicates(["parameters", "macs", "test_accuracy_mean"]).reset_index(drop=True)


def configuration_numbers(points: pd.DataFrame) -> pd.Series:
    """1, 2, … for the rows of `points`, most accurate first (ties keep their order): the numbers of the figure's key
    (plots.accuracy_versus_cost) and of tables.pareto. Used in section 6.10."""
    order = points.sort_values("test_accuracy_mean", ascending=False, kind="stable").index
    return pd.Series(range(1, len(order) + 1), index=order).reindex(points.index)


def pareto_front(points: pd.DataFrame, cost: str) -> pd.Series:
    """True for the rows no other row beats on both mean accuracy (higher) and `cost` (lower)."""
    ordered = points.sort_values([cost, "test_accuracy_mean"], ascending=[True, False])
    best, front = -np.inf, pd.Series(False, index=points.index)
    for index, row in ordered.iterrows():
        if row.test_accuracy_mean > best:
            front[index], best = True, row.test_accuracy_mean
    return front


def pareto_table(points: pd.DataFrame) -> pd.DataFrame:
    """Every configuration (distinct_configurations), most accurate first, with its number in the figure's key
    (configuration_numbers) and whether it is on the accuracy–parameters and the accuracy–MACs Pareto fronts.
    Used in section 6.10."""
    numbers = configuration_numbers(points).sort_values()
    by_parameters, by_macs = pareto_front(points, "parameters"), pareto_front(points, "macs")
    return points.loc[numbers.index].assign(number=numbers.to_numpy(),
                                            on_parameters_front=by_parameters[numbers.index].to_numpy(),
                                            on_macs_front=by_macs[numbers.index].to_numpy())


# --- the probes' tests (sections 7.1 and 7.4) ---

@dataclass(frozen=True)
class ShiftTest:
    """Whether the default CNN's accuracy falls under a 2-pixel shift: the mean drop over seeds and its t interval."""

    seeds: int
    drop: float  # points
    low: float
    high: float

    @property
    def verdict(self) -> Verdict:
        if self.seeds == 0:
            return Verdict("not measured")
        if self.seeds < 2:
            return Verdict("one seed: no test")
        if self.low > 0:  # invariance is refuted only when the interval excludes 0
            return Verdict("not invariant", seeds=self.seeds, drop=self.drop, low=self.low, high=self.high)
        return Verdict("not resolved", seeds=self.seeds)


def shift_test(per_seed_drops: Sequence[float]) -> ShiftTest:
    """Student's t interval of the mean accuracy drop (points) over seeds, the same images scored shifted and not."""
    drops = np.asarray([d for d in per_seed_drops if not math.isnan(d)], dtype=float)
    if len(drops) == 0:
        return ShiftTest(0, float("nan"), float("nan"), float("nan"))
    interval = mean_interval(drops)
    return ShiftTest(len(drops), interval.mean, interval.low, interval.high)


def shift_accuracy(curve: pd.DataFrame | None, shifts: tuple[int, ...] = (0, 2, 4, 6)) -> pd.DataFrame | None:
    """Accuracy in points (%) on shifted images (a probes.translation_curve table), per direction, shift and model:
    the mean over seeds and its 95 % interval (columns mean, low, high). None for no curve. Used in section 7.1."""
    if curve is None:
        return None
    part = curve[curve["shift"].isin(shifts)].assign(accuracy=lambda f: f.accuracy * 100)
    intervals = part.groupby(["direction", "shift", "model"], sort=False).accuracy.apply(mean_interval)
    return pd.DataFrame({"mean": [i.mean for i in intervals], "low": [i.low for i in intervals],
                         "high": [i.high for i in intervals]}, index=intervals.index)


@dataclass(frozen=True)
class ShiftCost:
    """What a shift of the test images costs, in accuracy points: each model's mean drop over seeds, and the test of
    one model's per-seed drops."""

    model: str  # the model tested
    mean_drops: dict[str, float]
    test: ShiftTest


def shift_cost(curve: pd.DataFrame, model: str, shift: int = 2, direction: str = "horizontal") -> ShiftCost:
    """Accuracy points lost when the test images move `shift` pixels in `direction` (a probes.translation_curve
    table): every model's mean drop, and shift_test on `model`'s per-seed drops. Used in section 8.2."""
    unshifted = curve[curve["shift"] == 0].groupby(["model", "seed"]).accuracy.mean()
    shifted = curve[(curve["shift"] == shift) & (curve.direction == direction)].groupby(["model", "seed"]).accuracy
    seed_drops = (unshifted - shifted.mean()) * 100
    drops = seed_drops.groupby("model").mean()
    tested = seed_drops.xs(model, level="model").tolist() if model in drops else []
    return ShiftCost(model, {str(name): float(value) for name, value in drops.items()}, shift_test(tested))


def efficiency_points(efficiency: pd.DataFrame | None) -> pd.DataFrame | None:
    """An effects table of the data-size experiment as plot points: model, size, mean and its 95 % interval.

    Used in section 7.3.
    """
    if efficiency is None:
        return None
    bounds = [interval_from_summary(m, s, n) for m, s, n in
              zip(efficiency.test_accuracy_mean, efficiency.test_accuracy_std, efficiency.seeds)]
    return pd.DataFrame({"model": efficiency.variant.str.split(" ").str[0], "train_size": efficiency.train_size,
                         "test_accuracy_mean": efficiency.test_accuracy_mean,
                         "low": [b[0] for b in bounds], "high": [b[1] for b in bounds]})


def selectivity_tests(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per block of a class_selectivity table: the median class entropy of its channels, the shuffled-label
    baseline, Wilcoxon's p for 'below shuffled' (paired over channels) and Mann–Whitney's p against the first block.
    None for no table. Used in section 7.4."""
    if table is None:
        return None
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
