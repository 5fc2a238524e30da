"""Settings: every variable the package reads, declared once, resolved once at start-up, and a malformed value refused
by name with what it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from conv_workshop.layout import RunLayout
from conv_workshop.settings import RunSettings, SettingsError, run_settings, variable

VARIABLES = ("WORKSHOP_PROFILE", "WORKSHOP_REPLAY", "WORKSHOP_RESUME", "WORKSHOP_OUTPUT_DIR", "FASHION_MNIST_DIR",
             "WORKSHOP_HEADLESS", "WORKSHOP_PROGRESS", "WORKSHOP_GIT_COMMIT", "WORKSHOP_LANGUAGE", "WORKSHOP_PRECISION")


@pytest.fixture
def clean(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_unset_variables_give_the_defaults(clean):
    assert run_settings() == RunSettings()
    assert RunSettings().progress and not RunSettings().replay and RunSettings().profile is None
    assert RunSettings().precision is None and RunSettings().language is None


def test_each_variable_reaches_its_field(clean):
    values = {"WORKSHOP_PROFILE": "smoke", "WORKSHOP_REPLAY": "1", "WORKSHOP_RESUME": "0", "WORKSHOP_OUTPUT_DIR": "out",
              "FASHION_MNIST_DIR": "/data/fm", "WORKSHOP_HEADLESS": "true", "WORKSHOP_PROGRESS": "0",
              "WORKSHOP_GIT_COMMIT": "abc123", "WORKSHOP_LANGUAGE": "es", "WORKSHOP_PRECISION": "fp32"}
    for name, value in values.items():
        clean.setenv(name, value)
    settings = run_settings()
    assert settings == RunSettings(profile="smoke", replay=True, resume=False, output_dir=Path("out"),
                                   data_dir=Path("/data/fm"), headless=True, progress=False, git_commit="abc123",
                                   language="es", precision="fp32")
    assert list(settings.table()) == list(VARIABLES) == [variable(name) for name in RunSettings.model_fields]
    assert settings.table()["WORKSHOP_PROFILE"] == "smoke" and settings.table()["WORKSHOP_PROGRESS"] == "False"


def test_an_empty_variable_keeps_the_default(clean):
    clean.setenv("WORKSHOP_LANGUAGE", "")
    clean.setenv("WORKSHOP_RESUME", "")
    assert run_settings() == RunSettings()


@pytest.mark.parametrize("name, value, accepted", [
    ("WORKSHOP_REPLAY", "maybe", "valid boolean"),
    ("WORKSHOP_PRECISION", "fp8", "'bf16', 'fp16' or 'fp32'"),
    ("WORKSHOP_PROFILE", "huge", "'smoke', 'quick' or 'full'"),
    ("WORKSHOP_LANGUAGE", "fr", "'en' or 'es'"),
])
def test_a_malformed_value_names_the_variable_and_what_it_accepts(clean, name, value, accepted):
    clean.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        run_settings()
    assert f"{name}={value!r}" in str(error.value) and accepted in str(error.value)


def test_settings_are_resolved_once(clean):
    """What a session resolved at its start is what it uses: the environment changing later has no effect."""
    clean.setenv("WORKSHOP_PRECISION", "fp32")
    settings = run_settings()
    clean.setenv("WORKSHOP_PRECISION", "bf16")
    clean.setenv("WORKSHOP_PROGRESS", "0")
    assert settings.precision == "fp32" and settings.progress
    with pytest.raises(ValidationError, match="frozen"):
        settings.precision = "bf16"  # frozen: nothing downstream can change it either


def test_the_output_folder_follows_the_setting(clean, tmp_path):
    assert RunLayout.for_profile("full").root == Path(".")
    assert RunLayout.for_profile("smoke").runs_csv == Path("runs/smoke/results/runs.csv")
    assert RunLayout.for_profile("quick", tmp_path).results == tmp_path / "results"


def test_a_replay_with_a_fresh_start_is_refused_before_anything_moves(clean):
    clean.setenv("WORKSHOP_REPLAY", "1")
    clean.setenv("WORKSHOP_RESUME", "0")
    with pytest.raises(SettingsError, match="choose one of the two"):
        run_settings().check()
    clean.delenv("WORKSHOP_RESUME")
    run_settings().check()  # a replay of the records as they are is fine
