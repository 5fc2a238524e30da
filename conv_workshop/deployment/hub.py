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

from ..constants import IMAGE_SIZE, fitted_size
from ..layout import CHECKOUT, RunLayout
from .checkpoint import CheckpointError, load_model


def preprocess(image, invert: bool = False) -> torch.Tensor:
    """One image (a path or a PIL image) as the model's input: 1×1×28×28 floats in [0, 1].

    The image is turned upright from its EXIF orientation and read by its real range (16-bit images by 65,535, float
    images in [0, 1] or [0, 255]); a transparent image is laid on the colour of the background it should have (black,
    or white with `invert`); it is made grayscale, fitted into 28×28 keeping its aspect ratio (Lanczos, the shorter
    side at least one pixel) and centred on black. The model learned Fashion-MNIST's light garments on black: pass
    `invert=True` for a dark garment on a light background (a product photo). The service and the CLI decide that
    from the image's border (serving/preprocess.py), and also check a file's size and format before decoding it.
    """
    from PIL import Image, ImageOps

    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            image = opened.copy()
    if not isinstance(image, Image.Image):
        raise TypeError(f"preprocess takes a path or a PIL image, not {type(image).__name__}")
    image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I"):  # 16- or 32-bit integers: read 0–65,535 as 0–255
        image = image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    elif image.mode == "F":  # floats: in [0, 1] or already in [0, 255]
        top = image.getextrema()[1]
        image = image.point(lambda value: value * (255 if top <= 1 else 1)).convert("L")
    elif "A" in image.mode or "transparency" in image.info:
        layer = image.convert("RGBA")
        background = Image.new("RGBA", layer.size, (255, 255, 255, 255) if invert else (0, 0, 0, 255))
        image = Image.alpha_composite(background, layer)
    gray = image.convert("L")
    if invert:
        gray = ImageOps.invert(gray)
    square = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
    fitted = gray.resize(fitted_size(*gray.size), Image.Resampling.LANCZOS)
    square.paste(fitted, ((IMAGE_SIZE - fitted.width) // 2, (IMAGE_SIZE - fitted.height) // 2))
    pixels = torch.frombuffer(bytearray(square.tobytes()), dtype=torch.uint8)
    return pixels.view(1, 1, IMAGE_SIZE, IMAGE_SIZE).float() / 255


def fashion_cnn(pretrained: bool = True, checkpoint: str | os.PathLike | None = None) -> nn.Module:
    """The workshop's chosen CNN in eval mode, with `class_names` (index → name) and `preprocess` (an image → its
    input tensor) attached. `pretrained=False` gives the same network freshly initialised; `checkpoint` reads another
    checkpoint written by checkpoint.save_checkpoint (default: the committed best_model.pth of the clone this module
    is in; an installed package has none, so pass `checkpoint`)."""
    path = Path(checkpoint) if checkpoint is not None else RunLayout(CHECKOUT).artifacts.checkpoint
    if checkpoint is None and not path.is_file():
        raise CheckpointError(f"no committed weights at {path}: torch.hub finds them in a clone of the repository "
                              "(torch.hub.load(<clone>, 'fashion_cnn', source='local')); elsewhere pass "
                              "checkpoint=<a .pth written by checkpoint.save_checkpoint>")
    model, saved = load_model(path)
    if not pretrained:
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    model.class_names = tuple(saved["class_names"])
    model.preprocess = preprocess
    return model
