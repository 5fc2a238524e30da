"""Inference speed of the saved CNN: PyTorch eager vs ONNX Runtime on this machine's CPU, measured in one run.

  python benchmarks/export_latency.py [--json results/benchmarks/export_latency.json]

Batch-1 latency (p50, p99 over many single-image calls) and batch-256 throughput, both fp32 on the CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conv_workshop.atomic import write_atomic  # noqa: E402
from conv_workshop.deployment.checkpoint import load_model  # noqa: E402
from conv_workshop.layout import COMMITTED  # noqa: E402
from conv_workshop.serving.inference import onnx_session  # noqa: E402
from conv_workshop.training import cpu_name  # noqa: E402


def timings(call, batch: np.ndarray, repeats: int, warmup: int = 20) -> np.ndarray:
    for _ in range(warmup):
        call(batch)
    seconds = np.empty(repeats)
    for i in range(repeats):
        started = time.perf_counter()
        call(batch)
        seconds[i] = time.perf_counter() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=COMMITTED.artifacts.checkpoint)
    parser.add_argument("--onnx", type=Path, default=COMMITTED.artifacts.onnx)
    parser.add_argument("--single", type=int, default=1000, help="batch-1 calls timed per runtime")
    parser.add_argument("--batches", type=int, default=30, help="batch-256 calls timed per runtime")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    model, _ = load_model(args.weights)
    session = onnx_session(args.onnx)
    rng = np.random.default_rng(0)
    one = rng.random((1, 1, 28, 28), dtype=np.float32)
    many = rng.random((256, 1, 28, 28), dtype=np.float32)

    @torch.inference_mode()
    def eager(x):
        return model(torch.from_numpy(x)).numpy()

    def onnx(x):
        return session.run(["logits"], {"images": x})[0]

    np.testing.assert_allclose(eager(many), onnx(many), atol=1e-4)  # the two compute the same thing
    report = {"machine": f"{cpu_name()} ({platform.machine()}), {torch.get_num_threads()} threads",
              "torch": str(torch.__version__)}
    for name, call in (("pytorch_eager", eager), ("onnxruntime", onnx)):
        single = timings(call, one, args.single) * 1000
        batched = timings(call, many, args.batches, warmup=3)
        report[f"{name}_batch1_p50_ms"] = round(float(np.percentile(single, 50)), 3)
        report[f"{name}_batch1_p99_ms"] = round(float(np.percentile(single, 99)), 3)
        report[f"{name}_batch256_images_per_s"] = round(256 / float(np.median(batched)), 1)
    report["onnx_vs_eager_batch1_p50_speedup"] = round(report["pytorch_eager_batch1_p50_ms"]
                                                       / report["onnxruntime_batch1_p50_ms"], 2)
    report["onnx_vs_eager_batch256_speedup"] = round(report["onnxruntime_batch256_images_per_s"]
                                                     / report["pytorch_eager_batch256_images_per_s"], 2)
    for key, value in report.items():
        print(f"{key:40s} {value}")
    if args.json:
        write_atomic(args.json, json.dumps(report, indent=2).encode())


if __name__ == "__main__":
    main()
