"""The trained model as files that need no project code: the complete model (torch.export), ONNX, and the parity
check of the ONNX file against PyTorch. The checkpoint, which needs the model code, is checkpoint.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from ..atomic import write_atomic
from ..constants import CLASS_NAMES, IMAGE_SIZE
from ..data import to_float_pixels
from ..serving.inference import onnx_session
from .checkpoint import INPUT_NOTE


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


def onnx_metadata() -> dict[str, str]:
    """What an ONNX file carries for a user without this package (its metadata_props): the class names in the order
    of the logits, the input and the preprocessing it expects."""
    from .. import __version__

    return {"class_names": json.dumps(list(CLASS_NAMES)), "input": INPUT_NOTE,
            "output": "logits: one per class, in the order of class_names (softmax gives probabilities)",
            "preprocessing": "grayscale, fitted into 28×28 keeping the aspect ratio and centred, a light garment on "
                             "black (invert a product photo), pixels / 255; the normalisation is inside the model",
            "source": f"conv_workshop {__version__}"}


def export_onnx(path: str | os.PathLike, model: nn.Module) -> Path:
    """ONNX export with a dynamic batch dimension (traced with a batch of 4), the class names and the expected input
    in its metadata (onnx_metadata), checked by onnx.checker.

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
        onnx.helper.set_model_props(proto, onnx_metadata())
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(temporary))
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
