"""Controlled experiments: the shared recipe, the catalogue of variants and families of comparisons, and running
model configs × seeds on the same data and recipe (each run recorded the moment it ends, see runs.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
import torch

from .data import TRAIN_SIZE, Splits
from .models import ConvConfig, DenseConfig, ModelConfig, build_model, config_to_dict, count_macs, count_parameters
from .profiles import PROFILES, Profile
from .runs import RUN_FIELDS, Outcome, RecordedRuns, Recorder, capture_environment, run_key
from .stats import effects_table
from .training import Runtime, TrainConfig, fit, predict_logits

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
    result = fit(model, splits, train_config, runtime, seed=seed, progress=progress,
                 description=f"{variant} seed {seed}")
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
        **capture_environment(runtime).record_fields(),
    }
    assert set(record) == set(RUN_FIELDS)
    test_predictions = predictions.numpy().astype(np.uint8)
    if recorder is not None:
        recorder.record(record, result.history, test_predictions, model)
    return Outcome(record=record, fit=result, test_predictions=test_predictions, model=model)


SeedChoice = tuple[int, ...] | Callable[[ModelConfig, int], tuple[int, ...]]


def run_variants(experiment: str, variants: dict[str, ModelConfig | Variant], splits: Splits, epochs: int,
                 seeds: SeedChoice, runtime: Runtime, recorder: Recorder | None,
                 progress: bool = True, cache: dict[str, Outcome] | None = None,
                 replay: RecordedRuns | None = None, resume: RecordedRuns | None = None,
                 dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> dict[str, list[Outcome]]:
    """Every variant × its seeds, everything but the variant held fixed; {variant: [outcome per seed]}.

    `epochs` is the CNN budget (see default_train_config for the dense model's). `seeds` is a tuple, or a function
    of (config, training-set size), such as Profile.seeds_for, that gives cheap runs more seeds.

    A run is trained only when no earlier one with the same run key is found, in this order: the cache (runs of
    this session: the default CNN is the reference of every experiment), `resume` (the records an interrupted run
    of the same profile and code left in the recorder's folder: kept as they are) and `replay` (a complete earlier
    execution's records: recorded again). A run taken from records has no model; it is retrained only if its model
    is asked for (Outcome.ensure_model).
    """
    outcomes: dict[str, list[Outcome]] = {}
    for variant, entry in variants.items():
        config, train_config = recipe(entry, epochs, dense_epoch_factor)
        outcomes[variant] = []
        for seed in (seeds(config, len(splits.train_labels)) if callable(seeds) else seeds):
            key = run_key(config, train_config, seed, splits.name, len(splits.train_labels))
            if cache is not None and key in cache:
                outcomes[variant].append(cache[key])
                continue
            retrain = partial(train_and_record, experiment, variant, config, splits, train_config, seed, runtime,
                              None, progress=False)
            outcome = _from_records(resume, replay, key, experiment, variant, retrain, recorder)
            if outcome is None:
                outcome = train_and_record(experiment, variant, config, splits, train_config, seed, runtime,
                                           recorder, progress)
            if cache is not None:
                cache[key] = outcome
            outcomes[variant].append(outcome)
    return outcomes


def _from_records(resume: RecordedRuns | None, replay: RecordedRuns | None, key: str, experiment: str,
                  variant: str, retrain: Callable[[], Outcome], recorder: Recorder | None) -> Outcome | None:
    """The run with this key from an interrupted run's records (already in the folder) or a replay's (recorded
    again, under the experiment and variant names that ask for it now, as a fresh run would be); None if neither."""
    resumed = resume.find(key) if resume is not None else None
    if resumed is not None:
        return replace(resumed, retrain=retrain, source="resumed")
    replayed = replay.find(key) if replay is not None else None
    if replayed is None:
        return None
    outcome = replace(replayed, record={**replayed.record, "experiment": experiment, "variant": variant},
                      retrain=retrain, source="replayed")
    if recorder is not None:
        recorder.record(outcome.record, outcome.fit.history, outcome.test_predictions)
    return outcome


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
    """Kernel size and every architecture experiment: one family of comparisons against the same reference CNN.

    Used in section 6."""
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
    return {f"flips, {model}": {f"{model}, no flips": Variant(config, augment="none"),
                                 f"{model}, flips": Variant(config)}
            for model, config in (("dense", DenseConfig()), ("CNN", ConvConfig()))}


SCRAMBLE_SEED = 0  # the one pixel permutation of the scrambling probe


def scrambling_variants() -> dict[str, dict[str, ModelConfig]]:
    """Each model on intact pixels (first) and on pixels reordered by one fixed permutation (train and test)."""
    return {f"scrambled, {model}": {f"{model} (intact)": config,
                                     f"{model} (scrambled)": replace(config, scramble=SCRAMBLE_SEED)}
            for model, config in (("dense", DenseConfig()), ("CNN", ConvConfig()))}


def recorded_outcomes(recorded: RecordedRuns, variants: dict, train_size: int, epochs: int,
                      data: str = "Fashion-MNIST", seeds: range = range(10)) -> dict[str, list[Outcome]]:
    """The recorded runs of these variants (found by run key, whatever experiment trained them), without models."""
    found = {}
    for variant, entry in variants.items():
        config, train_config = recipe(entry, epochs)
        runs = []
        for seed in seeds:
            hit = recorded.find(run_key(config, train_config, seed, data, train_size))
            if hit is not None:
                runs.append(hit)
        if runs:
            found[variant] = runs
    return found


# --- families: the comparisons Holm's correction runs over together, and where the full run's records are ---

@dataclass(frozen=True)
class Family:
    """A declared family of comparisons: its experiments ({experiment: {variant: config}}, the first variant the
    reference) and the data they train on; the verdicts of one family are corrected together (stats.effects_table)."""

    name: str
    experiments: dict[str, dict]
    scope: str  # "headline": the whole training split; "experiments": the controlled subset; "data size": per size

    def budget(self, experiment: str, profile: Profile, full_size: int = TRAIN_SIZE) -> tuple[int, int]:
        """(training images, CNN epochs) of an experiment of this family in a profile whose headline models train on
        `full_size` images (all of the training split by default)."""
        if self.scope == "headline":
            return full_size, profile.main_epochs
        if self.scope == "data size":
            size = int(experiment.removeprefix("n="))
            return min(size, full_size), profile.data_size_epochs(size, full_size)
        return profile.experiment_train_size, profile.experiment_epochs


def families(profile: Profile = PROFILES["full"]) -> dict[str, Family]:
    """Every family of comparisons the notebook and the README report (the data-size family at profile's sizes)."""
    declared = [
        Family("schedule", {"dense schedule": schedule_variants()}, "headline"),
        Family("headline", {"CNN vs dense": baseline_variants()}, "headline"),
        Family("controlled", controlled_experiments(), "experiments"),
        Family("small GAP", {"small GAP vs dense": small_gap_variants()}, "experiments"),
        Family("augmentation", augmentation_variants(), "experiments"),
        Family("scrambling", scrambling_variants(), "experiments"),
        Family("data size", {f"n={size}": data_size_variants(size) for size in profile.data_sizes}, "data size"),
    ]
    return {family.name: family for family in declared}


def recorded_effects(recorded: RecordedRuns, family: Family, test_labels: torch.Tensor,
                     profile: Profile = PROFILES["full"]) -> pd.DataFrame:
    """A family's effects table from recorded runs (the committed full run's, by default budget): the experiments
    whose reference and at least one other variant were recorded; empty when none was."""
    found = {name: recorded_outcomes(recorded, variants, *family.budget(name, profile))
             for name, variants in family.experiments.items()}
    found = {name: runs for name, runs in found.items()
             if len(runs) > 1 and next(iter(family.experiments[name])) in runs}
    return effects_table(found, test_labels) if found else pd.DataFrame()
