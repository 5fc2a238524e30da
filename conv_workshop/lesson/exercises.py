"""The workshop's exercises: each check runs a learner's answer on inputs of its own and says right, or not yet with a
hint.

A blank answer (None, or a stub that still raises NotImplementedError) is "not yet" without the hint, so Run All
completes with the exercises untouched and a rendered copy gives no answer away. Any other exception raised by the
learner's code is "not yet" too, naming the exception and the line of the learner's cell, then the hint.

How the checks decide (tests/test_exercise_mistakes.py holds the wrong answers each one must reject):
- a check tries the shapes and modes its prompt allows (a batch of one, odd and non-square sizes, several channels,
  strides, more than one batch, a model handed over in training mode), not only one example;
- PyTorch's answer is computed first, on copies, so an answer that edits its inputs in place cannot change what it
  is compared with; it is told that it edited them;
- NaN and infinity never match;
- float tolerances come from the arithmetic (see `_sum_tolerance` and `_rounding_tolerance`), and number answers are
  exact up to the rounding their prompt allows.

The solutions live in the notebook (hidden in <details> blocks) and tests/test_exercises.py runs each through its
check.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import itertools
import math
import re
import sys
import sysconfig
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..i18n import N_, _, ngettext

UNIT_ROUNDOFF = 2.0 ** -24  # float32's unit roundoff u: one rounding moves a value by at most u·|value|


@dataclass(frozen=True)
class Result:
    exercise: str
    right: bool
    message: str

    def __str__(self) -> str:
        status = _("✓ right") if self.right else _("✗ not yet")
        return f"{status} ({_(self.exercise)}): {self.message}"


@dataclass(frozen=True)
class Exercise:
    hint: str  # shown with "not yet"
    check: Callable[..., tuple[bool, str]]  # (answer, **context) -> (right, what was found)
    writes_code: bool = False  # the answer is a function or a class the check calls: anything else is "not yet"


# --- Comparisons: one home for "equal up to rounding", NaN and infinity never equal --------------------------------

def _sum_tolerance(terms: int, magnitude: torch.Tensor) -> torch.Tensor:
    """The largest error of a float32 sum of `terms` products, in any order, against the exact sum: γ_n·Σ|terms| with
    γ_n = n·u / (1 − n·u) (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1). `magnitude` is Σ|terms|
    per output, computed in float64. A correct loop, unfold or einsum stays within it; a wrong window, weight or bias
    does not, unless it changes the result by less than rounding does."""
    gamma = terms * UNIT_ROUNDOFF / (1 - terms * UNIT_ROUNDOFF)
    return gamma * magnitude + torch.finfo(torch.float32).tiny  # (+ tiny: an exact zero stays a zero)


def _rounding_tolerance(float32_result: torch.Tensor, exact: torch.Tensor) -> float:
    """For a whole model, where no bound by hand is practical: ten times the rounding error of PyTorch's own float32
    result (against the same computation in float64), and never below 10 u of the largest value. A correct float32
    answer makes rounding errors of the same size as PyTorch's; the wrong answers in the tests miss by over 1e-3."""
    scale = float(exact.abs().max()) if exact.numel() else 0.0
    return max(10 * float((float32_result.double() - exact).abs().max()), 10 * UNIT_ROUNDOFF * max(scale, 1.0))


def _as_tensor(value) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value.detach()
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _compare(got, truth: torch.Tensor, tolerance, what: str) -> tuple[bool, str]:
    """Whether `got` has `truth`'s shape and every value within `tolerance` (a number, or one per value) of it."""
    found = _as_tensor(got)
    if found is None or found.dtype == torch.bool or found.is_complex():
        return False, _("{what}: yours returned a {kind}, not a tensor of numbers.").format(
            what=what, kind=type(got).__name__)
    if found.shape != truth.shape:
        return False, _("{what}: yours has shape {shape}, PyTorch's {truth_shape}.").format(
            what=what, shape=tuple(found.shape), truth_shape=tuple(truth.shape))
    found = found.double()
    broken = ~torch.isfinite(found)
    if broken.any():
        return False, _("{what}: {count} of your {total} values are NaN or infinite.").format(
            what=what, count=int(broken.sum()), total=found.numel())
    error = (found - truth.double()).abs()
    allowed = torch.as_tensor(tolerance, dtype=torch.float64).expand_as(error)
    if (error > allowed).any():
        return False, _("{what}: the largest difference from PyTorch is {error:.3g} (rounding allows "
                        "{allowed:.2g}).").format(what=what, error=float(error.max()),
                                                  allowed=float(allowed.flatten()[int(error.argmax())]))
    return True, ""


def _changed_inputs(before: dict, after: dict) -> str | None:
    """The name of the first tensor the learner's code changed in place, if any."""
    return next((name for name, tensor in after.items()
                 if isinstance(tensor, torch.Tensor) and not torch.equal(tensor, before[name])), None)


