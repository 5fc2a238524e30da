"""Every figure the notebook shows; each function takes data and returns a matplotlib Figure."""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from .results import write_atomic


def save_figure(figure: plt.Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a PNG atomically (README and notebook link to these files)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())
    return Path(path)


def class_balance(counts: pd.DataFrame, title: str = "Training images per class") -> plt.Figure:
    figure, axis = plt.subplots(figsize=(9, 3.2))
    sns.barplot(data=counts, x="class", y="count", ax=axis, color="#4C72B0")
    axis.set(title=title, xlabel="class", ylabel="images")
    axis.tick_params(axis="x", rotation=30)
    return figure


def sample_grid(images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...], per_class: int = 8,
                seed: int = 0) -> plt.Figure:
    generator = torch.Generator().manual_seed(seed)
    figure, axes = plt.subplots(len(class_names), per_class, figsize=(per_class * 0.9, len(class_names) * 0.95))
    for c, name in enumerate(class_names):
        members = torch.nonzero(labels == c).flatten()
        chosen = members[torch.randperm(len(members), generator=generator)[:per_class]]
        for j, index in enumerate(chosen):
            axis = axes[c, j]
            axis.imshow(images[index], cmap="gray_r")
            axis.set_xticks([])
            axis.set_yticks([])
            if j == 0:
                axis.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle("Random training images, one row per class")
    return figure


def intensity_distributions(images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...]) -> plt.Figure:
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6))
    pixels = images.flatten().float().numpy()
    left.hist(pixels, bins=64, color="#4C72B0", log=True)
    left.set(title="All training pixels", xlabel="pixel value (0 = black background)", ylabel="count (log)")
    bins = np.linspace(1, 255, 52)
    for c, name in enumerate(class_names):
        values = images[labels == c].flatten().float().numpy()
        hist, edges = np.histogram(values[values > 0], bins=bins, density=True)
        right.plot((edges[:-1] + edges[1:]) / 2, hist, label=name, lw=1.2)
    right.set(title="Non-background pixels by class", xlabel="pixel value", ylabel="density")
    right.legend(fontsize=7, ncol=2)
    return figure


def mean_images(means: torch.Tensor, class_names: tuple[str, ...]) -> plt.Figure:
    figure, axes = plt.subplots(1, len(class_names), figsize=(len(class_names) * 1.2, 1.8))
    for axis, image, name in zip(axes, means, class_names):
        axis.imshow(image, cmap="gray_r")
        axis.set_title(name, fontsize=8)
        axis.axis("off")
    figure.suptitle("Mean image of each class")
    return figure


def distance_heatmap(distances: pd.DataFrame) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(7, 5.5))
    sns.heatmap(distances, annot=True, fmt=".1f", cmap="viridis_r", ax=axis, cbar_kws={"label": "distance"})
    axis.set(title="Distance between class-mean images (small = look alike)", xlabel="class", ylabel="class")
    return figure


def pca_scatter(coordinates: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...],
                explained: torch.Tensor) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(7, 5.5))
    for c, name in enumerate(class_names):
        points = coordinates[labels == c]
        axis.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, label=name)
    axis.set(title="Images projected on their first two principal components",
             xlabel=f"PC 1 ({explained[0]:.0%} of variance)", ylabel=f"PC 2 ({explained[1]:.0%} of variance)")
    axis.legend(markerscale=4, fontsize=7, ncol=2)
    return figure


def training_curves(histories: dict[str, list[dict]], title: str = "Training curves") -> plt.Figure:
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(12, 3.8))
    for index, (name, history) in enumerate(histories.items()):
        frame = pd.DataFrame(history)
        validated = frame.dropna(subset=["val_accuracy"])  # long runs validate only every few epochs
        colour = f"C{index}"
        loss_axis.plot(frame.epoch, frame.train_loss, "--", color=colour, label=f"{name} train")
        loss_axis.plot(validated.epoch, validated.val_loss, ".-", color=colour, label=f"{name} validation")
        accuracy_axis.plot(frame.epoch, frame.train_accuracy * 100, "--", color=colour, label=f"{name} train")
        accuracy_axis.plot(validated.epoch, validated.val_accuracy * 100, ".-", color=colour,
                           label=f"{name} validation")
    loss_axis.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    accuracy_axis.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    for axis in (loss_axis, accuracy_axis):
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    return figure


