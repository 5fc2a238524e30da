"""Records that outlive edits: a run key names only what a run computes, the committed full run is found again by the
current code, a later run trains only what is missing and says so, nothing is ever deleted, and the arms of one
comparison never mix devices or precisions."""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from conv_workshop import session
from conv_workshop.experiments import catalogue
from conv_workshop.experiments.catalogue import families
from conv_workshop.experiments.recorded import planned_runs, recorded_recipe
from conv_workshop.experiments.runner import (
    Job,
    MissingRecords,
    MixedArithmetic,
    Recipe,
    RunContext,
    run_variants,
)
from conv_workshop.experiments.runs import (
    RECIPE_VERSION,
    RUN_FIELDS,
    RecordedRuns,
    Recorder,
    append_rows,
    load_runs,
    provenance,
    run_key,
)
from conv_workshop.layout import RunLayout
from conv_workshop.models import ConvConfig, DenseConfig, config_to_dict
from conv_workshop.profiles import PROFILES
from conv_workshop.settings import RunSettings
from conv_workshop.training import Runtime, TrainConfig

from .conftest import ROOT

FP32 = Runtime("cpu", "cpu", "fp32", channels_last=False)
BF16 = Runtime("cpu", "cpu", "bf16", channels_last=False)
COMMITTED = ROOT / "results"
RECORD_FILES = ("runs.csv", "histories.jsonl", "predictions.jsonl")


def _full_profile_jobs() -> list[tuple[str, str, str]]:
    """(family, variant, run key) of every run the full profile's catalogue asks for, with the recipe the committed
    run chose, as the notebook's train_family computes them."""
    full = PROFILES["full"]
    chosen = recorded_recipe(RecordedRuns(COMMITTED), full)
    assert chosen.dense and chosen.cnn, "the records no longer choose the recipe"
    return planned_runs(full, chosen)


def test_every_run_the_full_profile_asks_for_is_in_the_committed_records():
    """So a replay retrains only the models figures need, and the README's tables come from the same records."""
    recorded = RecordedRuns(COMMITTED)
    asked = _full_profile_jobs()
    missing = [(family, variant) for family, variant, key in asked if recorded.find(key) is None]
    assert not missing, f"{len(missing)} runs of the full profile are not in results/runs.csv: {missing[:5]}"
    # every committed run is one the catalogue asks for (the reference CNN is shared by many experiments)
    assert {key for *_, key in asked} == set(recorded.runs) and len(recorded) == len(load_runs(COMMITTED / "runs.csv"))


def test_a_replay_of_a_smaller_catalogue_keeps_every_record(tmp_path, tiny_splits):
    results = tmp_path / "results"
    results.mkdir()
    for name in RECORD_FILES:
        shutil.copy(COMMITTED / name, results / name)
    before = {name: (results / name).read_bytes() for name in RECORD_FILES}
    full = PROFILES["full"]
    records = RecordedRuns(results)
    context = RunContext(FP32, Recorder(tmp_path, "full"), records, replay=True, progress=False)
    headline = families(full)["headline"]
    size, epochs = headline.budget("CNN vs dense", full)
    splits = _sized(tiny_splits, size)  # a key holds the training set's size: the full profile's 55,000 images
    runs = run_variants("CNN vs dense", headline.experiments["CNN vs dense"], splits, epochs,
                        lambda config, n: full.seeds_for(config, n, primary=True), recorded_recipe(records, full),
                        context)
    assert sum(len(outcomes) for outcomes in runs.values()) == 17 and all(
        o.from_records for outcomes in runs.values() for o in outcomes)
    assert {name: (results / name).read_bytes() for name in RECORD_FILES} == before  # all 226 rows, as they were
    assert len(load_runs(results / "runs.csv")) == len(load_runs(COMMITTED / "runs.csv"))


class _Sized(list):
    """Labels whose len() is the full training split's (a key holds the size, not the images)."""


def _sized(splits, size: int):
    labels = _Sized(range(size))
    return replace(splits, train_labels=labels)


def test_a_new_config_field_at_its_default_keeps_every_recorded_key():
    """A record written before a field existed lacks it: at its default, the field stays out of the key."""
    full = config_to_dict(ConvConfig(kernel_size=5))
    older = {name: value for name, value in full.items() if name != "batch_norm"}  # as if batch_norm were new
    train = asdict(TrainConfig(epochs=5, augment="flip"))
    older_train = {name: value for name, value in train.items() if name != "label_smoothing"}
    assert run_key(older, older_train, 0, "Fashion-MNIST", 10_000) == run_key(
        ConvConfig(kernel_size=5), TrainConfig(epochs=5, augment="flip"), 0, "Fashion-MNIST", 10_000)
    # a value other than the default is part of what the run computes
    assert run_key(ConvConfig(batch_norm=False), train, 0, "x", 1) != run_key(ConvConfig(), train, 0, "x", 1)
    assert run_key(ConvConfig(), TrainConfig(label_smoothing=0.1), 0, "x", 1) != run_key(ConvConfig(), TrainConfig(),
                                                                                        0, "x", 1)
    # the kind always stays: a dense and a CNN config at their defaults are different runs
    assert run_key(DenseConfig(), train, 0, "x", 1) != run_key(ConvConfig(), train, 0, "x", 1)


