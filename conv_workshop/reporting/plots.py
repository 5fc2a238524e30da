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
from matplotlib.ticker import FormatStrFormatter, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ..atomic import write_atomic
from ..i18n import _, label, ngettext, phrase
from ..stats import REFERENCE
from .tables import percent

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
    for tick in axis.get_xticklabels():
        tick.set(rotation=90, ha="center")
    axis.tick_params(axis="y", rotation=0)


def _legend_right(axis, **kwargs):
    return axis.legend(loc="upper left",  # i18n: key (a matplotlib parameter)
                       bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False,
                       fontsize=kwargs.pop("fontsize", 8), **kwargs)


# --- Data -------------------------------------------------------------------------------------------------------

def class_balance(counts: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Bars of training images per class (section 2.1); `title` defaults to "Training images per class"."""
    title = _("Training images per class") if title is None else title
    figure, axis = plt.subplots(figsize=(9, 3.2))
    sns.barplot(data=counts.assign(**{"class": counts["class"].map(label)}), x="class", y="count", ax=axis,
                color="#4C72B0")
    axis.set(title=title, xlabel=_("class"), ylabel=_("images"))
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
                axis.set_ylabel(label(name), rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle(_("Random training images, one row per class, as the model sees them (0 = black)"))
    return figure


def intensity_distributions(images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...]) -> plt.Figure:
    """All pixel values (log counts) beside the number of ink pixels per image for each class (box plots).

    Used in section 2.2.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"wspace": 0.3, "width_ratios": [1, 1.3]})
    pixels = images.flatten().float().numpy()
    left.hist(pixels, bins=64, color="#4C72B0", log=True)
    left.set(title=_("All training pixels"), xlabel=_("pixel value (0 = black background)"),
             ylabel=_("count (log scale)"))
    ink = (images > 0).flatten(1).sum(1).float().numpy()
    order = sorted(range(len(class_names)), key=lambda c: float(np.median(ink[labels.numpy() == c])))
    horizontal = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}
    right.boxplot([ink[labels.numpy() == c] for c in order], showfliers=False, widths=0.6, **horizontal)
    right.set_yticks(range(1, len(order) + 1), [label(class_names[c]) for c in order], fontsize=8)
    right.set(title=_("Ink pixels per image, by class\n(box: middle half; whiskers reach up to 1.5 box lengths;"
                      " outliers hidden)"), xlabel=_("pixels above 0 (of 784)"), ylabel=_("class"))
    right.grid(alpha=0.3, axis="x")
    return figure


def mean_images(means: torch.Tensor, class_names: tuple[str, ...]) -> plt.Figure:
    """The mean image of every class, on one colour scale (section 2.3)."""
    figure, axes = plt.subplots(1, len(class_names), figsize=(len(class_names) * 1.25, 2.0))
    for axis, image, name in zip(np.atleast_1d(axes), means, class_names):
        shown = axis.imshow(_as_numpy(image), cmap="gray", vmin=0, vmax=1)
        axis.set_title(label(name), fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    _colorbar(figure, shown, list(np.atleast_1d(axes)), _("mean pixel (0–1)"), pad=0.01, fraction=0.02)
    figure.suptitle(_("Mean image of each class"))
    return figure


def distance_heatmap(distances: pd.DataFrame) -> plt.Figure:
    """Distances between class means, with their values (section 2.3)."""
    figure, axis = plt.subplots(figsize=(8, 6.2))
    sns.heatmap(distances.rename(index=label, columns=label), annot=True, fmt=".1f", cmap="viridis_r", ax=axis,
                annot_kws={"fontsize": 7}, cbar_kws={"label": _("Euclidean distance (pixels in [0, 1])")})
    axis.set(title=_("Distance between class-mean images (small = look alike)"), xlabel=_("class"),
             ylabel=_("class"))
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
        axis.scatter([], [], s=3, color=f"C{c}", label=label(name))
    axis.set(title=_("Images projected on their first two principal components"),
             xlabel=_("PC 1 ({share} of variance)").format(share=percent(explained[0], 0)),
             ylabel=_("PC 2 ({share} of variance)").format(share=percent(explained[1], 0)))
    _legend_right(axis, markerscale=4)
    return figure


# --- Training ---------------------------------------------------------------------------------------------------

def training_curves(histories: dict[str, list[dict]], title: str | None = None) -> plt.Figure:
    """Loss and accuracy per epoch, training and validation (sections 3.4 and 5.2); `title` defaults to "Training
    curves"."""
    title = _("Training curves") if title is None else title
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"wspace": 0.25})
    for index, (name, history) in enumerate(histories.items()):
        frame = pd.DataFrame(history)
        validated = frame.dropna(subset=["val_accuracy"]) if "val_accuracy" in frame else frame.iloc[:0]
        colour = f"C{index}"
        loss_axis.plot(frame.epoch, frame.train_loss, "x--", ms=4, color=colour,
                       label=_("{name}, training batches").format(name=label(name)))
        loss_axis.plot(validated.epoch, validated.val_loss, "o-", ms=4, color=colour,
                       label=_("{name}, validation").format(name=label(name)))
        accuracy_axis.plot(frame.epoch, frame.train_accuracy * 100, "x--", ms=4, color=colour)
        accuracy_axis.plot(validated.epoch, validated.val_accuracy * 100, "o-", ms=4, color=colour)
    loss_axis.set(title=_("Loss"), xlabel=_("epoch"), ylabel=_("cross-entropy"))
    accuracy_axis.set(title=_("Accuracy"), xlabel=_("epoch"), ylabel=_("accuracy (%)"))
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
    axes[0].set(title=_("input (pixels 0–1)"), xticks=[], yticks=[])
    _colorbar(figure, shown, axes[0], _("pixel"))
    kernel_np = _as_numpy(kernel)
    shown = _signed(axes[1], kernel_np, title=_("kernel (3×3 weights)"), fontsize=10)
    _annotate_kernel(axes[1], kernel_np)
    _colorbar(figure, shown, axes[1], _("weight"))
    shown = _signed(axes[2], by_loops, title=_("output of the loops"), fontsize=10)
    _colorbar(figure, shown, axes[2], _("response"))
    difference = _as_numpy((by_loops - by_torch).abs())
    shown = axes[3].imshow(difference, cmap="magma", vmin=0, vmax=max(float(difference.max()), 1e-6))
    axes[3].set(title=_("|loops − F.conv2d|"), xticks=[], yticks=[])
    _colorbar(figure, shown, axes[3], _("absolute difference"))
    figure.suptitle(_("One convolution written out, checked against PyTorch"))
    return figure


