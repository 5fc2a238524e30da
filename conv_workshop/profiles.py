"""Run budgets: smoke (CI), quick (a laptop CPU) and full (the committed reference run, default on CUDA)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# The dense baseline is cheap and still improving when the CNN's epoch budget ends: it trains this many times as
# long, so that the CNN's lead is not an artifact of an under-trained baseline (notebook section 3 measures both).
DENSE_EPOCH_FACTOR = 3


@dataclass(frozen=True)
class Profile:
    """How much work one notebook run does; every experiment reads its seeds, epochs and data sizes from here."""

    name: str
    subset: tuple[int, int, int] | None  # (train, val, test) sizes of a class-balanced subset; None = all data
    main_epochs: int  # CNN epochs of the headline comparison (the dense baseline trains DENSE_EPOCH_FACTOR × this)
    experiment_epochs: int  # CNN epochs of each controlled-experiment variant
    seeds: tuple[int, ...]  # seeds of every CNN trained on more than cheap_train_size images (secondary tests)
    primary_seeds: tuple[int, ...]  # seeds of those CNNs in the primary family (headline, kernel size)
    cheap_seeds: tuple[int, ...]  # seeds of cheap runs: dense models, and CNNs on at most cheap_train_size images
    cheap_train_size: int  # CNNs on this many training images or fewer are cheap (under ~30 s on a 2-core CPU)
    experiment_train_size: int | None  # training images of each variant (None = the whole training split)
    data_sizes: tuple[int, ...]  # training-set sizes of the data-efficiency probe
    min_images_seen: int  # small training sets get more epochs, so every model sees at least this many images
    probe_test_size: int | None  # test images for the translation probe (None = the whole test split)
    cpu_budget_minutes: int  # the whole notebook must run within this on a 2-core CPU (measured: benchmarks section)

    def seeds_for(self, config, train_size: int, primary: bool = False) -> tuple[int, ...]:
        """More seeds where a run is cheap (every dense model, small training sets) or answers a primary question:
        the budget goes to resolution."""
        cheap = getattr(config, "kind", "") == "dense" or train_size <= self.cheap_train_size
        if cheap:
            return tuple(sorted(set(self.cheap_seeds) | set(self.primary_seeds if primary else ())))
        return self.primary_seeds if primary else self.seeds

    def data_size_epochs(self, train_size: int, full_size: int) -> int:
        """CNN epochs of the data-size probe: the headline budget on the whole split, epochs_for on subsets (so the
        experiments' own training-set size reuses the controlled experiments' reference runs)."""
        return self.main_epochs if train_size >= full_size else self.epochs_for(train_size)

    def epochs_for(self, train_size: int, epochs: int | None = None, cap: int = 100) -> int:
        """Epochs for a training set of train_size images: at least `epochs`, and enough to see min_images_seen."""
        epochs = epochs or self.experiment_epochs
        return min(cap, max(epochs, math.ceil(self.min_images_seen / train_size)))


PROFILES = {
    "smoke": Profile("smoke", subset=(2_000, 500, 1_000), main_epochs=1, experiment_epochs=1, seeds=(0,),
                     primary_seeds=(0,), cheap_seeds=(0,), cheap_train_size=0, experiment_train_size=None,
                     data_sizes=(200, 1_000),
                     min_images_seen=1_000, probe_test_size=None, cpu_budget_minutes=3),
    # quick: three seeds where a learner's laptop run should reach a verdict (the primary family), one elsewhere;
    # the headline CNN trains 3 epochs (full: 8) and the experiments 2 (full: 5), so that it fits 15 minutes.
    "quick": Profile("quick", subset=None, main_epochs=3, experiment_epochs=2, seeds=(0,), primary_seeds=(0, 1, 2),
                     cheap_seeds=(0, 1, 2),
                     cheap_train_size=2_000, experiment_train_size=10_000, data_sizes=(500, 2_000, 10_000),
                     min_images_seen=10_000, probe_test_size=2_000, cpu_budget_minutes=15),
    # Seven seeds per controlled arm and ten per cheap run resolve differences of about half a point (the power
    # calculation of section 6). To fit 90 minutes on a 2-core CPU, the controlled experiments train 5 epochs on
    # 10,000 images (50,000 images seen, as the data-size probe's small sets) and the headline CNN 8 epochs:
    # on all 55,000 images, seven seeds × 10 epochs of every variant would take that CPU over 4 hours.
    "full": Profile("full", subset=None, main_epochs=8, experiment_epochs=5, seeds=tuple(range(7)),
                    primary_seeds=tuple(range(7)), cheap_seeds=tuple(range(10)), cheap_train_size=2_000,
                    experiment_train_size=10_000,
                    data_sizes=(500, 2_000, 10_000, 55_000), min_images_seen=50_000, probe_test_size=5_000,
                    cpu_budget_minutes=90),
}


def choose_profile(name: str | None = None, device: str = "cpu") -> Profile:
    """The profile named (the notebook's PROFILE, else the WORKSHOP_PROFILE setting); by default full on CUDA, quick
    elsewhere."""
    name = name or ("full" if device == "cuda" else "quick")
    if name not in PROFILES:
        raise ValueError(f"WORKSHOP_PROFILE={name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]
