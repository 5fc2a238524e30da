"""The environment check (section 0) and the lock: every requirement is checked, a missing or out-of-range package
is named with its install command before anything else runs, and requirements.lock satisfies the ranges."""

from __future__ import annotations

import re

import jupytext
import pytest
from packaging.requirements import Requirement

from conv_workshop import environment
from conv_workshop.environment import EnvironmentProblem, check_environment, require_environment

from .conftest import ROOT


def ranges(*files: str) -> dict[str, str]:
    found = {}
    for name in files:
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                requirement = Requirement(line)
                found[requirement.name] = str(requirement.specifier)
    return found


def test_every_runtime_requirement_is_checked():
    assert {s.name: s.required for s in check_environment()} == ranges("requirements.txt")


def test_this_environment_passes_and_matches_the_lock():
    statuses = require_environment()
    assert all(s.ok for s in statuses)
    assert "every one at its version in requirements.lock" in environment.describe_packages(statuses)


def test_a_missing_package_is_named_with_its_install_command(capsys):
    real = environment._installed

    def without_captum(name: str) -> str | None:  # captum taken off the path
        return None if name == "captum" else real(name)

    with pytest.raises(EnvironmentProblem, match="1 package"):
        require_environment(without_captum)
    assert capsys.readouterr().out.splitlines() == ['captum: missing. Install it with: %pip install "captum>=0.7"']


def test_an_old_version_is_named_with_the_range_it_must_meet(capsys):
    real = environment._installed
    with pytest.raises(EnvironmentProblem):
        require_environment(lambda name: "2.5.1" if name == "torch" else real(name))
    assert "torch: 2.5.1 installed, outside <2.15,>=2.6. Install it with: %pip install \"torch<2.15,>=2.6\"" in \
        capsys.readouterr().out


def test_the_lock_pins_every_range_with_hashes_and_satisfies_it():
    lock = (ROOT / "requirements.lock").read_text()
    pinned = environment.locked_versions(ROOT / "requirements.lock")
    for name, spec in ranges("requirements.txt", "requirements-dev.txt").items():
        key = environment._normal(name)
        assert key in pinned, f"{name} is not in requirements.lock: run make lock"
        assert Requirement(f"{name}{spec}").specifier.contains(pinned[key], prereleases=True), (name, pinned[key])
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 1)[1])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block), "every pin is hash-checked"


def test_the_notebook_installs_its_own_version_when_the_package_is_missing():
    version = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    cells = [c.source for c in jupytext.read(ROOT / "convolutional_layers_workshop.py").cells if c.cell_type == "code"]
    setup = next(c for c in cells if "WORKSHOP_PACKAGE" in c)
    assert f'"conv-workshop=={version}"' in setup
    assert cells.index(setup) == 1, "the environment check runs right after the parameters, before any import"
