"""ASGI middleware that admits a request with a body only when its lane has room, before a byte of it is read.

Two lanes: bodies declared at most small_body_bytes (a 28×28 image, JSON pixels) and the rest (large or chunked).
Each lane admits a fixed number of requests at once, so the bodies buffered and the work in flight stay bounded
whatever the number of clients, and small requests never queue behind large ones. A request that finds no room
within admission_timeout_s gets a 429 with Retry-After (its body unread, its connection closed). A 429 from
inside (the decode memory is taken) is sent busy_delay_s late, once the lane and the thread are free again, so that
a client retrying at once costs the service a sleeping connection, not a parse per retry (the delay is jittered
by ±50 %, so that refused clients do not return together).
"""

from __future__ import annotations

import asyncio
import random

from ..settings import ServiceSettings
from .errors import RETRY_AFTER_S, error_response


class Admission:
    def __init__(self, app, settings: ServiceSettings):
        self.app, self.settings = app, settings
        self.lanes = {"small": asyncio.Semaphore(settings.max_small_in_flight),
                      "large": asyncio.Semaphore(settings.max_large_in_flight)}

    def lane(self, headers: dict) -> str | None:
        """None for a request without a body; else the lane its declared size puts it in."""
        declared = headers.get(b"content-length", b"")
        if declared.isdigit():
            size = int(declared)
            return None if size == 0 else "small" if size <= self.settings.small_body_bytes else "large"
        return "large" if b"chunked" in headers.get(b"transfer-encoding", b"").lower() else None

    async def __call__(self, scope, receive, send):
        lane = self.lane(dict(scope["headers"])) if scope["type"] == "http" else None
        if lane is None:
            return await self.app(scope, receive, send)
        semaphore = self.lanes[lane]
        try:
            if semaphore.locked():  # only a request that must wait pays for a timer
                await asyncio.wait_for(semaphore.acquire(), self.settings.admission_timeout_s)
            else:
                await semaphore.acquire()
        except asyncio.TimeoutError:
            limit = self.settings.max_small_in_flight if lane == "small" else self.settings.max_large_in_flight
            response = error_response(429, f"the service is handling {limit} {lane} requests already: retry in "
                                           f"{RETRY_AFTER_S} s", {"Retry-After": RETRY_AFTER_S, "Connection": "close"})
            return await response(scope, receive, send)
        held: list[dict] = []  # a busy 429 from inside, sent late

        async def send_or_hold(message):
            if held or (message["type"] == "http.response.start" and message["status"] == 429):
                held.append(message)
            else:
                await send(message)

        try:
            await self.app(scope, receive, send_or_hold)
        finally:
            semaphore.release()
        if held:  # the lane and the thread are free again; only this connection waits, a jittered time, so that
            # refused clients do not all come back in the same instant
            await asyncio.sleep(self.settings.busy_delay_s * random.uniform(0.5, 1.5))
            for message in held:
                await send(message)
