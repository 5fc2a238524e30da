"""The command line: usage errors without tracebacks, evaluate/predict/train on small files."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from conv_workshop.cli import main
from conv_workshop.export import save_checkpoint
from conv_workshop.models import ConvConfig, ConvNet

from .conftest import ROOT, write_dataset
from .test_preprocess import encode, garment_photo


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "conv_workshop", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args,message", [
    ((), "required: COMMAND"),
    (("fly",), "invalid choice"),
    (("train", "--epochs", "zero"), "not a whole number"),
    (("train", "--epochs", "0"), "must be at least 1"),
    (("evaluate", "--weights", "no/such/file.pth"), "no such file"),
    (("predict",), "the following arguments are required: IMAGE"),
    (("serve", "--port", "-5"), "must be at least 1"),
])
def test_bad_arguments_give_usage_errors(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and "usage:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "best_model.pth", ConvNet(ConvConfig(channels=(4,), hidden=8)).eval(),
                           metrics={"test_accuracy": 0.1})


def test_corrupt_weights_give_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    assert main(["evaluate", "--weights", str(bad)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error:") and "not a readable checkpoint" in error and "Traceback" not in error


def test_evaluate_on_small_dataset(tmp_path, tiny_counts, checkpoint, capsys):
    write_dataset(tmp_path / "data", tiny_counts, compress=True)
    assert main(["evaluate", "--weights", str(checkpoint), "--data-dir", str(tmp_path / "data")]) == 0
    assert "test accuracy:" in capsys.readouterr().out


def test_evaluate_reports_a_corrupt_dataset(tmp_path, tiny_counts, checkpoint, capsys):
    write_dataset(tmp_path / "data", tiny_counts, compress=False)
    (tmp_path / "data" / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03")
    assert main(["evaluate", "--weights", str(checkpoint), "--data-dir", str(tmp_path / "data")]) == 1
    assert "t10k-images-idx3-ubyte" in capsys.readouterr().err


def test_predict_images(tmp_path, checkpoint, capsys):
    image = tmp_path / "shirt.jpg"
    image.write_bytes(encode(garment_photo(), "JPEG"))
    assert main(["predict", "--weights", str(checkpoint), "--top-k", "2", str(image)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(image)) and line.count("%") == 2


def test_predict_rejects_a_non_image(tmp_path, checkpoint, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert main(["predict", "--weights", str(checkpoint), str(text)]) == 1
    assert "not a readable image" in capsys.readouterr().err


@pytest.mark.realdata
def test_train_dry_run_writes_a_checkpoint(tmp_path, real_data, capsys):
    output = tmp_path / "model.pth"
    assert main(["train", "--dry-run", "--model", "dense", "--output", str(output), "--record", str(tmp_path)]) == 0
    assert output.is_file() and (tmp_path / "results" / "runs.csv").is_file()
    assert '"test_accuracy"' in capsys.readouterr().out
