"""The prediction service: a FastAPI app serving the ONNX model with ONNX Runtime (run: make serve)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .data import CLASS_NAMES
from .export import ARTIFACT_DIR, onnx_session
from .preprocess import InputError, bytes_to_array, validate_array

DEFAULT_MODEL = ARTIFACT_DIR / "fashion_mnist_cnn.onnx"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class PixelsRequest(BaseModel):
    pixels: list[list[float]] = Field(description="28×28 rows of pixel values in [0, 1], white garment on black")
    top_k: int = Field(3, ge=1, le=10)


class ClassScore(BaseModel):
    label: int
    name: str
    probability: float


class Prediction(BaseModel):
    top: list[ClassScore]
    preprocessing: str


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def create_app(model_path: str | os.PathLike | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> FastAPI:
    """The app, with one ONNX Runtime session loaded at start-up (fails fast if the model file is missing)."""
    model_path = Path(model_path or os.environ.get("WORKSHOP_ONNX_MODEL", DEFAULT_MODEL))
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path}: ONNX model not found; run `python -m conv_workshop export` first")
    session = onnx_session(model_path)
    app = FastAPI(title="Fashion-MNIST CNN", version="1.0",
                  description="Classifies clothing images with the workshop's CNN (ONNX Runtime).")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
        return JSONResponse(status_code=422, content={"error": f"invalid request: {details}"})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        return JSONResponse(status_code=error.status_code, content={"error": error.detail})

    def predict_array(array: np.ndarray, top_k: int, note: str) -> Prediction:
        logits = session.run(["logits"], {"images": array.reshape(1, 1, 28, 28).astype(np.float32)})[0][0]
        probabilities = softmax(logits)
        order = np.argsort(-probabilities)[:top_k]
        return Prediction(top=[ClassScore(label=int(i), name=CLASS_NAMES[i], probability=float(probabilities[i]))
                               for i in order], preprocessing=note)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": model_path.name}

    @app.get("/classes")
    def classes() -> dict:
        return {"classes": [{"label": i, "name": name} for i, name in enumerate(CLASS_NAMES)]}

    @app.post("/predict", response_model=Prediction, responses={400: {}, 413: {}, 415: {}, 422: {}},
              openapi_extra={"requestBody": {"content": {
                  "image/png": {"schema": {"type": "string", "format": "binary"}},
                  "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                  "multipart/form-data": {"schema": {"type": "object", "properties": {
                      "file": {"type": "string", "format": "binary"}}}},
                  "application/json": {"schema": PixelsRequest.model_json_schema()}}}})
    async def predict(request: Request, top_k: int = Query(3, ge=1, le=10),
                      invert: bool | None = Query(None, description="force (true) or forbid (false) inverting a "
                                                                      "light background; default: automatic")):
        """Classify an image upload (raw PNG/JPEG body or multipart field `file`) or a JSON 28×28 pixel array."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_upload_bytes:
            raise HTTPException(413, f"upload of {declared} bytes is over the {max_upload_bytes}-byte limit")
        body = await request.body()
        if len(body) > max_upload_bytes:
            raise HTTPException(413, f"upload of {len(body)} bytes is over the {max_upload_bytes}-byte limit")
        if not body:
            raise HTTPException(400, "empty body: send an image file or JSON {\"pixels\": [[...28 numbers] × 28]}")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if content_type == "application/json":
                try:
                    payload = PixelsRequest.model_validate(json.loads(body))
                except (ValueError, TypeError) as error:
                    raise InputError(f"body is not JSON of the form {{\"pixels\": [[...]], \"top_k\": 3}} "
                                     f"({str(error).splitlines()[0]})") from error
                array = validate_array(payload.pixels)
                return predict_array(array, payload.top_k, "pixels used as sent")
            if content_type == "multipart/form-data":
                form = await request.form()
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise InputError("multipart body has no file field named 'file'")
                body = await upload.read()
            array = bytes_to_array(body, invert)
        except InputError as error:
            raise HTTPException(400, str(error)) from error
        return predict_array(array, top_k, "grayscale, auto-invert light backgrounds, pad to square, 28×28")

    return app


def main(host: str = "127.0.0.1", port: int = 8000, model_path: str | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(model_path), host=host, port=port, log_level="info")
