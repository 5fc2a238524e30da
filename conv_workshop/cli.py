"""The command line: python -m conv_workshop train | evaluate | predict | export | serve | report.

A user's mistake (a bad file, a wrong path) ends in one line saying what to do, exit status 1 (2 for a bad
argument); anything else is a bug and keeps its traceback. torch is imported only by the commands that need it,
so `serve` and `predict --weights model.onnx` start without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .layout import COMMITTED, ModelFiles
from .profiles import DENSE_EPOCH_FACTOR, PROFILES
from .serving.inference import ModelFileError
from .serving.input_errors import InputError
from .settings import ServiceSettings


def user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean the user must change something (imported here, so that serve never loads torch)."""
    from .data import DatasetFileError
    from .deployment.checkpoint import CheckpointError
    from .settings import SettingsError

    return DatasetFileError, CheckpointError, ModelFileError, InputError, SettingsError


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65_535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1 to 65535)")
    return value


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return path


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest of path and its parents that exists, when it is a file (no folder can be made there)."""
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    return existing if existing is not None and not existing.is_dir() else None


def _output_folder(text: str) -> Path:
    path = Path(text)
    if (blocker := _file_in_the_way(path)) is not None:
        raise argparse.ArgumentTypeError(f"{blocker} is a file: pass a folder for the exported files (a missing one "
                                         "is created)")
    return path


def _output_file(text: str) -> Path:
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: pass a file name, e.g. {ModelFiles(path).checkpoint}")
    if (blocker := _file_in_the_way(path.parent)) is not None:
        raise argparse.ArgumentTypeError(f"{blocker} is a file, not a folder: pass a path whose folders are folders")
    return path


def program_name(argv0: str | None = None) -> str:
    """How the user started the CLI, for its help and its errors: `conv-workshop` (the installed script) or
    `python -m conv_workshop`."""
    name = Path(argv0 if argv0 is not None else sys.argv[0]).name
    return "python -m conv_workshop" if name in ("__main__.py", "-c", "") else name


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog or program_name(),
                                     description="Train, evaluate, export and serve the Fashion-MNIST models.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model and save a checkpoint")
    train.add_argument("--model", choices=("cnn", "dense"), default="cnn")
    train.add_argument("--kernel-size", type=_positive, default=3, help="CNN kernel size (odd: 3, 5, 7)")
    train.add_argument("--epochs", type=_positive, default=None,
                       help=f"epochs (default: the full profile's recipe, {PROFILES['full'].main_epochs} for the CNN "
                            f"and {PROFILES['full'].main_epochs * DENSE_EPOCH_FACTOR} for the dense model)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--output", type=_output_file, default=ModelFiles(Path("runs/cli")).checkpoint)
    train.add_argument("--record", type=Path, default=None, help="folder whose results/runs.csv gets the run's row")
    train.add_argument("--data-dir", default=None, help="folder with the four IDX files (default: search)")
    train.add_argument("--device", choices=("cuda", "mps", "cpu"), default=None)
    train.add_argument("--dry-run", action="store_true", help="one epoch on 2,000 images: checks the pipeline")

    evaluate = commands.add_parser("evaluate", help="test accuracy of saved weights")
    evaluate.add_argument("--weights", type=_existing_file, default=COMMITTED.artifacts.checkpoint)
    evaluate.add_argument("--data-dir", default=None)
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")

    predict = commands.add_parser("predict", help="classify image files (any size/format Pillow reads)")
    predict.add_argument("images", nargs="+", type=_existing_file, metavar="IMAGE")
    predict.add_argument("--weights", type=_existing_file, default=COMMITTED.artifacts.checkpoint,
                         help="a .pth checkpoint or an .onnx file")
    predict.add_argument("--top-k", type=_positive, default=ServiceSettings().default_top_k,
                         help="how many classes to print (default: the service's default)")
    predict.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                         help="invert a light background (auto: when the border is mostly light)")

    export = commands.add_parser("export", help="write complete_model.pth and the ONNX file, check parity")
    export.add_argument("--weights", type=_existing_file, default=COMMITTED.artifacts.checkpoint)
    export.add_argument("--output-dir", type=_output_folder, default=COMMITTED.artifacts.folder)
    export.add_argument("--data-dir", default=None)

    serve = commands.add_parser("serve", help="start the prediction service (FastAPI + ONNX Runtime)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--model", type=_existing_file, default=None, help="ONNX file (default: the committed one)")
    report = commands.add_parser("report", help="regenerate the README tables from results/ and the model card")
    report.add_argument("--check", action="store_true", help="only check; exit 1 if a README is out of date")
    return parser


def committed_augmentation(config) -> str:
    """The augmentation the committed full run chose for this kind of model on validation data ('none' before a
    full run has chosen one)."""
    from .experiments.recorded import recorded_recipe
    from .experiments.runner import RecipeNotChosen
    from .experiments.runs import RecordedRuns
    from .layout import CHECKOUT, RunLayout

    try:
        return recorded_recipe(RecordedRuns(RunLayout(CHECKOUT).results)).augment_for(config)
    except RecipeNotChosen:
        return "none"


def command_train(args) -> dict:
    from .data import load_fashion_mnist, shrink, split_validation
    from .deployment.checkpoint import save_checkpoint
    from .experiments.runner import Job, RunContext, default_train_config, train_and_record
    from .experiments.runs import Recorder
    from .models import ConvConfig, DenseConfig
    from .training import choose_runtime

    config = DenseConfig() if args.model == "dense" else ConvConfig(kernel_size=args.kernel_size)
    splits = split_validation(load_fashion_mnist(args.data_dir))
    augment = committed_augmentation(config)
    if args.dry_run:  # the smoke profile's subset, one epoch
        splits = shrink(splits, *PROFILES["smoke"].subset)
        train_config = default_train_config(config, 1, augment, dense_epoch_factor=1)
    elif args.epochs is None:  # the full profile's recipe: its CNN epochs, the dense baseline's declared multiple
        train_config = default_train_config(config, PROFILES["full"].main_epochs, augment)
    else:
        train_config = default_train_config(config, args.epochs, augment, dense_epoch_factor=1)
    recorder = Recorder(args.record, "cli") if args.record else None
    job = Job("cli", config.label() if args.model == "cnn" else "dense baseline", config, train_config, args.seed)
    outcome = train_and_record(job, splits, RunContext(choose_runtime(args.device, args.precision), recorder))
    metrics = {k: outcome.record[k] for k in ("test_accuracy", "test_loss", "best_val_accuracy", "parameters",
                                               "train_seconds", "device", "precision")}
    save_checkpoint(args.output, outcome.ensure_model(), outcome.record["train_config"], metrics)
    return {**metrics, "checkpoint": str(args.output)}


def command_evaluate(args) -> dict:
    from .data import load_fashion_mnist
    from .deployment.checkpoint import load_model
    from .training import choose_runtime, evaluate

    model, checkpoint = load_model(args.weights)
    data = load_fashion_mnist(args.data_dir)
    runtime = choose_runtime("cpu", "fp32")
    metrics = evaluate(model, data.test_images, data.test_labels, runtime)
    return {"weights": str(args.weights), "test_images": len(data.test_labels), "test_accuracy": metrics.accuracy,
            "test_loss": metrics.loss, "stated_test_accuracy": checkpoint["metrics"].get("test_accuracy")}


def command_predict(args) -> list[dict]:
    import numpy as np

    from .serving.inference import onnx_session, predict_probabilities, softmax, top_classes
    from .serving.preprocess import bytes_to_array

    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    arrays = []
    for path in args.images:
        try:
            arrays.append(bytes_to_array(path.read_bytes(), invert))
        except InputError as error:
            raise InputError(f"{path}: {error}") from None
    batch = np.stack(arrays)[:, None]
    if args.weights.suffix == ".onnx":
        probabilities = predict_probabilities(onnx_session(args.weights), batch)
    else:  # a checkpoint: torch only here
        import torch

        from .deployment.checkpoint import load_model

        model, _ = load_model(args.weights)
        with torch.no_grad():
            probabilities = softmax(model(torch.from_numpy(batch)).numpy())
    return [{"image": str(path), "top": [{"name": t["name"], "probability": round(t["probability"], 4)}
                                         for t in top_classes(row, args.top_k)]}
            for path, row in zip(args.images, probabilities)]


def command_export(args) -> dict:
    from .data import load_fashion_mnist
    from .deployment.checkpoint import load_model
    from .deployment.export import export_onnx, onnx_parity, save_complete_model

    model, _ = load_model(args.weights)
    files = ModelFiles(args.output_dir)
    complete = save_complete_model(files.complete_model, model)
    onnx_path = export_onnx(files.onnx, model)
    data = load_fashion_mnist(args.data_dir)
    parity = onnx_parity(onnx_path, model, data.test_images, data.test_labels)
    return {"complete_model": str(complete), "onnx": str(onnx_path), **parity}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from .settings import run_settings

        settings = run_settings()  # resolved once, here; what the commands need is passed down in args
        if getattr(args, "data_dir", False) is None:
            args.data_dir = settings.data_dir
        args.precision = settings.precision
        if args.command == "serve":
            from .serving.server import main as serve

            serve(args.host, args.port, str(args.model) if args.model else None)
            return 0
        if args.command == "report":
            from .reporting.report import update_readmes

            stale = update_readmes(check=args.check, data_dir=settings.data_dir)
            verb = "out of date" if args.check else "updated"
            print("\n".join(f"{path.name}: {verb}" for path in stale) or "READMEs are up to date")
            return 1 if (args.check and stale) else 0
        handler = {"train": command_train, "evaluate": command_evaluate, "predict": command_predict,
                   "export": command_export}[args.command]
        result = handler(args)
    except Exception as error:
        if not isinstance(error, (ModelFileError, InputError)) and not isinstance(error, user_errors()):
            raise  # a bug: its traceback is what a maintainer needs
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.command == "evaluate" and not args.json:
        print(f"test accuracy: {result['test_accuracy']:.2%} (loss {result['test_loss']:.4f}) on "
              f"{result['test_images']:,} test images — {result['weights']}")
    elif args.command == "predict":
        for item in result:
            print(item["image"] + ": " + ", ".join(f"{t['name']} {t['probability']:.1%}" for t in item["top"]))
    else:
        print(json.dumps(result, indent=2))
    return 0
