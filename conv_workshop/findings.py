"""The one sentence per section that carries this run's numbers, generated from the data the section computed.

Each function returns Markdown; it states only what its figure or table shows, and its wording follows the
numbers (a verdict comes from the stats module, never from a threshold written here).
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from .runs import count_reproduced
from .tables import difference_text


def _pct(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f} %"


def describe_profile(profile, committed_found: bool) -> str:
    """What this profile can and cannot answer, said once at the top. Used in section 0."""
    if profile.name == "full":
        return (f"Profile `full`: {len(profile.seeds)} seeds for every CNN and {len(profile.cheap_seeds)} for cheap "
                "runs, the budget behind the committed results; its verdicts are the workshop's answers.")
    seeds, primary = len(profile.seeds), len(profile.primary_seeds)
    text = (f"Profile `{profile.name}` trains less ({primary} seed{'s' if primary != 1 else ''} per CNN for the "
            f"primary questions, {seeds} elsewhere; {profile.main_epochs} epochs for the headline CNN and "
            f"{profile.experiment_epochs} per experiment): its own verdicts answer the primary questions for this "
            "smaller budget, "
            + ("and with one seed elsewhere the other comparisons mostly cannot be resolved. " if seeds < 2 else ""))
    if committed_found:
        return text + "Every experiment's table also shows the committed full run's result, labelled *full run*."
    return text + ("The committed full run's results were not found (results/), so no reference column is shown: "
                   "run the notebook in the `full` profile, or check out the repository's results/.")


def describe_dataset(data, splits, profile: str, counts: pd.DataFrame) -> str:
    """Section 2.1: the dataset's size and balance, and this run's splits."""
    fewest, most = int(counts["count"].min()), int(counts["count"].max())
    balance = f"exactly {fewest:,}" if fewest == most else f"between {fewest:,} and {most:,}"
    sizes = splits.sizes()
    return (f"{len(data.train_labels):,} training and {len(data.test_labels):,} test images of "
            f"{data.train_images.shape[1]}×{data.train_images.shape[2]} uint8 pixels, with {balance} training images "
            f"per class; this run (profile `{profile}`) trains on **{sizes['train']:,}**, validates on "
            f"**{sizes['val']:,}** and tests on **{sizes['test']:,}**.")


def describe_ink(intensity: pd.DataFrame, images: torch.Tensor) -> str:
    """Section 2.2: the share of black pixels and the classes with the most and least ink."""
    most = intensity.loc[intensity.ink_pixels.idxmax()]
    fewest = intensity.loc[intensity.ink_pixels.idxmin()]
    background = float((images == 0).float().mean())
    return (f"**{background:.0%}** of all training pixels are exactly 0; {most['class']} covers the most pixels on "
            f"average ({most.ink_pixels:.0f} of 784) and {fewest['class']} the fewest ({fewest.ink_pixels:.0f}).")


def describe_pca(purity: pd.DataFrame, explained: torch.Tensor, shown: int = 3) -> str:
    """Section 2.4: the variance the two components explain and the most / least separated classes."""
    apart = ", ".join(f"{r['class']} ({r.purity:.2f})" for _, r in purity.head(shown).iterrows())
    mixed = ", ".join(f"{r['class']} ({r.purity:.2f})" for _, r in purity.tail(shown).iloc[::-1].iterrows())
    return (f"The two components explain **{float(explained.sum()):.0%}** of the pixel variance; in this view the "
            f"most separated classes are {apart} and the most mixed are {mixed} (neighbour purity).")


def describe_training_loop(initial_loss: float, plain_accuracy: float, fit_accuracy: float) -> str:
    """Section 3.2: the loss before training and the accuracy after one epoch of each loop."""
    return (f"Before training, the validation loss is **{initial_loss:.2f}** (ln 10 = {math.log(10):.2f}); after "
            f"one epoch the plain loop classifies **{_pct(plain_accuracy)}** of the validation images correctly, and "
            f"one epoch of `fit()` from the same weights **{_pct(fit_accuracy)}**.")


def describe_effects(table: pd.DataFrame, experiment: str | None = None) -> str:
    """Every comparison of an effects table: the difference with its interval, and the verdict.

    Used throughout sections 3–7.
    """
    rows = table if experiment is None else table[table.experiment == experiment]
    parts = []
    for _, row in rows[rows.verdict != "reference"].iterrows():
        parts.append(f"{row.variant} minus {row.reference}: **{difference_text(row.difference, row.low, row.high)} "
                     f"points** ({row.verdict})")
    return "; ".join(parts) + "."


def describe_confusions(matrix: torch.Tensor, per_class: pd.DataFrame, closest: pd.DataFrame) -> str:
    """Section 5.3: the hardest class, the most frequent mistake, the largest gain over the dense model."""
    names = list(per_class["class"])
    counts = matrix.clone()
    counts.fill_diagonal_(0)
    true, predicted = divmod(int(counts.argmax()), matrix.shape[0])
    pair = frozenset((names[true], names[predicted]))
    look_alike = pair in {frozenset(p) for p in zip(closest.class_a, closest.class_b)}
    worst = per_class.loc[per_class.CNN.idxmin()]
    gain = (per_class.CNN - per_class["dense baseline"]) * 100
    best = per_class.loc[gain.idxmax()]
    return (f"The hardest class for the CNN is **{worst['class']}** ({_pct(worst.CNN)}); the most frequent mistake "
            f"overall, {names[true]} → {names[predicted]} ({int(counts.max())} test images), "
            + ("is" if look_alike else "is not") + " one of the five closest class-mean pairs of section 2.3; the "
            f"largest measured gain over the dense model is on **{best['class']}** ({gain.max():+.1f} points).")


def describe_noise(noise, seeds: int) -> str:
    """Section 6: the measured noise of one comparison and what it means for the seeds a difference needs."""
    if math.isnan(noise.seed_sd):
        return ("With one seed per variant the seed-to-seed noise cannot be measured, so no power can be computed "
                "(the full profile trains 7 seeds per variant).")
    row = noise.power_table().set_index("seeds")
    here = ""
    if seeds in row.index:
        here = (f" With this run's {seeds} seeds: {row.power[seeds]:.0%} for 0.5 points, and "
                f"{row.detectable[seeds]:.2f} points detected 80 % of the time.")
    return (f"Measured on the reference CNN's family: the test accuracy of one run varies by **{noise.seed_sd:.2f} "
            f"points** (SD over seeds, pooled over {noise.arms} arms), and which test images were drawn adds "
            f"**±{noise.test_se:.2f} points** (standard error) to a difference of two models. With Holm over "
            f"{noise.family_size} tests, a 0.5-point difference is detected with 80 % chance from "
            f"**{noise.seeds_needed} seeds per arm**." + here)


def describe_resolution(effects: pd.DataFrame) -> str:
    """Section 6: how many comparisons of a family this budget resolved, and the smallest one it resolved."""
    rows = effects[effects.verdict != "reference"]
    seeds = int(rows.seeds.min())
    if rows.p_value.isna().all():
        return (f"With {seeds} seed per variant and nothing to pool, no comparison can be tested: every verdict reads "
                "'not resolved' (the full profile trains 7 seeds per variant).")
    decided = rows[rows.verdict.isin(["better", "worse"])]
    equivalent = int(rows.verdict.str.startswith("equivalent").sum())
    smallest = (f"; the smallest difference resolved is {decided.difference.abs().min():.2f} points"
                if len(decided) else "")
    return (f"Of these {len(rows)} comparisons (Holm over a family of {int(rows.family_size.iloc[0])}), "
            f"**{len(decided)}** are resolved as better or worse and **{equivalent}** as equivalent within "
            f"±0.5 points{smallest}. A larger difference can stay *not resolved* beside a smaller resolved one "
            "when its standard error is larger: the p (Holm) column shows each test.")


def describe_translation(curve: pd.DataFrame, similarity: pd.DataFrame) -> str:
    """Section 7.1: points lost at 2 and 4 pixels, and how similar shifted images stay."""
    mean = curve.groupby(["model", "direction", "shift"]).accuracy.mean() * 100
    drop = {(m, d, s): mean[(m, d, 0)] - mean[(m, d, s)] for m, d, s in mean.index}
    models = list(dict.fromkeys(curve.model))
    at = "; ".join(f"{m} {drop[(m, 'horizontal', 2)]:.1f} / {drop[(m, 'horizontal', 4)]:.1f}" for m in models)
    vertical = "; ".join(f"{m} {drop[(m, 'vertical', 4)]:.1f}" for m in models)
    seeds = int(curve.groupby("model").seed.nunique().min()) if "seed" in curve else 1
    sim = similarity.set_index(["direction", "shift"]).similarity
    shift = 4 if (("vertical", 4) in sim.index) else int(similarity["shift"].max())
    return (f"Points lost at a 2 / 4-pixel horizontal shift (mean over {seeds} seed{'s' if seeds != 1 else ''}): "
            f"{at}; at 4 pixels vertically: {vertical}. On average an image keeps cosine similarity "
            f"{sim[('vertical', shift)]:.2f} with its {shift}-pixel vertical shift and "
            f"{sim[('horizontal', shift)]:.2f} with its horizontal one.")


def describe_data_size(efficiency: pd.DataFrame) -> str:
    """Section 7.3: the CNN's lead at each training-set size, with its interval and verdict, and the same lead as a
    share of the dense model's errors."""
    rows = efficiency[efficiency.verdict != "reference"].sort_values("train_size")
    parts = [f"{int(r.train_size):,} images: **{difference_text(r.difference, r.low, r.high)} points** ({r.verdict})"
             for r in rows.itertuples()]
    leads = rows.difference
    dense = efficiency[efficiency.verdict == "reference"].set_index("experiment").test_accuracy_mean
    cuts = [(r.test_accuracy_mean - dense[r.experiment]) / (1 - dense[r.experiment]) * 100 for r in rows.itertuples()]
    cuts = [f"{abs(cut):.0f} % {'fewer' if cut >= 0 else 'more'} errors with {int(r.train_size):,} images"
            for cut, r in zip(cuts, rows.itertuples())]
    return ("CNN minus dense baseline with " + "; ".join(parts) + f". The lead is between {leads.min():+.1f} and "
            f"{leads.max():+.1f} points across the sizes. Counted in errors, the CNN makes "
            f"{', '.join(cuts)} than the dense model (as a share of the dense model's errors, from mean "
            "accuracies).")