def _workshop(folder: Path, splits, runtime: Runtime = FP32, replay: bool = False) -> session.Workshop:
    """A smoke-profile session over tiny data, recording into `folder` and taking what its records already hold."""
    recorder = Recorder(folder, "smoke")
    context = RunContext(runtime, recorder, RecordedRuns(recorder.results_dir), progress=False, replay=replay)
    return session.Workshop(RunSettings(), PROFILES["smoke"], RunLayout(folder), context,
                            SimpleNamespace(test_labels=splits.test_labels), splits, splits)


def _sources(runs) -> list[str]:
    return [o.source for variants in runs.values() for outcomes in variants.values() for o in outcomes]


def _with_headline(monkeypatch, variants: dict) -> None:
    declared = families(PROFILES["smoke"])
    declared["headline"] = replace(declared["headline"], experiments={"CNN vs dense": variants})
    monkeypatch.setattr(session, "families", lambda profile=None: declared)


def test_renaming_and_redocumenting_the_catalogue_keeps_the_records(tmp_path, tiny_splits, monkeypatch):
    """A display name and a docstring are not what a run computes: the next run continues from the records."""
    monkeypatch.setattr(session, "show_markdown", lambda text: None)
    first = _workshop(tmp_path, tiny_splits).train_family("headline")
    recorded = load_runs(tmp_path / "results" / "runs.csv")
    assert "trained" in _sources(first)
    monkeypatch.setattr(catalogue.baseline_variants, "__doc__", "An edited docstring.")
    _with_headline(monkeypatch, {"fully connected": DenseConfig(), "convolutional": ConvConfig()})  # renamed arms
    again = _workshop(tmp_path, tiny_splits).train_family("headline")
    assert set(_sources(again)) == {"resumed"}  # every run taken from the records, with its saved weights
    assert load_runs(tmp_path / "results" / "runs.csv").equals(recorded)


def test_adding_a_variant_trains_only_its_seeds_and_says_so(tmp_path, tiny_splits, monkeypatch):
    said = []
    monkeypatch.setattr(session, "show_markdown", said.append)
    _workshop(tmp_path, tiny_splits).train_family("headline")
    recorded = len(load_runs(tmp_path / "results" / "runs.csv"))
    _with_headline(monkeypatch, {**catalogue.baseline_variants(), "CNN 5×5": ConvConfig(kernel_size=5)})
    runs = _workshop(tmp_path, tiny_splits).train_family("headline")
    assert _sources(runs).count("trained") == len(PROFILES["smoke"].seeds)  # the new variant's seeds, no more
    assert said[-1] == ("New runs trained for the headline family: 1; taken from the records of earlier runs: 2.")
    assert len(load_runs(tmp_path / "results" / "runs.csv")) == recorded + 1


def test_a_comparison_never_mixes_precisions(tmp_path, tiny_splits, monkeypatch):
    """A new arm trained in bf16 against a reference recorded in fp32 refuses before training, and says how on."""
    monkeypatch.setattr(session, "show_markdown", lambda text: None)
    _workshop(tmp_path, tiny_splits).train_family("headline")
    recorded = len(load_runs(tmp_path / "results" / "runs.csv"))
    _with_headline(monkeypatch, {**catalogue.baseline_variants(), "CNN 5×5": ConvConfig(kernel_size=5)})
    with pytest.raises(MixedArithmetic, match=r"cpu in bf16.*recorded on cpu in fp32.*WORKSHOP_PRECISION") as error:
        _workshop(tmp_path, tiny_splits, runtime=BF16).train_family("headline")
    assert "WORKSHOP_RESUME=0" in str(error.value)
    assert len(load_runs(tmp_path / "results" / "runs.csv")) == recorded  # nothing was trained
    # with nothing to train, records of another precision are taken as they are
    monkeypatch.setattr(session, "families", families)
    assert set(_sources(_workshop(tmp_path, tiny_splits, runtime=BF16).train_family("headline"))) == {"resumed"}


def test_a_replay_trains_nothing_new(tmp_path, tiny_splits, monkeypatch):
    monkeypatch.setattr(session, "show_markdown", lambda text: None)
    _workshop(tmp_path, tiny_splits).train_family("headline")
    _with_headline(monkeypatch, {**catalogue.baseline_variants(), "CNN 5×5": ConvConfig(kernel_size=5)})
    with pytest.raises(MissingRecords, match=r"1 of experiment 'CNN vs dense' are not there.*'CNN 5×5', seed 0"):
        _workshop(tmp_path, tiny_splits, replay=True).train_family("headline")


