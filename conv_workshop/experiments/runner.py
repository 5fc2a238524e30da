"""How runs are trained: the recipe shared by every model, and configs × seeds trained on the same data with it,
each run recorded the moment it ends and never trained twice (a run already recorded is taken from the records).

What is trained is declared in catalogue.py; where runs are recorded and found again is runs.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd
import torch

from ..data import Splits
from ..models import DenseConfig, ModelConfig, build_model, config_to_dict, count_macs, count_parameters
from ..profiles import DENSE_EPOCH_FACTOR
from ..stats import validation_summary
from ..training import Runtime, TrainConfig, fit, predict_logits
from .catalogue import Variant, model_kind
from .runs import RECIPE_VERSION, RUN_FIELDS, Outcome, RecordedRuns, Recorder, capture_environment, run_key


def default_train_config(config: ModelConfig, epochs: int, augment: str,
                         dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> TrainConfig:
    """The recipe shared by every run: the same optimiser, schedule and batch size for all models.

    `epochs` is the CNN's budget; the dense model trains dense_epoch_factor × epochs, a declared budget difference.
    `augment` is the model's own augmentation (Recipe), chosen on validation data by the augmentation experiment.
    """
    factor = dense_epoch_factor if isinstance(config, DenseConfig) else 1
    return TrainConfig(epochs=epochs * factor, augment=augment)


class RecipeNotChosen(RuntimeError):
    """A run asked for a model kind's augmentation before the augmentation experiment chose it."""


@dataclass(frozen=True)
class Recipe:
    """The augmentation each kind of model trains with, everything else being shared: each model at its own best,
    chosen on validation accuracy by the augmentation experiment (choose_augmentation), never on test data."""

    dense: str | None = None  # one of training.AUGMENTATIONS, or None before the choice
    cnn: str | None = None

    def augment_for(self, config: ModelConfig) -> str:
        chosen = self.dense if model_kind(config) == "dense" else self.cnn
        if chosen is None:
            raise RecipeNotChosen(f"the {model_kind(config)} model's augmentation is not chosen yet: run its "
                                  "augmentation experiment first (Workshop.choose_augmentation)")
        return chosen

    def is_chosen(self, kind: str) -> bool:
        return (self.dense if kind == "dense" else self.cnn) is not None

    def choose(self, kind: str, augment: str) -> Recipe:
        return replace(self, **{"dense" if kind == "dense" else "cnn": augment})


