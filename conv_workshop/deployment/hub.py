"""The trained CNN for torch.hub (hubconf.py): the committed weights rebuilt with torch alone, with the class names
and the preprocessing of one image (Pillow) attached to the model.

Nothing here needs numpy, pandas or the rest of the workshop: it reads the checkpoint (checkpoint.py) and builds
the network (models.py), so `torch.hub.load` works in an environment holding torch and Pillow only.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..constants import IMAGE_SIZE
from ..layout import CHECKOUT, RunLayout
from .checkpoint import load_model


def preprocess(image, invert: bool = False) -> torch.Tensor:
    """One image (a path or a PIL image) as the model's input: 1×1×28×28 floats in [0, 1].

    The image is turned upright from its EXIF orientation, made grayscale, fitted into 28×28 keeping its aspect
    ratio (Lanczos) and centred on black. The model learned Fashion-MNIST's light garments on black: pass
    `invert=True` for a dark garment on a light background (a product photo). The service and the CLI decide that
    from the image's border (serving/preprocess.py), and also check a file's size and format before decoding it.
    """
    from PIL import Image, ImageOps

    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            image = opened.copy()
    if not isinstance(image, Image.Image):
        raise TypeError(f"preprocess takes a path or a PIL image, not {type(image).__name__}")
    gray = ImageOps.exif_transpose(image).convert("L")
    if invert:
        gray = ImageOps.invert(gray)
    square = ImageOps.pad(gray, (IMAGE_SIZE, IMAGE_SIZE), method=Image.Resampling.LANCZOS, color=0)
    pixels = torch.frombuffer(bytearray(square.tobytes()), dtype=torch.uint8)
    return pixels.view(1, 1, IMAGE_SIZE, IMAGE_SIZE).float() / 255


def fashion_cnn(pretrained: bool = True, checkpoint: str | os.PathLike | None = None) -> nn.Module:
    """The workshop's chosen CNN in eval mode, with `class_names` (index → name) and `preprocess` (an image → its
    input tensor) attached. `pretrained=False` gives the same network freshly initialised; `checkpoint` reads another
    checkpoint written by checkpoint.save_checkpoint (default: the checkout's committed best_model.pth)."""
    path = Path(checkpoint) if checkpoint is not None else RunLayout(CHECKOUT).artifacts.checkpoint
    model, saved = load_model(path)
    if not pretrained:
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    model.class_names = tuple(saved["class_names"])
    model.preprocess = preprocess
    return model
