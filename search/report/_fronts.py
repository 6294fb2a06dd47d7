"""Pareto fronts of the trial rows: accuracy against one cost (with its staircase), and on all
objectives at once. Only feasible COMPLETE trials make a front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from paretune.search._pareto import pareto_front_mask
from paretune.search.report._rows import TrialRow, is_usable, objective_points
from paretune.search.report._select import COST_UNITS

__all__ = ["FrontView", "FrontZoom", "front_view", "front_zoom", "global_front", "staircase"]


class FrontView(NamedTuple):
    """Accuracy against one cost: which trials are on the 2-D front, and its staircase.

    Attributes:
        cost: The cost on the x axis.
        front: Row indices of the 2-D non-dominated feasible COMPLETE trials, cheapest first.
        dominated: Row indices of the other feasible COMPLETE trials.
        infeasible: Row indices of COMPLETE trials breaking a study constraint.
        pruned: Row indices of PRUNED trials with a known last accuracy and cost.
        stair_x: Staircase x (cost) coordinates.
        stair_y: Staircase y (accuracy) coordinates.
        log_x: Whether the cost spans enough orders of magnitude for a log axis.
    """

    cost: str
    front: tuple[int, ...]
    dominated: tuple[int, ...]
    infeasible: tuple[int, ...]
    pruned: tuple[int, ...]
    stair_x: tuple[float, ...]
    stair_y: tuple[float, ...]
    log_x: bool


def staircase(
    costs: Sequence[float], accuracies: Sequence[float], *, x_max: float | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The attainment staircase of a front (minimize cost, maximize accuracy).

    The best accuracy reachable at cost ``x`` is a step function: it rises at each front
    point and stays flat until the next one; the last step runs to ``x_max``.

    Args:
        costs: Costs of the front points (any order).
        accuracies: Their accuracies.
        x_max: Where the last step ends (default: the largest cost).

    Returns:
        ``(xs, ys)`` of the polyline.

    Examples:
        >>> staircase([1, 3, 2], [0.5, 0.9, 0.7], x_max=4)
        ((1.0, 2.0, 2.0, 3.0, 3.0, 4.0), (0.5, 0.5, 0.7, 0.7, 0.9, 0.9))
    """
    if len(costs) != len(accuracies):
        raise ValueError("The 'costs' and 'accuracies' parameters must have the same length.")
    if not costs:
        return (), ()
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i]))
    xs: list[float] = []
    ys: list[float] = []
    best = -math.inf
    for i in order:
        x, y = float(costs[i]), float(accuracies[i])
        if y <= best:
            continue
        if xs:
            xs.append(x)
            ys.append(best)
        xs.append(x)
        ys.append(y)
        best = y
    end = float(x_max) if x_max is not None else float(max(costs))
    if end > xs[-1]:
        xs.append(end)
        ys.append(best)
    return tuple(xs), tuple(ys)


def front_view(rows: Sequence[TrialRow], cost: str) -> FrontView:
    """Split the trials for the plot of accuracy against ``cost``.

    Args:
        rows: All trials.
        cost: The cost on the x axis.

    Returns:
        The :class:`FrontView`.
    """
    complete = [i for i, r in enumerate(rows) if r.state == "COMPLETE" and is_usable(r, [cost])]
    feasible = [i for i in complete if rows[i].feasible]
    infeasible = [i for i in complete if not rows[i].feasible]
    pruned = [i for i, r in enumerate(rows) if r.state == "PRUNED" and is_usable(r, [cost])]
    points = np.array([[rows[i].metrics[cost], rows[i].minimized] for i in feasible])
    mask = pareto_front_mask(points.reshape(len(feasible), 2))
    front = sorted(
        (i for i, on in zip(feasible, mask, strict=True) if on),
        key=lambda i: (rows[i].metrics[cost], rows[i].minimized, rows[i].number),
    )
    dominated = [i for i, on in zip(feasible, mask, strict=True) if not on]
    all_costs = [rows[i].metrics[cost] for i in complete + pruned]
    sign = -1.0 if rows and not rows[0].maximize else 1.0  # a minimized metric steps down
    xs, ys = staircase(
        [rows[i].metrics[cost] for i in front],
        [sign * rows[i].accuracy for i in front],
        x_max=max(all_costs) if all_costs else None,
    )
    ys = tuple(sign * y for y in ys)
    positive = [c for c in all_costs if c > 0]
    log_x = (
        bool(positive) and len(positive) == len(all_costs) and max(positive) > 10 * min(positive)
    )
    return FrontView(
        cost, tuple(front), tuple(dominated), tuple(infeasible), tuple(pruned), xs, ys, log_x
    )