def describe_lead_change(change: pd.DataFrame) -> str:
    """Section 7.3: the interaction test, lead with the fewest images minus lead with the most."""
    row = change.iloc[0]
    p_text = "not computable" if math.isnan(row.p_value) else "< 0.001" if row.p_value < 0.001 else f"{row.p_value:.3f}"
    return (f"The lead with {row.small.removeprefix('n=')} images minus the lead with {row.large.removeprefix('n=')}: "
            f"**{difference_text(row.difference, row.low, row.high)} points** (p = {p_text}): "
            f"**{row.verdict}**. The epochs also differ between the sizes, so this compares two budgets, not two "
            "data sizes alone.")


def describe_recipe(table: pd.DataFrame, model: str) -> str:
    """Sections 3.3 and 5.2: the augmentation chosen for a model, and by how much it led on validation."""
    ordered = table.sort_values("best_val_accuracy_mean", ascending=False)
    best, runner = ordered.iloc[0], ordered.iloc[1]
    names = {"none": "no augmentation", "flip": "random flips", "shift": "random ±2-pixel shifts"}
    return (f"The {model} trains with **{names[best.augment]}** from here on: mean validation accuracy "
            f"{best.best_val_accuracy_mean * 100:.2f} % over {int(best.seeds)} seed{'s' if best.seeds != 1 else ''}, "
            f"{(best.best_val_accuracy_mean - runner.best_val_accuracy_mean) * 100:.2f} points above "
            f"{names[runner.augment]}. Chosen on validation images only; section 6.9 tests the three on the test set.")