@dataclass(frozen=True)
class Trial:
    """One case a check runs: what the learner's function receives and PyTorch's answer, computed before it runs."""

    what: str  # the case, as the message names it
    inputs: dict  # argument name -> value, passed in this order
    truth: torch.Tensor
    tolerance: object  # a number, or a tensor of one tolerance per value


def _run_trials(function: Callable, trials: Iterable[Trial], success: str) -> tuple[bool, str]:
    """Each trial (made lazily, one at a time): the learner's function on its inputs, compared with PyTorch's answer;
    the first that differs, or changes its inputs, says so."""
    for trial in trials:
        kept = {name: value.clone() if isinstance(value, torch.Tensor) else value
                for name, value in trial.inputs.items()}
        got = function(*trial.inputs.values())
        changed = _changed_inputs(kept, trial.inputs)
        if changed:
            return False, _("{what}: your function changed its input `{name}` in place; build a new tensor (or work "
                            "on a copy, x.clone()) instead.").format(what=trial.what, name=changed)
        right, found = _compare(got, trial.truth, trial.tolerance, trial.what)
        if not right:
            return False, found
    return True, success


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- Exercises whose answer is a number or a small value ----------------------------------------------------------

def _to_number(answer) -> float | None:
    if isinstance(answer, bool):
        return None
    try:
        value = float(answer)
    except (TypeError, ValueError, RuntimeError):
        return None
    return value if math.isfinite(value) else None


def _number(answer, truth: float, tolerance: float = 0.0) -> tuple[bool, str]:
    value = _to_number(answer)
    if value is None:
        return False, _("{answer!r} is not a finite number.").format(answer=answer)
    if abs(value - truth) <= tolerance:
        return True, _("{answer} is it.").format(answer=answer)
    return False, _("you have {answer}.").format(answer=answer)


def _edge_share(answer, images: torch.Tensor) -> tuple[bool, str]:
    touching = (images[:, :, 0] > 0).any(1) | (images[:, :, -1] > 0).any(1)
    truth = float(touching.float().mean())
    value = _to_number(answer)
    if value is not None and value > 1 and abs(value / 100 - truth) <= 5e-5:
        return False, _("{answer} is a percentage; give the share between 0 and 1.").format(answer=answer)
    # Exact up to an answer typed to four decimals (±0.00005, 3 images of 60,000): a column's near miss, such as
    # counting only one edge, is 40 images away.
    return _number(answer, truth, tolerance=5e-5)


def _dense_parameters(answer) -> tuple[bool, str]:
    from ..models import DenseBaseline, count_parameters

    return _number(answer, count_parameters(DenseBaseline()))


def _step_order(answer) -> tuple[bool, str]:
    if isinstance(answer, (str, bytes)) or not isinstance(answer, Iterable):
        return False, _("give a list of the five names, e.g. [\"forward\", ...].")
    steps = [str(step).strip().lower() for step in answer]
    if sorted(steps) != sorted(["zero_grad", "forward", "loss", "backward", "step"]):
        return False, _("use exactly the five names zero_grad, forward, loss, backward, step.")
    rest = [s for s in steps if s != "zero_grad"]
    cleared = steps.index("zero_grad") in (0, len(steps) - 1)
    return ((rest == ["forward", "loss", "backward", "step"] and cleared),
            _("your order: {steps}.").format(steps=" → ".join(steps)))


def _horizontal_edges(answer) -> tuple[bool, str]:
    kernel = _as_tensor(answer)
    if kernel is None or kernel.shape != (3, 3):
        shape = tuple(kernel.shape) if kernel is not None else type(answer).__name__
        return False, _("the kernel has shape {shape}, not 3×3.").format(shape=shape)
    kernel = kernel.double().view(1, 1, 3, 3)
    if not torch.isfinite(kernel).all():
        return False, _("the kernel holds NaN or infinite values.")
    # Steps dark→light and light→dark at every row (horizontal edges) or column (vertical ones), at two contrasts,
    # and flat areas of three brightnesses; computed in float64, so "zero" means zero up to 1e-9 of the response.
    steps = [torch.zeros(1, 1, 9, 9, dtype=torch.float64) for _ in range(4)]
    steps[0][..., 5:, :] = 1.0
    steps[1][..., :4, :] = 1.0
    steps[2][...] = 0.2
    steps[2][..., 3:, :] = 0.9
    steps[3][..., :6, :] = 0.7
    horizontal = torch.stack([F.conv2d(s, kernel).abs().amax(dim=(-1, -2)).min() for s in steps]).min()
    vertical = torch.stack([F.conv2d(s.transpose(-1, -2), kernel).abs().max() for s in steps]).max()
    flat = max(float(F.conv2d(torch.full((1, 1, 5, 5), level, dtype=torch.float64), kernel).abs().max())
               for level in (1.0, 0.5, 0.1))
    scale = float(horizontal)
    right = scale > 1e-6 and float(vertical) <= 1e-9 * scale and flat <= 1e-9 * scale
    return right, _("response to a horizontal edge {horizontal:.3g}, to a vertical edge {vertical:.3g}, to a flat "
                    "area {flat:.3g} (vertical edges and flat areas should give exactly 0).").format(
        horizontal=scale, vertical=float(vertical), flat=flat)


