"""EDA and error-analysis numbers: counts, class means, PCA, confusion matrix, per-class accuracy."""

from __future__ import annotations

import torch

from conv_workshop.data import CLASS_NAMES
from conv_workshop.inspection import analysis


def test_confusion_matrix_and_per_class_accuracy():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    predictions = torch.tensor([0, 1, 1, 1, 0, 2])
    matrix = analysis.confusion_matrix(predictions, labels, classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    accuracy = analysis.per_class_accuracy(matrix, ("a", "b", "c"))
    assert accuracy.accuracy.tolist() == [0.5, 1.0, 0.5]
    top = analysis.top_confusions(matrix, ("a", "b", "c"), top=2)
    assert set(zip(top.true, top.predicted)) == {("a", "b"), ("c", "a")}


def test_class_means_distances_and_closest_pairs():
    images = torch.zeros(30, 28, 28, dtype=torch.uint8)
    labels = torch.arange(30) % 3
    images[labels == 1] = 10  # classes 0 and 1 nearly alike, class 2 far away
    images[labels == 2] = 255
    distances = analysis.class_mean_distances(images, labels, ("a", "b", "c"))
    assert distances.loc["a", "a"] == 0 and distances.loc["a", "b"] < distances.loc["a", "c"]
    assert tuple(analysis.closest_class_pairs(distances, top=1).iloc[0][["class_a", "class_b"]]) == ("a", "b")


def test_pca_finds_the_direction_the_images_vary_along():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(100, 110, (200, 28, 28), generator=generator, dtype=torch.uint8)
    images[:100, :, :14] = 0  # the left half dark in half the images: one dominant direction
    coordinates, explained = analysis.pca_projection(images)
    assert coordinates.shape == (200, 2)
    assert explained[0] > 0.9 and explained[1] < 0.05  # that direction carries almost all the variance
    first = coordinates[:, 0]
    # the first component separates the two groups completely (whichever sign it takes)
    assert (first[:100].max() < first[100:].min()) or (first[:100].min() > first[100:].max())


def test_counts_and_intensity_summary():
    labels = torch.arange(20) % 10
    images = torch.zeros(20, 28, 28, dtype=torch.uint8)
    images[:, :4] = 200
    counts = analysis.class_counts(labels, CLASS_NAMES)
    assert counts["count"].tolist() == [2] * 10
    summary = analysis.intensity_summary(images, labels, CLASS_NAMES)
    assert summary.ink_pixels.tolist() == [4 * 28.0] * 10
    assert abs(summary.background_share.iloc[0] - 24 / 28) < 1e-6
