"""Recorded runs: one CSV row per training run (with versions and device), its history and test predictions in JSONL,
the key that makes two runs the same run, and the records of earlier runs found again by that key.

The notebook records every run the moment it ends (`Recorder`). A later run of the same folder takes every run it
finds in the records (`RecordedRuns`) instead of training it again: it trains only what is missing, and a replay
re-renders the notebook from the records, retraining only the models a figure needs (`Outcome.ensure_model`).
Records are only ever added to: nothing here deletes one.
"""

from __future__ import annotations

import atexit
import base64
import csv
import datetime as dt
import io
import json
import os
import platform
import socket
import subprocess
import warnings
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import __version__
from ..atomic import write_atomic
from ..layout import CHECKOUT, RUN_OUTPUTS, RecordFiles, RunLayout
from ..models import ModelConfig, build_model, config_from_dict, config_to_dict
from ..training import FitResult, Runtime, TrainConfig

RUN_FIELDS = (
    "run_id", "timestamp", "profile", "experiment", "variant", "model", "config", "train_config", "seed",
    "epochs", "data", "train_size", "parameters", "macs", "train_seconds", "images_per_second", "best_epoch",
    "best_val_accuracy", "test_accuracy", "test_loss", "device", "device_name", "precision", "torch_version",
    "python_version", "git_commit", "recipe_version",
)

# The version of the code that computes a run from its key (constants, data, models, training, and the recipe and
# train_and_record of runner.py): recorded with every run, and a run recorded by another version is never reused.
# tests/test_recipe_version.py holds a fingerprint of that code and fails when it changes: bump this number when a
# run's numbers can change (the records of older versions are then trained again), and update the fingerprint either
# way.
RECIPE_VERSION = 1
# Columns that runs.csv files written before them lack, with the value those records had.
ADDED_FIELDS = {"recipe_version": 1}


# A retrained model reproduces its record when their test accuracies agree to well under one test image.
REPRODUCED_TOLERANCE = 5e-5


def git_commit(root: str | os.PathLike | None = None, outside: str | None = None) -> str:
    """The commit the code ran at, with '+dirty' for uncommitted code changes; outside a git checkout, `outside`
    (the WORKSHOP_GIT_COMMIT setting) or 'unknown'."""
    root = Path(root) if root else CHECKOUT
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){path}" for path in RUN_OUTPUTS)], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return outside or "unknown"


@dataclass(frozen=True)
class Environment:
    """What a result depends on besides the code's inputs: versions, commit, and (for a run) the device."""

    python: str
    torch: str
    numpy: str
    pandas: str
    conv_workshop: str
    git_commit: str
    cpu_threads: int
    machine: str
    device: str = ""
    device_name: str = ""
    precision: str = ""

    def record_fields(self) -> dict:
        """The environment columns of a runs.csv row."""
        return {"device": self.device, "device_name": self.device_name, "precision": self.precision,
                "torch_version": self.torch, "python_version": self.python, "git_commit": self.git_commit}

    def versions(self) -> dict:
        """The versions saved in a checkpoint."""
        return {"torch": self.torch, "python": self.python, "numpy": self.numpy}


def capture_environment(runtime: Runtime | None = None, commit: str | None = None) -> Environment:
    """The one place the run environment is captured (records, setup table, run facts, checkpoints, model card);
    `commit` is the one a session resolved at its start (default: git_commit() now)."""
    return Environment(
        python=platform.python_version(), torch=str(torch.__version__), numpy=np.__version__,
        pandas=pd.__version__, conv_workshop=__version__, git_commit=commit or git_commit(),
        cpu_threads=torch.get_num_threads(), machine=platform.machine(),
        device=runtime.device if runtime else "", device_name=runtime.device_name if runtime else "",
        precision=runtime.precision if runtime else "")


class RecordsError(ValueError):
    """A records file is malformed somewhere other than its last line: the message names the file and the line."""


class RecordsLocked(RuntimeError):
    """Another live run is recording into the same folder."""


