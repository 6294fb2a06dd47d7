"""Pareto math on plain arrays: front, non-dominated sorting, crowding, hypervolume, knee.

Every function takes ``points`` of shape ``(n, k)``: one row per trial, one column per
objective, **every column minimized**. Callers negate the columns they maximize (accuracy)
before calling. ``p`` dominates ``q`` when ``p <= q`` in every column and ``p < q`` in at
least one; equal rows never dominate each other, so duplicates of a front point are all on
the front. NaN is refused with a ``ValueError``; ``inf`` is allowed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "crowding_distance",
    "hypervolume",
    "knee_point",
    "non_dominated_sort",
    "pareto_front_mask",
]

FloatArray = NDArray[np.float64]


def _as_points(points: ArrayLike, *, name: str = "points") -> FloatArray:
    array: NDArray[Any] = np.asarray(points, dtype=np.float64)
    if array.ndim == 1 and array.size == 0:
        array = array.reshape(0, 1)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(
            f"The '{name}' parameter must be a 2-D array of shape (n_points, n_objectives) "
            f"with at least one objective. Got an array of shape {array.shape} instead."
        )
    if np.isnan(array).any():
        raise ValueError(f"The '{name}' parameter must not contain NaN. Got NaN instead.")
    return array


def _front_mask_2d(points: FloatArray) -> NDArray[np.bool_]:
    """Non-dominated rows of an ``(n, 2)`` array in O(n log n)."""
    n = len(points)
    order = np.lexsort((points[:, 1], points[:, 0]))
    xs, ys = points[order, 0], points[order, 1]
    starts = np.ones(n, dtype=bool)
    starts[1:] = xs[1:] != xs[:-1]
    # index of the first row of each row's x-group (rows sorted by x, then y)
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    group_min = ys[group_start]
    running_min = np.minimum.accumulate(ys)
    before = np.full(n, np.inf)
    has_before = group_start > 0
    before[has_before] = running_min[group_start[has_before] - 1]
    sorted_mask = (ys == group_min) & (group_min < before)
    mask = np.empty(n, dtype=bool)
    mask[order] = sorted_mask
    return mask


def _front_mask_kd(points: FloatArray) -> NDArray[np.bool_]:
    """Non-dominated rows for any number of columns (sort, then filter by each front point)."""
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    # np.unique sorts rows lexicographically: the first remaining row is never dominated.
    remaining = np.arange(len(unique))
    on_front = np.zeros(len(unique), dtype=bool)
    while remaining.size:
        head = remaining[0]
        on_front[head] = True
        rest = remaining[1:]
        dominated = np.all(unique[head] <= unique[rest], axis=1)
        remaining = rest[~dominated]
    result: NDArray[np.bool_] = on_front[inverse]
    return result


def pareto_front_mask(points: ArrayLike) -> NDArray[np.bool_]:
    """Which rows are non-dominated (all columns minimized).

    O(n log n) for one or two objectives; for more, a sort followed by one filtering pass
    per front point (O(n * front size * k)).

    Args:
        points: Array of shape ``(n, k)``, every column minimized.

    Returns:
        Boolean array of length ``n``, True for the rows of the Pareto front.

    Raises:
        ValueError: If ``points`` is not 2-D or contains NaN.

    Examples:
        >>> pareto_front_mask([[1, 4], [2, 2], [3, 3], [4, 1], [2, 2]]).tolist()
        [True, True, False, True, True]
    """
    array = _as_points(points)
    n, k = array.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if k == 1:
        result: NDArray[np.bool_] = array[:, 0] == array[:, 0].min()
        return result
    if k == 2:
        return _front_mask_2d(array)
    return _front_mask_kd(array)


def non_dominated_sort(points: ArrayLike) -> NDArray[np.int64]:
    """Rank every row by the non-dominated front it belongs to (0 = Pareto front).

    Rank ``r`` holds the rows that are non-dominated once ranks ``0 .. r-1`` are removed.

    Args:
        points: Array of shape ``(n, k)``, every column minimized.

    Returns:
        Integer array of length ``n``.

    Raises:
        ValueError: If ``points`` is not 2-D or contains NaN.

    Examples:
        >>> non_dominated_sort([[1, 3], [2, 2], [2, 3], [3, 3], [1, 3]]).tolist()
        [0, 0, 1, 2, 0]
    """
    array = _as_points(points)
    ranks = np.full(len(array), -1, dtype=np.int64)
    remaining = np.arange(len(array))
    rank = 0
    while remaining.size:
        mask = pareto_front_mask(array[remaining])
        ranks[remaining[mask]] = rank
        remaining = remaining[~mask]
        rank += 1
    return ranks


def crowding_distance(points: ArrayLike) -> FloatArray:
    """NSGA-II crowding distance of each row within the given set (usually one front).

    For each objective the rows are sorted; the two extremes get ``inf`` and every other
    row adds the gap between its neighbours divided by the objective's range. An objective
    with zero range adds nothing.

    Args:
        points: Array of shape ``(n, k)``.

    Returns:
        Float array of length ``n`` (``inf`` for extremes, and for every row when n <= 2).

    Raises:
        ValueError: If ``points`` is not 2-D or contains NaN.

    Examples:
        >>> crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]]).tolist()
        [inf, 1.25, 1.25, inf]
    """
    array = _as_points(points)
    n, k = array.shape
    distance = np.zeros(n, dtype=np.float64)
    if n <= 2:
        distance[:] = np.inf
        return distance
    for column in range(k):
        values = array[:, column]
        order = np.argsort(values, kind="stable")
        sorted_values = values[order]
        span = sorted_values[-1] - sorted_values[0]
        distance[order[0]] = np.inf
        distance[order[-1]] = np.inf
        if span == 0 or not np.isfinite(span):
            continue
        gaps = (sorted_values[2:] - sorted_values[:-2]) / span
        distance[order[1:-1]] += gaps
    return distance


def _hv_2d(points: FloatArray, reference: FloatArray) -> float:
    front = points[_front_mask_2d(points)]
    front = front[np.lexsort((front[:, 1], front[:, 0]))]
    # Along increasing x the front's y decreases strictly (duplicates share a rectangle).
    widths = np.diff(np.append(front[:, 0], reference[0]))
    heights = reference[1] - front[:, 1]
    return float(np.sum(widths * heights))


def _hv_recursive(points: FloatArray, reference: FloatArray) -> float:
    k = points.shape[1]
    if len(points) == 0:
        return 0.0
    if k == 1:
        return float(reference[0] - points[:, 0].min())
    if k == 2:
        return _hv_2d(points, reference)
    points = points[_front_mask_kd(points)]
    # Slice along the last objective: between consecutive levels the dominated region's
    # cross-section is the (k-1)-volume of the points at or below the lower level.
    order = np.argsort(points[:, -1], kind="stable")
    points = points[order]
    levels = np.append(points[:, -1], reference[-1])
    volume = 0.0
    for i in range(len(points)):
        thickness = levels[i + 1] - levels[i]
        if thickness <= 0:
            continue
        volume += thickness * _hv_recursive(points[: i + 1, :-1], reference[:-1])
    return volume


def hypervolume(points: ArrayLike, reference: ArrayLike) -> float:
    """Exact hypervolume dominated by ``points`` and bounded by ``reference`` (minimization).

    Reference point convention: ``reference`` is the *worst* corner of the measured box; it
    should be worse (larger) than every point in every column. A point that is not strictly
    better than the reference in every column encloses no volume and is ignored. Exact for
    any number of objectives (a sweep for two, slicing along the last objective for more,
    which is fast for the front sizes of a study with three or four objectives).

    Args:
        points: Array of shape ``(n, k)``, every column minimized.
        reference: Array of length ``k``, finite.

    Returns:
        The hypervolume (0.0 for no points).

    Raises:
        ValueError: If the shapes disagree, or the input contains NaN or a non-finite
            reference value.

    Examples:
        >>> hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4])
        6.0
        >>> hypervolume([[5, 0]], [4, 4])
        0.0
    """
    array = _as_points(points)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    if ref.shape != (array.shape[1],) or not np.all(np.isfinite(ref)):
        raise ValueError(
            f"The 'reference' parameter of hypervolume must be {array.shape[1]} finite "
            f"numbers, one per objective. Got {np.asarray(reference).tolist()!r} instead."
        )
    inside = np.all(array < ref, axis=1)
    return _hv_recursive(array[inside], ref)


def knee_point(points: ArrayLike) -> int:
    """Index of the knee: the front point closest to the ideal point after normalization.

    Each objective is scaled to ``[0, 1]`` over all of ``points`` (an objective with zero
    range becomes 0); the knee is the non-dominated row with the smallest Euclidean distance
    to the best corner of the front — the best compromise, where improving one objective
    further costs the most in the others. Ties go to the lowest index.

    Scaling over every point rather than over the front alone keeps a near-flat objective
    from deciding: on a front of two models 4 bits apart in size but 0.41 and 0.98 in
    accuracy, front-only scaling blows the 4 bits up to the full ``[0, 1]`` range and picks
    the 0.41 model; against the spread of the whole study the 4 bits count for nothing.

    Args:
        points: Array of shape ``(n, k)`` with ``n >= 1``, every column minimized.

    Returns:
        Row index into ``points``.

    Raises:
        ValueError: If ``points`` is empty, not 2-D, or contains NaN or inf.

    Examples:
        >>> knee_point([[0.0, 10.0], [1.0, 2.0], [5.0, 1.0], [10.0, 0.0], [6.0, 6.0]])
        1
    """
    array = _as_points(points)
    if len(array) == 0:
        raise ValueError("The 'points' parameter of knee_point must hold at least one point.")
    if not np.all(np.isfinite(array)):
        raise ValueError("The 'points' parameter of knee_point must be finite. Got inf instead.")
    candidates = np.flatnonzero(pareto_front_mask(array))
    front = array[candidates]
    low, high = array.min(axis=0), array.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (front - front.min(axis=0)) / span
    distance = np.sqrt(np.sum(scaled**2, axis=1))
    return int(candidates[int(np.argmin(distance))])
