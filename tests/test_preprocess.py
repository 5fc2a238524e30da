"""Image preprocessing: any size/format to a 28×28 white-on-black input, and clear errors for bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conv_workshop.preprocess import InputError, bytes_to_array, validate_array


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def garment_photo(width=300, height=200, dark_on_light=True) -> Image.Image:
    """A rectangle 'garment' in the middle of a photo."""
    background, garment = (255, 0) if dark_on_light else (0, 255)
    pixels = np.full((height, width), background, dtype=np.uint8)
    pixels[height // 4: 3 * height // 4, width // 3: 2 * width // 3] = garment
    return Image.fromarray(pixels).convert("RGB")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_dark_garment_on_light_background_is_inverted(fmt):
    array = bytes_to_array(encode(garment_photo(dark_on_light=True), fmt))
    assert array.shape == (28, 28) and array.dtype == np.float32
    assert array.min() >= 0 and array.max() <= 1
    assert array[14, 14] > 0.8 and array[0, 0] < 0.1  # bright garment, black corner, like Fashion-MNIST


def test_light_garment_on_black_is_kept_and_aspect_ratio_preserved():
    array = bytes_to_array(encode(garment_photo(width=280, height=140, dark_on_light=False)))
    assert array[14, 14] > 0.8
    assert array[2, 14] < 0.1  # padded to a square: the top rows are background


def test_invert_can_be_forced():
    photo = encode(garment_photo(dark_on_light=True))
    assert bytes_to_array(photo, invert=False)[14, 14] < 0.2


def test_transparent_png_is_flattened_on_white():
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (15, 15, 35, 35))
    assert bytes_to_array(encode(image))[14, 14] > 0.8


@pytest.mark.parametrize("data,message", [(b"", "empty upload"), (b"hello, not an image", "not a readable image"),
                                          (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "not a readable image")])
def test_bad_uploads_raise_input_error(data, message):
    with pytest.raises(InputError, match=message):
        bytes_to_array(data)


@pytest.mark.parametrize("values,message", [
    ([[0.0] * 28] * 27, "shape"),
    ([[0.0] * 28] * 27 + [[float("nan")] * 28], "NaN"),
    ([[0.0] * 28] * 27 + [[2.0] * 28], "scale them to"),
    ([["a"] * 28] * 28, "array of numbers"),
    ([[0.0] * 28] * 27 + [[0.0] * 27], "array of numbers"),
])
def test_bad_arrays_raise_input_error(values, message):
    with pytest.raises(InputError, match=message):
        validate_array(values)


def test_good_array_passes():
    assert validate_array([[0.5] * 28] * 28).shape == (28, 28)
