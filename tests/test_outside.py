"""The notebook outside the checkout: the wheel, installed with the lock into a fresh virtualenv, and the `.ipynb`
alone in an empty folder, executed there in the smoke profile; its first cell installs the package from
WORKSHOP_PACKAGE. No network: the packages come from this machine's index and the data from the Debian package or
FASHION_MNIST_DIR. Slow (a fresh virtualenv of several GB), so it runs with `-m outside` (`make test-outside`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from .conftest import ROOT

DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command[:4]}…: {result.stderr[-3000:]}"
    return result


@pytest.mark.slow
@pytest.mark.outside
def test_the_notebook_alone_in_an_empty_folder_runs_with_the_wheel_and_the_lock(tmp_path):
    data = os.environ.get("FASHION_MNIST_DIR") or (str(DEBIAN_DATA) if DEBIAN_DATA.is_dir() else None)
    if data is None:
        pytest.skip("needs the Fashion-MNIST files (the Debian package or FASHION_MNIST_DIR): no download here")
    started = time.perf_counter()
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp_path / "wheel",
        ROOT)
    wheel = next((tmp_path / "wheel").glob("conv_workshop-*.whl"))
    venv = tmp_path / "venv"
    run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", ROOT / "requirements.lock", timeout=3600)
    installed = time.perf_counter()

    folder = tmp_path / "empty"
    folder.mkdir()
    notebook = folder / "convolutional_layers_workshop.ipynb"
    notebook.write_bytes((ROOT / "convolutional_layers_workshop.ipynb").read_bytes())
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WORKSHOP_", "PYTHON", "VIRTUAL"))}
    env |= {"WORKSHOP_PROFILE": "smoke", "WORKSHOP_HEADLESS": "1", "WORKSHOP_PROGRESS": "0",
            "WORKSHOP_PACKAGE": str(wheel), "FASHION_MNIST_DIR": data, "PATH": f"{venv / 'bin'}:{env['PATH']}"}
    execute = ("import nbformat, sys; from nbclient import NotebookClient; nb = nbformat.read(sys.argv[1], 4); "
               "NotebookClient(nb, timeout=1200, kernel_name='python3').execute(); nbformat.write(nb, sys.argv[1])")
    run(python, "-c", execute, notebook, cwd=folder, env=env, timeout=1800)
    executed = nbformat.read(notebook, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps(outputs)
    assert "committed full run" in text and "not found" in text, "the notebook says the full run's records are absent"
    assert "no requirements.lock here" in text
    assert (folder / "runs" / "smoke" / "results" / "runs.csv").is_file()
    print(f"outside run: install {installed - started:.0f} s, notebook {time.perf_counter() - installed:.0f} s")
