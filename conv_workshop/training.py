"""The trainer: device and precision choice, in-memory batches, fit() returning a history, evaluate() metrics."""

from __future__ import annotations

import contextlib
import copy
import math
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import Splits, to_float_pixels


@dataclass(frozen=True)
class Runtime:
    """Where and how models run: the device, its name, the autocast dtype (None = fp32) and the memory layout."""

    device: str
    device_name: str
    precision: str  # "bf16", "fp16" or "fp32"
    channels_last: bool

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device, dtype=self.autocast_dtype)


def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 math (AVX512-BF16 or AMX), where bf16 autocast is faster than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def cpu_name() -> str:
    """The CPU's model name (Linux), else the architecture: recorded with every CPU result."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def choose_runtime(device: str | None = None, precision: str | None = None) -> Runtime:
    """CUDA (bf16, else fp16 autocast) → Apple MPS (fp32) → CPU (bf16 + channels_last where the CPU has bf16)."""
    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if device == "cuda":
        name = torch.cuda.get_device_name(0)
        default = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    elif device == "mps":
        name, default = "Apple MPS", "fp32"
    else:
        name = cpu_name()
        default = "bf16" if cpu_supports_bf16() else "fp32"
    precision = precision or default
    if precision not in ("bf16", "fp16", "fp32"):
        raise ValueError(f"precision={precision!r}; choose bf16, fp16 or fp32")
    return Runtime(device=device, device_name=name, precision=precision, channels_last=device != "mps")


# 256, not 1024: on a 2-core CPU a 256-image batch's activations stay in cache, and evaluating the CNN ran
# 1.75× faster (0.65 s vs 1.13 s per 5,000 images, bf16 + channels_last).
EVAL_BATCH_SIZE = 256


@dataclass
class TrainConfig:
    """How a model is trained; saved with every result and checkpoint. Used in section 3.2."""

    epochs: int = 10  # passes over the training set
    batch_size: int = 256  # images per optimiser step
    learning_rate: float = 3e-3  # peak learning rate of the one-cycle schedule
    weight_decay: float = 1e-2  # AdamW's decoupled weight decay
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    augment: str = "none"  # one of AUGMENTATIONS: none, random horizontal flips, or random ±2-pixel shifts
    eval_batch_size: int = EVAL_BATCH_SIZE  # images per forward pass when evaluating
    # Validating every epoch dominated the long runs of small training sets (100 epochs of 500 images spent 5×
    # longer validating than training), and with a one-cycle schedule the best epoch is nearly always one of the
    # last, so a run validates every ⌈epochs / validations⌉ epochs and at the last.
    validations: int = 5  # how many times a run measures validation accuracy (and may keep the weights)


def seed_everything(seed: int) -> None:
    """Seed every generator the training touches, so the same seed on the same machine gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def to_input(images: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """uint8 N×28×28 → float N×1×28×28 in [0, 1], on the runtime's device and memory layout."""
    x = to_float_pixels(images.to(runtime.device, non_blocking=True))
    return x.contiguous(memory_format=torch.channels_last) if runtime.channels_last else x


AUGMENTATIONS = ("none", "flip", "shift")  # the recipes the augmentation experiment compares (section 3.4)
MAX_SHIFT = 2  # pixels: a "shift" moves each image by up to this many pixels in x and in y


def augment_batch(x: torch.Tensor, mode: str, generator: torch.Generator) -> torch.Tensor:
    """Batch-level augmentation of an N×1×H×W batch: "flip" mirrors a random half of the images left-right (clothes
    stay clothes when mirrored); "shift" moves each image by a random whole number of pixels in [−2, 2] along each
    axis, filling the uncovered border with black, as data.shift_images does for one fixed shift.

    The generator lives on x's device: a mask drawn on the CPU and copied over would stall a GPU every step.
    """
    if mode == "none":
        return x
    if mode == "flip":
        flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    if mode == "shift":
        return _random_shifts(x, generator)
    raise ValueError(f"augment={mode!r}; choose one of {', '.join(AUGMENTATIONS)}")


def _random_shifts(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by its own (dx, dy) in [−MAX_SHIFT, MAX_SHIFT]²: a crop of the zero-padded batch."""
    count, channels, height, width = x.shape
    padded = F.pad(x, (MAX_SHIFT,) * 4)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (2, count), generator=generator, device=x.device)
    rows = offsets[0, :, None] + torch.arange(height, device=x.device)  # count × height, rows of the padded image
    cols = offsets[1, :, None] + torch.arange(width, device=x.device)
    batch = torch.arange(count, device=x.device)[:, None, None, None]
    channel = torch.arange(channels, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, runtime: Runtime,
                   batch_size: int = EVAL_BATCH_SIZE) -> torch.Tensor:
    """fp32 logits (on the CPU) for uint8 images, in eval mode (sections 5.3 and 7; every evaluation)."""
    model.eval()
    outputs = []
    # Channels-last inputs through contiguous weights convert layouts at every layer (10× slower for some models
    # on a CPU), so the model follows the input's layout while predicting, and gets its own layout back after.
    restore = runtime.channels_last and not is_channels_last(model)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        for start in range(0, len(images), batch_size):
            with runtime.autocast():
                logits = model(to_input(images[start:start + batch_size], runtime))
            outputs.append(logits.float().cpu())
    finally:
        if restore:
            model.to(memory_format=torch.contiguous_format)
    return torch.cat(outputs) if outputs else torch.empty(0, 10)


def is_channels_last(model: nn.Module) -> bool:
    """Whether the model's 4-D weights (its convolutions) are stored channels-last."""
    weights = [p for p in model.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[-1] > 1]
    return bool(weights) and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                                 for p in weights)


@dataclass(frozen=True)
class Evaluation:
    """A model's mean cross-entropy and accuracy on a labelled set."""

    loss: float
    accuracy: float


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, runtime: Runtime,
             batch_size: int = EVAL_BATCH_SIZE) -> Evaluation:
    """Loss and accuracy of a model on a labelled set."""
    logits = predict_logits(model, images, runtime, batch_size)
    return Evaluation(loss=float(F.cross_entropy(logits, labels)),
                      accuracy=float((logits.argmax(1) == labels).float().mean()))


