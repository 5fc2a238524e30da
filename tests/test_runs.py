"""Recorded runs: the row schema, atomic appends, loading, the cache of identical runs, replay, the environment."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from conv_workshop.atomic import write_atomic
from conv_workshop.experiments.runner import (
    Job,
    Recipe,
    RunContext,
    default_train_config,
    run_variants,
    train_and_record,
)
from conv_workshop.experiments.runs import (
    RUN_FIELDS,
    RecordedRuns,
    Recorder,
    ReplayCheck,
    append_rows,
    capture_environment,
    count_reproduced,
    load_runs,
)
from conv_workshop.models import ConvConfig, DenseConfig
from conv_workshop.profiles import DENSE_EPOCH_FACTOR
from conv_workshop.stats import summarise_runs
from conv_workshop.training import Runtime, TrainConfig

FP32 = Runtime("cpu", "cpu", "fp32", channels_last=False)
CHOSEN = Recipe(dense="flip", cnn="flip")  # a recipe as the augmentation experiment would choose it


def test_a_run_records_one_complete_row(tiny_splits, tmp_path):
    recorder = Recorder(tmp_path, "test")
    job = Job("exp", "dense", DenseConfig(), TrainConfig(epochs=1, batch_size=32), seed=3)
    outcome = train_and_record(job, tiny_splits, RunContext(FP32, recorder, progress=False))
    runs = load_runs(recorder.runs_path)
    assert list(runs.columns) == list(RUN_FIELDS) and len(runs) == 1
    row = runs.iloc[0]
    assert row.seed == 3 and row.epochs == 1 and row.train_size == 256 and row.parameters == 109_386
    assert row.device == "cpu" and row.precision == "fp32" and row.torch_version and row.git_commit
    assert json.loads(row.config)["kind"] == "dense"
    assert row.test_accuracy == pytest.approx(outcome.record["test_accuracy"])
    histories = [json.loads(line) for line in recorder.histories_path.read_text().splitlines()]
    assert [h["epoch"] for h in histories[0]["history"]] == [1] and histories[0]["run_id"] == row.run_id


def test_variants_reuse_identical_runs(tiny_splits, tmp_path):
    context = RunContext(FP32, Recorder(tmp_path, "test"), progress=False)
    recorder = context.recorder
    small = ConvConfig(channels=(4,), hidden=8)
    run_variants("a", {"small": small}, tiny_splits, 1, (0,), CHOSEN, context)
    second = run_variants("b", {"same small": small, "wider": ConvConfig(channels=(8,), hidden=8)}, tiny_splits, 1,
                          (0,), CHOSEN, context)
    assert len(load_runs(recorder.runs_path)) == 2  # the repeated config was not trained again
    assert second["same small"][0].record["experiment"] == "a"


def test_one_recipe_for_every_model_with_the_dense_schedule_declared():
    from conv_workshop.experiments.runner import Recipe, RecipeNotChosen, recipe

    assert DENSE_EPOCH_FACTOR > 1
    assert default_train_config(ConvConfig(), 10, "flip") == TrainConfig(epochs=10, augment="flip")
    # Only the dense model's epochs differ (a declared budget difference); its augmentation is its own choice.
    assert default_train_config(DenseConfig(), 10, "none") == TrainConfig(epochs=10 * DENSE_EPOCH_FACTOR)
    assert default_train_config(DenseConfig(), 10, "none", dense_epoch_factor=1).epochs == 10
    chosen = Recipe().choose("dense", "none").choose("CNN", "shift")
    assert recipe(ConvConfig(), 10, chosen)[1].augment == "shift"
    assert recipe(DenseConfig(), 10, chosen)[1].augment == "none"
    with pytest.raises(RecipeNotChosen, match="augmentation experiment first"):
        recipe(ConvConfig(), 10, Recipe())


def test_variants_record_the_epochs_each_model_trained(tiny_splits, tmp_path):
    context = RunContext(FP32, Recorder(tmp_path, "test"), progress=False)
    recorder = context.recorder
    small = ConvConfig(channels=(4,), hidden=8)
    longer = run_variants("a", {"dense": DenseConfig(), "cnn": small}, tiny_splits, 1, (0,), CHOSEN, context)
    equal = run_variants("a", {"dense, 1 epoch": DenseConfig()}, tiny_splits, 1, (0,), CHOSEN, context,
                         dense_epoch_factor=1)
    runs = load_runs(recorder.runs_path).set_index("variant")
    assert runs.loc["dense", "epochs"] == DENSE_EPOCH_FACTOR and runs.loc["cnn", "epochs"] == 1
    assert runs.loc["dense, 1 epoch", "epochs"] == 1  # a different recipe is a different run, not a cache hit
    assert len(longer["dense"][0].fit.history) == DENSE_EPOCH_FACTOR
    assert len(equal["dense, 1 epoch"][0].fit.history) == 1


def test_summary_is_mean_and_std_over_seeds():
    runs = pd.DataFrame({"experiment": ["k"] * 3, "variant": ["3×3"] * 3, "seed": [0, 1, 2], "epochs": 10,
                         "train_size": 55_000, "parameters": 5, "macs": 7, "test_accuracy": [0.90, 0.92, 0.94],
                         "test_loss": 0.3, "best_val_accuracy": 0.9, "train_seconds": [1.0, 2.0, 3.0]})
    table = summarise_runs(runs)
    assert table.seeds.iloc[0] == 3
    assert table.test_accuracy_mean.iloc[0] == pytest.approx(0.92)
    assert table.test_accuracy_std.iloc[0] == pytest.approx(0.02)


def test_the_run_summary_never_averages_one_variant_across_budgets(tmp_path):
    """Records accumulate in a folder: a variant recorded at 2 epochs, then at 5, is two rows of section 12's table."""
    from conv_workshop.experiments.recorded import run_summary

    path = tmp_path / "runs.csv"
    rows = [dict.fromkeys(RUN_FIELDS, 1) | {"experiment": "k", "variant": "3×3", "seed": seed, "epochs": epochs,
                                             "train_size": 10_000, "test_accuracy": accuracy, "recipe_version": 1}
            for seed, epochs, accuracy in ((0, 2, 0.80), (1, 2, 0.82), (0, 5, 0.90))]
    append_rows(path, rows)
    table = run_summary(path)
    assert len(table) == 2 and table["epochs"].tolist() == [2, 5] and table["seeds"].tolist() == [2, 1]


