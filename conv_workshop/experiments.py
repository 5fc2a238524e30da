"""Controlled experiments: train model configs × seeds on the same data and recipe, and record one row per run."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from .data import Splits
from .models import ConvConfig, DenseConfig, ModelConfig, build_model, config_to_dict, count_macs, count_parameters
from .results import RUN_FIELDS, append_jsonl, append_rows, environment_fields, load_runs
from .training import FitResult, Runtime, TrainConfig, evaluate, fit


@dataclass
class Outcome:
    """One finished run: the recorded row, the training history and the trained model (best validation epoch).

    A replayed outcome (see RecordedRuns) has no model until one is asked for; it is then retrained with the
    same seed and recipe, and `replay_check` holds the recorded and the retrained test accuracy.
    """

    record: dict
    fit: FitResult
    trained_model: nn.Module | None = None
    retrain: Callable[[], Outcome] | None = field(default=None, repr=False)
    replay_check: tuple[float, float] | None = None

    @property
    def model(self) -> nn.Module:
        if self.trained_model is None:
            fresh = self.retrain()
            self.trained_model = fresh.trained_model
            self.replay_check = (self.record["test_accuracy"], fresh.record["test_accuracy"])
        return self.trained_model

    @property
    def replayed(self) -> bool:
        return self.retrain is not None


class RecordedRuns:
    """The runs an earlier execution recorded (runs.csv + histories.jsonl), found by what was trained.

    Used to replay a notebook (for example to re-render its figures) without training every run again; a run
    whose model is needed is retrained and checked against its record.
    """

    def __init__(self, runs_path: Path, histories_path: Path):
        self.runs: dict[str, dict] = {}
        self.histories: dict[str, list[dict]] = {}
        if Path(histories_path).exists():
            for line in Path(histories_path).read_text().splitlines():
                item = json.loads(line)
                self.histories[item["run_id"]] = item["history"]
        if Path(runs_path).exists():
            for row in load_runs(runs_path).to_dict(orient="records"):
                record = json.loads(json.dumps(row, default=lambda v: v.item()))
                record["config"], record["train_config"] = json.loads(row["config"]), json.loads(row["train_config"])
                key = run_key(record["config"], record["train_config"], record["seed"], record["data"],
                              record["train_size"])
                self.runs[key] = record

    def __len__(self) -> int:
        return len(self.runs)

    def get(self, key: str) -> tuple[dict, FitResult] | None:
        record = self.runs.get(key)
        if record is None or record["run_id"] not in self.histories:
            return None
        fit_result = FitResult(history=self.histories[record["run_id"]], best_epoch=record["best_epoch"],
                               best_val_accuracy=record["best_val_accuracy"], train_seconds=record["train_seconds"],
                               images_per_second=record["images_per_second"])
        return record, fit_result


@dataclass(frozen=True)
class Recorder:
    """Where runs are recorded: <output_dir>/results/runs.csv and histories.jsonl."""

    output_dir: Path
    profile: str

    @property
    def runs_path(self) -> Path:
        return Path(self.output_dir) / "results" / "runs.csv"

    def record(self, row: dict, history: list[dict]) -> None:
        """Append one run's row and its per-epoch history."""
        append_rows(self.runs_path, [row])
        append_jsonl(self.histories_path, [{"run_id": row["run_id"], "history": history}])

    @property
    def histories_path(self) -> Path:
        return Path(self.output_dir) / "results" / "histories.jsonl"


# The dense baseline is cheap and still improving when the CNN's epoch budget ends: it trains this many times as
# long, so that the CNN's lead is not an artifact of an under-trained baseline (notebook section 3 measures both).
DENSE_EPOCH_FACTOR = 3


def default_train_config(config: ModelConfig, epochs: int, dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> TrainConfig:
    """The recipe shared by every run: the same optimiser, schedule and batch size for all models.

    `epochs` is the CNN's budget. CNNs also see random horizontal flips; the dense model, which flips do not help,
    trains dense_epoch_factor × epochs instead.
    """
    if isinstance(config, ConvConfig):
        return TrainConfig(epochs=epochs, augment="flip")
    return TrainConfig(epochs=epochs * dense_epoch_factor)


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
        "data": splits.name,
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
        recorder.record(record, result.history)
    return Outcome(record=record, fit=result, trained_model=model)


def run_key(config: ModelConfig | dict, train_config: TrainConfig | dict, seed: int, data: str,
            train_size: int) -> str:
    """What makes two runs the same run: model config, recipe, seed, data and its size (not the experiment's name)."""
    config = config if isinstance(config, dict) else config_to_dict(config)
    train_config = train_config if isinstance(train_config, dict) else asdict(train_config)
    return json.dumps([config, train_config, int(seed), data, int(train_size)], sort_keys=True)


def run_variants(experiment: str, variants: dict[str, ModelConfig], splits: Splits, epochs: int,
                 seeds: tuple[int, ...], runtime: Runtime, recorder: Recorder | None,
                 progress: bool = True, cache: dict[str, Outcome] | None = None,
                 replay: RecordedRuns | None = None,
                 dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> dict[str, list[Outcome]]:
    """Every variant × every seed, everything but the variant held fixed; {variant: [outcome per seed]}.

    `epochs` is the CNN budget (see default_train_config for the dense model's).

    With a cache, a run already done by an earlier experiment (the default CNN is the reference of every
    experiment) is reused rather than trained and recorded again. With replay, a run recorded by an earlier
    execution is taken from its record (and recorded again), and only retrained if its model is used.
    """
    outcomes: dict[str, list[Outcome]] = {}
    for variant, config in variants.items():
        outcomes[variant] = []
        for seed in seeds:
            train_config = default_train_config(config, epochs, dense_epoch_factor)
            key = run_key(config, train_config, seed, splits.name, len(splits.train_labels))
            recorded = replay.get(key) if replay is not None else None
            if cache is not None and key in cache:
                outcome = cache[key]
            elif recorded is not None:
                record, fit_result = recorded
                retrain = partial(train_and_record, experiment, variant, config, splits, train_config, seed,
                                  runtime, None, progress=False)
                outcome = Outcome(record=record, fit=fit_result, retrain=retrain)
                if recorder is not None:
                    recorder.record(record, fit_result.history)
                if cache is not None:
                    cache[key] = outcome
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


def mean_of(outcomes: list[Outcome], field_name: str) -> float:
    """The mean over seeds of one recorded field of a variant's runs (test_accuracy, test_loss, train_seconds...)."""
    return float(pd.Series([o.record[field_name] for o in outcomes], dtype=float).mean())


def summarise_outcomes(outcomes: dict[str, list[Outcome]]):
    """One row per variant: mean ± std test accuracy over seeds, parameters, MACs and training time."""
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
    return pd.DataFrame(rows)
