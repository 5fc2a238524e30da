"""The one sentence per section that carries this run's numbers, generated from the data the section computed.

Each function returns Markdown; it states only what its figure or table shows, and its wording follows the
numbers (a verdict comes from the stats module, never from a threshold written here).
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from ..experiments.runs import count_reproduced
from ..i18n import _, label, ngettext, phrase
from ..stats import REFERENCE
from .tables import difference_text, p_statement, percent

_pct = percent


def describe_profile(profile, committed_found: bool) -> str:
    """What this profile can and cannot answer, said once at the top. Used in section 0."""
    if profile.name == "full":
        return _("Profile `full`: {seeds} seeds for every CNN and {cheap_seeds} for cheap runs, the budget behind the "
                 "committed results; its verdicts are the workshop's answers.").format(
            seeds=len(profile.seeds), cheap_seeds=len(profile.cheap_seeds))
    seeds, primary = len(profile.seeds), len(profile.primary_seeds)
    main_epochs = ngettext("{count} epoch", "{count} epochs", profile.main_epochs).format(count=profile.main_epochs)
    values = {"name": profile.name, "primary": primary, "seeds": seeds, "main_epochs": main_epochs,
              "experiment_epochs": profile.experiment_epochs}
    if seeds < 2:
        text = ngettext(
            "Profile `{name}` trains less ({primary} seed per CNN for the primary questions, {seeds} elsewhere; "
            "{main_epochs} for the headline CNN and {experiment_epochs} per experiment): its own verdicts "
            "answer the primary questions for this smaller budget, and with one seed elsewhere the other comparisons "
            "mostly cannot be resolved.",
            "Profile `{name}` trains less ({primary} seeds per CNN for the primary questions, {seeds} elsewhere; "
            "{main_epochs} for the headline CNN and {experiment_epochs} per experiment): its own verdicts "
            "answer the primary questions for this smaller budget, and with one seed elsewhere the other comparisons "
            "mostly cannot be resolved.", primary).format(**values)
    else:
        text = ngettext(
            "Profile `{name}` trains less ({primary} seed per CNN for the primary questions, {seeds} elsewhere; "
            "{main_epochs} for the headline CNN and {experiment_epochs} per experiment): its own verdicts "
            "answer the primary questions for this smaller budget,",
            "Profile `{name}` trains less ({primary} seeds per CNN for the primary questions, {seeds} elsewhere; "
            "{main_epochs} for the headline CNN and {experiment_epochs} per experiment): its own verdicts "
            "answer the primary questions for this smaller budget,", primary).format(**values)
    if committed_found:
        return text + " " + _("Every experiment's table also shows the committed full run's result, labelled "
                              "*full run*.")
    return text + " " + _("The committed full run's results were not found (results/), so no reference column is "
                          "shown: run the notebook in the `full` profile, or check out the repository's results/.")


def describe_dataset(data, splits, profile: str, counts: pd.DataFrame) -> str:
    """Section 2.1: the dataset's size and balance, and this run's splits."""
    fewest, most = int(counts["count"].min()), int(counts["count"].max())
    balance = (_("exactly {count:,}").format(count=fewest) if fewest == most
               else _("between {fewest:,} and {most:,}").format(fewest=fewest, most=most))
    sizes = splits.sizes()
    return _("{train:,} training and {test:,} test images of {height}×{width} uint8 pixels, with {balance} training "
             "images per class; this run (profile `{profile}`) trains on **{train_size:,}**, validates on "
             "**{val_size:,}** and tests on **{test_size:,}**.").format(
        train=len(data.train_labels), test=len(data.test_labels), height=data.train_images.shape[1],
        width=data.train_images.shape[2], balance=balance, profile=profile, train_size=sizes["train"],
        val_size=sizes["val"], test_size=sizes["test"])


def describe_ink(intensity: pd.DataFrame, images: torch.Tensor) -> str:
    """Section 2.2: the share of black pixels and the classes with the most and least ink."""
    most = intensity.loc[intensity.ink_pixels.idxmax()]
    fewest = intensity.loc[intensity.ink_pixels.idxmin()]
    background = float((images == 0).float().mean())
    return _("**{background}** of all training pixels are exactly 0; {most_class} covers the most pixels on "
             "average ({most_pixels:.0f} of 784) and {fewest_class} the fewest ({fewest_pixels:.0f}).").format(
        background=percent(background, 0), most_class=label(most["class"]), most_pixels=most.ink_pixels,
        fewest_class=label(fewest["class"]), fewest_pixels=fewest.ink_pixels)


def describe_pca(purity: pd.DataFrame, explained: torch.Tensor, shown: int = 3) -> str:
    """Section 2.4: the variance the two components explain and the most / least separated classes."""
    apart = ", ".join(f"{label(r['class'])} ({r.purity:.2f})" for _index, r in purity.head(shown).iterrows())
    mixed = ", ".join(f"{label(r['class'])} ({r.purity:.2f})"
                      for _index, r in purity.tail(shown).iloc[::-1].iterrows())
    return _("The two components explain **{explained}** of the pixel variance; in this view the most separated "
             "classes are {apart} and the most mixed are {mixed} (neighbour purity).").format(
        explained=percent(float(explained.sum()), 0), apart=apart, mixed=mixed)


def describe_training_loop(initial_loss: float, plain_accuracy: float, fit_accuracy: float) -> str:
    """Section 3.2: the loss before training and the accuracy after one epoch of each loop."""
    return _("Before training, the validation loss is **{initial_loss:.2f}** (ln 10 = {ln10:.2f}); after one epoch "
             "the plain loop classifies **{plain}** of the validation images correctly, and one epoch of `fit()` "
             "from the same weights **{fit}**.").format(
        initial_loss=initial_loss, ln10=math.log(10), plain=_pct(plain_accuracy), fit=_pct(fit_accuracy))


def describe_effects(table: pd.DataFrame, experiment: str | None = None) -> str:
    """Every comparison of an effects table: the difference with its interval, and the verdict.

    Used throughout sections 3–7.
    """
    rows = table if experiment is None else table[table.experiment == experiment]
    parts = []
    for _index, row in rows[rows.verdict != REFERENCE].iterrows():
        parts.append(_("{variant} minus {reference}: **{difference} points** ({verdict})").format(
            variant=label(row.variant), reference=label(row.reference),
            difference=difference_text(row.difference, row.low, row.high), verdict=phrase(row.verdict)))
    return "; ".join(parts) + "."


def describe_confusions(matrix: torch.Tensor, per_class: pd.DataFrame, closest: pd.DataFrame) -> str:
    """Section 5.3: the hardest class, the most frequent mistake (both directions when they tie), how it ranks among
    section 2.3's closest class means beside how often the closest pair is confused, and the largest gain."""
    names = list(per_class["class"])
    counts = matrix.clone()
    counts.fill_diagonal_(0)
    true, predicted = divmod(int(counts.argmax()), matrix.shape[0])
    mistakes = int(counts[true, predicted])
    if int(counts[predicted, true]) == mistakes:
        mistake = _("{a} ↔ {b} ({mistakes} test images each way)").format(
            a=label(names[true]), b=label(names[predicted]), mistakes=mistakes)
    else:
        mistake = _("{true} → {predicted} ({mistakes} test images)").format(
            true=label(names[true]), predicted=label(names[predicted]), mistakes=mistakes)
    pairs = [frozenset(p) for p in zip(closest.class_a, closest.class_b)]
    pair = frozenset((names[true], names[predicted]))
    first_a, first_b = closest.class_a.iloc[0], closest.class_b.iloc[0]
    first = names.index(first_a), names.index(first_b)
    first_mistakes = int(counts[first[0], first[1]] + counts[first[1], first[0]])
    if pair == pairs[0]:
        where = _("is the closest pair of class means of section 2.3")
    elif pair in pairs:
        where = _("is number {rank} of the five closest pairs of class means of section 2.3, while the closest pair, "
                  "{a} and {b}, is confused {count} times (both ways together)").format(
            rank=pairs.index(pair) + 1, a=label(first_a), b=label(first_b), count=first_mistakes)
    else:
        where = _("is not one of the five closest pairs of class means of section 2.3, while the closest pair, "
                  "{a} and {b}, is confused {count} times (both ways together)").format(
            a=label(first_a), b=label(first_b), count=first_mistakes)
    worst = per_class.loc[per_class.CNN.idxmin()]
    gain = (per_class.CNN - per_class["dense baseline"]) * 100  # i18n: key
    best = per_class.loc[gain.idxmax()]
    return _("The hardest class for the CNN is **{worst}** ({worst_accuracy}); the most frequent mistake overall, "
             "{mistake}, {where}; the largest measured gain over the dense model is on **{best}** "
             "({gain:+.1f} points).").format(worst=label(worst["class"]), worst_accuracy=_pct(worst.CNN),
                                             mistake=mistake, where=where, best=label(best["class"]),
                                             gain=gain.max())


