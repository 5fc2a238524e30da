"""The prediction service: its rules in-process, and the transport over real HTTP on loopback (slow).

Every refusal is a 4xx with {"error": ...}; bodies are counted while they stream; the event loop stays free while
images are decoded; concurrent requests share one ONNX Runtime session safely.
"""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from PIL import Image

from conv_workshop.serving.app import create_app
from conv_workshop.settings import ServiceSettings

from .conftest import ROOT
from .test_preprocess import encode, garment_photo, png_bytes

MODEL = ROOT / "fashion_mnist_cnn_model_pytorch" / "fashion_mnist_cnn.onnx"
PIXELS = np.random.default_rng(0).random((28, 28)).tolist()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():  # starlette's notice about its test client's HTTP library
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(create_app(MODEL), raise_server_exceptions=False) as test_client:
        yield test_client


def _check_prediction(response, top_k=3):
    assert response.status_code == 200, response.text
    top = response.json()["top"]
    assert len(top) == top_k and {"label", "name", "probability"} <= set(top[0])
    probabilities = [t["probability"] for t in top]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert "0x" not in body["error"] and "BytesIO" not in body["error"] and "/tmp" not in body["error"]
    return body["error"]


# --- one error envelope, fields named, what to send said -----------------------------------------------------------

def test_unknown_path_and_wrong_method_get_the_envelope(client):
    assert "GET /health, GET /classes and POST /predict" in _error(client.get("/nope"), 404)
    response = client.get("/predict")
    assert "use POST" in _error(response, 405) and response.headers["allow"] == "POST"


@pytest.mark.parametrize("kwargs,message", [
    (dict(content=b"--x\r\n", headers={"content-type": "multipart/form-data"}), "no boundary|Missing boundary"),
    (dict(files={"other": ("a.png", b"x", "image/png")}), "no file field named 'file'"),
    (dict(files=[("file", ("a.png", b"x", "image/png")), ("file", ("b.png", b"y", "image/png"))]), "multipart"),
])
def test_malformed_multipart_gets_the_envelope(client, kwargs, message):
    import re

    error = _error(client.post("/predict", **kwargs), 400)
    assert re.search(message, error) and "curl -F file=@" in error


@pytest.mark.parametrize("body,fields", [
    ({"top_k": 3}, ["pixels: field required"]),
    ({"pixels": [[True] * 28] * 28}, ["pixels[0][0], pixels[0][1], pixels[0][2] and 781 more: input should be a valid "
                                      "number"]),
    ({"pixels": [["0.5"] * 28] * 28}, ["pixels[0][0]", "valid number"]),
    ({"pixels": PIXELS, "topk": 2}, ["topk: unknown field"]),
    ({"pixels": PIXELS, "top_k": 11}, ["top_k is 11: send a whole number from 1 to 10"]),
    ({"pixels": PIXELS, "top_k": "2"}, ["top_k: input should be a valid integer"]),
    ([1, 2], ["input should be an object"]),
])
def test_json_validation_names_the_field_and_what_to_send(client, body, fields):
    error = _error(client.post("/predict", json=body), 400)
    assert all(field in error for field in fields), error
    assert "validation error for" not in error


@pytest.mark.parametrize("params,message", [({"top_k": "two"}, "top_k: input should be a valid integer"),
                                            ({"invert": "maybe"}, "invert: input should be a valid boolean"),
                                            ({"topk": 2}, "topk: unknown query parameter")])
def test_bad_query_parameters_are_a_422_naming_them(client, params, message):
    error = _error(client.post("/predict", content=encode(garment_photo()), params=params,
                               headers={"content-type": "image/png"}), 422)
    assert message in error


@pytest.mark.parametrize("depth", [1_100, 100_000])
def test_deeply_nested_json_is_a_400(client, depth):
    for body in (b"[" * depth + b"]" * depth, b'{"pixels": ' + b"[" * depth + b"]" * depth + b"}"):
        response = client.post("/predict", content=body[:ServiceSettings().max_json_bytes],
                               headers={"content-type": "application/json"})
        assert "not valid JSON" in _error(response, 400)