class FrontZoom(NamedTuple):
    """Where the plot of a front opens: axis ranges that frame the front, not every trial.

    Attributes:
        x: ``(low, high)`` of the cost axis, as plotly takes it: ``log10`` of the cost on a
            log axis.
        y: ``(low, high)`` of the quality axis.
        outside: Row indices of front points left out of the frame: the cheapest ones whose
            quality is far worse than the rest of the front (see :func:`front_zoom`).
    """

    x: tuple[float, float]
    y: tuple[float, float]
    outside: tuple[int, ...]


def front_zoom(
    rows: Sequence[TrialRow],
    view: FrontView,
    *,
    keep: Sequence[int] = (),
    margin: float = 0.08,
) -> FrontZoom | None:
    """The frame of a front's plot: its points with a margin, whatever the other trials.

    Diverged, failed or dominated trials far from the front would stretch an autoranged
    axis (a front between accuracy 0.97 and 0.99 drawn as a flat line over 0 to 1); the
    frame holds the front points (and ``keep``, the recommended one) only. A front point so
    far worse than all the others that they would fill less than a tenth of the frame's
    height (a near-free model that learned nothing, at accuracy 0.53 beside a front at
    0.98-0.99) is left outside, so it does not squash the rest; at least two points stay
    inside.

    Args:
        rows: All trials.
        view: The front on one cost.
        keep: Row indices that must be inside the frame (the recommended strategy).
        margin: Share of each axis's span added on both sides.

    Returns:
        The :class:`FrontZoom`, or None when the front is empty.
    """
    members = [i for i in dict.fromkeys((*view.front, *keep)) if is_usable(rows[i], [view.cost])]
    if not members:
        return None

    def good(i: int) -> float:  # higher is better, whatever the direction
        return -rows[i].minimized

    order = sorted(members, key=lambda i: (good(i), -rows[i].metrics[view.cost]))
    outside: list[int] = []
    while len(order) - len(outside) > 2 and order[len(outside)] not in keep:
        worst, rest = order[len(outside)], order[len(outside) + 1 :]
        gap, spread = good(rest[0]) - good(worst), good(rest[-1]) - good(rest[0])
        if gap <= 0 or spread >= 0.1 * (spread + gap):
            break
        outside.append(worst)
    inside = order[len(outside) :]
    costs = [rows[i].metrics[view.cost] for i in inside]
    if view.log_x:
        costs = [math.log10(c) for c in costs]
    qualities = [rows[i].accuracy for i in inside]
    x_floor = 0.03 if view.log_x else max(abs(max(costs)) * 0.02, 1e-12)
    y_floor = max(abs(max(qualities)) * 0.002, 1e-6)
    return FrontZoom(
        _padded(costs, margin, x_floor), _padded(qualities, margin, y_floor), tuple(outside)
    )


def _padded(values: Sequence[float], margin: float, floor: float) -> tuple[float, float]:
    """``(min, max)`` of ``values`` widened by ``margin`` of their span (at least ``floor``).

    Examples:
        >>> _padded([1.0, 3.0], 0.1, 0.01)
        (0.8, 3.2)
    """
    low, high = min(values), max(values)
    pad = max((high - low) * margin, floor)
    return (low - pad, high + pad)


def global_front(rows: Sequence[TrialRow], objectives: Sequence[str]) -> tuple[int, ...]:
    """Row indices of feasible COMPLETE trials non-dominated on all objectives.

    Sorted by the first cost objective (then the others), cheapest first.

    Args:
        rows: All trials.
        objectives: The study's objectives.

    Returns:
        Row indices.
    """
    costs = [o for o in objectives if o in COST_UNITS]
    usable = [i for i, r in enumerate(rows) if r.state == "COMPLETE" and r.feasible]
    usable = [i for i in usable if is_usable(rows[i], costs)]
    mask = pareto_front_mask(objective_points(rows, usable, costs))
    front = [i for i, on in zip(usable, mask, strict=True) if on]
    front.sort(key=lambda i: (*(rows[i].metrics[c] for c in costs), rows[i].minimized))
    return tuple(front)
