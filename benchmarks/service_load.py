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

from conv_workshop.atomic import write_atomic  # noqa: E402
from conv_workshop.settings import ServiceSettings  # noqa: E402
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


def stop(server: subprocess.Popen) -> None:
    """Terminate the server; kill it if it is still busy after 5 s (work that outlived its clients)."""
    server.terminate()
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def hostile_requests() -> dict[str, tuple[str, str, dict, int]]:
    """Issue 13's classes: name -> (method, path, httpx arguments, the status a correct service answers); the
    largest accepted images may also get a 429 (retry) when others hold the decode budget."""
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


def _segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """A JPEG's segments as (marker, start, end), the entropy-coded data after each SOS included in its segment."""
    segments, position = [], 2
    while position < len(jpeg):
        marker = jpeg[position + 1]
        if marker == 0xD9:
            segments.append((marker, position, position + 2))
            break
        length = int.from_bytes(jpeg[position + 2:position + 4], "big")
        end = position + 2 + length
        if marker == 0xDA:  # a scan: its data runs to the next marker that is not a stuffed 0xFF00 or a restart
            while not (jpeg[end] == 0xFF and jpeg[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        segments.append((marker, position, end))
        position = end
    return segments


def repeated_scan_jpeg(scans: int, subsampling: int = -1, mode: str = "L") -> bytes:
    """A flat 4096² progressive JPEG whose smallest scan is repeated until it has `scans` scans."""
    data = encode(Image.new(mode, (4_096, 4_096), 128), "JPEG", progressive=True, quality=50,
                  **({} if mode == "L" else {"subsampling": subsampling}))
    segments = _segments(data)
    scan_list = [(start, end) for marker, start, end in segments if marker == 0xDA]
    start, end = min(scan_list, key=lambda span: span[1] - span[0])
    extra = scans - len(scan_list)
    return data[:-2] + data[start:end] * extra + data[-2:]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    import zlib

    return len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")


def png_with_chunks(image: Image.Image, chunks: bytes) -> bytes:
    """The PNG of image with the given chunks inserted right after IHDR."""
    data = encode(image)
    return data[:33] + chunks + data[33:]


def ztxt_png() -> bytes:
    import zlib

    text = png_chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b" " * (2**20 - 1), 9))
    return png_with_chunks(Image.new("RGBA", (4_096, 4_096), (255, 255, 255, 0)), text * 63)


