"""The models: a dense baseline, a configurable CNN, and a per-layer summary (shape, params, MACs, receptive field)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from .constants import CLASS_NAMES, IMAGE_SIZE, TRAIN_MEAN, TRAIN_STD


class PixelPermutation(nn.Module):
    """Reorders every image's pixels by one fixed permutation: all information kept, neighbourhoods destroyed.

    As the first layer of a model it scrambles whatever the trainer feeds it, so augmentation (a flip) acts on the
    real image before the scrambling, the same at training and test time.

    Used in section 7.2.
    """

    def __init__(self, seed: int, size: int = IMAGE_SIZE * IMAGE_SIZE):
        super().__init__()
        self.register_buffer("order", torch.randperm(size, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(-2)[..., self.order].reshape(x.shape)


class Normalize(nn.Module):
    """Maps raw pixels in [0, 1] to zero mean / unit variance, so saved and exported models take plain pixels.

    Used in sections 3.1 and 5.1 (the first layer of both models)."""

    def __init__(self, mean: float = TRAIN_MEAN, std: float = TRAIN_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@dataclass
class DenseConfig:
    """The fully connected baseline: every pixel is an independent input feature."""

    hidden: tuple[int, ...] = (128, 64)  # widths of the hidden layers
    dropout: float = 0.2  # dropout after each hidden layer
    num_classes: int = len(CLASS_NAMES)  # output logits
    scramble: int | None = None  # a seed: pixels reordered by that fixed permutation first (the scrambling probe)

    kind = "dense"


@dataclass
class ConvConfig:
    """A CNN built from blocks of (conv → [BN] → ReLU) × convs_per_block, then a downsampling step, then a head.

    Used in sections 4.5, 5.1.
    """

    channels: tuple[int, ...] = (32, 64)  # output channels of each block; len(channels) = number of blocks
    convs_per_block: int = 2  # convolutions before each downsampling step
    kernel_size: int = 3  # square kernel of every convolution
    padding: str = "same"  # "same" keeps the size through a conv, "valid" shrinks it by kernel_size - 1
    downsample: str = "max"  # "max" / "avg" pooling 2×2, or "stride": the block's last conv has stride 2
    batch_norm: bool = True  # BatchNorm after every convolution
    head: str = "dense"  # "dense": flatten → hidden → classes; "gap": global average pool → classes
    hidden: int = 128  # width of the dense head's hidden layer
    dropout: float = 0.3  # dropout before the last linear layer
    num_classes: int = len(CLASS_NAMES)  # output logits
    scramble: int | None = None  # a seed: pixels reordered by that fixed permutation first (the scrambling probe)

    kind = "conv"

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        checks = {
            "padding": (self.padding, ("same", "valid")),
            "downsample": (self.downsample, ("max", "avg", "stride")),
            "head": (self.head, ("dense", "gap")),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"ConvConfig.{name}={value!r}; choose one of {allowed}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"ConvConfig.kernel_size={self.kernel_size}; use an odd size ≥ 1 (3, 5, 7)")
        if not self.channels or self.convs_per_block < 1:
            raise ValueError("ConvConfig needs at least one block and one conv per block")

    def label(self) -> str:
        """A short human-readable name, used in tables and plots."""
        defaults = ConvConfig()
        changed = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                   if getattr(self, f.name) != getattr(defaults, f.name)]
        return "CNN" + (f" ({', '.join(changed)})" if changed else "")


ModelConfig = DenseConfig | ConvConfig


def config_to_dict(config: ModelConfig) -> dict:
    """Plain-data form of a config (saved in checkpoints and results), tagged with its kind."""
    values = asdict(config)
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    return {"kind": config.kind, **values}


def config_from_dict(values: dict) -> ModelConfig:
    values = dict(values)
    kind = values.pop("kind")
    cls = {"dense": DenseConfig, "conv": ConvConfig}[kind]
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


class DenseBaseline(nn.Module):
    """784 → 128 → 64 → 10 with ReLU and dropout: the workshop's non-convolutional reference.

    Used in sections 3.1, 3.2.
    """

    def __init__(self, config: DenseConfig | None = None):
        super().__init__()
        self.config = config or DenseConfig()
        layers: list[nn.Module] = _input_layers(self.config) + [nn.Flatten()]
        width = IMAGE_SIZE * IMAGE_SIZE
        for hidden in self.config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(self.config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, self.config.num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _input_layers(config: ModelConfig) -> list[nn.Module]:
    scramble = [PixelPermutation(config.scramble)] if config.scramble is not None else []
    return [*scramble, Normalize()]


def _conv_block(config: ConvConfig, in_channels: int, out_channels: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    pad = config.kernel_size // 2 if config.padding == "same" else 0
    for i in range(config.convs_per_block):
        last = i == config.convs_per_block - 1
        stride = 2 if (last and config.downsample == "stride") else 1
        # A bias right before BatchNorm is cancelled by BN's mean subtraction, so it is left out.
        layers.append(nn.Conv2d(in_channels, out_channels, config.kernel_size, stride=stride, padding=pad,
                                bias=not config.batch_norm))
        if config.batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
        in_channels = out_channels
    if config.downsample == "max":
        layers.append(nn.MaxPool2d(2))
    elif config.downsample == "avg":
        layers.append(nn.AvgPool2d(2))
    return layers


class ConvNet(nn.Module):
    """The configurable CNN; ConvNet() is the workshop's CNN: two blocks of two 3×3 convs (32, 64), max pool, dense.

    Used in sections 4.5, 4.6, 4.7.
    """

    def __init__(self, config: ConvConfig | None = None):
        super().__init__()
        self.config = config or ConvConfig()
        layers: list[nn.Module] = _input_layers(self.config)
        in_channels = 1
        for out_channels in self.config.channels:
            layers += _conv_block(self.config, in_channels, out_channels)
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        shrinks = ValueError(f"{self.config.label()} shrinks a 28×28 image to nothing; use padding='same' "
                             "or fewer blocks")
        try:
            with torch.no_grad():  # the flatten size is measured with a dry forward pass, never typed
                feature_shape = self.features.eval()(torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE)).shape
        except RuntimeError as error:  # a kernel larger than what is left of the image
            raise shrinks from error
        finally:
            self.features.train()
        if min(feature_shape[2:]) < 1:
            raise shrinks
        if self.config.head == "dense":
            self.head = nn.Sequential(
                nn.Flatten(), nn.Linear(feature_shape[1:].numel(), self.config.hidden), nn.ReLU(inplace=True),
                nn.Dropout(self.config.dropout), nn.Linear(self.config.hidden, self.config.num_classes))
        else:
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(self.config.dropout),
                nn.Linear(feature_shape[1], self.config.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(config: ModelConfig) -> nn.Module:
    """The model a config describes."""
    return DenseBaseline(config) if isinstance(config, DenseConfig) else ConvNet(config)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass(frozen=True)
class ReceptiveField:
    """Where a unit of a layer looks in the input: the receptive field's side, the jump (distance in input pixels
    between neighbouring units) and the centre of the first unit (input pixel coordinates, pixel centres at integers).

    The one home of the recurrence (sections 4.7 and 7.4): a layer with kernel k, stride s, padding p and dilation d
    spans d·(k − 1) + 1 inputs, so r ← r + d·(k − 1)·j, start ← start + (d·(k − 1)/2 − p)·j, then j ← j·s.
    """

    size: int = 1
    jump: int = 1
    start: float = 0.0

    def after(self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> ReceptiveField:
        """The field of the next layer's units."""
        span = dilation * (kernel - 1)
        return ReceptiveField(self.size + span * self.jump, self.jump * stride,
                              self.start + (span / 2 - padding) * self.jump)

    def window(self, row: int, column: int) -> tuple[int, int]:
        """Top-left input pixel of the receptive field of the unit at (row, column)."""
        offset = (self.size - 1) / 2
        return (math.floor(self.start + row * self.jump - offset + 1e-9),
                math.floor(self.start + column * self.jump - offset + 1e-9))


