"""Running the exported model with ONNX Runtime, without torch: a checked session, softmax and the top classes.

The service and the CLI's .onnx path use only this module, numpy and onnxruntime, so they start without torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..constants import CLASS_NAMES, IMAGE_SIZE

INPUT_NAME, OUTPUT_NAME = "images", "logits"
EXPECTED_INPUT = [1, IMAGE_SIZE, IMAGE_SIZE]  # after the batch dimension
REEXPORT = "export a checkpoint with `python -m conv_workshop export`, or use the committed fashion_mnist_cnn.onnx"


class ModelFileError(RuntimeError):
    """An ONNX file is missing, unreadable, or not a model with the workshop's input and output."""


def _check_interface(session, path: Path) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
        raise ModelFileError(f"{path}: takes {sorted(inputs)} and gives {sorted(outputs)}, but the workshop's "
                             f"model takes '{INPUT_NAME}' and gives '{OUTPUT_NAME}'; {REEXPORT}.")
    shape, classes = inputs[INPUT_NAME].shape, outputs[OUTPUT_NAME].shape
    if list(shape[1:]) != EXPECTED_INPUT or inputs[INPUT_NAME].type != "tensor(float)" or classes[-1:] != [
            len(CLASS_NAMES)]:
        raise ModelFileError(f"{path}: input {inputs[INPUT_NAME].type} {shape} and output {classes}, expected "
                             f"float [batch, 1, {IMAGE_SIZE}, {IMAGE_SIZE}] and [batch, {len(CLASS_NAMES)}]; "
                             f"{REEXPORT}.")


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU session of a workshop model; ModelFileError (one line, what to do) for any other file.

    One session may serve several threads at once: ONNX Runtime documents concurrent run() calls as safe.
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such ONNX file; {REEXPORT}.")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime's pybind errors (InvalidProtobuf, InvalidGraph, ...) share no base
        reason = str(error).split(":")[2].strip() if str(error).count(":") >= 2 else type(error).__name__
        raise ModelFileError(f"{path}: not an ONNX model ONNX Runtime can load ({reason}); {REEXPORT}.") from error
    _check_interface(session, path)
    return session


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def predict_probabilities(session, batch: np.ndarray) -> np.ndarray:
    """Class probabilities (N×10) for a float32 N×1×28×28 batch of pixels in [0, 1]."""
    return softmax(session.run([OUTPUT_NAME], {INPUT_NAME: batch.astype(np.float32, copy=False)})[0])


def top_classes(probabilities: np.ndarray, k: int) -> list[dict]:
    """The k most probable classes of one row of probabilities, most probable first: label, name, probability."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [{"label": int(i), "name": CLASS_NAMES[i], "probability": float(probabilities[i])} for i in order]
