"""Load test of the prediction service on loopback: a bounded number of requests from concurrent clients.

  python benchmarks/service_load.py [--requests 2000] [--clients 8] [--json results/benchmarks/service_load.json]

Starts `python -m conv_workshop serve` on a free 127.0.0.1 port with the committed ONNX model, sends PNG uploads
(28×28 test-like images) from threads, each with its own HTTP connection, and reports requests/s, p50/p99 latency
and errors. Only loopback is contacted; the run stops by itself after --requests or --max-seconds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conv_workshop.results import write_atomic  # noqa: E402
from conv_workshop.training import cpu_name  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def png(seed: int) -> bytes:
    pixels = (np.random.default_rng(seed).random((28, 28)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "conv_workshop", "serve", "--port", str(port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the service did not start") from None
                time.sleep(0.2)
        bodies = [png(i) for i in range(64)]
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        counter = iter(range(args.requests))
        stop_at = time.monotonic() + args.max_seconds

        def client() -> None:
            with httpx.Client(base_url=url, timeout=30) as session:
                for i in counter:
                    if time.monotonic() > stop_at:
                        return
                    started = time.perf_counter()
                    try:
                        response = session.post("/predict", content=bodies[i % len(bodies)],
                                                headers={"content-type": "image/png"})
                        ok = response.status_code == 200
                        problem = None if ok else f"HTTP {response.status_code}"
                    except httpx.HTTPError as error:
                        problem = type(error).__name__
                    with lock:
                        latencies.append(time.perf_counter() - started)
                        if problem:
                            errors.append(problem)

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    milliseconds = np.array(latencies) * 1000
    report = {
        "requests": len(latencies), "clients": args.clients, "errors": len(errors),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "latency_p50_ms": round(float(np.percentile(milliseconds, 50)), 2),
        "latency_p99_ms": round(float(np.percentile(milliseconds, 99)), 2),
        "payload": "28×28 PNG upload", "server": "uvicorn, 1 worker, ONNX Runtime CPU",
        "machine": f"{cpu_name()}, {os.cpu_count()} cores (server and clients on the same machine)",
    }
    for key, value in report.items():
        print(f"{key:22s} {value}")
    if args.json:
        write_atomic(args.json, json.dumps(report, indent=2).encode())
    if errors:
        raise SystemExit(f"{len(errors)} requests failed: {sorted(set(errors))}")


if __name__ == "__main__":
    main()