def test_a_json_body_over_its_limit_is_a_413(client):
    body = b'{"pixels": [' + b"0," * (ServiceSettings().max_json_bytes // 2) + b"0]}"
    assert "limit" in _error(client.post("/predict", content=body, headers={"content-type": "application/json"}), 413)


def test_top_k_has_one_home_the_settings_for_every_body_type():
    """The range and default of top_k come from the service's settings only: a deployment's tighter limit holds for
    the query and the JSON body alike, with the same message."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(ServiceSettings(model_path=MODEL, max_top_k=5, default_top_k=2))) as tight:
        png = encode(garment_photo())
        for response in (tight.post("/predict?top_k=7", json={"pixels": PIXELS}),
                         tight.post("/predict", json={"pixels": PIXELS, "top_k": 7}),
                         tight.post("/predict?top_k=7", content=png, headers={"content-type": "image/png"})):
            assert "top_k is 7: send a whole number from 1 to 5" in _error(response, 400)
        assert "top_k is 0: send a whole number from 1 to 5" in _error(
            tight.post("/predict?top_k=0", json={"pixels": PIXELS}), 400)
        _check_prediction(tight.post("/predict", json={"pixels": PIXELS}), top_k=2)


def test_top_k_is_honoured_for_every_body_type(client):
    png = encode(garment_photo())
    _check_prediction(client.post("/predict?top_k=5", json={"pixels": PIXELS}), top_k=5)
    _check_prediction(client.post("/predict", json={"pixels": PIXELS, "top_k": 4}), top_k=4)
    _check_prediction(client.post("/predict?top_k=2", files={"file": ("a.png", png, "image/png")}), top_k=2)
    _check_prediction(client.post("/predict?top_k=6", content=png, headers={"content-type": "image/png"}), top_k=6)
    assert "given twice" in _error(client.post("/predict?top_k=5", json={"pixels": PIXELS, "top_k": 2}), 400)
    assert "drop ?invert=" in _error(client.post("/predict?invert=true", json={"pixels": PIXELS}), 400)


@pytest.mark.parametrize("data,status,message", [
    (png_bytes(Image.new("1", (1, 40_000))), 413, "1×40,000 pixels: send one of at most 8,192 pixels a side"),
    (png_bytes(Image.new("1", (8_900, 8_900))), 413, "16.8 megapixels"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415, "PostScript/EPS files are not accepted"),
    (b"hello, not an image", 400, "not a readable image"),
    (encode(garment_photo())[:300], 400, "corrupt or truncated"),
])
def test_hostile_images_get_a_4xx_that_states_the_rule(client, data, status, message):
    assert message in _error(client.post("/predict", content=data, headers={"content-type": "image/png"}), status)


def test_an_animated_gif_is_refused(client):
    frames = [Image.new("L", (40, 40), shade) for shade in (0, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    assert "animated GIF" in _error(client.post("/predict", content=buffer.getvalue()), 400)


def test_limits_and_errors_are_documented(client):
    spec = client.get("/openapi.json").json()
    text = spec["info"]["description"] + spec["paths"]["/predict"]["post"]["description"]
    assert all(part in text for part in ("5 MiB", "8,192 pixels a side", "16.8 megapixels", "PNG, JPEG, WebP"))
    responses = spec["paths"]["/predict"]["post"]["responses"]
    assert {"400", "413", "415", "422"} <= set(responses)
    assert responses["413"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_decoding_and_inference_run_off_the_event_loop(client, monkeypatch):
    threads = []

    def recording(function):
        def wrapper(*args, **kwargs):
            try:
                asyncio.get_running_loop()
                threads.append("event loop")
            except RuntimeError:
                threads.append("worker")
            return function(*args, **kwargs)
        return wrapper

    from onnxruntime import InferenceSession

    monkeypatch.setattr(Image.Image, "resize", recording(Image.Image.resize))  # decoding happens inside resize
    monkeypatch.setattr(InferenceSession, "run", recording(InferenceSession.run))
    _check_prediction(client.post("/predict", content=encode(garment_photo()), headers={"content-type": "image/png"}))
    _check_prediction(client.post("/predict", json={"pixels": PIXELS}))
    assert threads and set(threads) == {"worker"}, threads


def test_a_bug_is_a_json_500_without_details(client, monkeypatch):
    monkeypatch.setattr(Image.Image, "resize", lambda *args, **kwargs: 1 / 0)
    response = client.post("/predict", content=encode(garment_photo()), headers={"content-type": "image/png"})
    assert "internal error" in _error(response, 500) and "ZeroDivision" not in response.text


# --- over real HTTP ---------------------------------------------------------------------------------------------------

def _wait_until_up(url: str, process=None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
        if process is not None and process.poll() is not None:
            pytest.fail(f"server exited: {process.stdout.read().decode()}")
    pytest.fail("server did not start within 60 s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import torch

    from conv_workshop.deployment.export import export_onnx
    from conv_workshop.models import ConvConfig, ConvNet

    torch.manual_seed(0)
    model_path = export_onnx(tmp_path_factory.mktemp("model") / "model.onnx",
                             ConvNet(ConvConfig(channels=(8, 16), hidden=32)).eval())
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "conv_workshop", "serve", "--port", str(port), "--model",
                                str(model_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        with httpx.Client(base_url=url, timeout=30) as http:
            yield SimpleNamespace(http=http, pid=process.pid, url=url)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_health_classes_and_docs(server):
    assert server.http.get("/health").json()["status"] == "ok"
    classes = server.http.get("/classes").json()["classes"]
    assert [c["name"] for c in classes][:2] == ["T-shirt/top", "Trouser"] and len(classes) == 10
    assert server.http.get("/docs").status_code == 200
    assert "/predict" in server.http.get("/openapi.json").json()["paths"]


@pytest.mark.slow
def test_predict_png_jpeg_multipart_and_json(server):
    png = encode(garment_photo())
    _check_prediction(server.http.post("/predict", content=png, headers={"content-type": "image/png"}))
    _check_prediction(server.http.post("/predict?top_k=5", content=encode(garment_photo(), "JPEG"),
                                       headers={"content-type": "image/jpeg"}), top_k=5)
    _check_prediction(server.http.post("/predict", files={"file": ("shirt.png", png, "image/png")}))
    _check_prediction(server.http.post("/predict", json={"pixels": PIXELS, "top_k": 2}), top_k=2)


BAD_REQUESTS = {
    "not an image": (dict(content=b"plain text", headers={"content-type": "image/png"}), 400, "not a readable image"),
    "empty body": (dict(content=b"", headers={"content-type": "image/png"}), 400, "empty body"),
    "wrong shape": (dict(json={"pixels": [[0.1] * 28] * 3}), 400, "shape"),
    "out of range": (dict(json={"pixels": [[255.0] * 28] * 28}), 400, "scale them"),
    "NaN": (dict(content=b'{"pixels": [' + b",".join([b"[" + b",".join([b"NaN"] * 28) + b"]"] * 28) + b"]}",
                 headers={"content-type": "application/json"}), 400, "NaN"),
    "malformed JSON": (dict(content=b"{not json", headers={"content-type": "application/json"}), 400, "not valid JSON"),
    "deep JSON": (dict(content=b"[" * 1_100 + b"]" * 1_100, headers={"content-type": "application/json"}), 400,
                  "recursion limit"),
    "multipart without file": (dict(files={"other": ("a.png", b"x", "image/png")}), 400, "no file field"),
    "bad top_k": (dict(content=b"x", headers={"content-type": "image/png"}, params={"top_k": "two"}), 422, "top_k"),
    "oversized upload": (dict(content=b"\x00" * (5 * 1024 * 1024 + 1), headers={"content-type": "image/png"}), 413,
                         "limit"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_4xx_with_a_json_message(server, case):
    kwargs, status, message = BAD_REQUESTS[case]
    assert message in _error(server.http.post("/predict", **kwargs), status)
    assert server.http.get("/health").status_code == 200  # the service is still up


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's memory from /proc")
def test_a_chunked_body_is_cut_at_the_limit_without_being_read(server):
    """No Content-Length: the 100 MiB body streams in, and the server stops reading it at 5 MiB."""
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # restart the peak-memory count (VmHWM) from now
    before = _memory_kib(server.pid, "VmRSS")

    def body():
        for _ in range(1_600):
            yield b"\x00" * 65_536

    response = httpx.post(server.url + "/predict", content=body(), headers={"content-type": "image/png"}, timeout=60)
    assert "limit" in _error(response, 413)
    assert "content-length" not in response.request.headers
    grown = (_memory_kib(server.pid, "VmHWM") - before) / 1024
    assert grown < 40, f"the server's memory grew by {grown:.0f} MiB while refusing the body"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's memory from /proc")
def test_memory_stays_bounded_under_concurrent_large_images(server):
    """16 of the largest accepted images (16.8 megapixels with transparency) from 8 clients at once; a client told
    429 retries after Retry-After, as the README says, and every image is answered in the end."""
    large = png_bytes(Image.new("RGBA", (4_096, 4_096), (255, 255, 255, 0)))
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")
    before = _memory_kib(server.pid, "VmRSS")
    from concurrent.futures import ThreadPoolExecutor

    def ask(_):
        for _attempt in range(20):
            response = server.http.post("/predict", content=large)
            if response.status_code != 429:
                return response.status_code
            time.sleep(float(response.headers["retry-after"]))
        return 429

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(ask, range(16)))
    assert statuses == [200] * 16
    grown = (_memory_kib(server.pid, "VmHWM") - before) / 1024
    assert grown < 200, f"the server's peak memory grew by {grown:.0f} MiB (decode budget 128 MiB)"


@pytest.mark.slow
def test_concurrent_requests_share_the_session_safely(server):
    bodies = [encode(garment_photo(width=60 + 7 * i, height=50 + 3 * i, dark_on_light=i % 2 == 0)) for i in range(8)]

    def ask(body):
        return server.http.post("/predict", content=body, headers={"content-type": "image/png"}).json()["top"]

    sequential = [ask(body) for body in bodies]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(ask, bodies * 3))
    assert concurrent == sequential * 3


@pytest.mark.slow
def test_health_answers_while_an_image_is_being_decoded(monkeypatch):
    """A decode made to take 1.5 s must not hold /health: the work runs in a worker thread, not on the loop."""
    import uvicorn

    original = Image.Image.resize

    def slow_resize(self, *args, **kwargs):
        time.sleep(1.5)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", slow_resize)
    port = free_port()
    app_server = uvicorn.Server(uvicorn.Config(create_app(MODEL), host="127.0.0.1", port=port,
                                               log_level="warning"))
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url)
        upload = threading.Thread(target=httpx.post, args=(url + "/predict",),
                                  kwargs=dict(content=encode(garment_photo()), timeout=30))
        upload.start()
        time.sleep(0.3)  # the upload is being decoded now
        started = time.perf_counter()
        assert httpx.get(url + "/health", timeout=10).status_code == 200
        waited = time.perf_counter() - started
        assert waited < 0.5, f"/health waited {waited:.2f} s behind a decode"
        assert upload.is_alive(), "the slowed decode should still be running"
        upload.join(timeout=30)
    finally:
        app_server.should_exit = True
        thread.join(timeout=10)
