"""Every figure the notebook shows; each function takes data and returns a matplotlib Figure.

Conventions: images are drawn as the model sees them (light garment on black, `gray`, 0–255); a colour that carries
a value has a colour bar, symmetric around zero where the sign matters; accuracy comparisons are drawn as
differences with the 95 % interval the verdict uses; legends sit outside the data.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import asdict
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, MaxNLocator

from .atomic import write_atomic

DIVERGING = "RdBu_r"  # red = positive, blue = negative
_MPL = tuple(int(part) for part in matplotlib.__version__.split(".")[:2])


def save_figure(figure: plt.Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a PNG atomically (README and notebook link to these files)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())
    return Path(path)


def _as_numpy(image) -> np.ndarray:
    return image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, float)


def _garment(axis, image, title: str | None = None, fontsize: int = 8):
    """A 28×28 image as the model sees it: 0 = black background, white = 255 (uint8) or 1 (floats in [0, 1])."""
    top = 1.0 if isinstance(image, torch.Tensor) and image.is_floating_point() else 255
    shown = axis.imshow(_as_numpy(image), cmap="gray", vmin=0, vmax=top)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=fontsize)
    return shown


def _signed(axis, values, limit: float | None = None, title: str | None = None, fontsize: int = 8):
    """A signed map on a symmetric diverging scale (white = 0)."""
    values = _as_numpy(values)
    limit = limit or float(np.abs(values).max()) or 1.0
    shown = axis.imshow(values, cmap=DIVERGING, vmin=-limit, vmax=limit)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=fontsize)
    return shown


def _colorbar(figure, mappable, axes, label: str, **kwargs):
    bar = figure.colorbar(mappable, ax=axes, shrink=kwargs.pop("shrink", 0.85), **kwargs)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    bar.formatter = FormatStrFormatter("%.2g")  # no detached "1e−6" offset text colliding with titles
    bar.update_ticks()
    return bar


def _slanted_xticks(axis):
    """Class names on the x axis turned upright (vertical), so long neighbours never overlap; y labels level."""
    for label in axis.get_xticklabels():
        label.set(rotation=90, ha="center")
    axis.tick_params(axis="y", rotation=0)


def _legend_right(axis, **kwargs):
    return axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False,
                       fontsize=kwargs.pop("fontsize", 8), **kwargs)


# --- Data -------------------------------------------------------------------------------------------------------

def class_balance(counts: pd.DataFrame, title: str = "Training images per class") -> plt.Figure:
    """Bars of training images per class (section 2.1)."""
    figure, axis = plt.subplots(figsize=(9, 3.2))
    sns.barplot(data=counts, x="class", y="count", ax=axis, color="#4C72B0")
    axis.set(title=title, xlabel="class", ylabel="images")
    axis.tick_params(axis="x", rotation=30)
    return figure


def sample_grid(images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...], per_class: int = 8,
                seed: int = 0) -> plt.Figure:
    """`per_class` random training images of every class, one row per class (section 2.1)."""
    generator = torch.Generator().manual_seed(seed)
    figure, axes = plt.subplots(len(class_names), per_class, figsize=(per_class * 0.9, len(class_names) * 0.95),
                                squeeze=False)
    for c, name in enumerate(class_names):
        members = torch.nonzero(labels == c).flatten()
        chosen = members[torch.randperm(len(members), generator=generator)[:per_class]]
        for j in range(per_class):
            axis = axes[c, j]
            if j < len(chosen):
                _garment(axis, images[chosen[j]])
            else:
                axis.axis("off")
            if j == 0:
                axis.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle("Random training images, one row per class, as the model sees them (0 = black)")
    return figure


def intensity_distributions(images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...]) -> plt.Figure:
    """All pixel values (log counts) beside the number of ink pixels per image for each class (box plots).

    Used in section 2.2.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"wspace": 0.3, "width_ratios": [1, 1.3]})
    pixels = images.flatten().float().numpy()
    left.hist(pixels, bins=64, color="#4C72B0", log=True)
    left.set(title="All training pixels", xlabel="pixel value (0 = black background)", ylabel="count (log scale)")
    ink = (images > 0).flatten(1).sum(1).float().numpy()
    order = sorted(range(len(class_names)), key=lambda c: float(np.median(ink[labels.numpy() == c])))
    horizontal = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}
    right.boxplot([ink[labels.numpy() == c] for c in order], showfliers=False, widths=0.6, **horizontal)
    right.set_yticks(range(1, len(order) + 1), [class_names[c] for c in order], fontsize=8)
    right.set(title="Ink pixels per image, by class\n(box: middle half; whiskers reach up to 1.5 box lengths;"
                    " outliers hidden)", xlabel="pixels above 0 (of 784)", ylabel="class")
    right.grid(alpha=0.3, axis="x")
    return figure