def _head_inputs(answer) -> tuple[bool, str]:
    from ..models import ConvConfig, ConvNet, layer_summary

    rows = layer_summary(ConvNet(ConvConfig(channels=(32, 64, 128))))
    return _number(answer, next(r for r in rows if r["type"] == "Flatten")["output_shape"][0])


def _head_parameters(answer) -> tuple[bool, str]:
    from ..models import ConvNet, layer_summary

    return _number(answer, next(r for r in layer_summary(ConvNet()) if r["type"] == "Linear")["parameters"])


def _conv_parameters(answer) -> tuple[bool, str]:
    return _number(answer, sum(p.numel() for p in nn.Conv2d(32, 64, 3).parameters()))


def _receptive_field(answer) -> tuple[bool, str]:
    from .by_hand import receptive_fields

    return _number(answer, receptive_fields([(3, 1), (3, 1), (3, 1), (2, 2), (3, 1)])[-1])


def _gap_parameters(answer) -> tuple[bool, str]:
    from ..models import ConvConfig, ConvNet, count_parameters

    return _number(answer, count_parameters(ConvNet(ConvConfig(head="gap"))))


def _unscramble(answer, permutation: torch.Tensor) -> tuple[bool, str]:
    inverse = _as_tensor(answer)
    if inverse is None or inverse.shape != permutation.shape:
        entries = inverse.numel() if inverse is not None else type(answer).__name__
        return False, _("it has {entries} entries, not {expected}.").format(entries=entries,
                                                                            expected=permutation.numel())
    if inverse.is_floating_point() or inverse.dtype == torch.bool:
        return False, _("it holds {kind} values; positions are whole numbers (long).").format(kind=inverse.dtype)
    image = torch.arange(permutation.numel())
    if inverse.min() < 0 or inverse.max() >= permutation.numel():
        return False, _("its entries should be positions from 0 to {last}.").format(last=permutation.numel() - 1)
    restored = image[permutation][inverse.long()]
    return bool(torch.equal(restored, image)), _("{restored} of {total} pixels restored.").format(
        restored=int((restored == image).sum()), total=image.numel())


def _cam_side(answer) -> tuple[bool, str]:
    from ..inspection.attribution import last_block_layer
    from ..models import ConvNet

    model, captured = ConvNet().eval(), {}

    def keep(module, inputs, output) -> None:  # a hook that returned a value would replace the layer's output
        captured["shape"] = output.shape

    handle = last_block_layer(model).register_forward_hook(keep)
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    handle.remove()
    return _number(answer, captured["shape"][-1])


