"""The notebook's chosen model as files: saved two ways, re-evaluated from the files, and described by a model card.

The accuracy a model card states is measured on what was written to disk, never on the in-memory model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..atomic import write_atomic
from ..constants import CLASS_NAMES
from ..data import to_float_pixels
from ..experiments.runs import capture_environment
from ..inspection import analysis
from ..layout import ModelFiles
from ..models import count_macs, count_parameters
from ..training import choose_runtime, evaluate, predict_logits
from .checkpoint import load_model, save_checkpoint
from .export import load_complete_model, save_complete_model

NAMES = ModelFiles(Path())  # the model files' names


@dataclass
class SavedModel:
    """The files' own evaluation: the model as reloaded from best_model.pth, and three accuracies that must agree."""

    model: nn.Module
    checkpoint: dict
    seed: int
    test_accuracy: float  # the in-memory model, fp32 on the CPU
    reloaded_accuracy: float  # best_model.pth, loaded with weights_only=True
    complete_accuracy: float  # complete_model.pth, the torch.export program
    test_images: int


def save_and_verify(outcome, folder: str | Path, test_images: torch.Tensor, test_labels: torch.Tensor,
                    profile: str) -> SavedModel:
    """Write best_model.pth and complete_model.pth for a trained run, reload both and check their accuracy.

    Used in section 9.
    """
    folder = Path(folder)
    cpu32 = choose_runtime("cpu", "fp32")
    model = outcome.ensure_model().cpu().eval()
    measured = evaluate(model, test_images, test_labels, cpu32)
    record = outcome.record
    metrics = {"test_accuracy": measured.accuracy, "test_loss": measured.loss,
               "best_val_accuracy": record["best_val_accuracy"], "seed": int(record["seed"]),
               "epochs": int(record["epochs"]), "train_size": int(record["train_size"]), "profile": profile,
               "device": record["device"], "precision": record["precision"]}
    files = ModelFiles(folder)
    save_checkpoint(files.checkpoint, model, record["train_config"], metrics)
    save_complete_model(files.complete_model, model)
    reloaded, checkpoint = load_model(files.checkpoint)  # torch.load(..., weights_only=True) inside
    complete = load_complete_model(files.complete_model)
    again = evaluate(reloaded, test_images, test_labels, cpu32).accuracy
    with torch.no_grad():
        complete_accuracy = float((complete(to_float_pixels(test_images)).argmax(1)
                                   == test_labels).float().mean())
    assert again == measured.accuracy and abs(complete_accuracy - again) < 1e-3, "the files disagree"
    return SavedModel(reloaded, checkpoint, int(record["seed"]), measured.accuracy, again, complete_accuracy,
                      len(test_labels))


def write_model_card(path: str | Path, outcome, saved: SavedModel, parity: dict, test_images: torch.Tensor,
                     test_labels: torch.Tensor, validation_images: int, run_date: str) -> dict:
    """model_card.json: architecture, data, recipe, metrics (per class too), known confusions, versions, files.

    Used in section 10.
    """
    from ..serving.preprocess import __doc__ as preprocessing

    cpu32 = choose_runtime("cpu", "fp32")
    matrix = analysis.confusion_matrix(predict_logits(saved.model, test_images, cpu32).argmax(1), test_labels)
    record = outcome.record
    card = {
        "model": "ConvNet (conv_workshop)", "config": saved.checkpoint["model_config"],
        "parameters": count_parameters(saved.model), "macs_per_image": count_macs(saved.model),
        "input": saved.checkpoint["input"], "normalization": saved.checkpoint["normalization"],
        "classes": list(CLASS_NAMES),
        "data": {"dataset": "Fashion-MNIST", "train_images": int(record["train_size"]),
                 "validation_images": validation_images, "test_images": len(test_labels)},
        "training": {**record["train_config"], "optimizer": "AdamW", "schedule": "one-cycle",
                     "seed": saved.seed, "selected_by": "best validation accuracy over seeds and epochs",
                     "device": f"{record['device']} ({record['device_name']})", "precision": record["precision"]},
        "metrics": {**saved.checkpoint["metrics"], "onnx": parity,
                    "per_class_accuracy": dict(zip(CLASS_NAMES, analysis.per_class_accuracy(
                        matrix, CLASS_NAMES).accuracy.round(4)))},
        "known_confusions": analysis.top_confusions(matrix, CLASS_NAMES).to_dict(orient="records"),
        "preprocessing_for_photos": (preprocessing or "").strip(),
        "date": run_date, "git_commit": capture_environment().git_commit, "versions": saved.checkpoint["versions"],
        "files": {NAMES.checkpoint.name: "torch.load(path, weights_only=True) -> checkpoint dict",
                  NAMES.complete_model.name: "torch.export.load(path).module()",
                  NAMES.onnx.name: "onnxruntime.InferenceSession(path); input 'images', output 'logits'"},
    }
    write_atomic(path, json.dumps(card, indent=2).encode())
    return card
