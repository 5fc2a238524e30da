"""Inductive-bias probes: shifted test images, scrambled pixels, and what units at each depth respond to."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data import shift_images
from ..models import ReceptiveField, spatial_geometry
from ..training import EVAL_BATCH_SIZE, Runtime, predict_logits, to_input

DIRECTIONS = {"horizontal": (1, 0), "vertical": (0, 1), "diagonal": (1, 1)}


def translation_curve(models: dict[str, nn.Module | list[nn.Module]], images: torch.Tensor, labels: torch.Tensor,
                      runtime: Runtime, max_shift: int = 6) -> pd.DataFrame:
    """Test accuracy of trained models on images shifted by 0…max_shift pixels in each direction (no retraining).

    models maps a name to one model or to one model per seed; one row per (model, seed, direction, shift).

    Used in section 7.1.
    """
    rows = []
    for direction, (ux, uy) in DIRECTIONS.items():
        for shift in range(max_shift + 1):
            moved = shift_images(images, ux * shift, uy * shift)
            for name, per_seed in models.items():
                for seed, model in enumerate(per_seed if isinstance(per_seed, list) else [per_seed]):
                    accuracy = float((predict_logits(model, moved, runtime).argmax(1) == labels).float().mean())
                    rows.append({"model": name, "seed": seed, "direction": direction, "shift": shift,
                                 "accuracy": accuracy})
    return pd.DataFrame(rows)


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
    """The activations (C×H×W) of one uint8 image after each block (section 5.6)."""
    captured: dict[str, torch.Tensor] = {}
    handles = [module.register_forward_hook(lambda m, i, o, n=name: captured.__setitem__(n, o[0].float().cpu()))
               for name, module in block_outputs(model).items()]
    try:
        predict_logits(model, image.unsqueeze(0), runtime)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def block_geometry(model: nn.Module) -> dict[str, ReceptiveField]:
    """The receptive field of each block's output (section 7.4), from the kernel, stride and padding of every layer."""
    field, geometry = ReceptiveField(), {}
    ends = {id(module): name for name, module in block_outputs(model).items()}
    for module in model.features:
        step = spatial_geometry(module)
        if step is not None:
            field = field.after(step.kernel, step.stride, step.padding, step.dilation)
        if id(module) in ends:
            geometry[ends[id(module)]] = field
    return geometry


def receptive_patch(image: torch.Tensor, geometry: ReceptiveField, row: int, column: int) -> torch.Tensor:
    """The input window (size × size, zeros outside the image) that the unit at (row, column) of a block sees.

    Used in section 7.4.
    """
    top, left = geometry.window(row, column)
    padded = torch.nn.functional.pad(image, (geometry.size,) * 4)
    top, left = top + geometry.size, left + geometry.size
    return padded[..., top:top + geometry.size, left:left + geometry.size]


@dataclass(frozen=True)
class ChannelPeaks:
    """One block's channels over a set of images: each channel's strongest activation on each image (images ×
    channels), where it is (flat index into the block's map), and the map's width."""

    values: torch.Tensor
    places: torch.Tensor
    width: int


@torch.no_grad()
def channel_peaks(model: nn.Module, images: torch.Tensor, runtime: Runtime,
                  batch_size: int = EVAL_BATCH_SIZE) -> dict[str, ChannelPeaks]:
    """For each block, its channels' peaks on every image (section 7.4)."""
    stages = block_outputs(model)
    values: dict[str, list] = {name: [] for name in stages}
    places: dict[str, list] = {name: [] for name in stages}
    widths: dict[str, int] = {}

    def keep(name, output) -> None:
        peak, where = output.float().flatten(2).max(dim=2)
        values[name].append(peak.cpu())
        places[name].append(where.cpu())
        widths[name] = output.shape[-1]

    handles = [module.register_forward_hook(lambda m, i, o, n=name: keep(n, o)) for name, module in stages.items()]
    model.eval()
    try:
        for start in range(0, len(images), batch_size):
            with runtime.autocast():
                model(to_input(images[start:start + batch_size], runtime))
    finally:
        for handle in handles:
            handle.remove()
    return {name: ChannelPeaks(torch.cat(values[name]), torch.cat(places[name]), widths[name]) for name in stages}


