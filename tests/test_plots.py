"""Every figure function renders from small data with a title, labelled axes, and no two texts overlapping at the
size it is drawn; saving writes a PNG atomically."""

from __future__ import annotations

from itertools import combinations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from conv_workshop import analysis, by_hand, plots, stats  # noqa: E402
from conv_workshop.data import CLASS_NAMES  # noqa: E402
from conv_workshop.experiments import architecture_variants, kernel_size_variants  # noqa: E402

from .conftest import make_splits  # noqa: E402


def drawn_texts(figure: Figure) -> list[Text]:
    """The texts a reader sees: titles, labels, the tick labels inside the view, annotations, legends, colour-bar
    labels; visible and non-empty."""
    figure.canvas.draw()
    texts: list[Text] = []
    pending = [figure]
    while pending:  # the figure and its subfigures
        current = pending.pop()
        pending += list(getattr(current, "subfigs", []))
        texts += [t for t in (getattr(current, "_suptitle", None),) if t is not None] + list(current.texts)
        for legend in current.legends:
            texts += [*legend.get_texts(), legend.get_title()]
    for axis in figure.get_axes():
        if not axis.get_visible():
            continue
        texts += [axis.title, axis._left_title, axis._right_title, *axis.texts]
        if axis.axison:
            texts += [axis.xaxis.label, axis.yaxis.label, axis.xaxis.get_offset_text(), axis.yaxis.get_offset_text()]
            for ticks in (axis.xaxis._update_ticks(), axis.yaxis._update_ticks()):  # only ticks inside the view
                texts += [label for tick in ticks for label in (tick.label1, tick.label2) if label.get_visible()]
        legend = axis.get_legend()
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    unique = {id(t): t for t in texts}  # a suptitle is also among its figure's texts
    return [t for t in unique.values() if t.get_visible() and t.get_text().strip()]