def describe_noise(noise, seeds: int) -> str:
    """Section 6: the measured noise of one comparison and what it means for the seeds a difference needs."""
    if math.isnan(noise.seed_sd):
        return _("With one seed per variant the seed-to-seed noise cannot be measured, so no power can be computed "
                 "(the full profile trains 7 seeds per variant).")
    row = noise.power_table().set_index("seeds")
    here = ""
    if seeds in row.index:
        here = " " + _("With this run's {seeds} seeds: {power} for 0.5 points, and {detectable:.2f} points "
                       "detected 80 % of the time.").format(
            seeds=seeds, power=percent(row.power[seeds], 0), detectable=row.detectable[seeds])
    return _("Measured on the reference CNN's family: the test accuracy of one run varies by **{seed_sd:.2f} points** "
             "(standard deviation over seeds, pooled over {arms} arms), and which test images were drawn adds "
             "**±{test_se:.2f} points** (standard error) to a difference of two models. With Holm over "
             "{family_size} tests, a 0.5-point difference is detected with 80 % chance from **{seeds_needed} seeds "
             "per arm**.").format(
        seed_sd=noise.seed_sd, arms=noise.arms, test_se=noise.test_se, family_size=noise.family_size,
        seeds_needed=noise.seeds_needed) + here


def describe_resolution(effects: pd.DataFrame) -> str:
    """Section 6: how many comparisons of a family this budget resolved, and the smallest one it resolved."""
    rows = effects[effects.verdict != REFERENCE]
    seeds = int(rows.seeds.min())
    if rows.p_value.isna().all():
        return _("With {seeds} seed per variant and nothing to pool, no comparison can be tested: every verdict reads "
                 "'not resolved' (the full profile trains 7 seeds per variant).").format(seeds=seeds)
    decided = rows[[v.decided for v in rows.verdict]]
    values = {"comparisons": len(rows), "family_size": int(rows.family_size.iloc[0]), "decided": len(decided),
              "equivalent": sum(v.kind == "equivalent" for v in rows.verdict)}
    if len(decided):
        return _("Of these {comparisons} comparisons (Holm over a family of {family_size}), **{decided}** are resolved "
                 "as better or worse and **{equivalent}** as equivalent within ±0.5 points; the smallest difference "
                 "resolved is {smallest:.2f} points. A larger difference can stay *not resolved* beside a smaller "
                 "resolved one when its standard error is larger: the p (Holm) column shows each test.").format(
            smallest=decided.difference.abs().min(), **values)
    return _("Of these {comparisons} comparisons (Holm over a family of {family_size}), **{decided}** are resolved as "
             "better or worse and **{equivalent}** as equivalent within ±0.5 points. A larger difference can stay "
             "*not resolved* beside a smaller resolved one when its standard error is larger: the p (Holm) column "
             "shows each test.").format(**values)


