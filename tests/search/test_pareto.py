"""Pareto math against brute-force oracles on random point sets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from paretune.search import (
    crowding_distance,
    hypervolume,
    knee_point,
    non_dominated_sort,
    pareto_front_mask,
)


def _dominates(p: np.ndarray, q: np.ndarray) -> bool:
    return bool(np.all(p <= q) and np.any(p < q))


def _oracle_mask(points: np.ndarray) -> np.ndarray:
    n = len(points)
    return np.array(
        [not any(_dominates(points[j], points[i]) for j in range(n) if j != i) for i in range(n)],
        dtype=bool,
    )


def _oracle_ranks(points: np.ndarray) -> np.ndarray:
    """Rank = length of the longest chain of dominators above a point."""
    n = len(points)
    ranks = np.zeros(n, dtype=int)
    order = sorted(range(n), key=lambda i: tuple(points[i]))
    for i in order:  # lexicographic order: every dominator of i comes earlier
        ranks[i] = max((ranks[j] + 1 for j in order if _dominates(points[j], points[i])), default=0)
    return ranks


def _oracle_hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Sum the grid cells (cut at every coordinate) whose lower corner some point dominates."""
    k = points.shape[1]
    axes = [
        np.unique(np.append(points[:, d][points[:, d] < reference[d]], reference[d]))
        for d in range(k)
    ]
    volume = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        low = np.array([axes[d][c] for d, c in enumerate(cell)])
        high = np.array([axes[d][c + 1] for d, c in enumerate(cell)])
        if any(np.all(p <= low) for p in points):
            volume += float(np.prod(high - low))
    return volume


def _random_points(seed: int, n: int, k: int, *, integer: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if integer:  # many ties and duplicates
        return rng.integers(0, 5, size=(n, k)).astype(float)
    return rng.random((n, k))


CASES = [
    (seed, n, k, integer)
    for seed in range(6)
    for n, k in [(1, 2), (7, 1), (30, 2), (40, 3), (25, 4)]
    for integer in (False, True)
]


@pytest.mark.parametrize(("seed", "n", "k", "integer"), CASES)
def test_front_mask_matches_oracle(seed: int, n: int, k: int, integer: bool) -> None:
    points = _random_points(seed, n, k, integer=integer)
    np.testing.assert_array_equal(pareto_front_mask(points), _oracle_mask(points))


@pytest.mark.parametrize(("seed", "n", "k", "integer"), CASES)
def test_non_dominated_sort_matches_oracle(seed: int, n: int, k: int, integer: bool) -> None:
    points = _random_points(seed, n, k, integer=integer)
    np.testing.assert_array_equal(non_dominated_sort(points), _oracle_ranks(points))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("integer", [False, True])
def test_hypervolume_matches_grid_oracle(seed: int, k: int, integer: bool) -> None:
    n = {1: 6, 2: 12, 3: 9, 4: 6}[k]
    points = _random_points(seed, n, k, integer=integer)
    reference = np.full(k, 4.5 if integer else 1.1)
    reference[0] = 3.5 if integer else 0.9  # some points lie outside the box on column 0
    expected = _oracle_hypervolume(points, reference)
    assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_hypervolume_agrees_with_optuna_on_a_larger_3d_front() -> None:
    from optuna._hypervolume import compute_hypervolume

    rng = np.random.default_rng(3)
    points = rng.random((300, 3))
    reference = np.full(3, 1.2)
    front = points[pareto_front_mask(points)]
    assert hypervolume(points, reference) == pytest.approx(
        compute_hypervolume(front, reference), rel=1e-9
    )


def test_hypervolume_hand_computed() -> None:
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == 6.0
    assert hypervolume([[1, 1, 1]], [2, 3, 4]) == 6.0
    assert hypervolume(np.zeros((0, 2)), [1, 1]) == 0.0
    # a point on the reference boundary encloses nothing
    assert hypervolume([[4, 0]], [4, 4]) == 0.0


def test_front_mask_two_objectives_is_fast_at_scale() -> None:
    import time

    rng = np.random.default_rng(0)
    points = rng.random((200_000, 2))
    start = time.perf_counter()
    mask = pareto_front_mask(points)
    assert time.perf_counter() - start < 2.0
    # the fast path still agrees with the oracle on a slice of the same data
    sub = points[:3000]
    np.testing.assert_array_equal(pareto_front_mask(sub), _oracle_mask(sub))
    assert mask.sum() >= 1


def test_crowding_distance_hand_computed() -> None:
    distance = crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]])
    assert distance.tolist() == [np.inf, 1.25, 1.25, np.inf]
    assert crowding_distance([[1, 2], [3, 4]]).tolist() == [np.inf, np.inf]
    # zero range on one objective adds nothing for it
    assert crowding_distance([[0, 1], [1, 1], [3, 1]]).tolist() == [np.inf, 1.0, np.inf]


@pytest.mark.parametrize("seed", range(5))
def test_crowding_distance_matches_loop(seed: int) -> None:
    points = np.random.default_rng(seed).random((12, 3))
    expected = np.zeros(12)
    for d in range(3):
        order = np.argsort(points[:, d], kind="stable")
        span = points[order[-1], d] - points[order[0], d]
        expected[order[0]] = expected[order[-1]] = np.inf
        for pos in range(1, 11):
            expected[order[pos]] += (points[order[pos + 1], d] - points[order[pos - 1], d]) / span
    np.testing.assert_allclose(crowding_distance(points), expected)


def test_knee_point_hand_computed() -> None:
    points = [[0.0, 10.0], [1.0, 2.0], [5.0, 1.0], [10.0, 0.0], [6.0, 6.0]]
    assert knee_point(points) == 1
    # a dominated point is never the knee, even if it is close to the ideal corner
    assert knee_point([[0, 1], [1, 0], [0.6, 0.6], [0.5, 0.5]]) == 3
    assert knee_point([[3.0, 3.0]]) == 0


def test_knee_point_ignores_a_near_flat_objective() -> None:
    # Seen on digits-quick: two front models 4 bits apart in size, 0.41 and 0.98 in accuracy,
    # in a study whose sizes span 41 kbit to 1.6 Mbit. Front-only scaling picked the 0.41 one.
    points = [[-0.4095, 41_356.0], [-0.9861, 41_360.0], [-0.98, 1_626_432.0], [-0.07, 900_000.0]]
    assert knee_point(points) == 1


@pytest.mark.parametrize("seed", range(5))
def test_knee_point_is_on_the_front(seed: int) -> None:
    points = np.random.default_rng(seed).random((50, 3))
    assert pareto_front_mask(points)[knee_point(points)]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: pareto_front_mask([1.0, 2.0]), "2-D array"),
        (lambda: pareto_front_mask([[1.0, np.nan]]), "NaN"),
        (lambda: hypervolume([[1.0, 2.0]], [3.0]), "reference"),
        (lambda: hypervolume([[1.0, 2.0]], [3.0, np.inf]), "reference"),
        (lambda: knee_point(np.zeros((0, 2))), "at least one"),
        (lambda: knee_point([[np.inf, 1.0]]), "finite"),
    ],
)
def test_bad_input_raises(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


def test_empty_input() -> None:
    assert pareto_front_mask(np.zeros((0, 3))).shape == (0,)
    assert non_dominated_sort(np.zeros((0, 2))).shape == (0,)