def _short_count(value: float, _position=None) -> str:
    """A tick label for a count on a log axis: 60k, 200k, 5M (section 6's Pareto figure)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def correlation_vs_convolution(kernel: torch.Tensor, correlated: torch.Tensor, convolved: torch.Tensor,
                               image: torch.Tensor | None = None) -> plt.Figure:
    """What PyTorch computes (kernel as is) beside textbook convolution (kernel flipped); with the input `image`, its
    outline is drawn over both outputs, so that a kernel which moves the image shows which way. Used in section 4.2."""
    figure, axes = plt.subplots(1, 4, figsize=(13, 3.3), gridspec_kw={"wspace": 0.45})
    kernel_np = _as_numpy(kernel)
    for axis, values, title in ((axes[0], kernel_np, _("kernel as stored")),
                                (axes[1], kernel_np[::-1, ::-1], _("kernel flipped"))):
        shown = _signed(axis, values, title=title, fontsize=10)
        _annotate_kernel(axis, values)
    _colorbar(figure, shown, axes[:2].tolist(), _("weight"))
    limit = float(max(correlated.abs().max(), convolved.abs().max()))
    _signed(axes[2], correlated, limit, title=_("cross-correlation\n(PyTorch, nn.Conv2d)"), fontsize=10)
    shown = _signed(axes[3], convolved, limit, title=_("convolution\n(kernel flipped)"), fontsize=10)
    if image is not None:
        for axis in axes[2:]:
            axis.contour(_as_numpy(image), levels=[0.15], colors="black", linewidths=1.0)
    _colorbar(figure, shown, axes[2:].tolist(), _("response"))
    if image is not None:  # under both outputs, centred between them, clear of the colour bar
        figure.canvas.draw()  # applies the images' aspect, so the positions are where the panels are drawn
        left, right = axes[2].get_position(), axes[3].get_position()
        figure.text((left.x0 + right.x1) / 2, left.y0 - 0.03, _("black line: the input's outline"), ha="center",
                    va="top", fontsize=8)
    figure.suptitle(_("PyTorch slides the kernel as stored; convolution proper flips it first"))
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
        _signed(axes[0, col], values, title=label(name).replace(" (", "\n("), fontsize=8)
        _annotate_kernel(axes[0, col], values, fontsize=7)
        axes[0, col].set_ylabel(_("weights") if col == 1 else "", fontsize=8)
    for row, (image, title) in enumerate(zip(images, titles), start=1):
        _garment(axes[row, 0], image)
        axes[row, 0].set_ylabel(label(title), fontsize=8)
    for col, name in enumerate(kernels, start=1):
        limit = max(float(r.abs().max()) for r in responses[name])
        for row, response in enumerate(responses[name], start=1):
            shown = _signed(axes[row, col], response, limit)
        bar = figure.colorbar(shown, ax=axes[1:, col].tolist(), orientation="horizontal", pad=0.04, shrink=0.9)
        bar.ax.tick_params(labelsize=6, rotation=45)
        bar.set_label(_("response"), fontsize=7)
    figure.suptitle(_("Hand-designed kernels (top) and what they respond to (red +, blue −)"))
    return figure


def filters_beside(hand: dict[str, torch.Tensor], learned: torch.Tensor, columns: int = 8) -> plt.Figure:
    """Hand-designed 3×3 kernels, each divided by its length (L2 norm) on one [−1, 1] scale and annotated with its
    weights, above a CNN's learned first-layer filters on one shared symmetric scale up to the largest |weight| (so
    their strengths compare). A unit-length kernel can reach ±1 only with a single non-zero weight, so nothing
    saturates and a constant kernel (the box blur) is a uniform light colour, not a full block. Used in section 5.5.
    """
    learned = learned.detach().float().cpu()[:, 0]
    rows = math.ceil(len(learned) / columns)
    figure = plt.figure(figsize=(11, 2.9 + 1.2 * rows))
    top, bottom = figure.subfigures(2, 1, height_ratios=[2.6, 1.2 * rows])
    hand_axes = np.atleast_1d(top.subplots(1, len(hand)))
    for axis, (name, kernel) in zip(hand_axes, hand.items()):
        weights = _as_numpy(kernel)
        values = weights / (float(np.sqrt((weights ** 2).sum())) or 1.0)
        shown = _signed(axis, values, 1.0, title=label(name).replace(" (", "\n("), fontsize=8)
        for (i, j), weight in np.ndenumerate(weights):
            axis.text(j, i, f"{weight:.2g}", ha="center", va="center", fontsize=8,
                      color="white" if abs(values[i, j]) > 0.6 else "black")
    _colorbar(top, shown, hand_axes.tolist(), _("weight ÷ the kernel's\nL2 norm"), shrink=0.9)
    top.suptitle(_("Designed by hand (section 4.3): colour = weight ÷ the kernel's length, numbers = the weights"),
                 fontsize=10)
    learned_axes = bottom.subplots(rows, columns, squeeze=False)
    limit = float(learned.abs().max()) or 1.0
    for axis in learned_axes.flat:
        axis.axis("off")
    for axis, kernel in zip(learned_axes.flat, learned):
        shown = _signed(axis, kernel, limit)
    _colorbar(bottom, shown, learned_axes.ravel().tolist(),
              _("weight (one scale for all,\nup to the largest |weight|)"), shrink=0.8)
    bottom.suptitle(_("Learned by the CNN: its {count} first-layer 3×3 filters").format(count=len(learned)),
                    fontsize=10)
    return figure


def shift_response(demo) -> plt.Figure:
    """An image and its shifted copy through a convolution (+ReLU) and 2×2 max pooling (by_hand.shift_demo). With a
    list or tuple of demos (e.g. shifts of 1 and 2 pixels), one row per shift under the unshifted input's row: the
    moved input, its conv + ReLU response, its pooled map and pooled(moved) − moved(pooled), with the share of pooled
    values that agree, so a 1-pixel shift visibly breaks pooling's equivariance and a 2-pixel shift does not.

    Used in section 4.8.
    """
    if isinstance(demo, (list, tuple)):
        return _shift_rows(list(demo))
    shift = demo.shift
    figure, axes = plt.subplots(2, 4, figsize=(12.5, 6), gridspec_kw={"wspace": 0.45, "hspace": 0.35})
    for row, (key, title) in enumerate((("image", _("input")),
                                        ("moved", _("input moved {shift} px right").format(shift=shift)))):
        shown = axes[row, 0].imshow(_as_numpy(getattr(demo, key)), cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set(xticks=[], yticks=[], title=title)
    limit = float(max(demo.response.max(), demo.moved_response.max())) or 1.0
    for row, key in enumerate(("response", "moved_response")):
        shown = axes[row, 1].imshow(_as_numpy(getattr(demo, key)), cmap="magma", vmin=0, vmax=limit)
        axes[row, 1].set(xticks=[], yticks=[], title=_("conv + ReLU"))
    _colorbar(figure, shown, axes[:, 1].tolist(), _("response"))
    difference = _as_numpy(demo.difference)
    inner = float(np.abs(difference[3:-3, 3:-3]).max())
    axes[0, 2].axis("off")
    axes[0, 2].text(0.0, 0.5, _("conv(moved) − moved(conv):\nlargest |difference| away\nfrom the border = "
                                "{inner:.1g}.\nThe response moved with\nthe input (equivariance).").format(inner=inner),
                    fontsize=9, va="center")
    averages = [float(demo.response.mean()), float(demo.moved_response.mean())]
    axes[1, 2].bar([0, 1], averages, color=["C0", "C1"], width=0.6)
    axes[1, 2].set_xticks([0, 1], [_("input"), _("moved")])
    axes[1, 2].set(title=_("global average of the response"), ylabel=_("mean response"), xlabel=_("image"))
    limit = float(max(demo.pooled.max(), demo.moved_pooled.max())) or 1.0
    for row, key in enumerate(("pooled", "moved_pooled")):
        shown = axes[row, 3].imshow(_as_numpy(getattr(demo, key)), cmap="magma", vmin=0, vmax=limit)
        axes[row, 3].set(xticks=[], yticks=[], title=_("after 2×2 max pool"))
    _colorbar(figure, shown, axes[:, 3].tolist(), _("response"))
    figure.suptitle(_("Shift the input, and the convolution's output shifts with it"))
    return figure


def _pooled_agreement(demo) -> tuple[int, float, np.ndarray]:
    """The whole number of pooling cells (shift // 2 or its ceiling) that best matches the moved input's pooled map,
    the share of interior positions (2 cells from the border) where the two agree, and pooled(moved) − moved(pooled)
    for that move (the measure of tables.shift_responses)."""
    from ..data import shift_images

    best = None
    for cells in sorted({demo.shift // 2, (demo.shift + 1) // 2}):
        difference = _as_numpy(demo.moved_pooled - shift_images(demo.pooled, cells))
        share = float(np.isclose(difference[2:-2, 2:-2], 0, rtol=0, atol=1e-6).mean())
        if best is None or share > best[1]:
            best = (cells, share, difference)
    return best


def _shift_rows(demos: list) -> plt.Figure:
    """shift_response for several shifts: a row for the unshifted input, then one per shift."""
    rows = len(demos) + 1
    figure, axes = plt.subplots(rows, 5, figsize=(12.8, 2.35 * rows + 0.7), squeeze=False, layout="constrained",
                                gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.15]})
    first = demos[0]
    conv_limit = float(max([first.response.max()] + [d.moved_response.max() for d in demos])) or 1.0
    pool_limit = float(max([first.pooled.max()] + [d.moved_pooled.max() for d in demos])) or 1.0
    agreements = [_pooled_agreement(d) for d in demos]
    difference_limit = max(float(np.abs(a[2]).max()) for a in agreements) or pool_limit
    for axis in axes.flat:
        axis.set(xticks=[], yticks=[])
    maps = [(first.image, first.response, first.pooled, _("input"))]
    maps += [(d.moved, d.moved_response, d.moved_pooled, _("input moved {shift} px right").format(shift=d.shift))
             for d in demos]
    for row, (image, response, pooled, title) in enumerate(maps):
        pixels = axes[row, 0].imshow(_as_numpy(image), cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set_title(title, fontsize=9)
        conv = axes[row, 1].imshow(_as_numpy(response), cmap="magma", vmin=0, vmax=conv_limit)
        axes[row, 1].set_title(_("conv + ReLU"), fontsize=9)
        pool = axes[row, 2].imshow(_as_numpy(pooled), cmap="magma", vmin=0, vmax=pool_limit)
        axes[row, 2].set_title(_("after 2×2 max pool"), fontsize=9)
    axes[0, 3].axis("off")
    axes[0, 3].text(0.5, 0.5, _("the unshifted input:\nthe reference for\nthe rows below"), ha="center",
                    va="center", fontsize=9, transform=axes[0, 3].transAxes)
    axes[0, 4].axis("off")
    for row, (demo, (cells, share, difference)) in enumerate(zip(demos, agreements), start=1):
        shown = axes[row, 3].imshow(difference, cmap=DIVERGING, vmin=-difference_limit, vmax=difference_limit)
        size = difference.shape[-1]
        axes[row, 3].add_patch(plt.Rectangle((1.5, 1.5), size - 4, size - 4, fill=False, ls="--", lw=0.8,
                                             color="0.4"))
        axes[row, 3].set_title(ngettext("pooled(moved) − moved(pooled)\n(moved {cells} cell; dashed: compared)",
                                        "pooled(moved) − moved(pooled)\n(moved {cells} cells; dashed: compared)",
                                        cells).format(cells=cells), fontsize=8.5)
        inner = float(np.abs(_as_numpy(demo.difference)[3:-3, 3:-3]).max())
        average = float(demo.response.mean())
        change = abs(float(demo.moved_response.mean()) - average) / average if average else 0.0
        verdict = _("pooling moved with it") if share > 0.999 else _("pooling did NOT move with it")
        axes[row, 4].axis("off")
        axes[row, 4].text(0.0, 0.5, _("moved {shift} px:\n• conv + ReLU: largest interior\n  |difference| = "
                                      "{inner:.1g} (moved\n  with the input)\n• pooled maps agree at {share}\n"
                                      "  of interior positions:\n  {verdict}\n• global average changes\n"
                                      "  by {change}").format(shift=demo.shift, inner=inner, share=percent(share, 0),
                                                                  verdict=verdict, change=percent(change, 2)),
                          fontsize=8.5, va="center", transform=axes[row, 4].transAxes)
    for mappable, column, bar_label in ((pixels, axes[:, 0], _("pixel (0–1)")), (conv, axes[:, 1], _("response")),
                                        (pool, axes[:, 2], _("pooled response")),
                                        (shown, axes[1:, 3], _("difference"))):
        _colorbar(figure, mappable, column.tolist(), bar_label, shrink=0.6, fraction=0.05, aspect=30, pad=0.02)
    figure.suptitle(_("Shift the input: the convolution's output shifts with it; 2×2 max pooling only for even "
                      "shifts"))
    return figure


def learned_kernel(true_kernel: torch.Tensor, learned: torch.Tensor, losses: list[float],
                   errors: list[float] | None = None, tolerance: float = 0.05) -> plt.Figure:
    """The target kernel, the learned one and the loss per step (section 4.9); with `errors` (the largest
    |learned − true| weight after each step) also those, and the first step within `tolerance`."""
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained",
                                gridspec_kw={"width_ratios": [1, 1, 1.6]})
    limit = float(max(true_kernel.abs().max(), learned.abs().max()))
    for axis, values, title in ((axes[0], true_kernel, _("true kernel")), (axes[1], learned, _("learned kernel"))):
        shown = _signed(axis, values, limit, title=title, fontsize=10)
        _annotate_kernel(axis, _as_numpy(values), limit=limit)
    _colorbar(figure, shown, axes[:2].tolist(), _("weight"))
    axes[2].plot(np.arange(1, len(losses) + 1), losses, label=_("mean squared error of the output"))
    if errors is not None:
        axes[2].plot(np.arange(1, len(errors) + 1), errors, label=_("largest |learned − true| weight"))
        axes[2].axhline(tolerance, color="grey", linestyle=":", linewidth=1)
        within = next((step for step, error in enumerate(errors, 1) if error < tolerance), None)
        if within is not None:
            axes[2].axvline(within, color="grey", linestyle="--", linewidth=1)
            axes[2].annotate(_("within {tolerance} from step {step}").format(tolerance=tolerance, step=within),
                             (within, tolerance), xytext=(6, 8), fontsize=9,
                             textcoords="offset points")  # i18n: key (a matplotlib parameter)
        axes[2].legend(fontsize=8, loc="upper right")  # i18n: key (a matplotlib parameter)
    axes[2].set(yscale="log", title=_("Error while learning"), xlabel=_("gradient-descent step"),
                ylabel=_("error (log scale)"))
    axes[2].grid(alpha=0.3)
    figure.suptitle(_("A kernel recovered from (image, filtered image) pairs by gradient descent"))
    return figure


def playground(image: torch.Tensor, kernel_name: str, kernel: torch.Tensor, output: torch.Tensor, stride: int,
               padding: int) -> plt.Figure:
    """The playground's static figure: image, kernel and output at one stride and padding (section 4.10)."""
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.4), gridspec_kw={"wspace": 0.45})
    shown = axes[0].imshow(_as_numpy(image), cmap="gray", vmin=0, vmax=1)
    axes[0].set(title=_("input {shape}").format(shape=tuple(image.shape[-2:])), xticks=[], yticks=[])
    _colorbar(figure, shown, axes[0], _("pixel"))
    shown = _signed(axes[1], kernel, title=label(kernel_name), fontsize=9)
    _annotate_kernel(axes[1], _as_numpy(kernel))
    _colorbar(figure, shown, axes[1], _("weight"))
    shown = _signed(axes[2], output, title=_("output {shape}").format(shape=tuple(output.shape[-2:])), fontsize=10)
    _colorbar(figure, shown, axes[2], _("response"))
    figure.suptitle(_("stride {stride}, padding {padding}").format(stride=stride, padding=padding))
    return figure


