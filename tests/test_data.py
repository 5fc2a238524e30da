"""The loader: IDX parsing (gz and raw), every corruption case, offline search order, and equality with torchvision."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from conv_workshop import data as data_module
from conv_workshop.constants import TRAIN_MEAN, TRAIN_STD
from conv_workshop.data import (
    CLASS_NAMES,
    DatasetFileError,
    balanced_subset,
    load_fashion_mnist,
    pixel_statistics,
    read_idx,
    split_validation,
)

from .conftest import idx_images, idx_labels, write_dataset


@pytest.mark.parametrize("compress", [True, False])
def test_reads_what_was_written(tmp_path, tiny_counts, compress):
    written = write_dataset(tmp_path, tiny_counts, compress)
    loaded = load_fashion_mnist(tmp_path, download=False)
    assert loaded.train_images.dtype == torch.uint8 and loaded.train_labels.dtype == torch.int64
    assert loaded.train_images.shape == (60, 28, 28) and loaded.test_images.shape == (20, 28, 28)
    assert np.array_equal(loaded.train_images.numpy(), written["train_images"])
    assert np.array_equal(loaded.test_labels.numpy(), written["test_labels"])
    assert loaded.class_names == CLASS_NAMES and loaded.source == str(tmp_path)


def test_environment_variable_is_searched(tmp_path, tiny_counts, monkeypatch):
    """FASHION_MNIST_DIR is resolved with the other settings and passed to the loader (which reads no environment)."""
    from conv_workshop.settings import run_settings

    write_dataset(tmp_path, tiny_counts, compress=True)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    assert load_fashion_mnist(run_settings().data_dir, download=False).source == str(tmp_path)


def test_local_copy_means_no_download(tmp_path, tiny_counts, monkeypatch):
    write_dataset(tmp_path / "data" / "FashionMNIST" / "raw", tiny_counts, compress=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(data_module, "_download", lambda folder: pytest.fail("download attempted"))
    assert "FashionMNIST" in load_fashion_mnist().source


def test_download_is_the_last_resort(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(data_module, "DEBIAN_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetFileError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(download=False)
    calls = []
    monkeypatch.setattr(data_module, "_download", lambda folder: calls.append(folder) or (_ for _ in ()).throw(
        DatasetFileError("offline")))
    with pytest.raises(DatasetFileError):
        load_fashion_mnist()
    assert calls, "download should be tried when nothing local exists"


def _corrupt(tmp_path, tiny_counts, name, data):
    write_dataset(tmp_path, tiny_counts, compress=False)
    (tmp_path / name).write_bytes(data)


CORRUPTIONS = {
    "truncated images": ("train-images-idx3-ubyte", lambda: idx_images(np.zeros((60, 28, 28)))[:-100], "truncated"),
    "trailing bytes": ("t10k-labels-idx1-ubyte", lambda: idx_labels(np.zeros(20)) + b"xx", "trailing"),
    "bad magic": ("train-labels-idx1-ubyte", lambda: struct.pack(">II", 1234, 60) + bytes(60), "magic number"),
    "wrong dims": ("t10k-images-idx3-ubyte",
                   lambda: struct.pack(">IIII", 2051, 20, 32, 32) + bytes(20 * 32 * 32), "32×32"),
    "wrong count": ("train-labels-idx1-ubyte", lambda: idx_labels(np.zeros(59)), "expected 60"),
    "label out of range": ("t10k-labels-idx1-ubyte", lambda: idx_labels(np.full(20, 12)), "outside 0–9"),
    "empty file": ("train-images-idx3-ubyte", lambda: b"", "too short"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_files_give_one_clear_error(tmp_path, tiny_counts, case):
    name, make, message = CORRUPTIONS[case]
    _corrupt(tmp_path, tiny_counts, name, make())
    with pytest.raises(DatasetFileError, match=message) as error:
        load_fashion_mnist(tmp_path, download=False)
    assert name in str(error.value) and "apt-get install dataset-fashion-mnist" in str(error.value)


@pytest.mark.parametrize("name,swapped_with", [
    ("train-labels-idx1-ubyte", "train-images-idx3-ubyte"),  # images saved under a labels name
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),  # labels saved under an images name
])
def test_a_file_of_the_other_kind_is_refused_and_named(tmp_path, tiny_counts, name, swapped_with):
    write_dataset(tmp_path, tiny_counts, compress=False)
    (tmp_path / name).write_bytes((tmp_path / swapped_with).read_bytes())
    with pytest.raises(DatasetFileError, match="misnamed or swapped") as error:
        load_fashion_mnist(tmp_path, download=False)
    assert name in str(error.value) and swapped_with not in str(error.value)


def test_read_idx_without_a_kind_reads_either(tmp_path):
    (tmp_path / "images").write_bytes(idx_images(np.zeros((2, 28, 28))))
    assert read_idx(tmp_path / "images").shape == (2, 28, 28)
    with pytest.raises(DatasetFileError, match="holds images .* where the labels file belongs"):
        read_idx(tmp_path / "images", kind="labels")


def test_broken_gzip_is_reported(tmp_path, tiny_counts):
    write_dataset(tmp_path, tiny_counts, compress=True)
    good = (tmp_path / "train-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetFileError, match="train-images-idx3-ubyte.gz"):
        load_fashion_mnist(tmp_path, download=False)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetFileError, match="cannot be read"):
        load_fashion_mnist(tmp_path, download=False)


def test_missing_file_is_named(tmp_path, tiny_counts):
    write_dataset(tmp_path, tiny_counts, compress=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetFileError, match="missing t10k-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path, download=False)


def test_read_idx_gz_and_raw_agree(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    (tmp_path / "a").write_bytes(idx_labels(labels))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_labels(labels)))
    assert np.array_equal(read_idx(tmp_path / "a", 10), read_idx(tmp_path / "a.gz", 10))


def test_validation_split_is_fixed_and_disjoint(tiny_counts, tmp_path):
    write_dataset(tmp_path, tiny_counts, compress=True)
    dataset = load_fashion_mnist(tmp_path, download=False)
    first, second = split_validation(dataset, val_size=10), split_validation(dataset, val_size=10)
    assert torch.equal(first.val_images, second.val_images)
    assert first.sizes() == {"train": 50, "val": 10, "test": 20}
    rows = {bytes(image.numpy()) for image in first.train_images}
    assert not any(bytes(image.numpy()) in rows for image in first.val_images)


def test_balanced_subset_is_balanced():
    labels = torch.arange(1000) % 10
    index = balanced_subset(labels, 205, seed=3)
    counts = torch.bincount(labels[index], minlength=10)
    assert len(index) == 205 and len(set(index.tolist())) == 205
    assert counts.max() - counts.min() <= 1
    assert torch.equal(index, balanced_subset(labels, 205, seed=3))


@pytest.mark.realdata
def test_real_data_counts_and_balance(real_data):
    assert real_data.train_images.shape == (60_000, 28, 28) and real_data.test_images.shape == (10_000, 28, 28)
    assert torch.bincount(real_data.train_labels).tolist() == [6000] * 10
    assert torch.bincount(real_data.test_labels).tolist() == [1000] * 10


@pytest.mark.realdata
def test_normalisation_constants_match_the_training_pixels(real_data):
    mean, std = pixel_statistics(real_data.train_images)
    assert round(mean, 4) == TRAIN_MEAN and round(std, 4) == TRAIN_STD


@pytest.mark.realdata
def test_identical_to_torchvision(real_data, tmp_path):
    torchvision = pytest.importorskip("torchvision")
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    source = real_data.source
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        path = data_module._find_file(data_module.Path(source), stem)
        payload = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        (raw / stem).write_bytes(payload)  # torchvision reads the uncompressed files without checking MD5s
    for train, images, labels in ((True, real_data.train_images, real_data.train_labels),
                                  (False, real_data.test_images, real_data.test_labels)):
        reference = torchvision.datasets.FashionMNIST(str(tmp_path), train=train, download=False)
        assert torch.equal(reference.data, images) and torch.equal(reference.targets, labels)
        assert tuple(reference.classes) == CLASS_NAMES
