"""The notebook: built by tools/build_notebook.py, committed with a clean full-profile run, runnable (smoke)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

from .conftest import ROOT

NOTEBOOK = ROOT / "convolutional_layers_workshop.ipynb"


def committed():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_cells_match_the_builder():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_notebook
    finally:
        sys.path.pop(0)
    built = build_notebook.build()
    assert [c.source for c in committed().cells] == [c.source for c in built.cells], (
        "the notebook's cells differ from tools/build_notebook.py: edit the builder, then re-run the notebook")


def test_committed_run_is_complete_and_clean():
    notebook = committed()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    missing = [c.source[:40] for c in code if not c.outputs]
    assert not missing, f"code cells without outputs: {missing}"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "executed once, in order"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps([o for o in outputs if "image/png" not in o.get("data", {})])
    assert not re.search(r"/(work|root|home|tmp|opt|Users)/", text), "no absolute paths of a machine in outputs"
    assert "profile `full`" in text


def test_each_section_from_2_to_5_has_a_figure():
    section, figures = None, {}
    for cell in committed().cells:
        if cell.cell_type == "markdown" and (match := re.match(r"## (\d+)[a-c]?\. ", cell.source)):
            section = int(match.group(1))
        elif cell.cell_type == "code":
            figures[section] = figures.get(section, 0) + sum("image/png" in o.get("data", {}) for o in cell.outputs)
    assert all(figures.get(s, 0) >= 1 for s in (2, 3, 4, 5)), figures


def test_committed_numbers_agree_with_results_and_weights():
    run = json.loads((ROOT / "results" / "notebook_run.json").read_text())
    card = json.loads((ROOT / "fashion_mnist_cnn_model_pytorch" / "model_card.json").read_text())
    text = json.dumps([o for c in committed().cells if c.cell_type == "code" for o in c.outputs])
    assert run["profile"] == "full"
    assert f"{card['metrics']['test_accuracy']:.2%}" in text  # the saved model's accuracy is what the notebook says


@pytest.mark.slow
@pytest.mark.realdata
def test_smoke_profile_executes(tmp_path, real_data):
    output = tmp_path / "executed.ipynb"
    committed_before = NOTEBOOK.read_bytes()
    env = {**os.environ, "WORKSHOP_OUTPUT_DIR": str(tmp_path / "out")}
    result = subprocess.run([sys.executable, "tools/run_notebook.py", "--profile", "smoke", "--output", str(output)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    executed = nbformat.read(output, as_version=4)
    assert not [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert (tmp_path / "out" / "results" / "runs.csv").is_file()
    assert (tmp_path / "out" / "fashion_mnist_cnn_model_pytorch" / "fashion_mnist_cnn.onnx").is_file()
    assert NOTEBOOK.read_bytes() == committed_before, "a smoke run must never touch the committed outputs"
