"""POST /predict: an image (the raw body or the multipart field `file`) or JSON pixels, to the top classes.

The handler only reads the body (already admitted and bounded by the middleware) and picks the work by content
type; parsing, decoding and inference run in the worker threads, so the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
from functools import partial

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError

from ...constants import IMAGE_SIZE
from ..dependencies import ClassifierDep, PoolDep
from ..input_errors import InputError
from ..preprocess import FORMAT_NAMES, size_limits
from ..schemas import DEFAULTS, PIXELS_SHAPE, Error, PixelsRequest, Prediction

router = APIRouter()
QUERY = {"top_k", "invert"}
LIMITS_TEXT = (f"Limits: a body of at most {DEFAULTS.max_upload_bytes // 2**20} MiB (JSON: "
               f"{DEFAULTS.max_json_bytes // 2**10} KiB); images in {FORMAT_NAMES}, {size_limits(DEFAULTS)}, a single "
               f"frame, at most {DEFAULTS.max_jpeg_scans} JPEG scans and {DEFAULTS.max_metadata_segments} metadata "
               f"segments; decoding within {DEFAULTS.decode_timeout_s:g} s.")
BINARY = {"schema": {"type": "string", "format": "binary"}}
RESPONSES = {status: {"model": Error, "description": text} for status, text in (
    (400, "bad input: not a readable image, malformed JSON or multipart, wrong shape, non-numbers, NaN or "
          "out-of-range pixels, animated image"),
    (408, "the body did not arrive in time"),
    (413, "body over the limit, image over the size limits, or an image that costs more to decode than the limits "
          "allow (scans, metadata, decode memory or time)"),
    (415, "an image format the service does not read"),
    (422, "a bad or unknown query parameter"),
    (429, "the service is at its concurrency limit: retry after the Retry-After seconds"))}
REQUEST_BODY = {"requestBody": {"required": True, "content": {
    **{f"image/{kind}": BINARY for kind in ("png", "jpeg", "webp", "bmp", "gif")},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}},
    "application/json": {"schema": PixelsRequest.model_json_schema()}}}}


def check_query(request: Request) -> None:
    unknown = sorted(set(request.query_params) - QUERY)[:3]
    if unknown:
        raise RequestValidationError([{"loc": ("query", name), "type": "unknown_parameter",
                                       "msg": "unknown query parameter: /predict takes top_k and invert"}
                                      for name in unknown])


@router.post("/predict", response_model=Prediction, responses=RESPONSES, openapi_extra=REQUEST_BODY,
             description="Classify an image (the raw body, or the multipart field `file`) or a JSON "
                         f"{IMAGE_SIZE}×{IMAGE_SIZE} pixel array. A content type other than JSON and multipart is "
                         "read as an image file. " + LIMITS_TEXT)
async def predict(request: Request, classifier: ClassifierDep, pool: PoolDep,
                  top_k: int | None = Query(None, description=f"how many classes to return, from 1 to the "
                                                              f"service's maximum ({DEFAULTS.max_top_k} unless "
                                                              f"configured; default {DEFAULTS.default_top_k}); for "
                                                              "every body type"),
                  invert: bool | None = Query(None, description="images only: force (true) or forbid (false) "
                                                                "inverting a light background; default automatic")):
    check_query(request)
    body = await request.body()
    if not body:
        raise InputError(f"empty body: send an image file ({FORMAT_NAMES}) or JSON {PIXELS_SHAPE}")
    content_header = request.headers.get("content-type", "")
    content_type = content_header.split(";")[0].strip().lower()
    if content_type == "application/json":
        if invert is not None:
            raise InputError("invert applies to image uploads; JSON pixels are used as sent: drop ?invert=")
        work = partial(classifier.pixels, body, top_k)
    elif content_type == "multipart/form-data":
        work = partial(classifier.upload, body, content_header, top_k, invert)
    elif body.lstrip()[:1] in (b"{", b"["):
        raise InputError(f"the body looks like JSON but its content-type is '{content_type[:40] or 'missing'}': "
                         "send it with content-type: application/json")
    else:
        work = partial(classifier.image, body, top_k, invert)
    return await asyncio.get_running_loop().run_in_executor(pool, work)
