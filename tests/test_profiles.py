"""Run budgets: default profile by device, environment override, output folders, epochs for small subsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from conv_workshop.layout import RunLayout
from conv_workshop.profiles import PROFILES, choose_profile


def test_default_profile_follows_the_device():
    assert choose_profile(device="cuda").name == "full"
    assert choose_profile(device="cpu").name == "quick"
    assert choose_profile("smoke", device="cuda").name == "smoke"
    with pytest.raises(ValueError, match="choose one of smoke, quick, full"):
        choose_profile("huge")


def test_only_the_full_profile_writes_the_committed_results():
    assert RunLayout.for_profile("full").root == Path(".")
    assert RunLayout.for_profile("smoke").root == Path("runs/smoke")
    assert RunLayout.for_profile("full", Path("/tmp/elsewhere")).root == Path("/tmp/elsewhere")


def test_full_profile_has_seven_seeds_per_cnn_arm_and_ten_where_runs_are_cheap():
    from conv_workshop.models import ConvConfig, DenseConfig

    full, quick = PROFILES["full"], PROFILES["quick"]
    assert len(full.seeds) >= 7 and len(full.primary_seeds) >= 7 and len(full.cheap_seeds) >= 10
    assert full.seeds_for(ConvConfig(), 10_000) == full.seeds
    assert full.seeds_for(DenseConfig(), 55_000) == full.cheap_seeds  # every dense run is cheap
    assert full.seeds_for(ConvConfig(), 2_000) == full.cheap_seeds
    # quick: three seeds where a verdict is promised (the primary family), one elsewhere.
    assert len(quick.seeds_for(ConvConfig(), 55_000, primary=True)) >= 3 and len(quick.seeds) == 1
    # The data-size probe's experiment-sized point reuses the controlled experiments' reference runs.
    assert full.data_size_epochs(full.experiment_train_size, 55_000) == full.experiment_epochs
    # Headline models on all the data; the controlled experiments on a subset, so that full fits a 2-core CPU.
    assert full.subset is None and full.experiment_train_size == 10_000
    assert 10_000 in full.data_sizes  # the data-efficiency probe shares the experiments' reference runs


def test_small_training_sets_get_more_epochs():
    full = PROFILES["full"]
    assert full.epochs_for(500, 10) == 100  # 50,000 images seen
    assert full.epochs_for(2_000, 10) == 25
    assert full.epochs_for(55_000, 10) == 10
    assert full.epochs_for(10, 10) == 100  # capped


def test_the_data_size_probe_uses_the_headline_budget_on_the_whole_split():
    full = PROFILES["full"]
    assert full.data_size_epochs(55_000, 55_000) == full.main_epochs
    assert full.data_size_epochs(500, 55_000) == full.epochs_for(500, full.main_epochs) == 100
