"""Controlled experiments: train model configs × seeds on the same data and recipe, and record one row per run."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .data import Splits
from .models import ConvConfig, DenseConfig, ModelConfig, build_model, config_to_dict, count_macs, count_parameters
from .results import RUN_FIELDS, append_jsonl, append_rows, environment_fields, load_runs
from .stats import Arm, compare_family
from .training import FitResult, Runtime, TrainConfig, fit, predict_logits


@dataclass
class Outcome:
    """One finished run: the recorded row, the training history and the trained model (best validation epoch).

    A replayed outcome (see RecordedRuns) has no model until one is asked for; it is then retrained with the
    same seed and recipe, and `replay_check` holds the recorded and the retrained test accuracy.
    """

    record: dict
    fit: FitResult
    test_predictions: np.ndarray  # the predicted class of every test image (uint8), for paired statistics
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

    def __init__(self, runs_path: Path, histories_path: Path, predictions_path: Path | None = None):
        self.runs: dict[str, dict] = {}
        self.histories: dict[str, list[dict]] = {}
        self.predictions: dict[str, np.ndarray] = {}
        predictions_path = Path(predictions_path or Path(runs_path).with_name("predictions.jsonl"))
        if predictions_path.exists():
            for line in predictions_path.read_text().splitlines():
                item = json.loads(line)
                self.predictions[item["run_id"]] = decode_predictions(item["test_predictions"])
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

    def get(self, key: str) -> tuple[dict, FitResult, np.ndarray] | None:
        record = self.runs.get(key)
        if record is None or record["run_id"] not in self.histories or record["run_id"] not in self.predictions:
            return None
        fit_result = FitResult(history=self.histories[record["run_id"]], best_epoch=record["best_epoch"],
                               best_val_accuracy=record["best_val_accuracy"], train_seconds=record["train_seconds"],
                               images_per_second=record["images_per_second"])
        return record, fit_result, self.predictions[record["run_id"]]


@dataclass(frozen=True)
class Recorder:
    """Where runs are recorded: <output_dir>/results/runs.csv, histories.jsonl and predictions.jsonl."""

    output_dir: Path
    profile: str

    @property
    def runs_path(self) -> Path:
        return Path(self.output_dir) / "results" / "runs.csv"

    def record(self, row: dict, history: list[dict], test_predictions: np.ndarray) -> None:
        """Append one run's row, its per-epoch history and its predicted class for every test image."""
        append_rows(self.runs_path, [row])
        append_jsonl(self.histories_path, [{"run_id": row["run_id"], "history": history}])
        append_jsonl(self.predictions_path, [{"run_id": row["run_id"],
                                              "test_predictions": encode_predictions(test_predictions)}])

    @property
    def predictions_path(self) -> Path:
        return Path(self.output_dir) / "results" / "predictions.jsonl"

    @property
    def histories_path(self) -> Path:
        return Path(self.output_dir) / "results" / "histories.jsonl"


def encode_predictions(predictions: np.ndarray) -> str:
    """Predicted classes (uint8) as compressed base64 text: 10,000 predictions take about 5 KB."""
    return base64.b64encode(zlib.compress(np.asarray(predictions, dtype=np.uint8).tobytes(), 9)).decode()


def decode_predictions(text: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8).copy()


# The dense baseline is cheap and still improving when the CNN's epoch budget ends: it trains this many times as
# long, so that the CNN's lead is not an artifact of an under-trained baseline (notebook section 3 measures both).
DENSE_EPOCH_FACTOR = 3


def default_train_config(config: ModelConfig, epochs: int, dense_epoch_factor: int = DENSE_EPOCH_FACTOR,
                         augment: str = "flip") -> TrainConfig:
    """The recipe shared by every run: the same optimiser, schedule, batch size and augmentation for all models.

    `epochs` is the CNN's budget; the dense model trains dense_epoch_factor × epochs, a declared budget difference.
    Every model sees random horizontal flips unless `augment` says otherwise (the augmentation experiment).
    """
    factor = dense_epoch_factor if isinstance(config, DenseConfig) else 1
    return TrainConfig(epochs=epochs * factor, augment=augment)


