"""Training throughput of the default CNN: this project's trainer vs the common tutorial pipeline, in one run.

  python benchmarks/train_throughput.py [--images 25600] [--json results/benchmarks/train_throughput.json]

The tutorial pipeline is what most PyTorch/Fashion-MNIST tutorials do: torchvision's dataset with
ToTensor() + Normalize(), DataLoader(batch_size=64, shuffle=True), fp32, a plain training loop.
The project's trainer slices batches from tensors in memory, uses batch 256, and trains under bf16 autocast with
channels_last where the CPU supports bf16 (or CUDA mixed precision on a GPU). Both train ConvNet() from the same
initial weights on the same images for the same number of images; only the pipeline differs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conv_workshop.atomic import write_atomic  # noqa: E402
from conv_workshop.data import SPLIT_FILES, Splits, _find_file, candidate_dirs, load_fashion_mnist  # noqa: E402
from conv_workshop.models import ConvNet  # noqa: E402
from conv_workshop.settings import run_settings  # noqa: E402
from conv_workshop.training import TrainConfig, choose_runtime, fit  # noqa: E402


def tutorial_pipeline(root: Path, images: int, device: str) -> float:
    """Images per second of the tutorial loop over `images` training images (after 5 warm-up steps)."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    dataset = datasets.FashionMNIST(str(root), train=True, download=False, transform=transform)
    loader = DataLoader(Subset(dataset, range(images + 5 * 64)), batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = ConvNet().to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seen, started = 0, None
    for step, (x, y) in enumerate(loader):
        if step == 5:
            if device == "cuda":
                torch.cuda.synchronize()
            started, seen = time.perf_counter(), 0
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        seen += len(y)
    if device == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - started)


def project_trainer(data, images: int) -> tuple[float, str]:
    runtime = choose_runtime()
    torch.manual_seed(0)
    warm = TrainConfig(epochs=1)
    # One short warm-up fit (allocator, oneDNN kernel selection), then the timed one.
    def first(train: int) -> Splits:
        return Splits(data.train_images[:train], data.train_labels[:train], data.test_images[:256],
                      data.test_labels[:256], data.test_images[:0], data.test_labels[:0])

    fit(ConvNet(), first(2048), warm, runtime, progress=False)
    result = fit(ConvNet(), first(images), TrainConfig(epochs=1), runtime, progress=False)
    return result.images_per_second, f"{runtime.device} {runtime.precision}, batch 256, in-memory"


def raw_copy(folder: Path) -> Path:
    """torchvision reads the uncompressed IDX files from <root>/FashionMNIST/raw."""
    source = next(f for f in candidate_dirs(run_settings().data_dir) if _find_file(f, "train-images-idx3-ubyte"))
    raw = folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for images_stem, labels_stem, _ in SPLIT_FILES.values():
        for stem in (images_stem, labels_stem):
            path = _find_file(source, stem)
            (raw / stem).write_bytes(gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes())
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=25_600, help="training images timed per pipeline")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    data = load_fashion_mnist(run_settings().data_dir)
    device = choose_runtime().device
    # Alternate the two pipelines for several rounds: a noisy neighbour then slows both, not one of them.
    ours_rounds, baseline_rounds = [], []
    with tempfile.TemporaryDirectory() as folder:
        root = raw_copy(Path(folder))
        for _ in range(args.rounds):
            speed, setup = project_trainer(data, args.images)
            ours_rounds.append(speed)
            baseline_rounds.append(tutorial_pipeline(root, args.images, device))
    ours, baseline = statistics.median(ours_rounds), statistics.median(baseline_rounds)
    report = {
        "machine": f"{choose_runtime().device_name} ({platform.machine()}), {torch.get_num_threads()} threads",
        "torch": str(torch.__version__),
        "images_timed": args.images,
        "rounds": args.rounds,
        "tutorial_images_per_second_each_round": [round(v, 1) for v in baseline_rounds],
        "project_images_per_second_each_round": [round(v, 1) for v in ours_rounds],
        "tutorial_images_per_second_median": round(baseline, 1),
        "project_images_per_second_median": round(ours, 1),
        "speedup": round(ours / baseline, 2),
        "project_setup": setup,
        "tutorial_setup": f"{device} fp32, torchvision ToTensor+Normalize, DataLoader(batch_size=64)",
    }
    print(f"tutorial pipeline : {baseline:8.0f} images/s  ({report['tutorial_setup']})")
    print(f"project trainer   : {ours:8.0f} images/s  ({setup})")
    print(f"speed-up          : {ours / baseline:.2f}×  (medians of {args.rounds} alternating rounds)")
    if args.json:
        write_atomic(args.json, json.dumps(report, indent=2).encode())


if __name__ == "__main__":
    main()