def mean_images(means: torch.Tensor, class_names: tuple[str, ...]) -> plt.Figure:
    """The mean image of every class, on one colour scale (section 2.3)."""
    figure, axes = plt.subplots(1, len(class_names), figsize=(len(class_names) * 1.25, 2.0))
    for axis, image, name in zip(np.atleast_1d(axes), means, class_names):
        shown = axis.imshow(_as_numpy(image), cmap="gray", vmin=0, vmax=1)
        axis.set_title(name, fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    _colorbar(figure, shown, list(np.atleast_1d(axes)), "mean pixel (0–1)", pad=0.01, fraction=0.02)
    figure.suptitle("Mean image of each class")
    return figure


def distance_heatmap(distances: pd.DataFrame) -> plt.Figure:
    """Distances between class means, with their values (section 2.3)."""
    figure, axis = plt.subplots(figsize=(8, 6.2))
    sns.heatmap(distances, annot=True, fmt=".1f", cmap="viridis_r", ax=axis, annot_kws={"fontsize": 7},
                cbar_kws={"label": "Euclidean distance (pixels in [0, 1])"})
    axis.set(title="Distance between class-mean images (small = look alike)", xlabel="class", ylabel="class")
    _slanted_xticks(axis)
    return figure


def pca_scatter(coordinates: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...],
                explained: torch.Tensor) -> plt.Figure:
    """Training images on the first two principal components, coloured by class (section 2.4)."""
    figure, axis = plt.subplots(figsize=(7, 5.5))
    # One scatter in a random order: drawn class by class, the last classes would hide the first ones.
    order = np.random.default_rng(0).permutation(len(labels))
    colours = np.asarray([f"C{c}" for c in range(len(class_names))])[np.asarray(labels)[order]]
    axis.scatter(coordinates[order, 0], coordinates[order, 1], s=3, alpha=0.5, c=colours)
    for c, name in enumerate(class_names):
        axis.scatter([], [], s=3, color=f"C{c}", label=name)
    axis.set(title="Images projected on their first two principal components",
             xlabel=f"PC 1 ({explained[0]:.0%} of variance)", ylabel=f"PC 2 ({explained[1]:.0%} of variance)")
    _legend_right(axis, markerscale=4)
    return figure


# --- Training ---------------------------------------------------------------------------------------------------

