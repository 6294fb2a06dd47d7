"""Latency measured to a stated precision, with its spread (issue 12, item 5)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from paretune.trainers import (
    LATENCY_PRECISION,
    Latency,
    Strategy,
    get_task,
    measure_latency,
    train,
)
from torch import nn

#: A median's standard error per IQR and per 1/sqrt(n): sqrt(pi/2) sigma, sigma = IQR / 1.349.
SE_PER_IQR = math.sqrt(math.pi / 2) / 1.349


def tiny() -> nn.Module:
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))


def test_a_quiet_small_model_meets_the_stated_precision() -> None:
    """Repeats until the median's relative standard error is at most 2 % (a generous cap)."""
    latency = measure_latency(tiny(), (16,), max_repeats=20_000, max_seconds=10.0)
    assert isinstance(latency, Latency)
    assert latency.precision == LATENCY_PRECISION == 0.02
    assert latency.converged and latency.rel_error <= latency.precision
    assert latency.median_ms > 0 and latency.spread_ms >= 0
    assert latency.repeats >= 21 and (latency.repeats - 21) % 10 == 0  # checked every 10 passes


def test_the_error_is_the_median_standard_error_from_the_spread() -> None:
    latency = measure_latency(tiny(), (16,))
    expected = SE_PER_IQR * latency.spread_ms / math.sqrt(latency.repeats) / latency.median_ms
    assert latency.rel_error == pytest.approx(expected)
    assert latency.converged == (latency.rel_error <= latency.precision)


def test_an_unreachable_precision_stops_at_the_cap_and_says_so() -> None:
    latency = measure_latency(tiny(), (16,), precision=1e-9, min_repeats=21, max_repeats=61)
    assert latency.repeats == 61
    assert latency.converged is (latency.rel_error <= 1e-9)  # False unless every pass tied


def test_a_loose_precision_stops_at_the_minimum() -> None:
    latency = measure_latency(tiny(), (16,), precision=0.9, min_repeats=15)
    assert latency.repeats == 15 and latency.converged


def test_the_time_cap_stops_a_noisy_measurement() -> None:
    latency = measure_latency(tiny(), (16,), precision=1e-9, max_repeats=10**6, max_seconds=0.0)
    assert latency.repeats == 21  # the first check already finds the time spent


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"precision": 0.0}, "'precision' parameter of measure_latency"),
        ({"precision": 1.5}, "'precision' parameter of measure_latency"),
        ({"min_repeats": 30, "max_repeats": 20}, "1 <= min_repeats <= max_repeats"),
        ({"min_repeats": 0}, "1 <= min_repeats <= max_repeats"),
    ],
)
def test_bad_settings_raise(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        measure_latency(tiny(), (16,), **kwargs)  # type: ignore[arg-type]


def test_timing_leaves_the_random_state_and_the_mode_alone() -> None:
    model = tiny().train()
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    states = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    measure_latency(model, example=torch.randn(3, 16, generator=torch.Generator()))
    assert torch.equal(torch.get_rng_state(), states[0])
    assert random.getstate() == states[1]
    assert np.array_equal(np.random.get_state()[1], states[2])
    assert model.training


def test_a_trained_result_carries_the_spread() -> None:
    task = get_task("synthetic", options={"n_samples": 200})
    result = train(task, Strategy(epochs=1), device="cpu")
    assert result.latency_ms > 0
    assert math.isfinite(result.latency_ms_spread) and result.latency_ms_spread >= 0
    assert result.to_dict()["latency_ms_spread"] == result.latency_ms_spread
