"""Every setting read from the environment, in one module: how a notebook run is configured and the service's limits.

Nothing else in the package reads `os.environ`. Each field names its variable; `run_settings()` and
`service_settings()` resolve them once, and the notebook's setup table prints what they resolved to. The module
imports no torch, so that the prediction service can use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from .constants import ARTIFACT_DIR


def _flag(value: str | None, default: bool) -> bool:
    """'1' / '0' (also true/false, yes/no); unset keeps the default; anything else is refused with what to send."""
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a flag: send 1 or 0")


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@dataclass(frozen=True)
class RunSettings:
    """How a run of the notebook (or of the CLI) is configured; every field is read from the variable it names."""

    profile: str | None = None  # WORKSHOP_PROFILE: smoke | quick | full; None: full on CUDA, quick elsewhere
    replay: bool = False  # WORKSHOP_REPLAY=1: re-render from the recorded runs instead of training them again
    resume: bool = True  # WORKSHOP_RESUME=0: start afresh instead of continuing an interrupted run of the profile
    output_dir: Path | None = None  # WORKSHOP_OUTPUT_DIR: where records go (None: . for full, runs/<profile>/ else)
    data_dir: Path | None = None  # FASHION_MNIST_DIR: a folder holding the four IDX .gz files
    headless: bool = False  # WORKSHOP_HEADLESS=1: no live widgets (executed runs, CI); static figures instead
    progress: bool = True  # WORKSHOP_PROGRESS=0: no progress bars
    git_commit: str | None = None  # WORKSHOP_GIT_COMMIT: the commit to record outside a git checkout
    language: str = "en"  # WORKSHOP_LANGUAGE: en | es, the language of generated text (the notebook's LANGUAGE)

    def table(self) -> dict[str, str]:
        """The resolved settings as {environment variable: value}, for the setup table."""
        return {VARIABLES[f.name]: "—" if getattr(self, f.name) is None else str(getattr(self, f.name))
                for f in fields(self)}


VARIABLES = {"profile": "WORKSHOP_PROFILE", "replay": "WORKSHOP_REPLAY", "resume": "WORKSHOP_RESUME",
             "output_dir": "WORKSHOP_OUTPUT_DIR",
             "data_dir": "FASHION_MNIST_DIR", "headless": "WORKSHOP_HEADLESS", "progress": "WORKSHOP_PROGRESS",
             "git_commit": "WORKSHOP_GIT_COMMIT", "language": "WORKSHOP_LANGUAGE"}


def run_settings(environ: Mapping[str, str] | None = None) -> RunSettings:
    """The run settings from the environment (or from `environ`, for tests)."""
    env = os.environ if environ is None else environ
    try:
        return RunSettings(
            profile=env.get("WORKSHOP_PROFILE") or None,
            replay=_flag(env.get("WORKSHOP_REPLAY"), False),
            resume=_flag(env.get("WORKSHOP_RESUME"), True),
            output_dir=_path(env.get("WORKSHOP_OUTPUT_DIR")),
            data_dir=_path(env.get("FASHION_MNIST_DIR")),
            headless=_flag(env.get("WORKSHOP_HEADLESS"), False),
            progress=_flag(env.get("WORKSHOP_PROGRESS"), True),
            git_commit=env.get("WORKSHOP_GIT_COMMIT") or None,
            language=env.get("WORKSHOP_LANGUAGE") or "en",
        )
    except ValueError as error:
        raise ValueError(f"an environment variable of the workshop is malformed: {error}") from None


@dataclass(frozen=True)
class ServiceSettings:
    """The prediction service's model file and limits (see the README's service section): every accepted byte has a
    bounded price in memory, CPU and time. Tests pass tighter ones to `serving.app.create_app`."""

    model_path: Path = ARTIFACT_DIR / "fashion_mnist_cnn.onnx"  # WORKSHOP_ONNX_MODEL: the ONNX file served
    # What one request may send
    max_upload_bytes: int = 5 * 2**20  # a body, counted while it streams in (with or without Content-Length)
    max_json_bytes: int = 256 * 2**10  # a JSON body: a 28×28 array is about 20 KB even pretty-printed
    max_multipart_parts: int = 8  # parts of a multipart body (one of them the field `file`)
    default_top_k: int = 3  # classes returned when top_k is not given
    max_top_k: int = 10  # the most classes a request may ask for (there are 10)
    # What an image may cost, read from its header and markers before a pixel is decoded
    max_side: int = 8_192  # pixels along either side
    max_pixels: int = 4_096 * 4_096  # pixels in all (16.8 megapixels)
    max_jpeg_scans: int = 64  # scans of a progressive JPEG (encoders write up to about 12); time grows with each
    max_metadata_segments: int = 64  # JPEG APP/COM segments, PNG ancillary chunks, WebP metadata chunks
    max_png_chunks: int = 4_096  # PNG chunks of any kind (encoders split the pixels into chunks of 8 KiB or more)
    max_metadata_bytes: int = 1 * 2**20  # bytes of all those segments and chunks together
    max_exif_bytes: int = 64 * 2**10  # an EXIF block (JPEG's own limit for one segment)
    max_png_text_bytes: int = 256 * 2**10  # one PNG text or ICC chunk once inflated (Pillow's MAX_TEXT_CHUNK)
    max_png_text_total_bytes: int = 1 * 2**20  # all of one image's PNG text once inflated (Pillow's MAX_TEXT_MEMORY)
    max_rle_bytes: int = 512 * 2**10  # compressed data of an RLE BMP: Pillow decodes RLE in Python, a pair at a time
    # Decoding: memory and time shared by all requests
    decode_budget_bytes: int = 128 * 2**20  # decoder memory all threads hold at once (pixels, coefficients, copies)
    decode_wait_s: float = 1.5  # the longest an image waits for its share of that memory before a 429
    decode_timeout_s: float = 2.0  # an image's decode (from its header) and a multipart parse; past it a 413
    workers: int = 16  # threads that parse, decode and infer; the admission lanes below bound what they hold
    max_decode_waiting: int = 8  # threads that may wait for decode memory; past it a 429 at once (others stay free)
    # images needing 1 MiB or more of decoder memory decoded at once: a core stays for the event loop and small images
    max_heavy_decodes: int = field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1))
    # Admission: taken before the body is read, so bodies buffered and requests in flight stay bounded
    small_body_bytes: int = 64 * 2**10  # a body of at most this (declared) size takes the small-request lane
    max_small_in_flight: int = 32  # small requests admitted at once (a 28×28 image, JSON pixels)
    max_large_in_flight: int = 4  # larger or chunked bodies admitted at once: 4 × 5 MiB buffered at most
    admission_timeout_s: float = 1.0  # the longest a request waits for its lane before a 429 with Retry-After
    busy_delay_s: float = 1.0  # a 429 for busy decode memory is sent this late, ±50 % (lane and thread are free)
    # Connections (uvicorn, h11)
    header_timeout_s: float = 10.0  # a request's headers must be complete this long after the connection is idle
    body_timeout_s: float = 10.0  # a body must arrive completely within this time once it is being read
    keep_alive_s: int = 5  # an idle keep-alive connection is closed after this (uvicorn's timeout_keep_alive)
    max_header_bytes: int = 16 * 2**10  # request line and headers (h11's max incomplete event size)
    max_connections: int = 1_000  # open connections; past it the oldest idle one is closed (kept under the fd limit)
    backlog: int = 128  # connections the kernel queues, and asyncio accepts in one go before any is seen
    log_burst: int = 10  # the same log message at most this often per 10 s; the rest are counted, not written


def service_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """The service settings from the environment (or from `environ`, for tests): WORKSHOP_ONNX_MODEL names the model;
    the limits are the defaults above (a deployment that needs others passes its own ServiceSettings)."""
    env = os.environ if environ is None else environ
    model = env.get("WORKSHOP_ONNX_MODEL")
    return ServiceSettings(model_path=Path(model)) if model else ServiceSettings()
