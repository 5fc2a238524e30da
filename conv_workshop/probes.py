"""Inductive-bias probes: shifted test images, scrambled pixels, and what units at each depth respond to."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from .training import EVAL_BATCH_SIZE, Runtime, predict_logits, to_input

DIRECTIONS = {"horizontal": (1, 0), "vertical": (0, 1), "diagonal": (1, 1)}


def shift_images(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Move every image dx pixels right and dy pixels down, filling the uncovered border with black (0)."""
    shifted = torch.zeros_like(images)
    height, width = images.shape[-2:]
    src_y = slice(max(0, -dy), height - max(0, dy))
    dst_y = slice(max(0, dy), height - max(0, -dy))
    src_x = slice(max(0, -dx), width - max(0, dx))
    dst_x = slice(max(0, dx), width - max(0, -dx))
    shifted[..., dst_y, dst_x] = images[..., src_y, src_x]
    return shifted


def translation_curve(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor, runtime: Runtime,
                      max_shift: int = 6) -> pd.DataFrame:
    """Test accuracy of trained models on images shifted by 0…max_shift pixels in each direction (no retraining)."""
    rows = []
    for direction, (ux, uy) in DIRECTIONS.items():
        for shift in range(max_shift + 1):
            moved = shift_images(images, ux * shift, uy * shift)
            for name, model in models.items():
                accuracy = float((predict_logits(model, moved, runtime).argmax(1) == labels).float().mean())
                rows.append({"model": name, "direction": direction, "shift": shift, "accuracy": accuracy})
    return pd.DataFrame(rows)


def pixel_permutation(seed: int = 0, size: int = 28 * 28) -> torch.Tensor:
    """One fixed random order of the 784 pixels (the same for train and test)."""
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed))


def permute_pixels(images: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """Scramble every image with the same pixel permutation: all information kept, spatial layout destroyed."""
    flat = images.reshape(len(images), -1)
    return flat[:, permutation].reshape(images.shape)


def block_outputs(model: nn.Module) -> dict[str, nn.Module]:
    """The last module of each downsampling stage of a ConvNet (its pooling, or the ReLU after a strided conv)."""
    stages, current = {}, 0
    modules = list(model.features)
    for i, module in enumerate(modules):
        is_pool = isinstance(module, (nn.MaxPool2d, nn.AvgPool2d))
        follows_strided = (isinstance(module, nn.ReLU) and any(
            isinstance(m, nn.Conv2d) and m.stride[0] == 2 for m in modules[max(0, i - 2):i]))
        if is_pool or follows_strided:
            current += 1
            stages[f"block {current}"] = module
    return stages


@torch.no_grad()
def feature_maps(model: nn.Module, image: torch.Tensor, runtime: Runtime) -> dict[str, torch.Tensor]:
    """The activations (C×H×W) of one uint8 image after each block."""
    captured: dict[str, torch.Tensor] = {}
    handles = [module.register_forward_hook(lambda m, i, o, n=name: captured.__setitem__(n, o[0].float().cpu()))
               for name, module in block_outputs(model).items()]
    try:
        predict_logits(model, image.unsqueeze(0), runtime)
    finally:
        for handle in handles:
            handle.remove()
    return captured


@torch.no_grad()
def top_activating(model: nn.Module, images: torch.Tensor, runtime: Runtime, channels: int = 4, top: int = 6,
                   batch_size: int = EVAL_BATCH_SIZE) -> dict[str, pd.DataFrame]:
    """For each block, the `top` images that most excite each of its first `channels` channels (max over space)."""
    stages = block_outputs(model)
    scores: dict[str, list[torch.Tensor]] = {name: [] for name in stages}
    handles = [module.register_forward_hook(
        lambda m, i, o, n=name: scores[n].append(o[:, :channels].float().amax(dim=(2, 3)).cpu()))
        for name, module in stages.items()]
    model.eval()
    try:
        for start in range(0, len(images), batch_size):
            with runtime.autocast():
                model(to_input(images[start:start + batch_size], runtime))
    finally:
        for handle in handles:
            handle.remove()
    tables = {}
    for name, parts in scores.items():
        activations = torch.cat(parts)
        rows = []
        for channel in range(activations.shape[1]):
            values, index = activations[:, channel].topk(top)
            rows += [{"channel": channel, "rank": r, "image": int(i), "activation": float(v)}
                     for r, (v, i) in enumerate(zip(values, index))]
        tables[name] = pd.DataFrame(rows)
    return tables
