"""The package's fixed facts that need no torch: the class names, the image size (and how any image is fitted into
it) and the training pixels' statistics.

They live here, not in `data` or `deployment`, so that the prediction service can use them without torch, and the
models (models.py) and torch.hub's preprocessing (deployment/hub.py) with torch alone.
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


def fitted_size(width: int, height: int) -> tuple[int, int]:
    """An image's size once fitted into IMAGE_SIZE × IMAGE_SIZE: the longer side IMAGE_SIZE, the aspect ratio kept,
    the shorter side at least one pixel (a 1000 × 1 strip stays visible)."""
    scale = IMAGE_SIZE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))

# Computed from the 60,000 training images with data.pixel_statistics(); a test recomputes them from the real files.
TRAIN_MEAN = 0.2860
TRAIN_STD = 0.3530
