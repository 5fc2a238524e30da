"""Tables as a reader reads them: accuracy in % with ± over seeds, differences with their 95 % interval, parameters
with thousands separators, MACs in millions, and only the columns the point needs (runs.csv keeps everything)."""

from __future__ import annotations

import math

import pandas as pd

from ..i18n import N_, _, current_language, label, ngettext, phrase
from ..stats import REFERENCE, ShiftCost

# Column names that are also the keys code reads them by: the catalog translates them where a table is shown.
HEADERS = (N_("experiment"), N_("variant"), N_("seeds"), N_("epochs"), N_("parameters"), N_("MACs (M)"),
           N_("p (Holm)"), N_("verdict"), N_("augmentation"), N_("chosen"), N_("model"), N_("class"), N_("block"),
           N_("channels"), N_("direction"), N_("shift"), N_("layer"), N_("kernel"), N_("stride"), N_("value"),
           N_("CNN (%)"), N_("dense (%)"), N_("output"), N_("bias"), N_("formula"), N_("horizontal"), N_("vertical"),
           N_("diagonal"), N_("yes"), N_("no"), N_("reference"), N_("configuration"), N_("all"), N_("step"),
           N_("class_a"), N_("class_b"), N_("distance"))


def accuracy_text(mean: float, std: float | None = None, seeds: int = 1) -> str:
    """'93.66 ± 0.13' for several seeds (std over seeds); one seed has no spread to show: '93.66'."""
    if seeds < 2 or std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean * 100:.2f}"
    return f"{mean * 100:.2f} ± {std * 100:.2f}"


def difference_text(value: float, low: float, high: float) -> str:
    """'−0.28 [−0.71, +0.15]': a difference in points with its 95 % interval (no interval with one seed)."""
    text = _signed(value)
    return text if math.isnan(low) else f"{text} [{_signed(low)}, {_signed(high)}]"


def _signed(value: float) -> str:
    """Always signed, so a small negative bound reads "−0.00", never "0.00": whether zero is inside shows."""
    if value == 0:
        return "0.00"
    text = f"{value:+.2f}"
    return text.replace("-", "−")


def percent(value: float, digits: int = 1) -> str:
    """A share as the workshop writes it, with a space before the sign: 0.936 → '93.6 %' ('—' when not measured)."""
    return "—" if math.isnan(value) else f"{value * 100:.{digits}f} %"


def p_text(p: float) -> str:
    """A p-value as a reader compares it with 0.05: three decimals, or '< 0.001'."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_statement(p: float) -> str:
    """A p-value as a sentence states it: 'p = 0.012', or 'p < 0.001' (sections 5.5, 7.3 and 7.4)."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def millions(value: float) -> str:
    return f"{value / 1e6:.1f}"


def count(value: float) -> str:
    return f"{int(value):,}"


def summary(table: pd.DataFrame, columns: tuple[str, ...] = ("variant", "seeds", "epochs", "parameters", "accuracy"),
            ) -> pd.DataFrame:
    """A summarise_outcomes / effects table in reader form, keeping the named columns in that order."""
    available = {  # i18n: key (the names of the columns a caller asks for; headers are the values of `names`)
        "experiment": lambda t: t.experiment,
        "variant": lambda t: t.variant,
        "seeds": lambda t: t.seeds,
        N_("train images"): lambda t: t.train_size.map(count),
        "epochs": lambda t: t.epochs,
        "augmentation": lambda t: t.augment.map(AUGMENT_NAMES),
        "parameters": lambda t: t.parameters.map(count),
        "MACs (M)": lambda t: t.macs.map(millions),
        "accuracy": lambda t: [accuracy_text(m, s, n) for m, s, n in zip(t.test_accuracy_mean, t.test_accuracy_std,
                                                                      t.seeds)],
        "difference": lambda t: [difference_text(d, lo, hi) if v != REFERENCE else "reference"  # i18n: key
                                 for d, lo, hi, v in zip(t.difference, t.low, t.high, t.verdict)],
        "p (Holm)": lambda t: [("—" if v == REFERENCE or math.isnan(p) else p_text(p))
                               for p, v in zip(t.p_holm, t.verdict)],
        "verdict": lambda t: t.verdict,
        N_("train s/run"): lambda t: t.train_seconds_mean.map(lambda v: f"{v:.0f}"),
    }
    names = {"accuracy": N_("test accuracy (%)"), "difference": N_("difference (points, 95 % CI)")}
    frame = pd.DataFrame({names.get(c, c): available[c](table) for c in columns})
    return frame.reset_index(drop=True)


