"""The workshop's exercises: each check takes a learner's answer and says right, or not yet with a hint.

A blank answer (None) is "not yet", never an error, so Run All completes with the exercises untouched. The solutions
live in the notebook (hidden in <details> blocks) and tests/test_exercises.py runs each through its check.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .i18n import N_, _


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


def _number(answer, truth: float, tolerance: float = 0.0) -> tuple[bool, str]:
    value = float(answer)
    if abs(value - truth) <= tolerance:
        return True, _("{answer} is it.").format(answer=answer)
    return False, _("you have {answer}.").format(answer=answer)


def _edge_share(answer, images: torch.Tensor) -> tuple[bool, str]:
    touching = (images[:, :, 0] > 0).any(1) | (images[:, :, -1] > 0).any(1)
    return _number(answer, float(touching.float().mean()), tolerance=0.005)


def _dense_parameters(answer) -> tuple[bool, str]:
    from .models import DenseBaseline, count_parameters

    return _number(answer, count_parameters(DenseBaseline()))


def _step_order(answer) -> tuple[bool, str]:
    steps = [str(step).strip().lower() for step in answer]
    if sorted(steps) != sorted(["zero_grad", "forward", "loss", "backward", "step"]):
        return False, _("use exactly the five names zero_grad, forward, loss, backward, step.")
    rest = [s for s in steps if s != "zero_grad"]
    cleared = steps.index("zero_grad") in (0, len(steps) - 1)
    return ((rest == ["forward", "loss", "backward", "step"] and cleared),
            _("your order: {steps}.").format(steps=" → ".join(steps)))


def _horizontal_edges(answer) -> tuple[bool, str]:
    kernel = torch.as_tensor(answer, dtype=torch.float32)
    if kernel.shape != (3, 3):
        return False, _("the kernel has shape {shape}, not 3×3.").format(shape=tuple(kernel.shape))
    step = torch.zeros(1, 1, 9, 9)
    step[..., 5:, :] = 1.0  # dark above, light below: a horizontal edge
    horizontal = F.conv2d(step, kernel.view(1, 1, 3, 3)).abs().max()
    vertical = F.conv2d(step.transpose(-1, -2), kernel.view(1, 1, 3, 3)).abs().max()
    flat = F.conv2d(torch.ones(1, 1, 5, 5), kernel.view(1, 1, 3, 3)).abs().max()
    right = horizontal > 1e-6 and vertical <= 0.1 * horizontal and flat <= 0.1 * horizontal
    return right, _("response to a horizontal edge {horizontal:.2f}, to a vertical edge {vertical:.2f}, to a flat "
                    "area {flat:.2f}.").format(horizontal=horizontal, vertical=vertical, flat=flat)


# --- Exercises that write code: each runs the learner's function or module against PyTorch on inputs of its own ---

def _function(answer) -> Callable:
    if not callable(answer):
        raise TypeError(_("expected a function (or a class), got {kind}").format(kind=type(answer).__name__))
    return answer


def _output_side(answer) -> tuple[bool, str]:
    side = _function(answer)
    for n, k, padding, stride in itertools.product((6, 7, 14, 28), (1, 2, 3, 5, 7), (0, 1, 2), (1, 2)):
        if k > n + 2 * padding:
            continue
        truth = torch.nn.Conv2d(1, 1, k, stride, padding)(torch.zeros(1, 1, n, n)).shape[-1]
        got = side(n, k, padding, stride)
        if got != truth:
            return False, _("for n={n}, k={k}, padding={padding}, stride={stride} nn.Conv2d gives {truth}, yours "
                            "{got}.").format(n=n, k=k, padding=padding, stride=stride, truth=truth, got=got)
    return True, _("it agrees with nn.Conv2d on every combination.")


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _compare(got, truth: torch.Tensor, what: str) -> tuple[bool, str]:
    got = torch.as_tensor(got)
    if got.shape != truth.shape:
        return False, _("{what}: yours has shape {shape}, PyTorch's {truth_shape}.").format(
            what=what, shape=tuple(got.shape), truth_shape=tuple(truth.shape))
    error = float((got.float() - truth).abs().max())
    if error > 1e-4 * max(1.0, float(truth.abs().max())):
        return False, _("{what}: the largest difference from PyTorch is {error:.3g}.").format(what=what, error=error)
    return True, ""


def _all_match(trials, success: str) -> tuple[bool, str]:
    """The first (learner's output, PyTorch's, case) that differs, or `success`; trials run lazily, one at a time."""
    for got, truth, what in trials:
        right, found = _compare(got, truth, what)
        if not right:
            return False, found
    return True, success


def _strided_correlate(answer) -> tuple[bool, str]:
    correlate = _function(answer)
    cases = ((1, 6, 6, 1, 3, 1), (2, 7, 9, 3, 3, 2), (3, 10, 9, 2, 2, 3), (4, 8, 8, 5, 1, 1))

    def trials():
        for seed, (c_in, height, width, c_out, k, stride) in enumerate(cases):
            image, kernels = _random(c_in, height, width, seed=seed), _random(c_out, c_in, k, k, seed=seed + 10)
            bias = _random(c_out, seed=seed + 20)
            yield (correlate(image, kernels, bias, stride), F.conv2d(image[None], kernels, bias, stride=stride)[0],
                   _("{c_in}×{height}×{width} input, {c_out}×{c_in}×{k}×{k} kernels, stride {stride}").format(
                       c_in=c_in, height=height, width=width, c_out=c_out, k=k, stride=stride))

    return _all_match(trials(), _("it matches F.conv2d on four shapes and strides."))


def _average_pooling(answer) -> tuple[bool, str]:
    pool = _function(answer)
    cases = ((1, 4, 4, 2), (3, 7, 9, 2), (2, 9, 9, 3))
    trials = ((pool(maps, size), F.avg_pool2d(maps[None], size)[0],
               _("a {channels}×{height}×{width} map, size {size}").format(
                   channels=channels, height=height, width=width, size=size))
              for seed, (channels, height, width, size) in enumerate(cases)
              for maps in [_random(channels, height, width, seed=seed)])
    return _all_match(trials, _("it matches F.avg_pool2d, including sizes that do not divide the map."))


def _accuracy(answer) -> tuple[bool, str]:
    from .by_hand import accuracy
    from .data import to_float_pixels
    from .models import DenseBaseline

    measure = _function(answer)
    torch.manual_seed(0)
    model = DenseBaseline()
    images = torch.randint(0, 256, (200, 28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    labels = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        labels[:120] = model.eval()(to_float_pixels(images[:120])).argmax(1)  # so that accuracy is not about 0.1
    truth = accuracy(model, images, labels)
    model.train()  # the learner's function must switch dropout off itself
    got = float(measure(model, images, labels))
    if abs(got - truth) > 1e-6:
        return False, _("yours gives {got:.4f} where by_hand.accuracy gives {truth:.4f} (is dropout off?).").format(
            got=got, truth=truth)
    return True, _("{got:.3f}, as by_hand.accuracy.").format(got=got)


def _small_cnn_reference() -> torch.nn.Module:
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def _shape_trace(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    nn, trace = torch.nn, []
    kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear)
    handles = [m.register_forward_hook(lambda m, i, o: trace.append((type(m).__name__, tuple(o.shape[1:]))))
               for m in model.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(2, 1, 28, 28))
    finally:
        for handle in handles:
            handle.remove()
    return trace


def _small_cnn(answer) -> tuple[bool, str]:
    model = _function(answer)()
    if not isinstance(model, torch.nn.Module):
        return False, _("MyCNN() gave a {kind}, not an nn.Module.").format(kind=type(model).__name__)
    expected, got = _shape_trace(_small_cnn_reference()), _shape_trace(model)
    if got != expected:
        first = next((k for k, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        wanted = expected[first] if first < len(expected) else _("the end of the model")
        found = got[first] if first < len(got) else _("nothing")
        return False, _("step {step} of the shape trace should be {wanted}; yours is {found}.").format(
            step=first + 1, wanted=wanted, found=found)
    parameters = sum(p.numel() for p in model.parameters())
    truth = sum(p.numel() for p in _small_cnn_reference().parameters())
    if parameters != truth:
        return False, _("the shapes are right but it has {parameters:,} parameters, not {truth:,} (biases?).").format(
            parameters=parameters, truth=truth)
    return True, _("every shape matches and it has {truth:,} parameters.").format(truth=truth)


def _occlusion(answer) -> tuple[bool, str]:
    from captum.attr import Occlusion

    from .data import to_float_pixels
    from .models import ConvNet

    occlude = _function(answer)
    torch.manual_seed(0)
    model = ConvNet().eval()
    image = torch.randint(0, 256, (28, 28), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    method, pixels = Occlusion(model), to_float_pixels(image[None])
    def captum(patch: int, target: int) -> torch.Tensor:
        return method.attribute(pixels, target=target, baselines=0.0, sliding_window_shapes=(1, patch, patch),
                                strides=(1, patch, patch))[0, 0, ::patch, ::patch].detach()

    trials = ((occlude(model, image, target, patch), captum(patch, target),
               _("patch {patch}, class {target}").format(patch=patch, target=target))
              for patch, target in ((4, 3), (7, 8)))
    return _all_match(trials, _("it matches Captum's Occlusion for patches of 4 and 7."))


def _one_factor(answer) -> tuple[bool, str]:
    from .models import ConvConfig, ConvNet

    if not isinstance(answer, ConvConfig):
        return False, _("that is a {kind}; write ConvConfig(setting=value).").format(kind=type(answer).__name__)
    reference = ConvConfig()
    changed = [f.name for f in dataclasses.fields(ConvConfig) if getattr(answer, f.name) != getattr(reference, f.name)]
    if not changed:
        return False, _("it changes 0 settings (none), not one.")
    if len(changed) != 1:
        return False, _("it changes {count} settings ({names}), not one.").format(count=len(changed),
                                                                                  names=", ".join(changed))
    ConvNet(answer)  # a setting that cannot build a model raises ValueError: "not yet" with its message
    return True, _("one factor changed: {name} = {value!r}.").format(name=changed[0],
                                                                     value=getattr(answer, changed[0]))


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
        return False, _("it has {entries} entries, not {expected}.").format(entries=inverse.numel(),
                                                                            expected=permutation.numel())
    image = torch.arange(permutation.numel())
    restored = image[permutation][inverse]
    return bool(torch.equal(restored, image)), _("{restored} of {total} pixels restored.").format(
        restored=int((restored == image).sum()), total=image.numel())


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
           "+ 2·padding − k, one every `stride` pixels; // rounds down."), _output_side),
    N_("strided correlate2d"): Exercise(
        N_("the window of output (i, j) starts at row i·stride and column j·stride; there are (H − k) // stride + 1 "
           "rows of outputs; add bias[o] to every output of channel o."), _strided_correlate),
    N_("average pooling"): Exercise(
        N_("the windows are the same as max_pool's in section 4.7; only what is kept of each window changes."),
        _average_pooling),
    N_("accuracy"): Exercise(
        N_("switch dropout off first (model.eval()), convert the images as the training loop does, and take the "
           "class with the highest logit for each image."), _accuracy),
    N_("small CNN"): Exercise(
        N_("put the layers in one nn.Sequential in __init__ (self.layers = nn.Sequential(...)) and return "
           "self.layers(x) in forward; conv_block in section 5.1 shows the pattern."), _small_cnn),
    N_("occlusion"): Exercise(
        N_("make one copy of the image per square (image.repeat), black out one square in each, run the model once "
           "on the image and all copies, and subtract each copy's target logit from the image's."), _occlusion),
    N_("one factor"): Exercise(
        N_("ConvConfig's settings are listed in conv_workshop/models.py; change one, for example "
           "ConvConfig(hidden=64)."), _one_factor),
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
    N_("checkpoint accuracy"): Exercise(
        N_("torch.load(path, weights_only=True) returns a dict; look under 'metrics'."), _checkpoint_accuracy),
}


def check(exercise: str, answer, **context) -> Result:
    """Check an answer; None (the blank) and malformed answers give 'not yet' with the exercise's hint.

    Used throughout sections 2–9.
    """
    if exercise not in EXERCISES:
        raise ValueError(_("no exercise named {name!r}; the exercises are: {names}").format(
            name=exercise, names=", ".join(EXERCISES)))
    item = EXERCISES[exercise]
    if answer is None:
        return Result(exercise, False, _("replace None with your answer and run the cell again (a wrong answer gets "
                                         "a hint)."))
    try:
        right, found = item.check(answer, **context)
    except NotImplementedError:
        return Result(exercise, False, _("fill in the code and run the cell again (it still raises "
                                         "NotImplementedError; a wrong answer gets a hint)."))
    except (TypeError, ValueError, RuntimeError, IndexError, KeyError, AttributeError) as error:
        return Result(exercise, False, _("your code raised {error_type}: {error}. Hint: {hint}").format(
            error_type=type(error).__name__, error=error, hint=_(item.hint)))
    return Result(exercise, bool(right), found if right else _("{found} Hint: {hint}").format(found=found,
                                                                                                hint=_(item.hint)))
