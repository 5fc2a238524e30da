"""The cost model: every class of issue 22 refused from its markers before decoding, in small generated files.

Each payload is a few KB: the limits are passed tight (ServiceSettings), so the rule, not the size, is tested.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from dataclasses import replace

import pytest
from PIL import Image, ImageFile, PngImagePlugin

from conv_workshop.serving import preprocess
from conv_workshop.serving.cost import check_structure, decode_bytes
from conv_workshop.serving.preprocess import (
    DecodeBudget,
    InputTooLargeError,
    ServiceBusyError,
    bytes_to_array,
    image_to_array,
    load_image,
)
from conv_workshop.settings import ServiceSettings

LIMITS = ServiceSettings()


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_with(chunks: bytes, image: Image.Image | None = None) -> bytes:
    data = encode(image or Image.new("L", (32, 32), 100))
    return data[:33] + chunks + data[33:]  # right after IHDR


def scans(jpeg: bytes) -> list[tuple[int, int]]:
    """The (start, end) of each scan (SOS header and its entropy-coded data)."""
    found, position = [], 2
    while jpeg[position + 1] != 0xD9:
        end = position + 2 + int.from_bytes(jpeg[position + 2:position + 4], "big")
        if jpeg[position + 1] == 0xDA:
            while not (jpeg[end] == 0xFF and jpeg[end + 1] not in (0, *range(0xD0, 0xD8))):
                end += 1
            found.append((position, end))
        position = end
    return found


def progressive_jpeg(extra_scans: int = 0, size: int = 64, mode: str = "L") -> bytes:
    data = encode(Image.new(mode, (size, size), 128), "JPEG", progressive=True, quality=50)
    start, end = min(scans(data), key=lambda span: span[1] - span[0])
    return data[:-2] + data[start:end] * extra_scans + data[-2:]


def test_a_progressive_jpeg_with_too_many_scans_is_refused_before_decoding(monkeypatch):
    limits = replace(LIMITS, max_jpeg_scans=8)
    assert bytes_to_array(progressive_jpeg(), limits=limits).shape == (28, 28)  # 6 scans: accepted
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(InputTooLargeError, match="more than 8 JPEG scans") as error:
        load_image(progressive_jpeg(extra_scans=10), limits)
    assert error.value.http_status == 413


def test_a_progressive_jpegs_coefficients_count_against_the_decode_budget():
    image = Image.open(io.BytesIO(progressive_jpeg(size=512, mode="RGB")))
    full = image.size
    image.draft(None, (112, 112))  # decoded at 1/4, but the coefficients stay at full size
    assert image.size == (128, 128) and decode_bytes(image, full) >= 512 * 512 * 2 * 1.5  # 4:2:0: 1.5 samples/px
    baseline = Image.open(io.BytesIO(encode(Image.new("RGB", (512, 512)), "JPEG")))
    baseline.draft(None, (112, 112))
    assert decode_bytes(baseline, full) == 128 * 128 * 4
    tight = replace(LIMITS, decode_budget_bytes=600_000)
    with pytest.raises(InputTooLargeError, match="needs about 1 MiB, over the 1 MiB"):
        image_to_array(load_image(progressive_jpeg(size=512, mode="RGB"), tight), budget=DecodeBudget(600_000))


def test_jpeg_app_and_com_segments_are_counted():
    base = encode(Image.new("L", (16, 16)), "JPEG")
    limits = replace(LIMITS, max_metadata_segments=4, max_metadata_bytes=1_000)
    check_structure(base[:2] + b"\xff\xe5\x00\x02" * 2 + base[2:], limits)
    with pytest.raises(InputTooLargeError, match="more than 4 JPEG APP/COM segments"):
        check_structure(base[:2] + b"\xff\xe5\x00\x02" * 5 + base[2:], limits)
    comment = b"\xff\xfe" + struct.pack(">H", 602) + b"x" * 600
    with pytest.raises(InputTooLargeError, match="of JPEG APP/COM segments"):
        check_structure(base[:2] + comment * 2 + base[2:], limits)


def test_png_ancillary_chunks_are_counted():
    limits = replace(LIMITS, max_metadata_segments=4)
    assert bytes_to_array(png_with(png_chunk(b"prVt", b"") * 3), limits=limits).shape == (28, 28)
    with pytest.raises(InputTooLargeError, match="more than 4 ancillary PNG chunks"):
        load_image(png_with(png_chunk(b"prVt", b"") * 5), limits)
    with pytest.raises(InputTooLargeError, match="more than 10 PNG chunks"):
        load_image(png_with(png_chunk(b"IDAT", b"") * 10), replace(LIMITS, max_png_chunks=10))


def test_png_text_is_counted_once_inflated():
    limits = replace(LIMITS, max_png_text_bytes=4_096, max_png_text_total_bytes=6_000)
    bomb = png_chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b" " * 100_000))  # 100 KB in a 200-byte chunk
    with pytest.raises(InputTooLargeError, match="a PNG zTXt chunk that inflates past 4 KiB"):
        load_image(png_with(bomb), limits)
    three = png_chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b" " * 3_000)) * 3
    with pytest.raises(InputTooLargeError, match="more than 5.9 KiB of PNG text|more than 6 KiB of PNG text"):
        load_image(png_with(three), limits)
    international = png_chunk(b"iTXt", b"c\x00\x01\x00en\x00c\x00" + zlib.compress(b" " * 100_000))
    with pytest.raises(InputTooLargeError, match="iTXt chunk that inflates"):
        load_image(png_with(international), limits)


def test_kept_text_counts_against_the_decode_budget():
    plain, texted = Image.open(io.BytesIO(png_with(b""))), Image.open(io.BytesIO(png_with(
        png_chunk(b"tEXt", b"comment\x00" + b"t" * 100_000))))
    assert decode_bytes(texted, texted.size) - decode_bytes(plain, plain.size) >= 100_000


def test_an_exif_block_over_its_limit_is_refused():
    count = 1_000  # an orientation entry of 1,000 RATIONALs: 8 KB
    ifd = b"MM\x00\x2a" + struct.pack(">IHHHII", 8, 1, 0x0112, 5, count, 26) + b"\x00" * 4 + b"\x00\x00\x00\x01" * (
        2 * count)
    with pytest.raises(InputTooLargeError, match="an EXIF block of 8 KiB"):
        load_image(png_with(png_chunk(b"eXIf", ifd)), replace(LIMITS, max_exif_bytes=4_096))


def test_a_webp_counts_its_working_memory():
    data = encode(Image.new("RGB", (512, 512), 200), "WEBP", lossless=True)  # a few hundred bytes
    image = Image.open(io.BytesIO(data))
    assert decode_bytes(image, image.size) == 512 * 512 * 16
    with pytest.raises(InputTooLargeError, match="decoding this WEBP of 512×512 pixels needs about 6 MiB"):
        image_to_array(load_image(data), budget=DecodeBudget(2 * 2**20))


def rle8_bmp(width: int, height: int, rows: int) -> bytes:
    """An 8-bit RLE BMP of `rows` rows, each pairs of 2 pixels of colour 1 and an end of line; then end of bitmap."""
    pixels = (b"\x02\x01" * (width // 2) + b"\x00\x00") * rows + b"\x00\x01"
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def test_an_rle_bmp_is_bounded_by_its_compressed_size():
    assert bytes_to_array(rle8_bmp(40, 40, 40)).shape == (28, 28)  # Pillow's RLE decoder reads it
    with pytest.raises(InputTooLargeError, match="21 KiB of data: the service accepts RLE BMPs of at most 10 KiB"):
        load_image(rle8_bmp(40, 40, 500), replace(LIMITS, max_rle_bytes=10_000))


def test_pillow_limits_are_set_deliberately(monkeypatch):
    for name in ("MAX_TEXT_CHUNK", "MAX_TEXT_MEMORY"):
        monkeypatch.setattr(PngImagePlugin, name, getattr(PngImagePlugin, name))  # restored after the test
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    preprocess.set_pillow_limits(LIMITS)
    assert LIMITS.max_png_text_bytes == PngImagePlugin.MAX_TEXT_CHUNK
    assert LIMITS.max_png_text_total_bytes == PngImagePlugin.MAX_TEXT_MEMORY
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_a_decode_stops_at_its_deadline_from_inside_pillow():
    data = encode(Image.new("L", (1_024, 1_024), 50))
    with pytest.raises(InputTooLargeError, match="took more than 0 s to decode"):
        load_image(data, replace(LIMITS, decode_timeout_s=0.0))  # the header read is already late
    with pytest.raises(InputTooLargeError, match="took more than 0 s to decode"):  # the header in time, not the pixels
        image_to_array(load_image(data), limits=replace(LIMITS, decode_timeout_s=0.0))


def test_waiting_for_decode_memory_ends_at_the_deadline():
    budget, holding, release = DecodeBudget(100), threading.Event(), threading.Event()

    def hold():
        with budget.reserve(100):
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    started = time.monotonic()
    with pytest.raises(ServiceBusyError, match="retry in a second") as error, budget.reserve(
            50, deadline=time.monotonic() + 0.1):
        pass
    assert 0.05 < time.monotonic() - started < 1 and error.value.http_status == 429
    crowded = DecodeBudget(100, max_waiting=0)  # no thread may wait: what does not fit is refused at once
    with crowded.reserve(60), pytest.raises(ServiceBusyError, match="and 0 more wait"), crowded.reserve(50):
        pass
    with crowded.reserve(60), crowded.reserve(40):  # what fits never waits
        assert crowded.used == 100
    release.set()
    thread.join()
    assert budget.used == 0


def test_heavy_decodes_take_a_slot_and_small_ones_never_wait_for_it():
    budget = DecodeBudget(100, max_heavy=1, heavy_bytes=10)
    with budget.reserve(20):
        with pytest.raises(ServiceBusyError), budget.reserve(20, deadline=time.monotonic() + 0.05):
            pass  # memory is free, but the one heavy slot is taken
        with budget.reserve(5, deadline=time.monotonic()):  # a small image goes through at once
            assert budget.used == 25 and budget.heavy == 1
    assert budget.used == 0 and budget.heavy == 0
