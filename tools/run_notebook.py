"""Executes the workshop notebook from its source (the jupytext script) with nbclient, in a chosen profile.

  python tools/run_notebook.py --profile smoke                     # executes a copy into runs/smoke/
  python tools/run_notebook.py --profile full --in-place           # the committed reference run (outputs kept in git)
  python tools/run_notebook.py --profile full --in-place --replay  # re-render it from its recorded runs

The cells come from convolutional_layers_workshop.py, so the executed notebook is always an execution of exactly
the committed source. nbclient (the engine papermill itself uses) is enough here: the profile travels in the
environment, which the notebook's `parameters` cell reads, so no injected cell ever differs from the source.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The editions are the package's languages: the English source, and the translations tools/translate_notebook.py
# builds from it.
from conv_workshop.i18n import LANGUAGES as EDITIONS  # noqa: E402

SOURCE = ROOT / "convolutional_layers_workshop.py"
NOTEBOOK = ROOT / "convolutional_layers_workshop.ipynb"


def edition(language: str) -> tuple[Path, Path]:
    """The source and the notebook of an edition: convolutional_layers_workshop[.es].py / .ipynb."""
    suffix = "" if language == "en" else f".{language}"
    return ROOT / f"{SOURCE.stem}{suffix}.py", ROOT / f"{NOTEBOOK.stem}{suffix}.ipynb"


def timing_key(profile: str, replay: bool, language: str) -> str:
    """A profile's entry in the timings file: "full", "full (replay)", "quick (es)", ..."""
    details = ", ".join(([] if not replay else ["replay"]) + ([] if language == "en" else [language]))
    return f"{profile} ({details})" if details else profile


def recorded_seconds(path: Path | None, key: str) -> float | None:
    """The last recorded duration of a run like this one, if any."""
    if path is None or not path.exists():
        return None
    return json.loads(path.read_text()).get(key, {}).get("seconds")


