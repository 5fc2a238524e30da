"""The code the learner reads in the notebook is the package's tested code: the models, the layer, pooling, the
training loop, gradient descent on a kernel, the receptive-field recurrence and Grad-CAM, each run from the notebook's
own cells and compared with the package's version."""

from __future__ import annotations

import ast
import itertools
from types import SimpleNamespace

import jupytext
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conv_workshop.data import to_float_pixels
from conv_workshop.inspection import attribution
from conv_workshop.lesson import by_hand
from conv_workshop.models import ConvNet, DenseBaseline, Normalize, count_parameters, layer_summary
from conv_workshop.reporting import tables

from .conftest import ROOT

CELLS = [c.source for c in jupytext.read(ROOT / "convolutional_layers_workshop.py").cells if c.cell_type == "code"]


def _base() -> dict:
    return {"torch": torch, "F": F, "nn": nn, "itertools": itertools, "Normalize": Normalize,
            "to_float_pixels": to_float_pixels, "attribution": attribution, "by_hand": by_hand, "tables": tables,
            "layer_summary": layer_summary, "ConvNet": ConvNet}


def defined(*names: str) -> dict:
    """The notebook's definitions of `names` (functions and classes, taken from its cells), in one namespace."""
    scope = _base()
    for source in CELLS:
        nodes = [n for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                 and n.name in names]
        if nodes:
            exec(compile(ast.Module(nodes, type_ignores=[]), "<notebook>", "exec"), scope)  # noqa: S102
    missing = [name for name in names if name not in scope]
    assert not missing, f"the notebook no longer defines {missing}"
    return scope


def cell_with(text: str) -> str:
    found = [c for c in CELLS if text in c]
    assert len(found) == 1, f"expected one notebook cell containing {text!r}, found {len(found)}"
    return found[0]


def images(count: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (count, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def leaves(model: nn.Module) -> list[str]:
    return [type(m).__name__ for m in model.modules() if not list(m.children())]


@pytest.mark.parametrize(("name", "package"), [("Dense", DenseBaseline), ("CNN", ConvNet)])
def test_the_notebook_models_are_the_package_models(name, package):
    mine, theirs = defined("Dense", "CNN", "conv_block")[name]().eval(), package().eval()
    assert leaves(mine) == leaves(theirs)
    assert count_parameters(mine) == count_parameters(theirs)
    mine.load_state_dict(theirs.state_dict())  # strict: the same names and shapes
    with torch.no_grad():
        torch.testing.assert_close(mine(to_float_pixels(images())), theirs(to_float_pixels(images())))
    assert [r["output_shape"] for r in layer_summary(mine)] == [r["output_shape"] for r in layer_summary(theirs)]


@pytest.mark.parametrize(("channels", "filters", "padding"), [(1, 1, 1), (3, 2, 0), (32, 4, 1), (2, 5, 2)])
def test_the_notebook_correlate2d_is_the_package_one(channels, filters, padding):
    correlate2d = defined("correlate2d")["correlate2d"]
    generator = torch.Generator().manual_seed(channels)
    image, kernels = torch.randn(channels, 9, 7, generator=generator), torch.randn(filters, channels, 3, 3,
                                                                                 generator=generator)
    torch.testing.assert_close(correlate2d(image, kernels, padding=padding),
                               by_hand.correlate2d(image, kernels, padding=padding))


@pytest.mark.parametrize(("shape", "size"), [((1, 28, 28), 2), ((32, 14, 14), 2), ((3, 7, 9), 2), ((2, 9, 9), 3)])
def test_the_notebook_max_pool_is_the_package_one(shape, size):
    feature_map = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    mine = defined("max_pool")["max_pool"](feature_map, size)
    torch.testing.assert_close(mine, by_hand.max_pool2d(feature_map, size))


def test_the_notebook_training_loop_is_the_package_one():
    train_epoch = defined("train_epoch")["train_epoch"]
    data, labels = images(600), torch.randint(0, 10, (600,), generator=torch.Generator().manual_seed(2))
    models = []
    for loop in (train_epoch, by_hand.train_epoch):
        torch.manual_seed(0)
        model = DenseBaseline()
        torch.manual_seed(1)  # the same dropout masks in both
        loop(model, data, labels, torch.optim.AdamW(model.parameters(), lr=1e-3))
        models.append(model)
    for mine, theirs in zip(*(m.state_dict().values() for m in models)):
        torch.testing.assert_close(mine, theirs)


def test_the_notebook_gradient_descent_is_by_hand_learn_kernel():
    kernel, dim = by_hand.KERNELS["vertical edge (Sobel x)"], images(64) // 4  # dim: descent at rate 0.5 converges
    scope = {**_base(), "data": SimpleNamespace(train_images=dim), "kernel": kernel}
    for text in ("targets = F.conv2d(images, kernel[None, None])", "for _ in range(500):"):
        exec(cell_with(text), scope)  # noqa: S102 - the notebook's own cells
    torch.testing.assert_close(scope["weights"].detach()[0, 0], by_hand.learn_kernel(dim, kernel).kernel)
    assert len(scope["losses"]) == 500 and scope["losses"][-1] < scope["losses"][0]


def test_the_notebook_receptive_field_recurrence_matches_layer_summary():
    scope = _base()
    exec(cell_with("field, jump, by_recurrence = 1, 1, []"), scope)  # noqa: S102 - asserts inside the cell
    assert scope["by_recurrence"] == by_hand.receptive_fields(list(zip(scope["fields"].kernel,
                                                                       scope["fields"].stride)))


def test_the_notebook_grad_cam_is_captums():
    grad_cam_by_hand = defined("grad_cam_by_hand")["grad_cam_by_hand"]
    torch.manual_seed(0)
    model, pictures = ConvNet().eval(), images(6)
    targets = torch.tensor([0, 3, 6, 9, 1, 2])
    captum = attribution.grad_cam(model, pictures, targets)
    torch.testing.assert_close(grad_cam_by_hand(model, pictures, targets), captum)
