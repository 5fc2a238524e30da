"""Turning an arbitrary photo or drawing into a Fashion-MNIST-like 28×28 input (used by the CLI and the service).

Fashion-MNIST shows a light garment on a black background, centred, filling a 28×28 square. So an image is:
1. converted to grayscale (Pillow's "L"), transparency flattened onto white;
2. inverted when its border is mostly light (a product photo: dark garment on a white background), because the
   models learned bright garments on black;
3. padded to a square with the background colour, keeping the aspect ratio, and resized to 28×28 (Lanczos);
4. scaled to [0, 1] floats. Normalisation happens inside the model.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import IMAGE_SIZE

MAX_IMAGE_PIXELS = 40_000_000  # refuse decompression bombs well before they exhaust memory


class InputError(ValueError):
    """The input is not an image or array this model can take; the message says why and what to send instead."""


def load_image(data: bytes) -> Image.Image:
    if not data:
        raise InputError("empty upload: send a PNG or JPEG image file")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError) as error:
        raise InputError(f"not a readable image ({error}); send a PNG or JPEG file") from error
    return image


def image_to_array(image: Image.Image, invert: bool | None = None) -> np.ndarray:
    """A 28×28 float32 array in [0, 1], white garment on black, following the steps in this module's docstring."""
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    gray = image.convert("L")
    pixels = np.asarray(gray, dtype=np.float32)
    if invert is None:
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        invert = float(np.median(border)) > 127
    if invert:
        gray = ImageOps.invert(gray)
    side = max(gray.size)
    square = Image.new("L", (side, side), 0)
    square.paste(gray, ((side - gray.width) // 2, (side - gray.height) // 2))
    small = square.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.float32) / 255.0


def bytes_to_array(data: bytes, invert: bool | None = None) -> np.ndarray:
    return image_to_array(load_image(data), invert)


def validate_array(values) -> np.ndarray:
    """A JSON 28×28 array (pixels in [0, 1]) → float32 array, or InputError saying what is wrong."""
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise InputError(f"pixels must be a 28×28 array of numbers ({error})") from error
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise InputError(f"pixels has shape {list(array.shape)}; send a 28×28 array (rows of 28 numbers)")
    if not np.isfinite(array).all():
        raise InputError("pixels contains NaN or infinity; send finite numbers in [0, 1]")
    if array.min() < 0 or array.max() > 1:
        raise InputError(f"pixels range from {array.min():g} to {array.max():g}; scale them to [0, 1] "
                         "(divide 0-255 values by 255)")
    return array
