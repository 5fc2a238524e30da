"""tools/run_notebook.py's terminal progress: the section, the training runs done of those to do, the time left."""

from __future__ import annotations

import sys

import jupytext

from conv_workshop.experiments.runs import RUN_FIELDS, append_rows

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import run_notebook  # noqa: E402


def test_progress_counts_the_runs_recorded_since_the_start_and_estimates_the_time_left(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKSHOP_OUTPUT_DIR", str(tmp_path))
    notebook = jupytext.read(ROOT / "convolutional_layers_workshop.py")
    progress = run_notebook.TerminalProgress(notebook, "smoke", expected_seconds=600)
    assert progress.to_train > 2 and progress.sections[0] == ""  # a fresh folder: every planned run to train
    assert "training runs 0/" in progress._line() and "about 10 min left" in progress._line()
    progress.cell_started(None, next(i for i, s in enumerate(progress.sections) if s.startswith("5. ")))
    assert "] 5. " in progress.last
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    row = dict.fromkeys(RUN_FIELDS, 1) | {"train_seconds": 30.0, "recipe_version": 1}
    append_rows(results / "runs.csv", [row, row])
    line = progress._line()
    assert f"training runs 2/{progress.to_train}" in line
    assert f"about {30 * (progress.to_train - 2) / 60:.0f} min of training left" in line


def test_a_fresh_start_counts_every_run_as_to_train_and_reads_the_checkout_from_anywhere(tmp_path, monkeypatch):
    """--fresh puts the records aside: nothing recorded counts; and the records are found from another folder."""
    monkeypatch.setenv("WORKSHOP_OUTPUT_DIR", "runs/smoke")  # relative: the kernel's folder is the checkout
    monkeypatch.chdir(tmp_path)
    notebook = jupytext.read(ROOT / "convolutional_layers_workshop.py")
    progress = run_notebook.TerminalProgress(notebook, "smoke", None, fresh=True)
    assert progress.runs_csv == ROOT / "runs" / "smoke" / "results" / "runs.csv"
    assert progress.rows_at_start == 0 and progress.to_train == len(
        {key for *_, key in run_notebook_planned("smoke")})


def run_notebook_planned(profile: str):
    from conv_workshop.experiments.recorded import planned_runs
    from conv_workshop.experiments.runner import Recipe
    from conv_workshop.profiles import PROFILES

    full = PROFILES[profile]
    return planned_runs(full, Recipe(), full.subset[0])