def top_activating_patches(model: nn.Module, images: torch.Tensor, runtime: Runtime, channels: int = 4,
                           top: int = 6) -> dict[str, pd.DataFrame]:
    """For each block, the `top` images that most excite each of its first `channels` channels, with where the peak
    is (the unit's row and column), so a figure can show the receptive-field patch the unit saw. Used in section 7.4."""
    tables = {}
    for name, found in channel_peaks(model, images, runtime).items():
        peaks, places, width = found.values, found.places, found.width
        rows = []
        for channel in range(min(channels, peaks.shape[1])):
            values, index = peaks[:, channel].topk(top)
            for rank, (value, image) in enumerate(zip(values.tolist(), index.tolist())):
                place = int(places[image, channel])
                rows.append({"channel": channel, "rank": rank, "image": image, "activation": value,
                             "row": place // width, "column": place % width})
        tables[name] = pd.DataFrame(rows)
    return tables


def entropy_bits(labels: np.ndarray, classes: int = 10) -> float:
    """Shannon entropy (bits) of the class distribution of a set of labels: 0 = one class, log2(10) = uniform."""
    counts = np.bincount(labels, minlength=classes).astype(float)
    share = counts[counts > 0] / counts.sum()
    return float(-(share * np.log2(share)).sum())


def class_selectivity(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, runtime: Runtime,
                      top: int = 100, shuffles: int = 20, seed: int = 0) -> pd.DataFrame:
    """Every channel of every block: entropy of the classes among its `top` most exciting images, against the same
    measure with the labels shuffled (what a channel blind to class would score). Lower entropy = more class-specific.

    Used in section 7.4.
    """
    generator = np.random.default_rng(seed)
    labels = labels.numpy()
    shuffled = [generator.permutation(labels) for _ in range(shuffles)]
    rows = []
    for block, found in channel_peaks(model, images, runtime).items():
        winners = found.values.topk(top, dim=0).indices.T.numpy()  # channels × top image indices
        for channel, index in enumerate(winners):
            rows.append({"block": block, "channel": channel, "entropy": entropy_bits(labels[index]),
                         "shuffled_entropy": float(np.mean([entropy_bits(s[index]) for s in shuffled]))})
    return pd.DataFrame(rows)


# The four orientations of a 3×3 edge detector (Sobel at 0°, 45°, 90° and 135°); the sign of a cosine is ignored,
# so each also stands for the edge of opposite polarity.
EDGE_DETECTORS = {
    "vertical": torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
    "diagonal ↗": torch.tensor([[0.0, 1.0, 2.0], [-1.0, 0.0, 1.0], [-2.0, -1.0, 0.0]]),
    "horizontal": torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]),
    "diagonal ↘": torch.tensor([[-2.0, -1.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 1.0, 2.0]]),
}


def _edge_scores(filters: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    flat = filters.reshape(len(filters), -1).float()
    detectors = torch.stack([d.flatten() for d in EDGE_DETECTORS.values()])
    cosines = (flat @ detectors.T) / (flat.norm(dim=1, keepdim=True) * detectors.norm(dim=1) + 1e-12)
    best = cosines.abs().max(dim=1)
    names = list(EDGE_DETECTORS)
    return best.values, [names[i] for i in best.indices.tolist()]


def edge_likeness(weights: torch.Tensor, random_draws: int = 100) -> pd.DataFrame:
    """How edge-like 3×3 first-layer filters are: each filter's largest |cosine similarity| with a Sobel edge
    detector at any of four orientations, for the trained `weights` (C_out×1×3×3) and for `random_draws` layers of
    the same shape drawn as nn.Conv2d initialises them (seeds 0…random_draws − 1). One row per filter.

    Used in section 5.5.
    """
    weights = weights.detach().cpu().float()
    if weights.dim() != 4 or weights.shape[1:] != (1, 3, 3):
        raise ValueError(f"weights has shape {tuple(weights.shape)}: pass a first layer's C_out×1×3×3 weights")
    rows = []
    score, orientation = _edge_scores(weights[:, 0])
    rows += [{"weights": "trained", "filter": i, "edge_cosine": float(s), "closest": o}
             for i, (s, o) in enumerate(zip(score, orientation))]
    for seed in range(random_draws):
        with torch.random.fork_rng(devices=[]):  # the draw leaves the notebook's random state as it was
            torch.manual_seed(seed)
            drawn = nn.Conv2d(1, len(weights), 3).weight.detach()
        score, orientation = _edge_scores(drawn[:, 0])
        rows += [{"weights": "random (initialisation)", "filter": i, "edge_cosine": float(s), "closest": o}
                 for i, (s, o) in enumerate(zip(score, orientation))]
    return pd.DataFrame(rows)