def append_text(path: str | os.PathLike, text: str) -> None:
    """Append whole lines with one O_APPEND write and fsync: cost proportional to what is added, and a crash can
    only cut the last line short (which the loaders detect and drop)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_cut_line(path)
    data = text.encode()
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        while data:
            data = data[os.write(handle, data):]
        os.fsync(handle)
    finally:
        os.close(handle)


def _drop_cut_line(path: Path) -> None:
    """Before appending: a last line without its newline was cut short by a crash (every record is written as whole
    lines), so it is removed, with a warning, rather than glued to the next record."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as stream:
        stream.seek(-1, os.SEEK_END)
        if stream.read(1) == b"\n":
            return
        stream.seek(0)
        data = stream.read()
        stream.truncate(data.rfind(b"\n") + 1)
    warnings.warn(f"{path}: its last line was cut short (a run stopped while writing it); it is dropped and that "
                  "run will be trained again", stacklevel=3)


def append_rows(path: str | os.PathLike, rows: list[dict], fields: tuple[str, ...] = RUN_FIELDS) -> None:
    """Append rows to a CSV file (the header first when the file is new or empty; a runs file written before a
    column was added gets that column first, see upgrade_runs_file)."""
    path = Path(path)
    if fields == RUN_FIELDS:
        upgrade_runs_file(path)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="raise", lineterminator="\n")
    if not path.exists() or path.stat().st_size == 0:
        writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
    append_text(path, buffer.getvalue())


def append_jsonl(path: str | os.PathLike, records: list[dict]) -> None:
    """Append one JSON line per record."""
    append_text(path, "".join(json.dumps(record) + "\n" for record in records))


def _complete_lines(path: Path, parses: Callable[[str], bool]) -> list[str]:
    """The file's lines; a last line cut short by a crash (no newline, does not parse) is dropped with a warning, a
    line that does not parse anywhere else is a RecordsError naming the file and line."""
    text = path.read_text()
    lines = text.split("\n")
    cut = lines.pop() if lines else ""  # "" when the file ends with a newline, as a complete file does
    for number, line in enumerate(lines, start=1):
        if not parses(line):
            raise RecordsError(f"{path}, line {number}: not a record ({line[:60]!r}…); restore the file from git, "
                               "or delete it to start this profile afresh")
    if cut:
        if parses(cut):
            lines.append(cut)
        else:
            warnings.warn(f"{path}: its last line was cut short (a run stopped while writing it); it is dropped "
                          "and that run will be trained again", stacklevel=3)
    return lines