def confusion_heatmap(matrix: torch.Tensor, class_names: tuple[str, ...], title: str) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(7.5, 6))
    sns.heatmap(matrix.numpy(), annot=True, fmt="d", cmap="Blues", xticklabels=class_names,
                yticklabels=class_names, ax=axis, cbar_kws={"label": "test images"})
    axis.set(title=title, xlabel="predicted class", ylabel="true class")
    return figure


def per_class_bars(table: pd.DataFrame, title: str) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(9, 3.2))
    frame = table.melt(id_vars="class", var_name="model", value_name="accuracy")
    frame["accuracy"] *= 100
    sns.barplot(data=frame, x="class", y="accuracy", hue="model", ax=axis)
    axis.set(title=title, xlabel="class", ylabel="test accuracy (%)", ylim=(50, 100))
    axis.tick_params(axis="x", rotation=30)
    return figure


def misclassified_gallery(images: torch.Tensor, true: torch.Tensor, predicted: torch.Tensor,
                          confidence: torch.Tensor, class_names: tuple[str, ...], count: int = 24) -> plt.Figure:
    wrong = torch.nonzero(true != predicted).flatten()
    wrong = wrong[confidence[wrong].argsort(descending=True)][:count]
    columns = 8
    rows = max(1, math.ceil(len(wrong) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.6, rows * 1.9), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, wrong):
        axis.imshow(images[index], cmap="gray_r")
        axis.set_title(f"true: {class_names[true[index]]}\npred: {class_names[predicted[index]]}\n"
                       f"{confidence[index]:.0%}", fontsize=7)
    figure.suptitle("The CNN's most confident mistakes on the test set")
    return figure


def filters(weights: torch.Tensor, title: str = "First-layer filters") -> plt.Figure:
    weights = weights.detach().float().cpu()[:, 0]
    columns = 8
    rows = math.ceil(len(weights) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 0.95))
    limit = float(weights.abs().max())
    for axis in axes.flat:
        axis.axis("off")
    for axis, kernel in zip(axes.flat, weights):
        axis.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    figure.suptitle(f"{title} (red = positive, blue = negative weight)")
    return figure


def feature_maps(image: torch.Tensor, maps: dict[str, torch.Tensor], channels: int = 8) -> plt.Figure:
    figure, axes = plt.subplots(len(maps), channels + 1, figsize=((channels + 1) * 1.1, len(maps) * 1.25),
                                squeeze=False)
    for row, (name, activation) in enumerate(maps.items()):
        axes[row, 0].imshow(image, cmap="gray_r")
        axes[row, 0].set_ylabel(f"{name}\n{tuple(activation.shape[1:])}", fontsize=8)
        for col in range(channels):
            axes[row, col + 1].imshow(activation[col], cmap="magma")
        for axis in axes[row]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle("Feature maps after each block (first channels): resolution falls, abstraction rises")
    return figure