def effects(table: pd.DataFrame, reference: pd.DataFrame | None = None, experiment: bool = False,
            epochs: bool = False) -> pd.DataFrame:
    """An effects table (stats.effects_table) for one or more experiments; with `reference` (the committed full
    run's effects), its accuracy and verdict are shown beside this run's, labelled as such.

    Used in sections 3.4, 5.2, 6.8, 7.3.
    """
    columns = (("experiment",) if experiment else ()) + ("variant", "seeds") + (
        ("train images", "epochs") if epochs else ())  # i18n: key
    frame = summary(table, (*columns, "parameters", "MACs (M)", "accuracy", "difference", "p (Holm)", "verdict"))
    if reference is not None:
        keyed = reference.set_index(["experiment", "variant"])
        full = [keyed.loc[key] if key in keyed.index else None for key in zip(table.experiment, table.variant)]
        frame[N_("full run: accuracy (%)")] = ["—" if r is None else accuracy_text(r.test_accuracy_mean,
                                                                               r.test_accuracy_std, r.seeds)
                                           for r in full]
        frame[N_("full run: verdict")] = ["—" if r is None else r.verdict for r in full]
    return frame


AUGMENT_NAMES = {"none": N_("none"), "flip": N_("flips"), "shift": N_("shifts (±2 px)")}


def per_class_tests(table: pd.DataFrame) -> pd.DataFrame:
    """stats.mcnemar_by_class in reader form (section 5.3): each class's accuracy for both models, the test images
    only one of them gets right, McNemar's p after Holm over the ten classes, and the verdict for model a."""
    return pd.DataFrame({
        "class": table["class"],
        "CNN (%)": (table.accuracy_a * 100).map(lambda v: f"{v:.1f}"),
        "dense (%)": (table.accuracy_b * 100).map(lambda v: f"{v:.1f}"),
        N_("only the CNN right"): table.only_a, N_("only dense right"): table.only_b,
        N_("p (McNemar, Holm)"): table.p_holm.map(p_text), N_("verdict (CNN)"): table.verdict,
    })


def power(table: pd.DataFrame) -> pd.DataFrame:
    """stats.power_table in reader form (section 6)."""
    return pd.DataFrame({N_("seeds per arm"): table.seeds,
                         N_("chance to detect a 0.5-point difference"): table.power.map(lambda v: percent(v, 0)),
                         N_("difference detected 80 % of the time (points)"): table.detectable.map(
                             lambda v: "—" if math.isnan(v) else f"{v:.2f}")})


def recipe_choice(table: pd.DataFrame) -> pd.DataFrame:
    """A model's augmentation choice (stats.validation_summary + chosen) in reader form: validation accuracy as mean
    [95 % interval over seeds], the chosen row marked, and the budget it was chosen at (training images, epochs), which
    is not the headline's. Used in sections 3.3 and 5.2."""
    return pd.DataFrame({
        "augmentation": table.augment.map(AUGMENT_NAMES),
        "seeds": table.seeds,
        N_("validation accuracy (%, 95 % CI)"): [_mean_and_interval(m, lo, hi) for m, lo, hi in zip(
            table.best_val_accuracy_mean, table.best_val_accuracy_low, table.best_val_accuracy_high)],
        "chosen": table.chosen.map({True: N_("✓ chosen"), False: ""}),
        N_("train images"): table.train_size.map(count),
        "epochs": table.epochs,
    })


def _mean_and_interval(mean: float, low: float, high: float) -> str:
    return f"{mean * 100:.2f}" if math.isnan(low) else f"{mean * 100:.2f} [{low * 100:.2f}, {high * 100:.2f}]"


def intensity(summary_table: pd.DataFrame) -> pd.DataFrame:
    """The per-class brightness summary in reader form: mean pixel (0–255), background share (%), ink pixels.

    Used in section 2.2.
    """
    return pd.DataFrame({"class": summary_table["class"],
                         N_("mean pixel (0–255)"): (summary_table.mean_pixel * 255).round(0).astype(int),
                         N_("background (% of pixels)"): (summary_table.background_share * 100).round(0).astype(int),
                         N_("ink pixels (of 784)"): summary_table.ink_pixels.round(0).astype(int)})


