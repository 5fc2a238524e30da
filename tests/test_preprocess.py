"""Image preprocessing: any size/format to a 28×28 white-on-black input, and clear errors for bad input."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image, ImageOps

from conv_workshop.serving.preprocess import (
    InputError,
    InputTooLargeError,
    UnsupportedFormatError,
    bytes_to_array,
    image_to_array,
    validate_array,
)

from .conftest import ROOT


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


# --- hostile and real-world images (issue 13) ---

def png_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("size", [(1, 40_000), (40_000, 1), (8_900, 8_900), (4_097, 4_097)])
def test_oversized_images_are_refused_from_the_header(size):
    data = png_bytes(Image.new("1", size))  # a few KB that would decode to tens of megapixels
    started = time.perf_counter()
    with pytest.raises(InputTooLargeError, match="8,192 pixels a side and 16.8 megapixels") as error:
        bytes_to_array(data)
    assert time.perf_counter() - started < 1.0 and error.value.http_status == 413
    assert f"{size[0]:,}×{size[1]:,}" in str(error.value)


def test_the_largest_accepted_image_passes():
    assert bytes_to_array(png_bytes(Image.new("L", (4_096, 4_096), 40))).shape == (28, 28)


def test_pillow_limit_is_not_changed_process_wide():
    bytes_to_array(encode(garment_photo()))
    assert int(1024 * 1024 * 1024 // 4 // 3) == Image.MAX_IMAGE_PIXELS  # Pillow's own default, for other code


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_long_thin_image_is_shrunk_before_padding(tmp_path):
    """Padding first would allocate an 8,192×8,192 square (64 MiB) for a 90-byte file; shrinking first does not.

    Run under an address-space limit of 40 MiB above the process's size after a warm-up call."""
    path = tmp_path / "thin.png"
    path.write_bytes(png_bytes(Image.new("L", (8_192, 8), 200)))
    code = ("import re, resource, sys\nfrom conv_workshop.serving.preprocess import bytes_to_array\n"
            "from PIL import Image\nbytes_to_array(open(sys.argv[2], 'rb').read())\n"
            "size = int(re.search(r'VmSize:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)) * 1024\n"
            "resource.setrlimit(resource.RLIMIT_AS, (size + 40 * 2**20, resource.RLIM_INFINITY))\n"
            "print(bytes_to_array(open(sys.argv[1], 'rb').read()).shape)")
    small = tmp_path / "small.png"
    small.write_bytes(png_bytes(Image.new("L", (16, 8), 200)))
    result = subprocess.run([sys.executable, "-c", code, str(path), str(small)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "(28, 28)", result.stderr[-500:]


@pytest.mark.parametrize("data,name", [(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "PostScript/EPS"),
                                       (b"II*\x00" + bytes(100), "TIFF"), (b"%PDF-1.7\n" + bytes(100), "PDF")])
def test_other_formats_are_refused_without_reaching_their_decoders(monkeypatch, data, name):
    from PIL import EpsImagePlugin

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: pytest.fail("the EPS parser was reached"))
    with pytest.raises(UnsupportedFormatError, match=f"{name} files are not accepted: send a PNG, JPEG, WebP, BMP"):
        bytes_to_array(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF"])
def test_every_documented_format_is_read(fmt):
    assert bytes_to_array(encode(garment_photo(), fmt))[14, 14] > 0.7


def test_messages_hold_no_object_reprs():
    for data in (b"hello, not an image", b"\x89PNG\r\n\x1a\n" + bytes(20), encode(garment_photo())[:200]):
        with pytest.raises(InputError) as error:
            bytes_to_array(data)
        assert "0x" not in str(error.value) and "BytesIO" not in str(error.value), str(error.value)


def test_sixteen_bit_grey_is_read_by_its_real_range():
    pixels = np.zeros((60, 60), dtype=np.uint16)
    pixels[15:45, 15:45] = 32_768  # a mid-grey garment on black
    array = bytes_to_array(png_bytes(Image.fromarray(pixels)))
    assert abs(array[14, 14] - 0.5) < 0.05 and array[0, 0] < 0.05  # not clipped to white


@pytest.mark.parametrize("transparent_rgb", [(0, 0, 0), (255, 255, 255)])
def test_light_garment_on_transparency_stays_visible(transparent_rgb):
    image = Image.new("RGBA", (50, 50), (*transparent_rgb, 0))
    image.paste((235, 235, 235, 255), (15, 15, 35, 35))
    array = bytes_to_array(png_bytes(image))
    assert array[14, 14] > 0.8 and array[1, 1] < 0.1


@pytest.mark.parametrize("background,garment,padding", [(100, 230, 100 / 255), (200, 40, 55 / 255)])
def test_padding_uses_the_background_colour_after_inversion(background, garment, padding):
    pixels = np.full((140, 280), background, dtype=np.uint8)
    pixels[35:105, 95:185] = garment
    array = bytes_to_array(png_bytes(Image.fromarray(pixels)))
    assert array[1, 14] == pytest.approx(padding, abs=0.02)  # above the 28×14 picture: padding
    assert array[7, 1] == pytest.approx(padding, abs=0.02)  # the picture's own background: the same colour


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation):
    pixels = np.zeros((20, 40), dtype=np.uint8)
    pixels[2:18, 2:12] = 255  # a garment in the left part: any rotation moves it
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    data = png_bytes(image, exif=exif.tobytes())
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))  # Pillow's reading as the oracle
    assert np.allclose(bytes_to_array(data), image_to_array(upright), atol=0.08)  # 8-bit rounding, other order
    assert not np.allclose(bytes_to_array(data), image_to_array(Image.fromarray(pixels)), atol=0.5)


def test_animated_images_are_refused():
    frames = [Image.new("L", (40, 40), shade) for shade in (0, 128, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="animated GIF: send a single still image"):
        bytes_to_array(buffer.getvalue())


def test_a_multi_picture_jpeg_uses_its_main_picture():
    """Phones write MPO: a JPEG followed by previews; it is a still photo, not an animation."""
    buffer = io.BytesIO()
    garment_photo().save(buffer, format="MPO", save_all=True, append_images=[Image.new("RGB", (30, 20))])
    assert bytes_to_array(buffer.getvalue())[14, 14] > 0.8


def test_a_large_jpeg_decoded_at_a_reduced_scale_gives_the_same_picture():
    photo = garment_photo(width=4_000, height=3_000)
    array, reference = bytes_to_array(encode(photo, "JPEG")), image_to_array(photo)
    assert np.abs(array - reference).mean() < 0.01 and np.abs(array - reference).max() < 0.15


def test_true_and_false_are_not_pixel_values():
    with pytest.raises(InputError, match="numbers, not true/false"):
        validate_array([[True] * 28] * 28)


def test_the_decode_budget_bounds_what_threads_hold_at_once():
    from concurrent.futures import ThreadPoolExecutor

    from conv_workshop.serving.preprocess import DecodeBudget

    budget, lock, held, peak = DecodeBudget(100), threading.Lock(), [0], [0]

    def hold(amount):
        with budget.reserve(amount):
            with lock:
                held[0] += min(amount, 100)
                peak[0] = max(peak[0], held[0])
            time.sleep(0.02)
            with lock:
                held[0] -= min(amount, 100)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hold, [60, 60, 30, 30, 150, 10, 5, 90]))  # 150: over the whole budget, so it waits to be alone
    assert 90 <= peak[0] <= 100 and budget.used == 0
