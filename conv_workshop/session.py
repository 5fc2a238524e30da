"""The notebook's session: one call (`start_session`) resolves the settings and sets up the device, the profile, the
data and the records; the session then trains (or takes from the records) and remembers runs, shows and saves
figures, finds the committed full run's results to show beside a smaller profile's, and records how the run went."""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from .atomic import write_atomic
from .data import FashionMNIST, Splits, balanced_subset, load_fashion_mnist, shrink, split_validation
from .environment import PackageStatus, describe_packages
from .experiments.catalogue import AUGMENTATION_EXPERIMENTS, Family, Variant, families, family_size, model_kind
from .experiments.recorded import committed_runs, family_effects, run_summary
from .experiments.runner import Recipe, RunContext, choose_augmentation, run_variants
from .experiments.runs import (
    RECIPE_VERSION,
    Outcome,
    RecordedRuns,
    Recorder,
    capture_environment,
    current_runs,
    git_commit,
    load_runs,
    provenance,
)
from .i18n import N_, _, label, set_language
from .layout import COMMITTED, RunLayout
from .profiles import DENSE_EPOCH_FACTOR, Profile, choose_profile
from .reporting.display import is_live_kernel, show_markdown
from .reporting.plots import save_figure
from .settings import RunSettings, run_settings
from .stats import effects_table
from .training import Runtime, choose_runtime