def shift_responses(responses) -> pd.DataFrame:
    """by_hand.shift_response results for several shifts, with the question each column answers. Used in section 4.8."""
    return pd.DataFrame({
        N_("shift (pixels)"): [r.shift for r in responses],
        N_("conv: largest |difference| from the moved output (interior)"): [f"{r.conv_interior_difference:.1g}"
                                                                         for r in responses],
        N_("2×2 max pool: outputs on the garment equal to the moved pooled map"): [percent(r.pool_exact_share, 0)
                                                                                   for r in responses],
        N_("global average: relative change"): [percent(r.gap_relative_change, 2) for r in responses],
    })


def layer_names(rows: list[dict]) -> list[str]:
    """Human names for layer_summary rows: 'block 1, conv 2', 'block 2, max pool', 'head, linear 1', ..."""
    names, block, conv, in_head, linear = [], 1, 0, False, 0
    convolutional = any(row["type"] == "Conv2d" for row in rows)  # a dense model has layers, not a head
    for row in rows:
        kind = row["type"]
        if kind in ("Flatten", "AdaptiveAvgPool2d"):
            in_head = True
        if kind == "Linear":
            linear += 1
        if kind == "Conv2d":
            conv += 1
        place = (_("head") if in_head else "input" if kind in ("Normalize", "PixelPermutation")
                 else _("block {number}").format(number=block))
        detail = {"Conv2d": _("conv {number}").format(number=conv),
                  "BatchNorm2d": _("batch norm {number}").format(number=conv), "ReLU": "ReLU",
                  "MaxPool2d": _("max pool"), "AvgPool2d": _("average pool"),
                  "Linear": _("linear {number}").format(number=linear), "AdaptiveAvgPool2d": _("global average pool"),
                  "Dropout": _("dropout"), "Flatten": _("flatten"), "Normalize": _("normalise"),
                  "PixelPermutation": _("scramble pixels")}.get(kind, kind)
        names.append(_("{place}, {detail}").format(place=place, detail=detail) if place != "input" and convolutional
                     else detail)
        if kind in ("MaxPool2d", "AvgPool2d"):
            block, conv = block + 1, 0
    return names


def _receptive_field(value) -> str:
    """layer_summary's receptive field as a reader reads it: 5 → "5×5", (3, 5) → "3×5", NaN (not computed) → "—",
    None (no image any more) → ""."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return f"{value[0]}×{value[1]}"
    return "—" if value != value else f"{int(value)}×{int(value)}"


def layers(rows: list[dict]) -> pd.DataFrame:
    """layer_summary rows as a reader reads them: name, output shape, parameters, MACs (M), receptive field.

    Used in sections 3.1, 5.1.
    """
    frame = pd.DataFrame(rows)
    table = pd.DataFrame({
        N_("layer"): layer_names(rows),
        N_("output shape"): [" × ".join(map(str, s)) for s in frame.output_shape],
        "parameters": frame.parameters.map(count),
        "MACs (M)": frame.macs.map(lambda v: f"{v / 1e6:.2f}" if v else ""),
    })
    if frame.receptive_field.notna().any() and (frame.type == "Conv2d").any():
        table[N_("receptive field")] = [_receptive_field(row["receptive_field"]) for row in rows]
    total = pd.DataFrame([{"layer": _("total"), "output shape": "",  # i18n: key
                           "parameters": count(frame.parameters.sum()), "MACs (M)": f"{frame.macs.sum() / 1e6:.2f}"}])
    return pd.concat([table, total], ignore_index=True).fillna("")


def with_thousands(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every integer column written with thousands separators (7225344 → "7,225,344").

    Used in section 4.6.
    """
    whole = [column for column, kind in frame.dtypes.items()
             if pd.api.types.is_integer_dtype(kind) and not pd.api.types.is_bool_dtype(kind)]
    return frame.assign(**{c: frame[c].map(count) for c in whole})


