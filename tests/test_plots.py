"""Every figure function returns a titled, labelled Figure from small data, and saving writes a PNG atomically."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from conv_workshop import analysis, plots  # noqa: E402
from conv_workshop.data import CLASS_NAMES  # noqa: E402


def titled(figure: Figure) -> bool:
    return bool(figure._suptitle and figure._suptitle.get_text()) or any(a.get_title() for a in figure.axes)


def test_every_figure_has_a_title(tiny_splits, tmp_path):
    images, labels = tiny_splits.train_images, tiny_splits.train_labels
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_accuracy": 0.5 + e / 10,
                "val_accuracy": 0.45 + e / 10} for e in (1, 2)]
    sparse_history = [{k: v for k, v in row.items() if e == 2 or not k.startswith("val")}
                      for e, row in zip((1, 2), history)]
    summary = pd.DataFrame({"variant": ["3×3", "5×5"], "parameters": [10, 20], "train_seconds_mean": [1.0, 2.0],
                            "test_accuracy_mean": [0.90, 0.91], "test_accuracy_std": [0.01, 0.0]})
    matrix = analysis.confusion_matrix(labels % 10, labels)
    coordinates, explained = analysis.pca_projection(images)
    curve = pd.DataFrame([{"model": m, "direction": d, "shift": s, "accuracy": 0.9 - s / 10}
                          for m in ("dense", "CNN") for d in ("horizontal", "vertical") for s in range(3)])
    sizes = pd.DataFrame({"model": ["dense", "CNN"] * 2, "train_size": [100, 100, 1000, 1000],
                          "test_accuracy_mean": [0.7, 0.8, 0.8, 0.9], "test_accuracy_std": [0.01] * 4})
    bars = pd.DataFrame({"model": ["dense", "dense", "CNN", "CNN"], "pixels": ["intact", "scrambled"] * 2,
                         "test_accuracy_mean": [0.88, 0.88, 0.93, 0.88], "test_accuracy_std": [0.01] * 4})
    tops = {"block 1": pd.DataFrame({"channel": [0, 0], "rank": [0, 1], "image": [0, 1], "activation": [2.0, 1.0]})}
    figures = [
        plots.class_balance(analysis.class_counts(labels, CLASS_NAMES)),
        plots.sample_grid(images, labels, CLASS_NAMES, per_class=2),
        plots.intensity_distributions(images, labels, CLASS_NAMES),
        plots.mean_images(analysis.class_means(images, labels), CLASS_NAMES),
        plots.distance_heatmap(analysis.class_mean_distances(images, labels, CLASS_NAMES)),
        plots.pca_scatter(coordinates, labels, CLASS_NAMES, explained),
        plots.training_curves({"dense": history}),
        plots.confusion_heatmap(matrix, CLASS_NAMES, "confusion"),
        plots.per_class_bars(pd.DataFrame({"class": CLASS_NAMES, "dense": [0.8] * 10, "CNN": [0.9] * 10}), "acc"),
        plots.misclassified_gallery(images[:20], labels[:20], (labels[:20] + 1) % 10, torch.rand(20), CLASS_NAMES),
        plots.filters(torch.randn(8, 1, 3, 3)),
        plots.feature_maps(images[0], {"block 1": torch.rand(8, 14, 14)}),
        plots.accuracy_with_error_bars(summary, "kernel"),
        plots.validation_curves({"3×3": [history, history]}, "validation"),
        plots.validation_curves({"sparse": [sparse_history, sparse_history]}, "validated every other epoch"),
        plots.training_curves({"sparse": sparse_history}),
        plots.translation(curve),
        plots.grouped_bars(bars, x="model", hue="pixels", title="scrambled"),
        plots.data_efficiency(sizes),
        plots.receptive_fields(images[0], [("conv 1", 3), ("conv 2", 5)]),
        plots.top_activating_grid(images, tops),
    ]
    for figure in figures:
        assert isinstance(figure, Figure) and titled(figure)
    path = plots.save_figure(figures[0], tmp_path / "figures" / "balance.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["balance.png"]
