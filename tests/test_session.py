"""The notebook's session: in a smaller profile it finds the committed full run's results to show beside the
learner's, by run key, with the same statistics; in the full profile it shows none."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from conv_workshop import session
from conv_workshop.data import Splits
from conv_workshop.experiments.runner import RunContext, default_train_config
from conv_workshop.experiments.runs import RECIPE_VERSION, RUN_FIELDS, Recorder, load_runs
from conv_workshop.layout import COMMITTED, RunLayout
from conv_workshop.models import ConvConfig, config_to_dict
from conv_workshop.profiles import PROFILES
from conv_workshop.settings import RunSettings
from conv_workshop.training import Runtime


def _record(recorder: Recorder, variant: str, config, seed: int, labels: np.ndarray, accuracy: float,
            augment: str = "flip", validation: float = 0.9) -> None:
    rng = np.random.default_rng(seed + int(accuracy * 1000))
    predictions = np.where(rng.random(len(labels)) < accuracy, labels, (labels + 1) % 10).astype(np.uint8)
    row = dict.fromkeys(RUN_FIELDS, 0) | {"recipe_version": RECIPE_VERSION}
    row.update(run_id=f"kernel/{variant}/{seed}", experiment="kernel_size", variant=variant, profile="full",
               config=config_to_dict(config), train_config=asdict(default_train_config(config, 5, augment)), seed=seed,
               epochs=5, data="Fashion-MNIST", train_size=10_000, parameters=1, macs=1,
               test_accuracy=float((predictions == labels).mean()), best_epoch=5, best_val_accuracy=validation)
    recorder.record(row, [{"epoch": 10, "train_loss": 0.1, "val_accuracy": 0.9}], predictions)


def _session(profile: str, labels: torch.Tensor, committed: RunLayout = COMMITTED) -> session.Workshop:
    empty = torch.zeros(0, 28, 28, dtype=torch.uint8)
    splits = Splits(empty, labels[:0], empty, labels[:0], empty, labels[:0])
    return session.Workshop(RunSettings(), PROFILES[profile], RunLayout(Path("unused")),
                            RunContext(Runtime("cpu", "cpu", "fp32", False), Recorder("unused", profile)),
                            SimpleNamespace(test_labels=labels), splits, splits, committed=committed)


def test_smaller_profiles_see_the_committed_full_run(tmp_path, monkeypatch):
    labels = np.arange(2000) % 10
    recorder = Recorder(tmp_path, "full")
    variants = {"3×3": ConvConfig(), "7×7": ConvConfig(kernel_size=7)}
    for seed in range(3):
        _record(recorder, "3×3", variants["3×3"], seed, labels, 0.90)  # also the CNN's augmentation arm "flips"
        _record(recorder, "7×7", variants["7×7"], seed, labels, 0.80)
        for augment in ("none", "shift"):  # lower on validation: the full run chose flips for the CNN
            _record(recorder, f"CNN, {augment}", ConvConfig(), seed, labels, 0.89, augment, validation=0.85)
    quick = _session("quick", torch.from_numpy(labels), RunLayout(tmp_path))
    reference = quick.full_run_effects("kernel size")
    assert set(reference.experiment) == {"kernel size"}  # only what was recorded
    rows = reference.set_index("variant")
    assert str(rows.loc["3×3", "verdict"]) == "reference" and str(rows.loc["7×7", "verdict"]) == "worse"
    assert rows.loc["7×7", "seeds"] == 3 and rows.loc["7×7", "difference"] < -5
    assert rows.loc["7×7", "family_size"] == 3  # the primary family: the unrecorded headline test counts as p = 1
    assert _session("full", torch.from_numpy(labels), RunLayout(tmp_path)).full_run_effects("kernel size") is None
    assert quick.full_run_effects("headline") is None  # nothing of that family was recorded


def test_the_setup_table_prints_every_resolved_setting():
    labels = torch.arange(10)
    table = _session("smoke", labels).setup_table()
    settings = [name for name in table.index if name.startswith("setting ")]
    assert settings == [f"setting {variable}" for variable in RunSettings().table()]
    assert {"torch", "device", "precision", "git commit", "CPU threads"} <= set(table.index)


def _start(monkeypatch, tmp_path, **variables) -> session.Workshop:
    for name in ("WORKSHOP_REPLAY", "WORKSHOP_RESUME", "WORKSHOP_PRECISION", "WORKSHOP_LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"WORKSHOP_OUTPUT_DIR": str(tmp_path), "WORKSHOP_PROFILE": "smoke", **variables}.items():
        monkeypatch.setenv(name, value)
    lab = session.start_session()
    lab.recorder.unlock()
    return lab


def test_workshop_precision_forces_the_arithmetic_and_shows_in_the_table_and_each_record(
        monkeypatch, tmp_path, real_data, tiny_splits):
    from conv_workshop.experiments.runner import Job, train_and_record
    from conv_workshop.models import DenseConfig
    from conv_workshop.training import TrainConfig

    for precision in ("fp32", "bf16"):
        lab = _start(monkeypatch, tmp_path / precision, WORKSHOP_PRECISION=precision)
        table = lab.setup_table()["value"]
        assert lab.runtime.precision == precision == table["precision"] == table["setting WORKSHOP_PRECISION"]
        job = Job("precision", "dense", DenseConfig(), TrainConfig(epochs=1, batch_size=64), seed=0)
        outcome = train_and_record(job, tiny_splits, lab.context)
        assert outcome.record["precision"] == precision
        assert set(load_runs(lab.recorder.runs_path).precision) == {precision}


def test_workshop_language_takes_effect_unless_the_notebook_names_one(monkeypatch, tmp_path, real_data):
    from conv_workshop.i18n import current_language, set_language

    try:
        assert _start(monkeypatch, tmp_path, WORKSHOP_LANGUAGE="es").settings.language == "es"
        assert current_language() == "es"
        assert session.start_session(language="en").settings.language == "en"  # the LANGUAGE parameter wins
        monkeypatch.delenv("WORKSHOP_LANGUAGE")
        assert session.start_session(edition="es").settings.language == "es"  # else the edition's own
        assert session.start_session().settings.language == "en"
    finally:
        set_language("en")


def test_a_session_resolves_its_settings_once(monkeypatch, tmp_path, real_data):
    lab = _start(monkeypatch, tmp_path, WORKSHOP_PRECISION="fp32")
    monkeypatch.setenv("WORKSHOP_PRECISION", "bf16")
    monkeypatch.setenv("WORKSHOP_PROGRESS", "0")
    monkeypatch.setenv("WORKSHOP_OUTPUT_DIR", str(tmp_path / "elsewhere"))
    assert lab.runtime.precision == "fp32" and lab.context.progress and lab.settings.precision == "fp32"
    assert lab.results == tmp_path / "results" and lab.recorder.results_dir == tmp_path / "results"