def _one_factor(answer) -> tuple[bool, str]:
    from ..experiments.catalogue import controlled_experiments
    from ..models import ConvConfig, ConvNet

    if not isinstance(answer, ConvConfig):
        return False, _("that is a {kind}; write ConvConfig(setting=value).").format(kind=type(answer).__name__)
    reference = ConvConfig()
    changed = [f.name for f in dataclasses.fields(ConvConfig) if getattr(answer, f.name) != getattr(reference, f.name)]
    if not changed:
        return False, _("it changes 0 settings (none), not one.")
    if len(changed) != 1:
        return False, _("it changes {count} settings ({names}), not one.").format(count=len(changed),
                                                                                  names=", ".join(changed))
    name = changed[0]
    if name == "num_classes":
        return False, _("num_classes is not a design choice: Fashion-MNIST has {classes} classes, so the model needs "
                        "{classes} outputs.").format(classes=reference.num_classes)
    if name == "scramble":
        return False, _("scramble is section 7.2's probe, not a setting of the CNN's design.")
    tested = next(((experiment, variant) for experiment, variants in controlled_experiments().items()
                   for variant, config in variants.items() if config == answer), None)
    if tested:
        return False, _("section 6 already trained this one (experiment “{experiment}”, variant “{variant}”); choose "
                        "a setting, or a value, that it did not try.").format(
            experiment=_(tested[0]), variant=_(tested[1]))
    # It must build and be able to learn: logits for every class, and a gradient that reaches the first layer.
    try:
        with warnings.catch_warnings():  # (a zero-width layer warns before the check below refuses it)
            warnings.simplefilter("ignore", UserWarning)
            model = ConvNet(answer).train()
    except ValueError as error:  # a setting that cannot build a model (ConvNet says why)
        return False, _("ConvNet refuses it: {error}").format(error=error)
    logits = model(torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    logits.sum().backward()
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    if first.weight.grad is None or not first.weight.grad.abs().sum() > 0:
        return False, _("with {name} = {value!r} no gradient reaches the first convolution, so the model could not "
                        "learn.").format(name=name, value=getattr(answer, name))
    return True, _("one factor changed: {name} = {value!r}.").format(name=name, value=getattr(answer, name))


# --- Exercises that write code: each runs the learner's function or module against PyTorch on inputs of its own ---

def _output_side(answer) -> tuple[bool, str]:
    side = answer
    for n, k, padding, stride in itertools.product((5, 6, 7, 14, 28), (1, 2, 3, 5, 7), (0, 1, 2, 3), (1, 2, 3)):
        if k > n + 2 * padding:
            continue
        truth = nn.Conv2d(1, 1, k, stride, padding)(torch.zeros(1, 1, n, n)).shape[-1]
        got = side(n, k, padding, stride)
        number = _to_number(got)
        if number is None or number != truth:
            return False, _("for n={n}, k={k}, padding={padding}, stride={stride} nn.Conv2d gives {truth}, yours "
                            "{got}.").format(n=n, k=k, padding=padding, stride=stride, truth=truth, got=got)
    return True, _("it agrees with nn.Conv2d on every combination.")


def _strided_correlate(answer) -> tuple[bool, str]:
    correlate = answer
    cases = ((1, 6, 6, 1, 3, 1), (2, 7, 9, 3, 3, 2), (3, 10, 9, 2, 2, 3), (4, 8, 8, 5, 1, 1), (2, 5, 5, 2, 5, 1),
             (1, 11, 7, 2, 3, 3), (3, 9, 12, 4, 4, 2))

    def trials():
        for seed, (c_in, height, width, c_out, k, stride) in enumerate(cases):
            image, kernels = _random(c_in, height, width, seed=seed), _random(c_out, c_in, k, k, seed=seed + 10)
            bias = _random(c_out, seed=seed + 20)
            exact = F.conv2d(image[None].double(), kernels.double(), bias.double(), stride=stride)[0]
            magnitude = F.conv2d(image[None].double().abs(), kernels.double().abs(), bias.double().abs(),
                                 stride=stride)[0]
            yield Trial(_("{c_in}×{height}×{width} input, {c_out}×{c_in}×{k}×{k} kernels, stride {stride}").format(
                c_in=c_in, height=height, width=width, c_out=c_out, k=k, stride=stride),
                {"image": image, "kernels": kernels, "bias": bias, "stride": stride}, exact,
                _sum_tolerance(c_in * k * k + 2, magnitude))  # n products and their sum, the bias, the store

    return _run_trials(correlate, trials(), _("it matches F.conv2d on {count} shapes and strides.").format(
        count=len(cases)))


def _average_pooling(answer) -> tuple[bool, str]:
    pool = answer
    cases = ((1, 4, 4, 2), (3, 7, 9, 2), (2, 9, 9, 3), (1, 5, 8, 1), (4, 6, 6, 6), (2, 11, 10, 4))

    def trials():
        for seed, (channels, height, width, size) in enumerate(cases):
            maps = _random(channels, height, width, seed=seed)
            exact = F.avg_pool2d(maps[None].double(), size)[0]
            magnitude = F.avg_pool2d(maps[None].double().abs(), size)[0]
            yield Trial(_("a {channels}×{height}×{width} map, size {size}").format(
                channels=channels, height=height, width=width, size=size), {"feature_map": maps, "size": size}, exact,
                _sum_tolerance(size * size + 2, magnitude))  # a sum of size² values, one division, the store

    return _run_trials(pool, trials(), _("it matches F.avg_pool2d, including sizes that do not divide the map."))


class _Watch:
    """Forward hooks on a model: whether it ran in training mode or with gradients on, and which leaf modules ran, in
    the order they first ran."""

    def __init__(self, model: nn.Module):
        self.training, self.gradients, self.called = False, False, []
        self._handles = [m.register_forward_pre_hook(self._seen) for m in model.modules()]

    def _seen(self, module, inputs) -> None:
        self.training |= module.training
        self.gradients |= torch.is_grad_enabled()
        if not list(module.children()) and module not in self.called:
            self.called.append(module)

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def _no_near_ties(logits: torch.Tensor, share: float) -> tuple[torch.Tensor, int]:
    """Labels for which a model's accuracy cannot depend on rounding: for the first `share` of the images (where the
    top two logits are more than 1e-3 apart) the predicted class; for the others a class outside the top two. So the
    answer differs by batch (a loop that keeps only one batch, or averages batch accuracies, gets another number)."""
    top = logits.topk(3, dim=1)
    clear = (top.values[:, 0] - top.values[:, 1]) > 1e-3
    first = torch.arange(len(logits)) < round(share * len(logits))
    labels = torch.where(first & clear, top.indices[:, 0], top.indices[:, 2])
    return labels, int((first & clear).sum())


def _accuracy(answer) -> tuple[bool, str]:
    from ..data import to_float_pixels
    from ..models import ConvConfig, ConvNet, DenseBaseline

    measure = answer
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    dense, cnn = DenseBaseline(), ConvNet(ConvConfig(channels=(8,), convs_per_block=1, hidden=32))
    # sizes that split into several batches of 64 to 1,024 images, and a batch of one
    for model, size, share in ((dense, 1, 1.0), (dense, 1300, 0.6), (cnn, 300, 0.3), (dense, 7, 0.5)):
        images = torch.randint(0, 256, (size, 28, 28), generator=generator, dtype=torch.uint8)
        with torch.no_grad():
            logits = model.eval()(to_float_pixels(images))
        labels, correct = _no_near_ties(logits, share)
        truth = correct / size
        model.train()  # the learner's function must switch dropout (and batch norm's batch statistics) off itself
        watch = _Watch(model)
        kept = images.clone(), labels.clone()
        try:
            got = measure(model, images, labels)
        finally:
            watch.close()
        case = ngettext("on {count:,} image", "on {count:,} images", size).format(count=size)
        if not (torch.equal(kept[0], images) and torch.equal(kept[1], labels)):
            return False, _("{case}: your function changed the images or the labels in place.").format(case=case)
        if watch.training:
            return False, _("{case}: the model ran in training mode (dropout on, batch norm on the batch's "
                            "statistics); call model.eval() before the forward pass.").format(case=case)
        if watch.gradients:
            return False, _("{case}: the forward pass recorded gradients; wrap it in `with torch.no_grad():`.").format(
                case=case)
        value = _to_number(got)
        if value is None:
            return False, _("{case}: yours returned {got!r}, not one number.").format(case=case, got=got)
        if abs(value - truth) <= 1e-6:  # exact up to float32 rounding (6e-8); one image more or less is ≥ 1/1,300
            continue
        if abs(value - correct) < 0.5 and correct != truth:
            return False, _("{case}: yours gives {got:g}, the number of right answers; return the share (÷ "
                            "{size}).").format(case=case, got=value, size=size)
        if abs(value - 100 * truth) <= 50 / size and truth:
            return False, _("{case}: yours gives {got:g}, a percentage; return a share between 0 and 1.").format(
                case=case, got=value)
        return False, _("{case}: yours gives {got:.4f} where the share of right answers is {truth:.4f} (every image "
                        "counted once?).").format(case=case, got=value, truth=truth)
    return True, _("it matches on 1, 7, 300 and 1,300 images, with dropout and batch norm switched off.")


def _small_cnn_reference() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in itertools.chain(module.parameters(recurse=False), module.buffers(recurse=False)))


