"""The package's fixed facts that need no torch: the class names, the image size and the training pixels' statistics.

They live here, not in `data` or `export`, so that the prediction service can use them without torch, and the
models (models.py) with torch alone.
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

# Computed from the 60,000 training images with data.pixel_statistics(); a test recomputes them from the real files.
TRAIN_MEAN = 0.2860
TRAIN_STD = 0.3530
