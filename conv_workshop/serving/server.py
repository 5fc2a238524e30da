"""Running the app under uvicorn with the connection limits of the settings: `python -m conv_workshop serve`.

uvicorn closes an idle keep-alive connection after keep_alive_s, but it never closes one that has not finished its
first request's headers (an idle socket, a slowloris), and it accepts connections until the process runs out of
file descriptors, after which asyncio logs every failed accept. GuardedH11Protocol adds the two missing rules:
a request's headers must be complete within header_timeout_s, and past max_connections (kept under the fd limit)
the connection idle longest is closed, as nginx does. RateLimitedLog keeps any one log message to a few lines.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import heapq
import itertools
import logging
import resource
import time
import warnings
from dataclasses import replace
from pathlib import Path

from PIL import Image
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..settings import ServiceSettings, service_settings

FD_RESERVE = 64  # descriptors kept for the model, the log, the pool's temporary files and the listening socket


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and a connection cap; guarded_protocol() sets both."""

    header_timeout_s, cap, order = 10.0, 1_000, itertools.count()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.idle_since, self.header_timer = next(self.order), None
        self.arm_header_timer()
        if len(self.connections) > self.cap:
            self.close_idle(len(self.connections) - self.cap)

    def waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def arm_header_timer(self) -> None:
        self.armed_for = self.cycle
        self.header_timer = self.loop.call_later(self.header_timeout_s, self.header_timeout)

    def header_timeout(self) -> None:
        if self.waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def close_idle(self, count: int) -> None:
        """Close the `count` connections idle longest (this one last); busy ones are never closed."""
        idle = [c for c in self.connections if isinstance(c, GuardedH11Protocol) and c.waiting_for_headers()]
        for connection in heapq.nsmallest(count, idle, key=lambda c: c.idle_since):
            connection.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not self.armed_for and self.header_timer is not None:
            self.header_timer.cancel()  # the headers of a new request are complete
            self.header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.waiting_for_headers():
            if self.header_timer is not None:
                self.header_timer.cancel()
            self.idle_since = next(self.order)
            self.arm_header_timer()

    def connection_lost(self, exc) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
        super().connection_lost(exc)


def guarded_protocol(settings: ServiceSettings) -> type[GuardedH11Protocol]:
    """The protocol class for uvicorn's `http=`, with the settings' header timeout and a connection cap under the
    process's file-descriptor limit: FD_RESERVE, and three backlogs, because asyncio accepts up to a backlog of
    connections at each turn of the loop, they reach connection_made a turn later and a closed one frees its fd a
    turn after that (without this margin a burst of connections ends in EMFILE and a 1 s pause of accepting)."""
    soft_fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    cap = settings.max_connections if soft_fd_limit == resource.RLIM_INFINITY else min(
        settings.max_connections, soft_fd_limit - FD_RESERVE - 3 * settings.backlog)
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout_s": settings.header_timeout_s, "cap": cap, "order": itertools.count()})


class RateLimitedLog(logging.Filter):
    """Each message (by logger and format string) at most `burst` times per window; then one line says how many
    were left out. Failed accepts, refused connections and access lines cannot fill the disk."""

    def __init__(self, burst: int, window_s: float = 10.0):
        super().__init__()
        self.burst, self.window_s, self.seen = burst, window_s, {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg)[:200])
        now = time.monotonic()
        start, count, dropped = self.seen.get(key, (now, 0, 0))
        if now - start > self.window_s:
            if dropped:
                record.msg = f"{record.msg} (and {dropped} more like it in {self.window_s:g} s, not logged)"
            start, count, dropped = now, 0, 0
        if count < self.burst:
            self.seen[key] = (start, count + 1, dropped)
            return True
        self.seen[key] = (start, count, dropped + 1)
        if len(self.seen) > 10_000:
            self.seen.clear()
        return False


def return_freed_memory() -> None:
    """In the service's own process, on glibc: blocks of 1 MiB and more are mapped, and unmapped when freed.

    By default glibc raises that threshold after the first large free, so decoded images then come from per-thread
    arenas that keep the memory once it is freed. Measured with 24 16-megapixel PNGs from 8 clients: a peak of
    +227 MB over idle and +203 MB still held afterwards by default; +81 MB and +9 MB with this. Elsewhere (macOS,
    musl) it does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # -3: M_MMAP_THRESHOLD


def main(host: str = "127.0.0.1", port: int = 8000, model_path: str | None = None,
         settings: ServiceSettings | None = None) -> None:
    import uvicorn

    from .app import create_app

    settings = settings or service_settings()
    if model_path:
        settings = replace(settings, model_path=Path(model_path))
    return_freed_memory()
    # Pillow warns for every image over 89 megapixels it opens; the service refuses far smaller ones itself, so the
    # warning would only let clients fill the log.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    app = create_app(settings)
    # What start-up created (FastAPI, pydantic, ONNX Runtime, numpy: a few hundred thousand objects) stays alive
    # for good; frozen, the collector's full passes skip it (measured: a 0.24 s full pass under load, every few
    # seconds, while every thread, the event loop's included, waits).
    gc.freeze()
    config = uvicorn.Config(app, host=host, port=port, log_level="info",
                            http=guarded_protocol(settings), timeout_keep_alive=settings.keep_alive_s,
                            h11_max_incomplete_event_size=settings.max_header_bytes, backlog=settings.backlog)
    server = uvicorn.Server(config)
    limiter = RateLimitedLog(settings.log_burst)
    for name in ("uvicorn.error", "uvicorn.access", "asyncio", "conv_workshop"):
        logging.getLogger(name).addFilter(limiter)
    server.run()
