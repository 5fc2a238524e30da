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
PRINTED = {"hub": "Ankle boot", "onnx": "["}


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
