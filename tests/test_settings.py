"""Settings: every variable the package reads, resolved in one place, and a malformed value refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from conv_workshop.settings import RunSettings, run_settings


def test_unset_variables_give_the_defaults():
    assert run_settings({}) == RunSettings()
    assert RunSettings().progress and not RunSettings().replay and RunSettings().profile is None


def test_each_variable_reaches_its_field():
    settings = run_settings({"WORKSHOP_PROFILE": "smoke", "WORKSHOP_REPLAY": "1", "WORKSHOP_RESUME": "0",
                             "WORKSHOP_OUTPUT_DIR": "out",
                             "FASHION_MNIST_DIR": "/data/fm", "WORKSHOP_HEADLESS": "true", "WORKSHOP_PROGRESS": "0",
                             "WORKSHOP_GIT_COMMIT": "abc123"})
    assert settings == RunSettings("smoke", True, False, Path("out"), Path("/data/fm"), True, False, "abc123")
    assert settings.table()["WORKSHOP_PROFILE"] == "smoke" and settings.table()["WORKSHOP_PROGRESS"] == "False"


def test_a_malformed_flag_names_the_value_and_what_to_send():
    with pytest.raises(ValueError, match=r"'maybe' is not a flag: send 1 or 0"):
        run_settings({"WORKSHOP_REPLAY": "maybe"})


def test_the_profile_and_output_folder_follow_the_environment(monkeypatch, tmp_path):
    from conv_workshop.profiles import PROFILES, choose_profile

    monkeypatch.setenv("WORKSHOP_PROFILE", "smoke")
    monkeypatch.setenv("WORKSHOP_OUTPUT_DIR", str(tmp_path))
    assert choose_profile().name == "smoke" and PROFILES["quick"].output_dir == tmp_path
    monkeypatch.setenv("WORKSHOP_PROFILE", "huge")
    with pytest.raises(ValueError, match="choose one of smoke, quick, full"):
        choose_profile()