@dataclass
class Workshop:
    """Everything one notebook run shares: settings, device, profile, data and splits, where runs are recorded, and
    the runs (identical runs are trained once)."""

    settings: RunSettings  # resolved once, at start_session
    profile: Profile
    layout: RunLayout
    context: RunContext  # device, recorder, the records found at the start, this session's runs
    data: FashionMNIST
    splits: Splits  # the headline models' train / validation / test sets
    experiment_splits: Splits  # the controlled experiments' (a class-balanced subset of the training set)
    started: float = field(default_factory=time.perf_counter)
    run_date: str = ""
    start_note: str = ""  # how this run started: what the records held, or where they were put aside
    recipe: Recipe = field(default_factory=Recipe)  # each model's augmentation, once chosen on validation
    committed: RunLayout = COMMITTED  # the committed full run, shown beside a smaller profile's

    @property
    def runtime(self) -> Runtime:
        """The device and arithmetic every model of this session uses (throughout sections 3–8)."""
        return self.context.runtime

    @property
    def recorder(self) -> Recorder:
        """Where this session's runs are recorded (section 12)."""
        return self.context.recorder

    @property
    def cache(self) -> dict[str, Outcome]:
        """This session's runs by run key (identical runs are trained once)."""
        return self.context.cache

    @property
    def live(self) -> bool:
        """Whether live widgets can answer here (a live kernel, not a headless run). Used in section 4.10."""
        return is_live_kernel(self.settings.headless)

    @property
    def figures(self) -> Path:
        """Where figures are saved (every section's `show_figure`), in this edition's language."""
        return self.layout.figures(self.settings.language)

    @property
    def artifacts(self) -> Path:
        """Where the model files go (sections 9 and 10)."""
        return self.layout.artifacts.folder

    @property
    def results(self) -> Path:
        """Where this profile's records and probe tables go (sections 7 and 12)."""
        return self.layout.results

    def setup_table(self, packages: list[PackageStatus] | None = None) -> pd.DataFrame:
        """Section 0: the versions (beside the locked ones, given the environment check's `packages`), device,
        budget and resolved settings of this run (what a reader needs to trust a number)."""
        env = capture_environment(self.runtime, self.context.commit)
        locked = {p.name: p.locked for p in packages or []}

        def version(name: str, installed: str) -> str:
            pinned = locked.get(name)
            return installed if not packages else _("{installed} (lock: {pinned})").format(
                installed=installed, pinned=pinned or _("not available here"))

        rows = {  # the labels are translated where the table is shown
            N_("date"): self.run_date, N_("profile"): self.profile.name, "python": env.python,
            "torch": version("torch", env.torch), "numpy": version("numpy", env.numpy),
            "pandas": version("pandas", env.pandas), "conv_workshop": env.conv_workshop,
            N_("device"): f"{env.device} ({env.device_name})", N_("precision"): env.precision,
            N_("CPU threads"): env.cpu_threads,
            N_("seeds (CNNs / cheap runs)"): f"{len(self.profile.seeds)} / {len(self.profile.cheap_seeds)}",
            N_("git commit"): env.git_commit,
        }
        if packages:
            rows[N_("packages")] = describe_packages(packages)
        if self.start_note:
            rows[N_("records")] = self.start_note
        rows |= {_("setting {variable}").format(variable=name): value for name, value in self.settings.table().items()}
        return pd.Series(rows, name=N_("value")).to_frame()

    def train(self, experiment: str, variants: dict, splits: Splits | None = None, epochs: int | None = None,
              dense_epoch_factor: int = DENSE_EPOCH_FACTOR, primary: bool = False) -> dict[str, list[Outcome]]:
        """Train (or take from this session's runs or the folder's records) every variant with the profile's seeds
        (its primary seeds for the primary family), recorded under `experiment`; {variant: outcomes}. Each kind of
        model trains with the recipe's augmentation, chosen first if it was not yet. Used in section 6 (exercise 6.2)
        and by train_family."""
        splits = splits or self.experiment_splits
        for entry in variants.values():
            config = entry.config if isinstance(entry, Variant) else entry
            if not (isinstance(entry, Variant) and entry.augment) and not self.recipe.is_chosen(model_kind(config)):
                self.choose_augmentation(model_kind(config))
        seeds = partial(self.profile.seeds_for, primary=primary)
        return run_variants(experiment, variants, splits, epochs or self.profile.experiment_epochs, seeds,
                            self.recipe, self.context, dense_epoch_factor=dense_epoch_factor)

    def choose_augmentation(self, kind: str) -> pd.DataFrame:
        """Run one model's augmentation experiment (none, flips, shifts on the experiments' images, section 3.3 for
        the dense model, 5.2 for the CNN) and keep the augmentation with the best mean validation accuracy as that
        model's recipe; the table it was chosen from. Nothing is trained again once chosen in this session."""
        family = families(self.profile)["augmentation"]
        experiment = AUGMENTATION_EXPERIMENTS[kind]
        runs = self.train(experiment, family.experiments[experiment], *self.data_and_epochs(family, experiment))
        augment, table = choose_augmentation(runs)
        self.recipe = self.recipe.choose(kind, augment)
        return table

    def train_family(self, name: str) -> dict[str, dict[str, list[Outcome]]]:
        """Every experiment of a declared family (catalogue.families), each on its data with its epochs, recorded
        under its experiment's name: {experiment: {variant: outcomes}} (sections 3.3, 3.4, 5.2, 6, 7.2, 7.3).

        Executing the cell again in the same kernel trains nothing: every run comes from this session's cache, and
        one line says so."""
        family = families(self.profile)[name]
        known = {id(outcome) for outcome in self.cache.values()}
        runs = {experiment: self.train(experiment, variants, *self.data_and_epochs(family, experiment),
                                       primary=family.tests == "primary")
                for experiment, variants in family.experiments.items()}
        outcomes = [o for variants in runs.values() for per_seed in variants.values() for o in per_seed]
        # this family's runs that this session had neither trained nor found before this call
        new = list({id(o): o for o in outcomes if id(o) not in known}.values())
        trained = sum(o.source == "trained" for o in new)
        if not new:
            show_markdown(_("Reused: all {count} runs of the {family} family were already trained in this session; "
                            "nothing was trained again.").format(count=len(outcomes), family=_(name)))
        elif trained and trained < len(new):
            show_markdown(_("New runs trained for the {family} family: {trained}; taken from the records of earlier "
                            "runs: {recorded}.").format(trained=trained, family=_(name), recorded=len(new) - trained))
        return runs

    def data_and_epochs(self, family: Family, experiment: str) -> tuple[Splits, int]:
        """The splits and CNN epochs an experiment of a family trains with in this profile (Family.budget)."""
        size, epochs = family.budget(experiment, self.profile, len(self.splits.train_labels))
        if family.scope == "headline":
            return self.splits, epochs
        return (self.data_size_splits(size) if family.scope == "data size"  # i18n: key
                else self.experiment_splits), epochs

    def data_size_splits(self, size: int) -> Splits:
        """The headline splits with a class-balanced training subset of `size` images (all of them if larger)."""
        if size >= len(self.splits.train_labels):
            return self.splits
        index = balanced_subset(self.splits.train_labels, size, seed=0)
        return replace(self.splits, train_images=self.splits.train_images[index],
                       train_labels=self.splits.train_labels[index])

    def show_figure(self, figure: plt.Figure, name: str) -> None:
        """Save a figure under results/figures/<name>.png and show it now (so text printed later comes after it).

        Used throughout sections 2–8.
        """
        from IPython.display import display

        save_figure(figure, self.figures / f"{name}.png")
        display(figure)
        plt.close(figure)

    # --- the committed full run, shown beside a smaller profile's results ---

    def effects(self, runs: dict[str, dict[str, list[Outcome]]], family: str | None = None) -> pd.DataFrame:
        """stats.effects_table of `runs`, corrected as part of the declared family of tests of Family `family`
        (catalogue.family_of_tests: tests not among `runs` count as p = 1); without a family, as a family of its
        own. Used throughout sections 3–7."""
        size = family_size(family, self.profile) if family else None
        return effects_table(runs, self.splits.test_labels, size)

    def full_run_effects(self, *family: str) -> pd.DataFrame | None:
        """The committed full run's effects table for one or more Families, each corrected within its family of
        tests as the notebook does (None in the full profile itself, or if none was recorded).

        Used throughout sections 3–7.
        """
        if self.profile.name == "full":
            return None
        found = family_effects(committed_runs(self.committed.results), family, self.data.test_labels)
        return pd.concat(found.values(), ignore_index=True) if found else None

    def full_run_found(self) -> bool:
        """Whether the committed full run's records (with test predictions) are there to compare with.

        Used in section 0.
        """
        committed = committed_runs(self.committed.results)
        return len(committed) > 0 and bool(committed.predictions)

    def full_run_table(self, name: str) -> pd.DataFrame | None:
        """A committed result table of the full run (e.g. translation.csv), when this is a smaller profile.

        Used in sections 7.1, 7.4.
        """
        path = self.committed.table(name)
        if self.profile.name == "full" or not path.exists():
            return None
        return pd.read_csv(path)

    def probe_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The test images (and labels) of the probes: the first probe_test_size of the experiments' test set.

        Used in section 7.1.
        """
        count = min(self.profile.probe_test_size or len(self.experiment_splits.test_labels),
                    len(self.experiment_splits.test_labels))
        return self.experiment_splits.test_images[:count], self.experiment_splits.test_labels[:count]

    def show_effects(self, table: pd.DataFrame, experiment: str | None = None, reference: pd.DataFrame | None = None,
                     name: str | None = None) -> None:
        """Section 6: an experiment's effects figure (saved as experiment_<name>.png) and its table, this run beside
        the committed full run's when there is one."""
        from IPython.display import display

        from .reporting import plots, tables

        rows = table if experiment is None else table[table.experiment == experiment]
        keys = set(zip(rows.experiment, rows.variant))
        ref = None if reference is None else reference[[k in keys for k in zip(reference.experiment,
                                                                              reference.variant)]]
        title = label(experiment or name or "").capitalize()
        self.show_figure(plots.experiment_effects(rows, title, ref),
                         f"experiment_{(name or experiment).replace(' ', '_')}")
        display(tables.effects(rows, ref, experiment=rows.experiment.nunique() > 1))

    def write_table(self, table: pd.DataFrame, name: str) -> None:
        """Save a probe's table under results/ (translation.csv, selectivity.csv). Used in sections 7.1, 7.4."""
        write_atomic(self.layout.table(name), table.to_csv(index=False).encode())

    def run_summary(self) -> pd.DataFrame:
        """Section 12: every current-recipe run recorded in this run's folder (recorded.run_summary)."""
        return run_summary(self.recorder.runs_path)

    def record_run_facts(self) -> dict:
        """Section 12: record how the run went (profile, device, minutes, runs, replay) in results/notebook_run.json."""
        outcomes = {id(o): o for o in self.cache.values()}
        replayed = [o for o in outcomes.values() if o.source == "replayed"]
        resumed = [o for o in outcomes.values() if o.source == "resumed"]
        checked = [o for o in outcomes.values() if o.replay_check is not None]
        env = capture_environment(self.runtime, self.context.commit)
        records = current_runs(load_runs(self.recorder.runs_path))
        facts = {"profile": self.profile.name, "device": env.device, "device_name": env.device_name,
                 "precision": env.precision, "date": self.run_date,
                 "minutes": round((time.perf_counter() - self.started) / 60, 1), "torch": env.torch,
                 "python": env.python, "training_runs": len(records),
                 "trained_runs": sum(o.source == "trained" for o in outcomes.values()),
                 "replayed_runs": len(replayed), "resumed_runs": len(resumed), "retrained_for_models": len(checked),
                 "recorded_device_name": _recorded_device(replayed),
                 "records_provenance": provenance(records),
                 "replay_checks": [{"variant": o.record["variant"], "seed": int(o.record["seed"]),
                                    "recorded": o.replay_check.recorded, "retrained": o.replay_check.retrained}
                                   for o in checked]}
        write_atomic(self.layout.run_facts(self.settings.language), json.dumps(facts, indent=2).encode())
        self.recorder.write_state(**{**self.recorder.read_state(), "status": "finished"})
        self.recorder.unlock()
        return facts


