"""Wrong answers a learner plausibly writes, each named for the mistake it stands for: every exercise's check rejects
every one of them with a message, and one-token mutations of each hidden solution that an independent reference
finds wrong are rejected too."""

from __future__ import annotations

import ast
import copy
import itertools
import math
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conv_workshop.data import to_float_pixels
from conv_workshop.deployment.checkpoint import save_checkpoint
from conv_workshop.lesson import exercises
from conv_workshop.models import ConvConfig, ConvNet, PixelPermutation

from .test_exercises import EXERCISES as NOTEBOOK_EXERCISES
from .test_exercises import writes_code

# --- exercise 3.3: accuracy -----------------------------------------------------------------------------------------


def accuracy_without_eval(model, images, labels):
    with torch.no_grad():
        return float((model(to_float_pixels(images)).argmax(1) == labels).float().mean())


def accuracy_with_gradients(model, images, labels):
    model.eval()
    return float((model(to_float_pixels(images)).argmax(1) == labels).float().mean())


def accuracy_of_the_last_batch(model, images, labels):
    model.eval()
    with torch.no_grad():
        for batch in torch.arange(len(labels)).split(256):
            share = float((model(to_float_pixels(images[batch])).argmax(1) == labels[batch]).float().mean())
    return share


def accuracy_of_the_last_batch_of_1024(model, images, labels):
    model.eval()
    with torch.no_grad():
        for batch in torch.arange(len(labels)).split(1024):
            share = float((model(to_float_pixels(images[batch])).argmax(1) == labels[batch]).float().mean())
    return share


def accuracy_of_the_first_thousand(model, images, labels):
    model.eval()
    with torch.no_grad():
        return float((model(to_float_pixels(images[:1000])).argmax(1) == labels[:1000]).float().mean())


def accuracy_of_the_first_batch(model, images, labels):
    model.eval()
    with torch.no_grad():
        return float((model(to_float_pixels(images[:100])).argmax(1) == labels[:100]).float().mean())


def accuracy_as_the_mean_of_batch_means(model, images, labels):
    model.eval()
    with torch.no_grad():
        shares = [float((model(to_float_pixels(images[b])).argmax(1) == labels[b]).float().mean())
                  for b in torch.arange(len(labels)).split(256)]
    return sum(shares) / len(shares)


def accuracy_as_a_count(model, images, labels):
    model.eval()
    with torch.no_grad():
        return int((model(to_float_pixels(images)).argmax(1) == labels).sum())


def accuracy_as_a_percentage(model, images, labels):
    model.eval()
    with torch.no_grad():
        return 100 * float((model(to_float_pixels(images)).argmax(1) == labels).float().mean())


def accuracy_with_argmax_over_the_batch(model, images, labels):
    model.eval()
    with torch.no_grad():
        return float((model(to_float_pixels(images)).argmax(0) == labels).float().mean())


def accuracy_on_unscaled_pixels(model, images, labels):
    model.eval()
    with torch.no_grad():
        return float((model(images[:, None].float()).argmax(1) == labels).float().mean())


def accuracy_without_a_channel_axis(model, images, labels):
    model.eval()
    with torch.no_grad():  # N×28×28 floats: the dense model flattens them anyway, a convolution reads N as channels
        return float((model(images.float() / 255).argmax(1) == labels).float().mean())


def accuracy_with_integer_division(model, images, labels):
    model.eval()
    with torch.no_grad():
        return int((model(to_float_pixels(images)).argmax(1) == labels).sum()) // len(labels)


# --- exercise 4.2: output side ------------------------------------------------------------------------------------

OUTPUT_SIDE = {
    "padding forgotten": lambda n, k, padding, stride: (n - k) // stride + 1,
    "padding on one side only": lambda n, k, padding, stride: (n + padding - k) // stride + 1,
    "true division": lambda n, k, padding, stride: (n + 2 * padding - k) / stride + 1,
    "rounded up": lambda n, k, padding, stride: math.ceil((n + 2 * padding - k) / stride) + 1,
    "rounded to nearest": lambda n, k, padding, stride: round((n + 2 * padding - k) / stride) + 1,
    "+1 forgotten": lambda n, k, padding, stride: (n + 2 * padding - k) // stride,
    "−1 instead of +1": lambda n, k, padding, stride: (n + 2 * padding - k) // stride - 1,
    "stride ignored": lambda n, k, padding, stride: n + 2 * padding - k + 1,
    "a stride always halves": lambda n, k, padding, stride: (n + 2 * padding - k) // min(stride, 2) + 1,
}


