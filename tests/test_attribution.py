"""Attribution with Captum: Grad-CAM and occlusion give one map per image, and the examples include confusions."""

from __future__ import annotations

import torch

from conv_workshop.data import CLASS_NAMES
from conv_workshop.inspection.attribution import choose_examples, grad_cam, last_block_layer, occlusion
from conv_workshop.models import ConvConfig, ConvNet


def test_maps_have_the_image_size_and_the_model_is_left_unchanged():
    torch.manual_seed(0)
    model = ConvNet(ConvConfig(channels=(4, 8), hidden=8)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    targets = torch.tensor([0, 3, 6])
    cam = grad_cam(model, images, targets)
    assert cam.shape == (3, 28, 28) and (cam >= 0).all()
    drop = occlusion(model, images, targets, window=6, stride=4)
    assert drop.shape == (3, 28, 28) and torch.isfinite(drop).all()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert isinstance(last_block_layer(model), torch.nn.ReLU)


def test_occlusion_finds_the_pixels_a_model_uses():
    class Corner(torch.nn.Module):  # scores class 0 by the brightness of the top-left corner only
        features = torch.nn.Sequential(torch.nn.ReLU())

        def forward(self, x):
            return torch.cat([x[:, :, :6, :6].sum((1, 2, 3), keepdim=False)[:, None], torch.zeros(len(x), 9)], 1)

    images = torch.full((1, 28, 28), 200, dtype=torch.uint8)
    drop = occlusion(Corner(), images, torch.tensor([0]), window=4, stride=2)[0]
    assert drop[:6, :6].mean() > 0 and drop[14:, 14:].abs().max() == 0


def test_examples_include_both_confusions_of_the_pair():
    shirt, tshirt = CLASS_NAMES.index("Shirt"), CLASS_NAMES.index("T-shirt/top")
    labels = torch.tensor([shirt, shirt, tshirt, tshirt, 1, 9, shirt, tshirt, shirt])
    predicted = torch.tensor([shirt, tshirt, tshirt, shirt, 1, 9, shirt, tshirt, tshirt])
    chosen = choose_examples(labels, predicted, CLASS_NAMES)
    kinds = {(int(labels[i]), int(predicted[i])) for i in chosen}
    assert {(shirt, tshirt), (tshirt, shirt), (shirt, shirt), (tshirt, tshirt), (1, 1), (9, 9)} <= kinds
    assert len(chosen) == len(set(chosen)) >= 6
