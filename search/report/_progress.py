"""How the search went on: hypervolume of the feasible front and best accuracy so far."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from paretune.search._pareto import hypervolume, pareto_front_mask
from paretune.search.report._rows import TrialRow, is_usable, objective_points
from paretune.search.report._select import COST_UNITS

__all__ = ["History", "HypervolumeHistory", "hypervolume_history", "optimization_history"]


class HypervolumeHistory(NamedTuple):
    """Hypervolume of the feasible front after each checkpoint trial number.

    Attributes:
        trial_numbers: Checkpoints (trial numbers, increasing).
        values: Hypervolume in the normalized box, in [0, 1].
        reference: The reference point (minimized form: ``-accuracy`` then costs).
        scale: Per-objective scale dividing the points before the volume is measured.
    """

    trial_numbers: tuple[int, ...]
    values: tuple[float, ...]
    reference: tuple[float, ...]
    scale: tuple[float, ...]


class History(NamedTuple):
    """Accuracy of each COMPLETE trial in order, and the best so far.

    Attributes:
        rows: Row indices of COMPLETE trials in trial-number order.
        best_so_far: Best feasible accuracy up to and including each of them.
    """

    rows: tuple[int, ...]
    best_so_far: tuple[float, ...]


def hypervolume_history(
    rows: Sequence[TrialRow], objectives: Sequence[str], *, max_points: int = 200
) -> HypervolumeHistory:
    """Hypervolume of the feasible front as the study went on.

    Reference point: accuracy 0 and, for each cost, 1.1 times the largest value any
    feasible COMPLETE trial had. Each cost is divided by its reference value (accuracy
    stays as it is), so the volume is the share of the box
    ``[0, 1] x [0, ref_1] x ...`` dominated by the front, in [0, 1]. A minimized quality
    metric (``val_rmse``) is scaled like a cost: 1.1 times its largest value is its reference.

    Args:
        rows: All trials.
        objectives: The study's objectives.
        max_points: At most this many checkpoints (evenly spread over the trials).

    Returns:
        The :class:`HypervolumeHistory`.

    Examples:
        >>> r = lambda n, acc, size: TrialRow(n, "COMPLETE", acc, acc, {"size_bits": size},
        ...                                   {}, (), True, "")
        >>> h = hypervolume_history([r(0, 0.5, 10.0), r(1, 0.8, 5.0)], ["accuracy", "size_bits"])
        >>> h.trial_numbers, [round(v, 4) for v in h.values]
        ((0, 1), [0.0455, 0.4364])
    """
    costs = [o for o in objectives if o in COST_UNITS]
    usable = [
        i
        for i, r in enumerate(rows)
        if r.state == "COMPLETE" and r.feasible and is_usable(r, costs)
    ]
    if not usable:
        return HypervolumeHistory((), (), (), ())
    points = objective_points(rows, usable, costs)
    ref_costs = [max(float(points[:, j + 1].max()) * 1.1, 1e-12) for j in range(len(costs))]
    maximize = rows[usable[0]].maximize
    ref_quality = 0.0 if maximize else max(float(points[:, 0].max()) * 1.1, 1e-12)
    scale = np.array([1.0 if maximize else ref_quality, *ref_costs])
    reference = np.array([0.0 if maximize else 1.0, *([1.0] * len(costs))])
    scaled = points / scale
    numbers = [rows[i].number for i in usable]
    step = max(1, math.ceil(len(usable) / max_points))
    checkpoints = list(range(step - 1, len(usable), step))
    if checkpoints[-1] != len(usable) - 1:
        checkpoints.append(len(usable) - 1)
    values = []
    front = np.zeros((0, scaled.shape[1]))
    last = 0
    for cut in checkpoints:
        # Keep only the running front: adding points never revives a dominated one.
        candidates = np.vstack([front, scaled[last : cut + 1]])
        front = candidates[pareto_front_mask(candidates)]
        last = cut + 1
        values.append(hypervolume(front, reference))
    return HypervolumeHistory(
        tuple(numbers[c] for c in checkpoints),
        tuple(values),
        (0.0 if maximize else ref_quality, *ref_costs),
        tuple(float(s) for s in scale),
    )


def optimization_history(rows: Sequence[TrialRow]) -> History:
    """Best feasible accuracy so far after each COMPLETE trial.

    Args:
        rows: All trials, in trial-number order.

    Returns:
        The :class:`History`.
    """
    indices: list[int] = []
    best_so_far: list[float] = []
    best = -math.inf
    for i, row in enumerate(rows):
        if row.state != "COMPLETE" or not math.isfinite(row.accuracy):
            continue
        if row.feasible:
            best = max(best, -row.minimized)
        indices.append(i)
        best_so_far.append(math.nan if not math.isfinite(best) else best if row.maximize else -best)
    return History(tuple(indices), tuple(best_so_far))
