"""The prediction service: a FastAPI app serving the ONNX model with ONNX Runtime (run: make serve).

Bad input never gives a 500: every refusal is a 4xx with one JSON shape, {"error": "..."}, that names what is wrong
and says what to send. The body is counted while it streams in and never read past its limit; decoding and
inference run in a thread pool, so the event loop keeps answering (/health) while images are processed.
The service imports numpy, Pillow, ONNX Runtime and FastAPI, never torch.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, ValidationError
from starlette.exceptions import HTTPException

from .constants import ARTIFACT_DIR, CLASS_NAMES, IMAGE_SIZE
from .inference import onnx_session, predict_probabilities, top_classes
from .preprocess import (
    FORMAT_NAMES,
    LIMITS,
    InputError,
    InputTooLargeError,
    image_to_array,
    load_image,
    validate_array,
)

DEFAULT_MODEL = ARTIFACT_DIR / "fashion_mnist_cnn.onnx"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_JSON_BYTES = 256 * 1024  # a 28×28 array is about 20 KB even pretty-printed; this bounds what parsing can cost
# Threads that decode and infer. Memory is bounded by preprocess's decode budget, not by their number; enough of
# them that images waiting for that budget leave threads free for small requests (measured on 2 cores, 1,000
# requests of the benchmark's hostile mix: the good ones' p99 was 429 ms with 4 threads, 32-37 ms with 16).
WORKERS = 16
DEFAULT_TOP_K, MAX_TOP_K = 3, 10
PIXELS_SHAPE = f'{{"pixels": [[{IMAGE_SIZE} numbers in [0, 1]], … {IMAGE_SIZE} rows]}}'
SEND = {  # what to send instead, by the field an error is about
    "pixels": f"send {PIXELS_SHAPE}",
    "top_k": f"send a whole number from 1 to {MAX_TOP_K}",
    "invert": "send true or false",
}
ROUTES = "GET /health, GET /classes and POST /predict (documentation at /docs)"
LIMITS_TEXT = (f"Limits: a body of at most {MAX_UPLOAD_BYTES // 2**20} MiB (JSON: {MAX_JSON_BYTES // 2**10} KiB); "
               f"images in {FORMAT_NAMES}, {LIMITS}, a single frame.")


class PixelsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pixels: list[list[StrictFloat]] = Field(description=f"{IMAGE_SIZE}×{IMAGE_SIZE} rows of numbers in [0, 1], "
                                                        "light garment on black")
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K, strict=True,
                              description="how many classes to return (or ?top_k=, not both)")


class ClassScore(BaseModel):
    label: int
    name: str
    probability: float


class Prediction(BaseModel):
    top: list[ClassScore]
    preprocessing: str


class Error(BaseModel):
    error: str = Field(description="what is wrong and what to send instead")


def field_name(location) -> str:
    """('query', 'top_k') -> 'top_k'; ('pixels', 3, 5) -> 'pixels[3][5]'."""
    parts = [part for part in location if part not in ("query", "body")]
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts).lstrip(".")


def describe_errors(errors: list[dict]) -> str:
    """Pydantic's errors as one line: each problem with the fields it concerns, then what to send, once."""
    problems: dict[str, list[str]] = {}  # message -> the fields it is about
    for error in errors:
        field = field_name(error["loc"])
        if error["type"] == "json_invalid":
            message = f"the body is not valid JSON ({error['msg'].removeprefix('Invalid JSON: ')})"
        elif error["type"] == "extra_forbidden":
            message = "unknown field: the JSON body takes only pixels and top_k"
        else:
            message = error["msg"][:1].lower() + error["msg"][1:]
        problems.setdefault(message, []).append(field)
    parts, roots = [], []
    for message, fields in list(problems.items())[:3]:
        named = ", ".join(f for f in fields[:3] if f) + (f" and {len(fields) - 3} more" if len(fields) > 3 else "")
        parts.append(f"{named}: {message}" if named else message)
        roots.append(fields[0].split("[")[0].split(".")[0] or "pixels")  # a body-wide error is about the pixels
    return "; ".join(parts + [SEND[root] for root in dict.fromkeys(roots) if root in SEND])


