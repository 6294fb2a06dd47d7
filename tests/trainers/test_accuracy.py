"""Accuracy gates on digits-mlp (issue 2): a sensible strategy and a 10x-smaller one."""

from __future__ import annotations

import pytest
from paretune.trainers import Strategy, TrainStatus, get_task, static_cost, train

SENSIBLE = Strategy(optimizer="adam", lr=3e-3, schedule="cosine", batch_size=32, epochs=20)


@pytest.mark.slow
def test_sensible_strategy_reaches_097_test_accuracy() -> None:
    result = train(get_task("digits-mlp"), SENSIBLE, device="cpu")
    assert result.status is TrainStatus.COMPLETED
    assert result.test_accuracy >= 0.97, result.to_dict()


@pytest.mark.slow
def test_prune_09_with_4_bits_keeps_095_at_far_less_size() -> None:
    task = get_task("digits-mlp")
    strategy = SENSIBLE.replace(prune_rate=0.9, bits=4)
    result = train(task, strategy, device="cpu")
    assert result.status is TrainStatus.COMPLETED
    assert result.test_accuracy >= 0.95, result.to_dict()
    assert abs(result.sparsity - 0.9) <= 0.005 or result.sparsity > 0.9
    dense = static_cost(task, SENSIBLE)["size_bits"]
    assert result.size_bits <= dense / 40  # 0.1 of the weights at 4 of 32 bits, plus biases