def test_appends_keep_earlier_rows_and_leave_no_temporary_files(tmp_path):
    path = tmp_path / "runs.csv"
    row = {field: 1 for field in RUN_FIELDS}
    append_rows(path, [row])
    append_rows(path, [row, row])
    assert len(load_runs(path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]
    with pytest.raises(ValueError):
        append_rows(path, [{"unknown_field": 1}])
    assert len(load_runs(path)) == 3


def test_write_atomic_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "file.bin"
    write_atomic(path, b"old")

    def broken_replace(*args):
        raise OSError("disk full")

    monkeypatch.setattr("conv_workshop.atomic.os.replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_replay_reuses_records_and_retrains_only_on_demand(tiny_splits, tmp_path):
    first = Recorder(tmp_path, "test")
    small = {"small": ConvConfig(channels=(4,), hidden=8), "dense": DenseConfig()}
    original = run_variants("a", small, tiny_splits, 2, (0, 1), CHOSEN, RunContext(FP32, first, progress=False))
    recorded = load_runs(first.runs_path)
    for path in first.results_dir.glob("models/*.pt"):
        path.unlink()  # a fresh clone: the records are committed, the weights are not
    replay = RecordedRuns(first.results_dir)
    assert len(replay) == 4
    replayed = run_variants("b", small, tiny_splits, 2, (0, 1), CHOSEN,
                            RunContext(FP32, first, replay, progress=False, replay=True))
    # the records stay as they are: nothing appended, nothing renamed
    assert load_runs(first.runs_path).equals(recorded) and set(recorded.experiment) == {"a"}
    outcome = replayed["small"][1]
    assert outcome.source == "replayed" and outcome.model is None
    assert (outcome.test_predictions == original["small"][1].test_predictions).all()
    assert outcome.fit.history == original["small"][1].fit.history
    model = outcome.ensure_model()  # retrained on demand with the same seed: the same numbers on the same machine
    assert outcome.replay_check.recorded == outcome.replay_check.retrained and outcome.replay_check.reproduced
    for a, b in zip(model.state_dict().values(), original["small"][1].model.state_dict().values()):
        assert torch.equal(a, b)


def test_git_commit_marks_code_changes_but_not_the_runs_own_outputs(tmp_path):
    import subprocess

    from conv_workshop.experiments.runs import git_commit

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "runs.csv").write_text("a\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = git_commit(tmp_path)
    assert clean and "+dirty" not in clean and clean != "unknown"
    (tmp_path / "results" / "runs.csv").unlink()  # a notebook run starts by clearing its results
    assert git_commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == clean + "+dirty"


def test_a_recorded_outcome_without_a_way_to_retrain_says_so(tiny_splits, tmp_path):
    recorder = Recorder(tmp_path, "test")
    run_variants("a", {"dense": DenseConfig()}, tiny_splits, 1, (0,), CHOSEN,
                 RunContext(FP32, recorder, progress=False))
    found = next(iter(RecordedRuns(recorder.results_dir).runs))
    outcome = RecordedRuns(recorder.results_dir).find(found)
    assert outcome.model is None and outcome.from_records
    with pytest.raises(ValueError, match="without a way to retrain"):
        outcome.ensure_model()


def test_a_replay_check_reproduces_to_well_under_one_test_image():
    assert ReplayCheck(0.9012, 0.9012).reproduced and not ReplayCheck(0.9012, 0.9013).reproduced
    assert count_reproduced([{"recorded": 0.5, "retrained": 0.5}, {"recorded": 0.5, "retrained": 0.6}]) == 1


def test_the_environment_is_captured_once_for_records_and_checkpoints():
    env = capture_environment(FP32)
    assert env.record_fields()["device"] == "cpu" and env.record_fields()["precision"] == "fp32"
    assert env.versions() == {"torch": str(torch.__version__), "python": env.python, "numpy": env.numpy}
    assert set(env.record_fields()) <= set(RUN_FIELDS)
