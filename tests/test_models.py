"""The models: output shapes across configs, exact parameter counts, computed flatten sizes, layer summary."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from conv_workshop.models import (
    ConvConfig,
    ConvNet,
    DenseBaseline,
    DenseConfig,
    build_model,
    config_from_dict,
    config_to_dict,
    count_macs,
    count_parameters,
    layer_summary,
)
from conv_workshop.reporting import tables


def test_default_parameter_counts_are_exact():
    # Dense: 784·128+128 + 128·64+64 + 64·10+10.
    assert count_parameters(DenseBaseline()) == 109_386
    # CNN: convs without bias (BN follows) 288 + 9,216 + 18,432 + 36,864; BN 2·(32+32+64+64);
    # head 3,136·128+128 + 128·10+10.
    assert count_parameters(ConvNet()) == 468_010


def test_default_cnn_macs():
    # 28²·32·9 + 28²·32·32·9 + 14²·64·32·9 + 14²·64·64·9 + 3,136·128 + 128·10
    assert count_macs(ConvNet()) == 225_792 + 7_225_344 + 3_612_672 + 7_225_344 + 401_408 + 1_280


GRID = list(itertools.product([3, 5, 7], ["same", "valid"], ["max", "avg", "stride"], ["dense", "gap"],
                              [(32,), (16, 32), (16, 32, 64)], [1, 2]))


@pytest.mark.parametrize("kernel,padding,downsample,head,channels,convs", GRID)
def test_output_shape_across_configs(kernel, padding, downsample, head, channels, convs):
    config = ConvConfig(kernel_size=kernel, padding=padding, downsample=downsample, head=head, channels=channels,
                        convs_per_block=convs)
    try:
        model = ConvNet(config).eval()
    except ValueError as error:  # only valid padding with big kernels and many blocks may run out of pixels
        assert padding == "valid" and "shrinks" in str(error)
        return
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_flatten_size_is_computed_not_typed():
    valid = ConvNet(ConvConfig(padding="valid"))
    # 28 →(two 3×3 valid) 24 → pool 12 →(two valid) 8 → pool 4: 64·4·4 inputs to the dense layer.
    assert valid.head[1].in_features == 64 * 4 * 4
    assert ConvNet().head[1].in_features == 64 * 7 * 7


def test_impossible_config_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="shrinks a 28×28 image"):
        ConvNet(ConvConfig(kernel_size=7, padding="valid", channels=(8, 8, 8)))
    with pytest.raises(ValueError, match="odd size"):
        ConvConfig(kernel_size=4)
    with pytest.raises(ValueError, match="padding"):
        ConvConfig(padding="reflect")


def test_batch_norm_switch_and_stride_downsampling():
    without = ConvNet(ConvConfig(batch_norm=False))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without.modules())
    assert all(m.bias is not None for m in without.modules() if isinstance(m, nn.Conv2d))
    strided = ConvNet(ConvConfig(downsample="stride"))
    assert not any(isinstance(m, nn.MaxPool2d) for m in strided.modules())
    assert [m.stride[0] for m in strided.modules() if isinstance(m, nn.Conv2d)] == [1, 2, 1, 2]


def test_gap_head_parameters_are_the_convolutions_and_one_small_linear_layer():
    small = ConvNet(ConvConfig(head="gap", channels=(16, 32, 64)))
    convs = sum(p.numel() for m in small.features.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))
                for p in m.parameters())
    assert count_parameters(small) == convs + 64 * 10 + 10  # GAP keeps one number per channel: 64 → 10 classes
    assert count_parameters(small) == 72_666
    assert count_parameters(small) < count_parameters(DenseBaseline()) / 1.5
    # the dense head's first layer alone holds most of the default CNN's parameters
    assert count_parameters(ConvNet().head) / count_parameters(ConvNet()) > 0.85


def test_layer_summary_shapes_and_receptive_field():
    rows = layer_summary(ConvNet())
    assert sum(r["parameters"] for r in rows) == 468_010
    convs = [r for r in rows if r["type"] == "Conv2d"]
    assert [r["output_shape"] for r in convs] == [(32, 28, 28), (32, 28, 28), (64, 14, 14), (64, 14, 14)]
    # 3, then +2 per 3×3 conv at stride 1, pooling doubles the step: 3, 5, (pool 6), 10, 14, (pool 16).
    assert [r["receptive_field"] for r in convs] == [3, 5, 10, 14]
    assert rows[[r["type"] for r in rows].index("MaxPool2d", 8)]["receptive_field"] == 16


def test_config_round_trip():
    config = ConvConfig(kernel_size=5, channels=(8, 16, 32), head="gap")
    assert config_from_dict(config_to_dict(config)) == config
    assert config_from_dict(config_to_dict(DenseConfig())) == DenseConfig()
    assert isinstance(build_model(config_from_dict(config_to_dict(config))), ConvNet)


def test_models_take_raw_pixels_and_normalise_inside():
    model = ConvNet().eval()
    normalise = model.features[0]
    x = torch.full((1, 1, 28, 28), float(normalise.mean))
    assert torch.allclose(normalise(x), torch.zeros_like(x), atol=1e-6)


def test_scrambled_models_reorder_pixels_inside_and_keep_their_parameters():
    from conv_workshop.models import PixelPermutation

    scrambled = ConvNet(ConvConfig(scramble=0))
    assert isinstance(scrambled.features[0], PixelPermutation)
    assert count_parameters(scrambled) == count_parameters(ConvNet())
    order = scrambled.features[0].order
    assert torch.equal(order.sort().values, torch.arange(784)) and not torch.equal(order, torch.arange(784))
    assert torch.equal(order, PixelPermutation(0).order) and not torch.equal(order, PixelPermutation(1).order)
    images = torch.rand(3, 1, 28, 28)
    assert torch.equal(scrambled.features[0](images), _permute(images, order))
    assert torch.equal(_permute(scrambled.features[0](images), torch.argsort(order)), images)  # nothing lost
    assert config_from_dict(config_to_dict(ConvConfig(scramble=0))) == ConvConfig(scramble=0)
    assert config_from_dict({k: v for k, v in config_to_dict(ConvConfig()).items() if k != "scramble"}) == ConvConfig()


def test_augmentation_acts_on_the_real_image_before_the_scrambling():
    """The flip the trainer applies commutes with the scrambling as applied: every training input the network body
    sees is P(x) or P(flip(x)), the test-time scrambling of a real image, never flip(P(x))."""
    from conv_workshop.models import PixelPermutation
    from conv_workshop.training import augment_batch

    model = DenseBaseline(DenseConfig(scramble=0))
    seen = []
    model.net[1].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach().clone()))
    # net[0] scrambles, net[1] normalises: what net[1] receives is the scrambled batch
    x = torch.rand(16, 1, 28, 28)
    augmented = augment_batch(x, "flip", torch.Generator().manual_seed(0))  # what fit() feeds the model
    model(augmented)
    permutation = PixelPermutation(0).order
    for i in range(16):
        real = (_permute(x[i:i + 1], permutation), _permute(x[i:i + 1].flip(-1), permutation))
        assert any(torch.equal(seen[0][i:i + 1], r) for r in real)
        assert not torch.equal(seen[0][i:i + 1], _permute(x[i:i + 1], permutation).flip(-1))


def _permute(images: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The oracle: every image's 784 pixels taken in `order`."""
    return images.reshape(len(images), -1)[:, order].reshape(images.shape)