def multichannel_filter(input_maps: torch.Tensor, filter_weights: torch.Tensor, per_channel: torch.Tensor,
                        output: torch.Tensor, channels: int = 6) -> plt.Figure:
    """One multi-channel filter at work: `channels` of the C input maps (C×H×W, e.g. block 1's maps of one image) as
    columns, each above its own k×k kernel of the filter (C×k×k, annotated) and its cross-correlation with that
    kernel (per_channel, C×H×W, one shared symmetric scale); at the right, the output map (H×W), the sum over all C
    channels. The columns shown are the channels with the largest responses (sum of |response|), in channel order.

    Used in section 5.6.
    """
    inputs, weights = _as_numpy(input_maps), _as_numpy(filter_weights)
    responses, summed = _as_numpy(per_channel), _as_numpy(output)
    total = len(inputs)
    channels = min(channels, total)
    chosen = sorted(np.argsort(-np.abs(responses).sum(axis=(1, 2)), kind="stable")[:channels].tolist())
    figure = plt.figure(figsize=(13, 5.9), layout="constrained")
    grid = figure.add_gridspec(3, channels + 1, width_ratios=[1] * channels + [2.3])
    axes = np.array([[figure.add_subplot(grid[r, c]) for c in range(channels)] for r in range(3)])
    result = figure.add_subplot(grid[:, -1])
    low = float(min(inputs[chosen].min(), 0))
    high = float(inputs[chosen].max()) or 1.0
    kernel_limit = float(np.abs(weights).max()) or 1.0
    response_limit = float(np.abs(responses[chosen]).max()) or 1.0
    for col, channel in enumerate(chosen):
        if low < 0:
            shown_input = _signed(axes[0, col], inputs[channel], max(high, -low))
        else:
            shown_input = axes[0, col].imshow(inputs[channel], cmap="magma", vmin=0, vmax=high)
        axes[0, col].set_title(_("input channel {channel}").format(channel=channel), fontsize=8)
        shown_kernel = _signed(axes[1, col], weights[channel], kernel_limit)
        _annotate_kernel(axes[1, col], weights[channel], fontsize=7, limit=kernel_limit)
        shown_response = _signed(axes[2, col], responses[channel], response_limit)
    for axis in axes.flat:
        axis.set(xticks=[], yticks=[])
    for row, row_label in enumerate((_("input map"),
                                     _("its {size}×{size} kernel").format(size=weights.shape[-1]),
                                     _("cross-correlated\nwith its kernel"))):
        axes[row, 0].set_ylabel(row_label, fontsize=8)
    shown_output = _signed(result, summed, title=_("output map = sum over all {total} input\nchannels "
                                                   "({channels} shown)").format(total=total, channels=channels),
                           fontsize=9)
    _colorbar(figure, shown_input, axes[0].tolist(), _("activation"), shrink=0.9)
    _colorbar(figure, shown_kernel, axes[1].tolist(), _("weight"), shrink=0.9)
    _colorbar(figure, shown_response, axes[2].tolist(), _("response"), shrink=0.9)
    _colorbar(figure, shown_output, result, _("sum of the responses"), shrink=0.6)
    figure.suptitle(_("One multi-channel filter at work: each input channel is cross-correlated with its own kernel, "
                      "and the responses add up"), fontsize=11)
    figure.supxlabel(_("Sum over all {total} input channels ({channels} shown: those with the largest responses), "
                       "as nn.Conv2d computes one output channel").format(total=total, channels=channels),
                     fontsize=8.5)
    return figure


