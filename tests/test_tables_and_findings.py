"""Tables read as a reader reads them, and generated sentences say what the numbers say (verdicts included)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from conv_workshop import stats
from conv_workshop.experiments.runs import Outcome
from conv_workshop.lesson import by_hand
from conv_workshop.models import ConvNet, DenseBaseline, layer_summary
from conv_workshop.reporting import findings, tables
from conv_workshop.stats import REFERENCE, Verdict, effects_table
from conv_workshop.training import FitResult


def _outcomes(accuracies: list[float], labels: np.ndarray, seed: int = 0) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    runs = []
    for accuracy in accuracies:
        predictions = np.where(rng.random(len(labels)) < accuracy, labels, (labels + 1) % 10).astype(np.uint8)
        record = {"test_accuracy": float((predictions == labels).mean()), "train_size": 10_000, "epochs": 10,
                  "train_config": {"augment": "flip"}, "parameters": 468_010, "macs": 18_691_840,
                  "test_loss": 0.3, "train_seconds": 40.0}
        runs.append(Outcome(record=record, fit=FitResult([], 1, 0.9, 1.0, 1.0), test_predictions=predictions))
    return runs


def test_accuracy_has_a_spread_only_with_several_seeds():
    assert tables.accuracy_text(0.93661, 0.0013, 3) == "93.66 ± 0.13"
    assert tables.accuracy_text(0.93661, float("nan"), 1) == "93.66"
    assert tables.difference_text(-0.284, -0.71, 0.15) == "−0.28 [−0.71, +0.15]"
    assert tables.difference_text(1.0, float("nan"), float("nan")) == "+1.00"


def test_effects_tables_and_sentences_follow_the_statistics():
    labels = np.arange(5000) % 10
    groups = {"kernel size": {"3×3": _outcomes([0.90, 0.901, 0.899], labels),
                              "7×7": _outcomes([0.85, 0.851, 0.849], labels, 1),
                              "5×5": _outcomes([0.8995, 0.9005, 0.901], labels, 2)}}
    table = effects_table(groups, torch.from_numpy(labels))
    rows = table.set_index("variant")
    assert str(rows.loc["3×3", "verdict"]) == "reference" and str(rows.loc["7×7", "verdict"]) == "worse"
    assert str(rows.loc["5×5", "verdict"]) == "not resolved with 3 seeds"
    assert rows.loc["7×7", "family_size"] == 2 and rows.loc["7×7", "p_holm"] >= rows.loc["7×7", "p_value"]
    shown = tables.effects(table)
    assert list(shown.columns) == ["variant", "seeds", "parameters", "MACs (M)", "test accuracy (%)",
                                   "difference (points, 95 % CI)", "p (Holm)", "verdict"]
    assert shown.parameters.iloc[0] == "468,010" and shown["MACs (M)"].iloc[0] == "18.7"
    sentence = findings.describe_effects(table)
    assert "7×7 minus 3×3" in sentence and "(worse)" in sentence and "(not resolved with 3 seeds)" in sentence
    assert "better" not in sentence
    assert "**1** are resolved as better or worse" in findings.describe_resolution(table)


def test_layer_tables_name_layers_for_people():
    names = tables.layer_names(layer_summary(ConvNet()))
    assert names[:3] == ["normalise", "block 1, conv 1", "block 1, batch norm 1"]
    assert "block 2, max pool" in names and "head, linear 1" in names
    table = tables.layers(layer_summary(DenseBaseline()))
    assert table.iloc[-1].layer == "total" and table.iloc[-1].parameters == "109,386"
    cnn = ConvNet()
    costs = by_hand.conv_cost_check(cnn)
    assert (costs["parameters (formula)"] == costs["parameters (layer_summary)"]).all() and len(costs) == 4
    shown = tables.conv_costs(costs, layer_summary(cnn))
    assert shown.layer.tolist()[:2] == ["block 1, conv 1", "block 1, conv 2"]
    assert shown["parameters (formula)"].iloc[-1] == "36,864"  # 64 × 64 × 9 (batch norm follows: no bias)


def test_translation_table_gives_a_mean_and_interval_per_shift():
    curve = pd.DataFrame([{"model": "CNN", "seed": s, "direction": d, "shift": shift,
                           "accuracy": 0.9 - shift / 20 + s / 100} for s in range(3) for shift in range(7)
                          for d in ("horizontal", "vertical", "diagonal")])
    table = tables.translation(stats.shift_accuracy(curve))
    assert table.loc[("horizontal", 0), "CNN"] == "91.0 [88.5, 93.5]"
    similarity = pd.DataFrame([{"direction": d, "shift": 4, "similarity": v}
                               for d, v in (("horizontal", 0.68), ("vertical", 0.72))])
    text = findings.describe_translation(curve.assign(model="CNN"), similarity)
    assert "0.72 with its 4-pixel vertical shift" in text


def test_one_seed_is_reported_as_unresolved():
    labels = np.arange(1000) % 10
    groups = {"x": {"a": _outcomes([0.9], labels), "b": _outcomes([0.7], labels, 1)}}
    table = effects_table(groups, torch.from_numpy(labels))
    row = table.set_index("variant").loc["b"]
    assert str(row.verdict) == "not resolved with 1 seed" and math.isnan(row.low)
    assert tables.effects(table).iloc[1]["test accuracy (%)"].count("±") == 0


def test_the_shift_claim_is_refuted_only_when_the_interval_of_the_drop_excludes_zero():
    from conv_workshop.stats import shift_test

    assert str(shift_test([3.0, 3.4, 2.8]).verdict).startswith("not invariant: accuracy falls by 3.1 points")
    assert str(shift_test([1.0, -0.8, 0.3]).verdict) == "not resolved with 3 seeds"
    assert str(shift_test([2.0, float("nan")]).verdict) == "one seed: no test"
    assert str(shift_test([]).verdict) == "not measured"


def test_integer_columns_get_thousands_separators_and_the_rest_is_left_alone():
    frame = pd.DataFrame({"name": ["a"], "macs": [7_225_344], "bias": [True], "share": [0.5]})
    shown = tables.with_thousands(frame)
    assert shown.loc[0, "macs"] == "7,225,344" and shown.loc[0, "bias"] and shown.loc[0, "share"] == 0.5


def test_a_negative_difference_that_rounds_to_zero_keeps_its_sign():
    # "[0.00, +0.94]" would hide that zero is inside the interval.
    assert tables.difference_text(-0.001, -0.004, 0.94) == "−0.00 [−0.00, +0.94]"
    assert tables.difference_text(0.0, -0.5, 0.5) == "0.00 [−0.50, +0.50]"
    assert tables.difference_text(-0.37, -0.83, 0.09) == "−0.37 [−0.83, +0.09]"


def test_data_size_finding_gives_every_size_and_does_not_claim_a_trend():
    dense = {500: 0.80, 55_000: 0.89}  # the same lead in points is a larger share of fewer errors
    rows = pd.DataFrame([{"experiment": f"n={n}", "variant": v, "train_size": n, "difference": d, "low": d - 0.5,
                          "high": d + 0.5, "verdict": REFERENCE if v == "dense" else Verdict("better"),
                          "test_accuracy_mean": dense[n] + (d / 100 if v == "CNN" else 0.0)}
                         for n, d in ((500, 4.5), (55_000, 4.6)) for v in ("dense", "CNN")])
    text = findings.describe_data_size(rows)
    assert "500 images: **+4.50 [+4.00, +5.00] points** (better)" in text and "55,000 images" in text
    assert "trend" not in text and "between +4.5 and +4.6 points" in text  # the interaction test is separate
    assert "23 % fewer errors with 500 images, 42 % fewer errors with 55,000 images" in text


def test_run_facts_summarise_the_replay_checks():
    run = {"profile": "full", "device": "cpu", "device_name": "x", "precision": "bf16", "date": "d", "minutes": 9.4,
           "training_runs": 99, "replayed_runs": 99, "retrained_for_models": 2,
           "replay_checks": [{"variant": "CNN", "seed": 0, "recorded": 0.9389, "retrained": 0.9389},
                             {"variant": "dense baseline", "seed": 0, "recorded": 0.86, "retrained": 0.85}]}
    text = findings.describe_run(run, "results/runs.csv")
    assert "1 of 2 reproducing their recorded test accuracy" in text and "seed 0" not in text


def test_run_facts_say_why_a_replay_in_other_arithmetic_differs_from_its_records():
    run = {"profile": "full", "device": "cpu", "device_name": "AMD EPYC", "precision": "fp32", "date": "d",
           "minutes": 9.4, "training_runs": 99, "replayed_runs": 99, "retrained_for_models": 1,
           "recorded_device_name": "AMD EPYC, bf16",
           "replay_checks": [{"variant": "CNN", "seed": 0, "recorded": 0.9389, "retrained": 0.9370}]}
    text = findings.describe_run(run, "results/runs.csv")
    assert "another processor or arithmetic (AMD EPYC, bf16; this run: AMD EPYC, fp32)" in text
    same = {**run, "precision": "bf16"}  # same processor and precision: no excuse is offered
    assert "another processor" not in findings.describe_run(same, "results/runs.csv")


def test_the_pareto_table_lists_every_configuration_numbered_and_says_which_front():
    points = pd.DataFrame({"experiment": ["a"] * 4, "variant": ["small", "big", "waste", "cheap compute"],
                           "seeds": 3, "parameters": [10, 100, 200, 150], "macs": [50, 100, 300, 10],
                           "test_accuracy_mean": [0.8, 0.9, 0.85, 0.7], "test_accuracy_std": 0.01})
    shown = tables.pareto(stats.pareto_table(points))
    assert shown.variant.tolist() == ["big", "waste", "small", "cheap compute"]  # every one, most accurate first
    assert shown.index.tolist() == [1, 2, 3, 4] and shown.index.name == "#"  # the figure's key numbers
    assert shown["on the parameters front"].tolist() == ["yes", "no", "yes", "no"]
    assert shown["on the MACs front"].tolist() == ["yes", "no", "yes", "yes"]


def test_the_saved_model_sentence_puts_the_files_beside_the_training_record():
    from types import SimpleNamespace

    saved = SimpleNamespace(seed=0, test_accuracy=0.9387, reloaded_accuracy=0.9387, complete_accuracy=0.9387,
                            test_images=10_000)
    text = findings.describe_saved_model(saved, 0.9389)
    assert "**93.87 %**" in text and "recorded during training, in the runtime's arithmetic: 93.89 %" in text


def test_every_experiment_has_one_key_unique_across_families():
    from conv_workshop.experiments.catalogue import families

    keys = [experiment for family in families().values() for experiment in family.experiments]
    assert len(keys) == len(set(keys)), "an experiment key names two experiments"
    assert {"augmentation, dense", "scrambled, CNN", "small GAP vs dense", "kernel size", "n=500"} <= set(keys)
