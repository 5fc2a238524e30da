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
from .stats import validation_summary
from .training import AUGMENTATIONS, Runtime, TrainConfig, fit, predict_logits

# The dense baseline is cheap and still improving when the CNN's epoch budget ends: it trains this many times as
# long, so that the CNN's lead is not an artifact of an under-trained baseline (notebook section 3 measures both).
DENSE_EPOCH_FACTOR = 3


def default_train_config(config: ModelConfig, epochs: int, augment: str,
                         dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> TrainConfig:
    """The recipe shared by every run: the same optimiser, schedule and batch size for all models.

    `epochs` is the CNN's budget; the dense model trains dense_epoch_factor × epochs, a declared budget difference.
    `augment` is the model's own augmentation (Recipe), chosen on validation data by the augmentation experiment.
    """
    factor = dense_epoch_factor if isinstance(config, DenseConfig) else 1
    return TrainConfig(epochs=epochs * factor, augment=augment)


def model_kind(config: ModelConfig) -> str:
    """'dense' or 'CNN': the two kinds of model, each with its own augmentation in the recipe."""
    return "dense" if isinstance(config, DenseConfig) else "CNN"


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


@dataclass(frozen=True)
class Variant:
    """A model config trained with a recipe other than the chosen one: its augmentation, or (for a dense model)
    its epoch factor, is the factor under study."""

    config: ModelConfig
    augment: str | None = None  # None: the Recipe's choice for this kind of model
    dense_epoch_factor: int | None = None  # None: the experiment's factor (DENSE_EPOCH_FACTOR by default)


def recipe(variant: ModelConfig | Variant, epochs: int, chosen: Recipe,
           dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> tuple[ModelConfig, TrainConfig]:
    """The model config and training recipe of a variant trained with a CNN budget of `epochs`."""
    entry = variant if isinstance(variant, Variant) else Variant(variant)
    augment = entry.augment or chosen.augment_for(entry.config)
    factor = entry.dense_epoch_factor or dense_epoch_factor
    return entry.config, default_train_config(entry.config, epochs, augment, factor)


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
                 seeds: SeedChoice, runtime: Runtime, recorder: Recorder | None, chosen: Recipe,
                 progress: bool = True, cache: dict[str, Outcome] | None = None,
                 replay: RecordedRuns | None = None, resume: RecordedRuns | None = None,
                 dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> dict[str, list[Outcome]]:
    """Every variant × its seeds, everything but the variant held fixed; {variant: [outcome per seed]}.

    `epochs` is the CNN budget (see default_train_config for the dense model's), `chosen` the recipe's
    augmentation for each kind of model. `seeds` is a tuple, or a function
    of (config, training-set size), such as Profile.seeds_for, that gives cheap runs more seeds.

    A run is trained only when no earlier one with the same run key is found, in this order: the cache (runs of
    this session: the default CNN is the reference of every experiment), `resume` (the records an interrupted run
    of the same profile and code left in the recorder's folder: kept as they are) and `replay` (a complete earlier
    execution's records: recorded again). A run taken from records has no model; it is retrained only if its model
    is asked for (Outcome.ensure_model).
    """
    outcomes: dict[str, list[Outcome]] = {}
    for variant, entry in variants.items():
        config, train_config = recipe(entry, epochs, chosen, dense_epoch_factor)
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
        # Narrower only: the wider 64 → 128 network took 2.4× the reference's time, too much for the full
        # profile's seven seeds within its 90 minutes on a 2-core CPU.
        "width": {"32 → 64 channels": base, "32 → 32 channels": replace(base, channels=(32, 32))},
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


AUGMENTATION_NAMES = {"none": "no augmentation", "flip": "flips", "shift": "shifts"}


def augmentation_variants() -> dict[str, dict[str, Variant]]:
    """No augmentation (the reference), random horizontal flips and random ±2-pixel shifts, for the dense model and
    for the CNN: a positive difference means the augmentation helps. Each model's recipe is its best on validation."""
    return {f"augmentation, {model}": {f"{model}, {AUGMENTATION_NAMES[mode]}": Variant(config, augment=mode)
                                       for mode in AUGMENTATIONS}
            for model, config in (("dense", DenseConfig()), ("CNN", ConvConfig()))}


def choose_augmentation(outcomes: dict[str, list[Outcome]]) -> tuple[str, pd.DataFrame]:
    """One model's augmentation experiment ({variant: runs}) → the augmentation with the highest mean validation
    accuracy (the first listed on a tie), and the table it was chosen from (stats.validation_summary)."""
    table = validation_summary(outcomes)
    best = table.best_val_accuracy_mean.idxmax()
    table["chosen"] = table.index == best
    return str(table.augment[best]), table


def recorded_recipe(recorded: RecordedRuns, profile: Profile = PROFILES["full"]) -> Recipe:
    """The recipe a recorded run chose (by default the committed full run's): each model's augmentation experiment
    found in the records, then choose_augmentation; a model whose experiment was not recorded stays unchosen."""
    family = families(profile)["augmentation"]
    chosen = Recipe()
    for experiment, variants in family.experiments.items():
        found = recorded_outcomes(recorded, variants, *family.budget(experiment, profile), chosen=chosen)
        if len(found) == len(variants):
            chosen = chosen.choose(experiment.removeprefix("augmentation, "), choose_augmentation(found)[0])
    return chosen


SCRAMBLE_SEED = 0  # the one pixel permutation of the scrambling probe


def scrambling_variants() -> dict[str, dict[str, ModelConfig]]:
    """Each model on intact pixels (first) and on pixels reordered by one fixed permutation (train and test)."""
    return {f"scrambled, {model}": {f"{model} (intact)": config,
                                     f"{model} (scrambled)": replace(config, scramble=SCRAMBLE_SEED)}
            for model, config in (("dense", DenseConfig()), ("CNN", ConvConfig()))}


def recorded_outcomes(recorded: RecordedRuns, variants: dict, train_size: int, epochs: int, chosen: Recipe,
                      data: str = "Fashion-MNIST", seeds: range = range(20)) -> dict[str, list[Outcome]]:
    """The recorded runs of these variants (found by run key, whatever experiment trained them), without models;
    variants whose augmentation the recipe has not chosen are left out."""
    found = {}
    for variant, entry in variants.items():
        try:
            config, train_config = recipe(entry, epochs, chosen)
        except RecipeNotChosen:
            continue
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
    """What one cell trains together: its experiments ({experiment: {variant: config}}, the first variant the
    reference), the data they train on, and the declared family of tests whose verdicts are corrected together
    (`correction`: Holm's correction runs over every comparison of every Family with the same correction)."""

    name: str
    experiments: dict[str, dict]
    scope: str  # "headline": the whole training split; "experiments": the controlled subset; "data size": per size
    correction: str = ""  # the family of tests; "" = this Family's own name

    @property
    def tests(self) -> str:
        return self.correction or self.name

    @property
    def comparisons(self) -> int:
        """How many comparisons against a reference this Family adds to its family of tests."""
        return sum(len(variants) - 1 for variants in self.experiments.values())

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
        # Primary: the original workshop's claims (the CNN beats the dense model; 5×5 and 7×7 kernels against 3×3).
        Family("headline", {"CNN vs dense": baseline_variants()}, "headline", correction="primary"),
        Family("kernel size", {"kernel size": kernel_size_variants()}, "experiments", correction="primary"),
        # Secondary: every other controlled factor of section 6, against the same reference CNN.
        Family("controlled", architecture_variants(), "experiments", correction="secondary"),
        # Each of these is its own family of tests: the recipe, a budget check, and the probes of section 7.
        Family("augmentation", augmentation_variants(), "experiments"),
        Family("schedule", {"dense schedule": schedule_variants()}, "headline"),
        Family("small GAP", {"small GAP vs dense": small_gap_variants()}, "experiments"),
        Family("scrambling", scrambling_variants(), "experiments"),
        Family("data size", {f"n={size}": data_size_variants(size) for size in profile.data_sizes}, "data size"),
    ]
    return {family.name: family for family in declared}


def family_of_tests(name: str, profile: Profile = PROFILES["full"]) -> list[Family]:
    """Every Family whose comparisons are corrected together with Family `name`'s (the primary family: headline
    and kernel size)."""
    declared = families(profile)
    return [family for family in declared.values() if family.tests == declared[name].tests]


def family_size(name: str, profile: Profile = PROFILES["full"]) -> int:
    """How many comparisons the family of tests of Family `name` holds (Holm's m)."""
    return sum(family.comparisons for family in family_of_tests(name, profile))


def recorded_tests(recorded: RecordedRuns, name: str, profile: Profile = PROFILES["full"],
                   ) -> tuple[dict[str, dict[str, list[Outcome]]], int]:
    """The recorded runs of the whole family of tests of Family `name` (by default the committed full run's, with
    the recipe it chose) and the family's size: what stats.effects_table corrects together."""
    chosen = recorded_recipe(recorded, profile)
    runs = {experiment: outcomes for family in family_of_tests(name, profile)
            for experiment, outcomes in recorded_family_runs(recorded, family, chosen, profile).items()}
    return runs, family_size(name, profile)


def recorded_family_runs(recorded: RecordedRuns, family: Family, chosen: Recipe,
                         profile: Profile = PROFILES["full"]) -> dict[str, dict[str, list[Outcome]]]:
    """A Family's recorded runs ({experiment: {variant: runs}}) at its budget in `profile`: the experiments whose
    reference and at least one other variant were recorded."""
    found = {name: recorded_outcomes(recorded, variants, *family.budget(name, profile), chosen=chosen)
             for name, variants in family.experiments.items()}
    return {name: runs for name, runs in found.items()
            if len(runs) > 1 and next(iter(family.experiments[name])) in runs}
