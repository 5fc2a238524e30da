"""Fashion-MNIST, read offline first from the original IDX files, validated, and split for model selection."""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .constants import CLASS_NAMES, IMAGE_SIZE

IMAGES_MAGIC = 2051  # IDX: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # IDX: unsigned bytes, 1 dimension
IDX_KINDS = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}

# split -> (images file stem, labels file stem, number of examples)
SPLIT_FILES: dict[str, tuple[str, str, int]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
LOCAL_DIR = Path("data")  # torchvision's layout below it: data/FashionMNIST/raw
VALIDATION_SIZE = 5_000
VALIDATION_SEED = 0
TRAIN_SIZE = SPLIT_FILES["train"][2] - VALIDATION_SIZE  # the training split's images (the headline models')

HOW_TO_FIX = (
    "Get a good copy with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or delete the file and "
    "call load_fashion_mnist(download=True) to let torchvision download it into ./data, or point "
    "FASHION_MNIST_DIR at a folder holding the four original IDX files (.gz or uncompressed)."
)


class DatasetFileError(RuntimeError):
    """A Fashion-MNIST file is missing, truncated or not what its name says."""


@dataclass(frozen=True)
class FashionMNIST:
    """The whole dataset in memory: uint8 images (N×28×28), int64 labels, class names, and where it came from."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    class_names: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Splits:
    """Train / validation / test tensors; the validation set is carved from the 60,000 training images."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    name: str = "Fashion-MNIST"  # what the images are (recorded with every run; e.g. a pixel-permuted copy)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train_labels), "val": len(self.val_labels), "test": len(self.test_labels)}


def _open_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DatasetFileError(f"{path}: cannot be read ({error}). {HOW_TO_FIX}") from error


def read_idx(path: str | os.PathLike, expected_count: int | None = None, kind: str | None = None) -> np.ndarray:
    """Read one IDX file (images or labels, .gz or raw) and check its header, size and values.

    kind ("images" or "labels") is the file kind the caller expects; a file of the other kind is refused, so that
    an images file saved under a labels name cannot load as labels of the wrong shape.
    """
    path = Path(path)
    raw = _open_bytes(path)
    if len(raw) < 8:
        raise DatasetFileError(f"{path}: only {len(raw)} bytes, too short for an IDX header. {HOW_TO_FIX}")
    magic, count = struct.unpack(">II", raw[:8])
    found = IDX_KINDS.get(magic)
    if kind is not None and found is not None and found != kind:
        raise DatasetFileError(f"{path}: holds {found} (IDX magic number {magic}) where the {kind} file belongs; "
                               f"it is misnamed or swapped with another file. {HOW_TO_FIX}")
    if magic == IMAGES_MAGIC:
        if len(raw) < 16:
            raise DatasetFileError(f"{path}: truncated image header. {HOW_TO_FIX}")
        rows, cols = struct.unpack(">II", raw[8:16])
        if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
            raise DatasetFileError(f"{path}: images are {rows}×{cols}, expected 28×28. {HOW_TO_FIX}")
        header, shape = 16, (count, rows, cols)
    elif magic == LABELS_MAGIC:
        header, shape = 8, (count,)
    else:
        raise DatasetFileError(
            f"{path}: magic number {magic} is not an IDX image ({IMAGES_MAGIC}) or label ({LABELS_MAGIC}) file. "
            f"{HOW_TO_FIX}"
        )
    if expected_count is not None and count != expected_count:
        raise DatasetFileError(f"{path}: header says {count} examples, expected {expected_count}. {HOW_TO_FIX}")
    expected_length = header + int(np.prod(shape))
    if len(raw) != expected_length:
        raise DatasetFileError(
            f"{path}: {len(raw)} bytes, expected {expected_length} for {count} examples "
            f"({'truncated' if len(raw) < expected_length else 'trailing data'}). {HOW_TO_FIX}"
        )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
    if magic == LABELS_MAGIC and array.size and array.max() > 9:
        raise DatasetFileError(f"{path}: label {int(array.max())} is outside 0–9. {HOW_TO_FIX}")
    return array


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _has_all_files(folder: Path) -> bool:
    return all(_find_file(folder, stem) for images, labels, _ in SPLIT_FILES.values() for stem in (images, labels))


def candidate_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Where the loader looks, in order: root (the caller's FASHION_MNIST_DIR setting), else ./data (torchvision
    layout) and Debian's copy."""
    if root is not None:
        return [Path(root)]
    return [LOCAL_DIR / "FashionMNIST" / "raw", LOCAL_DIR, DEBIAN_DIR]


def _download(folder: Path) -> Path:
    """torchvision's download, only reached when no local copy exists (needs the internet)."""
    from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

    try:
        TorchvisionFashionMNIST(str(folder), train=True, download=True)
        TorchvisionFashionMNIST(str(folder), train=False, download=True)
    except Exception as error:  # network errors come in many types; all mean the same to the user
        raise DatasetFileError(f"No local copy of Fashion-MNIST was found and the download failed ({error}). "
                               f"{HOW_TO_FIX}") from error
    return folder / "FashionMNIST" / "raw"


def load_fashion_mnist(root: str | os.PathLike | None = None, download: bool = True) -> FashionMNIST:
    """Load all 70,000 images and labels, from the first local copy found, downloading only as a last resort."""
    folders = candidate_dirs(root)
    folder = next((f for f in folders if _has_all_files(f)), None)
    if folder is None and root is not None:
        missing = [stem for images, labels, _ in SPLIT_FILES.values() for stem in (images, labels)
                   if _find_file(folders[0], stem) is None]
        raise DatasetFileError(f"{folders[0]}: missing {', '.join(missing)} (.gz or uncompressed). {HOW_TO_FIX}")
    if folder is None:
        if not download:
            raise DatasetFileError(f"Fashion-MNIST not found in {', '.join(map(str, folders))}. {HOW_TO_FIX}")
        folder = _download(LOCAL_DIR)
    arrays = {}
    for split, (images_stem, labels_stem, count) in SPLIT_FILES.items():
        images = read_idx(_find_file(folder, images_stem), count, kind="images")
        labels = read_idx(_find_file(folder, labels_stem), count, kind="labels")
        arrays[split + "_images"] = torch.from_numpy(images.copy())
        arrays[split + "_labels"] = torch.from_numpy(labels.astype(np.int64))
    return FashionMNIST(**arrays, class_names=CLASS_NAMES, source=str(folder))


def split_validation(data: FashionMNIST, val_size: int = VALIDATION_SIZE, seed: int = VALIDATION_SEED) -> Splits:
    """Hold out val_size training images (a fixed seeded permutation) for model selection; test stays untouched."""
    order = torch.randperm(len(data.train_labels), generator=torch.Generator().manual_seed(seed))
    val_index, train_index = order[:val_size], order[val_size:]
    return Splits(
        train_images=data.train_images[train_index], train_labels=data.train_labels[train_index],
        val_images=data.train_images[val_index], val_labels=data.train_labels[val_index],
        test_images=data.test_images, test_labels=data.test_labels,
    )


def balanced_subset(labels: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """Indices of a class-balanced random subset of `size` examples (size // classes per class, remainder spread)."""
    generator = torch.Generator().manual_seed(seed)
    classes = torch.unique(labels)
    per_class = [size // len(classes) + (1 if i < size % len(classes) else 0) for i in range(len(classes))]
    chosen = []
    for label, count in zip(classes.tolist(), per_class):
        members = torch.nonzero(labels == label).flatten()
        if count > len(members):
            raise ValueError(f"asked for {count} examples of class {label}, only {len(members)} exist")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:count]])
    index = torch.cat(chosen)
    return index[torch.randperm(len(index), generator=generator)]