def describe_translation(curve: pd.DataFrame, similarity: pd.DataFrame) -> str:
    """Section 7.1: points lost at 2 and 4 pixels, and how similar shifted images stay."""
    mean = curve.groupby(["model", "direction", "shift"]).accuracy.mean() * 100
    drop = {(m, d, s): mean[(m, d, 0)] - mean[(m, d, s)] for m, d, s in mean.index}
    models = list(dict.fromkeys(curve.model))
    at = "; ".join(f"{label(m)} {drop[(m, 'horizontal', 2)]:.1f} / {drop[(m, 'horizontal', 4)]:.1f}" for m in models)
    vertical = "; ".join(f"{label(m)} {drop[(m, 'vertical', 4)]:.1f}" for m in models)
    seeds = int(curve.groupby("model").seed.nunique().min()) if "seed" in curve else 1
    sim = similarity.set_index(["direction", "shift"]).similarity
    shift = 4 if (("vertical", 4) in sim.index) else int(similarity["shift"].max())
    return ngettext(
        "Points lost at a 2 / 4-pixel horizontal shift (mean over {seeds} seed): {at}; at 4 pixels vertically: "
        "{vertical}. On average an image keeps cosine similarity {vertical_similarity:.2f} with its {shift}-pixel "
        "vertical shift and {horizontal_similarity:.2f} with its horizontal one.",
        "Points lost at a 2 / 4-pixel horizontal shift (mean over {seeds} seeds): {at}; at 4 pixels vertically: "
        "{vertical}. On average an image keeps cosine similarity {vertical_similarity:.2f} with its {shift}-pixel "
        "vertical shift and {horizontal_similarity:.2f} with its horizontal one.", seeds).format(
        seeds=seeds, at=at, vertical=vertical, vertical_similarity=sim[("vertical", shift)], shift=shift,
        horizontal_similarity=sim[("horizontal", shift)])


