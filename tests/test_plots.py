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

from conv_workshop import stats
from conv_workshop.data import CLASS_NAMES  # noqa: E402
from conv_workshop.experiments.catalogue import architecture_variants, kernel_size_variants  # noqa: E402
from conv_workshop.inspection import analysis
from conv_workshop.lesson import by_hand
from conv_workshop.reporting import plots  # noqa: E402
from conv_workshop.stats import REFERENCE, Verdict  # noqa: E402

UNRESOLVED = Verdict("not resolved", seeds=3)

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
                     "verdict": REFERENCE if i == 0 else (Verdict("worse") if i % 2 else UNRESOLVED)})
    return pd.DataFrame(rows)


def all_effects() -> pd.DataFrame:
    groups = {"kernel size": list(kernel_size_variants()), **{k: list(v) for k, v in architecture_variants().items()}}
    return pd.concat([_effects(name, variants, i) for i, (name, variants) in enumerate(groups.items())],
                     ignore_index=True)


def realistic_points() -> pd.DataFrame:
    """Fifteen configurations like the committed full run's (section 6.10), several sharing a cost."""
    rows = [("all", "default CNN", 468010, 18691840, 0.9033), ("kernel size", "5×5", 583210, 51205888, 0.8997),
            ("kernel size", "7×7", 756010, 99976960, 0.8925), ("depth", "1 block (32)", 813866, 8255232, 0.8910),
            ("depth", "3 blocks (32, 64, 128)", 435754, 29275904, 0.9080),
            ("depth", "1 conv per block", 421738, 4241152, 0.8893),
            ("downsampling", "stride-2 conv", 468010, 7853824, 0.8963),
            ("padding", "valid", 197674, 9837952, 0.8958), ("pooling", "average", 468010, 18691840, 0.8999),
            ("width", "32 → 32 channels", 230314, 11265792, 0.8979),
            ("width", "64 → 128 channels", 1063626, 73509120, 0.9061),
            ("batch norm", "without batch norm", 467818, 18691840, 0.8811),
            ("head", "global average pool", 65834, 18289792, 0.8609),
            ("head", "GAP, 3 blocks (32, 64, 128)", 288170, 29128448, 0.9015),
            ("head", "small GAP (16, 32, 64)", 72666, 7338880, 0.8880)]
    return pd.DataFrame([{"experiment": e, "variant": v, "parameters": p, "macs": m, "test_accuracy_mean": a,
                          "test_accuracy_std": 0.002, "seeds": 3, "epochs": 10, "train_size": 10_000}
                         for e, v, p, m, a in rows])


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
    generator = torch.Generator().manual_seed(0)
    maps, weights = torch.rand(32, 14, 14, generator=generator), torch.randn(32, 3, 3, generator=generator) / 10
    per_channel = torch.stack([torch.nn.functional.conv2d(maps[c][None, None], weights[c][None, None], padding=1)[0, 0]
                               for c in range(32)])
    confusions = torch.diag(torch.tensor([901, 987, 911, 948, 906, 986, 811, 981, 989, 967]))
    confusions[6, 0], confusions[6, 2], confusions[6, 4], confusions[0, 6] = 80, 39, 46, 65
    two_blocks = {"block 1": tables["block 1"], "block 2": tables["block 1"]}
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
        "shift_response_rows": plots.shift_response([by_hand.shift_demo(image, kernel, s) for s in (1, 2)]),
        "multichannel_filter": plots.multichannel_filter(maps, weights, per_channel, per_channel.sum(0)),
        "learned_kernel": plots.learned_kernel(kernel, fit.kernel, fit.losses),
        "playground": plots.playground(image[0], "vertical edge (Sobel x)", kernel, response, 1, 1),
        "confusion": plots.confusion_heatmap(matrix * 100, CLASS_NAMES, "confusion"),
        "confusion_real": plots.confusion_heatmap(confusions, CLASS_NAMES, "CNN confusion matrix (test set)"),
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
            {"train_size": [500, 500, 55000, 55000], "verdict": [REFERENCE, Verdict("better"), REFERENCE, UNRESOLVED],
             "difference": [0.0, 4.5, 0.0, 0.4], "low": [np.nan, 3.7, np.nan, -0.3],
             "high": [np.nan, 5.3, np.nan, 1.1]})),
        "receptive_fields": plots.receptive_fields(images[0], [("block 1, conv 1", 3), ("block 1, conv 2", 5),
                                                               ("block 1, max pool", 6), ("block 2, conv 1", 10),
                                                               ("block 2, conv 2", 14), ("block 2, max pool", 16)]),
        "top_patches": plots.top_patches(tables, patches, [CLASS_NAMES[c] for c in labels]),
        "top_patches_blocks": plots.top_patches(two_blocks, {"block 1": patches["block 1"],
                                                             "block 2": [images[i, :16, :16] for i in range(4)]},
                                                [CLASS_NAMES[c] for c in labels]),
        "selectivity": plots.selectivity(selectivity, selectivity.assign(entropy=selectivity.entropy - 0.1)),
        "attribution": plots.attribution(images[:8], [f"{CLASS_NAMES[i]}\n→ {CLASS_NAMES[i]}" for i in range(8)],
                                         torch.rand(8, 28, 28), torch.randn(8, 28, 28)),
        "attribution_random": plots.attribution(images[:8], [f"{CLASS_NAMES[i]}\n→ {CLASS_NAMES[i]}" for i in range(8)],
                                                torch.rand(8, 28, 28), torch.randn(8, 28, 28),
                                                random_cam=torch.rand(8, 28, 28) * torch.arange(8).view(8, 1, 1)),
        "pareto_real": plots.accuracy_versus_cost(realistic_points()),
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
    "attribution", "shift_response_rows", "multichannel_filter", "confusion_real", "top_patches_blocks",
    "attribution_random", "pareto_real"])
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


