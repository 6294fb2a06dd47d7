"""Cost measurement: planned vs measured, the size formula, BitOps by hand, latency."""

from __future__ import annotations

import dataclasses

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


class Volumes(nn.Module):
    """A Conv1d branch over sequences and a Conv3d branch over volumes, two inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Conv1d(3, 4, 5, stride=2)  # length 21 -> 9 outputs: 60 weights x 9
        self.vol = nn.Conv3d(2, 3, (2, 3, 3), padding=(0, 1, 1))  # 4x5x6 -> 3x5x6: 108 x 90
        self.head = nn.Linear(4 + 3, 2)  # 14 weights, once per sample

    def forward(self, seq: torch.Tensor, vol: torch.Tensor) -> torch.Tensor:
        a = self.seq(seq).mean(dim=2)
        b = self.vol(vol).mean(dim=(2, 3, 4))
        return self.head(torch.cat([a, b], dim=1))  # type: ignore[no-any-return]


def test_bitops_of_conv1d_and_conv3d_equal_the_hand_formula() -> None:
    model = Volumes()
    generator = torch.Generator().manual_seed(0)
    seq, vol = torch.randn(5, 3, 21, generator=generator), torch.randn(5, 2, 4, 5, 6)
    by_tuple = layer_stats(model, example=(seq, vol))
    by_name = layer_stats(model, example={"seq": seq, "vol": vol})
    assert by_tuple == by_name
    assert by_tuple.names == ("seq", "vol", "head")
    assert by_tuple.sizes == (4 * 3 * 5, 3 * 2 * 2 * 3 * 3, 7 * 2)
    assert by_tuple.uses == (9, 3 * 5 * 6, 1)
    with torch.no_grad():
        model.seq.weight[0] = 0.0  # 15 of the 60 conv1d weights
        model.vol.weight[:, 0] = 0.0  # 54 of the 108 conv3d weights
    cost = measure_cost(model, by_tuple, bits=4, act_bits=8)
    assert cost["bitops"] == ((60 - 15) * 9 + (108 - 54) * 90 + 14) * 4 * 8
    assert cost["size_bits"] == (45 + 54 + 14) * 4 + (4 + 3 + 2) * 32
    latency = measure_latency_ms(model, example=(seq, vol), warmup=1, repeats=3)
    assert latency > 0.0


def test_a_batch_of_real_inputs_gives_the_uses_of_the_input_shape() -> None:
    data = torch.randn(7, 2, 6, 6, generator=torch.Generator().manual_seed(1))
    assert layer_stats(small_cnn(), example=data) == layer_stats(small_cnn(), (2, 6, 6))


def test_a_layer_called_twice_does_twice_the_work() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(torch.relu(self.layer(x)))  # type: ignore[no-any-return]

    assert layer_stats(Twice(), example=torch.zeros(4, 10, 3)).uses == (20,)


def test_layer_stats_needs_exactly_one_input() -> None:
    with pytest.raises(ValueError, match="exactly one of input_shape"):
        layer_stats(small_cnn())
    with pytest.raises(ValueError, match="exactly one of input_shape"):
        layer_stats(small_cnn(), (2, 6, 6), example=torch.zeros(1, 2, 6, 6))
    with pytest.raises(TypeError, match="must be a tensor, a sequence of tensors"):
        layer_stats(small_cnn(), example=[1, 2])  # type: ignore[list-item]


def test_static_cost_of_a_task_without_input_shape_uses_its_data(task: Task) -> None:
    shapeless = dataclasses.replace(task, input_shape=())
    strategy = Strategy(prune_rate=0.5, bits=4)
    assert static_cost(shapeless, strategy) == static_cost(task, strategy)
