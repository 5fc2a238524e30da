"""README generation: blocks are filled from recorded results, and --check notices a stale README."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict

import pandas as pd

from conv_workshop.experiments import DENSE_EPOCH_FACTOR, default_train_config
from conv_workshop.models import ConvConfig, DenseConfig, config_to_dict
from conv_workshop.profiles import PROFILES
from conv_workshop.report import generated_blocks, probe_summary, profiles_table, render, runs_of, update_readmes

from .conftest import ROOT


def test_render_replaces_only_named_blocks():
    text = "a\n<!-- BEGIN x -->\nold\n<!-- END x -->\nb\n<!-- BEGIN y -->\nkeep\n<!-- END y -->\n"
    expected = text.replace("old", "new")
    assert render(text, {"x": "new"}) == expected


def test_blocks_come_from_the_recorded_results():
    blocks = generated_blocks("en")
    assert "| CNN | 3 | 55,000 | 10 | 468,010 |" in blocks["headline"]
    assert "3×3" in blocks["kernel"] and "7×7" in blocks["kernel"]
    assert "small GAP (16, 32, 64)" in blocks["architecture"]
    assert "precisión de prueba" in generated_blocks("es")["headline"]


def test_check_mode_finds_a_stale_readme(tmp_path):
    for folder in ("results", "fashion_mnist_cnn_model_pytorch"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    stale = (ROOT / "README.md").read_text().replace("| CNN | 3 | 55,000 | 10 |", "| CNN | 3 | 55,000 | 9 |")
    (tmp_path / "README.md").write_text(stale)
    assert update_readmes(check=True, root=tmp_path) == [tmp_path / "README.md"]
    assert update_readmes(root=tmp_path) == [tmp_path / "README.md"]
    assert update_readmes(check=True, root=tmp_path) == []


def _row(experiment, variant, config, epochs, seed, train_size, data="Fashion-MNIST", accuracy=0.9):
    return {"experiment": experiment, "variant": variant, "config": json.dumps(config_to_dict(config)),
            "train_config": json.dumps(asdict(default_train_config(config, epochs))), "seed": seed,
            "epochs": default_train_config(config, epochs).epochs, "data": data, "train_size": train_size,
            "parameters": 1, "macs": 1, "test_accuracy": accuracy, "test_loss": 0.3, "best_val_accuracy": accuracy,
            "train_seconds": 1.0, "profile": "full"}


def test_rows_are_found_by_run_key_not_by_the_label_that_trained_them():
    runs = pd.DataFrame([
        _row("baseline", "CNN", ConvConfig(), 10, seed, 55_000, accuracy=0.93) for seed in (0, 1)
    ] + [
        _row("kernel_size", "3×3", ConvConfig(), 10, seed, 10_000, accuracy=0.90) for seed in (0, 1)
    ] + [
        _row("baseline", "dense baseline", DenseConfig(), 10, seed, 55_000, accuracy=0.89) for seed in (0, 1)
    ])
    assert list(runs_of(runs, ConvConfig(), 10, "Fashion-MNIST", 10_000).experiment) == ["kernel_size"] * 2
    assert runs_of(runs, ConvConfig(kernel_size=5), 10, "Fashion-MNIST", 10_000).empty
    assert runs_of(runs, DenseConfig(), 10, "Fashion-MNIST", 55_000).epochs.tolist() == [10 * DENSE_EPOCH_FACTOR] * 2
    assert runs_of(runs, DenseConfig(), 10, "Fashion-MNIST", 55_000, dense_epoch_factor=1).empty

    probes = probe_summary(runs).set_index("variant")
    # The data-size probe's 10,000 and 55,000 rows are the experiments' and the headline's shared runs.
    assert probes.loc["CNN n=10000", "test_accuracy_mean"] == 0.90
    assert probes.loc["CNN n=55000", "test_accuracy_mean"] == 0.93
    assert probes.loc["CNN (intact)", "train_size"] == 10_000


def test_profiles_table_states_each_budget():
    for language in ("en", "es"):
        table = profiles_table(language)
        for name, profile in PROFILES.items():
            assert f"`{name}`" in table and f"≤ {profile.cpu_budget_minutes} min" in table