def describe_data_size(efficiency: pd.DataFrame) -> str:
    """Section 7.3: the CNN's lead at each training-set size, with its interval and verdict, and the same lead as a
    share of the dense model's errors."""
    rows = efficiency[efficiency.verdict != REFERENCE].sort_values("train_size")
    parts = [_("{size:,} images: **{difference} points** ({verdict})").format(
        size=int(r.train_size), difference=difference_text(r.difference, r.low, r.high), verdict=phrase(r.verdict))
        for r in rows.itertuples()]
    leads = rows.difference
    dense = efficiency[efficiency.verdict == REFERENCE].set_index("experiment").test_accuracy_mean
    cuts = [(r.test_accuracy_mean - dense[r.experiment]) / (1 - dense[r.experiment]) * 100 for r in rows.itertuples()]
    cuts = [(_("{cut:.0f} % fewer errors with {size:,} images") if cut >= 0
             else _("{cut:.0f} % more errors with {size:,} images")).format(cut=abs(cut), size=int(r.train_size))
            for cut, r in zip(cuts, rows.itertuples())]
    return _("CNN minus dense baseline with {sizes}. The lead is between {lowest:+.1f} and {highest:+.1f} points "
             "across the sizes. Counted in errors, the CNN makes {errors} than the dense model (as a share of the "
             "dense model's errors, from mean accuracies).").format(
        sizes="; ".join(parts), lowest=leads.min(), highest=leads.max(), errors=", ".join(cuts))


def describe_lead_change(change: pd.DataFrame) -> str:
    """Section 7.3: the interaction test, lead with the fewest images minus lead with the most."""
    row = change.iloc[0]
    p_text = _("p not computable") if math.isnan(row.p_value) else p_statement(row.p_value)
    return _("The lead with {small} images minus the lead with {large}: **{difference} points** ({p_value}): "
             "**{verdict}**. The epochs also differ between the sizes, so this compares two budgets, not two data "
             "sizes alone.").format(
        small=row.small.removeprefix("n="), large=row.large.removeprefix("n="),
        difference=difference_text(row.difference, row.low, row.high), p_value=p_text, verdict=phrase(row.verdict))


def describe_recipe(table: pd.DataFrame, model: str) -> str:
    """Sections 3.3 and 5.2: the augmentation chosen for a model, and by how much it led on validation."""
    ordered = table.sort_values("best_val_accuracy_mean", ascending=False)
    best, runner = ordered.iloc[0], ordered.iloc[1]
    names = {"none": _("no augmentation"), "flip": _("random flips"), "shift": _("random ±2-pixel shifts")}
    seeds = int(best.seeds)
    return ngettext(
        "The {model} trains with **{augmentation}** from here on: mean validation accuracy {accuracy:.2f} % over "
        "{seeds} seed, {lead:.2f} points above {runner_up}. Chosen on validation images only; section 6.9 tests the "
        "three on the test set.",
        "The {model} trains with **{augmentation}** from here on: mean validation accuracy {accuracy:.2f} % over "
        "{seeds} seeds, {lead:.2f} points above {runner_up}. Chosen on validation images only; section 6.9 tests the "
        "three on the test set.", seeds).format(
        model=label(model), augmentation=names[best.augment], accuracy=best.best_val_accuracy_mean * 100,
        seeds=seeds, lead=(best.best_val_accuracy_mean - runner.best_val_accuracy_mean) * 100,
        runner_up=names[runner.augment])


