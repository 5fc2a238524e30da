"""One error shape for every refusal, {"error": "..."}: the messages, and the exception handlers that send them.

Messages name the field or path they are about, cut to a few dozen characters, so that no error echoes unbounded
input. The handlers are plain functions; `app.create_app` registers them (HANDLERS).
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .input_errors import InputError
from .schemas import PIXELS_SHAPE

ECHO_CHARS = 40  # the most characters of a client's field name, path or method an error repeats
ROUTES = "GET /health, GET /classes and POST /predict (documentation at /docs)"
SEND = {  # what to send instead, by the field an error is about
    "pixels": f"send {PIXELS_SHAPE}",
    "top_k": "send a whole number, such as 3",
    "invert": "send true or false",
}
RETRY_AFTER_S = "1"
logger = logging.getLogger(__name__)


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """text, or its first `limit` characters and '…' (client-chosen names are repeated only this far)."""
    return text if len(text) <= limit else text[:limit] + "…"


def error_response(status: int, message: str, headers=None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


def field_name(location) -> str:
    """('query', 'top_k') -> 'top_k'; ('pixels', 3, 5) -> 'pixels[3][5]'; cut to ECHO_CHARS."""
    parts = [part for part in location if part not in ("query", "body")]
    name = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts).lstrip(".")
    return clip(name)


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
        problems.setdefault(clip(message, 200), []).append(field)
    parts, roots = [], []
    for message, fields in list(problems.items())[:3]:
        named = ", ".join(f for f in fields[:3] if f) + (f" and {len(fields) - 3} more" if len(fields) > 3 else "")
        parts.append(f"{named}: {message}" if named else message)
        roots.append(fields[0].split("[")[0].split(".")[0] or "pixels")  # a body-wide error is about the pixels
    return "; ".join(parts + [SEND[root] for root in dict.fromkeys(roots) if root in SEND])


async def http_error(request: Request, error: HTTPException) -> JSONResponse:
    """404 and 405 name the path and the routes; other HTTP errors (413, 408) keep their own message."""
    message, path, method = error.detail, clip(request.url.path), clip(request.method)
    if error.status_code == 404:
        message = f"no such endpoint: {method} {path}; the service has {ROUTES}"
    elif error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "another method")
        message = f"{method} is not allowed on {path}: use {allowed} (see /docs)"
    return error_response(error.status_code, message, error.headers)


async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    return error_response(422, f"invalid request: {describe_errors(error.errors())}")


async def bad_input(request: Request, error: InputError) -> JSONResponse:
    headers = {"Retry-After": RETRY_AFTER_S} if error.http_status == 429 else None
    return error_response(error.http_status, str(error), headers)


async def internal_error(request: Request, error: Exception) -> JSONResponse:
    """A bug, not the input: the log has the traceback, the client a sentence."""
    logger.error("internal error on %s %s", clip(request.method), clip(request.url.path), exc_info=error)
    return error_response(500, "internal error while handling the request; the server log has the details")


HANDLERS = {HTTPException: http_error, RequestValidationError: invalid_request, InputError: bad_input,
            Exception: internal_error}