def _front_text(figure: Figure) -> str:
    return " ".join(t.get_text() for t in drawn_texts(figure))


def test_confusion_heatmap_is_row_normalised_with_the_diagonal_off_the_colour_scale(rendered):
    figure = rendered["confusion_real"]
    axis = figure.axes[0]
    shown = axis.images[0]
    values = shown.get_array()
    assert np.ma.getmaskarray(values).diagonal().all() and not np.ma.getmaskarray(values)[6, 0]
    assert values[6, 0] == pytest.approx(80 / (811 + 80 + 39 + 46) * 100)  # % of the Shirt row
    assert shown.get_clim()[1] == pytest.approx(values.max())  # the off-diagonal cells get the whole scale
    texts = [t.get_text() for t in axis.texts]
    assert len(texts) == 100 and "8.2" in texts and "83.1" in texts  # every cell written, the diagonal too
    labels = [a.get_ylabel() for a in figure.axes[1:]]
    assert any("% of the true class's test images" in label for label in labels)


def test_every_pareto_configuration_is_numbered_in_both_panels_and_in_the_key(rendered):
    figure, points = rendered["pareto_real"], realistic_points()
    for axis in figure.axes[:2]:
        assert sorted(int(t.get_text()) for t in axis.texts) == list(range(1, len(points) + 1))
    key = [t.get_text() for f in figure.subfigs for t in f.texts if t.get_text()[:2].strip().isdigit()]
    assert len(key) == len(points) and key[0].split()[0] == "1" and "3 blocks (32, 64, 128)" in key[0]
    assert "front: both" in key[0] and any("average (pooling)" in k and "front" not in k for k in key)


def test_pareto_numbers_agree_between_the_figure_key_and_the_table(rendered):
    from conv_workshop.reporting import tables

    points = realistic_points()
    table = tables.pareto(stats.pareto_table(points))
    key = [t.get_text() for f in rendered["pareto_real"].subfigs for t in f.texts if t.get_text()[:2].strip().isdigit()]
    assert len(table) == len(points) == len(key)
    for number, entry in zip(table.index, key):
        assert entry.split()[0] == str(number) and table.loc[number, "variant"] in entry


def test_shift_response_draws_one_row_per_shift_and_says_where_pooling_breaks(rendered):
    figure = rendered["shift_response_rows"]
    texts = _front_text(figure)
    assert "input moved 1 px right" in texts and "input moved 2 px right" in texts
    assert "pooled maps agree at 100 %" in texts and "did NOT move" in texts
    images = [a for a in figure.axes if a.images and a.get_title().startswith("pooled(moved)")]
    assert len(images) == 2


def test_shift_response_still_takes_one_demo(rendered):
    assert "input moved 2 px right" in _front_text(rendered["shift_response"])


def test_attribution_with_random_weights_adds_a_row_with_its_colour_bar(rendered):
    plain, checked = rendered["attribution"], rendered["attribution_random"]
    assert len([a for a in plain.axes if a.images]) == 3 * 8
    assert len([a for a in checked.axes if a.images]) == 4 * 8
    assert "Grad-CAM,\nrandom weights" in [a.get_ylabel() for a in checked.axes]
    bars = [a for a in checked.axes if not a.images and a.get_ylabel()]
    assert len(bars) == 3 and "all zero" in _front_text(checked)  # the first random map is zero


def test_multichannel_filter_sums_every_channel_and_shows_six(rendered):
    figure = rendered["multichannel_filter"]
    assert len([a for a in figure.axes if a.images]) == 3 * 6 + 1
    assert "sum over all 32 input channels (6 shown)" in _front_text(figure).replace("\n", " ")
    assert len([a for a in figure.axes if not a.images]) == 4  # a colour bar per row and one for the output


def test_feature_maps_each_have_their_own_scale(rendered):
    figure = rendered["feature_maps"]
    maps = [a for a in figure.axes if a.images and a.get_xlabel().startswith("max")]
    assert len(maps) == 16 and all(a.images[0].get_array().max() == pytest.approx(1.0) for a in maps)


def test_a_constant_hand_kernel_is_not_drawn_saturated(rendered):
    blur = [a for a in rendered["filters_beside"].axes if a.get_title() == "blur\n(box)"][0]
    values = blur.images[0].get_array()
    assert np.allclose(values, 1 / 3) and blur.images[0].get_clim() == (-1.0, 1.0)
    assert [t.get_text() for t in blur.texts][:1] == ["0.11"]


def test_top_patches_are_large_and_labelled_readably(rendered):
    figure = rendered["top_patches_blocks"]
    for axis in figure.axes:
        assert axis.images[0].get_interpolation() == "nearest"
        assert axis.title.get_fontsize() >= 7
    width = figure.axes[0].get_window_extent().width / figure.dpi
    assert width >= 1.0  # inches per 6×6 patch


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