# --- exercise 4.5: strided correlate2d --------------------------------------------------------------------------

def _correlate(image, kernels, bias, stride, *, start=0, row_stride=None, column_stride=None, channels=None,
               flip=False, with_bias=True):
    (c_out, _, k, _), (_, height, width) = kernels.shape, image.shape
    row_stride = stride if row_stride is None else row_stride
    column_stride = stride if column_stride is None else column_stride
    out = torch.zeros(c_out, (height - k) // stride + 1, (width - k) // stride + 1)
    for o, i, j in itertools.product(*map(range, out.shape)):
        window = image[:channels, i * row_stride + start:i * row_stride + start + k,
                       j * column_stride:j * column_stride + k]
        kernel = kernels[o, :channels].flip(-1, -2) if flip else kernels[o, :channels]
        out[o, i, j] = (window * kernel).sum() + (bias[o] if with_bias else 0)
    return out


def correlate_in_place_flip(image, kernels, bias, stride):
    kernels.copy_(kernels.flip(-1, -2))  # a convolution, by flipping the learner's own copy... of PyTorch's tensor
    return _correlate(image, kernels, bias, stride)


CORRELATE = {
    "bias forgotten": lambda image, kernels, bias, stride: _correlate(image, kernels, bias, stride, with_bias=False),
    "a convolution (kernel flipped)": lambda image, kernels, bias, stride: _correlate(image, kernels, bias, stride,
                                                                                      flip=True),
    "kernel flipped in place": correlate_in_place_flip,
    "stride only in the output size": lambda image, kernels, bias, stride: _correlate(image, kernels, bias, stride,
                                                                                      row_stride=1, column_stride=1),
    "first input channel only": lambda image, kernels, bias, stride: _correlate(image, kernels, bias, stride,
                                                                                channels=1),
    "windows one row late": lambda image, kernels, bias, stride: _correlate(image, kernels, bias, stride, start=1),
    "NaN of the right shape": lambda image, kernels, bias, stride: torch.full_like(
        F.conv2d(image[None], kernels, bias, stride=stride)[0], float("nan")),
    "bias added once per input channel": lambda image, kernels, bias, stride: F.conv2d(
        image[None], kernels, bias * image.shape[0], stride=stride)[0],
}


# --- exercise 4.6: average pooling --------------------------------------------------------------------------------

def _pool(feature_map, size, *, reduce="mean", divisor=None, stride=None, offset=0):
    channels, height, width = feature_map.shape
    stride = size if stride is None else stride
    rows, columns = (height - size) // stride + 1, (width - size) // stride + 1
    out = torch.zeros(channels, rows, columns)
    for i, j in itertools.product(range(rows), range(columns)):
        window = feature_map[:, i * stride + offset:i * stride + offset + size, j * stride:j * stride + size]
        if reduce == "max":
            out[:, i, j] = window.amax(dim=(1, 2))
        elif divisor is not None:
            out[:, i, j] = window.sum(dim=(1, 2)) / divisor(size)
        else:
            out[:, i, j] = window.mean(dim=(1, 2))
    return out


def pool_after_an_in_place_relu(feature_map, size):
    feature_map.clamp_(min=0)  # "pooling comes after the ReLU": applied to the caller's tensor
    return _pool(feature_map, size)


def pool_in_place(feature_map, size):
    feature_map /= size * size  # scales the learner's input (PyTorch's tensor) before summing windows
    return _pool(feature_map, size, divisor=lambda s: 1)


AVERAGE_POOLING = {
    "max instead of mean": lambda maps, size: _pool(maps, size, reduce="max"),
    "sum instead of mean": lambda maps, size: _pool(maps, size, divisor=lambda s: 1),
    "divided by size, not size²": lambda maps, size: _pool(maps, size, divisor=lambda s: s),
    "overlapping windows (stride 1)": lambda maps, size: _pool(maps, size, stride=1),
    "channels averaged together": lambda maps, size: _pool(maps, size).mean(0, keepdim=True),
    "windows one window late (the last is empty: NaN)": lambda maps, size: _pool(maps, size, offset=size),
    "size ignored (always 2)": lambda maps, size: _pool(maps, 2),
    "NaN of the right shape": lambda maps, size: torch.full_like(F.avg_pool2d(maps[None], size)[0], float("nan")),
    "input scaled in place": pool_in_place,
    "a ReLU applied to the input in place": pool_after_an_in_place_relu,
}


# --- exercise 5.2: the small CNN ------------------------------------------------------------------------------------

def _small_cnn_class(*, relu=True, returns=True, use_norm=True, final=None, flatten="flatten", bias=False,
                     pool=nn.MaxPool2d, relu_first=False, second_pool=True, channels=(16, 32), padding=1,
                     dropout=None, activation=F.relu, without_gradients=False):
    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            a, b = channels
            self.conv1, self.bn1 = nn.Conv2d(1, a, 3, padding=padding, bias=bias), nn.BatchNorm2d(a)
            self.conv2, self.bn2 = nn.Conv2d(a, b, 3, padding=padding, bias=bias), nn.BatchNorm2d(b)
            self.pool, self.gap, self.linear = pool(2), nn.AdaptiveAvgPool2d(1), nn.Linear(b, 10)
            self.dropout = nn.Dropout(dropout) if dropout else None

        def block(self, x, conv, norm, pool_it=True):
            x = conv(x)
            if relu_first:
                x = norm(activation(x))
            else:
                x = norm(x) if use_norm else x
                x = activation(x) if relu else x
            return self.pool(x) if pool_it else x

        def forward(self, x):
            if without_gradients:
                with torch.no_grad():
                    return self.layers(x)
            return self.layers(x)

        def layers(self, x):
            x = self.block(self.block(x, self.conv1, self.bn1), self.conv2, self.bn2, pool_it=second_pool)
            x = self.gap(x)
            x = x.squeeze() if flatten == "squeeze" else x.flatten(1)
            x = self.dropout(x) if self.dropout is not None else x
            logits = self.linear(x)
            if final is not None:
                logits = final(logits)
            if returns:
                return logits

    return Wrong


SMALL_CNN = {
    "no ReLU": _small_cnn_class(relu=False),
    "forward forgets to return": _small_cnn_class(returns=False),
    "batch norm built, never called": _small_cnn_class(use_norm=False),
    "ends in a softmax": _small_cnn_class(final=lambda logits: logits.softmax(1)),
    "ends in a log-softmax": _small_cnn_class(final=lambda logits: logits.log_softmax(1)),
    "squeeze instead of flatten (a batch of one breaks)": _small_cnn_class(flatten="squeeze"),
    "convolutions with a bias": _small_cnn_class(bias=True),
    "ReLU before batch norm": _small_cnn_class(relu_first=True),
    "sigmoid instead of ReLU": _small_cnn_class(activation=torch.sigmoid),
    "tanh instead of ReLU": _small_cnn_class(activation=torch.tanh),
    "leaky ReLU instead of ReLU": _small_cnn_class(activation=F.leaky_relu),
    "GELU instead of ReLU": _small_cnn_class(activation=F.gelu),
    "a ReLU after the last linear layer": _small_cnn_class(final=F.relu),
    "returns the first image's logits only": _small_cnn_class(final=lambda logits: logits[0]),
    "returns the predicted classes (argmax)": _small_cnn_class(final=lambda logits: logits.argmax(1)),
    "output detached from the graph": _small_cnn_class(final=lambda logits: logits.detach()),
    "torch.no_grad() inside forward": _small_cnn_class(without_gradients=True),
    "no padding ('valid')": _small_cnn_class(padding=0),
    "a dropout layer the model does not have": _small_cnn_class(dropout=0.5),
}


# --- exercise 8.2: occlusion ------------------------------------------------------------------------------------

def _occlude(model, image, target, patch, *, eval_mode=True, sign=1, fill=0, probabilities=False, copy_image=True,
             transpose=False, scale=True, absolute=False, partial_squares=False):
    side = len(range(0, image.shape[-1], patch)) if partial_squares else image.shape[-1] // patch
    hidden = image.repeat(side * side, 1, 1) if copy_image else None
    for n, (i, j) in enumerate(itertools.product(range(side), range(side))):
        if copy_image:
            hidden[n, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch] = fill
        else:  # blacks out the image itself, one square after another, and keeps each version
            image[i * patch:(i + 1) * patch, j * patch:(j + 1) * patch] = fill
            hidden = image[None].clone() if hidden is None else torch.cat([hidden, image[None].clone()])
    if eval_mode:
        model.eval()
    batch = torch.cat([image[None], hidden])
    with torch.no_grad():
        logits = model(to_float_pixels(batch) if scale else batch[:, None].float())
        scores = (logits.softmax(1) if probabilities else logits)[:, target]
    drop = sign * (scores[0] - scores[1:]).reshape(side, side)
    drop = drop.T if transpose else drop
    return drop.abs() if absolute else drop


OCCLUSION = {
    "model.eval() forgotten": lambda m, image, t, p: _occlude(m, image, t, p, eval_mode=False),
    "sign reversed (copy − image)": lambda m, image, t, p: _occlude(m, image, t, p, sign=-1),
    "squares filled white": lambda m, image, t, p: _occlude(m, image, t, p, fill=255),
    "probabilities instead of logits": lambda m, image, t, p: _occlude(m, image, t, p, probabilities=True),
    "the image itself blacked out (no copy)": lambda m, image, t, p: _occlude(m, image, t, p, copy_image=False),
    "map transposed (columns as rows)": lambda m, image, t, p: _occlude(m, image, t, p, transpose=True),
    "squares that do not fit counted (range(0, 28, patch))": lambda m, image, t, p: _occlude(
        m, image, t, p, partial_squares=True),
    "NaN of the right shape": lambda m, image, t, p: torch.full((28 // p, 28 // p), float("nan")),
}


# --- exercise 9.1: safe loading ---------------------------------------------------------------------------------

# The unsafe loaders below are wrong answers the check must reject: they only ever open the files the check itself
# writes (two checkpoints and one whose pickle raises a flag), never a shipped artifact.
def load_without_safety(path):
    return torch.load(path, weights_only=False)


def load_from_an_open_file_without_safety(path):
    with open(path, "rb") as handle:
        return torch.load(handle, weights_only=False, map_location="cpu")


def load_with_pickle(path):
    with open(path, "rb") as handle:
        return pickle.load(handle)  # noqa: S301 - the mistake under test


def load_metrics_only(path):
    return torch.load(path, weights_only=True)["metrics"]


def load_state_dict_only(path):
    return torch.load(path, weights_only=True)["state_dict"]


def load_the_accuracy(path):
    return torch.load(path, weights_only=True)["metrics"]["test_accuracy"]


def load_and_forget_to_return(path):
    torch.load(path, weights_only=True)


def load_the_notebook_file(path, fixed: list = []):  # noqa: B006 - remembers the first path it was given
    fixed.append(path)
    return torch.load(fixed[0], weights_only=True)


SAFE_LOADING = {
    "weights_only=False": load_without_safety,
    "weights_only=False on an open file": load_from_an_open_file_without_safety,
    "pickle.load": load_with_pickle,
    "returns the metrics only": load_metrics_only,
    "returns the state dict only": load_state_dict_only,
    "returns the accuracy, not the checkpoint": load_the_accuracy,
    "forgets to return": load_and_forget_to_return,
    "ignores path (always the same file)": load_the_notebook_file,
}


ACCURACY = {
    "model.eval() forgotten": accuracy_without_eval,
    "torch.no_grad() forgotten": accuracy_with_gradients,
    "only the last batch counted": accuracy_of_the_last_batch,
    "only the last batch counted (batches of 1,024)": accuracy_of_the_last_batch_of_1024,
    "only the first 1,000 images counted": accuracy_of_the_first_thousand,
    "mean of batch accuracies (a short last batch weighs too much)": accuracy_as_the_mean_of_batch_means,
    "a count, not a share": accuracy_as_a_count,
    "a percentage": accuracy_as_a_percentage,
    "integer division": accuracy_with_integer_division,
    "no channel axis (works for the dense model only)": accuracy_without_a_channel_axis,
}

# {exercise: {mistake: answer}} for the exercises that write code; each needs at least eight
CODE_MISTAKES = {"accuracy": ACCURACY, "output side": OUTPUT_SIDE, "strided correlate2d": CORRELATE,
                 "average pooling": AVERAGE_POOLING, "small CNN": SMALL_CNN, "occlusion": OCCLUSION,
                 "safe loading": SAFE_LOADING}


# --- exercises whose answer is a value: the near misses their tolerance must separate ---------------------------

def _edge_images():
    """3,000 images as Fashion-MNIST's are: most that touch an edge touch both, so one edge alone nearly counts them."""
    images = torch.zeros(3000, 28, 28, dtype=torch.uint8)
    images[:1113, 5, 0] = 9  # the left edge: 1,100 with the right edge too, 13 alone
    images[1113:1115, 9, -1] = 9  # 2 alone
    images[:1100, 20, -1] = 9  # the right edge: 1,102
    images[1115:1115 + 1500, 14, 14] = 9
    return images  # 1,115 of 3,000 touch an edge: 0.3717


VALUE_MISTAKES = {
    "edge share": {
        "right edge only": (1102 / 3000, {"images": _edge_images()}),
        "left edge only": (1113 / 3000, {"images": _edge_images()}),
        "both edges counted twice": (2215 / 3000, {"images": _edge_images()}),
        "a percentage": (100 * 1115 / 3000, {"images": _edge_images()}),
        "rounded to two decimals": (round(1115 / 3000, 2), {"images": _edge_images()}),
        "rounded to three decimals": (round(1115 / 3000, 3), {"images": _edge_images()}),
        "NaN": (float("nan"), {"images": _edge_images()}),
    },
    "horizontal edge kernel": {
        "leaks 10 % on a flat area": (torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.1]]), {}),
        "Sobel-x (vertical edges)": (torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]), {}),
        "answers vertical edges at 5 % (Sobel-y + 0.05 Sobel-x)": (
            torch.tensor([[-1.0, -2.0, -1.0], [0.0] * 3, [1.0, 2.0, 1.0]])
            + 0.05 * torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]), {}),
        "uneven columns (a vertical edge leaks)": (torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0],
                                                                 [1.0, 1.0, 0.9]]) + torch.tensor([[0, 0, 0.1]] * 3),
                                                   {}),
        "NaN": (torch.full((3, 3), float("nan")), {}),
        "2×3, not 3×3": (torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]), {}),
    },
    "one factor": {
        "a kernel size section 6 tested": (ConvConfig(kernel_size=5), {}),
        "batch norm off (tested)": (ConvConfig(batch_norm=False), {}),
        "'valid' padding (tested)": (ConvConfig(padding="valid"), {}),
        "five classes (training would crash)": (ConvConfig(num_classes=5), {}),
        "scrambled pixels (section 7.2's probe)": (ConvConfig(scramble=0), {}),
        "dropout 1 (nothing learns)": (ConvConfig(dropout=1.0), {}),
        "hidden width 0 (nothing reaches the classes)": (ConvConfig(hidden=0), {}),
        "average pooling (tested)": (ConvConfig(downsample="avg"), {}),
        "a GAP head (tested)": (ConvConfig(head="gap"), {}),
        "one conv per block (tested)": (ConvConfig(convs_per_block=1), {}),
        "two factors": (ConvConfig(dropout=0.5, hidden=64), {}),
        "no change": (ConvConfig(), {}),
        "a dict, not a ConvConfig": ({"dropout": 0.5}, {}),
    },
    "unscramble": {
        "the permutation itself": (PixelPermutation(0).order, {"permutation": PixelPermutation(0).order}),
        "positions as floats": (PixelPermutation(0).order.argsort().float(),
                                {"permutation": PixelPermutation(0).order}),
        "too short": (PixelPermutation(0).order.argsort()[:-1], {"permutation": PixelPermutation(0).order}),
    },
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("mistakes") / "best_model.pth", ConvNet(), {},
                           {"test_accuracy": 0.9123})


