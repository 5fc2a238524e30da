"""The notebook's session: one call sets up the device, the profile, the data, the recorder and any replay, then
trains and remembers runs, saves figures, and finds the committed full run's results to show beside a learner's."""

from __future__ import annotations

import datetime
import inspect
import json
import os
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from . import __version__
from .data import (
    SPLIT_FILES,
    VALIDATION_SIZE,
    FashionMNIST,
    Splits,
    balanced_subset,
    load_fashion_mnist,
    shrink,
    split_validation,
)
from .experiments import (
    DENSE_EPOCH_FACTOR,
    Outcome,
    RecordedRuns,
    Recorder,
    data_size_variants,
    effects,
    recorded_outcomes,
    run_variants,
)
from .plots import save_figure
from .profiles import PROFILES, Profile, choose_profile
from .results import environment_fields, load_runs, write_atomic
from .training import Runtime, choose_runtime

COMMITTED = Path("results")  # the committed full-profile run, relative to the repository root
FULL_TRAIN_SIZE = SPLIT_FILES["train"][2] - VALIDATION_SIZE  # the headline models' training images


def say(markdown: str) -> None:
    """Show one generated sentence (Markdown) as cell output."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def show_source(*objects) -> None:
    """Show the package code of functions or classes where the notebook teaches with them."""
    from IPython.display import Markdown, display

    code = "\n\n".join(inspect.getsource(o).rstrip() for o in objects)
    display(Markdown(f"```python\n{code}\n```"))


def interactive() -> bool:
    """True in a live Jupyter kernel; False when the notebook runs headless (tools/run_notebook.py, CI), where a
    widget would be saved as a dead control, so cells show a static figure instead."""
    if os.environ.get("WORKSHOP_HEADLESS") == "1":
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


@dataclass
class Workshop:
    """Everything one notebook run shares: device, profile, data and splits, where runs are recorded, and the runs."""

    profile: Profile
    runtime: Runtime
    recorder: Recorder
    replay: RecordedRuns | None
    data: FashionMNIST
    splits: Splits  # the headline models' train / validation / test sets
    experiment_splits: Splits  # the controlled experiments' (a class-balanced subset of the training set)
    started: float = field(default_factory=time.perf_counter)
    run_date: str = ""
    cache: dict[str, Outcome] = field(default_factory=dict)  # identical runs are trained once

    @property
    def figures(self) -> Path:
        return self.profile.output_dir / "results" / "figures"

    @property
    def artifacts(self) -> Path:
        return self.profile.output_dir / "fashion_mnist_cnn_model_pytorch"

    @property
    def results(self) -> Path:
        return self.profile.output_dir / "results"

    def setup_table(self) -> pd.DataFrame:
        """The versions, device and budget of this run (the first thing a reader needs to trust a number)."""
        rows = {
            "date": self.run_date, "profile": self.profile.name, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "pandas": pd.__version__,
            "conv_workshop": __version__, "device": f"{self.runtime.device} ({self.runtime.device_name})",
            "precision": self.runtime.precision, "CPU threads": torch.get_num_threads(),
            "seeds (CNNs / cheap runs)": f"{len(self.profile.seeds)} / {len(self.profile.cheap_seeds)}",
            "git commit": environment_fields()["git_commit"],
        }
        if self.replay is not None:
            rows["replay"] = f"{len(self.replay)} recorded runs reused; models retrained only where used"
        return pd.Series(rows, name="value").to_frame()

    def train(self, experiment: str, variants: dict, splits: Splits | None = None, epochs: int | None = None,
              dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> dict[str, list[Outcome]]:
        """Train (or take from the cache / replay) every variant with the profile's seeds; {variant: outcomes}."""
        splits = splits or self.experiment_splits
        return run_variants(experiment, variants, splits, epochs or self.profile.experiment_epochs,
                            self.profile.seeds_for, self.runtime, self.recorder, cache=self.cache, replay=self.replay,
                            dense_epoch_factor=dense_epoch_factor)

    def train_groups(self, groups: dict[str, dict], splits: Splits | None = None,
                     epochs: int | None = None) -> dict[str, dict[str, list[Outcome]]]:
        """Several experiments at once (e.g. every controlled experiment): {experiment: {variant: outcomes}}."""
        return {name: self.train(name.replace(" ", "_"), variants, splits, epochs) for name, variants in groups.items()}

    def train_data_sizes(self) -> dict[str, dict[str, list[Outcome]]]:
        """The data-efficiency probe: the dense model and the CNN on every training-set size of the profile, each
        size with the epochs the profile gives it; {"n=<size>": {variant: outcomes}}."""
        full_size = len(self.splits.train_labels)
        return {f"n={size}": self.train("data_size", data_size_variants(size), self.data_size_splits(size),
                                        self.profile.data_size_epochs(size, full_size))
                for size in self.profile.data_sizes}

    def data_size_splits(self, size: int) -> Splits:
        """The headline splits with a class-balanced training subset of `size` images (all of them if larger)."""
        if size >= len(self.splits.train_labels):
            return self.splits
        index = balanced_subset(self.splits.train_labels, size, seed=0)
        return replace(self.splits, train_images=self.splits.train_images[index],
                       train_labels=self.splits.train_labels[index])

    def show(self, figure: plt.Figure, name: str) -> None:
        """Save a figure under results/figures/<name>.png and show it now (so text printed later comes after it)."""
        from IPython.display import display

        save_figure(figure, self.figures / f"{name}.png")
        display(figure)
        plt.close(figure)

    # --- the committed full run, shown beside a smaller profile's results ---

    def reference_effects(self, groups: dict[str, dict], scope: str = "experiments",
                          sizes: dict[str, tuple[int, int]] | None = None) -> pd.DataFrame | None:
        """The committed full run's effects table for these experiments (None in the full profile or if missing).

        scope: "experiments" (the controlled experiments' subset) or "headline" (all training images); `sizes`
        gives (training images, CNN epochs) per experiment instead.
        """
        full = PROFILES["full"]
        default = ((full.experiment_train_size, full.experiment_epochs) if scope == "experiments"
                   else (FULL_TRAIN_SIZE, full.main_epochs))
        if self.profile.name == "full":
            return None
        outcomes = {name: recorded_outcomes(_committed_runs(), variants, *(sizes or {}).get(name, default))
                    for name, variants in groups.items()}
        outcomes = {name: found for name, found in outcomes.items()
                    if found and next(iter(groups[name])) in found and len(found) > 1}
        if not outcomes:
            return None
        return effects(outcomes, self.data.test_labels)

    def reference_data_size(self) -> pd.DataFrame | None:
        """The committed full run's data-size probe, as an effects table (CNN minus dense at each size)."""
        full = PROFILES["full"]
        groups = {f"n={size}": data_size_variants(size) for size in full.data_sizes}
        sizes = {f"n={size}": (min(size, FULL_TRAIN_SIZE), full.data_size_epochs(size, FULL_TRAIN_SIZE))
                 for size in full.data_sizes}
        return self.reference_effects(groups, sizes=sizes)

    def probe_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The test images (and labels) of the probes: the first probe_test_size of the experiments' test set."""
        count = min(self.profile.probe_test_size or len(self.experiment_splits.test_labels),
                    len(self.experiment_splits.test_labels))
        return self.experiment_splits.test_images[:count], self.experiment_splits.test_labels[:count]

    def show_effects(self, table: pd.DataFrame, experiment: str | None = None, reference: pd.DataFrame | None = None,
                     name: str | None = None) -> None:
        """An experiment's effects figure (saved as experiment_<name>.png) and its table, this run beside the
        committed full run's when there is one."""
        from IPython.display import display

        from . import plots, tables

        rows = table if experiment is None else table[table.experiment == experiment]
        keys = set(zip(rows.experiment, rows.variant))
        ref = None if reference is None else reference[[k in keys for k in zip(reference.experiment,
                                                                              reference.variant)]]
        title = (experiment or name or "").capitalize()
        self.show(plots.experiment_effects(rows, title, ref), f"experiment_{(name or experiment).replace(' ', '_')}")
        display(tables.effects(rows, ref, experiment=rows.experiment.nunique() > 1))

    def committed_run_found(self) -> bool:
        """Whether the committed full run's records (with test predictions) are there to compare with."""
        return len(_committed_runs()) > 0 and bool(_committed_runs().predictions)

    def committed(self, name: str) -> pd.DataFrame | None:
        """A committed result table of the full run (e.g. translation.csv), when this is a smaller profile."""
        path = COMMITTED / name
        if self.profile.name == "full" or not path.exists():
            return None
        return pd.read_csv(path)

    def write_table(self, table: pd.DataFrame, name: str) -> None:
        write_atomic(self.results / name, table.to_csv(index=False).encode())

    def finish(self) -> dict:
        """Record how the run went (profile, device, minutes, runs, replay) in results/notebook_run.json."""
        outcomes = {id(o): o for o in self.cache.values()}
        replayed = [o for o in outcomes.values() if o.replayed]
        checked = [o for o in replayed if o.replay_check is not None]
        facts = {"profile": self.profile.name, "device": self.runtime.device, "device_name": self.runtime.device_name,
                 "precision": self.runtime.precision, "date": self.run_date,
                 "minutes": round((time.perf_counter() - self.started) / 60, 1), "torch": str(torch.__version__),
                 "python": platform.python_version(), "training_runs": len(load_runs(self.recorder.runs_path)),
                 "replayed_runs": len(replayed), "retrained_for_models": len(checked),
                 "replay_checks": [{"variant": o.record["variant"], "seed": int(o.record["seed"]),
                                    "recorded": o.replay_check[0], "retrained": o.replay_check[1]} for o in checked]}
        write_atomic(self.results / "notebook_run.json", json.dumps(facts, indent=2).encode())
        return facts


