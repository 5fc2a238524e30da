"""Turning an arbitrary photo or drawing into a Fashion-MNIST-like 28×28 input (used by the CLI and the service).

Fashion-MNIST shows a light garment on a black background, centred, filling a 28×28 square. So an image is:
1. checked from its header and markers alone, before a pixel is decoded: a PNG, JPEG, WebP, BMP or GIF, at most
   8,192 pixels a side and 16.8 megapixels (4,096 × 4,096), with a single frame (animated GIF, PNG or WebP are
   refused; a phone's multi-picture JPEG uses its main picture), and no more scans, metadata segments, chunks or
   text than the limits in `settings.ServiceSettings` (`cost` counts them);
2. decoded (a JPEG at a reduced scale) and shrunk so that its longer side is 28 pixels, keeping the aspect ratio:
   averaged down one band of rows at a time (transparency premultiplied), then Lanczos; the padding comes last, so
   memory never grows with a padded square. All threads together hold at most the decode budget (128 MiB) of
   decoder memory (pixels, a progressive JPEG's coefficients, WebP's canvases), and a decode stops at its deadline;
3. turned upright from its EXIF orientation (phone photos) and read by its real range: 16-bit images by 65,535;
4. given its background: an opaque image's is the median of its border; a transparent image is composited onto
   the colour opposite its garment (black under a light garment, white under a dark one);
5. inverted when that background is light (a product photo: dark garment on white), because the models learned
   light garments on black; `invert` forces (True) or forbids (False) it;
6. padded to 28×28 with the background colour after any inversion, as floats in [0, 1].
Normalisation happens inside the model.
"""

from __future__ import annotations

import contextlib
import io
import struct
import threading
import time

import numpy as np
from PIL import Image, ImageFile, PngImagePlugin

from ..constants import IMAGE_SIZE, fitted_size
from ..settings import ServiceSettings
from .cost import check_structure, decode_bytes
from .input_errors import InputError, InputTooLargeError, ServiceBusyError, UnsupportedFormatError

__all__ = ["InputError", "InputTooLargeError", "ServiceBusyError", "UnsupportedFormatError", "DecodeBudget",
           "load_image", "image_to_array", "bytes_to_array", "validate_array", "size_limits", "set_pillow_limits"]

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # the formats the service documents; no other decoder is reached
FORMAT_NAMES = "PNG, JPEG, WebP, BMP or GIF"
DEFAULT_LIMITS = ServiceSettings()
BAND_PIXELS = 1 << 20
SHRINK_MARGIN = 4  # images are averaged down to no less than 4× the output size; a last Lanczos step does the rest
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
WITH_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")
EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transpose that makes the image upright (the table of ImageOps.exif_transpose)
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}
# Other formats recognised by their first bytes, only to name them in the error; no decoder of theirs is reached.
OTHER_FORMATS = {b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"%PDF": "PDF", b"%!PS": "PostScript/EPS",
                 b"\xc5\xd0\xd3\xc6": "EPS", b"<svg": "SVG", b"<?xml": "SVG/XML"}
# What Pillow's parsers and decoders raise for malformed data (fuzzing finds all of these); their messages can hold
# object reprs, so they are never shown to the user.
UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error)


def size_limits(limits: ServiceSettings = DEFAULT_LIMITS) -> str:
    return f"at most {limits.max_side:,} pixels a side and {limits.max_pixels / 1e6:.1f} megapixels"


def set_pillow_limits(limits: ServiceSettings = DEFAULT_LIMITS) -> None:
    """Pillow's own limits, set for the whole process (Pillow reads them from its modules), by the service's
    create_app: text and ICC chunks inflate to at most max_png_text_bytes each and max_png_text_total_bytes in all,
    and a truncated image is an error, never decoded as far as it goes. `cost.check_structure` refuses the same
    files first with a message that names the limit; these are the second line."""
    PngImagePlugin.MAX_TEXT_CHUNK = limits.max_png_text_bytes
    PngImagePlugin.MAX_TEXT_MEMORY = limits.max_png_text_total_bytes
    ImageFile.LOAD_TRUNCATED_IMAGES = False