def start_session(profile_name: str | None = None, replay: bool | None = None, resume: bool | None = None,
                  language: str | None = None, edition: str = "en") -> Workshop:
    """Section 1: resolve the settings (once: later changes to the environment have no effect on this session),
    choose device and profile, load and split the data, and start recording.

    The folder is locked for this process (a second run of the same profile refuses to start). The runs already
    recorded in the folder are taken as they are, and only what is missing is trained (MixedArithmetic refuses a
    comparison that would mix devices or precisions). `resume=False` puts the records aside first (never deletes
    them); `replay=True` takes every run from them and trains nothing new. The arguments are the notebook's
    parameters; None takes the setting. `language` ('en', 'es'; None: WORKSHOP_LANGUAGE, else `edition`, the
    notebook's own language) is the language of every text generated from here on.
    """
    settings = run_settings()
    resolved = settings.model_copy(update={
        "replay": settings.replay if replay is None else replay,
        "resume": settings.resume if resume is None else resume,
        "language": language or settings.language or edition})
    resolved.check()
    set_language(resolved.language)
    runtime = choose_runtime(precision=resolved.precision)
    profile = choose_profile(profile_name or resolved.profile, runtime.device)
    resolved = resolved.model_copy(update={"profile": profile.name})
    layout = RunLayout.for_profile(profile.name, resolved.output_dir)
    recorder = Recorder(layout.root, profile.name)
    recorder.lock()
    note = ""
    if not resolved.resume:
        folder = recorder.set_aside()
        if folder is not None:
            note = _("fresh start (WORKSHOP_RESUME=0): the earlier records were moved to {folder}").format(
                folder=folder.as_posix())
    records = RecordedRuns(recorder.results_dir)
    note = note or _records_note(records, resolved.replay)
    recorder.write_state(status="running", profile=profile.name,
                         **{k: v for k, v in capture_environment(runtime).record_fields().items() if k != "git_commit"})
    context = RunContext(runtime, recorder, records, progress=resolved.progress, replay=resolved.replay,
                         commit=git_commit(outside=resolved.git_commit))
    data = load_fashion_mnist(resolved.data_dir)
    splits = split_validation(data)
    if profile.subset:
        splits = shrink(splits, *profile.subset)
    experiment_splits = splits
    if profile.experiment_train_size and profile.experiment_train_size < len(splits.train_labels):
        experiment_splits = shrink(splits, profile.experiment_train_size, len(splits.val_labels),
                                   len(splits.test_labels))
    run_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Workshop(resolved, profile, layout, context, data, splits, experiment_splits, run_date=run_date,
                    start_note=note)


def _records_note(records: RecordedRuns, replay: bool) -> str:
    """What the folder's records hold for this run: how many runs it will take instead of training them, and how many
    were recorded by another recipe version (trained again)."""
    parts = []
    if replay:
        parts.append(_("{count} recorded runs reused; models retrained only where used").format(count=len(records)))
    elif len(records):
        parts.append(_("{count} runs found in the records are taken as they are; only what is missing is "
                       "trained").format(count=len(records)))
    for version, count in sorted(records.other_versions.items()):
        parts.append(_("{count} runs recorded by recipe version {old} are trained again (this code computes version "
                       "{new})").format(count=count, old=version, new=RECIPE_VERSION))
    return "; ".join(parts)


def _recorded_device(outcomes: list[Outcome]) -> str | None:
    """The processor (or GPU) and arithmetic most of the replayed runs were recorded with, as runs.csv names them
    ('AMD EPYC, bf16')."""
    names = pd.Series([f"{o.record['device_name']}, {o.record.get('precision')}" for o in outcomes
                       if o.record.get("device_name")])
    return str(names.mode().iloc[0]) if len(names) else None