def describe_per_class_tests(tests: pd.DataFrame) -> str:
    """Section 5.3: which per-class differences McNemar's test resolves for these two trained models."""
    better = [label(name) for name in tests[[v.kind == "better" for v in tests.verdict]]["class"]]
    worse = [label(name) for name in tests[[v.kind == "worse" for v in tests.verdict]]["class"]]
    open_ = [label(name) for name in tests[[v.kind == "not resolved" for v in tests.verdict]]["class"]]  # i18n: key
    if len(better) == len(tests):
        clauses = [_("the CNN is better on **every class**")]
    elif not better:
        clauses = [_("the CNN is better on **no class**")]
    else:
        clauses = [ngettext("the CNN is better on **{count}** class ({classes})",
                            "the CNN is better on **{count}** classes ({classes})", len(better)).format(
            count=len(better), classes=", ".join(better))]
    if worse:
        clauses.append(_("worse on {classes}").format(classes=", ".join(worse)))
    if open_:
        clauses.append(_("not resolved on {classes}").format(classes=", ".join(open_)))
    return _("Per class, McNemar's test on the images only one model gets right (Holm over the ten classes): "
             "{clauses}. This is about these two trained models on these test images, not other seeds.").format(
        clauses="; ".join(clauses))


def describe_confidence(confidence: torch.Tensor, correct: torch.Tensor, threshold: float = 0.9) -> str:
    """Section 5.4: how often the CNN is sure (softmax above `threshold`) when it is wrong, beside when it is right."""
    wrong = ~correct
    return _("Of the CNN's **{wrong:,}** mistakes on the test set, **{sure_wrong}** have a softmax probability above "
             "{threshold}, against {sure_right} of its {right:,} correct answers.").format(
        wrong=int(wrong.sum()), sure_wrong=percent(float((confidence[wrong] > threshold).float().mean()), 0),
        threshold=percent(threshold, 0), sure_right=percent(float((confidence[correct] > threshold).float().mean()), 0),
        right=int(correct.sum()))


def describe_edge_likeness(edges: pd.DataFrame) -> str:
    """Section 5.5: how edge-like the trained first-layer filters are, beside random ones (stats.edge_likeness_test)."""
    from ..stats import edge_likeness_test

    test = edge_likeness_test(edges)
    verdict = (_("so this model's trained filters are more edge-like than random ones") if test.more_edge_like
               else _("so this model's trained filters are not shown to be more edge-like than random ones"))
    return _("Median |cosine| with the closest edge detector: **{trained_median:.2f}** for the {trained_count} "
             "trained filters, {random_median:.2f} for {random_count:,} random ones drawn as at initialisation; "
             "{trained_above} of {trained_count} trained filters score above {random_95th:.2f}, which only 5 % of "
             "random filters reach. Trained above random: {p_value} (one-sided Mann–Whitney, the filters of "
             "this one model as the sample), {verdict}.").format(
        trained_median=test.trained_median, trained_count=test.trained_count, random_median=test.random_median,
        random_count=test.random_count, trained_above=test.trained_above, random_95th=test.random_95th,
        p_value=p_statement(test.p_value), verdict=verdict)


def _minus(value: float) -> str:
    """A number to two decimals with a typographic minus ("−0.09"), as in the tables."""
    return f"{value:.2f}".replace("-", "−")


def describe_cam_sanity(similarities: list[float]) -> str:
    """Section 8.1: how alike each image's Grad-CAM map is with the trained and with randomised weights."""
    values = pd.Series(similarities, dtype=float)
    finite = values.dropna()
    constant = int(values.isna().sum())
    if len(finite):
        summary = _("median **{median}** (from {lowest} to {highest})").format(
            median=_minus(finite.median()), lowest=_minus(finite.min()), highest=_minus(finite.max()))
    else:
        summary = _("no map to compare")
    if constant:
        return ngettext(
            "Rank correlation between each image's Grad-CAM with the trained weights and with random weights: "
            "{summary} over the {images} images whose random-weights map varies; for the remaining image of the "
            "{maps} that map is constant (nothing positive after the ReLU), so it has no ranks to correlate. A map "
            "that explained the model's learning would change when the learning is removed: the closer these are "
            "to 1, the more the map shows the image, not the model.",
            "Rank correlation between each image's Grad-CAM with the trained weights and with random weights: "
            "{summary} over the {images} images whose random-weights map varies; for the other {constant} of the "
            "{maps} images that map is constant (nothing positive after the ReLU), so it has no ranks to correlate. "
            "A map that explained the model's learning would change when the learning is removed: the closer these "
            "are to 1, the more the map shows the image, not the model.", constant).format(
            summary=summary, images=len(finite), constant=constant, maps=len(values))
    return _("Rank correlation between each image's Grad-CAM with the trained weights and with random weights: "
             "{summary} over {images} images. A map that explained the model's learning would change when the "
             "learning is removed: the closer these are to 1, the more the map shows the image, not the "
             "model.").format(summary=summary, images=len(finite))


