"""Recorded results: one CSV row per training run (with versions and device), histories in JSONL, and summaries."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import torch

RUN_FIELDS = (
    "run_id", "timestamp", "profile", "experiment", "variant", "model", "config", "train_config", "seed",
    "epochs", "data", "train_size", "parameters", "macs", "train_seconds", "images_per_second", "best_epoch",
    "best_val_accuracy", "test_accuracy", "test_loss", "device", "device_name", "precision", "torch_version",
    "python_version", "git_commit",
)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write a whole file or nothing: a temporary file in the same folder, then an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make shared results unreadable to others
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# What a notebook run itself rewrites: changes there say nothing about the code that ran.
RUN_OUTPUTS = ("results", "fashion_mnist_cnn_model_pytorch", "runs", "convolutional_layers_workshop.ipynb")


def git_commit(root: str | os.PathLike | None = None) -> str:
    """The commit the code ran at ('unknown' outside a git checkout), with '+dirty' for uncommitted code changes."""
    root = Path(root) if root else Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){path}" for path in RUN_OUTPUTS)], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("WORKSHOP_GIT_COMMIT", "unknown")


def environment_fields() -> dict:
    return {"torch_version": str(torch.__version__), "python_version": platform.python_version(),
            "git_commit": git_commit()}


def append_rows(path: str | os.PathLike, rows: list[dict], fields: tuple[str, ...] = RUN_FIELDS) -> None:
    """Append rows to a CSV file (header written once), rewriting it atomically so a crash never truncates it."""
    path = Path(path)
    existing = path.read_text() if path.exists() else ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="raise", lineterminator="\n")
    if not existing:
        writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
    write_atomic(path, (existing + buffer.getvalue()).encode())


def append_jsonl(path: str | os.PathLike, records: list[dict]) -> None:
    path = Path(path)
    existing = path.read_text() if path.exists() else ""
    text = "".join(json.dumps(record) + "\n" for record in records)
    write_atomic(path, (existing + text).encode())


def load_runs(path: str | os.PathLike) -> pd.DataFrame:
    """All recorded runs as a DataFrame (empty, with the right columns, when nothing is recorded yet)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(RUN_FIELDS))
    # Exact floats, so a replay reproduces the file: pandas 3 parses round-trip by default, older pandas on request.
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return pd.read_csv(path, **exact)


def load_histories(path: str | os.PathLike) -> pd.DataFrame:
    """Per-epoch histories (one row per run and epoch) keyed by run_id."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame()
    rows = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        rows += [{"run_id": record["run_id"], **epoch} for epoch in record["history"]]
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame, by: tuple[str, ...] = ("experiment", "variant")) -> pd.DataFrame:
    """Mean ± std over seeds of accuracy, loss and time, with parameters and MACs, one row per group."""
    if runs.empty:
        return pd.DataFrame()
    grouped = runs.groupby(list(by), sort=False)
    table = grouped.agg(
        seeds=("seed", "nunique"),
        epochs=("epochs", "first"),
        train_size=("train_size", "first"),
        parameters=("parameters", "first"),
        macs=("macs", "first"),
        test_accuracy_mean=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std"),
        test_loss_mean=("test_loss", "mean"),
        best_val_accuracy_mean=("best_val_accuracy", "mean"),
        train_seconds_mean=("train_seconds", "mean"),
    ).reset_index()
    table["test_accuracy_std"] = table["test_accuracy_std"].fillna(0.0)
    return table


def to_markdown(table: pd.DataFrame) -> str:
    """A pipe table without the optional tabulate dependency."""
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])