def accuracy_with_error_bars(summary: pd.DataFrame, title: str, x: str = "variant") -> plt.Figure:
    figure, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    mean = summary.test_accuracy_mean * 100
    std = summary.test_accuracy_std * 100
    axes[0].errorbar(summary[x].astype(str), mean, yerr=std, fmt="o", capsize=5)
    axes[0].set(title="Test accuracy (mean ± std over seeds)", xlabel=x, ylabel="test accuracy (%)")
    axes[0].tick_params(axis="x", rotation=20)
    for axis, column, xlabel in ((axes[1], "parameters", "parameters"),
                                 (axes[2], "train_seconds_mean", "training time per run (s)")):
        axis.errorbar(summary[column], mean, yerr=std, fmt="o", capsize=5)
        for label, position, accuracy in zip(summary[x], summary[column], mean):
            axis.annotate(str(label), (position, accuracy), fontsize=7, xytext=(4, 4), textcoords="offset points")
        axis.set(xlabel=xlabel, ylabel="test accuracy (%)")
    axes[1].set(title="Accuracy vs parameters", xscale="log")
    axes[2].set(title="Accuracy vs training time")
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def validation_curves(histories: dict[str, list[list[dict]]], title: str) -> plt.Figure:
    """Mean validation accuracy per epoch for each variant (band = min..max over seeds)."""
    figure, axis = plt.subplots(figsize=(7, 3.8))
    for index, (name, runs) in enumerate(histories.items()):
        validated = [[epoch for epoch in run if "val_accuracy" in epoch] for run in runs]
        values = np.array([[epoch["val_accuracy"] * 100 for epoch in run] for run in validated])
        epochs = np.array([epoch["epoch"] for epoch in validated[0]])
        axis.plot(epochs, values.mean(0), color=f"C{index}", label=name)
        axis.fill_between(epochs, values.min(0), values.max(0), color=f"C{index}", alpha=0.2)
    axis.set(title=title, xlabel="epoch", ylabel="validation accuracy (%)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return figure


def translation(curve: pd.DataFrame) -> plt.Figure:
    directions = list(dict.fromkeys(curve.direction))
    figure, axes = plt.subplots(1, len(directions), figsize=(4.2 * len(directions), 3.5), sharey=True)
    for axis, direction in zip(np.atleast_1d(axes), directions):
        part = curve[curve.direction == direction]
        for model, rows in part.groupby("model", sort=False):
            axis.plot(rows["shift"], rows.accuracy * 100, "o-", label=model)
        axis.set(title=f"{direction} shift", xlabel="shift (pixels)", ylabel="test accuracy (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Accuracy on shifted test images (trained on centred images, no retraining)")
    figure.tight_layout()
    return figure


def grouped_bars(table: pd.DataFrame, x: str, hue: str, title: str) -> plt.Figure:
    """Mean ± std test accuracy per (x, hue), from a table with test_accuracy_mean / _std columns."""
    figure, axis = plt.subplots(figsize=(7, 3.6))
    groups = list(dict.fromkeys(table[x]))
    hues = list(dict.fromkeys(table[hue]))
    width = 0.8 / len(hues)
    for i, name in enumerate(hues):
        part = table[table[hue] == name].set_index(x).reindex(groups)
        axis.bar(np.arange(len(groups)) + i * width, part.test_accuracy_mean * 100, width,
                 yerr=part.test_accuracy_std * 100, capsize=4, label=name)
    axis.set_xticks(np.arange(len(groups)) + width * (len(hues) - 1) / 2, groups)
    axis.set(title=title, ylabel="test accuracy (%)", ylim=(max(0, (table.test_accuracy_mean.min() * 100) - 10), 100))
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3, axis="y")
    return figure


def data_efficiency(table: pd.DataFrame) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(7, 3.8))
    for model, rows in table.groupby("model", sort=False):
        axis.errorbar(rows.train_size, rows.test_accuracy_mean * 100, yerr=rows.test_accuracy_std * 100,
                      fmt="o-", capsize=4, label=model)
    axis.set(xscale="log", title="Accuracy vs training-set size (class-balanced subsets)",
             xlabel="training images (log scale)", ylabel="test accuracy (%)")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    return figure


def receptive_fields(image: torch.Tensor, fields: list[tuple[str, int]]) -> plt.Figure:
    """Squares the size of each layer's receptive field, centred on the image."""
    figure, axis = plt.subplots(figsize=(4.8, 4.8))
    axis.imshow(image, cmap="gray_r", extent=(-0.5, 27.5, 27.5, -0.5))
    centre = 13.5
    for index, (name, size) in enumerate(fields):
        half = size / 2
        axis.add_patch(plt.Rectangle((centre - half, centre - half), size, size, fill=False, lw=1.5,
                                     color=f"C{index}", label=f"{name}: {size}×{size}"))
    axis.set(xlim=(-6, 34), ylim=(34, -6), title="Receptive field of one unit after each layer")
    axis.legend(fontsize=7, loc="lower left", bbox_to_anchor=(1.0, 0.0))
    return figure


def top_activating_grid(images: torch.Tensor, tables: dict[str, pd.DataFrame]) -> plt.Figure:
    blocks = list(tables)
    channels = int(max(t.channel.max() for t in tables.values())) + 1
    top = int(max(t["rank"].max() for t in tables.values())) + 1
    figure, axes = plt.subplots(len(blocks) * channels, top, figsize=(top * 0.8, len(blocks) * channels * 0.85),
                                squeeze=False)
    for b, block in enumerate(blocks):
        for _, row in tables[block].iterrows():
            axis = axes[b * channels + int(row.channel), int(row["rank"])]
            axis.imshow(images[int(row.image)], cmap="gray_r")
        for c in range(channels):
            axes[b * channels + c, 0].set_ylabel(f"{block}\nch {c}", rotation=0, ha="right", va="center", fontsize=7)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle("Test images that most excite a few channels of each block")
    return figure