class DecodeBudget:
    """Bytes that threads may hold at once: reserve() waits until the amount fits (an amount over the whole budget
    waits to be alone), so memory stays bounded whatever the number of concurrent requests. A heavy amount (at least
    heavy_bytes) also waits for one of max_heavy slots, so that large decodes leave cores to the event loop and to
    small images, which never wait for a slot. With a deadline it waits no longer than that, and when max_waiting
    threads wait already it does not wait at all (ServiceBusyError): threads stay free for the small images."""

    def __init__(self, total: int, max_waiting: int | None = None, max_heavy: int | None = None,
                 heavy_bytes: int = 2**20):
        self.total, self.used, self.changed = total, 0, threading.Condition()
        self.max_waiting, self.waiting = max_waiting, 0
        self.max_heavy, self.heavy_bytes, self.heavy = max_heavy, heavy_bytes, 0

    @contextlib.contextmanager
    def reserve(self, amount: int, deadline: float | None = None):
        amount = min(amount, self.total)
        heavy = self.max_heavy is not None and amount >= self.heavy_bytes
        with self.changed:
            def fits() -> bool:
                return self.used + amount <= self.total and (not heavy or self.heavy < self.max_heavy)

            if not fits() and self.max_waiting is not None and self.waiting >= self.max_waiting:
                raise ServiceBusyError(f"the service is decoding as many images as its memory allows and "
                                       f"{self.waiting} more wait: retry in a second")
            self.waiting += 1
            try:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not self.changed.wait_for(fits, timeout):
                    raise ServiceBusyError("the service is decoding as many images as its memory allows: retry in a "
                                           "second")
            finally:
                self.waiting -= 1
            self.used += amount
            self.heavy += heavy
        try:
            yield
        finally:
            with self.changed:
                self.used -= amount
                self.heavy -= heavy
                self.changed.notify_all()


_default_budget = DecodeBudget(DEFAULT_LIMITS.decode_budget_bytes)  # the CLI's; the service holds its own


class DecodeTimeout(Exception):
    """The decode ran past its deadline (raised from inside Pillow, which lets it through)."""


class TimedReader(io.BytesIO):
    """The encoded bytes, read by Pillow's decoders in blocks; past the deadline the next read raises DecodeTimeout,
    so a decode stops within one block of work (Pillow decodes 64 KiB of input at a time)."""

    def __init__(self, data: bytes, deadline: float):
        super().__init__(data)
        self.deadline = deadline

    def read(self, size: int | None = -1) -> bytes:
        if time.monotonic() > self.deadline:
            raise DecodeTimeout
        return super().read(size)


def load_image(data: bytes, limits: ServiceSettings = DEFAULT_LIMITS) -> Image.Image:
    """The image in data, checked from its header and markers (format, size, frames, decoding cost); the header is
    parsed within limits.decode_timeout_s, and the pixels are decoded later, on use."""
    if not data:
        raise InputError(f"empty upload: send a {FORMAT_NAMES} image file")
    check_structure(data, limits)
    reader = TimedReader(data, time.monotonic() + limits.decode_timeout_s)
    try:
        image = Image.open(reader, formats=FORMATS)
    except Image.DecompressionBombError:
        raise InputTooLargeError(f"image is too large: send one of {size_limits(limits)}") from None
    except DecodeTimeout:
        raise _timed_out(limits) from None
    except UNREADABLE:
        other = "HEIF/AVIF" if data[4:8] == b"ftyp" else next(
            (name for magic, name in OTHER_FORMATS.items() if data.startswith(magic)), None)
        if other:
            raise UnsupportedFormatError(f"{other} files are not accepted: send a {FORMAT_NAMES} image "
                                         "(convert it to PNG or JPEG first)") from None
        raise InputError(f"not a readable image: send a complete {FORMAT_NAMES} file") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise InputError(f"image is {width}×{height} pixels: send an image with pixels in it")
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise InputTooLargeError(f"image is {width:,}×{height:,} pixels: send one of {size_limits(limits)} "
                                 "(shrink it first; the model sees 28×28)")
    try:
        animated = image.format != "MPO" and getattr(image, "is_animated", False)  # MPO: a JPEG with previews
    except DecodeTimeout:
        raise _timed_out(limits) from None
    except UNREADABLE:
        raise InputError(f"the {image.format} file is corrupt or truncated: send a complete image") from None
    if animated:
        raise InputError(f"animated {image.format}: send a single still image (for example one frame saved as PNG)")
    return image


