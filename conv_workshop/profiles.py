"""Run budgets: smoke (CI), quick (a laptop CPU) and full (the committed reference run, default on CUDA)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Profile:
    """How much work one notebook run does; every experiment reads its seeds and epochs from here."""

    name: str
    subset: tuple[int, int, int] | None  # (train, val, test) sizes for a small class-balanced run; None = all
    baseline_epochs: int  # epochs of the dense baseline and the CNN (the headline comparison)
    cnn_epochs: int
    main_seeds: tuple[int, ...]  # seeds of the headline comparison
    experiment_epochs: int  # epochs of each controlled-experiment variant
    experiment_seeds: tuple[int, ...]  # seeds of each controlled-experiment variant
    data_sizes: tuple[int, ...]  # training-set sizes of the data-efficiency probe
    probe_epochs: int  # epochs for the permutation and data-efficiency probes
    probe_seeds: tuple[int, ...]

    @property
    def output_dir(self) -> Path:
        """Where this profile records results: the committed results/ for full, runs/<profile>/ otherwise."""
        override = os.environ.get("WORKSHOP_OUTPUT_DIR")
        if override:
            return Path(override)
        return Path(".") if self.name == "full" else Path("runs") / self.name


PROFILES = {
    "smoke": Profile("smoke", subset=(2_000, 500, 1_000), baseline_epochs=1, cnn_epochs=1, main_seeds=(0,),
                     experiment_epochs=1, experiment_seeds=(0,), data_sizes=(200, 1_000), probe_epochs=1,
                     probe_seeds=(0,)),
    "quick": Profile("quick", subset=None, baseline_epochs=6, cnn_epochs=6, main_seeds=(0,),
                     experiment_epochs=2, experiment_seeds=(0,), data_sizes=(500, 2_000, 10_000), probe_epochs=2,
                     probe_seeds=(0,)),
    "full": Profile("full", subset=None, baseline_epochs=10, cnn_epochs=10, main_seeds=(0, 1, 2),
                    experiment_epochs=10, experiment_seeds=(0, 1, 2), data_sizes=(500, 2_000, 10_000, 55_000),
                    probe_epochs=10, probe_seeds=(0, 1, 2)),
}


def choose_profile(name: str | None = None, device: str = "cpu") -> Profile:
    """The profile named (or $WORKSHOP_PROFILE); by default full on CUDA, quick elsewhere."""
    name = name or os.environ.get("WORKSHOP_PROFILE") or ("full" if device == "cuda" else "quick")
    if name not in PROFILES:
        raise ValueError(f"WORKSHOP_PROFILE={name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]
