"""Saved models: a weights_only checkpoint, the class-free complete model, ONNX export and parity."""

from __future__ import annotations

import pytest
import torch

from conv_workshop.deployment.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from conv_workshop.deployment.export import export_onnx, load_complete_model, onnx_parity, save_complete_model
from conv_workshop.models import ConvConfig, ConvNet


@pytest.fixture
def trained_like_model():
    torch.manual_seed(0)
    model = ConvNet(ConvConfig(channels=(8, 16), hidden=32))
    for module in model.modules():  # non-trivial BN statistics, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_checkpoint_round_trip_with_weights_only(tmp_path, trained_like_model):
    path = save_checkpoint(tmp_path / "best_model.pth", trained_like_model, {"epochs": 1}, {"test_accuracy": 0.5})
    raw = torch.load(path, weights_only=True)  # must not need the project's classes or unsafe unpickling
    assert raw["model_config"]["channels"] == [8, 16] and len(raw["class_names"]) == 10
    assert set(raw["normalization"]) == {"mean", "std"} and raw["metrics"]["test_accuracy"] == 0.5
    model, checkpoint = load_model(path)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), trained_like_model(x))
    assert not model.training and checkpoint["versions"]["torch"] == torch.__version__


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "garbage.pth").write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "garbage.pth")
    torch.save({"something": torch.zeros(1)}, tmp_path / "foreign.pth")
    with pytest.raises(CheckpointError, match="not a conv_workshop checkpoint"):
        read_checkpoint(tmp_path / "foreign.pth")


def test_complete_model_loads_without_project_classes(tmp_path, trained_like_model):
    path = save_complete_model(tmp_path / "complete_model.pth", trained_like_model)
    loaded = load_complete_model(path)
    for batch in (1, 7):
        x = torch.rand(batch, 1, 28, 28)
        with torch.no_grad():
            assert torch.allclose(loaded(x), trained_like_model(x), atol=1e-5)


def test_onnx_export_matches_pytorch(tmp_path, trained_like_model, tiny_splits):
    path = export_onnx(tmp_path / "model.onnx", trained_like_model)
    parity = onnx_parity(path, trained_like_model, tiny_splits.test_images, tiny_splits.test_labels, batch_size=17)
    assert parity["max_abs_logit_diff"] <= 1e-4
    assert parity["prediction_agreement"] == 1.0
    assert parity["onnx_accuracy"] == parity["torch_accuracy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # weights inside, no temporary files
    import json

    import onnxruntime

    metadata = onnxruntime.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    assert json.loads(metadata["class_names"])[9] == "Ankle boot" and "light garment" in metadata["preprocessing"]
