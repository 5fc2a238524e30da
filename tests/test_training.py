"""The trainer: a step lowers the loss, seeded runs repeat exactly, the best epoch is kept, runtime choice."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from conv_workshop.models import ConvConfig, ConvNet, DenseBaseline
from conv_workshop.training import (
    Runtime,
    TrainConfig,
    augment_batch,
    choose_runtime,
    evaluate,
    fit,
    predict_logits,
    to_input,
    validation_interval,
)

FP32 = Runtime("cpu", "cpu", "fp32", channels_last=False)
SMALL_CNN = ConvConfig(channels=(8, 16), hidden=32)


def test_one_step_lowers_the_loss(tiny_splits):
    torch.manual_seed(0)
    model = ConvNet(SMALL_CNN)
    x, y = to_input(tiny_splits.train_images[:64], FP32), tiny_splits.train_labels[:64]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    before = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        after = F.cross_entropy(model(x), y)
        model.train()
    assert after < before


def _run(splits, seed, runtime=FP32, epochs=2):
    torch.manual_seed(seed)
    model = ConvNet(SMALL_CNN)
    result = fit(model, splits, TrainConfig(epochs=epochs, batch_size=32, augment="flip"), runtime, seed=seed,
                 progress=False)
    return model, result


def test_same_seed_same_numbers(tiny_splits):
    first_model, first = _run(tiny_splits, seed=7)
    second_model, second = _run(tiny_splits, seed=7)
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    for a, b in zip(first_model.state_dict().values(), second_model.state_dict().values()):
        assert torch.equal(a, b)
    _, other = _run(tiny_splits, seed=8)
    assert [h["train_loss"] for h in other.history] != [h["train_loss"] for h in first.history]


def test_fit_learns_and_reports_history(tiny_splits):
    model, result = _run(tiny_splits, seed=0, epochs=4)
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert set(result.history[0]) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}
    assert result.best_val_accuracy == max(h["val_accuracy"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_accuracy"] == result.best_val_accuracy
    # The weights kept are those of the best epoch.
    assert evaluate(model, tiny_splits.val_images, tiny_splits.val_labels, FP32).accuracy == result.best_val_accuracy
    assert result.best_val_accuracy > 0.5  # 10 classes: chance is 0.1


def test_long_runs_validate_every_few_epochs_and_at_the_last(tiny_splits):
    torch.manual_seed(0)
    model = ConvNet(SMALL_CNN)
    config = TrainConfig(epochs=7, batch_size=32, validations=3)
    result = fit(model, tiny_splits, config, FP32, progress=False)
    assert validation_interval(config) == 3
    assert [h["epoch"] for h in result.history] == list(range(1, 8))
    assert [h["epoch"] for h in result.history if "val_accuracy" in h] == [3, 6, 7]
    assert result.best_epoch in (3, 6, 7)
    assert result.best_val_accuracy == max(h.get("val_accuracy", -1) for h in result.history)
    assert evaluate(model, tiny_splits.val_images, tiny_splits.val_labels, FP32).accuracy == result.best_val_accuracy
    assert validation_interval(TrainConfig(epochs=10)) == 2  # a 10-epoch run validates every other epoch
    with pytest.raises(ValueError, match="validate at least once"):
        validation_interval(TrainConfig(validations=0))


def test_bf16_autocast_trains_the_dense_model(tiny_splits):
    runtime = Runtime("cpu", "cpu", "bf16", channels_last=True)
    torch.manual_seed(0)
    model = DenseBaseline()
    result = fit(model, tiny_splits, TrainConfig(epochs=3, batch_size=32), runtime, progress=False)
    assert result.best_val_accuracy > 0.5
    assert predict_logits(model, tiny_splits.test_images, runtime).dtype == torch.float32


def test_flip_augmentation_flips_some_images_only():
    x = torch.arange(8 * 28 * 28, dtype=torch.float32).reshape(8, 1, 28, 28)
    out = augment_batch(x, "flip", torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(8)]
    kept = [torch.equal(out[i], x[i]) for i in range(8)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    assert torch.equal(augment_batch(x, "none", torch.Generator()), x)


def test_runtime_choice_follows_the_hardware(monkeypatch):
    from conv_workshop import training

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(training, "cpu_supports_bf16", lambda: True)
    assert choose_runtime() == Runtime("cpu", training.cpu_name(), "bf16", channels_last=True)
    monkeypatch.setattr(training, "cpu_supports_bf16", lambda: False)
    assert choose_runtime().precision == "fp32" and choose_runtime().autocast_dtype is None
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert choose_runtime() == Runtime("mps", "Apple MPS", "fp32", channels_last=False)
    assert choose_runtime("cpu", "fp16").autocast_dtype == torch.float16
    with pytest.raises(ValueError, match="choose bf16, fp16 or fp32"):
        choose_runtime("cpu", "int8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_mixed_precision_path_is_seeded(tiny_splits):
    runtime = choose_runtime("cuda")
    assert runtime.precision in ("bf16", "fp16") and runtime.channels_last
    _, first = _run(tiny_splits, seed=3, runtime=runtime)
    _, second = _run(tiny_splits, seed=3, runtime=runtime)
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    assert first.best_val_accuracy > 0.3


def test_fit_really_steps_the_optimiser(tiny_splits, monkeypatch):
    """Parameters change and the loss on a fixed batch falls; with the optimiser's step disabled, neither happens."""
    def losses_and_change(disable_step: bool):
        if disable_step:
            monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, *a, **k: None)
        torch.manual_seed(0)
        model = DenseBaseline()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        x, y = to_input(tiny_splits.train_images[:64], FP32), tiny_splits.train_labels[:64]
        model.eval()
        with torch.no_grad():
            start = F.cross_entropy(model(x), y)
        fit(model, tiny_splits, TrainConfig(epochs=2, batch_size=32), FP32, progress=False)
        model.eval()
        with torch.no_grad():
            end = F.cross_entropy(model(x), y)
        changed = any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
        monkeypatch.undo()
        return start, end, changed

    start, end, changed = losses_and_change(disable_step=False)
    assert changed and end < start * 0.7
    start, end, changed = losses_and_change(disable_step=True)
    assert not changed and end == start


