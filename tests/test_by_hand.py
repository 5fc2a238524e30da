"""The convolution by hand agrees with PyTorch: loops and unfold against F.conv2d (stride, padding, channels,
bias), pooling, output sizes, parameters, MACs, receptive fields, shapes, equivariance and learning a kernel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conv_workshop.lesson import by_hand
from conv_workshop.models import ConvConfig, ConvNet, DenseBaseline, layer_summary


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 0), (2, 1), (3, 2)])
@pytest.mark.parametrize("c_in,c_out,k", [(1, 1, 3), (3, 4, 3), (2, 5, 5)])
def test_loops_and_unfold_match_conv2d(stride, padding, c_in, c_out, k):
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(c_in, 12, 11, generator=generator)
    kernel = torch.randn(c_out, c_in, k, k, generator=generator)
    bias = torch.randn(c_out, generator=generator)
    expected = F.conv2d(image[None], kernel, bias, stride=stride, padding=padding)[0]
    torch.testing.assert_close(by_hand.correlate2d(image, kernel, bias, stride, padding), expected)
    torch.testing.assert_close(by_hand.correlate2d_unfold(image, kernel, bias, stride, padding), expected)


def test_uint8_images_are_scaled_and_single_kernels_broadcast():
    image = torch.randint(0, 256, (28, 28), dtype=torch.uint8)
    kernel = by_hand.KERNELS["sharpen"]
    expected = F.conv2d(image[None, None].float() / 255, kernel[None, None], padding=1)[0]
    torch.testing.assert_close(by_hand.correlate2d(image, kernel, padding=1), expected)


def test_pytorch_correlates_and_convolution_flips_the_kernel():
    image, kernel = torch.rand(1, 9, 9), by_hand.KERNELS["vertical edge (Sobel x)"]
    torch.testing.assert_close(by_hand.convolve2d(image, kernel), by_hand.correlate2d(image, kernel.flip(0, 1)))
    # Sobel-x is antisymmetric left to right: flipping it negates every response.
    torch.testing.assert_close(by_hand.convolve2d(image, kernel), -by_hand.correlate2d(image, kernel))


@pytest.mark.parametrize("size,stride", [(2, None), (3, 1), (3, 2)])
def test_max_pool_matches_pytorch(size, stride):
    x = torch.randn(4, 10, 9)
    torch.testing.assert_close(by_hand.max_pool2d(x, size, stride), F.max_pool2d(x[None], size, stride)[0])


@pytest.mark.parametrize("n", [7, 14, 28])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("p", [0, 1, 3])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_output_size_formula_matches_conv2d(n, k, p, s):
    if k > n + 2 * p:
        with pytest.raises(ValueError, match="does not fit"):
            by_hand.output_size(n, k, p, s)
        return
    assert by_hand.output_size(n, k, p, s) == nn.Conv2d(1, 1, k, s, p)(torch.zeros(1, 1, n, n)).shape[-1]


def test_same_padding_keeps_the_size_for_odd_kernels_only():
    for k in (1, 3, 5, 7):
        assert by_hand.output_size(28, k, by_hand.same_padding(k), 1) == 28
    with pytest.raises(ValueError, match="even kernel"):
        by_hand.same_padding(4)


@pytest.mark.parametrize("c_in,c_out,k,bias", [(1, 32, 3, False), (32, 64, 3, True), (3, 8, 5, True)])
def test_parameter_count_matches_conv2d(c_in, c_out, k, bias):
    layer = nn.Conv2d(c_in, c_out, k, bias=bias)
    assert by_hand.conv_parameters(c_in, c_out, k, bias) == sum(p.numel() for p in layer.parameters())


@pytest.mark.parametrize("config", [ConvConfig(), ConvConfig(kernel_size=5), ConvConfig(padding="valid"),
                                    ConvConfig(downsample="stride"), ConvConfig(channels=(16, 32, 64))])
def test_macs_parameters_receptive_fields_and_shapes_match_layer_summary(config):
    model = ConvNet(config)
    rows = layer_summary(model)
    convs = [(m, r) for m, r in zip([m for m in model.modules() if not list(m.children())], rows)
             if isinstance(m, nn.Conv2d)]
    for module, row in convs:
        _, height, width = row["output_shape"]
        k = module.kernel_size[0]
        assert row["macs"] == by_hand.conv_macs(module.in_channels, module.out_channels, k, height, width)
        assert row["parameters"] == by_hand.conv_parameters(module.in_channels, module.out_channels, k,
                                                            module.bias is not None)
    spatial = [r for r in rows if r["kernel"] is not None and r["type"] != "AdaptiveAvgPool2d"]
    assert by_hand.receptive_fields([(r["kernel"], r["stride"]) for r in spatial]) == [
        r["receptive_field"] for r in spatial]
    trace = by_hand.shape_trace(config)
    flatten = [r for r in rows if r["type"] in ("Flatten", "AdaptiveAvgPool2d")][0]
    last_features = rows[rows.index(flatten) - 1]["output_shape"]
    assert trace[-2]["output"] == last_features
    assert trace[-1]["output"] == (last_features[0] * last_features[1] * last_features[2],)


def test_the_default_cnn_trace_reaches_3136_inputs():
    trace = by_hand.shape_trace(ConvConfig())
    assert [r["output"] for r in trace][-1] == (3136,) and "64 × 7 × 7 = 3,136" in trace[-1]["formula"]


def test_shift_response_measures_equivariance_and_invariance():
    image = torch.zeros(28, 28)
    image[6:22, 8:20] = 1.0
    two = by_hand.shift_response(image, by_hand.KERNELS["vertical edge (Sobel x)"], 2)
    assert two.conv_interior_difference == 0.0  # convolution moves with its input
    assert two.pool_exact_share == 1.0  # a 2-pixel shift moves 2×2 pooled maps by one cell
    one = by_hand.shift_response(image, by_hand.KERNELS["vertical edge (Sobel x)"], 1)
    assert one.conv_interior_difference == 0.0 and one.pool_exact_share < 1.0
    assert one.gap_relative_change < 0.05


def test_gradient_descent_recovers_a_kernel():
    images = torch.randint(0, 256, (32, 28, 28), dtype=torch.uint8)
    target = by_hand.KERNELS["horizontal edge (Sobel y)"]
    fit = by_hand.learn_kernel(images, target, steps=300, learning_rate=0.2)  # noise images: a smaller step
    assert fit.losses[-1] < fit.losses[0] / 100
    torch.testing.assert_close(fit.kernel, target, atol=0.05, rtol=0)


def test_the_plain_training_loop_learns():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 10
    images = torch.randint(0, 40, (200, 28, 28), generator=generator, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        images[i, 2 + 2 * label:4 + 2 * label, 4:24] = 250
    torch.manual_seed(0)
    model = DenseBaseline()
    before = by_hand.evaluate_loss(model, images, labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for epoch in range(3):
        by_hand.train_epoch(model, images, labels, optimizer, batch_size=32, seed=epoch)
    assert by_hand.evaluate_loss(model, images, labels) < before / 2
    assert by_hand.accuracy(model, images, labels) > 0.9


@pytest.mark.parametrize("shape", [(3, 1), (1, 3), (3, 5), (2, 4)])
@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1)])
def test_rectangular_kernels_match_conv2d(shape, stride, padding):
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 7, 9, generator=generator)
    kernel = torch.randn(3, 2, *shape, generator=generator)
    expected = F.conv2d(image[None], kernel, stride=stride, padding=padding)[0]
    for function in (by_hand.correlate2d, by_hand.correlate2d_unfold):
        torch.testing.assert_close(function(image, kernel, stride=stride, padding=padding), expected)


@pytest.mark.parametrize("call,message", [
    (lambda: by_hand.correlate2d(torch.rand(4, 1, 8, 8), torch.rand(3, 3)), r"image has shape 4×1×8×8.*batch"),
    (lambda: by_hand.correlate2d_unfold(torch.rand(8), torch.rand(3, 3)), r"image has shape 8: pass one image"),
    (lambda: by_hand.correlate2d(torch.rand(2, 8, 8), torch.rand(1, 3, 3)), r"C_in = 1.*2 channel"),
    (lambda: by_hand.correlate2d(torch.rand(8, 8), torch.rand(1, 1, 1, 3, 3)), r"kernel has shape 1×1×1×3×3"),
    (lambda: by_hand.correlate2d(torch.rand(8, 8), torch.rand(3, 3), stride=0), r"stride=0"),
    (lambda: by_hand.correlate2d(torch.rand(8, 8), torch.rand(3, 3), padding=-1), r"padding=-1"),
    (lambda: by_hand.correlate2d(torch.rand(8, 8), torch.rand(3, 3), padding=1.5), r"padding=1.5"),
    (lambda: by_hand.correlate2d(torch.rand(4, 4), torch.rand(5, 5)), r"5×5 kernel does not fit the 4×4"),
    (lambda: by_hand.correlate2d(torch.rand(8, 8), torch.rand(2, 1, 3, 3), bias=torch.rand(3)), r"bias has shape 3"),
    (lambda: by_hand.max_pool2d(torch.rand(2, 1, 8, 8)), r"feature_map has shape 2×1×8×8"),
    (lambda: by_hand.max_pool2d(torch.rand(1, 8, 8), size=9), r"9×9 window does not fit"),
    (lambda: by_hand.max_pool2d(torch.rand(1, 8, 8), stride=0), r"stride=0"),
    (lambda: by_hand.output_size(28, 3, 1, 0), r"s=0"),
    (lambda: by_hand.receptive_fields([(3, 1, 1)]), r"\(kernel, stride\) pairs"),
])
def test_the_teaching_functions_refuse_what_they_do_not_support(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_an_exercise_check_never_raises_on_a_malformed_answer():
    from conv_workshop.lesson import exercises

    scramble = torch.randperm(784)
    assert not exercises.check("unscramble", torch.full((784,), 10_000), permutation=scramble).right
    with pytest.raises(ValueError, match="no exercise named 'nope'"):
        exercises.check("nope", 1)
