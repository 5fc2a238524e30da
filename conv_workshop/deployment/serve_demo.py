"""The deployment section's demonstration: a test image turned into a product photo, sent to the service in-process."""

from __future__ import annotations

import io
import warnings

import torch
from PIL import Image

from ..i18n import _


def product_photo(image: torch.Tensor, size: int = 200) -> bytes:
    """A 28×28 test image as a PNG 'product photo': a dark garment on a white background, size × size.

    Used in section 11.
    """
    photo = Image.fromarray(255 - image.numpy()).resize((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    return buffer.getvalue()


def demo_requests(onnx_path, photo_png: bytes) -> list[dict]:
    """Two requests to the app in-process: the photo, and a body that is not an image; status and JSON of each.

    Used in section 11.
    """
    with warnings.catch_warnings():  # starlette's notice about its test client's HTTP library is not for learners
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from ..serving.app import create_app

    with TestClient(create_app(onnx_path)) as client:
        good = client.post("/predict", content=photo_png, headers={"content-type": "image/png"})
        bad = client.post("/predict", content=b"not an image", headers={"content-type": "image/png"})
    # the request's description is for the learner; the response is the API's own (English) JSON
    return [{"request": _("POST /predict, a 200×200 PNG product photo"), "status": good.status_code,
             "response": good.json()},
            {"request": _("POST /predict, a body that is not an image"), "status": bad.status_code,
             "response": bad.json()}]