def _brute_force_field(stack: nn.Module, size: int = 48) -> tuple[int, int]:
    """The oracle: the rows and columns of input pixels whose change moves the output's centre unit (autograd)."""
    x = torch.zeros(1, stack[0].in_channels, size, size, requires_grad=True)
    out = stack(x)
    out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()
    touched = x.grad[0].abs().sum(0) > 0
    rows, columns = touched.any(1).nonzero().flatten(), touched.any(0).nonzero().flatten()
    return int(rows.max() - rows.min() + 1), int(columns.max() - columns.min() + 1)


def test_layer_summary_counts_dilation_in_the_receptive_field():
    dilated = nn.Sequential(nn.Conv2d(1, 2, 3, padding=2, dilation=2), nn.Conv2d(2, 2, 3, padding=1))
    fields = [row["receptive_field"] for row in layer_summary(dilated)]
    assert fields == [5, 7]  # a dilated 3×3 spans 5 pixels; the next 3×3 adds 2 more


def test_layer_summary_counts_what_conv2d_accepts_rectangular_grouped_depthwise_and_same_padding():
    """Parameters and MACs against the formulas, receptive fields against autograd; nothing is refused."""
    stack = nn.Sequential(
        nn.Conv2d(4, 8, (3, 5), padding=(1, 2)),  # a 3×5 kernel
        nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False),  # grouped: each filter sees 4 of the 8 channels
        nn.Conv2d(8, 8, 3, stride=(2, 1), padding=1, groups=8),  # depthwise, with a rectangular stride
        nn.AvgPool2d((2, 1)),  # (average, so that autograd sees the whole window; max pool routes to one pixel)
        nn.Conv2d(8, 6, 3, padding="same", dilation=(1, 2)),
        nn.Conv2d(6, 6, 1),  # pointwise
    )
    rows = layer_summary(stack, input_size=(1, 4, 28, 28))
    assert [r["parameters"] for r in rows] == [8 * 4 * 15 + 8, 8 * 4 * 9, 8 * 9 + 8, 0, 6 * 8 * 9 + 6, 6 * 6 + 6]
    x, expected_macs = torch.zeros(1, 4, 28, 28), []
    for layer in stack:
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            expected_macs.append(x[0].numel() * layer.in_channels // layer.groups * kh * kw)
        else:
            expected_macs.append(0)
    assert [r["macs"] for r in rows] == expected_macs
    assert rows[0]["kernel"] == (3, 5) and rows[2]["stride"] == (2, 1) and rows[1]["kernel"] == 3
    for depth in range(1, len(stack) + 1):
        field = rows[depth - 1]["receptive_field"]
        measured = _brute_force_field(stack[:depth])
        assert (field if isinstance(field, tuple) else (field, field)) == measured, (depth, field, measured)


def test_layer_summary_marks_the_field_not_computed_only_where_it_cannot_be_followed():
    stack = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(4), nn.Conv2d(2, 2, 3), nn.Flatten(),
                          nn.Linear(8, 3))
    rows = layer_summary(stack)
    assert rows[0]["receptive_field"] == 3
    assert all(math.isnan(r["receptive_field"]) for r in rows[1:3])  # adaptive windows of varying size
    assert rows[3]["receptive_field"] is None and rows[4]["parameters"] == 27  # counts still hold
    table = tables.layers(rows)
    assert list(table["receptive field"][:4]) == ["3×3", "—", "—", ""]


def test_section_7_4_patches_still_refuse_a_rectangular_layer():
    from conv_workshop.models import spatial_geometry

    with pytest.raises(ValueError, match="rows .* columns"):
        spatial_geometry(nn.Conv2d(1, 2, (3, 1)))


def test_receptive_field_recurrence_matches_a_brute_force_trace():
    """The field of a unit = the input pixels whose change moves it, measured with autograd."""
    from conv_workshop.models import ReceptiveField

    stack = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, padding=1, dilation=1),
                          nn.Conv2d(1, 1, 3, stride=2, padding=1))
    x = torch.zeros(1, 1, 40, 40, requires_grad=True)
    out = stack(x)
    out[0, 0, 4, 4].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    field = ReceptiveField()
    for kernel, stride, padding in ((3, 1, 1), (2, 2, 0), (3, 1, 1), (3, 2, 1)):
        field = field.after(kernel, stride, padding)
    assert rows.max() - rows.min() + 1 <= field.size
    top, _ = field.window(4, 4)
    assert top <= rows.min() and rows.max() < top + field.size
