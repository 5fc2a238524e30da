"""Every setting read from the environment, in one module: how a notebook run is configured and the service's limits.

Nothing else in the package reads `os.environ`. Each variable is declared once, as a typed field (pydantic-settings
derives its name, WORKSHOP_<FIELD>, and parses and checks its value); `run_settings()` and `service_settings()` resolve
them once, when a session, the CLI or the service starts, and what they return is passed down. The notebook's setup
table prints what they resolved to. The module imports no torch, so that the prediction service can use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .layout import COMMITTED

PRECISIONS = ("bf16", "fp16", "fp32")


class RunSettings(BaseSettings):
    """How a run of the notebook (or of the CLI) is configured; each field is read from WORKSHOP_<FIELD> (the data
    folder from FASHION_MNIST_DIR). Unset or empty keeps the default; a flag takes 1 / 0 (true / false, yes / no)."""

    model_config = SettingsConfigDict(env_prefix="WORKSHOP_", env_ignore_empty=True, frozen=True, extra="ignore")

    profile: Literal["smoke", "quick", "full"] | None = None  # None: full on CUDA, quick elsewhere
    replay: bool = False  # re-render from the recorded runs: every run must be in the records
    resume: bool = True  # 0: put this profile's records aside and train everything afresh
    output_dir: Path | None = None  # where records go (None: . for full, runs/<profile>/ otherwise)
    data_dir: Path | None = Field(None, validation_alias=AliasChoices("FASHION_MNIST_DIR"))  # the four IDX .gz files
    headless: bool = False  # 1: no live widgets (executed runs, CI); static figures instead
    progress: bool = True  # 0: no progress bars
    git_commit: str | None = None  # the commit to record outside a git checkout
    language: Literal["en", "es"] | None = None  # the generated text's language (None: the notebook's edition)
    precision: Literal["bf16", "fp16", "fp32"] | None = None  # None: bf16 where the device computes it natively

    def check(self) -> None:
        """Refuse settings that contradict each other (SettingsError), once the notebook's parameters are in."""
        if self.replay and not self.resume:
            raise SettingsError("a replay takes every run from the records (REPLAY / WORKSHOP_REPLAY=1), and a fresh "
                                "start puts them aside (RESUME = False / WORKSHOP_RESUME=0): choose one of the two")

    def table(self) -> dict[str, str]:
        """The resolved settings as {environment variable: value}, for the setup table."""
        return {variable(name): "—" if value is None else str(value) for name, value in self}


def variable(name: str) -> str:
    """The environment variable of a RunSettings field."""
    alias = RunSettings.model_fields[name].validation_alias
    return alias.choices[0] if isinstance(alias, AliasChoices) else f"WORKSHOP_{name.upper()}"


class SettingsError(ValueError):
    """An environment variable of the workshop has a value it does not accept: the message names both."""


def run_settings() -> RunSettings:
    """The run settings, resolved from the environment now (call it once, at start-up, and pass the result down);
    a malformed variable is a ValueError naming it and what it accepts."""
    try:
        return RunSettings()
    except ValidationError as error:
        problems = "; ".join(f"{variable(str(e['loc'][0]))}={e['input']!r}: {e['msg']}" for e in error.errors())
        raise SettingsError(f"an environment variable of the workshop is malformed: {problems}") from None


@dataclass(frozen=True)
class ServiceSettings:
    """The prediction service's model file and limits (see the README's service section): every accepted byte has a
    bounded price in memory, CPU and time. Tests pass tighter ones to `serving.app.create_app`."""

    model_path: Path = COMMITTED.artifacts.onnx  # WORKSHOP_ONNX_MODEL: the ONNX file served
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


class _ServiceEnvironment(BaseSettings):
    """What the service reads from the environment: the model file (WORKSHOP_ONNX_MODEL)."""

    model_config = SettingsConfigDict(env_prefix="WORKSHOP_", env_ignore_empty=True, extra="ignore")

    onnx_model: Path | None = None


def service_settings() -> ServiceSettings:
    """The service settings, resolved from the environment now: WORKSHOP_ONNX_MODEL names the model; the limits are
    the defaults above (a deployment that needs others passes its own ServiceSettings)."""
    model = _ServiceEnvironment().onnx_model
    return ServiceSettings(model_path=model) if model else ServiceSettings()