def _context(name: str, checkpoint: Path) -> dict:
    return {"path": checkpoint} if name == "safe loading" else {}


@pytest.mark.parametrize("name,mistake", [(name, mistake) for name, answers in CODE_MISTAKES.items()
                                          for mistake in answers])
def test_each_code_mistake_is_not_yet_with_a_message(name, mistake, checkpoint):
    result = exercises.check(name, CODE_MISTAKES[name][mistake], **_context(name, checkpoint))
    assert not result.right, f"{name}: the mistake “{mistake}” passes: {result}"
    assert str(result).startswith("✗ not yet") and "Hint:" in str(result) and "Traceback" not in str(result)


@pytest.mark.parametrize("name,mistake", [(name, mistake) for name, answers in VALUE_MISTAKES.items()
                                          for mistake in answers])
def test_each_near_miss_is_not_yet(name, mistake):
    answer, context = VALUE_MISTAKES[name][mistake]
    result = exercises.check(name, answer, **context)
    assert not result.right, f"{name}: the near miss “{mistake}” passes: {result}"
    assert "Hint:" in str(result)


def test_every_code_writing_exercise_has_at_least_eight_named_mistakes():
    code_exercises = {e["name"] for e in NOTEBOOK_EXERCISES if writes_code(e)}
    assert code_exercises == set(CODE_MISTAKES)
    assert all(len(answers) >= 8 for answers in CODE_MISTAKES.values()), {k: len(v) for k, v in CODE_MISTAKES.items()}