def _describe(module: nn.Module) -> str:
    shapes = ", ".join(f"{name} {'×'.join(map(str, tensor.shape))}"
                       for name, tensor in module.named_parameters(recurse=False))
    return f"{type(module).__name__}({shapes})"


def _run_watched(model: nn.Module, x: torch.Tensor):
    watch = _Watch(model)
    try:
        with torch.no_grad():
            return model(x), watch.called
    finally:
        watch.close()


def _small_cnn(answer) -> tuple[bool, str]:
    build = answer
    model = build()
    if not isinstance(model, nn.Module):
        return False, _("MyCNN() gave a {kind}, not an nn.Module.").format(kind=type(model).__name__)
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    reference = _small_cnn_reference()
    for layer in reference.modules():  # batch norm that is not the identity, so that leaving it out shows
        if isinstance(layer, nn.BatchNorm2d):
            layer.weight.data = torch.randn(layer.num_features, generator=generator)
            layer.bias.data = torch.randn(layer.num_features, generator=generator)
            layer.running_mean = torch.randn(layer.num_features, generator=generator) * 0.1
            layer.running_var = torch.rand(layer.num_features, generator=generator) + 0.5
    images = torch.rand(5, 1, 28, 28, generator=generator)
    output, called = _run_watched(model.eval(), images[:2])
    if output is None:
        return False, _("forward returned None: its last line should be `return ...` (the logits).")
    if not isinstance(output, torch.Tensor):
        return False, _("forward returned a {kind}, not a tensor of logits.").format(kind=type(output).__name__)
    if not output.is_floating_point():
        return False, _("forward returned whole numbers (an argmax?); return the logits, one score per class.")
    with torch.enable_grad():
        probe = copy.deepcopy(model).train()(images[:2])
    if not (isinstance(probe, torch.Tensor) and probe.requires_grad):
        return False, _("no gradient flows back from your output to the weights (a detach(), .data or torch.no_grad() "
                        "in forward?), so the model could not learn.")
    unused = [name for name, module in model.named_modules()
              if name and not list(module.children()) and module not in called]
    if unused:
        return False, _("these layers are built in __init__ but forward never uses them: {names}.").format(
            names=", ".join(f"{name} ({type(model.get_submodule(name)).__name__})" for name in unused))
    reference_called = _run_watched(reference.eval(), images[:2])[1]
    mine = [m for m in called if _has_state(m)]
    theirs = [m for m in reference_called if _has_state(m)]
    for position, (a, b) in enumerate(itertools.zip_longest(mine, theirs), start=1):
        if a is None or b is None or type(a) is not type(b) or \
                [t.shape for t in a.state_dict().values()] != [t.shape for t in b.state_dict().values()]:
            wanted, found = (_describe(m) if m is not None else _("none") for m in (b, a))
            return False, _("in the order forward uses them, layer with weights number {position} should be {wanted}; "
                            "yours is {found}.").format(position=position, wanted=wanted, found=found)
    for a, b in zip(mine, theirs):
        a.load_state_dict(b.state_dict())  # the same weights, matched by the order forward uses the layers
    exact_reference = copy.deepcopy(reference).double()
    for mode, batch, training in ((_("eval mode, a batch of one"), images[:1], False),
                                  (_("eval mode, a batch of five"), images, False),
                                  (_("training mode, a batch of four"), images[1:], True)):
        theirs_now, exact_now, mine_now = (copy.deepcopy(m).train(training)
                                           for m in (reference, exact_reference, model))
        with torch.no_grad():
            truth, exact, got = theirs_now(batch), exact_now(batch.double()), mine_now(batch)
        what = _("with the same weights, {mode}").format(mode=mode)
        right, found = _compare(got, exact, _rounding_tolerance(truth, exact), what)
        if not right:
            found_tensor = _as_tensor(got)
            if found_tensor is not None and found_tensor.shape == exact.shape and found_tensor.dim() == 2:
                rows = found_tensor.double()
                if (rows >= 0).all() and torch.allclose(rows.sum(1), torch.ones(len(rows), dtype=torch.float64)):
                    found += " " + _("Each row sums to 1: a softmax. Return the logits (the loss applies softmax "
                                     "itself).")
                elif torch.allclose(rows.logsumexp(1), torch.zeros(len(rows), dtype=torch.float64), atol=1e-4):
                    found += " " + _("Each row is a log-softmax. Return the logits (the loss applies softmax "
                                     "itself).")
            return False, found
    parameters = sum(p.numel() for p in model.parameters())
    return True, _("with the same weights it computes what the model described computes, in eval and training mode, "
                   "on batches of 1 to 5 ({parameters:,} parameters).").format(parameters=parameters)


