"""The convolutional layer written out by hand: the operation, its shape and cost arithmetic, pooling, receptive
fields, shift equivariance, and a kernel learned by gradient descent; each checked against PyTorch in the tests.

These functions favour being read over being fast: the notebook shows their source where it teaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from ..data import shift_images, to_float_pixels
from ..i18n import N_, _
from ..models import ReceptiveField, layer_summary

# Hand-designed 3×3 kernels. PyTorch's conv2d slides each one unflipped over the image (cross-correlation), so a
# kernel's layout is the pattern it responds to: positive weights where it wants light, negative where dark.
KERNELS: dict[str, torch.Tensor] = {
    N_("vertical edge (Sobel x)"): torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
    N_("horizontal edge (Sobel y)"): torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]),
    N_("diagonal edge"): torch.tensor([[0.0, 1.0, 2.0], [-1.0, 0.0, 1.0], [-2.0, -1.0, 0.0]]),
    N_("blur (box)"): torch.full((3, 3), 1 / 9),
    N_("sharpen"): torch.tensor([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
}


def _whole_numbers(**values: tuple[int, int]) -> None:
    """Refuse a size, stride or padding that is not a whole number ≥ its least allowed value, naming it."""
    for name, (value, least) in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(_("{name}={value!r}: pass a whole number ≥ {least}").format(name=name, value=value,
                                                                                       least=least))


def _shape(value) -> str:
    return "×".join(map(str, value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


def as_chw(image: torch.Tensor) -> torch.Tensor:
    """One uint8 or float H×W image (or C×H×W) as float C×H×W, in [0, 1] for uint8 input. Used in sections 4.1, 4.3.

    A batch (N×C×H×W) or anything else is refused with the shape received and what to send instead."""
    if not isinstance(image, torch.Tensor) or image.dim() not in (2, 3):
        batch = isinstance(image, torch.Tensor) and image.dim() == 4
        raise ValueError((_("image has shape {shape}: pass one image, H×W or C_in×H×W (this is a batch: call the "
                            "function on images[i], or use F.conv2d)") if batch
                          else _("image has shape {shape}: pass one image, H×W or C_in×H×W")).format(
                             shape=_shape(image)))
    image = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
    return image.unsqueeze(0) if image.dim() == 2 else image


def as_kernels(kernel: torch.Tensor) -> torch.Tensor:
    """A kh×kw kernel (or C_in×kh×kw, or C_out×C_in×kh×kw) as C_out×C_in×kh×kw, the layout of nn.Conv2d.weight."""
    if not isinstance(kernel, torch.Tensor) or kernel.dim() not in (2, 3, 4):
        raise ValueError(_("kernel has shape {shape}: pass kh×kw, C_in×kh×kw or C_out×C_in×kh×kw").format(
            shape=_shape(kernel)))
    while kernel.dim() < 4:
        kernel = kernel.unsqueeze(0)
    return kernel.float()


def checked_layer(image: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, stride: int,
                  padding: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The image as C_in×H×W and the kernel as C_out×C_in×kh×kw, or one ValueError that names the argument, the
    shape received and what is supported (sections 4.1–4.3 and the exercises)."""
    image, kernel = as_chw(image), as_kernels(kernel)
    if kernel.shape[1] != image.shape[0]:
        raise ValueError(_("kernel has shape {shape} (C_in = {c_in}) but the image has {channels} channel(s): give "
                           "the kernel one k×k slice per input channel").format(
            shape=_shape(kernel), c_in=kernel.shape[1], channels=image.shape[0]))
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (kernel.shape[0],)):
        raise ValueError(_("bias has shape {shape}: pass one number per output channel, shape {c_out}").format(
            shape=_shape(bias), c_out=kernel.shape[0]))
    _whole_numbers(stride=(stride, 1), padding=(padding, 0))
    height, width = image.shape[1] + 2 * padding, image.shape[2] + 2 * padding
    if kernel.shape[2] > height or kernel.shape[3] > width:
        raise ValueError(_("a {kh}×{kw} kernel does not fit the {height}×{width} image with padding {padding}: pad "
                           "more or use a smaller kernel").format(kh=kernel.shape[2], kw=kernel.shape[3],
                                                                  height=image.shape[1], width=image.shape[2],
                                                                  padding=padding))
    return image, kernel