def test_the_messages_name_the_mistake_where_it_can_be_told():
    def message(name, answer, **context):
        return str(exercises.check(name, answer, **context))

    assert "training mode" in message("accuracy", accuracy_without_eval)
    assert "torch.no_grad" in message("accuracy", accuracy_with_gradients)
    assert "percentage" in message("accuracy", accuracy_as_a_percentage)
    assert "NaN" in message("average pooling", AVERAGE_POOLING["windows one window late (the last is empty: NaN)"])
    assert "in place" in message("strided correlate2d", correlate_in_place_flip)
    assert "return" in message("small CNN", SMALL_CNN["forward forgets to return"])
    assert "bn1" in message("small CNN", SMALL_CNN["batch norm built, never called"])
    assert "softmax" in message("small CNN", SMALL_CNN["ends in a softmax"])
    assert "batch of one" in message("small CNN", SMALL_CNN["squeeze instead of flatten (a batch of one breaks)"])
    assert "training mode" in message("occlusion", OCCLUSION["model.eval() forgotten"])
    assert "in place" in message("occlusion", OCCLUSION["the image itself blacked out (no copy)"])
    assert "section 6 already trained" in message("one factor", ConvConfig(kernel_size=5))
    assert "10 classes" in message("one factor", ConvConfig(num_classes=5))
    assert "percentage" in message("edge share", 100 * 1115 / 3000, images=_edge_images())
    assert "gradient" in message("small CNN", SMALL_CNN["output detached from the graph"])