def describe_hierarchy(selectivity: pd.DataFrame) -> str:
    """Section 7.4: the median class entropy per block and stats.hierarchy_test's verdict."""
    from ..stats import hierarchy_test

    test = hierarchy_test(selectivity)
    verdict = (_("so, counting this model's channels as the sample, deeper units are more class-specific")
               if test.deeper_more_specific
               else _("so this model does not show deeper units to be more class-specific"))
    return _("Median entropy of a channel's top-100 classes: {first_median:.2f} bits in {first_block} and "
             "{last_median:.2f} in {last_block}, against {shuffled:.2f} with shuffled labels; {last_block} against "
             "{first_block}: {p_value} (Mann–Whitney over channels), {verdict}.").format(
        first_median=test.first_median, first_block=phrase(test.first_block), last_median=test.last_median,
        last_block=phrase(test.last_block), shuffled=test.shuffled, p_value=p_statement(test.p_value), verdict=verdict)


def describe_saved_model(saved, recorded_accuracy: float | None = None) -> str:
    """Section 9: the saved files' fp32 accuracy beside the accuracy recorded in training."""
    values = {"seed": saved.seed, "test_accuracy": _pct(saved.test_accuracy, 2), "images": saved.test_images,
              "reloaded": _pct(saved.reloaded_accuracy, 2), "complete": _pct(saved.complete_accuracy, 2)}
    if recorded_accuracy is None:
        return _("Saved CNN (seed {seed}, chosen on validation): test accuracy **{test_accuracy}** on all {images:,} "
                 "test images in fp32 on the CPU; the reloaded checkpoint gives {reloaded} and the complete model "
                 "{complete}.").format(**values)
    return _("Saved CNN (seed {seed}, chosen on validation): test accuracy **{test_accuracy}** on all {images:,} test "
             "images in fp32 on the CPU (recorded during training, in the runtime's arithmetic: {recorded}); the "
             "reloaded checkpoint gives {reloaded} and the complete model {complete}.").format(
        recorded=_pct(recorded_accuracy, 2), **values)


def describe_run(run: dict, runs_path) -> str:
    """Section 12: what this run ran on, how long it took, and what a replay or a resume reused."""
    parts = [_("**This run:** profile `{profile}`, {device} ({device_name}, {precision}), {date}, **{minutes} "
               "minutes** from the first cell to the last; {training_runs} training runs recorded in "
               "`{runs_path}`").format(
        profile=run["profile"], device=run["device"], device_name=run["device_name"], precision=run["precision"],
        date=run["date"], minutes=run["minutes"], training_runs=run["training_runs"], runs_path=runs_path)]
    if run["replayed_runs"]:
        checks = run["replay_checks"]
        parts.append(_("a replay: {replayed} runs taken from the records of the same code and seeds, {retrained} "
                       "retrained because figures use their models, {matching} of {checked} reproducing their "
                       "recorded test accuracy to the image (the pairs are in `results/notebook_run.json`)").format(
            replayed=run["replayed_runs"], retrained=run["retrained_for_models"], matching=count_reproduced(checks),
            checked=len(checks)))
        recorded_on, here = run.get("recorded_device_name"), f"{run['device_name']}, {run['precision']}"
        if count_reproduced(checks) < len(checks) and recorded_on and recorded_on != here:
            parts.append(_("the records were made with another processor or arithmetic ({recorded}; this run: "
                           "{here}), and the same seeds give bit-identical results only with the same processor "
                           "model and precision, so a retrained model differs from its record by a few test images; "
                           "the figures and the saved model are this run's retrained ones").format(
                recorded=recorded_on, here=here))
    if run.get("resumed_runs"):
        parts.append(_("{resumed} of {training_runs} runs taken from the records of earlier runs of this folder, "
                       "{retrained} of them retrained because figures use their models").format(
            resumed=run["resumed_runs"], training_runs=run["training_runs"], retrained=run["retrained_for_models"]))
    return "; ".join(parts) + "."
