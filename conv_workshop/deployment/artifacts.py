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
from .export import load_complete_model, onnx_metadata, save_complete_model

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


def weights_precision(outcome) -> str:
    """The arithmetic the model's weights were computed in: the record's, or the retraining's when a replay (or a
    clone without the saved weights) trained the recorded run again (Outcome.replay_check)."""
    check = getattr(outcome, "replay_check", None)
    return check.precision if check is not None and check.precision else outcome.record["precision"]


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
               "device": record["device"], "precision": weights_precision(outcome)}
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


INTENDED_USE = (
    "Teaching and experiments: classifying one garment per image into Fashion-MNIST's ten classes, in images like "
    "Fashion-MNIST's (28×28 grayscale, a light garment centred on black and filling the square). Not for decisions "
    "about people, and not a general clothing recogniser.")


def limitations(model: nn.Module, test_images: torch.Tensor, test_labels: torch.Tensor,
                per_class: dict[str, float]) -> list[str]:
    """The model card's limitations, measured on these weights: the weakest classes and what a shift of the garment
    costs (the shift probe of section 7.1, on this model), beside what the model cannot do by construction."""
    from ..inspection.probes import translation_curve

    curve = translation_curve({"model": model}, test_images, test_labels, choose_runtime("cpu", "fp32"), max_shift=4)
    unshifted = curve[curve["shift"] == 0].accuracy.mean()
    drops = {shift: (unshifted - curve[(curve["shift"] == shift) & (curve.direction != "diagonal")].accuracy.mean())
             * 100 for shift in (2, 4)}
    weakest = sorted(per_class.items(), key=lambda item: item[1])[:2]
    return [
        "It always answers one of the ten classes: an image of something else gets a confident wrong class.",
        "It learned Fashion-MNIST's framing: a garment that is off-centre, small, rotated or on a cluttered "
        f"background is out of its distribution. Moving the test images sideways or up and down by 2 pixels costs "
        f"it {drops[2]:.1f} accuracy points, by 4 pixels {drops[4]:.1f} (measured on these weights).",
        "Product photos (a dark garment on white) must be inverted first; the service and the CLI do it "
        "(serving/preprocess.py), torch.hub's preprocess does it with invert=True.",
        "Its weakest classes are " + " and ".join(f"{name} ({accuracy * 100:.1f} %)" for name, accuracy in weakest)
        + ", mostly confused with each other and with the other tops (known_confusions).",
    ]


def write_model_card(path: str | Path, outcome, saved: SavedModel, parity: dict, test_images: torch.Tensor,
                     test_labels: torch.Tensor, validation_images: int, run_date: str) -> dict:
    """model_card.json: what the model is for and where it fails, architecture, data and its license, recipe and the
    command that reproduces it, metrics (with the test accuracy's interval, per class too), known confusions,
    versions, and the sha256 of every file (the ONNX file already carries its class names). Written after the other
    files, which it hashes.

    Used in section 10.
    """
    import hashlib

    import onnx

    from .. import __version__
    from ..serving.preprocess import __doc__ as preprocessing
    from ..stats import accuracy_interval

    cpu32 = choose_runtime("cpu", "fp32")
    matrix = analysis.confusion_matrix(predict_logits(saved.model, test_images, cpu32).argmax(1), test_labels)
    per_class = dict(zip(CLASS_NAMES, analysis.per_class_accuracy(matrix, CLASS_NAMES).accuracy.round(4)))
    record = outcome.record
    files = ModelFiles(Path(path).parent)
    # the weights' own arithmetic: a run whose model was retrained (a replay) computed in this session's precision
    check = getattr(outcome, "replay_check", None)
    weights = ({"weights_precision": weights_precision(outcome), "weights_note": (
        f"retrained with the recorded run's seed and recipe on {check.device_name} in {check.precision}; the "
        f"recorded run computed in {record['precision']} on {record['device_name']} and reached "
        f"{check.recorded * 100:.2f} % (these weights: {check.retrained * 100:.2f} %)")}
               if check is not None else {"weights_precision": record["precision"]})
    low, high = accuracy_interval(round(saved.reloaded_accuracy * len(test_labels)), len(test_labels))
    card = {
        "model": "ConvNet (conv_workshop)", "version": __version__, "license": "MIT (LICENSE)",
        "intended_use": INTENDED_USE,
        "limitations": limitations(saved.model, test_images, test_labels, per_class),
        "config": saved.checkpoint["model_config"],
        "parameters": count_parameters(saved.model), "macs_per_image": count_macs(saved.model),
        "input": saved.checkpoint["input"], "normalization": saved.checkpoint["normalization"],
        "classes": list(CLASS_NAMES),
        "data": {"dataset": "Fashion-MNIST", "source": "Zalando Research (github.com/zalandoresearch/fashion-mnist)",
                 "license": "MIT", "train_images": int(record["train_size"]),
                 "validation_images": validation_images, "test_images": len(test_labels)},
        "training": {**record["train_config"], "optimizer": "AdamW", "schedule": "one-cycle",
                     "seed": saved.seed, "selected_by": "best validation accuracy over seeds and epochs",
                     "device": f"{record['device']} ({record['device_name']})", "precision": record["precision"],
                     **weights,
                     "reproduce": "make run PROFILE=full (trains every run of the full profile; the chosen CNN is "
                                  f"the run with seed {saved.seed})"},
        "metrics": {**saved.checkpoint["metrics"], "test_accuracy_95ci": [round(low, 4), round(high, 4)],
                    "onnx": parity, "per_class_accuracy": per_class},
        "known_confusions": analysis.top_confusions(matrix, CLASS_NAMES).to_dict(orient="records"),
        "preprocessing_for_photos": (preprocessing or "").strip(),
        "date": run_date, "git_commit": capture_environment().git_commit, "versions": saved.checkpoint["versions"],
        "onnx": {"opset": max(o.version for o in onnx.load(files.onnx, load_external_data=False).opset_import
                              if o.domain in ("", "ai.onnx")),
                 "metadata": sorted(onnx_metadata())},
        "files": {NAMES.checkpoint.name: "torch.load(path, weights_only=True) -> checkpoint dict",
                  NAMES.complete_model.name: "torch.export.load(path).module()",
                  NAMES.onnx.name: "onnxruntime.InferenceSession(path); input 'images', output 'logits'"},
        "sha256": {file.name: hashlib.sha256(file.read_bytes()).hexdigest()
                   for file in (files.checkpoint, files.complete_model, files.onnx)},
    }
    write_atomic(path, json.dumps(card, indent=2).encode())
    return card