def _occlusion(answer) -> tuple[bool, str]:
    from captum.attr import Occlusion

    from ..data import to_float_pixels
    from ..models import ConvNet

    occlude = answer
    torch.manual_seed(0)
    model = ConvNet()
    generator = torch.Generator().manual_seed(3)
    image = torch.randint(0, 256, (28, 28), generator=generator, dtype=torch.uint8)
    image[:, :3] = 0  # a black border, as Fashion-MNIST has: covering black with black changes nothing
    exact_model = copy.deepcopy(model).double().eval()

    def captum(network: nn.Module, pixels: torch.Tensor, patch: int, target: int) -> torch.Tensor:
        maps = Occlusion(network).attribute(pixels, target=target, baselines=0.0, strides=(1, patch, patch),
                                            sliding_window_shapes=(1, patch, patch))
        side = 28 // patch  # squares that fit; the pixels beyond them are never covered
        return maps[0, 0, ::patch, ::patch].detach()[:side, :side]

    for patch, target in ((4, 3), (7, 8), (5, 0), (28, 1)):
        what = _("patch {patch}, class {target}").format(patch=patch, target=target)
        pixels = to_float_pixels(image[None])
        truth = captum(copy.deepcopy(model).eval(), pixels, patch, target)
        exact = captum(exact_model, pixels.double(), patch, target)
        model.train()  # handed over as a learner's model may be: the function must switch dropout off itself
        kept, watch = image.clone(), _Watch(model)
        try:
            got = occlude(model, image, target, patch)
        finally:
            watch.close()
        if not torch.equal(kept, image):
            return False, _("{what}: your function changed the image in place; black out squares on a copy "
                            "(image.clone() or image.repeat(...)).").format(what=what)
        if watch.training:
            return False, _("{what}: the model ran in training mode (dropout on, batch norm on the batch's "
                            "statistics); call model.eval() first.").format(what=what)
        right, found = _compare(got, exact, _rounding_tolerance(truth, exact), what)
        if not right:
            return False, found
    return True, _("it matches Captum's Occlusion for patches of 4, 5, 7 and 28, with the model handed over in "
                   "training mode.")