def record_timing(path: Path, profile: str, seconds: float, replay: bool, language: str = "en") -> None:
    """Keep the latest duration of each profile with the machine it ran on (a benchmark, not a test)."""
    import torch

    from conv_workshop.atomic import write_atomic
    from conv_workshop.settings import run_settings
    from conv_workshop.training import choose_runtime

    runtime = choose_runtime(precision=run_settings().precision)  # as the notebook's session chose it
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[timing_key(profile, replay, language)] = {
        "seconds": round(seconds, 1), "device": f"{runtime.device} ({runtime.device_name}, {runtime.precision})",
        "cpu_threads": torch.get_num_threads(), "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    write_atomic(path, json.dumps(timings, indent=2, sort_keys=True).encode())


class TerminalProgress:
    """What a run prints while its notebook executes (the kernel's own output goes into the notebook): the section
    running, the training runs done out of those the profile still has to train (its declared families' runs not yet
    in the folder's records), and the time left. It reads the records as they grow, every `interval` seconds."""

    def __init__(self, notebook, profile: str, expected_seconds: float | None, fresh: bool = False,
                 interval: float = 20.0):
        from conv_workshop.data import TRAIN_SIZE
        from conv_workshop.experiments.recorded import planned_runs, recorded_recipe
        from conv_workshop.experiments.runner import Recipe
        from conv_workshop.experiments.runs import RecordedRuns, current_runs, load_runs
        from conv_workshop.layout import RunLayout
        from conv_workshop.profiles import PROFILES
        from conv_workshop.settings import run_settings

        self.sections, heading = [], ""
        for cell in notebook.cells:
            found = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("## ")]
            heading = found[-1] if cell.cell_type == "markdown" and found else heading
            self.sections.append(heading)
        # the kernel runs in the checkout (its working directory), whatever folder this script is started from
        self.runs_csv = ROOT / RunLayout.for_profile(profile, run_settings().output_dir).runs_csv
        self._load = lambda: current_runs(load_runs(self.runs_csv)) if self.runs_csv.exists() else None
        # a fresh start puts the records aside: everything trains again, into a new runs.csv
        records = RecordedRuns(self.runs_csv.parent) if self.runs_csv.exists() and not fresh else None
        full = PROFILES[profile]
        chosen = recorded_recipe(records, full) if records is not None else Recipe()
        keys = {key for *_, key in planned_runs(full, chosen, full.subset[0] if full.subset else TRAIN_SIZE)}
        self.to_train = len([key for key in keys if records is None or records.find(key) is None])
        self.rows_at_start = 0 if fresh else self._rows()
        self.expected, self.interval = expected_seconds, interval
        self.started, self.section, self.last = time.perf_counter(), "", ""
        self.printed_at = self.started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _rows(self) -> int:
        runs = self._load()
        return 0 if runs is None else len(runs)

    def _line(self) -> str:
        runs = self._load()
        new = 0 if runs is None else max(0, len(runs) - self.rows_at_start)
        elapsed = time.perf_counter() - self.started
        if new and self.to_train > new:
            seconds = runs.train_seconds.tail(new).mean() * (self.to_train - new)
            left = f"about {seconds / 60:.0f} min of training left"
        elif self.expected:
            left = f"about {max(0.0, self.expected - elapsed) / 60:.0f} min left (the last such run took " \
                   f"{self.expected / 60:.0f} min)"
        else:
            left = "no earlier timing of this profile to estimate the time left"
        runs_done = f"training runs {min(new, self.to_train)}/{self.to_train}" if self.to_train else \
            "every training run is in the records"
        return f"[{elapsed / 60:5.1f} min] {self.section or 'set-up'} · {runs_done} · {left}"

    def _print(self, force: bool = False) -> None:
        try:  # the kernel may be writing or moving the records: progress must never stop the run
            line = self._line()
        except Exception as error:
            line = f"[progress unavailable: {type(error).__name__}]"
        # a line when the section or the runs change, and at least every 5 minutes in a long section
        quiet = time.perf_counter() - self.printed_at > 300
        if force or quiet or line.split(" · ")[1:2] != self.last.split(" · ")[1:2]:
            print(line, flush=True)
            self.printed_at = time.perf_counter()
        self.last = line

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._print()

    def cell_started(self, cell, cell_index: int, **_) -> None:
        """nbclient's on_cell_start hook: a line whenever the section changes."""
        if self.sections[cell_index] != self.section:
            self.section = self.sections[cell_index]
            self._print(force=True)

    def __enter__(self) -> TerminalProgress:
        print(f"{self.to_train} training runs to do in this profile; the rest are in the records", flush=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._print(force=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("smoke", "quick", "full"), required=True)
    parser.add_argument("--language", choices=EDITIONS, default="en",
                        help="the edition: en (convolutional_layers_workshop.py) or es (its Spanish translation)")
    parser.add_argument("--in-place", action="store_true", help="overwrite the committed notebook with this run")
    parser.add_argument("--output", type=Path, default=None, help="where the executed copy goes")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds allowed per cell")
    parser.add_argument("--record-timing", type=Path, default=None,
                        help="JSON file where the run's duration is recorded per profile (e.g. "
                             "results/benchmarks/notebook_profiles.json)")
    parser.add_argument("--replay", action="store_true",
                        help="reuse the profile's recorded runs (re-render outputs); retrain only models in use")
    parser.add_argument("--fresh", action="store_true",
                        help="set this profile's records aside (results/set_aside/) and train everything afresh, "
                             "instead of taking the runs already recorded")
    args = parser.parse_args()

    source, committed = edition(args.language)
    output = committed if args.in_place else (args.output or ROOT / "runs" / args.profile / committed.name)
    notebook = jupytext.read(source)
    os.environ["WORKSHOP_PROFILE"] = args.profile
    os.environ["WORKSHOP_HEADLESS"] = "1"  # no live kernel will answer widgets: cells draw static figures
    os.environ.pop("MPLBACKEND", None)  # a non-interactive backend here would leave the notebook without figures
    if args.replay:
        os.environ["WORKSHOP_REPLAY"] = "1"
    else:
        os.environ.pop("WORKSHOP_REPLAY", None)
    os.environ["WORKSHOP_RESUME"] = "0" if args.fresh else "1"
    os.environ["WORKSHOP_LANGUAGE"] = args.language  # the edition asked for, whatever the caller's environment says
    os.environ.setdefault("WORKSHOP_PROGRESS", "0")  # progress bars are for people; an executed file keeps summaries
    timings = args.record_timing or ROOT / "results" / "benchmarks" / "notebook_profiles.json"
    progress = TerminalProgress(notebook, args.profile,
                                recorded_seconds(timings, timing_key(args.profile, args.replay, args.language)),
                                fresh=args.fresh)
    client = NotebookClient(notebook, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}, on_cell_start=progress.cell_started)
    started = time.perf_counter()
    try:
        with progress:
            client.execute()
    except CellExecutionError as error:
        output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, output.with_suffix(".failed.ipynb"))
        print(f"notebook failed after {time.perf_counter() - started:.0f} s:\n{error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_suffix(".tmp")
    nbformat.write(notebook, temporary)
    os.replace(temporary, output)
    print(f"executed {source.name} in profile {args.profile} in {elapsed:.0f} s -> {output}")
    if args.record_timing:
        record_timing(args.record_timing, args.profile, elapsed, replay=args.replay, language=args.language)
    return 0


if __name__ == "__main__":
    sys.exit(main())