def conv_costs(costs: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    """by_hand.conv_cost_check's table as a reader reads it: each layer by its name ('block 1, conv 2') and counts
    with thousands separators. Used in section 4.6."""
    return with_thousands(costs.assign(layer=costs.layer.map(_names_by_key(rows))))


def _names_by_key(rows: list[dict]) -> dict[str, str]:
    """layer_summary's keys ('features.0') to the names a reader reads ('block 1, conv 1')."""
    return dict(zip([row["layer"] for row in rows], layer_names(rows)))


def receptive_fields(fields: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    """by_hand.receptive_field_check's table with each layer by its name. Used in section 4.7."""
    return fields.assign(layer=fields.layer.map(_names_by_key(rows)))


def translation(accuracy: pd.DataFrame | None, committed: pd.DataFrame | None = None) -> pd.DataFrame:
    """stats.shift_accuracy in reader form: accuracy (%) on shifted images, mean over seeds [95 % interval], one row
    per direction and shift, one column per model; with `committed` (the full run's), its columns beside.

    Used in section 7.1.
    """
    def pivot(frame):
        cells = [f"{mean:.1f}" if math.isnan(low) else f"{mean:.1f} [{low:.1f}, {high:.1f}]"
                 for mean, low, high in zip(frame["mean"], frame.low, frame.high)]
        return pd.Series(cells, index=frame.index, name="accuracy").unstack("model")

    table = pivot(accuracy)
    if committed is not None:
        full = pivot(committed)
        table = table.join(full.rename(columns={model: _("full run: {model}").format(model=label(model))
                                                for model in full.columns}), how="left")
    return table


def selectivity(tests: pd.DataFrame, committed: pd.DataFrame | None = None) -> pd.DataFrame:
    """stats.selectivity_tests in reader form (section 7.4): per block, channels, median class entropy of their top
    images, the shuffled-label baseline and the two rank tests' p-values; with `committed` (the full run's tests), its
    medians beside."""
    frame = pd.DataFrame({"block": tests.block, "channels": tests.channels,
                          N_("median entropy (bits)"): tests.median_entropy.round(2),
                          N_("labels shuffled (bits)"): tests.shuffled_entropy.round(2),
                          N_("p (below shuffled)"): [p_text(p) for p in tests.p_below_shuffled],
                          N_("p (vs first block)"): ["—" if math.isnan(p) else p_text(p) for p in tests.p_vs_first]})
    if committed is not None:
        frame[N_("full run: median (bits)")] = frame.block.map(committed.set_index("block").median_entropy.round(2))
    return frame


def parity(result: dict) -> pd.DataFrame:
    """onnx_parity's result as a reader reads it. Used in section 10."""
    rows = {N_("test images"): f"{result['images']:,}" if "images" in result else "—",
            N_("accuracy, PyTorch (%)"): f"{result['torch_accuracy'] * 100:.2f}",
            N_("accuracy, ONNX Runtime (%)"): f"{result['onnx_accuracy'] * 100:.2f}",
            N_("largest |logit difference|"): f"{result['max_abs_logit_diff']:.1e}",
            N_("same predicted class (%)"): f"{result['prediction_agreement'] * 100:.2f}"}
    return pd.Series(rows, name="value").to_frame()


def pareto(points: pd.DataFrame) -> pd.DataFrame:
    """stats.pareto_table in reader form: every configuration, most accurate first, numbered as in the figure's key,
    with whether it is on the accuracy–parameters and on the accuracy–MACs Pareto front. Used in section 6.10."""
    shown = summary(points, ("experiment", "variant", "seeds", "parameters", "MACs (M)", "accuracy"))
    shown[N_("on the parameters front")] = [_("yes") if on else _("no") for on in points.on_parameters_front]
    shown[N_("on the MACs front")] = [_("yes") if on else _("no") for on in points.on_macs_front]
    shown.index = pd.Index(points.number.to_numpy(), name="#")
    return shown


def run_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Workshop.run_summary in reader form (section 12): one row per experiment (as recorded), variant and budget."""
    if table.empty:
        return table
    columns = ("experiment", "variant", "seeds", "train images", "epochs", "parameters", "accuracy",  # i18n: key
               "train s/run")  # i18n: key
    return summary(table, columns)


def _row(effects_table: pd.DataFrame, experiment: str, variant: str) -> pd.Series:
    return effects_table[(effects_table.experiment == experiment) & (effects_table.variant == variant)].iloc[0]


def _measured(row: pd.Series) -> str:
    return _("{accuracy} % ({seeds}, {images} images, {epochs})").format(
        accuracy=accuracy_text(row.test_accuracy_mean, row.test_accuracy_std, row.seeds),
        seeds=ngettext("{count} seed", "{count} seeds", row.seeds).format(count=row.seeds),
        images=count(row.train_size),
        epochs=ngettext("{count} epoch", "{count} epochs", int(row.epochs)).format(count=int(row.epochs)))


def claims(headline: pd.DataFrame, effects_table: pd.DataFrame, small_gap: pd.DataFrame,
           shift: ShiftCost) -> pd.DataFrame:
    """The original workshop's claims beside this run's measurement, its comparator and the verdict (section 8.2);
    `shift` is stats.shift_cost of the translation probe for the default CNN."""
    dense, cnn = _row(headline, "CNN vs dense", "dense baseline"), _row(headline, "CNN vs dense", "CNN")  # i18n: key
    three = _row(effects_table, "kernel size", "3×3")  # i18n: key
    five, seven = _row(effects_table, "kernel size", "5×5"), _row(effects_table, "kernel size", "7×7")  # i18n: key
    small = _row(small_gap, "small GAP vs dense", "small GAP (16, 32, 64)")  # i18n: key
    same_dense = _row(small_gap, "small GAP vs dense", "dense baseline")  # i18n: key
    drops = shift.mean_drops
    subset = _("(subset: {images} training images)").format(images=count(three.train_size))

    def accuracy_of(row: pd.Series) -> str:
        return accuracy_text(row.test_accuracy_mean, row.test_accuracy_std, row.seeds)

    def kernel_result(row: pd.Series) -> str:
        return _("{difference} points, {parameters} parameters {subset}").format(
            difference=difference_text(row.difference, row.low, row.high), parameters=count(row.parameters),
            subset=subset)

    rows = [
        [_("Dense baseline accuracy"), "~87–88 %", _measured(dense), "—", "—"],
        [_("Dense baseline parameters"), "~101,000", count(dense.parameters), "—", "—"],
        [_("CNN accuracy"), "~91–92 %", _measured(cnn), "—", "—"],
        [_("CNN parameters"), _("~94,000, fewer than the baseline"), count(cnn.parameters),
         _("dense baseline: {parameters}").format(parameters=count(dense.parameters)),
         _("{ratio:.1f}× more, not fewer").format(ratio=cnn.parameters / dense.parameters)],
        [_("CNN improvement"), _("+4–5 points"),
         _("{difference} points").format(difference=difference_text(cnn.difference, cnn.low, cnn.high)),
         _("dense baseline, same recipe, 3× the epochs"), phrase(cnn.verdict)],
        [_("5×5 vs 3×3 kernels"), _("~91.3 vs ~91.5 %, 250,000 parameters"), kernel_result(five),
         _("3×3: {accuracy} %, same subset").format(accuracy=accuracy_of(three)), phrase(five.verdict)],
        [_("7×7 vs 3×3 kernels"), _("~89–90 %, 'too aggressive', 450,000 parameters"), kernel_result(seven),
         _("3×3, same subset"), phrase(seven.verdict)],
        [_("Better accuracy with fewer parameters"), _("claimed for the CNN"),
         _("small GAP CNN: {parameters} parameters, {measured}").format(parameters=count(small.parameters),
                                                                         measured=_measured(small)),
         _("dense baseline on the same images: {parameters} parameters, {accuracy} %").format(
             parameters=count(same_dense.parameters), accuracy=accuracy_of(same_dense)),
         _("{verdict} ({difference} points)").format(
             verdict=phrase(small.verdict), difference=difference_text(small.difference, small.low, small.high))],
        [_("Convolution makes the model invariant to shifts"), _("claimed"),
         _("convolution is equivariant (section 4.8); a 2-px horizontal shift costs the default CNN "
           "{drop:.1f} points {subset}").format(drop=drops.get(shift.model, float("nan")), subset=subset),
         _("dense: {dense:.1f} points; GAP head: {gap:.1f}").format(
             dense=drops.get("dense", float("nan")), gap=drops.get("CNN (GAP head)", float("nan"))),  # i18n: key
         phrase(shift.test.verdict)],
    ]
    return pd.DataFrame(rows, columns=[N_("claim"), N_("original README"), N_("this run"), N_("comparator"),
                                       N_("verdict")])


def localise(frame: pd.DataFrame) -> pd.DataFrame:
    """A table in the current language, for display: its column and index names and the words of its cells (run
    names, verdicts, class names) through the catalog. The data and their English keys are unchanged, so code keeps
    reading columns by name; the notebook's display (display.use_notebook_display) and the README call this."""
    if current_language() == "en":
        return frame
    shown = frame.copy()
    shown.columns = _translated_index(shown.columns)
    shown.index = _translated_index(shown.index)
    for column in shown.columns:
        if pd.api.types.is_object_dtype(shown[column]) or pd.api.types.is_string_dtype(shown[column]):
            shown[column] = shown[column].map(phrase)
    return shown


def _translated_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(phrase(v) for v in values) for values in index],
                                         names=[phrase(name) for name in index.names])
    textual = pd.api.types.is_object_dtype(index) or pd.api.types.is_string_dtype(index)
    return pd.Index([phrase(v) for v in index], name=phrase(index.name), dtype=None if textual else index.dtype)


def to_markdown(table: pd.DataFrame) -> str:
    """A pipe table without the optional tabulate dependency (the README's generated blocks)."""
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])