def training_curves(histories: dict[str, list[dict]], title: str = "Training curves") -> plt.Figure:
    """Loss and accuracy per epoch, training and validation (sections 3.3 and 5.2)."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"wspace": 0.25})
    for index, (name, history) in enumerate(histories.items()):
        frame = pd.DataFrame(history)
        validated = frame.dropna(subset=["val_accuracy"]) if "val_accuracy" in frame else frame.iloc[:0]
        colour = f"C{index}"
        loss_axis.plot(frame.epoch, frame.train_loss, "x--", ms=4, color=colour, label=f"{name}, training batches")
        loss_axis.plot(validated.epoch, validated.val_loss, "o-", ms=4, color=colour, label=f"{name}, validation")
        accuracy_axis.plot(frame.epoch, frame.train_accuracy * 100, "x--", ms=4, color=colour)
        accuracy_axis.plot(validated.epoch, validated.val_accuracy * 100, "o-", ms=4, color=colour)
    loss_axis.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    accuracy_axis.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = loss_axis.get_legend_handles_labels()
    _legend_right(accuracy_axis, handles=handles, labels=labels)
    figure.suptitle(title)
    return figure


# --- The convolution by hand ------------------------------------------------------------------------------------

def _annotate_kernel(axis, kernel: np.ndarray, fontsize: int = 8, limit: float | None = None):
    """Write each weight in its cell, white on the darkest colours so it stays readable."""
    limit = limit or float(np.abs(kernel).max()) or 1.0
    for (i, j), value in np.ndenumerate(kernel):
        axis.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=fontsize,
                  color="white" if abs(value) > 0.6 * limit else "black")


def convolution_check(image: torch.Tensor, kernel: torch.Tensor, by_loops: torch.Tensor,
                      by_torch: torch.Tensor) -> plt.Figure:
    """Input, kernel, output of the hand-written loops, and their difference from F.conv2d. Used in section 4.1."""
    figure, axes = plt.subplots(1, 4, figsize=(13, 3.3), gridspec_kw={"wspace": 0.45})
    shown = axes[0].imshow(_as_numpy(image), cmap="gray", vmin=0, vmax=1)
    axes[0].set(title="input (pixels 0–1)", xticks=[], yticks=[])
    _colorbar(figure, shown, axes[0], "pixel")
    kernel_np = _as_numpy(kernel)
    shown = _signed(axes[1], kernel_np, title="kernel (3×3 weights)", fontsize=10)
    _annotate_kernel(axes[1], kernel_np)
    _colorbar(figure, shown, axes[1], "weight")
    shown = _signed(axes[2], by_loops, title="output of the loops", fontsize=10)
    _colorbar(figure, shown, axes[2], "response")
    difference = _as_numpy((by_loops - by_torch).abs())
    shown = axes[3].imshow(difference, cmap="magma", vmin=0, vmax=max(float(difference.max()), 1e-6))
    axes[3].set(title="|loops − F.conv2d|", xticks=[], yticks=[])
    _colorbar(figure, shown, axes[3], "absolute difference")
    figure.suptitle("One convolution written out, checked against PyTorch")
    return figure


def correlation_vs_convolution(kernel: torch.Tensor, correlated: torch.Tensor, convolved: torch.Tensor) -> plt.Figure:
    """What PyTorch computes (kernel as is) beside textbook convolution (kernel flipped). Used in section 4.2."""
    figure, axes = plt.subplots(1, 4, figsize=(13, 3.3), gridspec_kw={"wspace": 0.45})
    kernel_np = _as_numpy(kernel)
    for axis, values, title in ((axes[0], kernel_np, "kernel as stored"),
                                (axes[1], kernel_np[::-1, ::-1], "kernel flipped")):
        shown = _signed(axis, values, title=title, fontsize=10)
        _annotate_kernel(axis, values)
    _colorbar(figure, shown, axes[:2].tolist(), "weight")
    limit = float(max(correlated.abs().max(), convolved.abs().max()))
    _signed(axes[2], correlated, limit, title="cross-correlation\n(PyTorch, nn.Conv2d)", fontsize=10)
    shown = _signed(axes[3], convolved, limit, title="convolution\n(kernel flipped)", fontsize=10)
    _colorbar(figure, shown, axes[2:].tolist(), "response")
    figure.suptitle("PyTorch slides the kernel as stored; convolution proper flips it first")
    return figure


def kernel_gallery(images: list[torch.Tensor], titles: list[str], kernels: dict[str, torch.Tensor],
                   responses: dict[str, list[torch.Tensor]]) -> plt.Figure:
    """Hand-designed kernels (top row) and their responses on a few garments, one diverging scale per kernel.

    Used in section 4.3.
    """
    columns = len(kernels) + 1
    figure, axes = plt.subplots(len(images) + 1, columns, figsize=(columns * 1.9, (len(images) + 1) * 1.9),
                                gridspec_kw={"wspace": 0.35, "hspace": 0.35})
    axes[0, 0].axis("off")
    for col, (name, kernel) in enumerate(kernels.items(), start=1):
        values = _as_numpy(kernel)
        _signed(axes[0, col], values, title=name.replace(" (", "\n("), fontsize=8)
        _annotate_kernel(axes[0, col], values, fontsize=7)
        axes[0, col].set_ylabel("weights" if col == 1 else "", fontsize=8)
    for row, (image, title) in enumerate(zip(images, titles), start=1):
        _garment(axes[row, 0], image)
        axes[row, 0].set_ylabel(title, fontsize=8)
    for col, name in enumerate(kernels, start=1):
        limit = max(float(r.abs().max()) for r in responses[name])
        for row, response in enumerate(responses[name], start=1):
            shown = _signed(axes[row, col], response, limit)
        bar = figure.colorbar(shown, ax=axes[1:, col].tolist(), orientation="horizontal", pad=0.04, shrink=0.9)
        bar.ax.tick_params(labelsize=6, rotation=45)
        bar.set_label("response", fontsize=7)
    figure.suptitle("Hand-designed kernels (top) and what they respond to (red +, blue −)")
    return figure


def filters_beside(hand: dict[str, torch.Tensor], learned: torch.Tensor, columns: int = 8) -> plt.Figure:
    """Hand-designed 3×3 kernels (each divided by its largest |weight|) above a CNN's learned first-layer filters
    (one shared symmetric scale, so their strengths compare). Used in section 5.5."""
    learned = learned.detach().float().cpu()[:, 0]
    rows = math.ceil(len(learned) / columns)
    figure = plt.figure(figsize=(11, 2.6 + 1.2 * rows))
    top, bottom = figure.subfigures(2, 1, height_ratios=[2.3, 1.2 * rows])
    hand_axes = np.atleast_1d(top.subplots(1, len(hand)))
    for axis, (name, kernel) in zip(hand_axes, hand.items()):
        values = _as_numpy(kernel) / float(np.abs(_as_numpy(kernel)).max())
        shown = _signed(axis, values, 1.0, title=name.replace(" (", "\n("), fontsize=8)
    _colorbar(top, shown, hand_axes.tolist(), "weight ÷ largest |weight|", shrink=0.9)
    top.suptitle("Designed by hand (section 4.3)", fontsize=10)
    learned_axes = bottom.subplots(rows, columns, squeeze=False)
    limit = float(learned.abs().max())
    for axis in learned_axes.flat:
        axis.axis("off")
    for axis, kernel in zip(learned_axes.flat, learned):
        shown = _signed(axis, kernel, limit)
    _colorbar(bottom, shown, learned_axes.ravel().tolist(), "weight", shrink=0.8)
    bottom.suptitle(f"Learned by the CNN: its {len(learned)} first-layer 3×3 filters", fontsize=10)
    return figure


def shift_response(demo) -> plt.Figure:
    """An image and its shifted copy through a convolution (+ReLU) and 2×2 max pooling (by_hand.shift_demo).

    Used in section 4.8.
    """
    shift = demo.shift
    figure, axes = plt.subplots(2, 4, figsize=(12.5, 6), gridspec_kw={"wspace": 0.45, "hspace": 0.35})
    for row, (key, title) in enumerate((("image", "input"), ("moved", f"input moved {shift} px right"))):
        shown = axes[row, 0].imshow(_as_numpy(getattr(demo, key)), cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set(xticks=[], yticks=[], title=title)
    limit = float(max(demo.response.max(), demo.moved_response.max())) or 1.0
    for row, key in enumerate(("response", "moved_response")):
        shown = axes[row, 1].imshow(_as_numpy(getattr(demo, key)), cmap="magma", vmin=0, vmax=limit)
        axes[row, 1].set(xticks=[], yticks=[], title="conv + ReLU")
    _colorbar(figure, shown, axes[:, 1].tolist(), "response")
    difference = _as_numpy(demo.difference)
    inner = float(np.abs(difference[3:-3, 3:-3]).max())
    axes[0, 2].axis("off")
    axes[0, 2].text(0.0, 0.5, f"conv(moved) − moved(conv):\nlargest |difference| away\nfrom the border = {inner:.1g}."
                    "\nThe response moved with\nthe input (equivariance).", fontsize=9, va="center")
    averages = [float(demo.response.mean()), float(demo.moved_response.mean())]
    axes[1, 2].bar([0, 1], averages, color=["C0", "C1"], width=0.6)
    axes[1, 2].set_xticks([0, 1], ["input", "moved"])
    axes[1, 2].set(title="global average of the response", ylabel="mean response", xlabel="image")
    limit = float(max(demo.pooled.max(), demo.moved_pooled.max())) or 1.0
    for row, key in enumerate(("pooled", "moved_pooled")):
        shown = axes[row, 3].imshow(_as_numpy(getattr(demo, key)), cmap="magma", vmin=0, vmax=limit)
        axes[row, 3].set(xticks=[], yticks=[], title="after 2×2 max pool")
    _colorbar(figure, shown, axes[:, 3].tolist(), "response")
    figure.suptitle("Shift the input, and the convolution's output shifts with it")
    return figure


def learned_kernel(true_kernel: torch.Tensor, learned: torch.Tensor, losses: list[float]) -> plt.Figure:
    """The target kernel, the learned one and the loss per step (section 4.9)."""
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained",
                                gridspec_kw={"width_ratios": [1, 1, 1.6]})
    limit = float(max(true_kernel.abs().max(), learned.abs().max()))
    for axis, values, title in ((axes[0], true_kernel, "true kernel"), (axes[1], learned, "learned kernel")):
        shown = _signed(axis, values, limit, title=title, fontsize=10)
        _annotate_kernel(axis, _as_numpy(values), limit=limit)
    _colorbar(figure, shown, axes[:2].tolist(), "weight")
    axes[2].plot(np.arange(1, len(losses) + 1), losses)
    axes[2].set(yscale="log", title="Squared error while learning", xlabel="gradient-descent step",
                ylabel="mean squared error (log)")
    axes[2].grid(alpha=0.3)
    figure.suptitle("A kernel recovered from (image, filtered image) pairs by gradient descent")
    return figure


def playground(image: torch.Tensor, kernel_name: str, kernel: torch.Tensor, output: torch.Tensor, stride: int,
               padding: int) -> plt.Figure:
    """The playground's static figure: image, kernel and output at one stride and padding (section 4.10)."""
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.4), gridspec_kw={"wspace": 0.45})
    shown = axes[0].imshow(_as_numpy(image), cmap="gray", vmin=0, vmax=1)
    axes[0].set(title=f"input {tuple(image.shape[-2:])}", xticks=[], yticks=[])
    _colorbar(figure, shown, axes[0], "pixel")
    shown = _signed(axes[1], kernel, title=kernel_name, fontsize=9)
    _annotate_kernel(axes[1], _as_numpy(kernel))
    _colorbar(figure, shown, axes[1], "weight")
    shown = _signed(axes[2], output, title=f"output {tuple(output.shape[-2:])}", fontsize=10)
    _colorbar(figure, shown, axes[2], "response")
    figure.suptitle(f"stride {stride}, padding {padding}")
    return figure