def test_a_training_set_smaller_than_a_batch_counts_the_images_it_has(tiny_splits):
    torch.manual_seed(0)
    model = DenseBaseline()
    few = replace(tiny_splits, train_images=tiny_splits.train_images[:100], train_labels=tiny_splits.train_labels[:100])
    result = fit(model, few, TrainConfig(epochs=3, batch_size=256), FP32, progress=False)
    # Accuracy over the 100 images seen can reach 1.0 (it was capped at 100/256 when 256 were assumed).
    assert all(0 <= h["train_accuracy"] <= 1 for h in result.history)
    seconds = sum(h["seconds"] for h in result.history)
    assert result.images_per_second == pytest.approx(3 * 100 / seconds, rel=0.05)


def test_fp16_loss_scaling_follows_the_device(tiny_splits, monkeypatch):
    built = []
    original = torch.amp.GradScaler

    def recording(*args, **kwargs):
        scaler = original(*args, **kwargs)
        built.append(scaler)
        return scaler

    monkeypatch.setattr(torch.amp, "GradScaler", recording)
    torch.manual_seed(0)
    fit(DenseBaseline(), tiny_splits, TrainConfig(epochs=1, batch_size=64), choose_runtime("cpu", "fp16"),
        progress=False)
    assert built and built[0].is_enabled() and built[0]._device == "cpu"


def test_prediction_leaves_the_models_memory_layout_as_it_found_it():
    """Evaluating in the middle of training must not leave a channels-last model contiguous (slow on a CPU)."""
    from conv_workshop.training import is_channels_last

    runtime = Runtime("cpu", "cpu", "fp32", channels_last=True)
    images = torch.zeros(4, 28, 28, dtype=torch.uint8)
    model = ConvNet(SMALL_CNN).to(memory_format=torch.channels_last)
    predict_logits(model, images, runtime)
    assert is_channels_last(model)
    model.to(memory_format=torch.contiguous_format)
    predict_logits(model, images, runtime)
    assert not is_channels_last(model)
