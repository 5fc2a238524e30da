"""What an image will cost to decode, read from its header and markers before a single pixel is decoded.

A decoder's work is driven by more than the pixel count: a progressive JPEG is decoded once per scan and keeps a
coefficient for every pixel until the last one; Pillow parses every JPEG APP/COM segment and PNG chunk in Python and
keeps their contents; a WebP is decoded whole by libwebp with several canvases; an RLE BMP is decoded in Python, a
pair of bytes at a time. `check_structure` walks the markers and chunks and refuses, with a 413 that names the
limit, whatever is beyond the stated limits (ServiceSettings); `decode_bytes` is the memory the decoder will hold,
which `preprocess` reserves from the decode budget before decoding.
"""

from __future__ import annotations

import re
import struct
import zlib

from PIL import Image

from ..settings import ServiceSettings
from .input_errors import InputTooLargeError

MIB = 2**20
# The next JPEG marker in entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart marker nor a fill byte
NEXT_MARKER = re.compile(rb"\xff(?![\x00\xd0-\xd7\xff])")
STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length
TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"iCCP"}  # what Pillow inflates and keeps (bounded by MAX_TEXT_*)
WEBP_BYTES_PER_PIXEL = 16  # libwebp's RGBA canvas, the animation decoder's two frames and Pillow's copy
COEFFICIENT_BYTES = 2  # a progressive JPEG keeps one 16-bit DCT coefficient per sample of every component


def _size(count: int) -> str:
    return f"{count / MIB:.1f} MiB" if count >= MIB else f"{count / 1024:.0f} KiB"


def check_structure(data: bytes, limits: ServiceSettings) -> None:
    """InputTooLargeError naming the limit if data's markers or chunks cost more than limits allow; else nothing.

    Only PNG, JPEG, WebP and BMP have structure that drives the decoder's work; other data passes through (Pillow
    then reads or refuses it)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        _check_png(data, limits)
    elif data.startswith(b"\xff\xd8"):
        _check_jpeg(data, limits)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        _check_webp(data, limits)
    elif data.startswith(b"BM"):
        _check_bmp(data, limits)


def _refuse(what: str, limit: str, advice: str = "re-save the image as a plain PNG or JPEG") -> None:
    raise InputTooLargeError(f"{what}: the service accepts {limit}; {advice}")


def _check_metadata(what: str, count: int, size: int, limits) -> None:
    """One rule for metadata, JPEG APP/COM segments and PNG ancillary chunks alike: so many at most, so many bytes."""
    if count > limits.max_metadata_segments:
        _refuse(f"more than {limits.max_metadata_segments} {what}", f"at most {limits.max_metadata_segments}",
                "re-save the image without its metadata")
    if size > limits.max_metadata_bytes:
        most = _size(limits.max_metadata_bytes)
        _refuse(f"more than {most} of {what}", f"at most {most}", "re-save the image without its metadata")

def _check_png(data: bytes, limits: ServiceSettings) -> None:
    position, chunks, ancillary, metadata, text = 8, 0, 0, 0, 0
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        payload = data[position + 8:position + 8 + length]
        chunks += 1
        if chunks > limits.max_png_chunks:
            _refuse(f"more than {limits.max_png_chunks:,} PNG chunks", f"at most {limits.max_png_chunks:,}")
        if kind[0] & 0x20:  # ancillary: the first letter is lower case
            ancillary += 1
            metadata += length
            _check_metadata("ancillary PNG chunks (text, EXIF, private)", ancillary, metadata, limits)
        if kind == b"eXIf" and length > limits.max_exif_bytes:
            _refuse(f"an EXIF block of {_size(length)}", f"at most {_size(limits.max_exif_bytes)}",
                    "re-save the image without its EXIF data")
        if kind in TEXT_CHUNKS:
            text += _inflated_text(kind, payload, limits)
            if text > limits.max_png_text_total_bytes:
                _refuse(f"more than {_size(limits.max_png_text_total_bytes)} of PNG text once inflated",
                        f"at most {_size(limits.max_png_text_total_bytes)}", "re-save the image without its text")
        if kind == b"IEND":
            return
        position += 12 + length


def _inflated_text(kind: bytes, payload: bytes, limits: ServiceSettings) -> int:
    """The size of a text or ICC chunk's text once inflated; refused as soon as it passes the per-chunk limit."""
    compressed = None
    if kind in (b"zTXt", b"iCCP"):
        compressed = payload.partition(b"\x00")[2][1:]  # keyword, NUL, method byte
    elif kind == b"iTXt":
        keyword, _, rest = payload.partition(b"\x00")
        if rest[:1] == b"\x01":  # compressed flag
            compressed = rest[2:].split(b"\x00", 2)[-1]  # after method, language tag and translated keyword
    if compressed is None:
        size = len(payload)
    else:
        try:
            size = len(zlib.decompressobj().decompress(compressed, limits.max_png_text_bytes + 1))
        except zlib.error:
            size = 0  # Pillow refuses or skips it; nothing is kept
    if size > limits.max_png_text_bytes:
        _refuse(f"a PNG {kind.decode()} chunk that inflates past {_size(limits.max_png_text_bytes)}",
                f"at most {_size(limits.max_png_text_bytes)} per chunk", "re-save the image without its text")
    return size


