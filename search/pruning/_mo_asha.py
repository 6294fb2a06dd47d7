"""Multi-objective asynchronous successive halving (MO-ASHA): the pure decision core.

Rung records in, :class:`~paretune.search.Decision` out. No Optuna, no Ray: the local
pruner (``search/pruning/_mo_pruner.py``) and the Ray scheduler both drive this module.

The rule. Rungs sit at ``min_epochs * reduction_factor**k`` epochs (rounded), below the
trial's last epoch. When a trial reaches a rung it is compared with every trial that reached
the same rung before it (asynchronous: nobody waits for a full rung). The trials at the rung
are ordered by non-dominated sorting over the rung's points (``-accuracy`` at that epoch and
each cost, all minimized), and inside one front by the tie-break; the newcomer continues
when its position is within the top ``ceil(n / reduction_factor)`` of the ``n`` trials at
the rung, and stops otherwise. A trial alone at its rung always continues.

Ties, as documented and tested:

* ``crowding``: inside a front, larger NSGA-II crowding distance first (the extremes of the
  front, with infinite distance, come first); equal distances go to the better first column
  (accuracy), then to the earlier arrival.
* ``epsilon-net``: inside a front, the point with the best first column first, then greedily
  the point farthest (Euclidean, each column scaled to ``[0, 1]`` over the rung) from the
  points already taken (Salinas et al. 2021, as in Syne Tune); equal distances go to the
  earlier arrival.

Columns: column 0 is the primary objective (``-accuracy``, or a minimized metric such as
``val_rmse`` as is); NaN there counts as the worst
value. Any other column holding a NaN for some trial at the rung (a measured cost not
reported yet) is left out of that comparison, so measured costs count as soon as every trial
at the rung has reported them. :func:`rung_point` builds a point from accuracy and costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from paretune.search._pareto import crowding_distance, non_dominated_sort
from paretune.search.pruning._decision import Decision
from paretune.spaces import check_int, check_number

__all__ = ["MOAsha", "RungSpacing", "RungVerdict", "TieBreak", "promotion_order", "rung_point"]


_E = TypeVar("_E", bound=Enum)


class TieBreak(Enum):
    """How trials on the same non-dominated front are ordered.

    Examples:
        >>> TieBreak("epsilon-net") is TieBreak.EPSILON_NET
        True
    """

    CROWDING = "crowding"
    EPSILON_NET = "epsilon-net"


class RungSpacing(Enum):
    """Where the rungs sit below a trial's last epoch.

    * ``asha``: every ``min_epochs * reduction_factor**k`` below the last epoch (ASHA's rungs).
    * ``full-stretch``: only the rungs whose promotion still buys a full factor of training,
      ``rung * reduction_factor <= last epoch``. A rung close to the end saves few epochs
      (at 16 of 20: a fifth of a trial) but stops trials on an accuracy that still moves.

    Examples:
        >>> MOAsha(min_epochs=1, reduction_factor=2, max_epochs=20, rung_spacing="asha").rungs()
        (1, 2, 4, 8, 16)
        >>> core = MOAsha(min_epochs=1, reduction_factor=2, rung_spacing="full-stretch")
        >>> core.rungs(20)
        (1, 2, 4, 8)
    """

    ASHA = "asha"
    FULL_STRETCH = "full-stretch"


class RungVerdict(NamedTuple):
    """The decision at one epoch, with what it was based on (for the prune reason).

    ``rung`` is 0 when the epoch is not a rung (then ``position``, ``n_at_rung`` and
    ``n_kept`` are 0 too).
    """

    decision: Decision
    rung: int
    position: int
    n_at_rung: int
    n_kept: int

    def reason(self) -> str:
        """A one-line explanation, stored as the pruned trial's ``prune_reason``.

        Examples:
            >>> RungVerdict(Decision.STOP, 3, 4, 9, 3).reason()
            'mo-asha: rank 5 of 9 at the 3-epoch rung; only the top 3 continue'
        """
        return f"mo-asha: {self.ranking()}"

    def ranking(self) -> str:
        """Where the trial stands at its rung, in words (the pruner's prune reason ends so).

        Examples:
            >>> RungVerdict(Decision.STOP, 3, 4, 9, 3).ranking()
            'rank 5 of 9 at the 3-epoch rung; only the top 3 continue'
        """
        if self.rung == 0:
            return "not a rung"
        return (
            f"rank {self.position + 1} of {self.n_at_rung} at the {self.rung}-epoch "
            f"rung; only the top {self.n_kept} continue"
        )


def rung_point(
    *, accuracy: float, costs: Sequence[float] = (), direction: str = "maximize"
) -> tuple[float, ...]:
    """The minimized point of one trial at a rung: ``-accuracy``, then ``log1p`` of each cost.

    The primary objective is written ``accuracy`` for its common case; any task metric works,
    with its ``direction``: a maximized one is negated, a minimized one (RMSE) kept as is.

    ``log1p`` is monotone, so non-dominated sorting is unchanged; it only spaces costs that
    span orders of magnitude (bits, BitOps) evenly for the crowding and epsilon-net ties.
    A cost that is not known yet is passed as NaN and stays NaN.

    Args:
        accuracy: The primary metric at the rung (NaN counts as the worst).
        costs: Cost values (minimized, >= 0), or NaN where not reported yet.
        direction: ``"maximize"`` or ``"minimize"``: the primary metric's direction.

    Returns:
        Tuple of ``1 + len(costs)`` floats.

    Examples:
        >>> rung_point(accuracy=0.9, costs=[0.0, math.e - 1])
        (-0.9, 0.0, 1.0)
        >>> rung_point(accuracy=52.5, costs=[0.0], direction="minimize")
        (52.5, 0.0)
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(
            "The 'direction' parameter of rung_point must be one of maximize, minimize. "
            f"Got {direction!r} instead."
        )
    primary = -float(accuracy) if direction == "maximize" else float(accuracy)
    return (primary, *(math.log1p(float(cost)) for cost in costs))


def _comparable(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Worst value for NaN in column 0; drop the other columns that hold a NaN."""
    first = np.where(np.isnan(points[:, 0]), np.inf, points[:, 0])
    rest = points[:, 1:]
    known = ~np.isnan(rest).any(axis=0)
    return np.column_stack([first, rest[:, known]])


def _scaled(points: NDArray[np.float64]) -> NDArray[np.float64]:
    finite = np.where(np.isfinite(points), points, np.nan)
    low = np.nanmin(np.where(np.isnan(finite), np.inf, finite), axis=0)
    high = np.nanmax(np.where(np.isnan(finite), -np.inf, finite), axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (points - np.where(np.isfinite(low), low, 0.0)) / span
    # infinite values (a diverged accuracy) sit one unit beyond the rest
    return np.nan_to_num(scaled, nan=0.0, posinf=2.0, neginf=-1.0)


def _order_crowding(points: NDArray[np.float64]) -> NDArray[np.int64]:
    distance = crowding_distance(points)
    order = np.lexsort((np.arange(len(points)), points[:, 0], -distance))
    return order.astype(np.int64)


def _order_epsilon_net(points: NDArray[np.float64]) -> NDArray[np.int64]:
    scaled = _scaled(points)
    first = int(np.lexsort((np.arange(len(points)), points[:, 0]))[0])
    order = [first]
    nearest = np.linalg.norm(scaled - scaled[first], axis=1)
    nearest[first] = -1.0
    for _ in range(len(points) - 1):
        pick = int(np.argmax(nearest))  # argmax returns the first (earliest) of equals
        order.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(scaled - scaled[pick], axis=1))
        nearest[order] = -1.0
    return np.asarray(order, dtype=np.int64)


def promotion_order(
    points: ArrayLike, *, tie_break: TieBreak | str = TieBreak.CROWDING
) -> NDArray[np.int64]:
    """Indices of ``points`` from most to least deserving of promotion.

    Non-dominated fronts first to last; inside a front, the tie-break (see the module
    docstring). Rows are in arrival order (earlier rows win exact ties).

    Args:
        points: Array ``(n, k)``, every column minimized, column 0 the primary objective.
        tie_break: ``"crowding"`` or ``"epsilon-net"``.

    Returns:
        A permutation of ``range(n)``.

    Raises:
        ValueError: If ``points`` is not 2-D or ``tie_break`` is unknown.

    Examples:
        >>> promotion_order([[-0.9, 3.0], [-0.8, 1.0], [-0.7, 2.0], [-0.85, 2.0]]).tolist()
        [0, 1, 3, 2]
    """
    breaker = _member(TieBreak, "tie_break", tie_break)
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(
            "The 'points' parameter of promotion_order must be a 2-D array of shape "
            f"(n_trials, n_objectives). Got an array of shape {array.shape} instead."
        )
    if len(array) == 0:
        return np.zeros(0, dtype=np.int64)
    array = _comparable(array)
    ranks = non_dominated_sort(array)
    order: list[NDArray[np.int64]] = []
    for rank in range(int(ranks.max()) + 1):
        members = np.flatnonzero(ranks == rank)
        front = array[members]
        inner = (
            _order_crowding(front) if breaker is TieBreak.CROWDING else _order_epsilon_net(front)
        )
        order.append(members[inner].astype(np.int64))
    return np.concatenate(order)


def _member(kind: type[_E], name: str, value: _E | str) -> _E:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(str(member.value) for member in kind)
        raise ValueError(
            f"The {name!r} parameter of MOAsha must be one of {known}. Got {value!r} instead."
        ) from None


@dataclass(frozen=True, kw_only=True)
class MOAsha:
    """Multi-objective asynchronous successive halving (stopping variant).

    The defaults (grace 2, η 2, full-stretch rungs) are the set-up that scored best in
    ``bench/mo_pruning.py`` (README, "Early stopping in multi-objective studies").

    Args:
        min_epochs: Grace period: the first rung, in epochs (int >= 1; default 2).
        reduction_factor: Keep the top ``1 / reduction_factor`` at each rung (float > 1;
            default 2).
        max_epochs: Last epoch of a trial; no rung at or beyond it. ``None``: each call
            passes the trial's own last epoch.
        tie_break: ``"crowding"`` or ``"epsilon-net"`` (see the module docstring).
        rung_spacing: ``"asha"`` or ``"full-stretch"`` (default; see :class:`RungSpacing`).

    Examples:
        >>> core = MOAsha(min_epochs=2, reduction_factor=3, max_epochs=20, rung_spacing="asha")
        >>> core.rungs()
        (2, 6, 18)
        >>> MOAsha(max_epochs=20).rungs()  # the defaults: grace 2, η 2, full-stretch
        (2, 4, 8)
        >>> core.decide(epoch=2, point=(-0.5, 1.0), others=[(-0.9, 1.0), (-0.8, 1.0)])
        <Decision.STOP: 'stop'>
        >>> core.decide(epoch=3, point=(-0.5, 1.0), others=[(-0.9, 1.0)])
        <Decision.CONTINUE: 'continue'>
    """

    min_epochs: int = 2
    reduction_factor: float = 2.0
    max_epochs: int | None = None
    tie_break: TieBreak | str = TieBreak.CROWDING
    rung_spacing: RungSpacing | str = RungSpacing.FULL_STRETCH

    def __post_init__(self) -> None:
        check_int(self.min_epochs, name="min_epochs", owner="MOAsha", minimum=1)
        check_number(
            self.reduction_factor,
            name="reduction_factor",
            owner="MOAsha",
            minimum=1,
            strict=True,
            what="a float > 1",
        )
        if self.max_epochs is not None:
            check_int(
                self.max_epochs,
                name="max_epochs",
                owner="MOAsha",
                minimum=1,
                what="an int >= 1 or None",
            )
        object.__setattr__(self, "tie_break", _member(TieBreak, "tie_break", self.tie_break))
        spacing = _member(RungSpacing, "rung_spacing", self.rung_spacing)
        object.__setattr__(self, "rung_spacing", spacing)

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> MOAsha:
        """Build from study-file options; unknown keys raise and list the known ones.

        Examples:
            >>> MOAsha.from_options({"min_epochs": 3}).min_epochs
            3
        """
        known = ("min_epochs", "reduction_factor", "max_epochs", "tie_break", "rung_spacing")
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(
                f"Unknown option(s) {', '.join(map(repr, unknown))} for the mo-asha pruner. "
                f"Known: {', '.join(known)}."
            )
        return cls(**options)  # type: ignore[arg-type]

    def rungs(self, max_epochs: int | None = None) -> tuple[int, ...]:
        """Rung epochs below the last epoch (the smaller of ``max_epochs`` and the instance's).

        Raises:
            ValueError: If neither this call nor the instance gives ``max_epochs``.
        """
        last = self._last_epoch(max_epochs)
        factor = float(self.reduction_factor)
        full_stretch = self.rung_spacing is RungSpacing.FULL_STRETCH
        levels: list[int] = []
        k = 0
        while True:
            level = int(round(self.min_epochs * factor**k))
            if level >= last or (full_stretch and level * factor > last):
                return tuple(levels)
            if not levels or level > levels[-1]:
                levels.append(level)
            k += 1

    def is_rung(self, epoch: int, max_epochs: int | None = None) -> bool:
        """Whether ``epoch`` is a rung for a trial that ends at ``max_epochs``."""
        return epoch in self.rungs(max_epochs)

    def judge(
        self,
        *,
        epoch: int,
        point: Sequence[float],
        others: Sequence[Sequence[float]],
        max_epochs: int | None = None,
    ) -> RungVerdict:
        """The decision for a trial reporting ``epoch``, with its position at the rung.

        Args:
            epoch: The epoch just reported (from 1).
            point: This trial's minimized point at ``epoch`` (see :func:`rung_point`).
            others: Points, at the same epoch, of the trials that reached this rung
                earlier, in arrival order (stopped and completed trials included).
            max_epochs: This trial's last epoch when the instance has none.

        Returns:
            A :class:`RungVerdict`; CONTINUE with ``rung == 0`` when ``epoch`` is no rung.
        """
        if not self.is_rung(epoch, max_epochs):
            return RungVerdict(Decision.CONTINUE, 0, 0, 0, 0)
        rows = [tuple(map(float, row)) for row in others] + [tuple(map(float, point))]
        if len({len(row) for row in rows}) != 1:
            raise ValueError(
                "The 'others' parameter of MOAsha.judge must hold points with as many "
                f"columns as 'point' ({len(point)}). Got lengths "
                f"{sorted({len(row) for row in rows})} instead."
            )
        position, n = self._rank(np.asarray(rows))
        kept = max(1, math.ceil(n / float(self.reduction_factor)))
        decision = Decision.CONTINUE if position < kept else Decision.STOP
        return RungVerdict(decision, epoch, position, n, kept)

    def _rank(self, rows: NDArray[np.float64]) -> tuple[int, int]:
        """The newcomer's (last row's) position in the promotion order, and how many compete.

        The rung keeps the first ``ceil(n / reduction_factor)`` of the ``n`` competitors; a
        variant of the rule changes only who competes and in which order.
        """
        n = len(rows)
        order = promotion_order(rows, tie_break=self.tie_break)
        return int(np.flatnonzero(order == n - 1)[0]), n

    def decide(
        self,
        *,
        epoch: int,
        point: Sequence[float],
        others: Sequence[Sequence[float]],
        max_epochs: int | None = None,
    ) -> Decision:
        """CONTINUE or STOP for a trial reporting ``epoch`` (see :meth:`judge`)."""
        return self.judge(epoch=epoch, point=point, others=others, max_epochs=max_epochs).decision

    def _last_epoch(self, max_epochs: int | None) -> int:
        given = [value for value in (max_epochs, self.max_epochs) if value is not None]
        if not given:
            raise ValueError(
                "MOAsha needs the trials' last epoch: set 'max_epochs' or pass it per call."
            )
        return min(given)
