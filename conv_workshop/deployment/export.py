"""Saving and reusing a trained model: safe checkpoint, class-free complete model, ONNX export and parity check."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from ..atomic import write_atomic
from ..constants import CLASS_NAMES, IMAGE_SIZE
from ..data import to_float_pixels
from ..experiments.runs import capture_environment
from ..layout import COMMITTED
from ..models import Normalize, build_model, config_from_dict, config_to_dict
from ..serving.inference import onnx_session

CHECKPOINT_FORMAT = "conv_workshop.checkpoint/1"
INPUT_NOTE = "float32 N×1×28×28, pixels scaled to [0, 1] (white garment on black); normalisation is inside the model"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, or not one this package wrote."""


def versions() -> dict:
    """The versions saved in a checkpoint (runs.capture_environment)."""
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
                              "export.save_checkpoint (python -m conv_workshop train does).")
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


def _example_batch(size: int = 4) -> torch.Tensor:
    return torch.rand(size, 1, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))


def _batch_dim():
    return torch.export.Dim("batch", min=1, max=65_536)


@contextlib.contextmanager
def _quiet_export():
    """torch.export's own deprecation notices (LeafSpec, read-only buffers) say nothing about the user's model."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*non-writable.*", category=UserWarning)
        yield


def save_complete_model(path: str | os.PathLike, model: nn.Module) -> Path:
    """A torch.export program of the eval-mode model: loads with torch.export.load, no project code, no pickle."""
    model = model.cpu().eval()
    with _quiet_export():
        program = torch.export.export(model, (_example_batch(),), dynamic_shapes=({0: _batch_dim()},))
        program = program.run_decompositions()
        buffer = io.BytesIO()
        torch.export.save(program, buffer)
    write_atomic(path, buffer.getvalue())
    return Path(path)


def load_complete_model(path: str | os.PathLike) -> nn.Module:
    """The callable module of a complete model written by save_complete_model."""
    with open(path, "rb") as stream, _quiet_export():  # a file object: load() wants a .pt2 suffix on paths
        return torch.export.load(stream).module()


def export_onnx(path: str | os.PathLike, model: nn.Module) -> Path:
    """ONNX export with a dynamic batch dimension (traced with a batch of 4), checked by onnx.checker.

    Used in section 10.
    """
    import onnx

    path = Path(path)
    model = model.cpu().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        temporary = Path(folder) / path.name
        with _quiet_export():
            torch.onnx.export(model, (_example_batch(),), str(temporary), dynamo=True, input_names=["images"],
                              output_names=["logits"], dynamic_shapes=({0: _batch_dim()},), external_data=False,
                              verbose=False)
        proto = onnx.load(str(temporary))
        onnx.checker.check_model(proto, full_check=True)
        os.replace(temporary, path)
    return path


@torch.no_grad()
def onnx_parity(onnx_path: str | os.PathLike, model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                batch_size: int = 1000) -> dict:
    """Compare ONNX Runtime with PyTorch (both fp32, CPU) over a labelled set: logit gap, agreement, accuracies
    (section 10)."""
    session = onnx_session(onnx_path)
    model = model.cpu().eval()
    max_diff, agree, torch_correct, onnx_correct = 0.0, 0, 0, 0
    for start in range(0, len(images), batch_size):
        x = to_float_pixels(images[start:start + batch_size])
        y = labels[start:start + batch_size]
        reference = model(x)
        exported = torch.from_numpy(session.run(["logits"], {"images": x.numpy()})[0])
        max_diff = max(max_diff, float((reference - exported).abs().max()))
        agree += int((reference.argmax(1) == exported.argmax(1)).sum())
        torch_correct += int((reference.argmax(1) == y).sum())
        onnx_correct += int((exported.argmax(1) == y).sum())
    n = len(images)
    return {"images": n, "max_abs_logit_diff": max_diff, "prediction_agreement": agree / n,
            "torch_accuracy": torch_correct / n, "onnx_accuracy": onnx_correct / n}