# --- The CNN ----------------------------------------------------------------------------------------------------

def confusion_heatmap(matrix: torch.Tensor, class_names: tuple[str, ...], title: str) -> plt.Figure:
    """Row-normalised confusions on the test set: each cell is the share (%) of the true class's test images given
    that prediction. The diagonal (correct) is written in light grey, off the colour scale, so that the off-diagonal
    confusions get the whole scale and a 5–10 % confusion is strongly coloured. Used in section 5.3."""
    counts = _as_numpy(matrix)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts * 100, totals, out=np.zeros_like(counts), where=totals > 0)
    diagonal = np.eye(len(shares), dtype=bool)
    off = np.ma.masked_array(shares, mask=diagonal)
    top = float(off.max()) if off.count() and float(off.max()) > 0 else 1.0
    colours = plt.get_cmap("Reds").with_extremes(bad="0.88")
    figure, axis = plt.subplots(figsize=(8.4, 6.6))
    shown = axis.imshow(off, cmap=colours, vmin=0, vmax=top, aspect="auto")
    for (i, j), value in np.ndenumerate(shares):
        if diagonal[i, j]:
            text, colour, weight = f"{value:.1f}", "0.25", "bold"
        else:
            text, colour, weight = ("0" if counts[i, j] == 0 else f"{value:.1f}"), "black", "normal"
            colour = "white" if value > 0.6 * top else ("0.6" if counts[i, j] == 0 else "black")
        axis.text(j, i, text, ha="center", va="center", fontsize=7.5, color=colour, fontweight=weight)
    ticks = range(len(class_names))
    axis.set_xticks(ticks, [label(name) for name in class_names])
    axis.set_yticks(ticks, [label(name) for name in class_names])
    axis.set(title=_("{title}\n% of each true class's test images (row sums 100 %); diagonal (grey) = correct").format(
             title=title), xlabel=_("predicted class"), ylabel=_("true class"))
    axis.title.set_fontsize(10)
    _slanted_xticks(axis)
    _colorbar(figure, shown, axis, _("% of the true class's test images\n(off the diagonal: confusions)"),
              shrink=0.9, pad=0.02)
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
        axis.scatter(table[model] * 100, y + offset, s=36, color=f"C{index}", label=label(model), zorder=3)
    axis.set_yticks(y, [label(name) for name in table["class"]])
    axis.invert_yaxis()
    axis.set(title=title, xlabel=_("test accuracy (%)"), ylabel=_("class"))
    axis.grid(alpha=0.3, axis="x")
    _legend_right(axis, title=_("bars: 95 % interval\n(test images, one seed)") if counts is not None else None,
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
        sure = float(confidence[index]) * 100  # a softmax below 1 printed as "100.00 %" would claim certainty
        sure = "> 99.99" if sure > 99.995 else f"{sure:.{1 if sure < 99.5 else 2}f}"
        _garment(axis, images[index], _("true: {true}\npred: {predicted}\n{confidence} % sure").format(
                 true=label(class_names[true[index]]), predicted=label(class_names[predicted[index]]),
                 confidence=sure), fontsize=7)
    figure.suptitle(_("The CNN's most confident mistakes: one per (true, predicted) pair first"))
    return figure


def feature_maps(image: torch.Tensor, maps: dict[str, torch.Tensor], channels: int = 8) -> plt.Figure:
    """One image and the first `channels` feature maps after each block (section 5.6), each map divided by its own
    maximum (written under it), so no weak map is left black beside a strong one; a map that is zero everywhere
    stays black and says so."""
    figure, axes = plt.subplots(len(maps), channels + 1, figsize=((channels + 1) * 1.3, len(maps) * 1.7),
                                squeeze=False, gridspec_kw={"wspace": 0.12, "hspace": 0.45})
    scale = plt.cm.ScalarMappable(cmap="magma", norm=plt.Normalize(0, 1))
    for row, (name, activation) in enumerate(maps.items()):
        _garment(axes[row, 0], image)
        axes[row, 0].set_ylabel(f"{label(name)}\n{activation.shape[1]}×{activation.shape[2]}", fontsize=8)
        for col in range(channels):
            axis = axes[row, col + 1]
            values = _as_numpy(activation[col])
            peak = float(values.max())
            axis.imshow(values / peak if peak > 0 else np.zeros_like(values), cmap="magma", vmin=0, vmax=1,
                        interpolation="nearest")
            axis.set(xticks=[], yticks=[])
            axis.set_xlabel(_("max {peak:.2g}").format(peak=peak) if peak > 0 else _("all zero"), fontsize=7,
                            labelpad=2)
            if row == 0:
                axis.set_title(_("ch {channel}").format(channel=col), fontsize=8)
        _colorbar(figure, scale, axes[row, :].tolist(), _("activation ÷\nthis map's max"), pad=0.01, fraction=0.02)
    figure.suptitle(_("Feature maps after each block (first channels), each on its own scale: resolution falls, "
                      "channels multiply"), fontsize=11)
    return figure


# --- Experiments ------------------------------------------------------------------------------------------------

def experiment_effects(effects: pd.DataFrame, title: str, reference: pd.DataFrame | None = None,
                       reference_label: str | None = None) -> plt.Figure:
    """Each variant's difference from its experiment's reference, with its 95 % interval; filled markers are
    significant after Holm correction within the family. `reference`: the same rows from another run (grey), named
    `reference_label` in the legend ("committed full run" by default)."""
    reference_label = _("committed full run") if reference_label is None else reference_label
    rows = effects[effects.verdict != REFERENCE].reset_index(drop=True)
    figure, axis = plt.subplots(figsize=(8.5, 0.6 + 0.55 * max(len(rows), 2)))
    y = np.arange(len(rows))
    offset = 0.18 if reference is not None else 0.0
    for i, row in rows.iterrows():
        resolved = row.verdict.kind != "not resolved"  # i18n: key
        colour = {"better": "C2", "worse": "C3"}.get(row.verdict.kind, "C7" if resolved else "C0")
        if not math.isnan(row.low):
            axis.hlines(y[i] - offset, row.low, row.high, color=colour, lw=2)
        axis.plot(row.difference, y[i] - offset, "s" if row.verdict.kind == "equivalent" else "o", ms=8,
                  color=colour, mfc=colour if resolved else "white", mew=2)
        if reference is not None:
            match = reference[(reference.experiment == row.experiment) & (reference.variant == row.variant)]
            if len(match):
                ref = match.iloc[0]
                if not math.isnan(ref.low):
                    axis.hlines(y[i] + offset, ref.low, ref.high, color="0.55", lw=2)
                axis.plot(ref.difference, y[i] + offset, "D", ms=6, color="0.55")
    axis.axvline(0, color="0.3", lw=1)
    several = rows.reference.nunique() > 1
    labels = [(_("{variant} − {reference}\n({verdict})") if several else _("{variant}\n({verdict})")).format(
        variant=label(r.variant), reference=label(r.reference), verdict=phrase(r.verdict)) for r in rows.itertuples()]
    axis.set_yticks(y, labels, fontsize=8)
    axis.set_ylim(len(rows) - 0.5, -0.5)
    first = _("its reference") if several else (label(rows.reference.iloc[0]) if len(rows) else "")
    axis.set(title=title, xlabel=_("test accuracy minus {reference} (points)").format(reference=first),
             ylabel=_("variant (verdict)"))
    axis.grid(alpha=0.3, axis="x")
    handles = [Line2D([], [], marker="o", color="C2", mfc="C2", lw=2, label=_("this run: better (Holm)")),
               Line2D([], [], marker="o", color="C3", mfc="C3", lw=2, label=_("this run: worse (Holm)")),
               Line2D([], [], marker="s", color="C7", mfc="C7", lw=2, label=_("this run: equivalent (TOST)")),
               Line2D([], [], marker="o", color="C0", mfc="white", lw=2, label=_("this run: not resolved"))]
    if reference is not None:
        handles.append(Line2D([], [], marker="D", color="0.55", lw=2, label=reference_label))
    axis.legend(handles=handles, loc="upper left",  # i18n: key (a matplotlib parameter)
                bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8,
                title=_("bars: 95 % interval,\nnot adjusted (verdicts are)"), title_fontsize=8)
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
        axis.plot(epochs, values.mean(0), ".-", color=f"C{index}", label=label(name))
        axis.fill_between(epochs, values.min(0), values.max(0), color=f"C{index}", alpha=0.2)
    axis.set(title=title, xlabel=_("epoch"), ylabel=_("validation accuracy (%)"))
    _legend_right(axis)
    axis.grid(alpha=0.3)
    return figure


def _overlap(box, others) -> float:
    """Total area (pixels²) that `box` shares with the (x0, y0, x1, y1) boxes in `others`."""
    total = 0.0
    for x0, y0, x1, y1 in others:
        width, height = min(box[2], x1) - max(box[0], x0), min(box[3], y1) - max(box[1], y0)
        if width > 0 and height > 0:
            total += width * height
    return total


def _place_numbers(axis, xs, ys, numbers, colours, obstacles, centres, fontsize: float = 7.5):
    """Write each number next to its marker where it overlaps no marker, error bar, line or earlier number and lies
    nearer its own marker than any other (or, where every place is taken, where it does least harm), inside the
    axes. `centres`: the markers in pixels."""
    renderer = axis.figure.canvas.get_renderer()
    inside = axis.get_window_extent(renderer)
    candidates = [(dx * r, dy * r, ha, va) for r in (1.0, 1.8, 2.8) for dx, dy, ha, va in (
        (5, 0, "left", "center"), (-5, 0, "right", "center"), (4, 4, "left", "bottom"), (4, -4, "left", "top"),
        (-4, 4, "right", "bottom"), (-4, -4, "right", "top"), (0, 5, "center", "bottom"), (0, -5, "center", "top"))]
    placed = []
    for k, (x, y, number, colour) in enumerate(zip(xs, ys, numbers, colours)):
        others = np.delete(centres, k, axis=0)
        annotation = axis.annotate(str(number), (x, y), xytext=(0, 0),
                                   textcoords="offset points",  # i18n: key (a matplotlib parameter)
                                   fontsize=fontsize, color=colour, fontweight="bold", annotation_clip=False)
        best = None
        for dx, dy, ha, va in candidates:
            annotation.set(ha=ha, va=va)
            annotation.xyann = (dx, dy)
            extent = annotation.get_window_extent(renderer)
            box = (extent.x0 - 1, extent.y0 - 1, extent.x1 + 1, extent.y1 + 1)
            outside = (max(0, inside.x0 - box[0]) + max(0, box[2] - inside.x1) + max(0, inside.y0 - box[1])
                       + max(0, box[3] - inside.y1)) * 100
            middle = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
            own = float(np.hypot(*(middle - centres[k])))
            nearer = len(others) and float(np.hypot(*(others - middle).T).min()) < own
            cost = (outside + _overlap(box, obstacles) + 10 * _overlap(box, placed) + 0.01 * (dx * dx + dy * dy)
                    + 50 * nearer)
            if best is None or cost < best[0]:
                best = (cost, dx, dy, ha, va, box)
        dx, dy, ha, va, box = best[1:]
        annotation.set(ha=ha, va=va)
        annotation.xyann = (dx, dy)
        placed.append(box)


def accuracy_versus_cost(points: pd.DataFrame) -> plt.Figure:
    """Accuracy against parameters and MACs (log axes), each point with the 95 % t interval of its mean over seeds;
    every configuration is numbered (most accurate first, as in tables.pareto) and named in the key below, the
    Pareto front of each panel is joined and drawn in red. Used in section 6.10."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    from ..stats import configuration_numbers, interval_from_summary, pareto_front

    points = points.reset_index(drop=True)
    epochs = int(points.epochs.iloc[0])
    title = ngettext("Every controlled configuration ({images:,} training images, {epochs} epoch), numbered most "
                     "accurate first",
                     "Every controlled configuration ({images:,} training images, {epochs} epochs), numbered most "
                     "accurate first", epochs).format(images=int(points.train_size.iloc[0]), epochs=epochs)
    half = np.asarray([(high - low) / 2 if not math.isnan(low) else 0.0 for low, high in
                       (interval_from_summary(m, sd, n) for m, sd, n in
                        zip(points.test_accuracy_mean, points.test_accuracy_std, points.seeds))]) * 100
    numbers = configuration_numbers(points)
    fronts = {cost: pareto_front(points, cost) for cost in ("parameters", "macs")}
    which = {(True, True): _("front: both"), (True, False): _("front: parameters"), (False, True): _("front: MACs"),
             (False, False): ""}
    entries = []
    for index in numbers.sort_values().index:
        row = points.loc[index]
        experiment = "" if row.experiment in ("all", row.variant) else f" ({label(row.experiment)})"
        on = which[(bool(fronts["parameters"][index]), bool(fronts["macs"][index]))]
        entries.append((f"{numbers[index]:>2}  {label(row.variant)}{experiment}" + (f"  — {on}" if on else ""),
                        bool(on)))
    key_size = 8
    measure = RendererAgg(10, 10, 72)  # text widths in points
    widest = max(measure.get_text_width_height_descent(text, FontProperties(size=key_size), False)[0]
                 for text, _ in entries) / 72 + 0.35
    width = 13.0
    columns = max(1, min(4, int((width - 0.4) // widest)))
    rows = math.ceil(len(entries) / columns)
    key_height = 0.45 + rows * 0.2
    figure = plt.figure(figsize=(width, 4.8 + key_height))
    top, bottom = figure.subfigures(2, 1, height_ratios=[4.8, key_height])
    axes = top.subplots(1, 2, sharey=True, gridspec_kw={"wspace": 0.08})
    y = points.test_accuracy_mean.to_numpy() * 100
    for axis, cost, cost_label in ((axes[0], "parameters", _("parameters (log scale)")),
                                   (axes[1], "macs", _("multiply-accumulates per image (log scale)"))):
        front = fronts[cost].to_numpy()
        x = points[cost].to_numpy(dtype=float)
        axis.errorbar(x, y, yerr=half, fmt="none", ecolor="0.7", elinewidth=1, capsize=2, zorder=1)
        order = np.argsort(x[front])
        axis.plot(x[front][order], y[front][order], "-", color="C3", lw=1.2, zorder=2)
        axis.plot(x[~front], y[~front], "o", color="0.45", ms=5, zorder=3)
        axis.plot(x[front], y[front], "o", color="C3", ms=6.5, mec="white", mew=0.8, zorder=4)
        axis.set(xscale="log", xlabel=cost_label)
        # 1-2-5 ticks written 100k, 2M: matplotlib's default 2×10^5, 3×10^5, 4×10^5 overlap at this width
        axis.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(FuncFormatter(_short_count))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.grid(alpha=0.3, which="both")
    axes[0].set(ylabel=_("test accuracy (%)"), title=_("Accuracy vs parameters"))
    axes[1].set(title=_("Accuracy vs compute"))
    handles = [Line2D([], [], marker="o", color="C3", ms=6.5, lw=1.2, label=_("on this panel's\nPareto front")),
               Line2D([], [], marker="o", color="0.45", ms=5, ls="", label=_("not on it")),
               Line2D([], [], color="0.7", ls="", marker="|", ms=10, mew=1,
                      label=_("95 % interval of\nthe mean over seeds"))]
    axes[1].legend(handles=handles, loc="upper left",  # i18n: key (a matplotlib parameter)
                   bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False, fontsize=8)
    top.suptitle(title)
    figure.canvas.draw()  # fixes the axis limits, so the numbers can be placed in pixels
    for axis, cost in ((axes[0], "parameters"), (axes[1], "macs")):
        front = fronts[cost].to_numpy()
        to_pixels = axis.transData.transform
        centres = to_pixels(np.column_stack([points[cost].to_numpy(dtype=float), y]))
        radii = np.where(front, 3.75, 3.0) * figure.dpi / 72  # the markers' radii (ms / 2) and a little
        obstacles = [(cx - r, cy - r, cx + r, cy + r) for (cx, cy), r in zip(centres, radii)]
        for (cx, _cy), low, high in zip(centres, to_pixels(np.column_stack([points[cost], y - half]))[:, 1],
                                      to_pixels(np.column_stack([points[cost], y + half]))[:, 1]):
            obstacles.append((cx - 3, low - 1, cx + 3, high + 1))
        ordered = centres[front][np.argsort(centres[front][:, 0])]
        for (x0, y0), (x1, y1) in zip(ordered[:-1], ordered[1:]):
            for t in np.linspace(0, 1, 12):
                px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                obstacles.append((px - 1.5, py - 1.5, px + 1.5, py + 1.5))
        _place_numbers(axis, points[cost], y, numbers, ["C3" if f else "0.3" for f in front], obstacles, centres)
    bottom.text(0.01, 1 - 0.2 / key_height,
                _("Key (number: variant (experiment); red: on a Pareto front, and which):"),
                fontsize=key_size, fontweight="bold", va="top")
    for k, (text, on_front) in enumerate(entries):
        column, row = divmod(k, rows)
        bottom.text(0.01 + column / columns, 1 - (0.45 + row * 0.2) / key_height, text, fontsize=key_size,
                    va="top", color="C3" if on_front else "0.2")
    return figure


# --- Inductive-bias probes --------------------------------------------------------------------------------------

def translation(curve: pd.DataFrame, reference: pd.DataFrame | None = None) -> plt.Figure:
    """Accuracy on shifted images per direction: mean over seeds, band = 95 % interval of that mean; `reference`
    (the committed full run's curves) is drawn dashed in the same colours. Used in section 7.1."""
    from ..stats import mean_interval

    directions = list(dict.fromkeys(curve.direction))
    figure, axes = plt.subplots(1, len(directions), figsize=(4.4 * len(directions), 3.8), sharey=True,
                                squeeze=False, layout="constrained")
    for axis, direction in zip(axes[0], directions):
        part = curve[curve.direction == direction]
        for index, (model, rows) in enumerate(part.groupby("model", sort=False)):
            stats = pd.DataFrame([{"shift": shift, **asdict(mean_interval(group.accuracy * 100))}
                                  for shift, group in rows.groupby("shift")])
            axis.plot(stats["shift"], stats["mean"], "o-", ms=4, color=f"C{index}", label=label(model))
            axis.fill_between(stats["shift"], stats["low"], stats["high"], color=f"C{index}", alpha=0.2)
            if reference is not None:
                full = reference[(reference.direction == direction) & (reference.model == model)]
                full = full.groupby("shift").accuracy.mean() * 100
                axis.plot(full.index, full.values, "--", lw=1, color=f"C{index}",
                          label=_("{model}, full run").format(model=label(model))
                          if direction == directions[-1] else None)
        axis.set(title=_("{direction} shift").format(direction=phrase(direction)), ylim=(0, 100),
                 xlabel=_("shift (pixels along each axis)") if direction == "diagonal" else _("shift (pixels)"))
        axis.grid(alpha=0.3)
    axes[0, 0].set_ylabel(_("test accuracy (%)"))
    seeds = curve.groupby("model").seed.nunique().min() if "seed" in curve else 1
    _legend_right(axes[0, -1], title=ngettext("band: 95 % interval\nover {seeds} seed",
                                              "band: 95 % interval\nover {seeds} seeds", int(seeds)).format(
                  seeds=seeds), title_fontsize=8)
    figure.suptitle(_("Accuracy on shifted test images (trained on centred images, no retraining)"))
    return figure


def shift_similarity(table: pd.DataFrame) -> plt.Figure:
    """How much of an image survives a shift in each direction (cosine similarity with its shifted copy).

    Used in section 7.1.
    """
    figure, axis = plt.subplots(figsize=(6, 3.4))
    for direction, rows in table.groupby("direction", sort=False):
        axis.plot(rows["shift"], rows.similarity, "o-", label=phrase(direction))
    axis.set(title=_("An image vs its shifted copy"), xlabel=_("shift (pixels)"), ylabel=_("cosine similarity"))
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
                      marker="o" if model == "CNN" else "s", ms=4,
                      label=_("{model}, full run").format(model=label(model)))
    for model, rows in table.groupby("model", sort=False):
        low = (rows.test_accuracy_mean - rows.low).fillna(0) * 100
        high = (rows.high - rows.test_accuracy_mean).fillna(0) * 100
        axis.errorbar(rows.train_size, rows.test_accuracy_mean * 100, yerr=[low, high], fmt="o-", capsize=4,
                      label=label(model))
    axis.set(xscale="log", title=_("Accuracy vs training-set size (class-balanced subsets)"),
             xlabel=_("training images (log scale)"), ylabel=_("test accuracy (%)"))
    axis.grid(alpha=0.3, which="both")
    _legend_right(axis, title=_("bars: 95 % interval"), title_fontsize=8)
    if lead is not None:
        rows = lead[lead.verdict != REFERENCE].sort_values("train_size")
        axis = axes[0, 1]
        for row in rows.itertuples():
            resolved = row.verdict.decided
            if not math.isnan(row.low):
                axis.vlines(row.train_size, row.low, row.high, color="C2" if resolved else "C0", lw=2)
            axis.plot(row.train_size, row.difference, "o", ms=8, color="C2" if resolved else "C0",
                      mfc="C2" if resolved else "white", mew=2)
        axis.axhline(0, color="0.3", lw=1)
        axis.set(xscale="log", title=_("The CNN's lead at each size"), xlabel=_("training images (log scale)"),
                 ylabel=_("CNN minus dense (points)"))
        axis.grid(alpha=0.3, which="both")
        axis.legend(handles=[Line2D([], [], marker="o", color="C2", lw=2, label=_("resolved (Holm)")),
                             Line2D([], [], marker="o", color="C0", mfc="white", lw=2, label=_("not resolved"))],
                    loc="upper left", bbox_to_anchor=(1.01, 1.0),  # i18n: key (a matplotlib parameter)
                    frameon=False, fontsize=8, title=_("bars: 95 % interval"), title_fontsize=8)
    return figure


def receptive_fields(image: torch.Tensor, fields: list[tuple[str, int]]) -> plt.Figure:
    """Squares the size of each layer's receptive field, centred on the image. Used in section 4.7."""
    figure, axis = plt.subplots(figsize=(5.2, 4.8))
    axis.imshow(_as_numpy(image), cmap="gray", vmin=0, vmax=255, extent=(-0.5, 27.5, 27.5, -0.5))
    centre = 13.5
    for index, (name, size) in enumerate(fields):
        half = size / 2
        axis.add_patch(plt.Rectangle((centre - half, centre - half), size, size, fill=False, lw=1.8,
                                     color=f"C{index + 1}", label=f"{label(name)}: {size}×{size}"))
    axis.set(xlim=(-3, 31), ylim=(31, -3), title=_("What one unit sees after each layer"), xlabel=_("x (pixels)"),
             ylabel=_("y (pixels)"))
    _legend_right(axis)
    return figure


def top_patches(tables: dict[str, pd.DataFrame], patches: dict[str, list], classes: list[str]) -> plt.Figure:
    """For a few channels of each block, the receptive-field patches of its most exciting test images (strongest
    first), each titled with its image's class; every patch is drawn large, one screen square per input pixel
    (nearest-neighbour), whatever its size. Used in section 7.4."""
    blocks = list(tables)
    channels = int(max(t.channel.max() for t in tables.values())) + 1
    top = int(max(t["rank"].max() for t in tables.values())) + 1
    figure, axes = plt.subplots(len(blocks) * channels, top, figsize=(1.5 + top * 1.35, len(blocks) * channels * 1.6),
                                squeeze=False, layout="constrained")
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for b, block in enumerate(blocks):
        for (_position, row), patch in zip(tables[block].iterrows(), patches[block]):
            axis = axes[b * channels + int(row.channel), int(row["rank"])]
            shown = _garment(axis, patch, label(classes[int(row.image)]), fontsize=8)
            shown.set_interpolation("nearest")
        size = patches[block][0].shape[-1]
        for c in range(channels):
            axes[b * channels + c, 0].set_ylabel(_("{block}\nchannel {channel}\n{size}×{size} px").format(
                block=label(block), channel=c, size=size), rotation=0, ha="right", va="center", fontsize=8.5)
    figure.suptitle(_("What a unit sees: the input patch under its receptive field, for its {count} strongest test "
                      "images\n(strongest on the left; title: the image's class)").format(count=top))
    return figure


def edge_likeness(edges: pd.DataFrame) -> plt.Figure:
    """How edge-like each first-layer filter is (probes.edge_likeness): the distribution of its largest |cosine| with
    an edge detector, trained filters beside random ones drawn as at initialisation, with the random filters' 95th
    percentile dashed. Used in section 5.5."""
    trained = edges[edges.weights == "trained"].edge_cosine.to_numpy()
    drawn = edges[edges.weights != "trained"].edge_cosine.to_numpy()
    figure, axis = plt.subplots(figsize=(8, 3.4))
    bins = np.linspace(0, 1, 26)
    axis.hist(drawn, bins=bins, density=True, color="0.7",
              label=_("random, as at initialisation ({count:,})").format(count=len(drawn)))
    axis.hist(trained, bins=bins, density=True, histtype="step", lw=2.2, color="C3",
              label=_("trained ({count} filters)").format(count=len(trained)))
    axis.axvline(np.quantile(drawn, 0.95), color="0.3", ls="--", lw=1.2, label=_("random: 95th percentile"))
    axis.set(xlim=(0, 1), xlabel=_("largest |cosine similarity| with a Sobel edge detector (4 orientations)"),
             ylabel=_("density"), title=_("How edge-like are the first layer's 3×3 filters?"))
    _legend_right(axis, fontsize=8)
    axis.grid(alpha=0.3)
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
    axis.set_xticks(range(len(blocks)), [_("{block}\n({count} channels)").format(
        block=label(b), count=(table.block == b).sum()) for b in blocks])
    axis.set(title=_("How class-specific is each channel?"), ylabel=_("entropy of classes among\ntop images (bits)"),
             xlabel=_("block"), ylim=(0, math.log2(10) + 0.2))
    handles = [Line2D([], [], color="k", lw=2, label=_("median channel")),
               Line2D([], [], color="0.5", lw=2, ls="--", label=_("labels shuffled")),
               Line2D([], [], marker="o", ls="", color="0.4", label=_("one channel"))]
    if reference is not None:
        handles.append(Line2D([], [], marker="D", ls="", color="0.5", label=_("median, full run")))
    axis.legend(handles=handles, loc="upper left",  # i18n: key (a matplotlib parameter)
                bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    axis.grid(alpha=0.3, axis="y")
    return figure


def attribution(images: torch.Tensor, titles: list[str], grad_cam: torch.Tensor, occlusion: torch.Tensor,
                random_cam: torch.Tensor | None = None) -> plt.Figure:
    """Each image with its Grad-CAM map and its occlusion map (score drop when a patch is hidden), each map on its
    own scale (the maps compare regions within an image, not images), the garment's outline drawn over both. With
    `random_cam` (Grad-CAM of the same images and classes from a copy of the model with re-initialised random
    weights: the sanity check of Adebayo et al., 2018), an extra row under Grad-CAM: maps that look alike there say
    more about the image than about what the model learned.

    Used in section 8.1.
    """
    count = len(images)
    cams = [(_("Grad-CAM"), grad_cam)] + ([(_("Grad-CAM,\nrandom weights"), random_cam)] if random_cam is not None
                                           else [])
    rows = len(cams) + 2
    figure, axes = plt.subplots(rows, count, figsize=(count * 1.9, 2.27 * rows), squeeze=False,
                                gridspec_kw={"wspace": 0.1, "hspace": 0.45})
    cam_scale = plt.cm.ScalarMappable(cmap="inferno", norm=plt.Normalize(0, 1))
    for col in range(count):
        _garment(axes[0, col], images[col], titles[col], fontsize=7)
        outline = _as_numpy(images[col])
        for row, (_name, maps) in enumerate(cams, start=1):
            cam = _as_numpy(maps[col])
            peak = float(cam.max())
            axes[row, col].imshow(cam / peak if peak > 0 else np.zeros_like(cam), cmap="inferno", vmin=0, vmax=1)
            if peak <= 0:
                axes[row, col].text(0.5, 0.9, _("all zero"), color="white", fontsize=7, ha="center",
                                    transform=axes[row, col].transAxes)
        drop = _as_numpy(occlusion[col])
        limit = float(np.abs(drop).max()) or 1.0
        shown = axes[-1, col].imshow(drop / limit, cmap=DIVERGING, vmin=-1, vmax=1)
        for row in range(1, rows):
            axes[row, col].contour(outline, levels=[30], colors="white" if row < rows - 1 else "black",
                                   linewidths=0.7)
            axes[row, col].set(xticks=[], yticks=[])
    for row, (name, _maps) in enumerate(cams, start=1):
        axes[row, 0].set_ylabel(name, fontsize=8)
        _colorbar(figure, cam_scale, axes[row, :].tolist(), _("÷ this image's maximum"), pad=0.01, fraction=0.02)
    axes[-1, 0].set_ylabel(_("occlusion"), fontsize=8)
    _colorbar(figure, shown, axes[-1, :].tolist(), _("logit drop ÷ largest |drop|"), pad=0.01, fraction=0.02)
    figure.suptitle(_("Where the evidence for the predicted class lies (top: true → predicted; outline: the "
                      "garment)"))
    return figure