def overlapping_texts(figure: Figure, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes overlap by more than `tolerance` pixels in both directions."""
    renderer = figure.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn_texts(figure)]
    pairs = []
    for (first, a), (second, b) in combinations(boxes, 2):
        width = min(a.x1, b.x1) - max(a.x0, b.x0)
        height = min(a.y1, b.y1) - max(a.y0, b.y0)
        if width > tolerance and height > tolerance:
            pairs.append((first, second))
    return pairs


def unlabelled_axes(figure: Figure) -> list[str]:
    """Axes that show tick labels on an axis without naming that axis."""
    missing = []
    for axis in figure.get_axes():
        if not axis.get_visible() or not axis.axison:
            continue
        xticks = [t for t in axis.get_xticklabels() if t.get_visible() and t.get_text()]
        yticks = [t for t in axis.get_yticklabels() if t.get_visible() and t.get_text()]
        if xticks and not axis.get_xlabel() and not _shares_labelled(axis, "x"):
            missing.append(f"x of '{axis.get_title()}'")
        if yticks and not axis.get_ylabel() and not _shares_labelled(axis, "y"):
            missing.append(f"y of '{axis.get_title()}'")
    return missing


def _shares_labelled(axis, which: str) -> bool:
    group = axis.get_shared_x_axes() if which == "x" else axis.get_shared_y_axes()
    return any((other.get_xlabel() if which == "x" else other.get_ylabel()) for other in group.get_siblings(axis))


def titled(figure: Figure) -> bool:
    suptitles = [f._suptitle for f in [figure, *figure.subfigs] if getattr(f, "_suptitle", None)]
    return any(t.get_text() for t in suptitles) or any(a.get_title() for a in figure.get_axes())


def _effects(experiment: str, variants: list[str], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i, variant in enumerate(variants):
        difference = 0.0 if i == 0 else float(rng.normal(-1, 1))
        rows.append({"experiment": experiment, "variant": variant, "reference": variants[0], "seeds": 3,
                     "train_size": 10_000, "epochs": 10, "augment": "flip", "parameters": int(rng.integers(6e4, 1e6)),
                     "macs": int(rng.integers(4e6, 1e8)), "test_accuracy_mean": 0.9 + difference / 100,
                     "test_accuracy_std": 0.002, "difference": difference, "low": difference - 0.4,
                     "high": difference + 0.4, "p_value": 0.01, "p_holm": 0.04,
                     "verdict": "reference" if i == 0 else ("worse" if i % 2 else "not resolved with 3 seeds")})
    return pd.DataFrame(rows)


def all_effects() -> pd.DataFrame:
    groups = {"kernel size": list(kernel_size_variants()), **{k: list(v) for k, v in architecture_variants().items()}}
    return pd.concat([_effects(name, variants, i) for i, (name, variants) in enumerate(groups.items())],
                     ignore_index=True)


def figures() -> dict[str, Figure]:
    splits = make_splits(train=200)
    images, labels = splits.train_images, splits.train_labels
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_accuracy": 0.5 + e / 10,
                "val_accuracy": 0.45 + e / 10} for e in (1, 2, 3)]
    matrix = analysis.confusion_matrix(labels % 10, labels)
    coordinates, explained = analysis.pca_projection(images)
    curve = pd.DataFrame([{"model": m, "seed": seed, "direction": d, "shift": s, "accuracy": 0.9 - s / 10 + seed / 100}
                          for m in ("dense", "CNN (max pool)", "CNN (stride-2 conv)", "CNN (GAP head)")
                          for seed in range(3) for d in ("horizontal", "vertical", "diagonal") for s in range(7)])
    efficiency = pd.DataFrame({"model": ["dense", "CNN"] * 3, "train_size": [500, 500, 2000, 2000, 55000, 55000],
                               "test_accuracy_mean": [0.78, 0.82, 0.82, 0.86, 0.89, 0.93],
                               "low": [0.77, 0.81, 0.81, 0.85, 0.88, 0.92],
                               "high": [0.79, 0.83, 0.83, 0.87, 0.9, 0.94]})
    tables = {"block 1": pd.DataFrame({"channel": [0, 0, 1, 1], "rank": [0, 1, 0, 1], "image": [0, 1, 2, 3],
                                       "activation": [2.0, 1.0, 2.0, 1.0], "row": 0, "column": 0})}
    patches = {"block 1": [images[i, :6, :6] for i in range(4)]}
    kernel = by_hand.KERNELS["vertical edge (Sobel x)"]
    image = by_hand.as_chw(images[0])
    response = by_hand.correlate2d_unfold(image, kernel, padding=1)[0]
    responses = {name: [by_hand.correlate2d_unfold(by_hand.as_chw(images[i]), k, padding=1)[0] for i in range(3)]
                 for name, k in by_hand.KERNELS.items()}
    effects = all_effects()
    selectivity = pd.DataFrame({"block": ["block 1"] * 32 + ["block 2"] * 64,
                                "channel": list(range(32)) + list(range(64)),
                                "entropy": np.r_[np.linspace(2, 3, 32), np.linspace(1, 2.5, 64)],
                                "shuffled_entropy": 3.2})
    fit = by_hand.learn_kernel(images[:8], kernel, steps=20)
    return {
        "class_balance": plots.class_balance(analysis.class_counts(labels, CLASS_NAMES)),
        "sample_grid": plots.sample_grid(images, labels, CLASS_NAMES, per_class=4),
        "intensity": plots.intensity_distributions(images, labels, CLASS_NAMES),
        "mean_images": plots.mean_images(analysis.class_means(images, labels), CLASS_NAMES),
        "distances": plots.distance_heatmap(analysis.class_mean_distances(images, labels, CLASS_NAMES)),
        "pca": plots.pca_scatter(coordinates, labels, CLASS_NAMES, explained),
        "training_curves": plots.training_curves({"dense baseline": history, "CNN": history}, "curves"),
        "convolution_check": plots.convolution_check(image[0], kernel, response, response),
        "flip": plots.correlation_vs_convolution(kernel, response, -response),
        "kernel_gallery": plots.kernel_gallery([images[i] for i in range(3)], ["Shirt", "Trouser", "Bag"],
                                               by_hand.KERNELS, responses),
        "filters_beside": plots.filters_beside(by_hand.KERNELS, torch.randn(32, 1, 3, 3)),
        "shift_response": plots.shift_response(by_hand.shift_demo(image, kernel, 2)),
        "learned_kernel": plots.learned_kernel(kernel, fit.kernel, fit.losses),
        "playground": plots.playground(image[0], "vertical edge (Sobel x)", kernel, response, 1, 1),
        "confusion": plots.confusion_heatmap(matrix * 100, CLASS_NAMES, "confusion"),
        "per_class": plots.per_class_dots(pd.DataFrame({"class": CLASS_NAMES, "dense baseline": [0.8] * 10,
                                                        "CNN": [0.9] * 10}), "per class", counts=[1000] * 10),
        "mistakes": plots.misclassified_gallery(images[:40], labels[:40], (labels[:40] + 6) % 10, torch.rand(40),
                                                CLASS_NAMES),
        "feature_maps": plots.feature_maps(images[0], {"block 1": torch.rand(32, 14, 14),
                                                       "block 2": torch.rand(64, 7, 7)}),
        "effects": plots.experiment_effects(effects[effects.experiment == "depth"], "Depth",
                                            effects[effects.experiment == "depth"]),
        "effects_head": plots.experiment_effects(effects[effects.experiment == "head"], "Head"),
        "validation_curves": plots.validation_curves({"3×3": [history, history], "5×5": [history]}, "validation"),
        "pareto": plots.accuracy_versus_cost(effects.drop_duplicates("variant")),
        "translation": plots.translation(curve, curve.assign(accuracy=curve.accuracy - 0.05)),
        "shift_similarity": plots.shift_similarity(analysis.shift_similarity(images[:50], (1, 2))),
        "data_efficiency": plots.data_efficiency(efficiency, efficiency.assign(
            test_accuracy_mean=efficiency.test_accuracy_mean - 0.01), lead=pd.DataFrame(
            {"train_size": [500, 500, 55000, 55000], "verdict": ["reference", "better", "reference", "not resolved"],
             "difference": [0.0, 4.5, 0.0, 0.4], "low": [np.nan, 3.7, np.nan, -0.3],
             "high": [np.nan, 5.3, np.nan, 1.1]})),
        "receptive_fields": plots.receptive_fields(images[0], [("block 1, conv 1", 3), ("block 1, conv 2", 5),
                                                               ("block 1, max pool", 6), ("block 2, conv 1", 10),
                                                               ("block 2, conv 2", 14), ("block 2, max pool", 16)]),
        "top_patches": plots.top_patches(tables, patches, [CLASS_NAMES[c] for c in labels]),
        "selectivity": plots.selectivity(selectivity, selectivity.assign(entropy=selectivity.entropy - 0.1)),
        "attribution": plots.attribution(images[:8], [f"{CLASS_NAMES[i]}\n→ {CLASS_NAMES[i]}" for i in range(8)],
                                         torch.rand(8, 28, 28), torch.randn(8, 28, 28)),
    }


@pytest.fixture(scope="module")
def rendered():
    plt.rcParams["figure.max_open_warning"] = 0  # every figure is open at once, on purpose, to be checked
    made = figures()
    yield made
    plt.close("all")


@pytest.mark.parametrize("name", [
    "class_balance", "sample_grid", "intensity", "mean_images", "distances", "pca", "training_curves",
    "convolution_check", "flip", "kernel_gallery", "filters_beside", "shift_response", "learned_kernel", "playground",
    "confusion", "per_class", "mistakes", "feature_maps", "effects", "effects_head", "validation_curves", "pareto",
    "translation", "shift_similarity", "data_efficiency", "receptive_fields", "top_patches", "selectivity",
    "attribution"])
def test_figure_is_titled_labelled_and_has_no_overlapping_text(rendered, name):
    figure = rendered[name]
    assert isinstance(figure, Figure) and titled(figure), f"{name}: no title"
    assert not unlabelled_axes(figure), f"{name}: axes without labels: {unlabelled_axes(figure)}"
    assert not overlapping_texts(figure), f"{name}: overlapping texts: {overlapping_texts(figure)[:5]}"


def test_the_overlap_check_catches_overlapping_text():
    figure, axis = plt.subplots()
    axis.set(title="a title", xlabel="x", ylabel="y")
    axis.text(0.5, 0.5, "some words here")
    axis.text(0.5, 0.5, "other words there")
    assert overlapping_texts(figure)
    plt.close(figure)


def test_images_are_drawn_as_the_model_sees_them(rendered):
    image = rendered["sample_grid"].axes[0].images[0]
    assert image.get_cmap().name == "gray" and image.get_clim() == (0, 255)  # 0 = black background


def test_pareto_front_keeps_only_configurations_nothing_beats():
    points = pd.DataFrame({"parameters": [10, 20, 30, 40], "test_accuracy_mean": [0.80, 0.79, 0.85, 0.84]})
    assert stats.pareto_front(points, "parameters").tolist() == [True, False, True, False]


def test_save_writes_a_png_atomically(tmp_path):
    figure, axis = plt.subplots()
    axis.set(title="t", xlabel="x", ylabel="y")
    path = plots.save_figure(figure, tmp_path / "figures" / "one.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["one.png"]
    plt.close(figure)
