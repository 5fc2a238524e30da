"""Every setting read from the environment, in one module: how a notebook run is configured and the service's limits.

Nothing else in the package reads `os.environ`. Each field names its variable; `run_settings()` and
`service_settings()` resolve them once, and the notebook's setup table prints what they resolved to. The module
imports no torch, so that the prediction service can use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from .constants import ARTIFACT_DIR


def _flag(value: str | None, default: bool) -> bool:
    """'1' / '0' (also true/false, yes/no); unset keeps the default; anything else is refused with what to send."""
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a flag: send 1 or 0")


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@dataclass(frozen=True)
class RunSettings:
    """How a run of the notebook (or of the CLI) is configured; every field is read from the variable it names."""

    profile: str | None = None  # WORKSHOP_PROFILE: smoke | quick | full; None: full on CUDA, quick elsewhere
    replay: bool = False  # WORKSHOP_REPLAY=1: re-render from the recorded runs instead of training them again
    output_dir: Path | None = None  # WORKSHOP_OUTPUT_DIR: where records go (None: . for full, runs/<profile>/ else)
    data_dir: Path | None = None  # FASHION_MNIST_DIR: a folder holding the four IDX .gz files
    headless: bool = False  # WORKSHOP_HEADLESS=1: no live widgets (executed runs, CI); static figures instead
    progress: bool = True  # WORKSHOP_PROGRESS=0: no progress bars
    git_commit: str | None = None  # WORKSHOP_GIT_COMMIT: the commit to record outside a git checkout

    def table(self) -> dict[str, str]:
        """The resolved settings as {environment variable: value}, for the setup table."""
        return {VARIABLES[f.name]: "—" if getattr(self, f.name) is None else str(getattr(self, f.name))
                for f in fields(self)}


VARIABLES = {"profile": "WORKSHOP_PROFILE", "replay": "WORKSHOP_REPLAY", "output_dir": "WORKSHOP_OUTPUT_DIR",
             "data_dir": "FASHION_MNIST_DIR", "headless": "WORKSHOP_HEADLESS", "progress": "WORKSHOP_PROGRESS",
             "git_commit": "WORKSHOP_GIT_COMMIT"}


def run_settings(environ: Mapping[str, str] | None = None) -> RunSettings:
    """The run settings from the environment (or from `environ`, for tests)."""
    env = os.environ if environ is None else environ
    try:
        return RunSettings(
            profile=env.get("WORKSHOP_PROFILE") or None,
            replay=_flag(env.get("WORKSHOP_REPLAY"), False),
            output_dir=_path(env.get("WORKSHOP_OUTPUT_DIR")),
            data_dir=_path(env.get("FASHION_MNIST_DIR")),
            headless=_flag(env.get("WORKSHOP_HEADLESS"), False),
            progress=_flag(env.get("WORKSHOP_PROGRESS"), True),
            git_commit=env.get("WORKSHOP_GIT_COMMIT") or None,
        )
    except ValueError as error:
        raise ValueError(f"an environment variable of the workshop is malformed: {error}") from None


@dataclass(frozen=True)
class ServiceSettings:
    """The prediction service's model file and limits (see the README's service section)."""

    model_path: Path = ARTIFACT_DIR / "fashion_mnist_cnn.onnx"  # WORKSHOP_ONNX_MODEL


def service_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """The service settings from the environment (or from `environ`, for tests)."""
    env = os.environ if environ is None else environ
    model = env.get("WORKSHOP_ONNX_MODEL")
    return ServiceSettings(model_path=Path(model)) if model else ServiceSettings()