def _mark_code_ran() -> dict:
    """What a hostile checkpoint's pickle calls when something unpickles it: it only raises a flag."""
    _CODE_RAN["count"] += 1
    return {}


_CODE_RAN = {"count": 0}


class _RunsCodeWhenUnpickled:
    def __reduce__(self):
        return _mark_code_ran, ()


def _safe_loading(answer, path) -> tuple[bool, str]:
    from ..deployment.checkpoint import save_checkpoint
    from ..models import ConvNet

    load = answer
    with tempfile.TemporaryDirectory() as folder:
        cases = [Path(path), save_checkpoint(Path(folder) / "another.pth", ConvNet(), {},
                                             {"test_accuracy": 0.8765})]
        for case in cases:
            truth = torch.load(case, weights_only=True)
            got = load(case)
            if not isinstance(got, dict) or got.keys() != truth.keys():
                return False, _("for {name} yours returned a {kind}; return the whole checkpoint, the dictionary "
                                "torch.load gives.").format(name=case.name, kind=type(got).__name__)
            if got["metrics"] != truth["metrics"] or got["model_config"] != truth["model_config"]:
                return False, _("for {name} yours returned another checkpoint's contents: load the file at `path`.")\
                    .format(name=case.name)
        hostile = Path(folder) / "runs_code.pth"
        buffer = io.BytesIO()
        torch.save({"metrics": {"test_accuracy": 1.0}, "payload": _RunsCodeWhenUnpickled()}, buffer)
        hostile.write_bytes(buffer.getvalue())
        before = _CODE_RAN["count"]
        with contextlib.suppress(Exception):  # refusing the file (UnpicklingError) is the safe answer
            load(hostile)
        if _CODE_RAN["count"] != before:
            return False, _("on a file that carries code, your loader ran it: load with weights_only=True, which "
                            "refuses anything but tensors and plain data.")
    return True, _("it loads checkpoints, and refuses to run the code a hostile file carries.")


EXERCISES: dict[str, Exercise] = {
    N_("edge share"): Exercise(
        N_("index the first and the last column of every image at once, mark which pixels are not black, and ask per "
           "image whether either column has any."), _edge_share),
    N_("dense parameters"): Exercise(
        N_("a linear layer from n to m units has n·m weights and m biases; there are three linear layers: 784→128, "
           "128→64, 64→10."), _dense_parameters),
    N_("training step order"): Exercise(
        N_("you cannot back-propagate a loss you have not computed, and you cannot compute a loss without the "
           "model's output."), _step_order),
    N_("horizontal edge kernel"): Exercise(
        N_("the response should compare the rows below the centre with the rows above it; what must each column add "
           "up to for a flat area to give zero?"), _horizontal_edges),
    N_("output side"): Exercise(
        N_("count the positions where the kernel fits: n + 2·padding pixels, the first position at 0, the last at n "
           "+ 2·padding − k, one every `stride` pixels; // rounds down."), _output_side, writes_code=True),
    N_("strided correlate2d"): Exercise(
        N_("the window of output (i, j) starts at row i·stride and column j·stride; there are (H − k) // stride + 1 "
           "rows and (W − k) // stride + 1 columns of outputs; add bias[o] to every output of channel o."),
        _strided_correlate, writes_code=True),
    N_("average pooling"): Exercise(
        N_("the windows are the same as max_pool's in section 4.7; only what is kept of each window changes."),
        _average_pooling, writes_code=True),
    N_("accuracy"): Exercise(
        N_("switch dropout off first (model.eval()), evaluate under torch.no_grad(), convert the images as the "
           "training loop does, take the class with the highest logit for each image, and divide the right answers "
           "by the number of images."), _accuracy, writes_code=True),
    N_("small CNN"): Exercise(
        N_("put the layers in one nn.Sequential in __init__ (self.layers = nn.Sequential(...)) and return "
           "self.layers(x) in forward; conv_block in section 5.1 shows the pattern."), _small_cnn, writes_code=True),
    N_("occlusion"): Exercise(
        N_("make one copy of the image per square (image.repeat), black out one square in each, run the model once "
           "on the image and all copies, and subtract each copy's target logit from the image's."), _occlusion,
        writes_code=True),
    N_("one factor"): Exercise(
        N_("ConvConfig's settings are listed in conv_workshop/models.py; change one that section 6 left alone, for "
           "example ConvConfig(hidden=64)."), _one_factor),
    N_("head inputs"): Exercise(
        N_("apply section 4.4's formula to the third block's pool (a 2×2 window, stride 2) on the 7×7 maps; it "
           "rounds down."), _head_inputs),
    N_("head parameters"): Exercise(
        N_("a linear layer has one weight per (input, output) pair plus one bias per output; section 4.5 says how "
           "many inputs the head receives."), _head_parameters),
    N_("conv parameters"): Exercise(
        N_("each filter sees every input channel through its own k×k kernel; do not forget one bias per filter."),
        _conv_parameters),
    N_("receptive field"): Exercise(
        N_("add (k − 1) × jump for each layer; the pool doubles the jump for the layers after it "
           "(by_hand.receptive_fields does this)."), _receptive_field),
    N_("GAP parameters"): Exercise(
        N_("the GAP head is one linear layer from 64 averaged channels to 10 classes, with bias."), _gap_parameters),
    N_("unscramble"): Exercise(
        N_("the scrambled image's pixel j is the original pixel order[j]; for each original pixel i you need the "
           "position j where it went (try it on order = [2, 0, 1] by hand)."), _unscramble),
    N_("Grad-CAM resolution"): Exercise(
        N_("which maps does block 2 compute before its pool? (section 4.5's trace)"), _cam_side),
    N_("safe loading"): Exercise(
        N_("torch.load(path, weights_only=True) returns the checkpoint's dictionary and refuses a file that would "
           "run code."), _safe_loading, writes_code=True),
}


