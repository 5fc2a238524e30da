"""ASGI middleware that bounds a request body in size and in time, whether or not Content-Length was sent.

A body over max_upload_bytes gets a 413 as soon as its bytes pass the limit (at once when Content-Length declares
more); a chunked body is counted while it streams in and never read past the limit. Once the application starts
reading, the whole body must arrive within body_timeout_s, or the request gets a 408 and its connection is closed:
a client that sends a byte a second holds nothing for long.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException

from ..settings import ServiceSettings
from .errors import error_response


class BodyLimit:
    def __init__(self, app, settings: ServiceSettings):
        self.app, self.max_bytes, self.timeout = app, settings.max_upload_bytes, settings.body_timeout_s

    def too_large(self, declared: int | None = None) -> HTTPException:
        size = "" if declared is None else f" of {declared:,} bytes"
        return HTTPException(413, f"body{size} is over the {self.max_bytes:,}-byte ({self.max_bytes / 2**20:g} MiB) "
                                  "limit: send a smaller image (the model sees 28×28, so shrink it first)")

    def too_slow(self) -> HTTPException:
        return HTTPException(408, f"the body did not arrive within {self.timeout:g} s: send it at once (a slow "
                                  "client should upload through a proxy that buffers)", {"Connection": "close"})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = self.too_large(int(declared))
            return await error_response(error.status_code, error.detail, {"Connection": "close"})(scope, receive,
                                                                                                   send)
        received, deadline = 0, None

        async def limited_receive():
            nonlocal received, deadline
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + self.timeout
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise self.too_slow() from None
            received += len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if received > self.max_bytes:
                raise self.too_large()  # the handlers turn it into the JSON 413; nothing more is read
            return message

        await self.app(scope, limited_receive, send)