def test_runs_of_another_recipe_version_are_trained_again_and_the_start_says_so(tmp_path, tiny_splits):
    recorder = Recorder(tmp_path, "test")
    job = Job("a", "dense", DenseConfig(), TrainConfig(epochs=1, batch_size=32), 0)
    run_variants("a", {"dense": DenseConfig()}, tiny_splits, 1, (0,), Recipe("none", "none"),
                 RunContext(FP32, recorder, progress=False))
    frame = load_runs(recorder.runs_path)
    frame["recipe_version"] = RECIPE_VERSION - 1
    recorder.runs_path.write_text(frame.to_csv(index=False))
    records = RecordedRuns(recorder.results_dir)
    assert len(records) == 0 and records.other_versions == {RECIPE_VERSION - 1: 1}
    assert records.find(job.key(tiny_splits)) is None
    assert session._records_note(records, replay=False) == (
        f"1 runs recorded by recipe version {RECIPE_VERSION - 1} are trained again (this code computes version "
        f"{RECIPE_VERSION})")


def test_a_fresh_start_puts_the_records_aside_and_deletes_nothing(tmp_path, tiny_splits):
    recorder = Recorder(tmp_path, "test")
    run_variants("a", {"dense": DenseConfig()}, tiny_splits, 1, (0, 1), Recipe("none", "none"),
                 RunContext(FP32, recorder, progress=False))
    before = {name: (recorder.results_dir / name).read_bytes() for name in RECORD_FILES}
    folder = recorder.set_aside()
    assert not recorder.runs_path.exists() and len(RecordedRuns(recorder.results_dir)) == 0
    assert {name: (folder / name).read_bytes() for name in RECORD_FILES} == before
    assert len(list((folder / "models").glob("*.pt"))) == 2
    assert recorder.set_aside() is None  # nothing left to move


def test_a_runs_file_from_before_the_recipe_version_is_read_and_extended(tmp_path):
    path = tmp_path / "runs.csv"
    older = tuple(name for name in RUN_FIELDS if name != "recipe_version")
    row = dict.fromkeys(older, 1) | {"config": {"kind": "dense"}, "train_config": {}}
    append_rows(path, [row], fields=older)
    text = path.read_text()
    assert load_runs(path).recipe_version.tolist() == [1]  # those records were computed by version 1
    append_rows(path, [row | {"recipe_version": 1}])
    lines = path.read_text().splitlines()
    assert lines[0].endswith(",recipe_version") and lines[1] == text.splitlines()[1] + ",1" and len(lines) == 3


def test_the_provenance_names_every_commit_device_and_precision():
    runs = load_runs(COMMITTED / "runs.csv")
    found = provenance(runs)
    assert sum(item["runs"] for item in found) == len(runs)
    assert {(i["git_commit"], i["device"], i["precision"]) for i in found} == set(
        zip(runs.git_commit, runs.device, runs.precision))


def test_a_replay_retrains_and_checks_even_where_saved_weights_exist(tmp_path, tiny_splits):
    """On the machine that trained the records their weights are there; a replay still retrains the models figures
    use and checks them against their records, and says it is a replay."""
    recorder = Recorder(tmp_path, "test")
    chosen = Recipe("none", "none")
    run_variants("a", {"dense": DenseConfig()}, tiny_splits, 1, (0,), chosen,
                 RunContext(FP32, recorder, progress=False))
    assert len(list(recorder.files.models.glob("*.pt"))) == 1
    replayed = run_variants("a", {"dense": DenseConfig()}, tiny_splits, 1, (0,), chosen,
                            RunContext(FP32, recorder, RecordedRuns(recorder.results_dir), progress=False,
                                       replay=True))["dense"][0]
    assert replayed.source == "replayed"
    replayed.ensure_model()
    assert replayed.replay_check is not None and replayed.replay_check.reproduced
    resumed = run_variants("a", {"dense": DenseConfig()}, tiny_splits, 1, (0,), chosen,
                           RunContext(FP32, recorder, RecordedRuns(recorder.results_dir), progress=False))["dense"][0]
    resumed.ensure_model()
    assert resumed.source == "resumed" and resumed.replay_check is None  # its saved weights, loaded


def test_two_variants_with_one_key_in_one_call_train_once(tmp_path, tiny_splits):
    recorder = Recorder(tmp_path, "test")
    runs = run_variants("a", {"dense": DenseConfig(), "the same dense": DenseConfig()}, tiny_splits, 1, (0,),
                        Recipe("none", "none"), RunContext(FP32, recorder, progress=False))
    assert runs["dense"][0] is runs["the same dense"][0] and len(load_runs(recorder.runs_path)) == 1
