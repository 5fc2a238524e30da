"""Writes the example images the README's commands use (examples/): three Fashion-MNIST test images as 28×28 PNGs
and one as a 200×200 'product photo' (a dark garment on white, as serve_demo.product_photo draws it).

    python tools/make_examples.py

Each is the first test image of its class that the committed model classifies correctly with probability ≥ 0.95,
so that the examples show the model working, not its mistakes (section 5 shows those).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from conv_workshop.constants import CLASS_NAMES  # noqa: E402
from conv_workshop.data import load_fashion_mnist, to_float_pixels  # noqa: E402
from conv_workshop.deployment.checkpoint import load_model  # noqa: E402
from conv_workshop.deployment.serve_demo import product_photo  # noqa: E402

EXAMPLES = {"ankle_boot.png": "Ankle boot", "trouser.png": "Trouser", "bag.png": "Bag"}
PHOTO = ("sneaker_photo.png", "Sneaker")


def first_confident(model, images, labels, name: str) -> int:
    wanted = CLASS_NAMES.index(name)
    with torch.no_grad():
        for index in (labels == wanted).nonzero().flatten().tolist():
            probabilities = model(to_float_pixels(images[index:index + 1])).softmax(1)[0]
            if probabilities.argmax() == wanted and probabilities[wanted] >= 0.95:
                return index
    raise SystemExit(f"no test image of {name} reaches 0.95")


def main() -> None:
    model, _ = load_model(ROOT / "fashion_mnist_cnn_model_pytorch" / "best_model.pth")
    data = load_fashion_mnist()
    folder = ROOT / "examples"
    folder.mkdir(exist_ok=True)
    for file, name in EXAMPLES.items():
        index = first_confident(model, data.test_images, data.test_labels, name)
        Image.fromarray(data.test_images[index].numpy()).save(folder / file, optimize=True)
        print(f"{file}: test image {index} ({name})")
    file, name = PHOTO
    index = first_confident(model, data.test_images, data.test_labels, name)
    (folder / file).write_bytes(product_photo(data.test_images[index]))
    print(f"{file}: test image {index} ({name}), as a product photo")


if __name__ == "__main__":
    main()
