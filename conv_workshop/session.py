"""The notebook's session: one call (`start_session`) sets up the device, the profile, the data, the recorder and
any replay; the session then trains and remembers runs, shows and saves figures, and finds the committed full run's
results to show beside a smaller profile's."""

from __future__ import annotations

import datetime
import inspect
import json
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import torch

from .atomic import write_atomic
from .data import FashionMNIST, Splits, balanced_subset, load_fashion_mnist, shrink, split_validation
from .environment import PackageStatus, describe_packages
from .experiments import (
    DENSE_EPOCH_FACTOR,
    Family,
    Recipe,
    Variant,
    choose_augmentation,
    families,
    family_size,
    model_kind,
    recorded_tests,
    run_variants,
)
from .i18n import N_, _, current_language, label, set_language
from .plots import save_figure
from .profiles import Profile, choose_profile
from .runs import Outcome, RecordedRuns, Recorder, capture_environment, load_runs, training_code_version
from .settings import RunSettings, run_settings
from .stats import effects_table
from .training import Runtime, choose_runtime

COMMITTED = Path("results")  # the committed full-profile run, relative to the repository root


def show_markdown(markdown: str) -> None:
    """Show one generated sentence (Markdown, from findings) as cell output. Used throughout sections 0–12."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def show_source(*objects) -> None:
    """Show the package code of functions or classes where the notebook teaches with them (sections 3.2, 4.1, 5.1)."""
    from IPython.display import Markdown, display

    code = "\n\n".join(inspect.getsource(o).rstrip() for o in objects)
    display(Markdown(f"```python\n{code}\n```"))


def is_live_kernel() -> bool:
    """True in a live Jupyter kernel; False when the notebook runs headless (tools/run_notebook.py, CI), where a
    widget would be saved as a dead control, so cells show a static figure instead (section 4.10)."""
    if run_settings().headless:
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def use_notebook_display() -> None:
    """How the notebook shows tables and figures: sentences in tables are never cut, figures at 100 dpi.

    Used in section 0.
    """
    pd.set_option("display.max_colwidth", None)  # tables hold sentences (claims, verdicts): never cut them
    matplotlib.rcParams.update({"figure.dpi": 100, "axes.titlesize": 11})
    if current_language() != "en":
        _show_tables_translated()


def _show_tables_translated() -> None:
    """Tables keep English column names (code reads them by name); the notebook shows them translated
    (tables.localise), as HTML and as plain text."""
    from IPython import get_ipython

    from .tables import localise

    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type(pd.DataFrame, lambda frame: localise(frame)._repr_html_())
    formatters["text/plain"].for_type(pd.DataFrame, lambda frame, printer, cycle: printer.text(
        repr(localise(frame))))


@dataclass
class Workshop:
    """Everything one notebook run shares: settings, device, profile, data and splits, where runs are recorded, and
    the runs (identical runs are trained once)."""

    settings: RunSettings
    profile: Profile
    runtime: Runtime
    recorder: Recorder
    replay: RecordedRuns | None
    resume: RecordedRuns | None  # an interrupted run's records, continued (see start_session)
    data: FashionMNIST
    splits: Splits  # the headline models' train / validation / test sets
    experiment_splits: Splits  # the controlled experiments' (a class-balanced subset of the training set)
    started: float = field(default_factory=time.perf_counter)
    run_date: str = ""
    cache: dict[str, Outcome] = field(default_factory=dict)  # run key -> outcome
    start_note: str = ""  # how this run started: fresh, resumed, or why it could not resume
    recipe: Recipe = field(default_factory=Recipe)  # each model's augmentation, once chosen on validation

    @property
    def figures(self) -> Path:
        """Where figures are saved (every section's `show_figure`): results/figures/, and for another edition than
        the English one results/figures/<language>/ (its labels are in that language)."""
        folder = self.profile.output_dir / "results" / "figures"
        return folder if self.settings.language == "en" else folder / self.settings.language

    @property
    def artifacts(self) -> Path:
        """Where the model files go (sections 9 and 10)."""
        return self.profile.output_dir / "fashion_mnist_cnn_model_pytorch"

    @property
    def results(self) -> Path:
        """Where this profile's records and probe tables go (sections 7 and 12)."""
        return self.profile.output_dir / "results"

    def setup_table(self, packages: list[PackageStatus] | None = None) -> pd.DataFrame:
        """Section 0: the versions (beside the locked ones, given the environment check's `packages`), device,
        budget and resolved settings of this run (what a reader needs to trust a number)."""
        env = capture_environment(self.runtime)
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
        if self.replay is not None:
            rows[N_("replay")] = _("{count} recorded runs reused; models retrained only where used").format(
                count=len(self.replay))
        if self.start_note:
            rows[N_("records")] = self.start_note
        rows |= {_("setting {variable}").format(variable=name): value for name, value in self.settings.table().items()}
        return pd.Series(rows, name=N_("value")).to_frame()

    def train(self, experiment: str, variants: dict, splits: Splits | None = None, epochs: int | None = None,
              dense_epoch_factor: int = DENSE_EPOCH_FACTOR, primary: bool = False) -> dict[str, list[Outcome]]:
        """Train (or take from the cache / replay) every variant with the profile's seeds (its primary seeds for
        the primary family), recorded under `experiment`; {variant: outcomes}. Each kind of model trains with the
        recipe's augmentation, chosen first if it was not yet. Used in section 6 (exercise 6.2) and by
        train_family."""
        splits = splits or self.experiment_splits
        for entry in variants.values():
            config = entry.config if isinstance(entry, Variant) else entry
            if not (isinstance(entry, Variant) and entry.augment) and not self.recipe.is_chosen(model_kind(config)):
                self.choose_augmentation(model_kind(config))
        seeds = partial(self.profile.seeds_for, primary=primary)
        return run_variants(experiment, variants, splits, epochs or self.profile.experiment_epochs, seeds,
                            self.runtime, self.recorder, self.recipe, cache=self.cache, replay=self.replay,
                            resume=self.resume, dense_epoch_factor=dense_epoch_factor)

    def choose_augmentation(self, kind: str) -> pd.DataFrame:
        """Run one model's augmentation experiment (none, flips, shifts on the experiments' images, section 3.3 for
        the dense model, 5.2 for the CNN) and keep the augmentation with the best mean validation accuracy as that
        model's recipe; the table it was chosen from. Nothing is trained again once chosen in this session."""
        family = families(self.profile)["augmentation"]
        experiment = f"augmentation, {kind}"
        runs = self.train(experiment, family.experiments[experiment], *self.data_and_epochs(family, experiment))
        augment, table = choose_augmentation(runs)
        self.recipe = self.recipe.choose(kind, augment)
        return table

    def train_family(self, name: str) -> dict[str, dict[str, list[Outcome]]]:
        """Every experiment of a declared family (experiments.families), each on its data with its epochs, recorded
        under its experiment's name: {experiment: {variant: outcomes}} (sections 3.3, 3.4, 5.2, 6, 7.2, 7.3).

        Executing the cell again in the same kernel trains nothing: every run comes from this session's cache, and
        one line says so."""
        family = families(self.profile)[name]
        known = len(self.cache)
        runs = {experiment: self.train(experiment, variants, *self.data_and_epochs(family, experiment),
                                       primary=family.tests == "primary")
                for experiment, variants in family.experiments.items()}
        if len(self.cache) == known:
            count = sum(len(outcomes) for variants in runs.values() for outcomes in variants.values())
            show_markdown(_("Reused: all {count} runs of the {family} family were already trained in this session; "
                            "nothing was trained again.").format(count=count, family=_(name)))
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
        (experiments.family_of_tests: tests not among `runs` count as p = 1); without a family, as a family of its
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
        tables = []
        for name in family:
            runs, size = recorded_tests(committed_runs(), name)
            if runs:
                table = effects_table(runs, self.data.test_labels, size)
                table = table[table.experiment.isin(families()[name].experiments)]
                if not table.empty:
                    tables.append(table)
        return pd.concat(tables, ignore_index=True) if tables else None

    def full_run_found(self) -> bool:
        """Whether the committed full run's records (with test predictions) are there to compare with.

        Used in section 0.
        """
        return len(committed_runs()) > 0 and bool(committed_runs().predictions)

    def full_run_table(self, name: str) -> pd.DataFrame | None:
        """A committed result table of the full run (e.g. translation.csv), when this is a smaller profile.

        Used in sections 7.1, 7.4.
        """
        path = COMMITTED / name
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

        from . import plots, tables

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
        write_atomic(self.results / name, table.to_csv(index=False).encode())

    def record_run_facts(self) -> dict:
        """Section 11: record how the run went (profile, device, minutes, runs, replay) in results/notebook_run.json."""
        outcomes = {id(o): o for o in self.cache.values()}
        replayed = [o for o in outcomes.values() if o.source == "replayed"]
        resumed = [o for o in outcomes.values() if o.source == "resumed"]
        checked = [o for o in outcomes.values() if o.replay_check is not None]
        env = capture_environment(self.runtime)
        facts = {"profile": self.profile.name, "device": env.device, "device_name": env.device_name,
                 "precision": env.precision, "date": self.run_date,
                 "minutes": round((time.perf_counter() - self.started) / 60, 1), "torch": env.torch,
                 "python": env.python, "training_runs": len(load_runs(self.recorder.runs_path)),
                 "replayed_runs": len(replayed), "resumed_runs": len(resumed), "retrained_for_models": len(checked),
                 "recorded_device_name": _recorded_device(replayed),
                 "replay_checks": [{"variant": o.record["variant"], "seed": int(o.record["seed"]),
                                    "recorded": o.replay_check.recorded, "retrained": o.replay_check.retrained}
                                   for o in checked]}
        name = "notebook_run.json" if self.settings.language == "en" else f"notebook_run.{self.settings.language}.json"
        write_atomic(self.results / name, json.dumps(facts, indent=2).encode())
        self.recorder.write_state(**{**self.recorder.read_state(), "status": "finished"})
        self.recorder.unlock()
        return facts


_COMMITTED_CACHE: dict[str, RecordedRuns] = {}


def committed_runs() -> RecordedRuns:
    """The committed full run's records (results/ of the checkout), read once."""
    if "runs" not in _COMMITTED_CACHE:
        _COMMITTED_CACHE["runs"] = RecordedRuns(COMMITTED)
    return _COMMITTED_CACHE["runs"]


def start_session(profile_name: str | None = None, replay: bool | None = None,
                  resume: bool | None = None, language: str | None = None) -> Workshop:
    """Section 1: resolve the settings, choose device and profile, load and split the data, and start recording.

    The folder is locked for this process (a second run of the same profile refuses to start). Records left by an
    interrupted run of the same profile, code and device are continued (`resume`, default on): only what is missing
    is trained. Otherwise the records start afresh; a replay first reads the complete earlier run's records.
    `language` ('en', 'es'; None: $WORKSHOP_LANGUAGE) is the language of every text generated from here on.
    """
    settings = run_settings()
    language = settings.language if language is None else language
    set_language(language)
    replay = settings.replay if replay is None else replay
    resume = settings.resume if resume is None else resume
    runtime = choose_runtime()
    profile = choose_profile(profile_name, runtime.device)
    recorder = Recorder(profile.output_dir, profile.name)
    recorder.lock()
    recorded = RecordedRuns(recorder.results_dir) if replay else None
    continued, note = (None, "") if replay else _interrupted_run(recorder, runtime, resume)
    if continued is None:
        recorder.discard_records()  # each run records its own, complete set
    state = {"status": "running", "profile": profile.name, "code_version": training_code_version(),
             **{k: v for k, v in capture_environment(runtime).record_fields().items() if k != "git_commit"}}
    recorder.write_state(**state)
    data = load_fashion_mnist()
    splits = split_validation(data)
    if profile.subset:
        splits = shrink(splits, *profile.subset)
    experiment_splits = splits
    if profile.experiment_train_size and profile.experiment_train_size < len(splits.train_labels):
        experiment_splits = shrink(splits, profile.experiment_train_size, len(splits.val_labels),
                                   len(splits.test_labels))
    run_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    resolved = replace(settings, profile=profile.name, replay=replay, resume=resume, language=language)
    return Workshop(resolved, profile, runtime, recorder, recorded, continued, data, splits, experiment_splits,
                    run_date=run_date, start_note=note)


def _recorded_device(outcomes: list[Outcome]) -> str | None:
    """The processor (or GPU) and arithmetic most of the replayed runs were recorded with, as runs.csv names them
    ('AMD EPYC, bf16')."""
    names = pd.Series([f"{o.record['device_name']}, {o.record.get('precision')}" for o in outcomes
                       if o.record.get("device_name")])
    return str(names.mode().iloc[0]) if len(names) else None


def _interrupted_run(recorder: Recorder, runtime: Runtime, resume: bool) -> tuple[RecordedRuns | None, str]:
    """The records of an interrupted run of this profile to continue, or None, and one line saying which and why."""
    state = recorder.read_state()
    if state.get("status") != "running" or not recorder.runs_path.exists():
        return None, ""
    found = RecordedRuns(recorder.results_dir)
    if not resume:
        return None, _("fresh start (WORKSHOP_RESUME=0): the {count} runs of an interrupted run were discarded").format(
            count=len(found))
    now = {"profile": recorder.profile, "code_version": training_code_version(),
           **capture_environment(runtime).record_fields()}
    changed = [name for name in ("profile", "code_version", "device", "device_name", "precision", "torch_version")
               if state.get(name) != now[name]]
    if changed:
        return None, _("not resumed: the interrupted run's {fields} differ from this run's ({changes}); its {count} "
                       "runs were discarded and everything is trained again").format(
            fields=", ".join(changed), changes=", ".join(f"{state.get(n)} → {now[n]}" for n in changed),
            count=len(found))
    return found, _("resumed: {count} runs taken from the interrupted run of this profile (same code and device); "
                    "only what is missing is trained").format(count=len(found))