@dataclass(frozen=True)
class Variant:
    """A model config trained with a recipe other than the default one: its augmentation, or (for a dense model)
    its epoch factor, is the factor under study."""

    config: ModelConfig
    augment: str = "flip"
    dense_epoch_factor: int | None = None  # None: the experiment's factor (DENSE_EPOCH_FACTOR by default)


def recipe(variant: ModelConfig | Variant, epochs: int, dense_epoch_factor: int = DENSE_EPOCH_FACTOR,
           ) -> tuple[ModelConfig, TrainConfig]:
    """The model config and training recipe of a variant trained with a CNN budget of `epochs`."""
    if isinstance(variant, Variant):
        factor = variant.dense_epoch_factor or dense_epoch_factor
        return variant.config, default_train_config(variant.config, epochs, factor, variant.augment)
    return variant, default_train_config(variant, epochs, dense_epoch_factor)


def train_and_record(experiment: str, variant: str, config: ModelConfig, splits: Splits, train_config: TrainConfig,
                     seed: int, runtime: Runtime, recorder: Recorder | None, progress: bool = True) -> Outcome:
    """Train one model from scratch with one seed, test it once, and append its row to the results files."""
    torch.manual_seed(seed)  # the initial weights depend on the seed too
    model = build_model(config)
    result = fit(model, splits.train_images, splits.train_labels, splits.val_images, splits.val_labels,
                 train_config, runtime, seed=seed, progress=progress, description=f"{variant} seed {seed}")
    logits = predict_logits(model, splits.test_images, runtime, train_config.eval_batch_size)
    predictions = logits.argmax(1)
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
        "test_accuracy": float((predictions == splits.test_labels).float().mean()),
        "test_loss": float(torch.nn.functional.cross_entropy(logits, splits.test_labels)),
        "device": runtime.device,
        "device_name": runtime.device_name,
        "precision": runtime.precision,
        **environment_fields(),
    }
    assert set(record) == set(RUN_FIELDS)
    test_predictions = predictions.numpy().astype(np.uint8)
    if recorder is not None:
        recorder.record(record, result.history, test_predictions)
    return Outcome(record=record, fit=result, test_predictions=test_predictions, trained_model=model)


def run_key(config: ModelConfig | dict, train_config: TrainConfig | dict, seed: int, data: str,
            train_size: int) -> str:
    """What makes two runs the same run: model config, recipe, seed, data and its size (not the experiment's name)."""
    config = config if isinstance(config, dict) else config_to_dict(config)
    train_config = train_config if isinstance(train_config, dict) else asdict(train_config)
    return json.dumps([config, train_config, int(seed), data, int(train_size)], sort_keys=True)


SeedChoice = tuple[int, ...] | Callable[[ModelConfig, int], tuple[int, ...]]


