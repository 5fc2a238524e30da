"""Numbers behind the EDA and error analysis: class means, distances, PCA, confusion matrix, per-class accuracy."""

from __future__ import annotations

import pandas as pd
import torch


def class_counts(labels: torch.Tensor, class_names: tuple[str, ...]) -> pd.DataFrame:
    """Training images per class (sections 2.1 and 5.3)."""
    counts = torch.bincount(labels, minlength=len(class_names))
    return pd.DataFrame({"class": class_names, "count": counts.tolist()})


def class_means(images: torch.Tensor, labels: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """The mean image of each class (classes×28×28, pixels in [0, 1]). Used in section 2.3."""
    scaled = images.float() / 255.0
    return torch.stack([scaled[labels == c].mean(0) for c in range(classes)])


def class_mean_distances(images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...]) -> pd.DataFrame:
    """Euclidean distance between class-mean images: small = classes that look alike on average. Used in section 2.3."""
    means = class_means(images, labels, len(class_names)).flatten(1)
    return pd.DataFrame(torch.cdist(means, means).numpy(), index=class_names, columns=class_names)


def closest_class_pairs(distances: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The `top` closest pairs of class means, nearest first (section 2.3)."""
    rows = [{"class_a": a, "class_b": b, "distance": distances.loc[a, b]}
            for i, a in enumerate(distances.index) for b in distances.columns[i + 1:]]
    return pd.DataFrame(rows).nsmallest(top, "distance").reset_index(drop=True)


def intensity_summary(images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...]) -> pd.DataFrame:
    """Per class: mean pixel value, share of background (zero) pixels, and mean ink (pixels > 0).

    Used in section 2.2.
    """
    scaled = images.float() / 255.0
    rows = []
    for c, name in enumerate(class_names):
        members = scaled[labels == c]
        rows.append({"class": name, "mean_pixel": float(members.mean()),
                     "background_share": float((members == 0).float().mean()),
                     "ink_pixels": float((members > 0).float().sum((1, 2)).mean())})
    return pd.DataFrame(rows)


def pca_projection(images: torch.Tensor, components: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Project images onto their first principal components; returns (coordinates, explained variance ratio).

    Used in section 2.4.
    """
    x = images.flatten(1).double() / 255.0
    x = x - x.mean(0)
    # Eigen-decomposition of the 784×784 covariance: much cheaper than an SVD of the N×784 data.
    variance, vectors = torch.linalg.eigh(x.T @ x)
    variance, vectors = variance.flip(0), vectors.flip(1)
    return (x @ vectors[:, :components]).float(), (variance[:components] / variance.sum()).float()


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """counts[true, predicted]. Used in section 5.3."""
    return torch.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)


def per_class_accuracy(matrix: torch.Tensor, class_names: tuple[str, ...]) -> pd.DataFrame:
    recall = matrix.diag().float() / matrix.sum(1).clamp(min=1).float()
    return pd.DataFrame({"class": class_names, "accuracy": recall.tolist()})


def per_class_table(predictions: dict[str, torch.Tensor], labels: torch.Tensor,
                    class_names: tuple[str, ...]) -> pd.DataFrame:
    """Per-class accuracy of several models' predictions: one row per class, one column per model.

    Used in section 5.3.
    """
    table = pd.DataFrame({"class": class_names})
    for name, predicted in predictions.items():
        table[name] = per_class_accuracy(confusion_matrix(predicted, labels, len(class_names)), class_names).accuracy
    return table


def top_confusions(matrix: torch.Tensor, class_names: tuple[str, ...], top: int = 5) -> pd.DataFrame:
    """The most frequent (true → predicted) mistakes."""
    rows = [{"true": class_names[t], "predicted": class_names[p], "count": int(matrix[t, p])}
            for t in range(len(class_names)) for p in range(len(class_names)) if t != p]
    return pd.DataFrame(rows).nlargest(top, "count").reset_index(drop=True)


def neighbour_purity(coordinates: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...],
                     neighbours: int = 20) -> pd.DataFrame:
    """Per class: the share of each point's nearest neighbours (in the given coordinates) from the same class.

    1.0 = the class sits apart from the others in this view; about 0.1 = mixed in (10 balanced classes).

    Used in section 2.4.
    """
    distances = torch.cdist(coordinates, coordinates)
    distances.fill_diagonal_(float("inf"))
    nearest = distances.topk(neighbours, largest=False).indices
    same = (labels[nearest] == labels.unsqueeze(1)).float().mean(1)
    rows = [{"class": name, "purity": float(same[labels == c].mean())} for c, name in enumerate(class_names)]
    return pd.DataFrame(rows).sort_values("purity", ascending=False).reset_index(drop=True)


def shift_similarity(images: torch.Tensor, shifts: tuple[int, ...] = (1, 2, 3, 4, 5, 6)) -> pd.DataFrame:
    """How much of an image survives a shift: mean cosine similarity between images and their shifted copies,
    per direction (a property of the data that every position-dependent model inherits). Used in section 7.1."""
    from ..data import shift_images
    from .probes import DIRECTIONS

    x = images.float()
    norms = x.flatten(1).norm(dim=1)
    rows = []
    for direction, (ux, uy) in DIRECTIONS.items():
        for shift in shifts:
            moved = shift_images(x, ux * shift, uy * shift)
            cosine = (x * moved).flatten(1).sum(1) / (norms * moved.flatten(1).norm(dim=1)).clamp(min=1e-9)
            rows.append({"direction": direction, "shift": shift, "similarity": float(cosine.mean())})
    return pd.DataFrame(rows)