_COMMITTED_CACHE: dict[str, RecordedRuns] = {}


def _committed_runs() -> RecordedRuns:
    if "runs" not in _COMMITTED_CACHE:
        _COMMITTED_CACHE["runs"] = RecordedRuns(COMMITTED / "runs.csv", COMMITTED / "histories.jsonl",
                                                COMMITTED / "predictions.jsonl")
    return _COMMITTED_CACHE["runs"]


def start(profile_name: str | None = None, replay: bool = False) -> Workshop:
    """Choose device and profile, load and split the data, and start recording (an earlier run's records are
    replaced, after being read when replaying)."""
    pd.set_option("display.max_colwidth", None)  # tables hold sentences (claims, verdicts): never cut them
    runtime = choose_runtime()
    profile = choose_profile(profile_name, runtime.device)
    recorder = Recorder(profile.output_dir, profile.name)
    recorded = RecordedRuns(recorder.runs_path, recorder.histories_path, recorder.predictions_path) if replay else None
    for path in (recorder.runs_path, recorder.histories_path, recorder.predictions_path):
        path.unlink(missing_ok=True)  # each run records its own, complete set
    data = load_fashion_mnist()
    splits = split_validation(data)
    if profile.subset:
        splits = shrink(splits, *profile.subset)
    experiment_splits = splits
    if profile.experiment_train_size and profile.experiment_train_size < len(splits.train_labels):
        experiment_splits = shrink(splits, profile.experiment_train_size, len(splits.val_labels),
                                   len(splits.test_labels))
    matplotlib.rcParams.update({"figure.dpi": 100, "axes.titlesize": 11})
    torch.manual_seed(0)
    run_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Workshop(profile, runtime, recorder, recorded, data, splits, experiment_splits, run_date=run_date)

