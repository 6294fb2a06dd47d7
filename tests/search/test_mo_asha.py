"""The MO-ASHA decision core on hand-made rungs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from paretune.search import non_dominated_sort
from paretune.search.pruning import (
    Decision,
    MOAsha,
    RungSpacing,
    TieBreak,
    promotion_order,
    rung_point,
)


@pytest.mark.parametrize(
    ("min_epochs", "factor", "last", "expected"),
    [
        (1, 3, 27, (1, 3, 9)),
        (1, 3, 28, (1, 3, 9, 27)),
        (2, 3, 20, (2, 6, 18)),
        (3, 2, 20, (3, 6, 12)),
        (1, 1.5, 5, (1, 2, 3)),  # rounding never repeats a rung
        (5, 3, 5, ()),
    ],
)
def test_rungs_are_geometric_and_below_the_last_epoch(
    min_epochs: int, factor: float, last: int, expected: tuple[int, ...]
) -> None:
    core = MOAsha(min_epochs=min_epochs, reduction_factor=factor, rung_spacing="asha")
    assert core.rungs(last) == expected


@pytest.mark.parametrize(
    ("min_epochs", "factor", "last", "expected"),
    [
        (1, 2, 20, (1, 2, 4, 8)),  # asha: (1, 2, 4, 8, 16); 16 would leave 4 of 20 epochs
        (2, 2, 20, (2, 4, 8)),
        (1, 3, 27, (1, 3, 9)),  # 9 * 3 = 27 fits: the same rungs as asha
        (2, 3, 20, (2, 6)),
        (5, 3, 12, ()),
    ],
)
def test_full_stretch_rungs_leave_a_full_factor_of_training(
    min_epochs: int, factor: float, last: int, expected: tuple[int, ...]
) -> None:
    core = MOAsha(min_epochs=min_epochs, reduction_factor=factor, rung_spacing="full-stretch")
    assert core.rungs(last) == expected
    assert all(rung * factor <= last for rung in core.rungs(last))
    asha = MOAsha(min_epochs=min_epochs, reduction_factor=factor, rung_spacing="asha").rungs(last)
    assert set(expected) <= set(asha)


def test_instance_and_call_max_epochs_take_the_smaller() -> None:
    core = MOAsha(min_epochs=1, reduction_factor=3, max_epochs=10, rung_spacing="asha")
    assert core.rungs() == (1, 3, 9)
    assert core.rungs(5) == (1, 3)
    assert core.rungs(100) == (1, 3, 9)
    with pytest.raises(ValueError, match="last epoch"):
        MOAsha().rungs()


def test_not_a_rung_always_continues() -> None:
    core = MOAsha(min_epochs=1, reduction_factor=3, max_epochs=27)
    worst = (0.0, 100.0)
    others = [(-0.9, 1.0)] * 10
    for epoch in (2, 4, 5, 26, 27):
        verdict = core.judge(epoch=epoch, point=worst, others=others)
        assert verdict.decision is Decision.CONTINUE and verdict.rung == 0


def test_dominated_trial_stops_and_front_trial_continues() -> None:
    core = MOAsha(min_epochs=1, reduction_factor=3, max_epochs=9)
    others = [(-0.9, 2.0), (-0.8, 1.0), (-0.5, 3.0), (-0.4, 3.0), (-0.3, 2.5)]
    # dominated by (-0.9, 2.0): stops
    stop = core.judge(epoch=1, point=(-0.7, 2.0), others=others)
    assert stop.decision is Decision.STOP
    assert (stop.n_at_rung, stop.n_kept) == (6, 2)
    # the cheapest of all: on the front, an extreme -> first positions
    cheap = core.judge(epoch=1, point=(-0.6, 0.5), others=others)
    assert cheap.decision is Decision.CONTINUE
    # the most accurate of all
    best = core.judge(epoch=1, point=(-0.95, 2.5), others=others)
    assert best.decision is Decision.CONTINUE and best.position == 0


def test_the_top_ceil_n_over_eta_continue() -> None:
    core = MOAsha(min_epochs=1, reduction_factor=3, max_epochs=9)
    # single objective: positions are plain accuracy order
    for n_before in range(0, 12):
        others = [(-float(i) / 100,) for i in range(1, n_before + 1)]
        n = n_before + 1
        kept = max(1, math.ceil(n / 3))
        for position in range(n):
            # a point strictly between the sorted others, at `position`
            value = -(n_before + 1 - position) / 100 + 0.005
            verdict = core.judge(epoch=1, point=(value,), others=others)
            assert verdict.position == position
            assert (verdict.decision is Decision.CONTINUE) == (position < kept)


def test_alone_at_a_rung_continues() -> None:
    core = MOAsha(min_epochs=2, reduction_factor=3, max_epochs=20)
    assert core.decide(epoch=2, point=(0.0, 1e9), others=[]) is Decision.CONTINUE


def test_asynchronous_arrivals_are_judged_against_earlier_ones_only() -> None:
    """A late good trial continues even though an earlier one was promoted on less."""
    core = MOAsha(min_epochs=1, reduction_factor=2, max_epochs=8)
    arrivals = [(-0.5,), (-0.6,), (-0.4,), (-0.9,), (-0.3,), (-0.95,)]
    decisions = [
        core.decide(epoch=1, point=point, others=arrivals[:i]) for i, point in enumerate(arrivals)
    ]
    assert decisions == [
        Decision.CONTINUE,  # alone
        Decision.CONTINUE,  # best of 2, keep 1
        Decision.STOP,  # worst of 3, keep 2
        Decision.CONTINUE,  # best of 4
        Decision.STOP,  # worst of 5
        Decision.CONTINUE,  # best of 6
    ]


def test_crowding_prefers_extremes_then_spread_then_accuracy_then_arrival() -> None:
    # one front of 5; crowding: extremes (0 and 4) inf, then 2 (wide gap) before 1 and 3
    front = np.array([[-0.9, 5.0], [-0.85, 4.5], [-0.7, 2.0], [-0.5, 1.5], [-0.2, 1.0]])
    order = promotion_order(front, tie_break="crowding")
    assert order[:2].tolist() == [0, 4]  # both inf: better accuracy first
    assert order[2] == 2
    # equal crowding and equal accuracy: earlier arrival first
    twins = np.array([[-0.5, 1.0], [-0.5, 1.0]])
    assert promotion_order(twins).tolist() == [0, 1]


def test_epsilon_net_starts_at_best_accuracy_then_farthest() -> None:
    front = np.array([[-0.5, 1.0], [-0.9, 5.0], [-0.88, 4.8], [-0.7, 3.0]])
    order = promotion_order(front, tie_break=TieBreak.EPSILON_NET)
    # best accuracy first, then the farthest (the cheap end), then the middle, then the twin
    assert order.tolist() == [1, 0, 3, 2]


@pytest.mark.parametrize("tie_break", ["crowding", "epsilon-net"])
def test_promotion_order_lists_fronts_in_order(tie_break: str) -> None:
    rng = np.random.default_rng(0)
    points = rng.random((40, 3))
    order = promotion_order(points, tie_break=tie_break)
    assert sorted(order.tolist()) == list(range(40))
    ranks = non_dominated_sort(points)[order]
    assert np.all(np.diff(ranks) >= 0)


def test_nan_accuracy_is_worst_and_unreported_costs_are_left_out() -> None:
    core = MOAsha(min_epochs=1, reduction_factor=3, max_epochs=9)
    others = [(-0.9, 1.0, math.nan), (-0.8, 2.0, 5.0), (-0.7, 3.0, 1.0)]
    # third column is unknown for one trial, so it is ignored: (-0.6, 4.0) is dominated
    assert core.decide(epoch=1, point=(-0.6, 4.0, 0.0), others=others) is Decision.STOP
    order = promotion_order([(math.nan, 0.5), (-0.1, 0.5)])
    assert order.tolist() == [1, 0]


def test_rung_point_negates_accuracy_and_logs_costs() -> None:
    point = rung_point(accuracy=0.75, costs=[0.0, 9.0, math.nan])
    assert point[:3] == (-0.75, 0.0, math.log(10.0))
    assert math.isnan(point[3])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"min_epochs": 0}, "'min_epochs' parameter of MOAsha must be an int >= 1. Got 0"),
        ({"min_epochs": 1.5}, "'min_epochs'"),
        ({"reduction_factor": 1}, "'reduction_factor' parameter of MOAsha must be a float > 1"),
        ({"max_epochs": 0}, "'max_epochs'"),
        ({"tie_break": "random"}, "must be one of crowding, epsilon-net. Got 'random'"),
        (
            {"rung_spacing": "hyperband"},
            "'rung_spacing' parameter of MOAsha must be one of asha, full-stretch. Got 'hyper",
        ),
    ],
)
def test_bad_options_raise_in_scikit_learn_wording(options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MOAsha(**options)  # type: ignore[arg-type]


def test_from_options_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="Known: min_epochs, reduction_factor, max_epochs"):
        MOAsha.from_options({"grace": 2})
    assert MOAsha.from_options({"tie_break": "epsilon-net"}).tie_break is TieBreak.EPSILON_NET
    spaced = MOAsha.from_options({"rung_spacing": "full-stretch"})
    assert spaced.rung_spacing is RungSpacing.FULL_STRETCH


def test_points_must_agree_in_length() -> None:
    with pytest.raises(ValueError, match="as many columns"):
        MOAsha(max_epochs=9).judge(epoch=2, point=(1.0, 2.0), others=[(1.0,)])
