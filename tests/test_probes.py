"""Inductive-bias probes: shifting, translation curves, per-block activations and receptive fields, selectivity."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conv_workshop.data import shift_images
from conv_workshop.inspection import probes
from conv_workshop.inspection.probes import (
    block_geometry,
    block_outputs,
    class_selectivity,
    entropy_bits,
    feature_maps,
    receptive_patch,
    top_activating_patches,
    translation_curve,
)
from conv_workshop.models import ConvConfig, ConvNet, DenseBaseline
from conv_workshop.training import Runtime

FP32 = Runtime("cpu", "cpu", "fp32", channels_last=False)


def test_shift_moves_pixels_and_fills_with_black():
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    image[0, 10, 10] = 255
    moved = shift_images(image, 3, -2)
    assert moved[0, 8, 13] == 255 and moved.sum() == 255
    assert torch.equal(shift_images(image, 0, 0), image)
    assert shift_images(image, 28, 0).sum() == 0
    assert shift_images(image, -4, 5)[0, 15, 6] == 255  # left and down


class InkColumn(nn.Module):
    """Classifies an image by the column of its ink's centre (ten bands of 2.8 pixels): a model that notices every
    horizontal shift and no vertical one."""

    def forward(self, x):
        columns = x.sum(dim=(1, 2))  # N × 28
        centre = (columns * torch.arange(28.0)).sum(1) / columns.sum(1).clamp_min(1e-6)
        return nn.functional.one_hot((centre / 2.8).long().clamp(0, 9), 10).float()


def test_translation_curve_scores_each_direction_on_images_shifted_that_way():
    generator = torch.Generator().manual_seed(0)
    images = torch.zeros(40, 28, 28, dtype=torch.uint8)
    for i in range(40):  # a 6×6 blob at a random place, away from the border
        top, left = torch.randint(6, 16, (2,), generator=generator).tolist()
        images[i, top:top + 6, left:left + 6] = 255
    model = InkColumn()
    labels = model(images.unsqueeze(1).float()).argmax(1)  # right on every unshifted image by construction
    curve = translation_curve({"ink": model}, images, labels, FP32, max_shift=3).set_index(["direction", "shift"])
    assert curve.loc[("horizontal", 0), "accuracy"] == 1.0
    assert curve.loc[("vertical", 3), "accuracy"] == 1.0  # vertical shifts keep the column
    assert curve.loc[("horizontal", 3), "accuracy"] < 0.5 and curve.loc[("diagonal", 3), "accuracy"] < 0.5
    moved = shift_images(images, 3, 0)
    expected = float((model(moved.unsqueeze(1).float()).argmax(1) == labels).float().mean())
    assert curve.loc[("horizontal", 3), "accuracy"] == pytest.approx(expected)


def test_translation_curve_has_a_row_per_model_seed_direction_and_shift(tiny_splits):
    models = {"MLP": DenseBaseline().eval(), "CNN": [ConvNet(ConvConfig(channels=(4,), hidden=8)).eval()] * 2}
    curve = translation_curve(models, tiny_splits.test_images, tiny_splits.test_labels, FP32, max_shift=2)
    assert len(curve) == (1 + 2) * 3 * 3 and set(curve[curve.model == "CNN"].seed) == {0, 1}
    assert set(curve.direction) == {"horizontal", "vertical", "diagonal"}
    assert curve.accuracy.between(0, 1).all()


def test_block_outputs_and_activations():
    model = ConvNet(ConvConfig(channels=(4, 8, 8), hidden=8)).eval()
    assert list(block_outputs(model)) == ["block 1", "block 2", "block 3"]
    strided = ConvNet(ConvConfig(channels=(4, 8), downsample="stride", hidden=8)).eval()
    assert len(block_outputs(strided)) == 2
    image = torch.randint(0, 256, (28, 28), dtype=torch.uint8)
    maps = feature_maps(model, image, FP32)
    assert [m.shape for m in maps.values()] == [(4, 14, 14), (8, 7, 7), (8, 3, 3)]
    tables = top_activating_patches(model, torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8), FP32, channels=2,
                                    top=3)
    assert all(len(t) == 2 * 3 for t in tables.values())
    first = tables["block 1"]
    assert first[first.channel == 0].activation.is_monotonic_decreasing
    assert first.row.between(0, 13).all() and first.column.between(0, 13).all()


def test_block_geometry_matches_the_layer_summary_and_crops_the_right_patch():
    from conv_workshop.models import layer_summary

    model = ConvNet()
    geometry = block_geometry(model)
    pools = [r["receptive_field"] for r in layer_summary(model) if r["type"] == "MaxPool2d"]
    assert [g.size for g in geometry.values()] == pools == [6, 16]
    assert [g.jump for g in geometry.values()] == [2, 4]
    image = torch.arange(28 * 28, dtype=torch.float32).reshape(28, 28)
    patch = receptive_patch(image, geometry["block 1"], 3, 4)  # unit (3, 4) of block 1 sees rows 4..9, cols 6..11
    assert patch.shape == (6, 6) and torch.equal(patch, image[4:10, 6:12])
    corner = receptive_patch(image, geometry["block 2"], 0, 0)  # zeros where the window leaves the image
    assert corner.shape == (16, 16) and corner[0, 0] == 0 and corner[-1, -1] == image[9, 9]


def test_class_selectivity_covers_every_channel_against_a_shuffled_baseline():
    assert entropy_bits(torch.zeros(10, dtype=torch.long).numpy()) == 0
    assert abs(entropy_bits(torch.arange(10).numpy()) - 3.3219) < 1e-3
    model = ConvNet(ConvConfig(channels=(4, 8), hidden=8)).eval()
    images = torch.randint(0, 256, (60, 28, 28), dtype=torch.uint8)
    table = class_selectivity(model, images, torch.arange(60) % 10, FP32, top=20, shuffles=3)
    assert list(table.groupby("block").channel.count()) == [4, 8]


def test_class_selectivity_scores_a_one_class_channel_zero_and_a_blind_one_near_uniform(monkeypatch):
    labels = torch.arange(200) % 10
    peaks = torch.stack([(labels == 3).float() + 0.01 * torch.arange(200) / 200,  # fires only on class 3
                         torch.rand(200, generator=torch.Generator().manual_seed(0))], dim=1)  # blind to class
    found = {"block 1": probes.ChannelPeaks(peaks, None, 1)}
    monkeypatch.setattr(probes, "channel_peaks", lambda *args, **kwargs: found)
    table = class_selectivity(None, None, labels, FP32, top=20, shuffles=20).set_index("channel")
    assert table.loc[0, "entropy"] == 0.0  # its 20 strongest images are all of class 3
    assert table.loc[1, "entropy"] > 2.5  # 20 images drawn regardless of class
    assert table.shuffled_entropy.between(2.5, 3.33).all()
