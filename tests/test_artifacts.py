"""The committed model artifacts: README snippets work verbatim, and the files re-evaluate to the stated accuracy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from conv_workshop.deployment.checkpoint import load_model
from conv_workshop.deployment.export import onnx_parity
from conv_workshop.training import choose_runtime, evaluate

from .conftest import ROOT

ARTIFACTS = ROOT / "fashion_mnist_cnn_model_pytorch"
CARD = json.loads((ARTIFACTS / "model_card.json").read_text())


def readme_snippet(name: str, readme: str = "README.md") -> str:
    text = (ROOT / readme).read_text()
    match = re.search(rf"<!-- snippet: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"{readme} has no snippet {name}"
    return match.group(1)


# What each route must not need: the hub, the complete model and ONNX run without this package (and the first two
# without numpy); the checkpoint route is the one that uses it.
NOT_NEEDED = {"hub": ["conv_workshop.reporting", "conv_workshop.experiments", "numpy", "pandas"],
              "checkpoint": [], "complete": ["conv_workshop", "numpy"], "onnx": ["conv_workshop", "torch"]}
PRINTED = {"hub": "Ankle boot", "onnx": "Ankle boot"}


@pytest.mark.slow
@pytest.mark.parametrize("readme", ["README.md", "README.es.md"])
@pytest.mark.parametrize("name", list(NOT_NEEDED))
def test_readme_use_the_weights_snippets_run_verbatim_beside_a_clone(name, readme, tmp_path):
    """From a folder holding the clone as conv-workshop/ (a link to this checkout), with the modules the route does
    not need made unimportable; the package is on the path only for the hub (torch.hub adds the clone) and the
    checkpoint route."""
    (tmp_path / "conv-workshop").symlink_to(ROOT)
    blocked = f"import sys; sys.modules.update(dict.fromkeys({NOT_NEEDED[name]!r}))\n"
    code = blocked + readme_snippet(name, readme) + "\nassert tuple(logits.shape) in ((1, 10), (2, 10))\n"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    isolated = ["-I"]  # no PYTHONPATH, no current folder on the path: this package is not importable
    if name == "checkpoint":  # the route that installs the package
        env["PYTHONPATH"], isolated = str(ROOT), []
    result = subprocess.run([sys.executable, *isolated, "-W", "error::FutureWarning", "-c", code], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert PRINTED.get(name, "") in result.stdout


def test_checkpoint_is_plain_data():
    checkpoint = torch.load(ARTIFACTS / "best_model.pth", weights_only=True)
    assert checkpoint["class_names"] == CARD["classes"]
    assert checkpoint["metrics"]["test_accuracy"] == CARD["metrics"]["test_accuracy"]


@pytest.mark.realdata
def test_weights_re_evaluate_to_the_stated_accuracy(real_data):
    model, checkpoint = load_model(ARTIFACTS / "best_model.pth")
    metrics = evaluate(model, real_data.test_images, real_data.test_labels, choose_runtime("cpu", "fp32"))
    assert metrics.accuracy == pytest.approx(CARD["metrics"]["test_accuracy"], abs=2e-4)  # ≤ 2 of 10,000 images


@pytest.mark.slow
@pytest.mark.realdata
def test_onnx_matches_pytorch_on_the_whole_test_set(real_data):
    model, _ = load_model(ARTIFACTS / "best_model.pth")
    parity = onnx_parity(ARTIFACTS / "fashion_mnist_cnn.onnx", model, real_data.test_images, real_data.test_labels)
    assert parity["max_abs_logit_diff"] <= 1e-4
    assert parity["prediction_agreement"] >= 0.999
    assert parity["onnx_accuracy"] == pytest.approx(CARD["metrics"]["onnx"]["onnx_accuracy"], abs=2e-4)


def test_readme_tables_are_generated_from_results():
    from conv_workshop.reporting.report import update_readmes

    assert update_readmes(check=True) == [], "run `make report` to regenerate the README tables"


def test_the_model_card_says_what_the_model_is_for_where_it_fails_and_hashes_every_file():
    import hashlib

    assert CARD["license"].startswith("MIT") and CARD["data"]["license"] == "MIT"
    assert "Fashion-MNIST" in CARD["intended_use"] and len(CARD["limitations"]) >= 3
    assert any("2 pixels costs" in limitation for limitation in CARD["limitations"])
    assert CARD["training"]["reproduce"].startswith("make run PROFILE=full")
    low, high = CARD["metrics"]["test_accuracy_95ci"]
    assert low < CARD["metrics"]["test_accuracy"] < high and high - low < 0.02
    hashes = {name: hashlib.sha256((ARTIFACTS / name).read_bytes()).hexdigest() for name in CARD["sha256"]}
    assert hashes == CARD["sha256"] and len(hashes) == 3, "a model file changed after its card was written"


def test_the_onnx_file_carries_its_class_names_and_input():
    import onnx

    metadata = {p.key: p.value for p in onnx.load(ARTIFACTS / "fashion_mnist_cnn.onnx").metadata_props}
    assert json.loads(metadata["class_names"]) == CARD["classes"] and "28" in metadata["input"]
    assert CARD["onnx"]["opset"] >= 17 and set(CARD["onnx"]["metadata"]) == set(metadata)


def test_a_replayed_models_files_and_card_say_the_arithmetic_of_its_weights(tmp_path, tiny_splits):
    """A replay retrains the recorded run: the checkpoint and the card state the retraining's precision, the card
    explains the difference and hashes the files it describes."""
    import hashlib
    from types import SimpleNamespace

    from conv_workshop.deployment.artifacts import save_and_verify, write_model_card
    from conv_workshop.deployment.export import export_onnx
    from conv_workshop.experiments.runs import ReplayCheck
    from conv_workshop.models import ConvConfig, ConvNet

    torch.manual_seed(0)
    model = ConvNet(ConvConfig(channels=(8, 16), hidden=32)).eval()
    record = {"best_val_accuracy": 0.5, "seed": 3, "epochs": 1, "train_size": len(tiny_splits.train_labels),
              "device": "cpu", "device_name": "AMD EPYC", "precision": "bf16", "train_config": {"epochs": 1},
              "test_accuracy": 0.51}
    outcome = SimpleNamespace(record=record, ensure_model=lambda: model, source="replayed",
                              replay_check=ReplayCheck(0.51, 0.5, precision="fp32", device_name="AMD EPYC"))
    saved = save_and_verify(outcome, tmp_path, tiny_splits.test_images, tiny_splits.test_labels, "full")
    assert saved.checkpoint["metrics"]["precision"] == "fp32"
    onnx_path = export_onnx(tmp_path / "fashion_mnist_cnn.onnx", saved.model)
    card = write_model_card(tmp_path / "model_card.json", outcome, saved, {"max_abs_logit_diff": 0.0},
                            tiny_splits.test_images, tiny_splits.test_labels, 10, "2026-12-08")
    assert card["training"]["precision"] == "bf16" and card["training"]["weights_precision"] == "fp32"
    assert "retrained" in card["training"]["weights_note"] and "51.00 %" in card["training"]["weights_note"]
    assert card["sha256"]["fashion_mnist_cnn.onnx"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