def _timed_out(limits: ServiceSettings) -> InputTooLargeError:
    return InputTooLargeError(f"the image took more than {limits.decode_timeout_s:g} s to decode: send a smaller or "
                              "simpler image (a baseline JPEG or a PNG without metadata)")


def _working_mode(image: Image.Image) -> str:
    """The mode pixels are averaged in: their real 16-bit range; premultiplied alpha where there is transparency, so
    that the colour of invisible pixels does not bleed into the edges; else 8-bit grey."""
    if image.mode in SIXTEEN_BIT or image.mode == "I":
        return "I"
    if image.mode in ("F", "La"):
        return image.mode
    if image.mode == "LA":
        return "La"
    if image.mode in WITH_ALPHA or "transparency" in image.info:
        return "RGBa"
    return "L"


def _reduce_in_bands(image: Image.Image, mode: str, factors: tuple[int, int], deadline: float) -> Image.Image:
    """The image in mode, box-averaged by factors, converted one band of rows at a time: beside the decoded pixels
    only a band-sized copy exists (a whole converted copy of a 16-megapixel RGBA image would add 64 MB)."""
    rows = factors[1] * max(1, BAND_PIXELS // (image.width * factors[1]))
    reduced = Image.new(mode, (-(-image.width // factors[0]), -(-image.height // factors[1])))
    for top in range(0, image.height, rows):
        if time.monotonic() > deadline:
            raise DecodeTimeout
        band = image.crop((0, top, image.width, min(image.height, top + rows)))
        if mode == "RGBa" and band.mode not in ("RGBA", "RGBa"):
            band = band.convert("RGBA")  # palette, or a grey/RGB image with a transparent colour
        band = band if band.mode == mode else band.convert(mode)
        reduced.paste(band.reduce(factors), (0, top // factors[1]))
    return reduced


def _shrink(image: Image.Image, budget: DecodeBudget, limits: ServiceSettings) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey values in [0, 1] and alpha (or None) at the fitted size, upright; InputError if the data is corrupt, too
    costly for the budget or slower than decode_timeout_s once its memory is reserved; ServiceBusyError if that
    memory is not free within decode_wait_s."""
    width, height = fitted_size(*image.size)
    mode = _working_mode(image)
    white = {"I": 65_535.0, "F": 1.0}.get(mode, 255.0)
    reader = getattr(image, "fp", None)
    try:
        full_size = image.size
        image.draft(None, (width * SHRINK_MARGIN, height * SHRINK_MARGIN))  # JPEG only: decode at 1/2, 1/4 or 1/8
        factors = (max(1, image.width // (width * SHRINK_MARGIN)), max(1, image.height // (height * SHRINK_MARGIN)))
        cost = decode_bytes(image, full_size) + min(image.width * image.height, BAND_PIXELS) * 8  # + a band, 2 copies
        if cost > budget.total:
            raise InputTooLargeError(
                f"decoding this {image.format} of {full_size[0]:,}×{full_size[1]:,} pixels needs about "
                f"{cost / 2**20:.0f} MiB, over the {budget.total / 2**20:.0f} MiB the service gives decoding: send a "
                "smaller image (or a baseline JPEG or PNG)")
        with budget.reserve(cost, time.monotonic() + limits.decode_wait_s):
            deadline = time.monotonic() + limits.decode_timeout_s  # the decode's own time starts with its memory
            if isinstance(reader, TimedReader):
                reader.deadline = deadline
            orientation = image.getexif().get(EXIF_ORIENTATION)
            reduced = _reduce_in_bands(image, mode, factors, deadline)
        if mode in ("RGBa", "La"):  # un-premultiplied (RGBa only converts to LA correctly through RGBA)
            reduced = reduced.convert("RGBA" if mode == "RGBa" else "LA").convert("LA")
        small = reduced.resize((width, height), Image.Resampling.LANCZOS)
    except DecodeTimeout:
        raise _timed_out(limits) from None
    except InputError:
        raise
    except UNREADABLE:
        raise InputError(f"the {image.format or 'image'} data is corrupt or truncated: send a complete image "
                         "file") from None
    if orientation in UPRIGHT:
        small = small.transpose(UPRIGHT[orientation])
    pixels = np.asarray(small, dtype=np.float32)
    if small.mode == "LA":
        return pixels[..., 0] / white, pixels[..., 1] / 255.0
    return np.clip(pixels / white, 0.0, 1.0), None


def image_to_array(image: Image.Image, invert: bool | None = None, budget: DecodeBudget | None = None,
                   limits: ServiceSettings = DEFAULT_LIMITS) -> np.ndarray:
    """A 28×28 float32 array in [0, 1], light garment on dark, following the steps in this module's docstring; the
    decode holds its memory from budget (the service's, shared by its threads; by default the process's own)."""
    gray, alpha = _shrink(image, budget or _default_budget, limits)
    if alpha is not None:
        coverage = float(alpha.sum())
        garment = float((gray * alpha).sum() / coverage) if coverage else 0.0
        background = 0.0 if garment > 0.5 else 1.0  # the opposite of the garment, so that it stays visible
        gray = gray * alpha + background * (1.0 - alpha)
    else:
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        background = float(np.median(border))
    if invert is None:
        invert = background > 0.5
    if invert:
        gray, background = 1.0 - gray, 1.0 - background
    canvas = np.full((IMAGE_SIZE, IMAGE_SIZE), background, dtype=np.float32)
    top, left = (IMAGE_SIZE - gray.shape[0]) // 2, (IMAGE_SIZE - gray.shape[1]) // 2
    canvas[top:top + gray.shape[0], left:left + gray.shape[1]] = gray
    return np.clip(canvas, 0.0, 1.0)


def bytes_to_array(data: bytes, invert: bool | None = None, limits: ServiceSettings = DEFAULT_LIMITS,
                   budget: DecodeBudget | None = None) -> np.ndarray:
    """load_image, then image_to_array: encoded bytes to the model's 28×28 input."""
    return image_to_array(load_image(data, limits), invert, budget, limits)


def validate_array(values) -> np.ndarray:
    """A JSON 28×28 array (pixels in [0, 1]) → float32 array, or InputError saying what is wrong."""
    rows = values if isinstance(values, (list, tuple)) else ()
    if any(isinstance(value, bool) for row in rows for value in (row if isinstance(row, (list, tuple)) else (row,))):
        raise InputError("pixels must be numbers, not true/false: send a 28×28 array of numbers in [0, 1]")
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError("pixels must be a 28×28 array of numbers (rows of 28 numbers in [0, 1])") from None
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise InputError(f"pixels has shape {list(array.shape)}; send a 28×28 array (rows of 28 numbers)")
    if not np.isfinite(array).all():
        raise InputError("pixels contains NaN or infinity; send finite numbers in [0, 1]")
    if array.min() < 0 or array.max() > 1:
        raise InputError(f"pixels range from {array.min():g} to {array.max():g}; scale them to [0, 1] "
                         "(divide 0-255 values by 255)")
    return array
