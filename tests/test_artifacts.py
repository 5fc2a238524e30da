"""The committed model artifacts: README snippets work verbatim, and the files re-evaluate to the stated accuracy."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

from conv_workshop.deployment.export import load_model, onnx_parity
from conv_workshop.training import choose_runtime, evaluate

from .conftest import ROOT

ARTIFACTS = ROOT / "fashion_mnist_cnn_model_pytorch"
CARD = json.loads((ARTIFACTS / "model_card.json").read_text())


def readme_snippet(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- snippet: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"README has no snippet {name}"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["checkpoint", "complete", "onnx"])
def test_readme_load_snippets_run_verbatim(name):
    code = readme_snippet(name) + "\nassert tuple(logits.shape) == (2, 10)\n"
    result = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


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