def _check_jpeg(data: bytes, limits: ServiceSettings) -> None:
    position, scans, segments, metadata, tables = 2, 0, 0, 0, 0
    max_tables = 2 * limits.max_jpeg_scans + limits.max_metadata_segments  # a table set may precede each scan
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return  # not a marker: Pillow reports the file as corrupt
        marker = data[position + 1]
        if marker == 0xFF:  # a fill byte
            position += 1
            continue
        if marker == 0xD9:  # EOI: what follows (an MPO's previews) is not decoded
            return
        if marker in STANDALONE:
            position += 2
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        end = position + 2 + length
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # APPn, COM
            segments += 1
            metadata += length
            _check_metadata("JPEG APP/COM segments", segments, metadata, limits)
        elif marker == 0xDA:  # SOS: a scan; its entropy-coded data runs to the next marker
            scans += 1
            if scans > limits.max_jpeg_scans:
                _refuse(f"more than {limits.max_jpeg_scans} JPEG scans (a progressive JPEG has about 10)",
                        f"at most {limits.max_jpeg_scans}", "re-save it as a baseline JPEG or a PNG")
            found = NEXT_MARKER.search(data, end)
            end = found.start() if found else len(data)
        else:
            tables += 1
            if tables > max_tables:
                _refuse(f"more than {max_tables} JPEG table segments", f"at most {max_tables}")
        position = end


def _check_webp(data: bytes, limits: ServiceSettings) -> None:
    position, chunks, metadata = 12, 0, 0
    while position + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, position)
        chunks += 1
        if chunks > limits.max_metadata_segments:
            _refuse(f"more than {limits.max_metadata_segments} WebP chunks", f"at most {limits.max_metadata_segments}")
        if kind in (b"EXIF", b"XMP ", b"ICCP"):
            metadata += length
            if kind == b"EXIF" and length > limits.max_exif_bytes:
                _refuse(f"an EXIF block of {_size(length)}", f"at most {_size(limits.max_exif_bytes)}",
                        "re-save the image without its EXIF data")
            if metadata > limits.max_metadata_bytes:
                _refuse(f"more than {_size(limits.max_metadata_bytes)} of WebP metadata",
                        f"at most {_size(limits.max_metadata_bytes)}", "re-save the image without its metadata")
        position += 8 + length + (length & 1)


def _check_bmp(data: bytes, limits: ServiceSettings) -> None:
    if len(data) < 34:
        return
    offset, header = struct.unpack_from("<I", data, 10)[0], struct.unpack_from("<I", data, 14)[0]
    compression = struct.unpack_from("<I", data, 30)[0] if header >= 40 else 0
    if compression in (1, 2) and len(data) - offset > limits.max_rle_bytes:  # BI_RLE8, BI_RLE4
        _refuse(f"an RLE-compressed BMP with {_size(len(data) - offset)} of data",
                f"RLE BMPs of at most {_size(limits.max_rle_bytes)}", "re-save it as a PNG")


def decode_bytes(image: Image.Image, full_size: tuple[int, int]) -> int:
    """The memory (bytes) decoding image at its current (drafted) size holds at once, beyond the file itself.

    full_size is the size in the header: a progressive JPEG keeps coefficients at that size whatever the draft. The
    metadata Pillow has kept (text, EXIF, ICC profile) counts too."""
    pixels = image.width * image.height
    metadata = sum(len(value) for value in image.info.values() if isinstance(value, (bytes, str)))  # text, EXIF, ICC
    if image.format == "WEBP":
        return pixels * WEBP_BYTES_PER_PIXEL + metadata
    bytes_per_pixel = 1 if image.mode in ("1", "L", "P") else 2 if image.mode.startswith("I;16") else 4  # Pillow's
    cost = pixels * bytes_per_pixel
    if image.format == "BMP" and image.tile and image.tile[0][0] == "bmp_rle":
        cost *= 2  # the RLE decoder builds the pixels in a bytearray, then copies them into the image
    if image.format in ("JPEG", "MPO") and image.info.get("progressive"):
        layers = getattr(image, "layer", [])
        h_max = max((h for _, h, _, _ in layers), default=1)
        v_max = max((v for _, _, v, _ in layers), default=1)
        width, height = full_size
        for _, h, v, _ in layers or [("", 1, 1, 0)]:
            blocks_x, blocks_y = -(-width * h // h_max // 8), -(-height * v // v_max // 8)
            cost += blocks_x * blocks_y * 64 * COEFFICIENT_BYTES
    return cost + metadata