def describe_per_class_tests(tests: pd.DataFrame) -> str:
    """Section 5.3: which per-class differences McNemar's test resolves for these two trained models."""
    better = list(tests[tests.verdict == "better"]["class"])
    worse = list(tests[tests.verdict == "worse"]["class"])
    open_ = list(tests[tests.verdict == "not resolved"]["class"])
    parts = [f"the CNN is better on **{len(better)}** classes ({', '.join(better) or 'none'})"]
    if worse:
        parts.append(f"worse on {', '.join(worse)}")
    parts.append(f"not resolved on {', '.join(open_) or 'none'}")
    return ("Per class, McNemar's test on the images only one model gets right (Holm over the ten classes): "
            + "; ".join(parts) + ". This is about these two trained models on these test images, not other seeds.")


def describe_edge_likeness(edges: pd.DataFrame) -> str:
    """Section 5.5: how edge-like the trained first-layer filters are, beside random ones (stats.edge_likeness_test)."""
    from .stats import edge_likeness_test

    test = edge_likeness_test(edges)
    verdict = ("so this model's trained filters are more edge-like than random ones" if test.more_edge_like
               else "so this model's trained filters are not shown to be more edge-like than random ones")
    return (f"Median |cosine| with the closest edge detector: **{test.trained_median:.2f}** for the "
            f"{test.trained_count} trained filters, {test.random_median:.2f} for {test.random_count:,} random ones "
            f"drawn as at initialisation; {test.trained_above} of {test.trained_count} trained filters score above "
            f"{test.random_95th:.2f}, which only 5 % of random filters reach. Trained above random: p = "
            f"{test.p_value:.1e} (one-sided Mann–Whitney, the filters of this one model as the sample), {verdict}.")