# --- Reporting what the learner's code raised ----------------------------------------------------------------------

def _library_roots() -> tuple[Path, ...]:
    roots = {Path(__file__).resolve().parent}  # this package
    roots.update(Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})  # Python, site-packages
    roots.update(Path(p).resolve() for p in sys.path if "-packages" in p)
    roots.update(Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "purelib", "platlib"))
    return tuple(root for root in roots if len(root.parts) > 2)  # never "/" or "/usr": a notebook's cells live there


def _learner_frame(error: BaseException) -> traceback.FrameSummary | None:
    """The last frame of the traceback that is the learner's code: not this package, nor a library, nor Python's."""
    roots, found = _library_roots(), None
    for frame in traceback.extract_tb(error.__traceback__):
        name = frame.filename
        if name.startswith("<frozen"):
            continue
        if not name.startswith("<"):
            path = Path(name).resolve()
            if any(path == root or root in path.parents for root in roots):
                continue
        found = frame
    return found


_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[\\/](?:[\w.\-]+[\\/])+([\w.\-]+)")


def _where(error: BaseException) -> str | None:
    """"line N of your cell" (a notebook cell, or code run from a string), "line N of file.py", or None when no frame
    of the traceback is the learner's (the error came from how the answer was used)."""
    frame = _learner_frame(error)
    if frame is None:
        return None
    name = frame.filename
    if name.startswith("<") or "ipykernel" in name or "ipython-input" in name:
        return _("line {line} of your cell").format(line=frame.lineno)
    return _("line {line} of {file}").format(line=frame.lineno, file=Path(name).name)


def _error_text(error: BaseException) -> str:
    """The exception's message, its first line only, without file paths, at most 300 characters."""
    text = _PATH.sub(r"\1", str(error).strip().splitlines()[0] if str(error).strip() else "")
    return text if len(text) <= 300 else text[:297] + "…"


def check(exercise: str, answer, **context) -> Result:
    """Check an answer; None (the blank) and a stub that still raises NotImplementedError give 'not yet' without the
    hint; any other error, or a wrong answer, gives 'not yet' with what was found and the exercise's hint.

    Used throughout sections 2–9.
    """
    if exercise not in EXERCISES:
        raise ValueError(_("no exercise named {name!r}; the exercises are: {names}").format(
            name=exercise, names=", ".join(EXERCISES)))
    item = EXERCISES[exercise]
    if answer is None:
        return Result(exercise, False, _("replace None with your answer and run the cell again (a wrong answer gets "
                                         "a hint)."))
    if item.writes_code and not callable(answer):
        found = _("your answer is a {kind}; define the function (or class) the cell asks for and pass it by its "
                  "name.").format(kind=type(answer).__name__)
        return Result(exercise, False, _("{found} Hint: {hint}").format(found=found, hint=_(item.hint)))
    try:
        with torch.random.fork_rng(devices=[]):  # the check's own seeds leave the notebook's random state alone
            right, found = item.check(answer, **context)
    except NotImplementedError:
        return Result(exercise, False, _("fill in the code and run the cell again (it still raises "
                                         "NotImplementedError; a wrong answer gets a hint)."))
    except Exception as error:  # noqa: BLE001 - whatever the learner's code raises is "not yet", never a traceback
        text = _error_text(error)
        raised = type(error).__name__ + (f": {text}" if text else "")
        where = _where(error)
        if where is None:
            message = _("checking your answer raised {error}. Hint: {hint}")
        else:
            message = _("your code raised {error} ({where}). Hint: {hint}")
        return Result(exercise, False, message.format(error=raised, where=where, hint=_(item.hint)))
    return Result(exercise, bool(right), found if right else _("{found} Hint: {hint}").format(found=found,
                                                                                                hint=_(item.hint)))