@dataclass
class FitResult:
    """What fit() returns: the per-epoch history, the best epoch by validation accuracy, and timing.

    Epochs between validations have no val_loss/val_accuracy in their history row.
    """

    history: list[dict]
    best_epoch: int
    best_val_accuracy: float
    train_seconds: float
    images_per_second: float


def validation_interval(config: TrainConfig) -> int:
    """Epochs between validations: every epoch for runs of up to `validations` epochs, sparser for longer ones."""
    if config.validations < 1:
        raise ValueError(f"validations={config.validations}; a run must validate at least once")
    return math.ceil(config.epochs / config.validations)


@dataclass
class _Loop:
    """What one run's epochs share: the optimiser, its schedule, the loss scaler, and the seeded generators."""

    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    shuffle: torch.Generator
    augment: torch.Generator
    steps_per_epoch: int


def _start_loop(model: nn.Module, train_size: int, config: TrainConfig, runtime: Runtime, seed: int) -> _Loop:
    steps_per_epoch = max(1, train_size // config.batch_size)  # drop the ragged last batch: steady BN statistics
    # The fused AdamW kernel saves many small launches on a GPU; the CPU keeps the default implementation.
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                                  fused=runtime.device == "cuda")
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate,
                                                   total_steps=config.epochs * steps_per_epoch)
    shuffle = torch.Generator().manual_seed(seed)
    augment = torch.Generator(device=runtime.device).manual_seed(seed)
    # fp16 needs loss scaling on every device that runs it (CUDA, and CPU autocast), so the scaler follows the runtime.
    scaler = torch.amp.GradScaler(runtime.device, enabled=runtime.precision == "fp16")
    return _Loop(optimizer, schedule, scaler, shuffle, augment, steps_per_epoch)


