"""The prediction service, started for real on loopback and called over HTTP: good and bad requests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import torch

from conv_workshop.export import export_onnx
from conv_workshop.models import ConvConfig, ConvNet

from .conftest import ROOT
from .test_preprocess import encode, garment_photo

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    torch.manual_seed(0)
    model_path = export_onnx(tmp_path_factory.mktemp("model") / "model.onnx",
                             ConvNet(ConvConfig(channels=(8, 16), hidden=32)).eval())
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "conv_workshop", "serve", "--port", str(port), "--model",
                                str(model_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
        if process.poll() is not None:
            pytest.fail(f"server exited: {process.stdout.read().decode()}")
    else:
        process.kill()
        pytest.fail("server did not start within 60 s")
    with httpx.Client(base_url=url, timeout=10) as client:
        yield client
    process.terminate()
    process.wait(timeout=10)


def test_health_classes_and_docs(server):
    assert server.get("/health").json()["status"] == "ok"
    classes = server.get("/classes").json()["classes"]
    assert [c["name"] for c in classes][:2] == ["T-shirt/top", "Trouser"] and len(classes) == 10
    assert server.get("/docs").status_code == 200
    assert "/predict" in server.get("/openapi.json").json()["paths"]


def _check_prediction(response, top_k=3):
    assert response.status_code == 200, response.text
    top = response.json()["top"]
    assert len(top) == top_k
    probabilities = [t["probability"] for t in top]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001


def test_predict_png_jpeg_multipart_and_json(server):
    png = encode(garment_photo())
    _check_prediction(server.post("/predict", content=png, headers={"content-type": "image/png"}))
    _check_prediction(server.post("/predict?top_k=5", content=encode(garment_photo(), "JPEG"),
                                  headers={"content-type": "image/jpeg"}), top_k=5)
    _check_prediction(server.post("/predict", files={"file": ("shirt.png", png, "image/png")}))
    pixels = np.random.default_rng(0).random((28, 28)).tolist()
    _check_prediction(server.post("/predict", json={"pixels": pixels, "top_k": 2}), top_k=2)


BAD_REQUESTS = {
    "not an image": (dict(content=b"plain text", headers={"content-type": "image/png"}), 400, "not a readable image"),
    "empty body": (dict(content=b"", headers={"content-type": "image/png"}), 400, "empty body"),
    "wrong shape": (dict(json={"pixels": [[0.1] * 28] * 3}), 400, "shape"),
    "out of range": (dict(json={"pixels": [[255.0] * 28] * 28}), 400, "scale them"),
    "NaN": (dict(content=b'{"pixels": [' + b",".join([b"[" + b",".join([b"NaN"] * 28) + b"]"] * 28) + b"]}",
                 headers={"content-type": "application/json"}), 400, "NaN"),
    "malformed JSON": (dict(content=b"{not json", headers={"content-type": "application/json"}), 400, "not JSON"),
    "multipart without file": (dict(files={"other": ("a.png", b"x", "image/png")}), 400, "no file field"),
    "bad top_k": (dict(content=b"x", headers={"content-type": "image/png"}, params={"top_k": 0}), 422, "top_k"),
    "oversized upload": (dict(content=b"\x00" * (5 * 1024 * 1024 + 1), headers={"content-type": "image/png"}), 413,
                         "limit"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_4xx_with_a_json_message(server, case):
    kwargs, status, message = BAD_REQUESTS[case]
    response = server.post("/predict", **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert server.get("/health").status_code == 200  # the service is still up
