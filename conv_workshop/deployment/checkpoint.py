"""The checkpoint: a model's weights, its config and what it expects (class names, input, normalisation) as plain
data in one .pth file, written atomically and read back with torch.load(weights_only=True).

Reading one and rebuilding its model needs torch alone (this module, models.py and the torch-free constants,
layout and atomic), so that the weights load outside the workshop: hubconf.py uses this module.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from torch import nn

from ..atomic import write_atomic
from ..constants import CLASS_NAMES
from ..layout import COMMITTED
from ..models import Normalize, build_model, config_from_dict, config_to_dict

CHECKPOINT_FORMAT = "conv_workshop.checkpoint/1"
INPUT_NOTE = "float32 N×1×28×28, pixels scaled to [0, 1] (white garment on black); normalisation is inside the model"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, or not one this package wrote."""


def versions() -> dict:
    """The versions saved in a checkpoint (runs.capture_environment, imported here: loading needs torch alone)."""
    from ..experiments.runs import capture_environment

    return capture_environment().versions()


def save_checkpoint(path: str | os.PathLike, model: nn.Module, train_config: dict | None = None,
                    metrics: dict | None = None) -> Path:
    """Write a checkpoint of plain data only (tensors, numbers, strings), so torch.load(weights_only=True) reads it."""
    normalize = next(m for m in model.modules() if isinstance(m, Normalize))
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model_config": config_to_dict(model.config),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "class_names": list(CLASS_NAMES),
        "normalization": {"mean": float(normalize.mean), "std": float(normalize.std)},
        "input": INPUT_NOTE,
        "train_config": train_config or {},
        "metrics": metrics or {},
        "versions": versions(),
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_atomic(path, buffer.getvalue())
    return Path(path)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dictionary, loaded with weights_only=True (no arbitrary code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint. Train one (python -m conv_workshop train) or use "
                              f"{COMMITTED.artifacts.checkpoint} from the repository.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error}).") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a conv_workshop checkpoint (expected format {CHECKPOINT_FORMAT}).")
    return checkpoint


def load_model(path: str | os.PathLike, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint describes, with its weights, in eval mode; returns (model, checkpoint).

    A checkpoint that does not describe one of this package's models is a CheckpointError naming the missing or
    unknown part (instead of a KeyError or TypeError traceback)."""
    checkpoint = read_checkpoint(path)
    missing = [key for key in ("model_config", "state_dict") if not isinstance(checkpoint.get(key), dict)]
    if missing:
        raise CheckpointError(f"{path}: the checkpoint has no {' or '.join(missing)}; save it with "
                              "checkpoint.save_checkpoint (python -m conv_workshop train does).")
    try:
        model = build_model(config_from_dict(checkpoint["model_config"]))
    except (KeyError, TypeError) as error:  # no or unknown "kind", or a field the config classes do not have
        raise CheckpointError(f"{path}: its model_config does not describe a model of this version "
                              f"({type(error).__name__}: {error}); retrain, or use the committed weights.") from None
    expected, found = set(model.state_dict()), set(checkpoint["state_dict"])
    if expected != found:
        raise CheckpointError(f"{path}: the weights do not fit the model its config describes (missing: "
                              f"{sorted(expected - found)[:3]}, unknown: {sorted(found - expected)[:3]}); retrain, "
                              "or use the committed weights.")
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:  # what load_state_dict raises for tensors of the wrong shape
        raise CheckpointError(f"{path}: the weights do not fit the model its config describes "
                              f"({str(error).splitlines()[-1].strip().rstrip('.')}).") from None
    return model.to(device).eval(), checkpoint
