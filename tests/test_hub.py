"""The weights outside the workshop: torch.hub loads the committed CNN from the checkout (hubconf.py) with torch
alone, and classifies the committed example images; in a fresh virtualenv holding only torch and Pillow (slow)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .conftest import ROOT

EXAMPLES = {"ankle_boot.png": "Ankle boot", "trouser.png": "Trouser", "bag.png": "Bag"}
# Loads the model through torch.hub from the checkout and prints each example's class, run from another folder.
CLASSIFY = """
import sys, torch
model = torch.hub.load(sys.argv[1], "fashion_cnn", source="local")
for path in sys.argv[2:]:
    invert = path.endswith("_photo.png")  # a dark garment on white
    with torch.no_grad():
        print(model.class_names[model(model.preprocess(path, invert=invert)).argmax(1).item()])
"""
# What the hub route must not need: the workshop's other dependencies.
BLOCKED = "import sys; sys.modules.update(dict.fromkeys(['numpy', 'pandas', 'scipy', 'onnxruntime', 'pydantic'])); "


def _classify(python: str | Path, cwd: Path, prefix: str = "") -> list[str]:
    paths = [str(ROOT / "examples" / name) for name in (*EXAMPLES, "sneaker_photo.png")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL"))}
    result = subprocess.run([str(python), "-c", prefix + CLASSIFY, str(ROOT), *paths], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split("\n")[:-1]


def test_torch_hub_loads_the_committed_cnn_with_its_class_names_and_preprocessing():
    model = torch.hub.load(str(ROOT), "fashion_cnn", source="local")
    assert not model.training and model.class_names[9] == "Ankle boot"
    for name, expected in EXAMPLES.items():
        image = model.preprocess(ROOT / "examples" / name)
        assert image.shape == (1, 1, 28, 28) and image.min() >= 0 and image.max() <= 1
        with torch.no_grad():
            assert model.class_names[model(image).argmax(1).item()] == expected


def test_the_hub_route_needs_neither_numpy_nor_the_rest_of_the_workshop(tmp_path):
    """Run from another folder with numpy, pandas, scipy, ONNX Runtime and pydantic unimportable."""
    assert _classify(sys.executable, tmp_path, BLOCKED) == [*EXAMPLES.values(), "Sneaker"]


def test_preprocess_fits_any_image_into_28_by_28_and_refuses_what_is_not_an_image():
    from PIL import Image

    from conv_workshop.deployment.hub import preprocess

    wide = Image.new("RGB", (300, 100), "white")
    tensor = preprocess(wide, invert=True)
    assert tensor.shape == (1, 1, 28, 28) and tensor.max() == 0  # inverted white, padded with black
    with pytest.raises(TypeError, match="a path or a PIL image"):
        preprocess(torch.zeros(28, 28))


def test_preprocess_reads_odd_images_by_their_real_range_and_background():
    """16-bit and float images keep their grey levels, a transparent cut-out lies on the background its garment
    needs, and a 1000 × 1 strip stays visible."""
    from PIL import Image

    from conv_workshop.deployment.hub import fashion_cnn, preprocess

    boot = Image.open(ROOT / "examples" / "ankle_boot.png")
    expected = preprocess(boot)
    sixteen = boot.convert("I").point(lambda value: value * 257)
    assert torch.allclose(preprocess(sixteen), expected, atol=1 / 255)
    scaled = boot.convert("F").point(lambda value: value / 255)  # floats in [0, 1]
    assert torch.allclose(preprocess(scaled), expected, atol=1 / 255)
    photo = Image.open(ROOT / "examples" / "sneaker_photo.png").convert("L")
    cutout = Image.merge("LA", (photo, photo.point(lambda value: 255 if value < 250 else 0)))  # white made clear
    cutout = Image.merge("LA", (cutout.getchannel("L").point(lambda value: value if value < 250 else 0),
                                cutout.getchannel("A")))  # transparent pixels stored black
    model = fashion_cnn()
    with torch.no_grad():
        assert model.class_names[model(preprocess(cutout, invert=True)).argmax(1).item()] == "Sneaker"
    assert preprocess(Image.new("L", (1000, 1), 255)).sum() > 0


def test_without_a_clone_the_hub_says_to_pass_a_checkpoint(monkeypatch, tmp_path):
    from conv_workshop.deployment import hub
    from conv_workshop.deployment.checkpoint import CheckpointError

    monkeypatch.setattr(hub, "CHECKOUT", tmp_path)
    with pytest.raises(CheckpointError, match="pass checkpoint="):
        hub.fashion_cnn()


def test_untrained_weights_differ_from_the_committed_ones():
    from conv_workshop.deployment.hub import fashion_cnn

    trained, fresh = fashion_cnn(), fashion_cnn(pretrained=False)
    weights = next(name for name in trained.state_dict() if name.endswith("weight"))
    assert not torch.equal(trained.state_dict()[weights], fresh.state_dict()[weights])


def _torch_closure() -> set[str]:
    """torch, Pillow and the distributions they require (transitively, extras included: torch asks for
    cuda-toolkit[cufile, ...]), as installed here: the lock's lines to install."""
    from importlib import metadata

    from packaging.requirements import Requirement

    wanted, seen = [("torch", ""), ("pillow", "")], set()
    while wanted:
        name, extra = wanted.pop()
        name = name.lower().replace("_", "-")
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                wanted += [(requirement.name, wanted_extra) for wanted_extra in ("", *requirement.extras)]
    return {name for name, _ in seen}


@pytest.mark.slow
@pytest.mark.outside
def test_a_virtualenv_with_only_torch_and_pillow_loads_the_weights_through_torch_hub(tmp_path):
    closure = _torch_closure()
    assert "numpy" not in closure and "pandas" not in closure
    lock = re.split(r"^(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text(), flags=re.M)  # one entry each
    lines = [entry for entry in lock if entry.split("==")[0].strip().lower().replace("_", "-") in closure]
    assert {entry.split("==")[0].strip().lower() for entry in lines} >= {"torch", "pillow"}
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(lines))
    venv = tmp_path / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--require-hashes", "-r", requirements],
                   check=True, timeout=1800)
    installed = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True)
    assert "numpy" not in installed.stdout.lower() and "conv-workshop" not in installed.stdout.lower()
    assert _classify(python, tmp_path) == [*EXAMPLES.values(), "Sneaker"]
