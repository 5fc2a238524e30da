"""Concurrency, time and connection limits of the service, each on its own: admission lanes, body and header
timeouts, the connection cap, multipart off the event loop, a rate-limited log, errors that echo little."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import warnings
from dataclasses import replace

import httpx
import pytest
from starlette.exceptions import HTTPException

from conv_workshop.serving.admission import Admission
from conv_workshop.serving.app import create_app
from conv_workshop.serving.body_limit import BodyLimit
from conv_workshop.serving.input_errors import InputError, InputTooLargeError
from conv_workshop.serving.multipart import file_field
from conv_workshop.serving.server import RateLimitedLog, guarded_protocol
from conv_workshop.settings import ServiceSettings

from .conftest import ROOT

MODEL = ROOT / "fashion_mnist_cnn_model_pytorch" / "fashion_mnist_cnn.onnx"
LIMITS = ServiceSettings(model_path=MODEL)


def scope(length: int | None = None, chunked: bool = False) -> dict:
    headers = [(b"content-length", str(length).encode())] if length is not None else []
    headers += [(b"transfer-encoding", b"chunked")] if chunked else []
    return {"type": "http", "method": "POST", "path": "/predict", "headers": headers}


async def call(app, scope_: dict, receive=None) -> list[dict]:
    sent = []

    async def send(message):
        sent.append(message)

    async def no_body():
        return {"type": "http.request", "body": b"", "more_body": False}

    await app(scope_, receive or no_body, send)
    return sent


def test_admission_lanes_bound_requests_in_flight_and_keep_small_ones_moving():
    limits = replace(LIMITS, max_large_in_flight=1, max_small_in_flight=2, admission_timeout_s=0.1)
    release = asyncio.Event()
    admitted = []

    async def inner(scope_, receive, send):
        admitted.append(scope_["headers"][0][1])
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def scenario():
        gate = Admission(inner, limits)
        large = asyncio.create_task(call(gate, scope(5_000_000)))
        await asyncio.sleep(0.01)
        refused = await call(gate, scope(chunked=True))  # a second large one (chunked counts as large)
        small = asyncio.create_task(call(gate, scope(1_000)))
        await asyncio.sleep(0.01)
        release.set()
        return refused, await large, await small

    refused, large, small = asyncio.run(scenario())
    assert refused[0]["status"] == 429 and (b"retry-after", b"1") in refused[0]["headers"]
    assert b"large requests already" in refused[1]["body"]
    assert large[0]["status"] == 200 and small[0]["status"] == 200 and admitted == [b"5000000", b"1000"]


def test_a_request_without_a_body_is_never_held():
    limits = replace(LIMITS, max_small_in_flight=0, max_large_in_flight=0, admission_timeout_s=0.01)

    async def inner(scope_, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})

    get = {"type": "http", "method": "GET", "path": "/health", "headers": []}
    assert asyncio.run(call(Admission(inner, limits), get))[0]["status"] == 200


def test_a_slow_body_gets_a_408_at_its_deadline():
    async def inner(scope_, receive, send):
        while (await receive()).get("more_body"):
            pass

    async def trickle():
        await asyncio.sleep(0.03)
        return {"type": "http.request", "body": b"x", "more_body": True}

    started = time.monotonic()
    with pytest.raises(HTTPException) as error:
        asyncio.run(call(BodyLimit(inner, replace(LIMITS, body_timeout_s=0.2)), scope(1_000), trickle))
    assert error.value.status_code == 408 and error.value.headers == {"Connection": "close"}
    assert 0.15 < time.monotonic() - started < 1.0


def multipart(*parts: tuple[str, bytes], boundary: str = "bx42") -> tuple[bytes, str]:
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="a.png"\r\n'
                    f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n" for name, data in parts)
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_multipart_is_parsed_with_limits_and_a_deadline():
    far = time.monotonic() + 10
    body, content_type = multipart(("other", b"x"), ("file", b"\x89PNG..."))
    assert file_field(body, content_type, LIMITS, far) == b"\x89PNG..."
    with pytest.raises(InputError, match="more than 2 parts"):
        file_field(*multipart(*[("x", b"1")] * 3), replace(LIMITS, max_multipart_parts=2), far)
    with pytest.raises(InputError, match="more than one field named 'file'"):
        file_field(*multipart(("file", b"1"), ("file", b"2")), LIMITS, far)
    with pytest.raises(InputError, match="no boundary"):
        file_field(body, "multipart/form-data", LIMITS, far)
    near = b"--bx42\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n" + b"\r\n--bx" * 50_000
    with pytest.raises(InputTooLargeError, match="took more than 2 s to parse"):
        file_field(near, "multipart/form-data; boundary=bx42", LIMITS, time.monotonic() - 1)


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(create_app(LIMITS), raise_server_exceptions=False) as test_client:
        yield test_client


def test_errors_do_not_echo_unbounded_input(client):
    response = client.get("/" + "p" * 60_000)
    assert response.status_code == 404 and len(response.json()["error"]) < 200
    keys = {f"k{i}" + "x" * 80_000: 1 for i in range(3)}
    response = client.post("/predict", json={"pixels": [[0.0] * 28] * 28, **keys})
    assert response.status_code == 400 and len(response.json()["error"]) < 400, len(response.text)
    assert "unknown field" in response.json()["error"]
    response = client.post("/predict?" + "&".join(f"q{i}{'y' * 2_000}=1" for i in range(20)), content=b"x")
    assert response.status_code == 422 and len(response.text) < 600


def test_multipart_runs_in_a_worker_thread(client, monkeypatch):
    from python_multipart.multipart import MultipartParser

    threads = []
    original = MultipartParser.write

    def recording(self, data):
        threads.append(threading.current_thread().name)
        return original(self, data)

    monkeypatch.setattr(MultipartParser, "write", recording)
    body, content_type = multipart(("file", b"not an image"))
    response = client.post("/predict", content=body, headers={"content-type": content_type})
    assert "not a readable image" in response.json()["error"]
    assert threads and all(name.startswith("predict") for name in threads), threads


def test_a_rate_limited_log_keeps_a_few_lines_of_each_message():
    records = []
    logger = logging.getLogger("test_serving_limits.flood")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    logger.addFilter(RateLimitedLog(burst=3, window_s=0.2))
    for i in range(1_000):
        logger.warning("socket.accept() out of system resource: %s", i)
    logger.warning("another message")
    time.sleep(0.25)
    logger.warning("socket.accept() out of system resource: %s", "again")
    lines = [record.getMessage() for record in records]
    assert len(lines) == 5 and "another message" in lines
    assert "and 997 more like it" in lines[-1]


@pytest.fixture
def guarded_server():
    """A real uvicorn server in a thread with the guarded protocol: header timeout 0.5 s, at most 3 connections."""
    import uvicorn

    limits = replace(LIMITS, header_timeout_s=0.5, max_connections=3)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(limits), host="127.0.0.1", port=port, log_level="warning",
                                           http=guarded_protocol(limits)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def closed(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_connections_without_a_complete_request_are_closed(guarded_server):
    idle = socket.create_connection(("127.0.0.1", guarded_server))
    slowloris = socket.create_connection(("127.0.0.1", guarded_server))
    slowloris.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    started = time.monotonic()
    assert closed(idle, 3) and closed(slowloris, 3)
    assert 0.3 < time.monotonic() - started < 2.5
    with httpx.Client(base_url=f"http://127.0.0.1:{guarded_server}") as http:  # a real request is answered
        assert http.get("/health").status_code == 200


def test_past_the_connection_cap_the_oldest_idle_connection_is_closed(guarded_server):
    sockets = [socket.create_connection(("127.0.0.1", guarded_server)) for _ in range(3)]
    time.sleep(0.1)
    newest = socket.create_connection(("127.0.0.1", guarded_server))
    assert closed(sockets[0], 0.3) and not closed(sockets[2], 0.05)
    newest.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in newest.recv(1_000)
    for sock in [*sockets, newest]:
        sock.close()


def test_the_connection_cap_stays_under_the_file_descriptor_limit(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda kind: (1_024, 1_024))
    assert guarded_protocol(LIMITS).cap == 1_024 - 64 - 3 * LIMITS.backlog  # accepting never meets EMFILE
    monkeypatch.setattr(resource, "getrlimit", lambda kind: (65_536, 65_536))
    assert guarded_protocol(LIMITS).cap == LIMITS.max_connections


def test_a_busy_429_from_inside_is_sent_late_with_the_lane_already_free():
    limits = replace(LIMITS, max_small_in_flight=1, busy_delay_s=0.2, admission_timeout_s=0.05)

    async def busy(scope_, receive, send):
        await send({"type": "http.response.start", "status": 429, "headers": []})
        await send({"type": "http.response.body", "body": b"busy"})

    async def scenario():
        gate = Admission(busy, limits)
        started = time.monotonic()
        first = asyncio.create_task(call(gate, scope(1_000)))
        await asyncio.sleep(0.02)
        assert gate.lanes["small"]._value == 1  # the lane is free while the 429 waits
        second = await call(gate, scope(1_000))
        return await first, second, time.monotonic() - started

    first, second, seconds = asyncio.run(scenario())
    assert first[0]["status"] == 429 and first[1]["body"] == b"busy" and second[0]["status"] == 429
    assert 0.1 <= seconds < 1.0  # 0.2 s ± 50 %