def app_segment_jpeg(budget: int = 5 * MIB - 4_096) -> bytes:
    data = encode(Image.new("L", (64, 64), 128), "JPEG")
    return data[:2] + b"\xff\xe5\x00\x02" * ((budget - len(data)) // 4) + data[2:]


def exif_png(count: int = 650_000) -> bytes:
    """A PNG whose eXIf orientation entry holds `count` RATIONALs."""
    ifd = b"MM\x00\x2a" + (8).to_bytes(4, "big") + (1).to_bytes(2, "big")
    ifd += (0x0112).to_bytes(2, "big") + (5).to_bytes(2, "big") + count.to_bytes(4, "big") + (26).to_bytes(4, "big")
    ifd += (0).to_bytes(4, "big") + b"\x00\x00\x00\x01\x00\x00\x00\x01" * count
    return png_with_chunks(Image.new("L", (64, 64), 128), png_chunk(b"eXIf", ifd))


def private_chunks_png(count: int = 436_500) -> bytes:
    return png_with_chunks(Image.new("L", (64, 64), 128), png_chunk(b"prVt", b"") * count)


def large_rgba_png(limit: int = 5 * MIB - 16_384) -> bytes:
    """A 4096² RGBA PNG just under the body limit: noisy rows on top, transparent below."""
    pixels = np.zeros((4_096, 4_096, 4), dtype=np.uint8)
    pixels[:300] = np.random.default_rng(0).integers(0, 256, (300, 4_096, 4), dtype=np.uint8)
    data = encode(Image.fromarray(pixels, "RGBA"), compress_level=1)
    assert len(data) <= limit, len(data)
    return data


def multipart(content: bytes, boundary: bytes = b"bxyzzy0123456789") -> tuple[bytes, dict]:
    return content, {"content-type": f"multipart/form-data; boundary={boundary.decode()}"}


def concurrent_classes() -> dict[str, tuple[int, bytes, dict]]:
    """Issue 22's classes: name -> (clients, body, headers); each is sent by that many clients at once."""
    png_type, jpeg_type = {"content-type": "image/png"}, {"content-type": "image/jpeg"}
    boundary = b"bxyzzy0123456789"
    spaces = b"--" + boundary + b"\r\n" + b" " * (5 * MIB - 4_096)
    near = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    near += b"\r\n--bx" * ((5 * MIB - 4_096) // 6) + b"\r\n--" + boundary + b"--\r\n"
    return {
        "progressive JPEG, a scan ×15,000": (8, repeated_scan_jpeg(15_000), jpeg_type),
        "progressive JPEG 4:4:4, 1,000 scans": (16, repeated_scan_jpeg(1_000, 0, "RGB"), jpeg_type),
        "PNG, 63 zTXt of 1 MiB before 4096² RGBA": (16, ztxt_png(), png_type),
        "JPEG, 1.3 M empty APP5 segments": (8, app_segment_jpeg(), jpeg_type),
        "PNG, eXIf of 650k RATIONALs": (8, exif_png(), png_type),
        "PNG, 437k empty private chunks": (8, private_chunks_png(), png_type),
        "lossless WebP 4096²": (1, encode(Image.new("RGB", (4_096, 4_096), 200), "WEBP", lossless=True),
                                {"content-type": "image/webp"}),
        "multipart, 5 MiB of spaces after a boundary": (4, *multipart(spaces, boundary)),
        "multipart, 870k near-boundaries": (4, *multipart(near, boundary)),
        "accepted 5 MiB 4096² RGBA PNG": (64, large_rgba_png(), png_type),
        "accepted 4096×3400 RGBA PNG of 61 KiB (small lane)": (
            64, encode(Image.new("RGBA", (4_096, 3_400), (255, 255, 255, 0))), png_type),
    }


def run(url: str, requests: int, clients: int, max_seconds: float, hostile: dict, hostile_every: int) -> dict:
    """Send requests from threads: every hostile_every-th one hostile (0: none); latencies of the good ones."""
    bodies = [png(i) for i in range(64)]
    kinds = list(hostile.items())
    good_latencies: list[float] = []
    statuses: Counter = Counter()
    unexpected: Counter = Counter()
    transport_errors: Counter = Counter()
    longest = [0.0]
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
                    longest[0] = max(longest[0], time.perf_counter() - started)
                    if status != expected and not (expected == 200 and status == 429 and is_hostile):
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
            "transport_errors": transport_errors, "longest": longest[0]}


class Probes:
    """A legit client beside the load, in its own process (so that it does not share the load threads' GIL): two
    threads, each on its own connection, GET /health and POST a small PNG one after the other, every 50 ms, timed."""

    def __init__(self, url: str, fresh_connections: bool = False):
        import multiprocessing

        self.context = multiprocessing.get_context("fork")  # forked before any load thread starts
        self.url, self.fresh, self.stop = url, fresh_connections, self.context.Event()
        self.results = self.context.Queue()
        self.latencies: dict[str, list[float]] = {"health": [], "small": []}
        self.failures: Counter = Counter()

    def probe(self, kind: str) -> None:
        body = png(7)
        client = httpx.Client(base_url=self.url, timeout=30)
        while not self.stop.is_set():
            if self.fresh:
                client.close()
                client = httpx.Client(base_url=self.url, timeout=30)
            started = time.perf_counter()
            try:
                response = client.get("/health") if kind == "health" else client.post(
                    "/predict", content=body, headers={"content-type": "image/png"})
                ok = response.status_code == 200
            except httpx.HTTPError as error:
                ok, response = False, type(error).__name__
            self.latencies[kind].append(time.perf_counter() - started)
            if not ok:
                self.failures[f"{kind}: {getattr(response, 'status_code', response)}"] += 1
            time.sleep(0.05)
        client.close()

    def child(self) -> None:
        threads = [threading.Thread(target=self.probe, args=(kind,)) for kind in self.latencies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.results.put((self.latencies, self.failures))

    def __enter__(self):
        self.process = self.context.Process(target=self.child)
        self.process.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.latencies, self.failures = self.results.get(timeout=120)
        self.process.join()

    def summary(self) -> dict:
        def p99(kind):
            values = self.latencies[kind]
            return round(float(np.percentile(np.array(values) * 1000, 99)), 1) if values else None

        return {"health_p99_ms": p99("health"), "health_max_ms": round(max(self.latencies["health"]) * 1000, 1),
                "small_p99_ms": p99("small"), "small_max_ms": round(max(self.latencies["small"]) * 1000, 1),
                "probe_failures": " ".join(f"{k}×{n}" for k, n in sorted(self.failures.items())) or "none"}


def hostile_class(root: Path, clients: int, body: bytes, headers: dict, seconds: float) -> dict:
    """A fresh server; `clients` threads send body until `seconds` have passed while the probes run."""
    server, url, _ = start_server(root)
    statuses: Counter = Counter()
    longest = [0.0]
    lock = threading.Lock()
    try:
        time.sleep(0.5)
        idle = memory_mib(server.pid, "VmRSS")
        reset_peak(server.pid)
        stop_at = time.monotonic() + seconds

        def client() -> None:
            with httpx.Client(base_url=url, timeout=30) as session:
                while True:
                    started = time.perf_counter()
                    try:
                        status = session.post("/predict", content=body, headers=headers).status_code
                    except httpx.HTTPError as error:
                        status = type(error).__name__
                    with lock:
                        statuses[status] += 1
                        longest[0] = max(longest[0], time.perf_counter() - started)
                    if time.monotonic() > stop_at:
                        return

        with Probes(url) as probes:
            threads = [threading.Thread(target=client) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        peak = memory_mib(server.pid, "VmHWM")
    finally:
        stop(server)
    return {"clients": clients, "body_kib": round(len(body) / 1024), "requests": sum(statuses.values()),
            "statuses": " ".join(f"{k}×{n}" for k, n in sorted(statuses.items(), key=str)),
            "peak_rss_over_idle_mib": round(peak - idle, 1) if peak and idle else None,
            **probes.summary(), "longest_request_s": round(longest[0], 2)}


def idle_sockets(root: Path, sockets: int = 1_100, seconds: float = 10, fd_limit: int = 1_024) -> dict:
    """A fresh server at `ulimit -n fd_limit`; `sockets` connections that never send a byte, held `seconds`, while
    the probes connect anew for every request. Also counts the lines the server logs meanwhile."""
    import resource
    import tempfile

    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (the server writes to it until the end)
    server = subprocess.Popen([sys.executable, "-m", "conv_workshop", "serve", "--port", str(port)], cwd=root,
                              stdout=log, stderr=subprocess.STDOUT,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit)))
    url = f"http://127.0.0.1:{port}"
    held = []
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        time.sleep(0.5)
        idle = memory_mib(server.pid, "VmRSS")
        reset_peak(server.pid)
        log.seek(0, 2)
        logged_before = log.tell()
        for _ in range(sockets):
            sock = socket.socket()
            sock.settimeout(2)
            with contextlib.suppress(OSError):
                sock.connect(("127.0.0.1", port))
            held.append(sock)
        with Probes(url, fresh_connections=True) as probes:
            time.sleep(seconds)
        closed = 0
        for sock in held:
            sock.setblocking(False)
            try:
                closed += sock.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        peak = memory_mib(server.pid, "VmHWM")
        log.seek(logged_before)
        lines = log.read().count(b"\n")
    finally:
        for sock in held:
            sock.close()
        stop(server)
    return {"clients": sockets, "body_kib": 0, "requests": 0,
            "statuses": f"{closed} of {sockets} idle sockets closed by the server; {lines:,} log lines",
            "peak_rss_over_idle_mib": round(peak - idle, 1) if peak and idle else None, **probes.summary(),
            "longest_request_s": None}


def concurrent_mix(root: Path, seconds: float, only: str | None) -> dict[str, dict]:
    results = {}
    classes = concurrent_classes()
    for name, (clients, body, headers) in classes.items():
        if only and only not in name:
            continue
        print(f"{name} ({clients} clients) ...", flush=True)
        results[name] = hostile_class(root, clients, body, headers, seconds)
        print("   ", results[name], flush=True)
    if not only or only in "1,100 idle sockets":
        print("1,100 idle sockets ...", flush=True)
        results["1,100 idle sockets at ulimit -n 1024"] = idle_sockets(root)
        print("   ", results["1,100 idle sockets at ulimit -n 1024"], flush=True)
    return results


def notes(limits: ServiceSettings) -> dict[str, str]:
    """The limit that governs each class, with its value (the defaults the server ran with)."""
    mib = 2**20
    return {
        "progressive JPEG, a scan ×15,000": f"at most {limits.max_jpeg_scans} JPEG scans",
        "progressive JPEG 4:4:4, 1,000 scans": f"at most {limits.max_jpeg_scans} JPEG scans",
        "PNG, 63 zTXt of 1 MiB before 4096² RGBA": f"PNG text at most {limits.max_png_text_bytes // 1024} KiB a chunk "
                                                    "once inflated",
        "JPEG, 1.3 M empty APP5 segments": f"at most {limits.max_metadata_segments} APP/COM segments",
        "PNG, eXIf of 650k RATIONALs": f"metadata at most {limits.max_metadata_bytes // mib} MiB, EXIF "
                                       f"{limits.max_exif_bytes // 1024} KiB",
        "PNG, 437k empty private chunks": f"at most {limits.max_metadata_segments} ancillary chunks",
        "lossless WebP 4096²": f"decode budget {limits.decode_budget_bytes // mib} MiB (WebP: 16 bytes a pixel)",
        "multipart, 5 MiB of spaces after a boundary": "parsed in a worker thread, deadline "
                                                       f"{limits.decode_timeout_s:g} s",
        "multipart, 870k near-boundaries": f"parsed in a worker thread, deadline {limits.decode_timeout_s:g} s",
        "accepted 5 MiB 4096² RGBA PNG": f"{limits.max_large_in_flight} large requests in flight, then 429 after "
                                         f"{limits.admission_timeout_s:g} s; {limits.max_heavy_decodes} heavy "
                                         "decode(s) at once",
        "accepted 4096×3400 RGBA PNG of 61 KiB (small lane)": f"decode budget {limits.decode_budget_bytes // mib} "
                                                              f"MiB, {limits.max_heavy_decodes} heavy decode(s) "
                                                              f"at once; {limits.max_decode_waiting} threads may "
                                                              "wait, then 429",
        "1,100 idle sockets at ulimit -n 1024": f"headers within {limits.header_timeout_s:g} s; backlog "
                                                f"{limits.backlog}; at most {limits.max_connections:,} connections "
                                                "(fd limit − 448), oldest idle closed",
    }


def mix_row(result: dict, probes: dict, clients: int, peak: float | None, note: str) -> dict:
    return {"clients": clients, "body_kib": 0, "requests": result["requests"],
            "statuses": " ".join(f"{k}×{n}" for k, n in sorted(result["statuses"].items())),
            "peak_rss_over_idle_mib": peak, **probes, "small_p99_ms": round(result["p99"], 1),
            "small_max_ms": round(max(result["p99"], probes["small_max_ms"]), 1),
            "longest_request_s": round(result["longest"], 2), "note": note}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests in each run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--hostile-share", type=float, default=0.2, help="share of hostile requests in the mix")
    parser.add_argument("--max-seconds", type=float, default=300, help="per run")
    parser.add_argument("--class-seconds", type=float, default=5, help="how long each concurrent class is sent")
    parser.add_argument("--only", default=None, help="only the concurrent classes whose name contains this")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose service is started")
    parser.add_argument("--start-only", action="store_true", help="only the start time and idle memory")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
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
        with Probes(url) as clean_probes:
            clean = run(url, args.requests, args.clients, args.max_seconds, {}, 0)
        clean_peak = memory_mib(server.pid, "VmHWM")
        reset_peak(server.pid)
        every = round(1 / args.hostile_share)
        with Probes(url) as mix_probes:
            mix = run(url, args.requests, args.clients, args.max_seconds, hostile, every)
        mix_peak = memory_mib(server.pid, "VmHWM")
        alive = httpx.get(url + "/health", timeout=10).status_code == 200
    finally:
        stop(server)

    def over_idle(peak: float | None) -> float | None:
        return None if peak is None or idle is None else round(peak - idle, 1)

    limits = ServiceSettings()
    report = {
        "clean: 28×28 PNG uploads": mix_row(clean, clean_probes.summary(), args.clients, over_idle(clean_peak),
                                            f"{clean['requests'] / clean['seconds']:.0f} requests/s; small lane: "
                                            f"{limits.max_small_in_flight} in flight"),
        f"issue 13's mix: 1 in {every} from {len(hostile)} hostile classes": mix_row(
            mix, mix_probes.summary(), args.clients, over_idle(mix_peak),
            f"{sum(mix['unexpected'].values())} unexpected statuses; up after: {alive}"),
    }
    classes = concurrent_mix(args.root, args.class_seconds, args.only)
    for name, row in classes.items():
        report[name] = {**row, "note": notes(limits).get(name, "")}
    dash = {key: "—" for key in next(iter(report.values()))}
    report["the run"] = {**dash, "note": (
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other processes count); "
        f"start {start['start_seconds']} s, idle RSS {start['idle_rss_mib']} MiB, torch loaded: "
        f"{start['server_loads_torch']}; uvicorn, 1 worker, ONNX Runtime CPU, {limits.workers} threads; "
        f"{cpu_name()}, {os.cpu_count()} cores, clients on the same machine; each class from a fresh server, "
        f"{args.class_seconds:g} s; small = a 28×28 PNG every 50 ms beside them")}
    for name, row in report.items():
        print(f"{name:48s} {row}")
    for name, count in sorted((mix["unexpected"] + mix["transport_errors"]).items()):
        print(f"  unexpected: {name} ×{count}")
    if args.json:
        write_atomic(args.json, (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode())
    failures = sum(clean["unexpected"].values()) + sum(clean["transport_errors"].values()) + sum(
        n for status, n in mix["statuses"].items() if status >= 500) + sum(mix["unexpected"].values())
    if failures or not alive:
        raise SystemExit(f"{failures} requests failed or were answered wrongly")


if __name__ == "__main__":
    main()
