"""Timing noise: front points a time objective cannot tell apart (issue 12, item 5)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from paretune.search import Candidate, format_quantity, select_strategy
from paretune.search.report import (
    ASSUMED_SPREAD,
    CloseCall,
    NoiseSource,
    TimedPoint,
    TimingNoise,
    close_pairs,
    study_spread,
    timing_noise,
)


def test_overlapping_bands_are_pairs_and_separate_ones_are_not() -> None:
    points = [
        TimedPoint(7, 2.00, 0.10),  # unsorted on purpose
        TimedPoint(1, 1.00, 0.10),
        TimedPoint(2, 1.09, 0.10),  # 0.09 <= (0.10 + 0.10) / 2: bands overlap
        TimedPoint(3, 1.25, 0.00),  # 0.16 from 2 > 0.05: apart
    ]
    pairs = close_pairs(points, cost="latency_ms")
    assert [(p.first, p.second) for p in pairs] == [(1, 2)]
    (pair,) = pairs
    assert pair.cost == "latency_ms" and pair.noise == pytest.approx(0.10)
    assert pair.difference == pytest.approx(0.09)


def test_a_wide_spread_far_ahead_is_still_found() -> None:
    """The early stop of the scan must not skip a later point whose own band is wide."""
    points = [TimedPoint(1, 1.0, 0.0), TimedPoint(2, 1.5, 0.0), TimedPoint(3, 1.9, 2.0)]
    found = {(p.first, p.second) for p in close_pairs(points, cost="train_seconds")}
    assert found == {(1, 3), (2, 3)}


def test_nan_spreads_count_as_none_and_nan_values_are_skipped() -> None:
    points = [TimedPoint(1, 1.0, math.nan), TimedPoint(2, 1.0, math.nan)]
    assert [(p.first, p.second) for p in close_pairs(points, cost="latency_ms")] == [(1, 2)]
    points = [TimedPoint(1, math.nan, 1.0), TimedPoint(2, 1.0, 0.0)]
    assert close_pairs(points, cost="latency_ms") == ()


def test_close_pairs_equals_the_brute_force_oracle() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 12))
        values, spreads = rng.uniform(1, 2, n), rng.uniform(0, 0.3, n) * (rng.random(n) > 0.3)
        points = [
            TimedPoint(i, float(v), float(s))
            for i, (v, s) in enumerate(zip(values, spreads, strict=True))
        ]
        expected = {
            tuple(sorted((a.number, b.number)))
            for a, b in itertools.combinations(points, 2)
            if abs(a.value - b.value) <= (a.spread + b.spread) / 2
        }
        found = {tuple(sorted((p.first, p.second))) for p in close_pairs(points, cost="x")}
        assert found == expected


def cand(
    number: int,
    accuracy: float,
    *,
    latency: float = 1.0,
    seconds: float = 10.0,
    epochs: int = 10,
    batch: int = 32,
    spread: float | None = None,
    params: float = 1000.0,
) -> Candidate:
    costs = {"latency_ms": latency, "train_seconds": seconds, "size_bits": 100.0 * number}
    costs["params"] = params
    strategy: dict[str, Any] = {"epochs": epochs, "batch_size": batch, "optimizer": "adam"}
    spreads = {} if spread is None else {"latency_ms_spread": spread}
    return Candidate(number, accuracy, math.nan, costs, strategy, True, spreads)


def test_the_study_spread_compares_equal_work_per_epoch() -> None:
    trials = [
        cand(0, 0.9, seconds=10.0, epochs=10),  # 1.0 s per epoch
        cand(1, 0.9, seconds=6.0, epochs=5),  # 1.2 s per epoch: same work per epoch
        cand(2, 0.9, seconds=20.0, batch=16),  # 2.0 s per epoch, batch 16 group
        cand(3, 0.9, seconds=16.0, batch=16),  # 1.6 s per epoch
        cand(4, 0.9, seconds=99.0, batch=8),  # alone: not used
    ]
    # groups {1.0, 1.2} (median 1.1) and {2.0, 1.6} (median 1.8): deviations 1/11 x2, 1/9 x2
    expected = 2 * (1 / 11 + 1 / 9) / 2
    assert study_spread(trials, cost="train_seconds") == pytest.approx(expected)
    assert study_spread(trials[:3], cost="train_seconds") is None  # too few equal-work trials


def test_measured_latency_spreads_flag_the_front_points_they_cover() -> None:
    front = [
        cand(0, 0.90, latency=1.00, spread=0.10),
        cand(1, 0.92, latency=1.05, spread=0.10),
        cand(2, 0.95, latency=3.00, spread=0.10),
    ]
    noise = timing_noise(front, front=front, cost="latency_ms")
    assert noise.source is NoiseSource.MEASURED
    assert [(p.first, p.second) for p in noise.pairs] == [(0, 1)]
    assert noise.involving(2) == () and len(noise.involving(1)) == 1
    assert "trials 0 and 1" in noise.note() and "measured spread" in noise.note()
    assert noise.note(around=2) == ""
    assert noise.note(around=1).startswith("latency_ms: the chosen trial 1 (1.05 ms) and trial 0")


def test_without_equal_work_trials_the_noise_is_assumed_and_said_so() -> None:
    front = [cand(0, 0.9, seconds=10.0), cand(1, 0.95, seconds=10.8, batch=64)]
    noise = timing_noise(front, front=front, cost="train_seconds")
    assert noise.source is NoiseSource.ASSUMED and noise.relative == pytest.approx(ASSUMED_SPREAD)
    assert [(p.first, p.second) for p in noise.pairs] == [(0, 1)]  # 0.8 <= (1.0 + 1.08) / 2
    assert "assumed spread" in noise.note()
    far = [cand(0, 0.9, seconds=10.0), cand(1, 0.95, seconds=12.0, batch=64)]
    assert timing_noise(far, front=far, cost="train_seconds").pairs == ()


def test_a_busy_machine_makes_the_study_estimate_wide() -> None:
    """Issue 12: equal work took 2.26 s and 0.86 s; such a study cannot rank by time."""
    trials = [cand(0, 0.9, seconds=2.26), cand(1, 0.9, seconds=0.86)]
    trials += [cand(2, 0.91, seconds=1.5, batch=64), cand(3, 0.91, seconds=1.1, batch=64)]
    front = [cand(10, 0.93, seconds=1.0, batch=128), cand(11, 0.95, seconds=1.6, batch=256)]
    noise = timing_noise(trials + front, front=front, cost="train_seconds")
    assert noise.source is NoiseSource.STUDY and noise.relative > 0.5
    assert [(p.first, p.second) for p in noise.pairs] == [(10, 11)]


def test_only_time_costs_have_timing_noise() -> None:
    with pytest.raises(ValueError, match="'cost' parameter of timing_noise must be one of"):
        timing_noise([], front=[], cost="size_bits")


def test_selection_carries_the_noise_around_the_chosen_point() -> None:
    trials = [
        cand(0, 0.90, latency=1.00, spread=0.02),
        cand(1, 0.95, latency=1.01, spread=0.02),  # most accurate, 1 % slower: noise
        cand(2, 0.80, latency=0.50, spread=0.02),
    ]
    selection = select_strategy(trials, objectives=["accuracy", "latency_ms"])
    assert selection.chosen is not None and selection.chosen.number == 1
    (noise,) = selection.timing
    assert noise.cost == "latency_ms"
    assert [(p.first, p.second) for p in noise.involving(1)] == [(0, 1)]
    sized = select_strategy(trials, objectives=["accuracy", "size_bits"])
    assert sized.timing == ()  # no time objective, nothing to say


@pytest.mark.parametrize("cost", ["latency_ms", "train_seconds"])
def test_the_note_writes_times_as_select_does(cost: str) -> None:
    for first, second in [(0.0123, 0.0125), (0.5, 0.51), (3.25, 3.3), (150.0, 151.0)]:
        call = CloseCall(cost, 1, 2, first, second, 1.0)
        note = TimingNoise(cost, NoiseSource.STUDY, 0.1, (call,)).note()
        shown = f"({format_quantity(first, cost=cost)} vs {format_quantity(second, cost=cost)})"
        assert shown in note