# --- The CNN ----------------------------------------------------------------------------------------------------

def confusion_heatmap(matrix: torch.Tensor, class_names: tuple[str, ...], title: str) -> plt.Figure:
    """Counts of (true, predicted) class on the test set, the diagonal included (section 5.3)."""
    figure, axis = plt.subplots(figsize=(8, 6.4))
    sns.heatmap(matrix.numpy(), annot=True, fmt="d", cmap="Blues", xticklabels=class_names,
                yticklabels=class_names, ax=axis, cbar_kws={"label": "test images"}, annot_kws={"fontsize": 7})
    axis.set(title=title, xlabel="predicted class", ylabel="true class")
    _slanted_xticks(axis)
    return figure


def per_class_dots(table: pd.DataFrame, title: str, counts=None) -> plt.Figure:
    """Per-class accuracy of two or more models (columns after 'class'), one row per class; with the test images per
    class (`counts`), each dot gets its binomial 95 % interval (normal approximation). Used in section 5.3."""
    models = [c for c in table.columns if c != "class"]
    figure, axis = plt.subplots(figsize=(8, 4.4))
    y = np.arange(len(table))
    low, high = table[models].min(axis=1) * 100, table[models].max(axis=1) * 100
    axis.hlines(y, low, high, color="0.85", lw=3, zorder=1)
    for index, model in enumerate(models):
        offset = (index - (len(models) - 1) / 2) * 0.18
        if counts is not None:
            share = table[model].to_numpy()
            half = 1.96 * np.sqrt(share * (1 - share) / np.asarray(counts, dtype=float)) * 100
            axis.errorbar(share * 100, y + offset, xerr=half, fmt="none", ecolor=f"C{index}", capsize=2, zorder=2)
        axis.scatter(table[model] * 100, y + offset, s=36, color=f"C{index}", label=model, zorder=3)
    axis.set_yticks(y, table["class"])
    axis.invert_yaxis()
    axis.set(title=title, xlabel="test accuracy (%)", ylabel="class")
    axis.grid(alpha=0.3, axis="x")
    _legend_right(axis, title="bars: 95 % interval\n(test images, one seed)" if counts is not None else None,
                  title_fontsize=8)
    return figure


