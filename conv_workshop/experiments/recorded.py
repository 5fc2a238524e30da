"""The declared families (catalogue.py) found again in recorded runs, by run key: the recipe a recorded run chose,
the runs of each family of tests, and a folder's runs summarised. The notebook sets the committed full run's beside
a smaller profile's, and the README's tables are built from them (report.py)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..data import TRAIN_SIZE
from ..layout import COMMITTED
from ..profiles import PROFILES, Profile
from ..stats import effects_table, summarise_runs
from .catalogue import AUGMENTATION_EXPERIMENTS, Family, families, family_of_tests, family_size
from .runner import Recipe, RecipeNotChosen, choose_augmentation, recipe
from .runs import Outcome, RecordedRuns, current_runs, load_runs, run_key

_COMMITTED_CACHE: dict[str, RecordedRuns] = {}


def committed_runs(folder: Path = COMMITTED.results) -> RecordedRuns:
    """The committed full run's records (results/ of the checkout), read once per folder."""
    key = str(folder)
    if key not in _COMMITTED_CACHE:
        _COMMITTED_CACHE[key] = RecordedRuns(folder)
    return _COMMITTED_CACHE[key]


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


def recorded_recipe(recorded: RecordedRuns, profile: Profile = PROFILES["full"]) -> Recipe:
    """The recipe a recorded run chose (by default the committed full run's): each model's augmentation experiment
    found in the records, then choose_augmentation; a model whose experiment was not recorded stays unchosen."""
    family = families(profile)["augmentation"]
    chosen = Recipe()
    for kind, experiment in AUGMENTATION_EXPERIMENTS.items():
        variants = family.experiments[experiment]
        found = recorded_outcomes(recorded, variants, *family.budget(experiment, profile), chosen=chosen)
        if len(found) == len(variants):
            chosen = chosen.choose(kind, choose_augmentation(found)[0])
    return chosen


def planned_runs(profile: Profile, chosen: Recipe, full_size: int = TRAIN_SIZE) -> list[tuple[str, str, str]]:
    """(family, variant, run key) of every run the declared families ask of a profile whose headline models train on
    `full_size` images, as the notebook's train_family computes them (a run shared by experiments is listed once per
    experiment). A model kind whose augmentation `chosen` has not chosen is planned without augmentation: the keys
    then differ from the runs to come, their number does not."""
    placeholder = Recipe(dense=chosen.dense or "none", cnn=chosen.cnn or "none")
    planned = []
    for family in families(profile).values():
        for experiment, variants in family.experiments.items():
            size, epochs = family.budget(experiment, profile, full_size)
            for variant, entry in variants.items():
                config, train_config = recipe(entry, epochs, placeholder)
                for seed in profile.seeds_for(config, size, primary=family.tests == "primary"):
                    planned.append((family.name, variant, run_key(config, train_config, seed, "Fashion-MNIST", size)))
    return planned


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


def family_effects(recorded: RecordedRuns, names: Iterable[str], test_labels,
                   profile: Profile = PROFILES["full"]) -> dict[str, pd.DataFrame]:
    """Each named Family's effects table from the records, corrected within its whole family of tests as the notebook
    corrects it, restricted to its own experiments; a Family with nothing recorded is left out. The committed full
    run's tables beside a smaller profile's (session.Workshop.full_run_effects) and in the README (report.py)."""
    found = {}
    for name in names:
        runs, size = recorded_tests(recorded, name, profile)
        if runs:
            table = effects_table(runs, test_labels, size)
            table = table[table.experiment.isin(families(profile)[name].experiments)].reset_index(drop=True)
            if not table.empty:
                found[name] = table
    return found


def run_summary(runs_path: Path) -> pd.DataFrame:
    """Every current-recipe run recorded in a runs.csv, one row per experiment (as recorded), variant and budget,
    with the seeds' mean and spread (a single seed has no spread). Section 12's table."""
    # a folder's records outlive a change of budget: runs of one variant at two budgets are two rows, never averaged
    table = summarise_runs(current_runs(load_runs(runs_path)), by=("experiment", "variant", "epochs", "train_size"))
    if not table.empty:
        table["test_accuracy_std"] = [s if n > 1 else float("nan")
                                      for s, n in zip(table.test_accuracy_std, table.seeds)]
    return table
