"""Controlled experiments: train model configs × seeds on the same data and recipe, and record one row per run."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from .data import Splits
from .models import ConvConfig, DenseConfig, ModelConfig, build_model, config_to_dict, count_macs, count_parameters
from .results import RUN_FIELDS, append_jsonl, append_rows, environment_fields
from .training import FitResult, Runtime, TrainConfig, evaluate, fit


@dataclass
class Outcome:
    """One finished run: the recorded row, the training history and the trained model (best validation epoch)."""

    record: dict
    fit: FitResult
    model: nn.Module


@dataclass(frozen=True)
class Recorder:
    """Where runs are recorded: <output_dir>/results/runs.csv and histories.jsonl."""

    output_dir: Path
    profile: str

    @property
    def runs_path(self) -> Path:
        return Path(self.output_dir) / "results" / "runs.csv"

    @property
    def histories_path(self) -> Path:
        return Path(self.output_dir) / "results" / "histories.jsonl"


def default_train_config(config: ModelConfig, epochs: int) -> TrainConfig:
    """The recipe shared by every run: the same optimiser and schedule for all models, only epochs vary."""
    return TrainConfig(epochs=epochs, augment="flip" if isinstance(config, ConvConfig) else "none")


def train_and_record(experiment: str, variant: str, config: ModelConfig, splits: Splits, train_config: TrainConfig,
                     seed: int, runtime: Runtime, recorder: Recorder | None, progress: bool = True) -> Outcome:
    """Train one model from scratch with one seed, test it once, and append its row to the results files."""
    torch.manual_seed(seed)  # the initial weights depend on the seed too
    model = build_model(config)
    result = fit(model, splits.train_images, splits.train_labels, splits.val_images, splits.val_labels,
                 train_config, runtime, seed=seed, progress=progress, description=f"{variant} seed {seed}")
    test = evaluate(model, splits.test_images, splits.test_labels, runtime, train_config.eval_batch_size)
    timestamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = {
        "run_id": f"{experiment}/{variant}/seed{seed}/{timestamp}",
        "timestamp": timestamp,
        "profile": recorder.profile if recorder else "",
        "experiment": experiment,
        "variant": variant,
        "model": type(model).__name__,
        "config": config_to_dict(config),
        "train_config": asdict(train_config),
        "seed": seed,
        "epochs": train_config.epochs,
        "train_size": len(splits.train_labels),
        "parameters": count_parameters(model),
        "macs": count_macs(model),
        "train_seconds": round(result.train_seconds, 3),
        "images_per_second": round(result.images_per_second, 1),
        "best_epoch": result.best_epoch,
        "best_val_accuracy": result.best_val_accuracy,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "device": runtime.device,
        "device_name": runtime.device_name,
        "precision": runtime.precision,
        **environment_fields(),
    }
    assert set(record) == set(RUN_FIELDS)
    if recorder is not None:
        append_rows(recorder.runs_path, [record])
        append_jsonl(recorder.histories_path, [{"run_id": record["run_id"], "history": result.history}])
    return Outcome(record=record, fit=result, model=model)


def run_key(config: ModelConfig, train_config: TrainConfig, seed: int, train_size: int) -> str:
    """What makes two runs the same run: model config, recipe, seed and data size (not the experiment's name)."""
    return json.dumps([config_to_dict(config), asdict(train_config), seed, train_size], sort_keys=True)


def run_variants(experiment: str, variants: dict[str, ModelConfig], splits: Splits, epochs: int,
                 seeds: tuple[int, ...], runtime: Runtime, recorder: Recorder | None,
                 progress: bool = True, cache: dict[str, Outcome] | None = None) -> dict[str, list[Outcome]]:
    """Every variant × every seed, everything but the variant held fixed; {variant: [outcome per seed]}.

    With a cache, a run already done by an earlier experiment (the default CNN is the reference of every
    experiment) is reused rather than trained and recorded again.
    """
    outcomes: dict[str, list[Outcome]] = {}
    for variant, config in variants.items():
        outcomes[variant] = []
        for seed in seeds:
            train_config = default_train_config(config, epochs)
            key = run_key(config, train_config, seed, len(splits.train_labels))
            if cache is not None and key in cache:
                outcome = cache[key]
            else:
                outcome = train_and_record(experiment, variant, config, splits, train_config, seed, runtime,
                                           recorder, progress)
                if cache is not None:
                    cache[key] = outcome
            outcomes[variant].append(outcome)
    return outcomes


def kernel_size_variants() -> dict[str, ConvConfig]:
    return {f"{k}×{k}": ConvConfig(kernel_size=k) for k in (3, 5, 7)}


def architecture_variants() -> dict[str, dict[str, ModelConfig]]:
    """The controlled experiments beyond kernel size; each changes one factor of the default CNN."""
    base = ConvConfig()
    return {
        "depth": {
            "1 block (32)": replace(base, channels=(32,)),
            "2 blocks (32, 64)": base,
            "3 blocks (32, 64, 128)": replace(base, channels=(32, 64, 128)),
            "1 conv per block": replace(base, convs_per_block=1),
        },
        "downsampling": {"max pooling": base, "stride-2 conv": replace(base, downsample="stride")},
        "padding": {"same": base, "valid": replace(base, padding="valid")},
        "pooling": {"max": base, "average": replace(base, downsample="avg")},
        "batch norm": {"with batch norm": base, "without batch norm": replace(base, batch_norm=False)},
        "width": {"32 → 64 channels": base, "32 → 32 channels": replace(base, channels=(32, 32)),
                  "64 → 128 channels": replace(base, channels=(64, 128))},
        "head": {
            "flatten + dense 128": base,
            "global average pool": replace(base, head="gap"),
            "GAP, 3 blocks (32, 64, 128)": replace(base, head="gap", channels=(32, 64, 128)),
            "small GAP (16, 32, 64)": replace(base, head="gap", channels=(16, 32, 64)),
        },
    }


def baseline_variants() -> dict[str, ModelConfig]:
    return {"dense baseline": DenseConfig(), "CNN": ConvConfig()}


def summarise_outcomes(outcomes: dict[str, list[Outcome]]):
    """One row per variant: mean ± std test accuracy over seeds, parameters, MACs and training time."""
    import pandas as pd

    rows = []
    for variant, runs in outcomes.items():
        accuracy = pd.Series([o.record["test_accuracy"] for o in runs])
        rows.append({
            "variant": variant,
            "seeds": len(runs),
            "epochs": runs[0].record["epochs"],
            "parameters": runs[0].record["parameters"],
            "macs": runs[0].record["macs"],
            "test_accuracy_mean": accuracy.mean(),
            "test_accuracy_std": accuracy.std() if len(runs) > 1 else 0.0,
            "test_loss_mean": sum(o.record["test_loss"] for o in runs) / len(runs),
            "train_seconds_mean": sum(o.record["train_seconds"] for o in runs) / len(runs),
        })
    return pd.DataFrame(rows)


def compare_to_reference(summary, reference: str):
    """Each variant's accuracy difference from the reference variant, and whether it exceeds seed-to-seed noise.

    The rule: a difference counts when it is larger than twice its standard error (sqrt(s1²/n1 + s2²/n2)),
    roughly a 95 % two-sided test; with one seed per variant the noise is unknown and nothing is called.
    """
    import math

    base = summary.set_index("variant").loc[reference]
    rows = []
    for _, row in summary.iterrows():
        delta = row.test_accuracy_mean - base.test_accuracy_mean
        if row.variant == reference:
            verdict, error = "reference", 0.0
        elif min(row.seeds, base.seeds) < 2:
            verdict, error = "one seed: noise unknown", float("nan")
        else:
            error = math.sqrt(row.test_accuracy_std**2 / row.seeds + base.test_accuracy_std**2 / base.seeds)
            verdict = ("better" if delta > 0 else "worse") if abs(delta) > 2 * error else "within noise"
        rows.append({"variant": row.variant, "delta_points": delta * 100, "standard_error_points": error * 100,
                     "verdict": verdict})
    import pandas as pd

    return pd.DataFrame(rows)