def error_response(status: int, message: str, headers=None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


class BodyLimit:
    """ASGI middleware: a body over max_bytes gets a 413 as soon as its bytes pass the limit, whether or not
    Content-Length was sent; a chunked body is counted while it streams in and never read past the limit."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def too_large(self, declared: int | None = None) -> HTTPException:
        size = "" if declared is None else f" of {declared:,} bytes"
        return HTTPException(413, f"body{size} is over the {self.max_bytes:,}-byte ({self.max_bytes / 2**20:g} MiB) "
                                  "limit: send a smaller image (the model sees 28×28, so shrink it first)")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = self.too_large(int(declared))
            return await error_response(error.status_code, error.detail)(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if received > self.max_bytes:
                raise self.too_large()  # the handlers turn it into the JSON 413; nothing more is read
            return message

        await self.app(scope, limited_receive, send)


def create_app(model_path: str | os.PathLike | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> FastAPI:
    """The app, with one ONNX Runtime session loaded at start-up (ModelFileError at once for a bad model file)."""
    model_path = Path(model_path or os.environ.get("WORKSHOP_ONNX_MODEL", DEFAULT_MODEL))
    # One session for all worker threads: ONNX Runtime's run() is thread-safe. One intra-op thread per call,
    # because the pool already runs requests in parallel and the model is small.
    session = onnx_session(model_path, threads=1)
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="predict")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="Fashion-MNIST CNN", version="1.0", lifespan=lifespan,
                  description="Classifies clothing images with the workshop's CNN (ONNX Runtime). " + LIMITS_TEXT
                  + ' Every error is JSON {"error": "..."} naming what is wrong and what to send instead: 400 bad '
                    "input, 404 unknown path, 405 wrong method, 413 too large, 415 another image format, 422 a bad "
                    "query parameter.")
    app.add_middleware(BodyLimit, max_bytes=max_upload_bytes)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        message = error.detail
        if error.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}; the service has {ROUTES}"
        elif error.status_code == 405:
            allowed = (error.headers or {}).get("Allow", "another method")
            message = f"{request.method} is not allowed on {request.url.path}: use {allowed} (see /docs)"
        return error_response(error.status_code, message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        return error_response(422, f"invalid request: {describe_errors(error.errors())}")

    @app.exception_handler(InputError)
    async def bad_input(request: Request, error: InputError):
        return error_response(error.http_status, str(error))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception):  # a bug, not the input: the log has the traceback
        return error_response(500, "internal error while handling the request; the server log has the details")

    def classify(array: np.ndarray, top_k: int, note: str) -> Prediction:
        probabilities = predict_probabilities(session, array.reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE))[0]
        return Prediction(top=[ClassScore(**score) for score in top_classes(probabilities, top_k)],
                          preprocessing=note)

    def classify_pixels(body: bytes, top_k: int | None) -> Prediction:
        if len(body) > MAX_JSON_BYTES:
            raise InputTooLargeError(f"JSON body of {len(body):,} bytes is over the {MAX_JSON_BYTES:,}-byte limit; "
                                     f"a {IMAGE_SIZE}×{IMAGE_SIZE} array needs about 20 KB: send {PIXELS_SHAPE}")
        try:  # pydantic's JSON parser has its own nesting limit: no depth can raise past this handler
            payload = PixelsRequest.model_validate_json(body)
        except ValidationError as error:
            raise InputError(describe_errors(error.errors(include_url=False))) from None
        if top_k is not None and payload.top_k is not None and top_k != payload.top_k:
            raise InputError(f"top_k is given twice, {top_k} in the query and {payload.top_k} in the body: "
                             "send it once")
        return classify(validate_array(payload.pixels), top_k or payload.top_k or DEFAULT_TOP_K,
                        "pixels used as sent")

    def classify_image(data: bytes, top_k: int | None, invert: bool | None) -> Prediction:
        image = load_image(data)
        size, image_format = image.size, image.format
        array = image_to_array(image, invert)
        inversion = {None: "inverted if the background is light", True: "inverted (forced)",
                     False: "not inverted (forced)"}[invert]
        return classify(array, top_k or DEFAULT_TOP_K,
                        f"{image_format} {size[0]}×{size[1]}: grey, upright (EXIF), shrunk to fit 28×28, {inversion}, "
                        "padded with the background colour")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": model_path.name}

    @app.get("/classes")
    def classes() -> dict:
        return {"classes": [{"label": i, "name": name} for i, name in enumerate(CLASS_NAMES)]}

    binary = {"schema": {"type": "string", "format": "binary"}}
    errors = {status: {"model": Error, "description": text} for status, text in (
        (400, "bad input: not a readable image, malformed JSON or multipart, wrong shape, non-numbers, NaN or "
              "out-of-range pixels, animated image"),
        (413, "body over the limit, or image over the size limits"),
        (415, "an image format the service does not read"),
        (422, "a bad or unknown query parameter"))}

    @app.post("/predict", response_model=Prediction, responses=errors,
              description="Classify an image (the raw body, or the multipart field `file`) or a JSON "
                          f"{IMAGE_SIZE}×{IMAGE_SIZE} pixel array. A content type other than JSON and multipart is "
                          "read as an image file. " + LIMITS_TEXT,
              openapi_extra={"requestBody": {"required": True, "content": {
                  **{f"image/{kind}": binary for kind in ("png", "jpeg", "webp", "bmp", "gif")},
                  "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                      "file": {"type": "string", "format": "binary"}}}},
                  "application/json": {"schema": PixelsRequest.model_json_schema()}}}})
    async def predict(request: Request,
                      top_k: int | None = Query(None, ge=1, le=MAX_TOP_K,
                                                description=f"how many classes to return (default {DEFAULT_TOP_K}); "
                                                            "for every body type"),
                      invert: bool | None = Query(None, description="images only: force (true) or forbid (false) "
                                                                    "inverting a light background; default automatic")):
        unknown = sorted(set(request.query_params) - {"top_k", "invert"})
        if unknown:
            raise RequestValidationError([{"loc": ("query", name), "type": "unknown_parameter",
                                           "msg": "unknown query parameter: /predict takes top_k and invert"}
                                          for name in unknown])
        body = await request.body()
        if not body:
            raise InputError(f"empty body: send an image file ({FORMAT_NAMES}) or JSON {PIXELS_SHAPE}")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            if invert is not None:
                raise InputError("invert applies to image uploads; JSON pixels are used as sent: drop ?invert=")
            work = partial(classify_pixels, body, top_k)
        else:
            if content_type == "multipart/form-data":
                body = await read_upload(request)
            elif body.lstrip()[:1] in (b"{", b"["):
                raise InputError(f"the body looks like JSON but its content-type is '{content_type or 'missing'}': "
                                 "send it with content-type: application/json")
            work = partial(classify_image, body, top_k, invert)
        return await asyncio.get_running_loop().run_in_executor(pool, work)

    return app


async def read_upload(request: Request) -> bytes:
    """The bytes of the multipart field `file`; InputError for a malformed body or a missing field."""
    try:
        form = await request.form(max_files=1, max_fields=8)
    except HTTPException as error:  # Starlette's multipart errors (no boundary, bad data, too many parts)
        raise InputError(f"malformed multipart body ({error.detail.rstrip('.')}): send the image as the form field "
                         "'file', e.g. curl -F file=@shirt.png") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise InputError("multipart body has no file field named 'file': send the image as the form field 'file', "
                         "e.g. curl -F file=@shirt.png")
    return await upload.read()


def return_freed_memory() -> None:
    """In the service's own process, on glibc: blocks of 1 MiB and more are mapped, and unmapped when freed.

    By default glibc raises that threshold after the first large free, so decoded images then come from per-thread
    arenas that keep the memory once it is freed. Measured with 24 16-megapixel PNGs from 8 clients: a peak of
    +227 MB over idle and +203 MB still held afterwards by default; +81 MB and +9 MB with this. Elsewhere (macOS,
    musl) it does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # -3: M_MMAP_THRESHOLD


def main(host: str = "127.0.0.1", port: int = 8000, model_path: str | None = None) -> None:
    import uvicorn

    return_freed_memory()
    # Pillow warns for every image over 89 megapixels it opens; the service refuses far smaller ones itself, so the
    # warning would only let clients fill the log.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    uvicorn.run(create_app(model_path), host=host, port=port, log_level="info")