def misclassified_gallery(images: torch.Tensor, true: torch.Tensor, predicted: torch.Tensor,
                          confidence: torch.Tensor, class_names: tuple[str, ...], count: int = 16) -> plt.Figure:
    """The most confident mistakes, with true and predicted class (section 5.4)."""
    wrong = torch.nonzero(true != predicted).flatten()
    wrong = wrong[confidence[wrong].argsort(descending=True)]
    pairs = [(int(true[i]), int(predicted[i])) for i in wrong]
    first = [i for k, i in enumerate(wrong.tolist()) if pairs[k] not in pairs[:k]]  # each kind of mistake once
    wrong = torch.tensor((first + [i for i in wrong.tolist() if i not in first])[:count], dtype=torch.long)
    columns = 8
    rows = max(1, math.ceil(len(wrong) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.65, rows * 2.1), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, wrong):
        _garment(axis, images[index], f"true: {class_names[true[index]]}\npred: {class_names[predicted[index]]}\n"
                 f"{float(confidence[index]) * 100:.{1 if confidence[index] < 0.995 else 2}f} % sure", fontsize=7)
    figure.suptitle("The CNN's most confident mistakes: one per (true, predicted) pair first")
    return figure


def feature_maps(image: torch.Tensor, maps: dict[str, torch.Tensor], channels: int = 8) -> plt.Figure:
    """One image and the first `channels` feature maps after each block (section 5.6)."""
    figure, axes = plt.subplots(len(maps), channels + 1, figsize=((channels + 1) * 1.25, len(maps) * 1.5),
                                squeeze=False, gridspec_kw={"wspace": 0.1, "hspace": 0.3})
    for row, (name, activation) in enumerate(maps.items()):
        _garment(axes[row, 0], image)
        axes[row, 0].set_ylabel(f"{name}\n{activation.shape[1]}×{activation.shape[2]}", fontsize=8)
        limit = float(activation[:channels].max()) or 1.0
        for col in range(channels):
            shown = axes[row, col + 1].imshow(_as_numpy(activation[col]), cmap="magma", vmin=0, vmax=limit)
            axes[row, col + 1].set(xticks=[], yticks=[])
            if row == 0:
                axes[row, col + 1].set_title(f"ch {col}", fontsize=7)
        _colorbar(figure, shown, axes[row, :].tolist(), "activation", pad=0.01, fraction=0.02)
    figure.suptitle("Feature maps after each block (first channels): resolution falls, channels multiply")
    return figure


# --- Experiments ------------------------------------------------------------------------------------------------

def experiment_effects(effects: pd.DataFrame, title: str, reference: pd.DataFrame | None = None,
                       reference_label: str = "committed full run") -> plt.Figure:
    """Each variant's difference from its experiment's reference, with its 95 % interval; filled markers are
    significant after Holm correction within the family. `reference`: the same rows from another run (grey)."""
    rows = effects[effects.verdict != "reference"].reset_index(drop=True)
    figure, axis = plt.subplots(figsize=(8.5, 0.6 + 0.55 * max(len(rows), 2)))
    y = np.arange(len(rows))
    offset = 0.18 if reference is not None else 0.0
    for i, row in rows.iterrows():
        resolved = row.verdict in ("better", "worse")
        colour = {"better": "C2", "worse": "C3"}.get(row.verdict, "C0")
        if not math.isnan(row.low):
            axis.hlines(y[i] - offset, row.low, row.high, color=colour, lw=2)
        axis.plot(row.difference, y[i] - offset, "o", ms=8, color=colour, mfc=colour if resolved else "white",
                  mew=2)
        if reference is not None:
            match = reference[(reference.experiment == row.experiment) & (reference.variant == row.variant)]
            if len(match):
                ref = match.iloc[0]
                if not math.isnan(ref.low):
                    axis.hlines(y[i] + offset, ref.low, ref.high, color="0.55", lw=2)
                axis.plot(ref.difference, y[i] + offset, "D", ms=6, color="0.55")
    axis.axvline(0, color="0.3", lw=1)
    several = rows.reference.nunique() > 1
    labels = [f"{r.variant}{' − ' + r.reference if several else ''}\n({r.verdict})" for r in rows.itertuples()]
    axis.set_yticks(y, labels, fontsize=8)
    axis.set_ylim(len(rows) - 0.5, -0.5)
    first = "its reference" if several else (rows.reference.iloc[0] if len(rows) else "")
    axis.set(title=title, xlabel=f"test accuracy minus {first} (points)", ylabel="variant (verdict)")
    axis.grid(alpha=0.3, axis="x")
    handles = [Line2D([], [], marker="o", color="C2", mfc="C2", lw=2, label="this run: better (Holm)"),
               Line2D([], [], marker="o", color="C3", mfc="C3", lw=2, label="this run: worse (Holm)"),
               Line2D([], [], marker="o", color="C0", mfc="white", lw=2, label="this run: not resolved")]
    if reference is not None:
        handles.append(Line2D([], [], marker="D", color="0.55", lw=2, label=reference_label))
    axis.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8,
                title="bars: 95 % interval,\nnot adjusted (verdicts are)", title_fontsize=8)
    return figure