def test_the_safe_answer_is_right_and_running_the_hostile_file_is_named(checkpoint):
    assert exercises.check("safe loading", lambda path: torch.load(path, weights_only=True), path=checkpoint).right
    assert exercises.check("safe loading", lambda path: torch.load(path), path=checkpoint).right  # safe by default
    assert "ran it" in str(exercises.check("safe loading", load_without_safety, path=checkpoint))


def test_a_correct_answer_written_another_way_is_right():
    """Any correct layout passes: the check matches weights by the order forward uses them, not by names."""
    class Reordered(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(32, 10)  # declared first, used last
            self.norms = nn.ModuleList([nn.BatchNorm2d(16), nn.BatchNorm2d(32)])
            self.convs = nn.ModuleList([nn.Conv2d(1, 16, 3, padding="same", bias=False),
                                        nn.Conv2d(16, 32, 3, padding=1, bias=False)])

        def forward(self, x):
            for conv, norm in zip(self.convs, self.norms):
                x = F.max_pool2d(F.relu(norm(conv(x))), 2)
            return self.head(x.mean(dim=(2, 3)))

    assert exercises.check("small CNN", Reordered).right
    assert exercises.check("strided correlate2d", lambda image, kernels, bias, stride: F.conv2d(
        image[None], kernels, bias, stride=stride)[0]).right
    assert exercises.check("average pooling", lambda maps, size: F.avg_pool2d(maps[None], size)[0]).right
    sobel_y_reversed = torch.tensor([[1.0, 2.0, 1.0], [0.0] * 3, [-1.0, -2.0, -1.0]])
    assert exercises.check("horizontal edge kernel", sobel_y_reversed).right
    assert exercises.check("edge share", 0.3717, images=_edge_images()).right  # typed to four decimals
    assert exercises.check("one factor", ConvConfig(kernel_size=1)).right  # a value section 6 did not try


# --- errors of any type: "not yet", the exception's name and the line of the learner's cell -----------------------

def test_any_exception_in_the_learners_code_is_not_yet_with_its_name_and_line():
    scope = {"torch": torch}
    exec(compile("def my_avg_pool2d(feature_map, size):\n    x = 1\n    return undefined_name\n", "<string>", "exec"),
         scope)  # noqa: S102 - a learner's cell
    result = exercises.check("average pooling", scope["my_avg_pool2d"])
    assert not result.right
    assert "NameError" in str(result) and "line 3 of your cell" in str(result) and "Hint:" in str(result)
    assert "/" not in str(result).split("Hint:")[0].replace("÷", ""), "no file path in the message"

    class Odd(Exception):
        pass

    def raises_its_own(maps, size):
        raise Odd("/home/someone/secret/file.py went wrong")

    result = exercises.check("average pooling", raises_its_own)
    assert "Odd" in str(result) and "/home/someone" not in str(result)
    for error in (ZeroDivisionError, AssertionError, StopIteration, RecursionError, OverflowError, ImportError):
        def raising(*args, error=error):
            raise error("boom")
        assert "✗ not yet" in str(exercises.check("strided correlate2d", raising)), error


def test_a_stub_that_still_raises_not_implemented_is_not_yet_without_the_hint():
    def stub(*args):
        raise NotImplementedError("fill me in")

    result = str(exercises.check("occlusion", stub))
    assert "✗ not yet" in result and "Hint:" not in result and "NotImplementedError" in result


# --- one-token mutations of the hidden solutions, confirmed wrong by an independent reference -----------------------

_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Div, ast.Div: ast.FloorDiv}
_NAMES = {"mean": "sum", "sum": "mean", "amax": "amin", "eval": "train", "argmax": "argmin"}