def _json_line(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Every complete record of a JSONL file (see _complete_lines)."""
    path = Path(path)
    return [json.loads(line) for line in _complete_lines(path, _json_line)] if path.exists() else []


NUMERIC_FIELDS = ("seed", "epochs", "train_size", "parameters", "macs", "train_seconds", "best_epoch",
                  "best_val_accuracy", "test_accuracy", "test_loss")


def load_runs(path: str | os.PathLike) -> pd.DataFrame:
    """All recorded runs as a DataFrame (empty, with the right columns, when nothing is recorded yet).

    A cut-short last row is dropped with a warning; any other malformed row is a RecordsError naming the line."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(RUN_FIELDS))
    fields = _header(path)
    # A complete header, or one written before a column of ADDED_FIELDS existed
    if not set(RUN_FIELDS) - set(ADDED_FIELDS) <= set(fields) <= set(RUN_FIELDS):
        missing, unknown = sorted(set(RUN_FIELDS) - set(fields))[:3], sorted(set(fields) - set(RUN_FIELDS))[:3]
        raise RecordsError(f"{path}, line 1: the header is not that of a runs file (missing: {missing}, unknown: "
                           f"{unknown}); restore the file from git, or delete it to start this profile afresh")

    def parses(line: str) -> bool:
        return len(next(csv.reader([line]), [])) == len(fields)

    lines = _complete_lines(path, parses)
    # Exact floats, so a replay reproduces the file: pandas 3 parses round-trip by default, older pandas on request.
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    runs = pd.read_csv(io.StringIO("\n".join(lines) + "\n"), **exact)
    for name, value in ADDED_FIELDS.items():
        if name not in runs:
            runs[name] = value
    for name in NUMERIC_FIELDS:
        bad = pd.to_numeric(runs[name], errors="coerce").isna() & runs[name].notna()
        if bad.any():
            line = int(bad.to_numpy().argmax()) + 2
            raise RecordsError(f"{path}, line {line}: {name} is {runs[name][bad].iloc[0]!r}, not a number")
    return runs


def _header(path: Path) -> list[str]:
    with open(path) as stream:
        return next(csv.reader([stream.readline()]), [])


def upgrade_runs_file(path: str | os.PathLike) -> None:
    """Give a runs file written before a column of ADDED_FIELDS existed that column, with the value its records had
    (rewritten atomically, every number kept as written), so that new rows can be appended to it."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return
    fields = _header(path)
    missing = [name for name in RUN_FIELDS if name not in fields]
    if not missing:
        return
    if not set(missing) <= set(ADDED_FIELDS):
        load_runs(path)  # raises the RecordsError that names what is wrong with the header
    _drop_cut_line(path)
    rows = list(csv.reader(io.StringIO(path.read_text())))[1:]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields + missing)
    writer.writerows(row + [ADDED_FIELDS[name] for name in missing] for row in rows)
    write_atomic(path, buffer.getvalue().encode())


def current_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The records this code would reuse: those computed by its RECIPE_VERSION (older ones stay in the file)."""
    return runs[runs.recipe_version == RECIPE_VERSION].reset_index(drop=True)


def provenance(runs: pd.DataFrame) -> list[dict]:
    """Who produced a set of records: each commit, device and precision with its number of runs, the most first."""
    if runs.empty:
        return []
    groups = runs.groupby(["git_commit", "device", "device_name", "precision"], dropna=False).size()
    return [{"git_commit": commit, "device": device, "device_name": name, "precision": precision, "runs": int(count)}
            for (commit, device, name, precision), count in groups.sort_values(ascending=False, kind="stable").items()]


def encode_predictions(predictions: np.ndarray) -> str:
    """Predicted classes (uint8) as compressed base64 text: 10,000 predictions take about 5 KB."""
    return base64.b64encode(zlib.compress(np.asarray(predictions, dtype=np.uint8).tobytes(), 9)).decode()


def decode_predictions(text: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8).copy()


def run_key(config: ModelConfig | dict, train_config: TrainConfig | dict, seed: int, data: str,
            train_size: int) -> str:
    """What makes two runs the same run: model config, recipe, seed, data and its size (not the experiment's name).

    The key names what a run computes: config fields equal to their default stay out of it (compared in their
    recorded form, a tuple as a list), so a new field with a default that changes nothing keeps every recorded key.
    The records keep the full config."""
    config = config if isinstance(config, dict) else config_to_dict(config)
    train_config = train_config if isinstance(train_config, dict) else asdict(train_config)
    model_defaults = config_to_dict(config_from_dict({"kind": config["kind"]}))
    return json.dumps([_without_defaults(config, model_defaults, keep=("kind",)),
                       _without_defaults(train_config, asdict(TrainConfig())), int(seed), data, int(train_size)],
                      sort_keys=True)


def _without_defaults(values: dict, defaults: dict, keep: tuple[str, ...] = ()) -> dict:
    return {name: value for name, value in values.items()
            if name in keep or name not in defaults or value != defaults[name]}


@dataclass(frozen=True)
class ReplayCheck:
    """A replayed run retrained because its model was needed: the recorded and the retrained test accuracy."""

    recorded: float  # test accuracy in runs.csv
    retrained: float  # test accuracy of the model trained again with the same seed and recipe
    tolerance: float = REPRODUCED_TOLERANCE
    precision: str = ""  # the retraining's arithmetic and processor (the record has the recorded run's)
    device_name: str = ""

    @property
    def reproduced(self) -> bool:
        """Whether the retrained model scores what its record says, to well under one test image."""
        return abs(self.recorded - self.retrained) < self.tolerance


def load_weights(config: dict, path: Path) -> nn.Module:
    """The model a recorded config describes, with the weights saved for it (tensors only: weights_only=True)."""
    model = build_model(config_from_dict(config))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def count_reproduced(checks: list[dict]) -> int:
    """How many {"recorded", "retrained"} pairs of a replay (results/notebook_run.json) reproduce their record."""
    return sum(ReplayCheck(c["recorded"], c["retrained"]).reproduced for c in checks)


@dataclass
class Outcome:
    """One finished run: the recorded row, the training history and, once trained, the model (best validation epoch).

    A replayed outcome (see RecordedRuns) has no model until `ensure_model()` is called; that call retrains it with
    the same seed and recipe (minutes, not instant) and keeps the recorded and retrained accuracy in `replay_check`.
    """

    record: dict
    fit: FitResult
    test_predictions: np.ndarray  # the predicted class of every test image (uint8), for paired statistics
    model: nn.Module | None = None
    retrain: Callable[[], Outcome] | None = field(default=None, repr=False)
    replay_check: ReplayCheck | None = None
    weights: Path | None = None  # the trained weights saved with the record (resume loads them instead of training)
    # trained in this session, or taken from records: "replayed" (a replay), "resumed" (any other run of the folder),
    # "recorded" (looked up, as the committed full run is)
    source: str = "trained"

    def ensure_model(self) -> nn.Module:
        """The trained model. A resumed run loads the weights saved when it was trained; a replayed run (or a resumed
        one whose weights are gone, as in a fresh clone) is retrained first and checked against its record."""
        if self.model is None and self.source == "resumed" and self.weights is not None and self.weights.exists():
            self.model = load_weights(self.record["config"], self.weights)
        if self.model is None:
            if self.retrain is None:
                raise ValueError(f"{self.record['run_id']} was read from records without a way to retrain it: "
                                 "take it from Workshop.train, which can retrain a replayed run")
            fresh = self.retrain()
            self.model = fresh.model
            self.replay_check = ReplayCheck(self.record["test_accuracy"], fresh.record["test_accuracy"],
                                            precision=fresh.record["precision"],
                                            device_name=fresh.record["device_name"])
        return self.model

    @property
    def from_records(self) -> bool:
        """Taken from records (by a replay or any later run of the folder) rather than trained in this session."""
        return self.source != "trained"


class RecordedRuns:
    """The runs earlier executions recorded (runs.csv, histories.jsonl, predictions.jsonl), found by run key.

    Used to train only what is missing, to replay a notebook (for example to re-render its figures) without training
    every run again, and to show the committed full run beside a smaller profile's results. Runs recorded by another
    RECIPE_VERSION are not found: they are counted in `other_versions`, by version.
    """

    def __init__(self, results_dir: str | os.PathLike):
        results_dir = self.results_dir = Path(results_dir)
        files = self.files = RecordFiles(results_dir)
        self.runs: dict[str, dict] = {}
        self.other_versions: dict[int, int] = {}
        self.table = pd.DataFrame(columns=list(RUN_FIELDS))
        self.histories: dict[str, list[dict]] = {}
        self.predictions: dict[str, np.ndarray] = {}
        for item in read_jsonl(files.predictions):
            self.predictions[item["run_id"]] = decode_predictions(item["test_predictions"])
        for item in read_jsonl(files.histories):
            self.histories[item["run_id"]] = item["history"]
        if files.runs_csv.exists():
            self.table = load_runs(files.runs_csv)
            for row in self.table.to_dict(orient="records"):
                record = json.loads(json.dumps(row, default=lambda v: v.item()))
                if record["recipe_version"] != RECIPE_VERSION:
                    version = int(record["recipe_version"])
                    self.other_versions[version] = self.other_versions.get(version, 0) + 1
                    continue
                record["config"], record["train_config"] = json.loads(row["config"]), json.loads(row["train_config"])
                key = run_key(record["config"], record["train_config"], record["seed"], record["data"],
                              record["train_size"])
                self.runs[key] = record

    def __len__(self) -> int:
        return len(self.runs)

    def find(self, key: str) -> Outcome | None:
        """The recorded run with this key, as an Outcome without a model (None if it or its history is missing)."""
        record = self.runs.get(key)
        if record is None or record["run_id"] not in self.histories or record["run_id"] not in self.predictions:
            return None
        fit_result = FitResult(history=self.histories[record["run_id"]], best_epoch=record["best_epoch"],
                               best_val_accuracy=record["best_val_accuracy"], train_seconds=record["train_seconds"],
                               images_per_second=record["images_per_second"])
        return Outcome(record=record, fit=fit_result, test_predictions=self.predictions[record["run_id"]],
                       weights=self.files.weights(record["run_id"]), source="recorded")


@dataclass(frozen=True)
class Recorder:
    """Where runs are recorded: the records folder of the run whose root is `output_dir` (layout.RecordFiles)."""

    output_dir: Path
    profile: str

    @property
    def files(self) -> RecordFiles:
        return RunLayout(Path(self.output_dir)).records

    @property
    def results_dir(self) -> Path:
        """The folder of this profile's records (results/ of the checkout for the full profile)."""
        return self.files.folder

    @property
    def runs_path(self) -> Path:
        return self.files.runs_csv

    @property
    def histories_path(self) -> Path:
        return self.files.histories

    @property
    def predictions_path(self) -> Path:
        return self.files.predictions

    def record(self, row: dict, history: list[dict], test_predictions: np.ndarray,
               model: nn.Module | None = None) -> None:
        """Save the run's trained weights (when given; not committed, see .gitignore), then append its predicted
        class for every test image, its per-epoch history, then its row: the row is written last, so a run counts as
        recorded only when everything is there."""
        if model is not None:
            buffer = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
            write_atomic(self.files.weights(row["run_id"]), buffer.getvalue())
        append_jsonl(self.predictions_path, [{"run_id": row["run_id"],
                                              "test_predictions": encode_predictions(test_predictions)}])
        append_jsonl(self.histories_path, [{"run_id": row["run_id"], "history": history}])
        append_rows(self.runs_path, [row])

    def set_aside(self) -> Path | None:
        """Move this folder's records (and saved weights) into set_aside/<time>/ inside it, so that a fresh start
        records its own set and loses nothing; that folder, or None when there was nothing to move."""
        files = self.files
        present = [path for path in (files.runs_csv, files.histories, files.predictions, files.models)
                   if path.exists()]
        if not present:
            return None
        folder = files.set_aside / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        folder.mkdir(parents=True)
        for path in present:
            os.replace(path, folder / path.name)
        return folder

    def lock(self) -> None:
        """Take this folder's lock for this process, or raise RecordsLocked naming the lock and the other process
        (a lock left by a process that is gone is taken over with a warning)."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
        lock = self.files.lock
        mine = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
        for _ in range(2):
            try:
                handle = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                other = _read_lock(lock)
                if other.get("pid") == mine["pid"] and other.get("host") == mine["host"]:
                    return  # this process (a notebook kernel starting again) holds it already
                if other.get("host") == mine["host"] and not _alive(other.get("pid")):
                    gone = other.get("pid")
                    warnings.warn(f"{lock}: left by process {gone}, which is gone; taken over", stacklevel=2)
                    lock.unlink(missing_ok=True)
                    continue
                raise RecordsLocked(
                    f"{self.results_dir} is being recorded by another run (process {other.get('pid')} on "
                    f"{other.get('host')}, since {other.get('since')}; lock file {lock}). Wait for it to "
                    "finish, or set WORKSHOP_OUTPUT_DIR to another folder; if that process is gone, delete the lock "
                    "file.") from None
            with os.fdopen(handle, "w") as stream:
                json.dump(mine, stream)
            atexit.register(self.unlock)
            return

    def unlock(self) -> None:
        """Release this process's lock (nothing if another process holds it)."""
        if _read_lock(self.files.lock).get("pid") == os.getpid():
            self.files.lock.unlink(missing_ok=True)

    def read_state(self) -> dict:
        """What the last run of this folder said about itself (run_state.json), {} if nothing."""
        try:
            return json.loads(self.files.state.read_text())
        except (OSError, ValueError):
            return {}

    def write_state(self, **state) -> None:
        write_atomic(self.files.state, json.dumps(state, indent=2).encode())


def _read_lock(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