def _train_epoch(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig,
                 runtime: Runtime, loop: _Loop, bar) -> dict:
    """One pass over the training images; the epoch's history row (loss, accuracy, seconds) and images seen."""
    model.train()
    started = time.perf_counter()
    order = torch.randperm(len(labels), generator=loop.shuffle).to(runtime.device)
    total_loss = torch.zeros((), device=runtime.device)
    total_correct = torch.zeros((), device=runtime.device)
    seen = 0
    for step in range(loop.steps_per_epoch):
        index = order[step * config.batch_size:(step + 1) * config.batch_size]
        x = augment_batch(to_input(images[index], runtime), config.augment, loop.augment)
        y = labels[index]
        with runtime.autocast():
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
        loop.optimizer.zero_grad(set_to_none=True)
        loop.scaler.scale(loss).backward()
        loop.scaler.step(loop.optimizer)
        loop.scaler.update()
        loop.schedule.step()
        # Accumulated on the device: a .item() per step would stall a GPU.
        total_loss += loss.detach().float() * len(y)
        total_correct += (logits.argmax(1) == y).sum()
        seen += len(y)  # a training set smaller than one batch gives a smaller batch, not batch_size images
        bar.update(1)
    if runtime.device == "cuda":
        torch.cuda.synchronize()
    return {"train_loss": float(total_loss) / seen, "train_accuracy": float(total_correct) / seen,
            "seconds": time.perf_counter() - started, "learning_rate": loop.schedule.get_last_lr()[0], "seen": seen}


def fit(model: nn.Module, splits: Splits, config: TrainConfig, runtime: Runtime, seed: int = 0,
        progress: bool = True, description: str = "training") -> FitResult:
    """Train on splits' training images with AdamW + one-cycle, validate `config.validations` times and keep the
    weights of the best validated epoch; the history of every epoch. Section 3.2 shows what it adds to a plain loop.
    """
    seed_everything(seed)
    model.to(runtime.device)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    images = splits.train_images.to(runtime.device)
    labels = splits.train_labels.to(runtime.device)
    loop = _start_loop(model, len(labels), config, runtime, seed)
    history, best_state, best_accuracy, best_epoch = [], None, -1.0, 0
    bar = _progress(config.epochs * loop.steps_per_epoch, description, progress)
    train_seconds, seen_total = 0.0, 0
    validate_every = validation_interval(config)
    for epoch in range(1, config.epochs + 1):
        measured = _train_epoch(model, images, labels, config, runtime, loop, bar)
        seen_total += measured.pop("seen")
        train_seconds += measured["seconds"]
        row = {"epoch": epoch, **measured}
        if epoch % validate_every == 0 or epoch == config.epochs:
            val = evaluate(model, splits.val_images, splits.val_labels, runtime, config.eval_batch_size)
            row.update(val_loss=val.loss, val_accuracy=val.accuracy)
            bar.set_postfix(val_acc=f"{val.accuracy:.4f}")
            if val.accuracy > best_accuracy:
                best_accuracy, best_epoch = val.accuracy, epoch
                best_state = copy.deepcopy(model.state_dict())
        history.append(row)
    bar.close()
    model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)
    return FitResult(history=history, best_epoch=best_epoch, best_val_accuracy=best_accuracy,
                     train_seconds=train_seconds, images_per_second=seen_total / max(train_seconds, 1e-9))


def _progress(total: int, description: str, enabled: bool):
    # The session passes WORKSHOP_PROGRESS=0 (set by tools/run_notebook.py) down as enabled=False: executed notebooks
    # stay free of stale progress bars.
    disabled = not enabled
    from tqdm.auto import tqdm  # a widget in Jupyter, a text bar in a terminal

    return tqdm(total=total, desc=description, leave=False, mininterval=0.5, disable=disabled)
