"""The workshop's exercises: each check takes a learner's answer and says right, or not yet with a hint.

A blank answer (None) is "not yet", never an error, so Run All completes with the exercises untouched. The solutions
live in the notebook (hidden in <details> blocks) and tests/test_exercises.py runs each through its check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Result:
    exercise: str
    right: bool
    message: str

    def __str__(self) -> str:
        return f"{'✓ right' if self.right else '✗ not yet'} ({self.exercise}): {self.message}"


@dataclass(frozen=True)
class Exercise:
    hint: str  # shown with "not yet"
    check: Callable[..., tuple[bool, str]]  # (answer, **context) -> (right, what was found)


def _number(answer, truth: float, tolerance: float = 0.0) -> tuple[bool, str]:
    value = float(answer)
    if abs(value - truth) <= tolerance:
        return True, f"{answer} is it."
    return False, f"you have {answer}."


def _edge_share(answer, images: torch.Tensor) -> tuple[bool, str]:
    touching = (images[:, :, 0] > 0).any(1) | (images[:, :, -1] > 0).any(1)
    return _number(answer, float(touching.float().mean()), tolerance=0.005)


def _dense_parameters(answer) -> tuple[bool, str]:
    from .models import DenseBaseline, count_parameters

    return _number(answer, count_parameters(DenseBaseline()))


def _step_order(answer) -> tuple[bool, str]:
    steps = [str(step).strip().lower() for step in answer]
    if sorted(steps) != sorted(["zero_grad", "forward", "loss", "backward", "step"]):
        return False, "use exactly the five names zero_grad, forward, loss, backward, step."
    rest = [s for s in steps if s != "zero_grad"]
    cleared = steps.index("zero_grad") in (0, len(steps) - 1)
    return (rest == ["forward", "loss", "backward", "step"] and cleared), f"your order: {' → '.join(steps)}."


def _horizontal_edges(answer) -> tuple[bool, str]:
    kernel = torch.as_tensor(answer, dtype=torch.float32)
    if kernel.shape != (3, 3):
        return False, f"the kernel has shape {tuple(kernel.shape)}, not 3×3."
    step = torch.zeros(1, 1, 9, 9)
    step[..., 5:, :] = 1.0  # dark above, light below: a horizontal edge
    horizontal = F.conv2d(step, kernel.view(1, 1, 3, 3)).abs().max()
    vertical = F.conv2d(step.transpose(-1, -2), kernel.view(1, 1, 3, 3)).abs().max()
    flat = F.conv2d(torch.ones(1, 1, 5, 5), kernel.view(1, 1, 3, 3)).abs().max()
    right = horizontal > 1e-6 and vertical <= 0.1 * horizontal and flat <= 0.1 * horizontal
    return right, (f"response to a horizontal edge {horizontal:.2f}, to a vertical edge {vertical:.2f}, to a flat "
                   f"area {flat:.2f}.")


def _output_size(answer) -> tuple[bool, str]:
    from .by_hand import output_size

    return _number(answer, output_size(28, 7, 2, 3))


def _head_inputs(answer) -> tuple[bool, str]:
    from .models import ConvConfig, ConvNet, layer_summary

    rows = layer_summary(ConvNet(ConvConfig(channels=(32, 64, 128))))
    return _number(answer, next(r for r in rows if r["type"] == "Flatten")["output_shape"][0])


def _head_parameters(answer) -> tuple[bool, str]:
    from .models import ConvNet, layer_summary

    return _number(answer, next(r for r in layer_summary(ConvNet()) if r["type"] == "Linear")["parameters"])


def _conv_parameters(answer) -> tuple[bool, str]:
    return _number(answer, sum(p.numel() for p in torch.nn.Conv2d(32, 64, 3).parameters()))


def _receptive_field(answer) -> tuple[bool, str]:
    from .by_hand import receptive_fields

    return _number(answer, receptive_fields([(3, 1), (3, 1), (3, 1), (2, 2), (3, 1)])[-1])


def _gap_parameters(answer) -> tuple[bool, str]:
    from .models import ConvConfig, ConvNet, count_parameters

    return _number(answer, count_parameters(ConvNet(ConvConfig(head="gap"))))


def _unscramble(answer, permutation: torch.Tensor) -> tuple[bool, str]:
    inverse = torch.as_tensor(answer).long()
    if inverse.shape != permutation.shape:
        return False, f"it has {inverse.numel()} entries, not {permutation.numel()}."
    image = torch.arange(permutation.numel())
    restored = image[permutation][inverse]
    return bool(torch.equal(restored, image)), f"{int((restored == image).sum())} of {image.numel()} pixels restored."


def _cam_side(answer) -> tuple[bool, str]:
    from .attribution import last_block_layer
    from .models import ConvNet

    model, captured = ConvNet().eval(), {}

    def keep(module, inputs, output) -> None:  # a hook that returned a value would replace the layer's output
        captured["shape"] = output.shape

    handle = last_block_layer(model).register_forward_hook(keep)
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    handle.remove()
    return _number(answer, captured["shape"][-1])


def _checkpoint_accuracy(answer, path) -> tuple[bool, str]:
    checkpoint = torch.load(path, weights_only=True)
    return _number(answer, checkpoint["metrics"]["test_accuracy"], tolerance=1e-9)


EXERCISES: dict[str, Exercise] = {
    "edge share": Exercise("images[:, :, 0] is every image's first column; `> 0` marks ink, `.any(1)` asks "
                           "whether a column has any, and the mean of the booleans (as floats) is the share.",
                           _edge_share),
    "dense parameters": Exercise("a linear layer from n to m units has n·m weights and m biases; there are three "
                                 "linear layers: 784→128, 128→64, 64→10.", _dense_parameters),
    "training step order": Exercise("you cannot back-propagate a loss you have not computed, and you cannot compute a "
                                    "loss without the model's output.", _step_order),
    "horizontal edge kernel": Exercise("take Sobel-x from by_hand.KERNELS and turn it by 90°: rows of negative "
                                       "weights above rows of positive ones.", _horizontal_edges),
    "output size": Exercise("⌊(n + 2p − k) / s⌋ + 1 with n = 28, k = 7, p = 2, s = 3.", _output_size),
    "head inputs": Exercise("a 2×2 pool with stride 2 turns 7×7 into ⌊(7 − 2) / 2⌋ + 1; multiply by the channels.",
                            _head_inputs),
    "head parameters": Exercise("inputs × outputs weights plus one bias per output: 3,136 inputs, 128 outputs.",
                                _head_parameters),
    "conv parameters": Exercise("C_out · (C_in · k · k + 1), with C_in = 32, C_out = 64, k = 3.", _conv_parameters),
    "receptive field": Exercise("add (k − 1) × jump for each layer; the pool doubles the jump for the layers after "
                                "it (by_hand.receptive_fields does this).", _receptive_field),
    "GAP parameters": Exercise("the GAP head is one linear layer from 64 averaged channels to 10 classes, with bias.",
                               _gap_parameters),
    "unscramble": Exercise("torch.argsort of a permutation is its inverse.", _unscramble),
    "Grad-CAM resolution": Exercise("which maps does block 2 compute before its pool? (section 4.5's trace)",
                                    _cam_side),
    "checkpoint accuracy": Exercise("torch.load(path, weights_only=True) returns a dict; look under 'metrics'.",
                                    _checkpoint_accuracy),
}


def check(exercise: str, answer, **context) -> Result:
    """Check an answer; None (the blank) and malformed answers give 'not yet' with the exercise's hint.

    Used throughout sections 2–9.
    """
    if exercise not in EXERCISES:
        raise ValueError(f"no exercise named {exercise!r}; the exercises are: {', '.join(EXERCISES)}")
    item = EXERCISES[exercise]
    if answer is None:
        return Result(exercise, False, f"replace None with your answer. Hint: {item.hint}")
    try:
        right, found = item.check(answer, **context)
    except (TypeError, ValueError, RuntimeError, IndexError, KeyError) as error:
        return Result(exercise, False, f"could not read the answer ({error}). Hint: {item.hint}")
    return Result(exercise, bool(right), found if right else f"{found} Hint: {item.hint}")
