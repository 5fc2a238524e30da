"""What the CNN looks at: Grad-CAM on its last convolutional block and occlusion sensitivity, computed with Captum.

Both explain one prediction at a time. Grad-CAM weighs the last block's feature maps by the gradient of the class
score, so its map has that block's resolution (14×14 for the default CNN, upsampled here). Occlusion hides one patch
at a time and records how much the class score drops: slower, model-agnostic, and at the patch's resolution.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam, Occlusion
from torch import nn

from ..data import to_float_pixels


def last_block_layer(model: nn.Module) -> nn.Module:
    """The last ReLU of the last convolutional block: the last feature maps that still have a spatial layout.

    Used in sections 8.1 (Grad-CAM's hook) and the exercises."""
    return [m for m in model.features if isinstance(m, nn.ReLU)][-1]


def _inputs(images: torch.Tensor) -> torch.Tensor:
    return to_float_pixels(images)


def grad_cam(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Grad-CAM maps (N×28×28, ReLU applied) for uint8 images and target classes, in fp32 on the CPU.

    Used in section 8.1.
    """
    model = model.cpu().float().eval()
    method = LayerGradCam(model, last_block_layer(model))
    inputs = _inputs(images)
    maps = method.attribute(inputs, target=targets, relu_attributions=True)
    return LayerAttribution.interpolate(maps, inputs.shape[-2:], interpolate_mode="bilinear")[:, 0].detach()


def occlusion(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, window: int = 6,
              stride: int = 2) -> torch.Tensor:
    """Score drop (N×28×28) when a window×window patch is set to black, averaged over the windows covering a pixel.

    Used in section 8.1.
    """
    model = model.cpu().float().eval()
    method = Occlusion(model)
    maps = method.attribute(_inputs(images), target=targets, sliding_window_shapes=(1, window, window),
                            strides=(1, stride, stride), baselines=0.0)
    return maps[:, 0].detach()


def choose_examples(labels: torch.Tensor, predictions: torch.Tensor, class_names: tuple[str, ...],
                    pair: tuple[str, str] = ("Shirt", "T-shirt/top"), count: int = 8) -> list[int]:
    """`count` test images to explain: for a confusable pair (a, b), one correct a, one correct b, and up to two of
    each confusion (a → b, b → a), then one correct image of two other classes; missing kinds are filled with
    further correct images of the pair. Always the first images in test order, so a rerun picks the same ones.

    Used in section 8.1.
    """
    a, b = (class_names.index(name) for name in pair)
    labels, predictions = labels.numpy(), predictions.numpy()

    def first(true: int, predicted: int, many: int) -> list[int]:
        return np.flatnonzero((labels == true) & (predictions == predicted))[:many].tolist()

    others = [c for c in range(len(class_names)) if c not in (a, b)]
    extra = first(others[0], others[0], 1) + first(others[-1], others[-1], 1)
    chosen = first(a, a, 1) + first(b, b, 1) + first(a, b, 2) + first(b, a, 2)
    fill = [i for i in first(a, a, count) + first(b, b, count) if i not in chosen]
    chosen += fill[:max(0, count - len(extra) - len(chosen))]
    return chosen + extra


def rank_similarity(first: torch.Tensor, second: torch.Tensor) -> list[float]:
    """Spearman's rank correlation between the pixels of each pair of maps (N×H×W each): 1 = the same ranking of
    pixels, 0 = unrelated; NaN where a map is constant (for example all zero after Grad-CAM's ReLU).

    Used in section 8.1 (the randomised-weights sanity check).
    """
    from scipy.stats import spearmanr

    if first.shape != second.shape or first.dim() != 3:
        raise ValueError(f"maps of shapes {tuple(first.shape)} and {tuple(second.shape)}: pass two N×H×W stacks "
                         "of the same shape")
    similarities = []
    for a, b in zip(first.reshape(len(first), -1).numpy(), second.reshape(len(second), -1).numpy()):
        constant = np.ptp(a) == 0 or np.ptp(b) == 0
        similarities.append(float("nan") if constant else float(spearmanr(a, b).statistic))
    return similarities
