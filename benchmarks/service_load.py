"""Load test of the prediction service on loopback: a clean run, then the same good requests mixed with hostile ones.

  python benchmarks/service_load.py [--requests 2000] [--clients 8] [--hostile-share 0.2]
                                    [--json results/benchmarks/service_load.json]
  python benchmarks/service_load.py --start-only [--root OTHER_CHECKOUT]   # start time and idle memory only

Starts `python -m conv_workshop serve` on a free 127.0.0.1 port with the committed ONNX model and measures its start
(seconds to the first 200 from /health) and idle memory. Then threads, each with its own HTTP connection, send
28×28 PNG uploads (the clean run), and again with every fifth request (by default) taken in turn from the hostile
classes of issue 13: oversized dimensions in a tiny file, a 79-megapixel PNG, the largest accepted images, chunked
and declared bodies over the limit, deep JSON, EPS, an animated GIF, booleans as pixels, a 16-bit PNG, malformed
multipart, wrong paths and methods. It reports the good requests' p50/p99 latency in both runs, every response
>= 500, hostile responses with another status than expected, and the server's peak memory over idle (Linux: VmHWM,
reset before each run). Only loopback is contacted; each run stops after --requests or --max-seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conv_workshop.results import write_atomic  # noqa: E402
from conv_workshop.training import cpu_name  # noqa: E402

MIB = 2**20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png(seed: int) -> bytes:
    return encode(Image.fromarray((np.random.default_rng(seed).random((28, 28)) * 255).astype(np.uint8)))


def memory_mib(pid: int, field: str) -> float | None:
    """VmRSS (now) or VmHWM (peak since the last reset) of a process, in MiB; None where /proc is missing."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak(pid: int) -> None:
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: VmHWM starts again from the current RSS


def loads_torch(pid: int) -> bool | None:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None


def start_server(root: Path) -> tuple[subprocess.Popen, str, float]:
    """The service started from root's checkout; returns the process, its URL and the seconds until it answered."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "conv_workshop", "serve", "--port", str(port)], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return server, url, time.perf_counter() - started
        except httpx.TransportError:
            if time.perf_counter() - started > 60 or server.poll() is not None:
                server.kill()
                raise SystemExit("the service did not start") from None
            time.sleep(0.05)


def hostile_requests() -> dict[str, tuple[str, str, dict, int]]:
    """Issue 13's classes: name -> (method, path, httpx arguments, the status a correct service answers)."""
    png_type = {"content-type": "image/png"}
    animated = io.BytesIO()
    frames = [Image.new("L", (40, 40), shade) for shade in (0, 255)]
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:])
    sixteen_bit = np.zeros((300, 200), dtype=np.uint16)
    sixteen_bit[60:240, 50:150] = 32_768
    palette = Image.new("P", (4_096, 4_096))
    palette.putpalette([0, 0, 0, 255, 255, 255] * 128)

    def chunked():  # 8 MiB without Content-Length
        for _ in range(128):
            yield b"\x00" * 65_536

    return {
        "1×40,000 PNG of a few hundred bytes": ("POST", "/predict", dict(content=encode(Image.new("1", (1, 40_000))),
                                                              headers=png_type), 413),
        "79-megapixel PNG of 10 KB": ("POST", "/predict", dict(content=encode(Image.new("1", (8_900, 8_900))),
                                                              headers=png_type), 413),
        "largest accepted: 4096×4096 RGBA PNG": ("POST", "/predict", dict(
            content=encode(Image.new("RGBA", (4_096, 4_096), (255, 255, 255, 0))), headers=png_type), 200),
        "largest accepted: 4096×4096 palette PNG, transparent": ("POST", "/predict", dict(
            content=encode(palette, transparency=0), headers=png_type), 200),
        "chunked 8 MiB body, no Content-Length": ("POST", "/predict", dict(content=chunked, headers=png_type), 413),
        "declared 6 MiB body": ("POST", "/predict", dict(content=b"\x00" * (6 * MIB), headers=png_type), 413),
        "JSON nested 1,100 deep": ("POST", "/predict", dict(content=b"[" * 1_100 + b"]" * 1_100,
                                                            headers={"content-type": "application/json"}), 400),
        "JSON over 256 KiB": ("POST", "/predict", dict(content=b'{"pixels": [' + b"0," * 200_000 + b"0]}",
                                                       headers={"content-type": "application/json"}), 413),
        "booleans as pixels": ("POST", "/predict", dict(json={"pixels": [[True] * 28] * 28}), 400),
        "EPS file": ("POST", "/predict", dict(content=b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n",
                                              headers=png_type), 415),
        "animated GIF": ("POST", "/predict", dict(content=animated.getvalue(), headers={"content-type": "image/gif"}),
                         400),
        "truncated PNG": ("POST", "/predict", dict(content=png(0)[:60], headers=png_type), 400),
        "16-bit PNG (a real photo's kind)": ("POST", "/predict", dict(content=encode(Image.fromarray(sixteen_bit)),
                                                                      headers=png_type), 200),
        "multipart without boundary": ("POST", "/predict", dict(content=b"--x\r\n",
                                                                headers={"content-type": "multipart/form-data"}),
                                       400),
        "unknown path": ("GET", "/nope", {}, 404),
        "wrong method": ("GET", "/predict", {}, 405),
    }


