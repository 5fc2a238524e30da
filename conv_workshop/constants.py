"""The package's fixed facts that need no torch: the class names, the image size and where the model files live.

They live here, not in `data` or `export`, so that the prediction service can use them without importing torch.
"""

from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

IMAGE_SIZE = 28