def _mutants(source: str):
    """Each version of `source` with one operator, one whole-number constant or one method name changed."""
    count = sum(1 for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.BinOp) or isinstance(node, ast.Constant) and type(node.value) is int
                or isinstance(node, ast.Attribute) and node.attr in _NAMES)
    for target in range(count):
        tree, seen = ast.parse(source), -1
        for node in ast.walk(tree):
            if isinstance(node, ast.BinOp) or isinstance(node, ast.Constant) and type(node.value) is int \
                    or isinstance(node, ast.Attribute) and node.attr in _NAMES:
                seen += 1
                if seen != target:
                    continue
                if isinstance(node, ast.BinOp):
                    swap = _SWAPS.get(type(node.op))
                    if swap is None:
                        break
                    node.op = swap()
                elif isinstance(node, ast.Constant):
                    node.value += 1
                else:
                    node.attr = _NAMES[node.attr]
                yield ast.unparse(tree)
                break


def _reference_finds_wrong(name: str, answer) -> bool:
    """An independent oracle, on inputs the checks do not use: True when the answer raises or differs."""
    try:
        if name == "output side":
            return any(answer(n, k, p, s) != (n + 2 * p - k) // s + 1
                       for n, k, p, s in itertools.product((8, 9, 27), (1, 3, 4), (0, 1, 2), (1, 2, 3)))
        generator = torch.Generator().manual_seed(99)
        if name == "strided correlate2d":
            image = torch.randn(2, 8, 11, generator=generator)
            kernels, bias = torch.randn(3, 2, 3, 3, generator=generator), torch.randn(3, generator=generator)
            truth = F.conv2d(image[None], kernels, bias, stride=2)[0]
            return not torch.allclose(answer(image, kernels, bias, 2), truth, atol=1e-4)
        if name == "average pooling":
            maps = torch.randn(2, 9, 10, generator=generator)
            return not torch.allclose(torch.as_tensor(answer(maps, 3)), F.avg_pool2d(maps[None], 3)[0], atol=1e-5)
        if name == "accuracy":
            model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 10))
            images = torch.randint(0, 256, (50, 28, 28), generator=generator, dtype=torch.uint8)
            labels = torch.randint(0, 10, (50,), generator=generator)
            with torch.no_grad():
                labels[:30] = model.eval()(to_float_pixels(images[:30])).argmax(1)
                truth = float((model(to_float_pixels(images)).argmax(1) == labels).float().mean())
            return abs(float(answer(model.train(), images, labels)) - truth) > 1e-9
        if name == "occlusion":
            model = ConvNet().eval()
            image = torch.randint(0, 256, (28, 28), generator=generator, dtype=torch.uint8)
            got = answer(copy.deepcopy(model), image.clone(), 2, 7)
            with torch.no_grad():
                base = model(to_float_pixels(image[None]))[0, 2]
                expected = torch.zeros(4, 4)
                for i, j in itertools.product(range(4), range(4)):
                    hidden = image.clone()
                    hidden[i * 7:(i + 1) * 7, j * 7:(j + 1) * 7] = 0
                    expected[i, j] = base - model(to_float_pixels(hidden[None]))[0, 2]
            return not torch.allclose(got, expected, atol=1e-4)
        if name == "small CNN":
            mine, theirs = answer(), exercises._small_cnn_reference()
            shapes = [t.shape for t in mine.state_dict().values()]
            if shapes != [t.shape for t in theirs.state_dict().values()]:
                return True
            mine.load_state_dict(dict(zip(mine.state_dict(), theirs.state_dict().values())))
            x = torch.rand(3, 1, 28, 28, generator=generator)
            with torch.no_grad():
                return not torch.allclose(mine.eval()(x), theirs.eval()(x), atol=1e-5)
        if name == "safe loading":
            return False  # its solution is one call: no mutation of it keeps running and still loads
    except Exception:  # noqa: BLE001 - a mutant that raises is wrong
        return True
    raise AssertionError(f"no reference for {name}")


@pytest.mark.parametrize("exercise", [e for e in NOTEBOOK_EXERCISES if writes_code(e)], ids=lambda e: e["name"])
def test_one_token_mutations_of_the_solution_that_are_wrong_are_rejected(exercise, checkpoint):
    namespace = {"torch": torch, "nn": nn, "F": F, "itertools": itertools, "to_float_pixels": to_float_pixels}
    confirmed, passed = 0, []
    for mutant in _mutants(exercise["solution"]):
        scope = dict(namespace)
        try:
            exec(mutant, scope)  # noqa: S102 - a mutation of the notebook's own solution
        except Exception:  # noqa: BLE001 - a mutant that does not even run is not a learner's near miss
            continue
        answer = scope[exercise["variable"]]
        if not _reference_finds_wrong(exercise["name"], answer):
            continue  # equivalent to the solution on the oracle's inputs
        confirmed += 1
        if exercises.check(exercise["name"], answer, **_context(exercise["name"], checkpoint)).right:
            passed.append(mutant)
    assert not passed, f"{len(passed)} wrong mutants pass, the first:\n{passed[0]}"
    if exercise["name"] != "safe loading":
        assert confirmed >= 3, f"only {confirmed} mutants of {exercise['name']} were confirmed wrong"
