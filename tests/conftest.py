"""Shared fixtures: tiny IDX files written by the tests, the real dataset when installed, tiny splits."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from conv_workshop.data import SPLIT_FILES, Splits, candidate_dirs, load_fashion_mnist
from conv_workshop.settings import run_settings

ROOT = Path(__file__).resolve().parent.parent


def idx_images(images: np.ndarray) -> bytes:
    return struct.pack(">IIII", 2051, len(images), 28, 28) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def write_dataset(folder: Path, counts: dict[str, int], compress: bool, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the four IDX files with random content; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, (images_stem, labels_stem, _) in SPLIT_FILES.items():
        images = rng.integers(0, 256, size=(counts[split], 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=counts[split], dtype=np.uint8)
        for stem, data in ((images_stem, idx_images(images)), (labels_stem, idx_labels(labels))):
            if compress:
                (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / stem).write_bytes(data)
        arrays[split + "_images"], arrays[split + "_labels"] = images, labels
    return arrays


@pytest.fixture
def tiny_counts(monkeypatch):
    """Shrink the expected split sizes so tiny files count as complete datasets."""
    counts = {"train": 60, "test": 20}
    patched = {split: (images, labels, counts[split]) for split, (images, labels, _) in SPLIT_FILES.items()}
    monkeypatch.setattr("conv_workshop.data.SPLIT_FILES", patched)
    return counts


def real_data_available() -> bool:
    from conv_workshop.data import _has_all_files

    return any(_has_all_files(folder) for folder in candidate_dirs(run_settings().data_dir))


@pytest.fixture(scope="session")
def real_data():
    if not real_data_available():
        pytest.skip("real Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return load_fashion_mnist(run_settings().data_dir, download=False)


def make_splits(train: int = 256, val: int = 64, test: int = 64, seed: int = 0) -> Splits:
    """Tiny learnable data: each class is a bright bar at its own position, plus noise."""
    generator = torch.Generator().manual_seed(seed)

    def draw(n):
        labels = torch.arange(n) % 10
        images = torch.randint(0, 40, (n, 28, 28), generator=generator, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            images[i, 2 + 2 * label:4 + 2 * label, 4:24] = 250
        return images, labels

    return Splits(*draw(train), *draw(val), *draw(test))


@pytest.fixture
def tiny_splits() -> Splits:
    return make_splits()
