"""The command line: usage errors without tracebacks, evaluate/predict/train on small files."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from conv_workshop.cli import main
from conv_workshop.deployment.checkpoint import save_checkpoint
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
    (("serve", "--port", "70000"), "not a TCP port"),
    (("export", "--output-dir", "README.md"), "README.md is a file: pass a folder"),
    (("export", "--output-dir", "README.md/inside"), "README.md is a file: pass a folder"),
    (("train", "--output", "conv_workshop"), "conv_workshop is a folder: pass a file name"),
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


def _save_variant(tmp_path, checkpoint, name, change):
    """A copy of the checkpoint with one part changed, saved as plain data: what a foreign or edited file is."""
    import io

    content = dict(torch.load(checkpoint, weights_only=True))
    change(content)
    buffer = io.BytesIO()
    torch.save(content, buffer)
    (tmp_path / name).write_bytes(buffer.getvalue())
    return tmp_path / name


def _drop(key):
    return lambda content: content.pop(key)


def _config(**values):
    return lambda content: content.update(model_config={**content["model_config"], **values})


def _weights(change):
    return lambda content: content.update(state_dict=change(dict(content["state_dict"])))


@pytest.mark.parametrize("change,message", [
    (_drop("model_config"), "has no model_config"),
    (_drop("state_dict"), "has no state_dict"),
    (_config(colour=3), "does not describe a model of this version .*'colour'"),
    (_config(kind="transformer"), "does not describe a model of this version .*'transformer'"),
    (_weights(lambda weights: {**weights, "extra.weight": torch.zeros(1)}), r"unknown: \['extra.weight'\]"),
    (_weights(lambda weights: {k: v for k, v in list(weights.items())[1:]}), "missing: \\['"),
    (_weights(lambda weights: {k: torch.zeros(3) for k in weights}), "size mismatch"),
])
@pytest.mark.parametrize("command", ["predict", "export"])
def test_a_foreign_checkpoint_is_one_line(tmp_path, checkpoint, capsys, change, message, command):
    import re

    bad = _save_variant(tmp_path, checkpoint, "foreign.pth", change)
    image = tmp_path / "shirt.png"
    image.write_bytes(encode(garment_photo()))
    arguments = [str(image)] if command == "predict" else ["--output-dir", str(tmp_path / "out")]
    assert main([command, "--weights", str(bad), *arguments]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {bad}:") and error.count("\n") == 1 and re.search(message, error), error


@pytest.mark.parametrize("content", [b"garbage", b""])
def test_a_bad_onnx_file_is_one_line(tmp_path, capsys, content):
    model = tmp_path / "bad.onnx"
    model.write_bytes(content)
    image = tmp_path / "shirt.png"
    image.write_bytes(encode(garment_photo()))
    assert main(["predict", "--weights", str(model), str(image)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {model}: not an ONNX model") and "python -m conv_workshop export" in error


def test_predict_names_the_image_that_is_wrong(tmp_path, checkpoint, capsys):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    good.write_bytes(encode(garment_photo()))
    bad.write_bytes(b"not an image")
    assert main(["predict", "--weights", str(checkpoint), str(good), str(bad)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {bad}: not a readable image")


def test_a_bug_is_not_hidden_as_a_user_error(tmp_path, checkpoint, monkeypatch):
    """A ValueError from the code (not from the user's input) keeps its traceback."""
    image = tmp_path / "shirt.png"
    image.write_bytes(encode(garment_photo()))
    monkeypatch.setattr("conv_workshop.serving.preprocess.bytes_to_array", lambda *args: int("a bug"))
    with pytest.raises(ValueError, match="invalid literal"):
        main(["predict", "--weights", str(checkpoint), str(image)])


def test_export_to_a_path_through_a_file_is_a_usage_error(tmp_path, checkpoint):
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    result = run_cli("export", "--weights", str(checkpoint), "--output-dir", str(blocker))
    assert result.returncode == 2 and "is a file: pass a folder" in result.stderr and "Traceback" not in result.stderr


def test_help_and_errors_name_the_entry_point_the_user_ran():
    from conv_workshop.cli import build_parser, program_name

    assert program_name("/venv/bin/conv-workshop") == "conv-workshop"
    assert program_name("/checkout/conv_workshop/__main__.py") == "python -m conv_workshop"
    assert build_parser("conv-workshop").format_usage().startswith("usage: conv-workshop ")
