"""Nothing finished is lost or trained twice: an interrupted run resumes, a re-run cell reuses its runs, two runs of one
folder refuse to interleave, and cut-short or malformed records are dropped or refused with the file and line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pandas as pd
import pytest

from conv_workshop import session
from conv_workshop.experiments.runner import RunContext
from conv_workshop.experiments.runs import (
    RUN_FIELDS,
    RecordedRuns,
    Recorder,
    RecordsError,
    RecordsLocked,
    append_rows,
    load_runs,
)
from conv_workshop.layout import RunLayout
from conv_workshop.profiles import PROFILES
from conv_workshop.settings import RunSettings
from conv_workshop.training import Runtime

from .conftest import ROOT

# A notebook-sized session in a subprocess: two families of the smoke profile (10 runs: the data sizes' 4 and both
# models' augmentation experiments, 6, which choose the recipe first), then the run's facts.
SESSION = """
from conv_workshop.session import start_session
lab = start_session("smoke")
print("NOTE:", lab.start_note, flush=True)
runs = {**lab.train_family("data size"), **lab.train_family("augmentation")}
models = [o.ensure_model() for variants in runs.values() for outcomes in variants.values() for o in outcomes]
facts = lab.record_run_facts()
print("FACTS:", facts["training_runs"], facts["resumed_runs"], facts["retrained_for_models"], flush=True)
"""
# What may differ between two runs of the same code and seeds: when and how fast they ran, and the checkout's commit
# (which moves if someone commits while the test runs; the training code itself is checked by the resume).
CLOCK = ["run_id", "timestamp", "train_seconds", "images_per_second", "git_commit"]


def _start(folder, **env) -> subprocess.Popen:
    environ = {**os.environ, "WORKSHOP_OUTPUT_DIR": str(folder), "WORKSHOP_PROGRESS": "0", **env}
    return subprocess.Popen([sys.executable, "-c", SESSION], cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _rows(folder) -> int:
    path = folder / "results" / "runs.csv"
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


@pytest.mark.slow
@pytest.mark.realdata
def test_a_run_killed_mid_training_resumes_and_ends_with_the_uninterrupted_records(tmp_path, real_data):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    uninterrupted = _start(whole)
    interrupted = _start(killed)
    deadline = time.monotonic() + 240
    while _rows(killed) < 3 and interrupted.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait()
    kept = load_runs(killed / "results" / "runs.csv")
    assert 3 <= len(kept) < 10, "the run must be killed part-way"
    resumed = _start(killed)
    output = resumed.communicate(timeout=240)[0]
    assert resumed.returncode == 0, output
    assert f"NOTE: {len(kept)} runs found in the records are taken as they are" in output
    assert f"FACTS: 10 {len(kept)} 0" in output  # it trained only the missing runs, and loaded the others' weights
    assert uninterrupted.communicate(timeout=240)[0] and uninterrupted.returncode == 0
    expected = load_runs(whole / "results" / "runs.csv").drop(columns=CLOCK)
    got = load_runs(killed / "results" / "runs.csv")
    assert got.run_id.iloc[:len(kept)].tolist() == kept.run_id.tolist()  # the finished runs were kept, not retrained
    pd.testing.assert_frame_equal(got.drop(columns=CLOCK), expected)


def _recorded(folder, rows: int = 2) -> Recorder:
    recorder = Recorder(folder, "test")
    for i in range(rows):
        row = dict.fromkeys(RUN_FIELDS, 1) | {"run_id": f"r{i}", "seed": i, "config": {"kind": "dense"},
                                              "train_config": {}}
        recorder.record(row, [{"epoch": 1}], [1, 2, 3])
    return recorder


def test_a_cut_short_last_line_is_dropped_with_a_warning(tmp_path):
    recorder = _recorded(tmp_path, rows=3)
    for path in (recorder.runs_path, recorder.histories_path):
        text = path.read_text()
        path.write_text(text[:-7])  # a crash in the middle of writing the last line
    with pytest.warns(UserWarning, match="last line was cut short"):
        assert len(load_runs(recorder.runs_path)) == 2
    with pytest.warns(UserWarning, match="cut short"):
        recorded = RecordedRuns(recorder.results_dir)
    assert len(recorded) == 2  # the third run lost its row and its history: it will be trained again
    with pytest.warns(UserWarning, match="dropped"):  # the next record is not glued to the cut line
        append_rows(recorder.runs_path, [dict.fromkeys(RUN_FIELDS, 2)])
    assert len(load_runs(recorder.runs_path)) == 3


@pytest.mark.parametrize("damage,message", [
    (lambda lines: lines[:1] + ["not,a,row"] + lines[1:], r"runs.csv, line 2: not a record"),
    (lambda lines: [lines[0].replace("seed", "sead")] + lines[1:], r"line 1: the header is not that of a runs file"),
])
def test_a_malformed_record_names_the_file_and_line(tmp_path, damage, message):
    recorder = _recorded(tmp_path)
    lines = recorder.runs_path.read_text().splitlines()
    recorder.runs_path.write_text("\n".join(damage(lines)) + "\n")
    with pytest.raises(RecordsError, match=message):
        load_runs(recorder.runs_path)


def test_a_non_number_where_a_number_belongs_names_the_line(tmp_path):
    recorder = _recorded(tmp_path)
    frame = pd.read_csv(recorder.runs_path).astype({"test_accuracy": object})
    frame.loc[1, "test_accuracy"] = "ninety"
    frame.to_csv(recorder.runs_path, index=False)
    with pytest.raises(RecordsError, match=r"line 3: test_accuracy is 'ninety', not a number"):
        load_runs(recorder.runs_path)


def test_a_second_run_of_the_same_folder_refuses_to_start(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom conv_workshop.experiments.runs import Recorder\n"
        f"Recorder({str(tmp_path)!r}, 'quick').lock()\nprint('locked', flush=True)\ntime.sleep(60)")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RecordsLocked, match=rf"process {holder.pid} .*lock file .*\.lock"):
            Recorder(tmp_path, "quick").lock()
    finally:
        holder.kill()
        holder.wait()
    with pytest.warns(UserWarning, match="which is gone; taken over"):
        Recorder(tmp_path, "quick").lock()  # the holder died without releasing it
    assert json.loads((tmp_path / "results" / ".lock").read_text())["pid"] == os.getpid()
    Recorder(tmp_path, "quick").lock()  # the same process again (a kernel re-running its setup cell)
    Recorder(tmp_path, "quick").unlock()
    assert not (tmp_path / "results" / ".lock").exists()


def test_executing_an_experiment_cell_again_trains_nothing(tiny_splits, tmp_path, monkeypatch):
    said = []
    monkeypatch.setattr(session, "show_markdown", said.append)
    lab = session.Workshop(RunSettings(), PROFILES["smoke"], RunLayout(tmp_path),
                           RunContext(Runtime("cpu", "cpu", "fp32", False), Recorder(tmp_path, "smoke"),
                                      progress=False), SimpleNamespace(test_labels=tiny_splits.test_labels),
                           tiny_splits, tiny_splits)
    first = lab.train_family("augmentation")
    assert said == [] and len(load_runs(lab.recorder.runs_path)) == 6
    again = lab.train_family("augmentation")
    assert said == ["Reused: all 6 runs of the augmentation family were already trained in this session; nothing was "
                    "trained again."]
    assert len(load_runs(lab.recorder.runs_path)) == 6
    assert again["augmentation, CNN"]["CNN, flips"][0] is first["augmentation, CNN"]["CNN, flips"][0]