def recipe(variant: ModelConfig | Variant, epochs: int, chosen: Recipe,
           dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> tuple[ModelConfig, TrainConfig]:
    """The model config and training recipe of a variant trained with a CNN budget of `epochs`."""
    entry = variant if isinstance(variant, Variant) else Variant(variant)
    augment = entry.augment or chosen.augment_for(entry.config)
    factor = entry.dense_epoch_factor or dense_epoch_factor
    return entry.config, default_train_config(entry.config, epochs, augment, factor)


def choose_augmentation(outcomes: dict[str, list[Outcome]]) -> tuple[str, pd.DataFrame]:
    """One model's augmentation experiment ({variant: runs}) → the augmentation with the highest mean validation
    accuracy (the first listed on a tie), and the table it was chosen from (stats.validation_summary)."""
    table = validation_summary(outcomes)
    best = table.best_val_accuracy_mean.idxmax()
    table["chosen"] = table.index == best
    return str(table.augment[best]), table


class MissingRecords(RuntimeError):
    """A replay asked for a run that the records do not hold (a replay trains nothing new)."""


class MixedArithmetic(RuntimeError):
    """Training a run would set it against arms recorded on another device or in another precision."""


@dataclass
class RunContext:
    """What every run of a session shares: where and how it trains, where it is recorded, and the runs found
    already (this session's, and the records of earlier runs in the same folder)."""

    runtime: Runtime
    recorder: Recorder | None = None
    records: RecordedRuns | None = None  # earlier runs, found by run key: taken as they are, never trained again
    cache: dict[str, Outcome] = field(default_factory=dict)  # run key -> outcome, this session's
    progress: bool = True  # progress bars while training
    replay: bool = False  # True: every run must come from the records (MissingRecords otherwise)
    commit: str | None = None  # the code's commit, resolved at the session's start (default: git_commit() per run)

    @property
    def arithmetic(self) -> tuple[str, str]:
        return self.runtime.device, self.runtime.precision


@dataclass(frozen=True)
class Job:
    """One run to train: a model config and recipe with one seed, recorded under an experiment and variant name."""

    experiment: str
    variant: str
    config: ModelConfig
    train_config: TrainConfig
    seed: int

    def key(self, splits: Splits) -> str:
        return run_key(self.config, self.train_config, self.seed, splits.name, len(splits.train_labels))


def train_and_record(job: Job, splits: Splits, context: RunContext) -> Outcome:
    """Train one model from scratch with one seed, test it once, and append its row to the records (if the context
    has a recorder)."""
    torch.manual_seed(job.seed)  # the initial weights depend on the seed too
    model = build_model(job.config)
    result = fit(model, splits, job.train_config, context.runtime, seed=job.seed, progress=context.progress,
                 description=f"{job.variant} seed {job.seed}")
    logits = predict_logits(model, splits.test_images, context.runtime, job.train_config.eval_batch_size)
    predictions = logits.argmax(1)
    timestamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    recorder = context.recorder
    record = {
        "run_id": f"{job.experiment}/{job.variant}/seed{job.seed}/{timestamp}",
        "timestamp": timestamp,
        "profile": recorder.profile if recorder else "",
        "experiment": job.experiment,
        "variant": job.variant,
        "model": type(model).__name__,
        "config": config_to_dict(job.config),
        "train_config": asdict(job.train_config),
        "seed": job.seed,
        "epochs": job.train_config.epochs,
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
        "recipe_version": RECIPE_VERSION,
        **capture_environment(context.runtime, context.commit).record_fields(),
    }
    assert set(record) == set(RUN_FIELDS)
    test_predictions = predictions.numpy().astype(np.uint8)
    if recorder is not None:
        recorder.record(record, result.history, test_predictions, model)
    return Outcome(record=record, fit=result, test_predictions=test_predictions, model=model)


SeedChoice = tuple[int, ...] | Callable[[ModelConfig, int], tuple[int, ...]]


def run_variants(experiment: str, variants: dict[str, ModelConfig | Variant], splits: Splits, epochs: int,
                 seeds: SeedChoice, chosen: Recipe, context: RunContext,
                 dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> dict[str, list[Outcome]]:
    """Every variant × its seeds, everything but the variant held fixed; {variant: [outcome per seed]}.

    `epochs` is the CNN budget (see default_train_config for the dense model's), `chosen` the recipe's augmentation
    for each kind of model. `seeds` is a tuple, or a function of (config, training-set size), such as
    Profile.seeds_for, that gives cheap runs more seeds.

    A run is trained only when no earlier one with the same run key is found: in this session's cache (the default
    CNN is the reference of every experiment), else in the context's records, where it stays as it is. A run taken
    from records has no model; it is loaded or retrained only if its model is asked for (Outcome.ensure_model).
    Before anything trains, the arms are checked: a run to train here must compute on the same device and in the
    same precision as the arms recorded (MixedArithmetic), and a replay trains nothing (MissingRecords).
    """
    jobs = {variant: [Job(experiment, variant, *recipe(entry, epochs, chosen, dense_epoch_factor), seed)
                      for seed in _seeds(seeds, entry, splits)]
            for variant, entry in variants.items()}
    found = {variant: [_found(job, splits, context) for job in runs] for variant, runs in jobs.items()}
    _check_arms(experiment, [(job, outcome) for variant, runs in jobs.items()
                             for job, outcome in zip(runs, found[variant])], context)
    outcomes: dict[str, list[Outcome]] = {}
    for variant, runs in jobs.items():
        outcomes[variant] = []
        for job, outcome in zip(runs, found[variant]):
            key = job.key(splits)
            # a second variant of this call with the same key takes the first one's run
            outcome = outcome or context.cache.get(key) or train_and_record(job, splits, context)
            context.cache[key] = outcome
            outcomes[variant].append(outcome)
    return outcomes


def _seeds(seeds: SeedChoice, entry: ModelConfig | Variant, splits: Splits) -> tuple[int, ...]:
    config = entry.config if isinstance(entry, Variant) else entry
    return seeds(config, len(splits.train_labels)) if callable(seeds) else seeds


def _found(job: Job, splits: Splits, context: RunContext) -> Outcome | None:
    """The run of this job from this session's cache or from the records (None if neither has it). A recorded run
    can still give its model (Outcome.ensure_model): in a replay it is trained again without recording and checked
    against its record ("replayed"); otherwise the weights saved with it are loaded where they are ("resumed")."""
    key = job.key(splits)
    if key in context.cache:
        return context.cache[key]
    recorded = context.records.find(key) if context.records is not None else None
    if recorded is None:
        return None
    retrain = partial(train_and_record, job, splits, replace(context, recorder=None, progress=False))
    return replace(recorded, retrain=retrain, source="replayed" if context.replay else "resumed")


def _check_arms(experiment: str, found: list[tuple[Job, Outcome | None]], context: RunContext) -> None:
    """Refuse, before training anything, a run that a replay does not allow or that would be compared with arms
    computed on another device or in another precision."""
    missing = [job for job, outcome in found if outcome is None]
    if not missing:
        return
    if context.replay:
        job = missing[0]
        raise MissingRecords(
            f"a replay takes every run from the records, and {len(missing)} of experiment {experiment!r} are not "
            f"there (the first: {job.variant!r}, seed {job.seed}, {job.train_config.epochs} epochs); run without "
            "WORKSHOP_REPLAY (make run) to train only the missing runs")
    here = context.arithmetic
    other = sorted({(o.record["device"], o.record["precision"]) for _job, o in found
                    if o is not None and (o.record["device"], o.record["precision"]) != here})
    if other:
        recorded = ", ".join(f"{device} in {precision}" for device, precision in other)
        raise MixedArithmetic(
            f"experiment {experiment!r} would compare {len(missing)} runs trained here ({here[0]} in {here[1]}) with "
            f"arms recorded on {recorded}: the arms of one comparison must share device and precision. Run it "
            "where the records were made (WORKSHOP_PRECISION sets the precision, where the device computes it), or "
            "set WORKSHOP_RESUME=0 to put the records aside and train every arm here")