def validation_curves(histories: dict[str, list[list[dict]]], title: str) -> plt.Figure:
    """Mean validation accuracy per validated epoch for each variant (band = min..max over seeds).

    Used in section 6.1.
    """
    figure, axis = plt.subplots(figsize=(8, 3.8))
    for index, (name, runs) in enumerate(histories.items()):
        validated = [[epoch for epoch in run if "val_accuracy" in epoch] for run in runs]
        values = np.array([[epoch["val_accuracy"] * 100 for epoch in run] for run in validated])
        epochs = np.array([epoch["epoch"] for epoch in validated[0]])
        axis.plot(epochs, values.mean(0), ".-", color=f"C{index}", label=name)
        axis.fill_between(epochs, values.min(0), values.max(0), color=f"C{index}", alpha=0.2)
    axis.set(title=title, xlabel="epoch", ylabel="validation accuracy (%)")
    _legend_right(axis)
    axis.grid(alpha=0.3)
    return figure


def accuracy_versus_cost(points: pd.DataFrame) -> plt.Figure:
    """Accuracy against parameters and MACs (log axes), each point with the 95 % t interval of its mean over seeds;
    the Pareto front is joined and labelled. Used in section 6.10."""
    from .stats import interval_from_summary, pareto_front

    epochs = int(points.epochs.iloc[0])
    title = (f"Every controlled configuration ({int(points.train_size.iloc[0]):,} training images, "
             f"{epochs} epoch{'s' if epochs != 1 else ''})")
    half = [(high - low) / 2 if not math.isnan(low) else 0.0 for low, high in
            (interval_from_summary(m, sd, n) for m, sd, n in
             zip(points.test_accuracy_mean, points.test_accuracy_std, points.seeds))]
    figure, axes = plt.subplots(1, 2, figsize=(13, 4.6), sharey=True, gridspec_kw={"wspace": 0.08})
    for axis, cost, label in ((axes[0], "parameters", "parameters (log scale)"),
                              (axes[1], "macs", "multiply-accumulates per image (log scale)")):
        front = pareto_front(points, cost)
        axis.errorbar(points[cost], points.test_accuracy_mean * 100, yerr=np.asarray(half) * 100, fmt="o",
                      color="0.6", ms=5, capsize=2, label="configuration\n(bar: 95 % interval of the mean)")
        best = points[front].sort_values(cost)
        axis.plot(best[cost], best.test_accuracy_mean * 100, "o-", color="C3", ms=7, label="Pareto front")
        for k, row in enumerate(best.itertuples()):
            axis.annotate(row.variant, (getattr(row, cost), row.test_accuracy_mean * 100), fontsize=7,
                          xytext=(7, (-16, 8, -4)[k % 3]), textcoords="offset points", color="C3",
                          bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
        axis.set(xscale="log", xlabel=label)
        axis.grid(alpha=0.3, which="both")
    axes[0].set(ylabel="test accuracy (%)", title="Accuracy vs parameters")
    axes[1].set(title="Accuracy vs compute")
    _legend_right(axes[1])
    figure.suptitle(title)
    return figure


# --- Inductive-bias probes --------------------------------------------------------------------------------------

def translation(curve: pd.DataFrame, reference: pd.DataFrame | None = None) -> plt.Figure:
    """Accuracy on shifted images per direction: mean over seeds, band = 95 % interval of that mean; `reference`
    (the committed full run's curves) is drawn dashed in the same colours. Used in section 7.1."""
    from .stats import mean_interval

    directions = list(dict.fromkeys(curve.direction))
    figure, axes = plt.subplots(1, len(directions), figsize=(4.4 * len(directions), 3.8), sharey=True,
                                squeeze=False, layout="constrained")
    for axis, direction in zip(axes[0], directions):
        part = curve[curve.direction == direction]
        for index, (model, rows) in enumerate(part.groupby("model", sort=False)):
            stats = pd.DataFrame([{"shift": shift, **asdict(mean_interval(group.accuracy * 100))}
                                  for shift, group in rows.groupby("shift")])
            axis.plot(stats["shift"], stats["mean"], "o-", ms=4, color=f"C{index}", label=model)
            axis.fill_between(stats["shift"], stats["low"], stats["high"], color=f"C{index}", alpha=0.2)
            if reference is not None:
                full = reference[(reference.direction == direction) & (reference.model == model)]
                full = full.groupby("shift").accuracy.mean() * 100
                axis.plot(full.index, full.values, "--", lw=1, color=f"C{index}",
                          label=f"{model}, full run" if direction == directions[-1] else None)
        axis.set(title=f"{direction} shift", ylim=(0, 100),
                 xlabel="shift (pixels along each axis)" if direction == "diagonal" else "shift (pixels)")
        axis.grid(alpha=0.3)
    axes[0, 0].set_ylabel("test accuracy (%)")
    seeds = curve.groupby("model").seed.nunique().min() if "seed" in curve else 1
    _legend_right(axes[0, -1], title=f"band: 95 % interval\nover {seeds} seed{'s' if seeds != 1 else ''}",
                  title_fontsize=8)
    figure.suptitle("Accuracy on shifted test images (trained on centred images, no retraining)")
    return figure


def shift_similarity(table: pd.DataFrame) -> plt.Figure:
    """How much of an image survives a shift in each direction (cosine similarity with its shifted copy).

    Used in section 7.1.
    """
    figure, axis = plt.subplots(figsize=(6, 3.4))
    for direction, rows in table.groupby("direction", sort=False):
        axis.plot(rows["shift"], rows.similarity, "o-", label=direction)
    axis.set(title="An image vs its shifted copy", xlabel="shift (pixels)", ylabel="cosine similarity")
    axis.grid(alpha=0.3)
    _legend_right(axis)
    return figure


def data_efficiency(table: pd.DataFrame, reference: pd.DataFrame | None = None,
                    lead: pd.DataFrame | None = None) -> plt.Figure:
    """Accuracy against training-set size, mean over seeds with its 95 % interval; `reference` (the committed full
    run's points) dashed in grey; `lead` (the data-size effects table) adds a panel of CNN minus dense per size.

    Used in section 7.3.
    """
    figure, axes = plt.subplots(1, 2 if lead is not None else 1, figsize=(13 if lead is not None else 7.5, 3.8),
                                squeeze=False, gridspec_kw={"wspace": 0.55})
    axis = axes[0, 0]
    if reference is not None:
        for model, rows in reference.groupby("model", sort=False):
            axis.plot(rows.train_size, rows.test_accuracy_mean * 100, "--", color="0.6", lw=1,
                      marker="o" if model == "CNN" else "s", ms=4, label=f"{model}, full run")
    for model, rows in table.groupby("model", sort=False):
        low = (rows.test_accuracy_mean - rows.low).fillna(0) * 100
        high = (rows.high - rows.test_accuracy_mean).fillna(0) * 100
        axis.errorbar(rows.train_size, rows.test_accuracy_mean * 100, yerr=[low, high], fmt="o-", capsize=4,
                      label=model)
    axis.set(xscale="log", title="Accuracy vs training-set size (class-balanced subsets)",
             xlabel="training images (log scale)", ylabel="test accuracy (%)")
    axis.grid(alpha=0.3, which="both")
    _legend_right(axis, title="bars: 95 % interval", title_fontsize=8)
    if lead is not None:
        rows = lead[lead.verdict != "reference"].sort_values("train_size")
        axis = axes[0, 1]
        for row in rows.itertuples():
            resolved = row.verdict in ("better", "worse")
            if not math.isnan(row.low):
                axis.vlines(row.train_size, row.low, row.high, color="C2" if resolved else "C0", lw=2)
            axis.plot(row.train_size, row.difference, "o", ms=8, color="C2" if resolved else "C0",
                      mfc="C2" if resolved else "white", mew=2)
        axis.axhline(0, color="0.3", lw=1)
        axis.set(xscale="log", title="The CNN's lead at each size", xlabel="training images (log scale)",
                 ylabel="CNN minus dense (points)")
        axis.grid(alpha=0.3, which="both")
        axis.legend(handles=[Line2D([], [], marker="o", color="C2", lw=2, label="resolved (Holm)"),
                             Line2D([], [], marker="o", color="C0", mfc="white", lw=2, label="not resolved")],
                    loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8,
                    title="bars: 95 % interval", title_fontsize=8)
    return figure


def receptive_fields(image: torch.Tensor, fields: list[tuple[str, int]]) -> plt.Figure:
    """Squares the size of each layer's receptive field, centred on the image. Used in section 4.7."""
    figure, axis = plt.subplots(figsize=(5.2, 4.8))
    axis.imshow(_as_numpy(image), cmap="gray", vmin=0, vmax=255, extent=(-0.5, 27.5, 27.5, -0.5))
    centre = 13.5
    for index, (name, size) in enumerate(fields):
        half = size / 2
        axis.add_patch(plt.Rectangle((centre - half, centre - half), size, size, fill=False, lw=1.8,
                                     color=f"C{index + 1}", label=f"{name}: {size}×{size}"))
    axis.set(xlim=(-3, 31), ylim=(31, -3), title="What one unit sees after each layer", xlabel="x (pixels)",
             ylabel="y (pixels)")
    _legend_right(axis)
    return figure


def top_patches(tables: dict[str, pd.DataFrame], patches: dict[str, list], classes: list[str]) -> plt.Figure:
    """For a few channels of each block, the receptive-field patches of its most exciting test images, each titled
    with its image's class. Used in section 7.4."""
    blocks = list(tables)
    channels = int(max(t.channel.max() for t in tables.values())) + 1
    top = int(max(t["rank"].max() for t in tables.values())) + 1
    figure, axes = plt.subplots(len(blocks) * channels, top, figsize=(top * 1.05, len(blocks) * channels * 1.25),
                                squeeze=False, layout="constrained")
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for b, block in enumerate(blocks):
        for (_, row), patch in zip(tables[block].iterrows(), patches[block]):
            _garment(axes[b * channels + int(row.channel), int(row["rank"])], patch, classes[int(row.image)],
                     fontsize=6)
        for c in range(channels):
            size = patches[block][0].shape[-1]
            axes[b * channels + c, 0].set_ylabel(f"{block} ch {c}\n{size}×{size}", rotation=0, ha="right",
                                                 va="center", fontsize=7)
    figure.suptitle("What a unit sees: the input patch under its receptive field, for its 6 strongest test images")
    return figure


def selectivity(table: pd.DataFrame, reference: pd.DataFrame | None = None) -> plt.Figure:
    """Per-channel class entropy among its top images, per block, beside the shuffled-label baseline; `reference`
    (the committed full run's table) adds its median per block as a grey diamond. Used in section 7.4."""
    figure, axis = plt.subplots(figsize=(7, 3.8))
    blocks = list(dict.fromkeys(table.block))
    for index, block in enumerate(blocks):
        rows = table[table.block == block]
        jitter = np.random.default_rng(index).uniform(-0.15, 0.15, len(rows))
        axis.scatter(index + jitter, rows.entropy, s=12, alpha=0.7, color=f"C{index}")
        axis.hlines(rows.entropy.median(), index - 0.3, index + 0.3, color="k", lw=2)
        axis.hlines(rows.shuffled_entropy.mean(), index - 0.3, index + 0.3, color="0.5", lw=2, ls="--")
        if reference is not None and (reference.block == block).any():
            axis.plot(index + 0.35, reference[reference.block == block].entropy.median(), "D", color="0.5")
    axis.set_xticks(range(len(blocks)), [f"{b}\n({(table.block == b).sum()} channels)" for b in blocks])
    axis.set(title="How class-specific is each channel?", ylabel="entropy of classes among\ntop images (bits)",
             xlabel="block", ylim=(0, math.log2(10) + 0.2))
    handles = [Line2D([], [], color="k", lw=2, label="median channel"),
               Line2D([], [], color="0.5", lw=2, ls="--", label="labels shuffled"),
               Line2D([], [], marker="o", ls="", color="0.4", label="one channel")]
    if reference is not None:
        handles.append(Line2D([], [], marker="D", ls="", color="0.5", label="median, full run"))
    axis.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    axis.grid(alpha=0.3, axis="y")
    return figure


def attribution(images: torch.Tensor, titles: list[str], grad_cam: torch.Tensor,
                occlusion: torch.Tensor) -> plt.Figure:
    """Each image with its Grad-CAM map and its occlusion map (score drop when a patch is hidden), each map on its
    own scale (the maps compare regions within an image, not images), the garment's outline drawn over both.

    Used in section 8.1.
    """
    count = len(images)
    figure, axes = plt.subplots(3, count, figsize=(count * 1.9, 6.8), squeeze=False,
                                gridspec_kw={"wspace": 0.1, "hspace": 0.45})
    for col in range(count):
        _garment(axes[0, col], images[col], titles[col], fontsize=7)
        outline = _as_numpy(images[col])
        cam = _as_numpy(grad_cam[col])
        axes[1, col].imshow(cam / (cam.max() or 1.0), cmap="inferno", vmin=0, vmax=1)
        drop = _as_numpy(occlusion[col])
        limit = float(np.abs(drop).max()) or 1.0
        shown = axes[2, col].imshow(drop / limit, cmap=DIVERGING, vmin=-1, vmax=1)
        for row in (1, 2):
            axes[row, col].contour(outline, levels=[30], colors="white" if row == 1 else "black", linewidths=0.7)
            axes[row, col].set(xticks=[], yticks=[])
    axes[1, 0].set_ylabel("Grad-CAM", fontsize=8)
    axes[2, 0].set_ylabel("occlusion", fontsize=8)
    cam_scale = plt.cm.ScalarMappable(cmap="inferno", norm=plt.Normalize(0, 1))
    _colorbar(figure, cam_scale, axes[1, :].tolist(), "÷ this image's maximum", pad=0.01, fraction=0.02)
    _colorbar(figure, shown, axes[2, :].tolist(), "logit drop ÷ largest |drop|", pad=0.01, fraction=0.02)
    figure.suptitle("Where the evidence for the predicted class lies (top: true → predicted; outline: the garment)")
    return figure
