"""CUDA device and mixed precision (run where a GPU is present)."""

from __future__ import annotations

import pytest
import torch
from paretune.trainers import Strategy, TrainStatus, get_task, train


@pytest.mark.gpu
@pytest.mark.parametrize("amp", [False, True])
def test_cuda_training_with_pruning_and_qat(amp: bool) -> None:
    task = get_task("digits-cnn")
    strategy = Strategy(lr=3e-3, schedule="cosine", epochs=8, prune_rate=0.8, bits=4, act_bits=8)
    result = train(task, strategy, device="cuda", amp=amp, keep_model=True)
    assert result.status is TrainStatus.COMPLETED
    assert result.model is not None
    assert next(result.model.parameters()).device.type == "cuda"
    assert abs(result.sparsity - 0.8) <= 0.005 or result.sparsity > 0.8
    assert result.test_accuracy >= 0.9
    for module in result.model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            for channel in module.weight.detach():
                assert len(torch.unique(channel)) <= 2**4
    assert result.latency_ms > 0


@pytest.mark.gpu
def test_cuda_auto_device_and_seeded_determinism_of_the_curve_shape() -> None:
    task = get_task("synthetic", options={"n_samples": 300})
    first = train(task, Strategy(epochs=2), device="auto")
    second = train(task, Strategy(epochs=2), device="auto")
    assert first.status is second.status is TrainStatus.COMPLETED
    assert len(first.curve) == len(second.curve) == 2
    assert first.val_accuracy == pytest.approx(second.val_accuracy, abs=0.05)