def run(url: str, requests: int, clients: int, max_seconds: float, hostile: dict, hostile_every: int) -> dict:
    """Send requests from threads: every hostile_every-th one hostile (0: none); latencies of the good ones."""
    bodies = [png(i) for i in range(64)]
    kinds = list(hostile.items())
    good_latencies: list[float] = []
    statuses: Counter = Counter()
    unexpected: Counter = Counter()
    transport_errors: Counter = Counter()
    lock = threading.Lock()
    counter = iter(range(requests))
    stop_at = time.monotonic() + max_seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as session:
            for i in counter:
                if time.monotonic() > stop_at:
                    return
                is_hostile = hostile_every and i % hostile_every == hostile_every - 1
                if is_hostile:
                    name, (method, path, arguments, expected) = kinds[(i // hostile_every) % len(kinds)]
                    arguments = {**arguments, "content": arguments["content"]()} if callable(
                        arguments.get("content")) else arguments
                else:
                    name, method, path, expected = "good", "POST", "/predict", 200
                    arguments = dict(content=bodies[i % len(bodies)], headers={"content-type": "image/png"})
                started = time.perf_counter()
                try:
                    status = session.request(method, path, **arguments).status_code
                except httpx.HTTPError as error:
                    with lock:
                        transport_errors[f"{name}: {type(error).__name__}"] += 1
                    continue
                with lock:
                    statuses[status] += 1
                    if status != expected:
                        unexpected[f"{name}: {status}"] += 1
                    if not is_hostile:
                        good_latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    milliseconds = np.array(good_latencies) * 1000
    return {"requests": sum(statuses.values()) + sum(transport_errors.values()), "good": len(good_latencies),
            "seconds": elapsed, "p50": float(np.percentile(milliseconds, 50)),
            "p99": float(np.percentile(milliseconds, 99)), "statuses": statuses, "unexpected": unexpected,
            "transport_errors": transport_errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests in each run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--hostile-share", type=float, default=0.2, help="share of hostile requests in the mix")
    parser.add_argument("--max-seconds", type=float, default=300, help="per run")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose service is started")
    parser.add_argument("--start-only", action="store_true", help="only the start time and idle memory")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    server, url, start_seconds = start_server(args.root)
    try:
        time.sleep(1.0)  # let start-up allocations settle before idle memory is read
        idle = memory_mib(server.pid, "VmRSS")
        start = {"start_seconds": round(start_seconds, 2), "idle_rss_mib": None if idle is None else round(idle, 1),
                 "server_loads_torch": loads_torch(server.pid)}
        if args.start_only:
            print(json.dumps(start, indent=2))
            return
        hostile = hostile_requests()
        reset_peak(server.pid)
        clean = run(url, args.requests, args.clients, args.max_seconds, {}, 0)
        clean_peak = memory_mib(server.pid, "VmHWM")
        reset_peak(server.pid)
        every = round(1 / args.hostile_share)
        mix = run(url, args.requests, args.clients, args.max_seconds, hostile, every)
        mix_peak = memory_mib(server.pid, "VmHWM")
        alive = httpx.get(url + "/health", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)

    def over_idle(peak: float | None) -> float | None:
        return None if peak is None or idle is None else round(peak - idle, 1)

    report = {
        "clients": args.clients,
        "clean_requests": clean["requests"],
        "clean_requests_per_second": round(clean["requests"] / clean["seconds"], 1),
        "clean_latency_p50_ms": round(clean["p50"], 2),
        "clean_latency_p99_ms": round(clean["p99"], 2),
        "clean_errors": sum(clean["unexpected"].values()) + sum(clean["transport_errors"].values()),
        "mix_requests": mix["requests"],
        "mix_hostile_requests": mix["requests"] - mix["good"],
        "mix_hostile_share": round((mix["requests"] - mix["good"]) / mix["requests"], 3),
        "mix_hostile_classes": len(hostile),
        "mix_good_latency_p50_ms": round(mix["p50"], 2),
        "mix_good_latency_p99_ms": round(mix["p99"], 2),
        "mix_responses_500_or_more": sum(n for status, n in mix["statuses"].items() if status >= 500),
        "mix_unexpected_statuses": sum(mix["unexpected"].values()),
        "mix_transport_errors": sum(mix["transport_errors"].values()),
        "mix_statuses": " ".join(f"{status}×{n}" for status, n in sorted(mix["statuses"].items())),
        "service_up_after_mix": alive,
        **start,
        "clean_peak_rss_over_idle_mib": over_idle(clean_peak),
        "mix_peak_rss_over_idle_mib": over_idle(mix_peak),
        "payload": "good: 28×28 PNG upload; hostile: issue 13's classes in turn",
        "server": "uvicorn, 1 worker, ONNX Runtime CPU",
        "machine": f"{cpu_name()}, {os.cpu_count()} cores (server and clients on the same machine)",
    }
    for key, value in report.items():
        print(f"{key:32s} {value}")
    for name, count in sorted((mix["unexpected"] + mix["transport_errors"]).items()):
        print(f"  unexpected: {name} ×{count}")
    if args.json:
        write_atomic(args.json, (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode())
    failures = report["clean_errors"] + report["mix_responses_500_or_more"] + report["mix_unexpected_statuses"]
    if failures or not alive:
        raise SystemExit(f"{failures} requests failed or were answered wrongly")


if __name__ == "__main__":
    main()
