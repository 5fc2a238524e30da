"""The FastAPI app: create_app wires the settings, the shared state, the middleware, the error handlers and the
routers together; each of those lives in its own module. Run it with `python -m conv_workshop serve` (server.py).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from fastapi import FastAPI

from ..settings import ServiceSettings, service_settings
from .admission import Admission
from .body_limit import BodyLimit
from .dependencies import close_state, open_state
from .errors import HANDLERS
from .preprocess import set_pillow_limits
from .routes import health, predict

DESCRIPTION = ("Classifies clothing images with the workshop's CNN (ONNX Runtime). {limits} Every error is JSON "
               '{{"error": "..."}} naming what is wrong and what to send instead: 400 bad input, 404 unknown path, '
               "405 wrong method, 408 a body too slow, 413 too large or too costly to decode, 415 another image "
               "format, 422 a bad query parameter, 429 the service is at its concurrency limit (retry).")


def create_app(settings: ServiceSettings | str | os.PathLike | None = None) -> FastAPI:
    """The app for these settings (default: service_settings(), from the environment), or for a model file with the
    default limits; its ONNX Runtime session is loaded now (ModelFileError at once for a bad model file)."""
    if settings is None:
        settings = service_settings()
    elif not isinstance(settings, ServiceSettings):
        settings = ServiceSettings(model_path=Path(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        close_state(app)

    app = FastAPI(title="Fashion-MNIST CNN", version="1.0", lifespan=lifespan,
                  description=DESCRIPTION.format(limits=predict.LIMITS_TEXT))
    set_pillow_limits(settings)
    open_state(app, settings)
    app.add_middleware(Admission, settings=settings)  # inner: waits for a lane before the body is read
    app.add_middleware(BodyLimit, settings=settings)  # outer: a declared oversize body is refused without waiting
    for exception, handler in HANDLERS.items():
        app.add_exception_handler(exception, handler)
    app.include_router(health.router)
    app.include_router(predict.router)
    return app
