"""What the routes share, held on app.state and handed to them through FastAPI's Depends: the settings, the
classifier (the ONNX Runtime session, the decode budget) and the worker threads.

A test overrides any of them with app.dependency_overrides, or calls a handler with its own. The providers are
`async def` because they only read app.state: FastAPI would run a plain `def` in a thread of its own pool, a thread
hop per dependency per request that contends for the GIL with the decoding threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from ..settings import ServiceSettings
from .classifier import Classifier
from .inference import onnx_session


def open_state(app: FastAPI, settings: ServiceSettings) -> None:
    """The shared state of one app: ModelFileError at once for a bad model file.

    One session for all worker threads, with one intra-op thread per call: the pool already runs requests in
    parallel and the model is small."""
    app.state.settings = settings
    app.state.classifier = Classifier(onnx_session(settings.model_path, threads=1), settings)
    app.state.pool = start_threads(ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="predict"),
                                   settings.workers)


def start_threads(pool: ThreadPoolExecutor, workers: int) -> ThreadPoolExecutor:
    """The pool with all its threads started now: by default each starts inside a submit(), on the event loop,
    which then waits for the new thread to run (measured: loop stalls of 0.6-0.9 s on a loaded 2-core machine)."""
    barrier = threading.Barrier(workers + 1)
    for _ in range(workers):
        pool.submit(barrier.wait)
    barrier.wait(timeout=60)
    return pool


def close_state(app: FastAPI) -> None:
    app.state.pool.shutdown(wait=False, cancel_futures=True)


async def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


async def get_classifier(request: Request) -> Classifier:
    return request.app.state.classifier


async def get_pool(request: Request) -> ThreadPoolExecutor:
    return request.app.state.pool


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
PoolDep = Annotated[ThreadPoolExecutor, Depends(get_pool)]