def correlate2d(image: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
                padding: int = 0) -> torch.Tensor:
    """What nn.Conv2d computes, with explicit loops: each output is the sum of the kernel times the window under it.

    image: C_in×H×W; kernel: C_out×C_in×kh×kw; returns C_out×H_out×W_out.

    Used in sections 4.1, 4.2.
    """
    image, kernel = checked_layer(image, kernel, bias, stride, padding)
    image = F.pad(image, (padding, padding, padding, padding))  # zeros around the border
    out_channels, _, kh, kw = kernel.shape
    height = (image.shape[1] - kh) // stride + 1
    width = (image.shape[2] - kw) // stride + 1
    out = torch.zeros(out_channels, height, width)
    for o in range(out_channels):
        for i in range(height):
            for j in range(width):
                window = image[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
                out[o, i, j] = (window * kernel[o]).sum() + (bias[o] if bias is not None else 0.0)
    return out


def correlate2d_unfold(image: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None = None,
                       stride: int = 1, padding: int = 0) -> torch.Tensor:
    """The same operation without loops: unfold every window into a column, then one matrix product.

    Used in sections 4.1, 4.3, 4.10.
    """
    image, kernel = checked_layer(image, kernel, bias, stride, padding)
    out_channels, _, kh, kw = kernel.shape
    columns = F.unfold(image.unsqueeze(0), (kh, kw), padding=padding, stride=stride)[0]  # (C_in·kh·kw) × windows
    out = kernel.reshape(out_channels, -1) @ columns  # C_out × windows
    if bias is not None:
        out = out + bias.reshape(-1, 1)
    return out.reshape(out_channels, output_size(image.shape[1], kh, padding, stride), -1)


def convolve2d(image: torch.Tensor, kernel: torch.Tensor, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """Convolution in the mathematical sense: the kernel flipped in both directions, then correlated.

    Used in section 4.2.
    """
    return correlate2d(image, as_kernels(kernel).flip(-1, -2), stride=stride, padding=padding)


def max_pool2d(feature_map: torch.Tensor, size: int = 2, stride: int | None = None) -> torch.Tensor:
    """Max pooling with explicit loops: the largest value of each size×size window (C×H×W in, C×H'×W' out).

    Used in section 4.7.
    """
    stride = size if stride is None else stride
    if not isinstance(feature_map, torch.Tensor) or feature_map.dim() != 3:
        raise ValueError(_("feature_map has shape {shape}: pass one C×H×W map (for a batch, call it on maps[i], or "
                           "use F.max_pool2d)").format(shape=_shape(feature_map)))
    _whole_numbers(size=(size, 1), stride=(stride, 1))
    channels, height, width = feature_map.shape
    if size > min(height, width):
        raise ValueError(_("a {size}×{size} window does not fit the {height}×{width} map: use a smaller size").format(
            size=size, height=height, width=width))
    out_height, out_width = (height - size) // stride + 1, (width - size) // stride + 1
    out = torch.zeros(channels, out_height, out_width)
    for i in range(out_height):
        for j in range(out_width):
            window = feature_map[:, i * stride:i * stride + size, j * stride:j * stride + size]
            out[:, i, j] = window.amax(dim=(1, 2))
    return out


def output_size(n: int, k: int, p: int = 0, s: int = 1) -> int:
    """Output side of a convolution or pooling: ⌊(n + 2p − k) / s⌋ + 1."""
    _whole_numbers(n=(n, 1), k=(k, 1), p=(p, 0), s=(s, 1))
    if k > n + 2 * p:
        raise ValueError(_("a {k}×{k} kernel does not fit a {n}×{n} input with padding {p}").format(k=k, n=n, p=p))
    return (n + 2 * p - k) // s + 1


def same_padding(k: int) -> int:
    """The padding that keeps the size at stride 1: (k − 1) / 2 on each side, whole only for odd k."""
    if k % 2 == 0:
        raise ValueError(_("k={k}: an even kernel needs uneven padding ({per_side} per side) to keep the size").format(
            k=k, per_side=(k - 1) / 2))
    return (k - 1) // 2


def conv_parameters(in_channels: int, out_channels: int, k: int, bias: bool = True) -> int:
    """Weights of one conv layer: each of C_out filters holds C_in × k × k weights, plus its bias."""
    return out_channels * (in_channels * k * k + int(bias))


def conv_macs(in_channels: int, out_channels: int, k: int, out_height: int, out_width: int) -> int:
    """Multiply-accumulates of one conv layer: C_in × k × k for each of C_out × H_out × W_out outputs."""
    return out_channels * out_height * out_width * in_channels * k * k


def receptive_fields(layers: list[tuple[int, int]]) -> list[int]:
    """Receptive field after each layer of (kernel, stride) (section 4.7): r ← r + (k − 1) · j, then j ← j · s, where
    j is the jump; the recurrence itself is models.ReceptiveField.after."""
    field, fields = ReceptiveField(), []
    for layer in layers:
        if len(layer) != 2:
            raise ValueError(_("layer {layer!r}: pass (kernel, stride) pairs, e.g. [(3, 1), (2, 2)]").format(
                layer=layer))
        k, s = layer
        _whole_numbers(kernel=(k, 1), stride=(s, 1))
        field = field.after(k, s)
        fields.append(field.size)
    return fields


def output_size_check(cases: list[tuple[int, int, int, int]]) -> pd.DataFrame:
    """(n, k, p, s) cases: the size output_size predicts beside the size nn.Conv2d produces. Used in section 4.4."""
    rows = []
    for n, k, p, s in cases:
        measured = torch.nn.Conv2d(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, n, n)).shape[-1]
        rows.append({"n": n, "k": k, "p": p, "s": s, "formula": output_size(n, k, p, s), "nn.Conv2d": measured})
    return pd.DataFrame(rows)


def conv_cost_check(model: torch.nn.Module) -> pd.DataFrame:
    """Every convolution of a model, keyed by its layer_summary name: parameters and MACs by formula (conv_parameters,
    conv_macs) beside layer_summary's counts. Used in section 4.6."""
    summary = {row["layer"]: row for row in layer_summary(model)}
    table = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            k, row = module.kernel_size[0], summary[name]
            _channels, height, width = row["output_shape"]
            bias = module.bias is not None
            table.append({  # i18n: key (headers translated where shown)
                "layer": name, "C_in": module.in_channels, "C_out": module.out_channels, "k": k, "bias": bias,
                "output": f"{height}×{width}",
                N_("parameters (formula)"): conv_parameters(module.in_channels, module.out_channels, k, bias),
                N_("parameters (layer_summary)"): row["parameters"],
                N_("MACs (formula)"): conv_macs(module.in_channels, module.out_channels, k, height, width),
                N_("MACs (layer_summary)"): row["macs"],
            })
    return pd.DataFrame(table)


def receptive_field_check(rows: list[dict]) -> pd.DataFrame:
    """The layers of layer_summary rows that widen the receptive field, keyed by their layer_summary name: kernel,
    stride, the field derived with receptive_fields, and layer_summary's column. Used in section 4.7."""
    spatial = [r for r in rows if r["kernel"] is not None and r["type"] != "AdaptiveAvgPool2d"]
    return pd.DataFrame({"layer": [r["layer"] for r in spatial], "kernel": [r["kernel"] for r in spatial],
                         "stride": [r["stride"] for r in spatial],
                         N_("by hand"): receptive_fields([(r["kernel"], r["stride"]) for r in spatial]),
                         "layer_summary": [int(r["receptive_field"]) for r in spatial]})


def shape_trace(config, n: int = 28) -> list[dict]:
    """The default CNN's shapes derived step by step with output_size, down to the inputs of its head.

    Used in section 4.5.
    """
    pad = same_padding(config.kernel_size) if config.padding == "same" else 0
    step, formula, output = N_("step"), N_("formula"), N_("output")  # the table's headers, translated where shown
    channels_in, rows = 1, [{step: _("input"), formula: "", output: (1, n, n)}]
    for block, channels in enumerate(config.channels, start=1):
        for conv in range(1, config.convs_per_block + 1):
            stride = 2 if conv == config.convs_per_block and config.downsample == "stride" else 1
            new = output_size(n, config.kernel_size, pad, stride)
            rows.append({step: _("block {block}, conv {conv} ({kernel}×{kernel}, pad {padding}, stride {stride})")
                         .format(block=block, conv=conv, kernel=config.kernel_size, padding=pad, stride=stride),
                         formula: f"⌊({n} + 2·{pad} − {config.kernel_size}) / {stride}⌋ + 1 = {new}",
                         output: (channels, new, new)})
            n, channels_in = new, channels
        if config.downsample in ("max", "avg"):
            new = output_size(n, 2, 0, 2)
            pool = (_("block {block}, max pool 2×2") if config.downsample == "max"
                    else _("block {block}, avg pool 2×2"))
            rows.append({step: pool.format(block=block), formula: f"⌊({n} + 0 − 2) / 2⌋ + 1 = {new}",
                         output: (channels_in, new, new)})
            n = new
    flat = channels_in * n * n
    rows.append({step: _("flatten"), formula: f"{channels_in} × {n} × {n} = {flat:,}", output: (flat,)})
    return rows


@dataclass(frozen=True)
class ShiftResponse:
    """How convolution, 2×2 max pooling and global average pooling respond to an input moved `shift` pixels right."""

    shift: int
    conv_interior_difference: float  # max |conv(shifted) − shifted(conv)| away from the border: 0 = equivariant
    # share of pooled outputs equal to the pooled map moved by the nearest whole cell, counted where either is non-zero
    # (on the garment: the background is zero in both after the ReLU, and would agree whatever pooling did)
    pool_exact_share: float
    gap_relative_change: float  # |GAP(shifted) − GAP(image)| / GAP(image): 0 = invariant


def shift_right(image: torch.Tensor, pixels: int) -> torch.Tensor:
    """Move a C×H×W map `pixels` to the right, filling the uncovered columns with zeros (data.shift_images)."""
    return shift_images(image, pixels, 0)


def _agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of positions where two maps are equal, among those where either is non-zero (1.0 if both are all zero)."""
    counted = (a != 0) | (b != 0)
    return float((a == b)[counted].float().mean()) if counted.any() else 1.0


def shift_response(image: torch.Tensor, kernel: torch.Tensor, shift: int = 2) -> ShiftResponse:
    """Convolution is shift-equivariant; 2×2 max pooling only for shifts by a multiple of its stride; GAP nearly
    invariant. Measured on one image with one kernel (ReLU after the convolution, as in the CNN).

    Used in section 4.8.
    """
    image, pad, margin = as_chw(image), kernel.shape[-1] // 2, kernel.shape[-1]
    response = correlate2d_unfold(image, kernel, padding=pad).relu()
    moved = correlate2d_unfold(shift_right(image, shift), kernel, padding=pad).relu()
    interior = (moved - shift_right(response, shift))[..., margin:-margin, margin:-margin]
    pooled, pooled_moved = max_pool2d(response), max_pool2d(moved)
    inner = (..., slice(2, -2), slice(2, -2))  # away from the border, where zeros enter
    share = max(_agreement(pooled_moved[inner], shift_right(pooled, cells)[inner])
                for cells in {shift // 2, (shift + 1) // 2})
    gap_change = float((moved.mean() - response.mean()).abs() / response.mean())
    return ShiftResponse(shift, float(interior.abs().max()), share, gap_change)


@dataclass
class KernelFit:
    """A kernel learned from (image, filtered image) pairs: the kernel and the loss after each step."""

    kernel: torch.Tensor
    losses: list[float]


def learn_kernel(images: torch.Tensor, target_kernel: torch.Tensor, steps: int = 500, learning_rate: float = 0.5,
                 seed: int = 0) -> KernelFit:
    """Recover target_kernel from images and their filtered versions by plain gradient descent on squared error.

    Used in section 4.9.
    """
    x = as_chw(images).unsqueeze(1) if images.dim() == 3 else as_chw(images)  # N×1×H×W
    target = F.conv2d(x, as_kernels(target_kernel))
    kernel = torch.randn(1, 1, *target_kernel.shape[-2:], generator=torch.Generator().manual_seed(seed)) * 0.1
    kernel.requires_grad_(True)
    losses = []
    for _step in range(steps):
        loss = F.mse_loss(F.conv2d(x, kernel), target)
        loss.backward()
        with torch.no_grad():
            kernel -= learning_rate * kernel.grad
            kernel.grad = None
        losses.append(float(loss.detach()))
    return KernelFit(kernel.detach()[0, 0], losses)


@dataclass(frozen=True)
class ShiftDemo:
    """The maps behind shift_response, for section 4.8's figure: the input and its moved copy, each through a
    convolution + ReLU and a 2×2 max pool, and the difference between the moved response and the response moved."""

    shift: int
    image: torch.Tensor
    moved: torch.Tensor
    response: torch.Tensor
    moved_response: torch.Tensor
    pooled: torch.Tensor
    moved_pooled: torch.Tensor
    difference: torch.Tensor


def shift_demo(image: torch.Tensor, kernel: torch.Tensor, shift: int = 2) -> ShiftDemo:
    """Section 4.8: one image and its copy moved `shift` pixels right, through conv + ReLU and 2×2 max pooling."""
    image = as_chw(image)
    moved = shift_right(image, shift)
    pad = kernel.shape[-1] // 2
    response = correlate2d_unfold(image, kernel, padding=pad).relu()
    moved_response = correlate2d_unfold(moved, kernel, padding=pad).relu()
    return ShiftDemo(shift=shift, image=image[0], moved=moved[0], response=response[0],
                     moved_response=moved_response[0], pooled=max_pool2d(response)[0],
                     moved_pooled=max_pool2d(moved_response)[0],
                     difference=(moved_response - shift_right(response, shift))[0])


def train_epoch(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, optimizer: torch.optim.Optimizer,
                batch_size: int = 256, seed: int = 0) -> float:
    """One epoch of the plain training loop every PyTorch user writes; returns the mean training loss.

    Used in section 3.2.
    """
    model.train()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    total = 0.0
    for start in range(0, len(labels), batch_size):
        batch = order[start:start + batch_size]
        x = to_float_pixels(images[batch])  # uint8 N×28×28 → float N×1×28×28 in [0, 1]
        optimizer.zero_grad()  # 1. forget the previous batch's gradients
        logits = model(x)  # 2. forward
        loss = F.cross_entropy(logits, labels[batch])  # 3. loss
        loss.backward()  # 4. gradients of the loss with respect to every weight
        optimizer.step()  # 5. move every weight a little against its gradient
        total += float(loss.detach()) * len(batch)
    return total / len(labels)


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean cross-entropy on a labelled set, in eval mode (no dropout, batch norm's running statistics); section 3.2."""
    model.eval()
    return float(F.cross_entropy(model(to_float_pixels(images)), labels))


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images whose highest-scoring class is the label, in eval mode (section 3.2)."""
    model.eval()
    return float((model(to_float_pixels(images)).argmax(1) == labels).float().mean())
