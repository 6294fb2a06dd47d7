"""Selection under constraints, the knee, and limits with units (hand-computed cases)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from paretune.search import (
    Candidate,
    SelectionRule,
    format_quantity,
    parse_limit,
    parse_quantity,
    select_strategy,
)

OBJECTIVES = ["accuracy", "size_bits"]


def _c(number: int, accuracy: float, size: float, latency: float = 1.0) -> Candidate:
    costs = {"size_bits": size, "latency_ms": latency, "bitops": size * 10}
    return Candidate(number, accuracy, accuracy - 0.01, costs, {"bits": number})


# trial: accuracy, size_bits, latency_ms
POOL = [
    _c(0, 0.70, 1_000, 0.5),
    _c(1, 0.80, 2_000, 0.6),
    _c(2, 0.85, 4_000, 0.9),
    _c(3, 0.90, 8_000, 1.5),
    _c(4, 0.92, 64_000, 3.0),
    _c(5, 0.75, 5_000, 2.0),  # dominated by 2
    _c(6, 0.90, 9_000, 1.0),  # dominated by 3 on size, cheaper latency
]


@pytest.mark.parametrize(
    ("text", "cost", "expected"),
    [
        ("50kbit", "size_bits", 50_000.0),
        ("50 kbit", "size_bits", 50_000.0),
        ("50kb", "size_bits", 50_000.0),
        ("2MB", "size_bits", 16_000_000.0),
        ("1KiB", "size_bits", 8192.0),
        ("3B", "size_bits", 24.0),
        ("1200", "size_bits", 1200.0),
        ("1.5e3bit", "size_bits", 1500.0),
        ("3ms", "latency_ms", 3.0),
        ("250us", "latency_ms", 0.25),
        ("0.5s", "latency_ms", 500.0),
        ("2min", "train_seconds", 120.0),
        ("90", "train_seconds", 90.0),
        ("1.5G", "bitops", 1.5e9),
        ("20k", "params", 20_000.0),
        ("3M", "nonzero_params", 3e6),
        (7, "params", 7.0),
    ],
)
def test_parse_quantity_units(text: str | float, cost: str, expected: float) -> None:
    assert parse_quantity(text, cost=cost) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "cost", "match"),
    [
        ("3ms", "size_bits", "unit of size: bit, kbit"),
        ("2MB", "latency_ms", "unit of time: ns, us, ms, s, min, h. Got '2MB'"),
        ("2xyz", "train_seconds", "unit of time: ns, us, ms, s, min, h. Got '2xyz'"),
        ("5kbit", "bitops", "unit of count: k, M, G, T. Got '5kbit'"),
        ("5ms", "params", "unit of count: k, M, G, T. Got '5ms'"),
        ("abc", "size_bits", "must be a number"),
        ("-3kbit", "size_bits", ">= 0"),
        ("1e999", "size_bits", "finite"),
        ("1", "speed", "Unknown cost 'speed'. Known: size_bits"),
    ],
)
def test_parse_quantity_refuses(text: str, cost: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_quantity(text, cost=cost)


def test_parse_limit() -> None:
    assert parse_limit("size_bits=50kbit") == ("size_bits", 50_000.0)
    assert parse_limit(" latency_ms = 3ms ") == ("latency_ms", 3.0)
    with pytest.raises(ValueError, match="COST=VALUE"):
        parse_limit("size_bits<50kbit")
    with pytest.raises(ValueError, match="Unknown cost 'size'"):
        parse_limit("size=3")


def test_format_quantity_round_trips_through_parse() -> None:
    assert format_quantity(42_100, cost="size_bits") == "42.1 kbit (5.26 kB)"
    assert parse_quantity("42.1kbit", cost="size_bits") == pytest.approx(42_100)
    assert format_quantity(0.25, cost="latency_ms") == "250 us"
    assert format_quantity(300, cost="train_seconds") == "5 min"
    assert format_quantity(math.inf, cost="size_bits") == "inf"


def test_most_accurate_under_a_size_limit() -> None:
    s = select_strategy(POOL, objectives=OBJECTIVES, limits={"size_bits": 8_500})
    assert s.rule is SelectionRule.MOST_ACCURATE
    assert s.chosen is not None and s.chosen.number == 3
    assert "most accurate" in s.reason and "trial 3" in s.reason.lower()
    assert [c.number for c in s.feasible_front] == [0, 1, 2, 3]


def test_tie_on_accuracy_goes_to_the_cheaper() -> None:
    s = select_strategy(POOL, objectives=OBJECTIVES, limits={"size_bits": 10_000})
    assert s.chosen is not None and s.chosen.number == 3  # 3 and 6 both 0.90; 3 is smaller


def test_limit_on_a_cost_that_is_not_an_objective() -> None:
    s = select_strategy(POOL, objectives=OBJECTIVES, limits={"latency_ms": 1.2})
    assert s.chosen is not None and s.chosen.number == 6


def test_several_limits_combine() -> None:
    s = select_strategy(POOL, objectives=OBJECTIVES, limits={"latency_ms": 1.2, "size_bits": 5e3})
    assert s.chosen is not None and s.chosen.number == 2


def test_min_accuracy_alone_picks_the_cheapest() -> None:
    s = select_strategy(POOL, objectives=OBJECTIVES, min_accuracy=0.84)
    assert s.rule is SelectionRule.CHEAPEST
    assert s.chosen is not None and s.chosen.number == 2
    assert "smallest size_bits" in s.reason


def test_min_accuracy_and_limit_pick_the_most_accurate() -> None:
    s = select_strategy(POOL, objectives=OBJECTIVES, min_accuracy=0.8, limits={"size_bits": 5e3})
    assert s.chosen is not None and s.chosen.number == 2


def test_no_constraint_picks_the_most_accurate() -> None:
    s = select_strategy(POOL, objectives=OBJECTIVES)
    assert s.chosen is not None and s.chosen.number == 4


def test_knee() -> None:
    # front (size, acc): (1k,.70) (2k,.80) (4k,.85) (8k,.90) (64k,.92); scaled over the pool
    # (whose ranges equal the front's here) the closest point to the ideal corner is trial 3
    # (0.111, 0.091): computed by hand.
    front = [(0, 1e3, 0.70), (1, 2e3, 0.80), (2, 4e3, 0.85), (3, 8e3, 0.90), (4, 64e3, 0.92)]
    distance = {n: math.hypot((size - 1e3) / 63e3, (0.92 - acc) / 0.22) for n, size, acc in front}
    expected = min(distance, key=lambda n: distance[n])
    s = select_strategy(POOL, objectives=OBJECTIVES, knee=True)
    assert s.rule is SelectionRule.KNEE
    assert s.chosen is not None and s.chosen.number == expected == 3
    # the knee respects the limits too
    s = select_strategy(POOL, objectives=OBJECTIVES, knee=True, limits={"size_bits": 3e3})
    assert s.chosen is not None and s.chosen.number in (0, 1)


def test_the_knee_of_one_objective_is_the_best_trial_and_says_so() -> None:
    s = select_strategy(POOL, objectives=["accuracy"], knee=True)
    best = max(POOL, key=lambda c: c.accuracy)
    assert s.chosen is not None and s.chosen.number == best.number
    assert "the study has one objective (accuracy), so its knee is its best trial" in (s.reason)
    assert "cost much more" not in s.reason


def test_nothing_feasible_returns_the_closest() -> None:
    s = select_strategy(POOL, objectives=OBJECTIVES, min_accuracy=0.95, limits={"size_bits": 3_000})
    assert s.chosen is None
    assert s.closest and s.closest[0].candidate.number == 1
    # trial 1 misses accuracy by (0.95-0.80)/0.95 and meets the size limit
    assert s.closest[0].misses == pytest.approx({"accuracy": 0.15 / 0.95})
    scores = [x.score for x in s.closest]
    assert scores == sorted(scores)
    assert "No strategy" in s.reason


def test_empty_study() -> None:
    s = select_strategy([], objectives=OBJECTIVES)
    assert s.chosen is None and s.closest == ()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"limits": {"speed": 1.0}}, "Unknown cost 'speed'"),
        ({"limits": {"size_bits": -1.0}}, ">= 0"),
        ({"min_accuracy": 1.5}, r"\[0, 1\]"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        select_strategy(POOL, objectives=OBJECTIVES, **kwargs)


def test_cost_not_recorded_is_named() -> None:
    bare = [Candidate(0, 0.5, 0.5, {}, {})]
    with pytest.raises(ValueError, match="did not record the cost 'size_bits'"):
        select_strategy(bare, objectives=OBJECTIVES)