def shrink(splits: Splits, train: int, val: int, test: int, seed: int = 0) -> Splits:
    """A smaller, class-balanced copy of the splits (used by the smoke profile and the data-efficiency probe)."""
    def pick(images, labels, size):
        if size >= len(labels):
            return images, labels
        index = balanced_subset(labels, size, seed)
        return images[index], labels[index]

    train_images, train_labels = pick(splits.train_images, splits.train_labels, train)
    val_images, val_labels = pick(splits.val_images, splits.val_labels, val)
    test_images, test_labels = pick(splits.test_images, splits.test_labels, test)
    return Splits(train_images, train_labels, val_images, val_labels, test_images, test_labels, splits.name)


def pixel_statistics(images: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of pixel values scaled to [0, 1]: the normalisation the models use."""
    scaled = images.to(torch.float64) / 255.0
    return float(scaled.mean()), float(scaled.std())


def to_float_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N×H×W, or one H×W) → float with a channel axis (N×1×H×W, or 1×H×W) in [0, 1].

    The one conversion every model input goes through (training, evaluation, export, attribution, by hand).
    Used in sections 3.1, 3.2, 4.9, 5.6 and 8.1."""
    return images.unsqueeze(-3).float() / 255.0


def shift_images(images: torch.Tensor, dx: int, dy: int = 0) -> torch.Tensor:
    """Move images (…×H×W) dx pixels right and dy pixels down (negative: left / up), filling the uncovered border
    with zeros (black). Used by the shift demonstration (section 4.8) and the translation probe (section 7.1)."""
    shifted = torch.zeros_like(images)
    height, width = images.shape[-2:]
    src_y = slice(max(0, -dy), height - max(0, dy))
    dst_y = slice(max(0, dy), height - max(0, -dy))
    src_x = slice(max(0, -dx), width - max(0, dx))
    dst_x = slice(max(0, dx), width - max(0, -dx))
    shifted[..., dst_y, dst_x] = images[..., src_y, src_x]
    return shifted