def run_variants(experiment: str, variants: dict[str, ModelConfig | Variant], splits: Splits, epochs: int,
                 seeds: SeedChoice, runtime: Runtime, recorder: Recorder | None,
                 progress: bool = True, cache: dict[str, Outcome] | None = None,
                 replay: RecordedRuns | None = None,
                 dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> dict[str, list[Outcome]]:
    """Every variant × its seeds, everything but the variant held fixed; {variant: [outcome per seed]}.

    `epochs` is the CNN budget (see default_train_config for the dense model's). `seeds` is a tuple, or a function
    of (config, training-set size), such as Profile.seeds_for, that gives cheap runs more seeds.

    With a cache, a run already done by an earlier experiment (the default CNN is the reference of every
    experiment) is reused rather than trained and recorded again. With replay, a run recorded by an earlier
    execution is taken from its record (and recorded again), and only retrained if its model is used.
    """
    outcomes: dict[str, list[Outcome]] = {}
    for variant, entry in variants.items():
        config, train_config = recipe(entry, epochs, dense_epoch_factor)
        outcomes[variant] = []
        for seed in (seeds(config, len(splits.train_labels)) if callable(seeds) else seeds):
            key = run_key(config, train_config, seed, splits.name, len(splits.train_labels))
            recorded = replay.get(key) if replay is not None else None
            if cache is not None and key in cache:
                outcome = cache[key]
            elif recorded is not None:
                record, fit_result, predictions = recorded
                retrain = partial(train_and_record, experiment, variant, config, splits, train_config, seed,
                                  runtime, None, progress=False)
                outcome = Outcome(record=record, fit=fit_result, test_predictions=predictions, retrain=retrain)
                if recorder is not None:
                    recorder.record(record, fit_result.history, predictions)
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
    """The kernel-size experiment; the first variant (3×3, the default CNN) is the reference."""
    return {f"{k}×{k}": ConvConfig(kernel_size=k) for k in (3, 5, 7)}


def architecture_variants() -> dict[str, dict[str, ModelConfig]]:
    """The controlled experiments beyond kernel size; each changes one factor of the default CNN (listed first)."""
    base = ConvConfig()
    return {
        "depth": {
            "2 blocks (32, 64)": base,
            "1 block (32)": replace(base, channels=(32,)),
            "3 blocks (32, 64, 128)": replace(base, channels=(32, 64, 128)),
            "1 conv per block": replace(base, convs_per_block=1),
        },
        "downsampling": {"max pooling": base, "stride-2 conv": replace(base, downsample="stride")},
        "padding": {"same": base, "valid": replace(base, padding="valid")},
        "pooling": {"max": base, "average": replace(base, downsample="avg")},
        "width": {"32 → 64 channels": base, "32 → 32 channels": replace(base, channels=(32, 32)),
                  "64 → 128 channels": replace(base, channels=(64, 128))},
        "batch norm": {"with batch norm": base, "without batch norm": replace(base, batch_norm=False)},
        "head": {
            "flatten + dense 128": base,
            "global average pool": replace(base, head="gap"),
            "GAP, 3 blocks (32, 64, 128)": replace(base, head="gap", channels=(32, 64, 128)),
            "small GAP (16, 32, 64)": replace(base, head="gap", channels=(16, 32, 64)),
        },
    }


def controlled_experiments() -> dict[str, dict[str, ModelConfig]]:
    """Kernel size and every architecture experiment: one family of comparisons against the same reference CNN."""
    return {"kernel size": kernel_size_variants(), **architecture_variants()}


def baseline_variants() -> dict[str, ModelConfig]:
    """The headline comparison; the dense baseline (first) is the reference."""
    return {"dense baseline": DenseConfig(), "CNN": ConvConfig()}


def schedule_variants() -> dict[str, ModelConfig | Variant]:
    """The dense baseline with the recipe's longer schedule (first) and with the CNN's own number of epochs."""
    return {"dense baseline": DenseConfig(),
            "dense baseline, CNN's epochs": Variant(DenseConfig(), dense_epoch_factor=1)}


def small_gap_variants() -> dict[str, ModelConfig]:
    """The fair test of 'better accuracy with fewer parameters': the dense baseline (first) against a small CNN with
    a global-average-pooling head, trained on the same images."""
    return {"dense baseline": DenseConfig(), "small GAP (16, 32, 64)": architecture_variants()["head"][
        "small GAP (16, 32, 64)"]}


def data_size_variants(size: int) -> dict[str, ModelConfig]:
    """The data-efficiency probe at one training-set size; the dense baseline (first) is the reference."""
    return {f"dense n={size}": DenseConfig(), f"CNN n={size}": ConvConfig()}


def augmentation_variants() -> dict[str, dict[str, Variant]]:
    """Random horizontal flips off and on, for the dense model and the CNN: what flips add to each model (no flips is
    the reference, so a positive difference means flips help; the default recipe is the one with flips)."""
    return {model: {f"{model}, no flips": Variant(config, augment="none"), f"{model}, flips": Variant(config)}
            for model, config in (("dense", DenseConfig()), ("CNN", ConvConfig()))}


SCRAMBLE_SEED = 0  # the one pixel permutation of the scrambling probe


def scrambling_variants() -> dict[str, dict[str, ModelConfig]]:
    """Each model on intact pixels (first) and on pixels reordered by one fixed permutation (train and test)."""
    return {model: {f"{model} (intact)": config, f"{model} (scrambled)": replace(config, scramble=SCRAMBLE_SEED)}
            for model, config in (("dense", DenseConfig()), ("CNN", ConvConfig()))}


def mean_of(outcomes: list[Outcome], field_name: str) -> float:
    """The mean over seeds of one recorded field of a variant's runs (test_accuracy, test_loss, train_seconds...)."""
    return float(pd.Series([o.record[field_name] for o in outcomes], dtype=float).mean())


def summarise_outcomes(outcomes: dict[str, list[Outcome]]) -> pd.DataFrame:
    """One row per variant: mean ± std test accuracy over seeds, parameters, MACs and training time."""
    rows = []
    for variant, runs in outcomes.items():
        accuracy = pd.Series([o.record["test_accuracy"] for o in runs], dtype=float)
        rows.append({
            "variant": variant,
            "seeds": len(runs),
            "train_size": runs[0].record["train_size"],
            "epochs": runs[0].record["epochs"],
            "augment": runs[0].record["train_config"]["augment"],
            "parameters": runs[0].record["parameters"],
            "macs": runs[0].record["macs"],
            "test_accuracy_mean": accuracy.mean(),
            "test_accuracy_std": accuracy.std() if len(runs) > 1 else float("nan"),
            "test_loss_mean": mean_of(runs, "test_loss"),
            "train_seconds_mean": mean_of(runs, "train_seconds"),
        })
    return pd.DataFrame(rows)


def arm(outcomes: list[Outcome], test_labels: torch.Tensor) -> Arm:
    """A variant's runs as one side of a statistical comparison: accuracy per seed and correctness per image."""
    labels = test_labels.numpy()
    return Arm.of([o.record["test_accuracy"] for o in outcomes],
                  np.stack([o.test_predictions == labels for o in outcomes]))


def effects(groups: dict[str, dict[str, list[Outcome]]], test_labels: torch.Tensor) -> pd.DataFrame:
    """Every variant of every experiment against its experiment's first variant, as ONE family of comparisons.

    One row per (experiment, variant): the summary columns, then the difference from the reference in points with
    its 95 % interval, p, Holm-adjusted p over all comparisons passed together, and the verdict (see stats).
    """
    tables, comparisons = [], {}
    for experiment, outcomes in groups.items():
        reference = next(iter(outcomes))
        tables.append(summarise_outcomes(outcomes).assign(experiment=experiment, reference=reference))
        for variant, runs in outcomes.items():
            if variant != reference:
                comparisons[(experiment, variant)] = (arm(runs, test_labels), arm(outcomes[reference], test_labels))
    table = pd.concat(tables, ignore_index=True)
    family = compare_family(comparisons)
    family["experiment"] = [name[0] for name in family.comparison]
    family["variant"] = [name[1] for name in family.comparison]
    table = table.merge(family.drop(columns="comparison"), on=["experiment", "variant"], how="left")
    table.loc[table.variant == table.reference, "verdict"] = "reference"
    columns = ["experiment", "variant", "reference"]
    return table[columns + [c for c in table.columns if c not in columns]]


def configurations(table: pd.DataFrame) -> pd.DataFrame:
    """Each distinct configuration of an effects table once (the shared reference CNN is named 'default CNN')."""
    unique = table.copy()
    unique.loc[unique.verdict == "reference", "variant"] = "default CNN"
    unique.loc[unique.verdict == "reference", "experiment"] = "all"
    return unique.drop_duplicates(["parameters", "macs", "test_accuracy_mean"]).reset_index(drop=True)


def recorded_outcomes(recorded: RecordedRuns, variants: dict, train_size: int, epochs: int,
                      data: str = "Fashion-MNIST", seeds: range = range(10)) -> dict[str, list[Outcome]]:
    """The recorded runs of these variants (found by run key, whatever experiment trained them), without models."""
    found = {}
    for variant, entry in variants.items():
        config, train_config = recipe(entry, epochs)
        runs = []
        for seed in seeds:
            hit = recorded.get(run_key(config, train_config, seed, data, train_size))
            if hit is not None:
                record, fit_result, predictions = hit
                runs.append(Outcome(record=record, fit=fit_result, test_predictions=predictions))
        if runs:
            found[variant] = runs
    return found