@dataclass(frozen=True)
class LayerGeometry:
    """How a layer moves along one axis of the image: its kernel, stride, padding and dilation there."""

    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1


def axis_geometry(module: nn.Module) -> tuple[LayerGeometry, LayerGeometry] | None:
    """A layer's geometry along the rows and along the columns, for what nn.Conv2d and the 2-D pools accept: a kernel,
    stride, padding and dilation given as one number or as (height, width), and 'valid' / 'same' padding (None for a
    layer that does not move over the image)."""
    if isinstance(module, nn.Conv2d):
        values = (module.kernel_size, module.stride, module.padding, module.dilation)
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        stride = module.stride if module.stride is not None else module.kernel_size
        values = (module.kernel_size, stride, module.padding, getattr(module, "dilation", 1))
    else:
        return None
    kernel, stride, padding, dilation = (tuple(v) * (2 // len(v)) if isinstance(v, (tuple, list)) else
                                         v if isinstance(v, str) else (v, v) for v in values)
    if isinstance(padding, str):  # 'same' pads d·(k − 1) in all, the smaller half first; 'valid' pads nothing
        padding = tuple(d * (k - 1) // 2 if padding == "same" else 0 for k, d in zip(kernel, dilation))
    return tuple(LayerGeometry(int(k), int(s), int(p), int(d))
                 for k, s, p, d in zip(kernel, stride, padding, dilation))


def spatial_geometry(module: nn.Module) -> LayerGeometry | None:
    """The geometry of a layer that moves over the image the same way along both axes (None for others); refuses a
    layer whose rows and columns differ, which one square receptive field cannot describe (section 7.4's patches)."""
    axes = axis_geometry(module)
    if axes is None:
        return None
    if axes[0] != axes[1]:
        raise ValueError(f"{type(module).__name__} moves differently along rows ({axes[0]}) and columns ({axes[1]}): "
                         "a square receptive field cannot describe it")
    return axes[0]


def _adaptive_geometry(module: nn.Module, shape: torch.Size) -> tuple[LayerGeometry, LayerGeometry] | None:
    """A global pool (adaptive, to 1×1) spans its whole input; other adaptive sizes have windows that vary: None."""
    size = module.output_size if isinstance(module.output_size, tuple) else (module.output_size,) * 2
    if tuple(size) != (1, 1):
        return None
    return LayerGeometry(int(shape[-2])), LayerGeometry(int(shape[-1]))


def _one_or_pair(pair: tuple):
    """A square value as one number (3), a rectangular one as (height, width)."""
    return pair[0] if pair[0] == pair[1] else tuple(pair)


def layer_summary(model: nn.Module, input_size: tuple[int, ...] = (1, 1, IMAGE_SIZE, IMAGE_SIZE)) -> list[dict]:
    """One row per leaf layer: name, type, output shape, parameters, multiply-accumulates, receptive field, kernel and
    stride (sections 3.1, 4.5–4.7 and 5.1).

    Whatever nn.Conv2d accepts is counted: rectangular kernels, strides and paddings, 'same' padding, dilation,
    groups (each output sees in_channels / groups channels: depthwise when groups = in_channels). The receptive field
    is followed along rows and columns separately: one number when they agree, (height, width) when they do not; NaN
    ("not computed") from a layer whose windows vary (an adaptive pool to more than 1×1) on; None where there is no
    image (after Flatten)."""
    rows: list[dict] = []
    field: list = [(ReceptiveField(), ReceptiveField())]  # rows, columns so far; None once it cannot be followed

    def hook(module, inputs, output, name):
        params = sum(p.numel() for p in module.parameters(recurse=False))
        macs = 0
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs = output.numel() // output.shape[0] * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            macs = module.in_features * module.out_features
        if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            geometry = _adaptive_geometry(module, inputs[0].shape)
            if geometry is None:
                field[0] = None
        else:
            geometry = axis_geometry(module)
        if geometry is not None and field[0] is not None:
            field[0] = tuple(axis.after(g.kernel, g.stride, g.padding, g.dilation)
                             for axis, g in zip(field[0], geometry))
        spatial = output.dim() == 4 or geometry is not None
        receptive = (None if not spatial else math.nan if field[0] is None else
                     _one_or_pair(tuple(axis.size for axis in field[0])))
        rows.append({
            "layer": name,
            "type": type(module).__name__,
            "output_shape": tuple(output.shape[1:]),
            "parameters": params,
            "macs": macs,
            "receptive_field": receptive,
            "kernel": _one_or_pair(tuple(g.kernel for g in geometry)) if geometry is not None else None,
            "stride": _one_or_pair(tuple(g.stride for g in geometry)) if geometry is not None else None,
        })

    handles = [m.register_forward_hook(lambda mod, i, o, n=n: hook(mod, i, o, n))
               for n, m in model.named_modules() if not list(m.children())]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_size, device=next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return rows


def count_macs(model: nn.Module) -> int:
    """Multiply-accumulates of one forward pass on one 28×28 image (convolutions and linear layers)."""
    return sum(row["macs"] for row in layer_summary(model))
