"""Cost measurement: planned vs measured, the size formula, BitOps by hand, latency."""

from __future__ import annotations

import pytest
import torch
from paretune.trainers import (
    Strategy,
    Task,
    get_task,
    layer_stats,
    measure_cost,
    measure_latency_ms,
    planned_cost,
    static_cost,
    train,
)
from torch import nn


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("synthetic", options={"n_samples": 300})


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),  # 72 weights, each used 6*6 = 36 times
        nn.BatchNorm2d(4),  # 8 affine parameters, not prunable
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(36, 5),  # 180 weights, each used once
    )


def test_layer_stats_by_hand() -> None:
    stats = layer_stats(small_cnn(), (2, 6, 6))
    assert stats.sizes == (72, 180)
    assert stats.uses == (36, 1)
    assert stats.macs == 72 * 36 + 180
    assert stats.prunable == 252
    assert stats.params == 252 + 4 + 8 + 5


def test_measured_cost_by_hand() -> None:
    model = small_cnn()
    with torch.no_grad():
        model[0].weight[:2] = 0.0  # 36 zero weights in the conv
        model[5].weight[:, :10] = 0.0  # 50 zero weights in the linear layer
        model[5].bias.zero_()  # zero biases count as zero params, not as pruned weights
    stats = layer_stats(model, (2, 6, 6))
    cost = measure_cost(model, stats, bits=4, act_bits=8)
    nonzero_conv, nonzero_fc = 72 - 36, 180 - 50
    assert cost["sparsity"] == pytest.approx((36 + 50) / 252)
    assert cost["size_bits"] == (nonzero_conv + nonzero_fc) * 4 + (4 + 8 + 5) * 32
    assert cost["bitops"] == (nonzero_conv * 36 + nonzero_fc * 1) * 4 * 8
    # the BatchNorm shifts start at zero too: 4 more zero parameters
    assert cost["nonzero_params"] == stats.params - 36 - 50 - 5 - 4
    assert cost["params"] == stats.params


def test_planned_cost_by_hand() -> None:
    stats = layer_stats(small_cnn(), (2, 6, 6))
    cost = planned_cost(stats, Strategy(prune_rate=0.5, bits=2))
    assert cost["nonzero_params"] == stats.params - 126
    assert cost["size_bits"] == 126 * 2 + (stats.params - 252) * 32
    assert cost["bitops"] == pytest.approx(stats.macs * 0.5 * 2 * 32)


def test_planned_equals_measured_for_float_dense_training(task: Task) -> None:
    strategy = Strategy(epochs=1)
    result = train(task, strategy, device="cpu")
    planned = static_cost(task, strategy)
    assert planned["params"] == result.params
    assert planned["size_bits"] == result.size_bits
    assert planned["bitops"] == result.bitops


def test_planned_size_matches_measured_after_pruning_in_float(task: Task) -> None:
    strategy = Strategy(epochs=2, prune_rate=0.7)
    result = train(task, strategy, device="cpu")
    planned = static_cost(task, strategy)
    assert result.size_bits == pytest.approx(planned["size_bits"], rel=0.01)
    assert result.nonzero_params == pytest.approx(planned["nonzero_params"], rel=0.01)


def test_cost_falls_with_pruning_and_bits(task: Task) -> None:
    dense = static_cost(task, Strategy())
    small = static_cost(task, Strategy(prune_rate=0.9, bits=4))
    assert small["size_bits"] < dense["size_bits"] / 20
    assert small["bitops"] < dense["bitops"] / 50


def test_latency_is_a_positive_median() -> None:
    latency = measure_latency_ms(small_cnn(), (2, 6, 6), warmup=2, repeats=5)
    assert 0.0 < latency < 1000.0


def test_result_reports_latency_and_time(task: Task) -> None:
    result = train(task, Strategy(epochs=2), device="cpu")
    assert result.latency_ms > 0
    assert result.train_seconds == pytest.approx(result.curve[-1]["train_seconds"])