def describe_cam_sanity(similarities: list[float]) -> str:
    """Section 8.1: how alike each image's Grad-CAM map is with the trained and with randomised weights."""
    values = pd.Series(similarities, dtype=float)
    finite = values.dropna()
    constant = int(values.isna().sum())
    flat = (f"; {constant} of {len(values)} random-weights maps are constant (nothing positive after the ReLU)"
            if constant else "")
    summary = (f"median **{finite.median():.2f}** (from {finite.min():.2f} to {finite.max():.2f})" if len(finite)
               else "no map to compare")
    return (f"Rank correlation between each image's Grad-CAM with the trained weights and with random weights: "
            f"{summary} over {len(finite)} images{flat}. A map that explained the model's learning would change "
            "when the learning is removed: the closer these are to 1, the more the map shows the image, not the "
            "model.")


def describe_hierarchy(selectivity: pd.DataFrame) -> str:
    """Section 7.4: the median class entropy per block and stats.hierarchy_test's verdict."""
    from .stats import hierarchy_test

    test = hierarchy_test(selectivity)
    verdict = ("so, counting this model's channels as the sample, deeper units are more class-specific"
               if test.deeper_more_specific else "so this model does not show deeper units to be more class-specific")
    return (f"Median entropy of a channel's top-100 classes: {test.first_median:.2f} bits in {test.first_block} and "
            f"{test.last_median:.2f} in {test.last_block}, against {test.shuffled:.2f} with "
            f"shuffled labels; {test.last_block} against {test.first_block}: p = {test.p_value:.1e} (Mann–Whitney "
            f"over channels), {verdict}.")


def describe_saved_model(saved, recorded_accuracy: float | None = None) -> str:
    """Section 9: the saved files' fp32 accuracy beside the accuracy recorded in training."""
    during = "" if recorded_accuracy is None else \
        f" (recorded during training, in the runtime's arithmetic: {_pct(recorded_accuracy, 2)})"
    return (f"Saved CNN (seed {saved.seed}, chosen on validation): test accuracy **{_pct(saved.test_accuracy, 2)}** "
            f"on all {saved.test_images:,} test images in fp32 on the CPU{during}; the reloaded checkpoint gives "
            f"{_pct(saved.reloaded_accuracy, 2)} and the complete model {_pct(saved.complete_accuracy, 2)}.")


def describe_run(run: dict, runs_path) -> str:
    """Section 12: what this run ran on, how long it took, and what a replay or a resume reused."""
    text = (f"**This run:** profile `{run['profile']}`, {run['device']} ({run['device_name']}, {run['precision']}), "
            f"{run['date']}, **{run['minutes']} minutes** from the first cell to the last; {run['training_runs']} "
            f"training runs recorded in `{runs_path}`")
    if run["replayed_runs"]:
        checks = run["replay_checks"]
        matching = count_reproduced(checks)
        text += (f"; a replay: {run['replayed_runs']} runs taken from the records of the same code and seeds, "
                 f"{run['retrained_for_models']} retrained because figures use their models, {matching} of "
                 f"{len(checks)} reproducing their recorded test accuracy to the image (the pairs are in "
                 f"`results/notebook_run.json`)")
    if run.get("resumed_runs"):
        text += (f"; resumed: {run['resumed_runs']} of {run['training_runs']} runs taken from the interrupted run, "
                 f"{run['retrained_for_models']} of them retrained because figures use their models")
    return text + "."
