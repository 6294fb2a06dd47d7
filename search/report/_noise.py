"""Timing noise: which front points are indistinguishable on a wall-clock objective.

A time (``latency_ms``, ``train_seconds``) is one noisy sample of a machine's speed, so two
front points can swap places on a time axis by chance. Each point gets a *spread*, an
interquartile-range-like width in the cost's unit, and two points are indistinguishable when
their bands ``value ± spread / 2`` overlap: ``|a - b| <= (spread_a + spread_b) / 2``.

Where the spreads come from (:class:`NoiseSource`):

* ``MEASURED``: ``latency_ms_spread``, the interquartile range of the timed forward passes
  behind each ``latency_ms`` (recorded by the trainer), widened to the study's estimate below
  where that is larger (the load of a machine changes between trials, not only within one).
* ``STUDY``: estimated from the study itself. Trials that did equal work (same dense model,
  ``params``, and for ``train_seconds`` the same ``batch_size``, optimizer, bit widths and
  precision; training time is compared per epoch) should take equal time; the relative
  spread is twice the median relative deviation from their group's median, pooled over the
  groups (for a symmetric distribution that is the interquartile range over the median).
  It needs at least :data:`MIN_EQUAL_WORK` such trials.
* ``ASSUMED``: neither is available (``train_seconds`` is never repeated): a relative spread
  of :data:`ASSUMED_SPREAD` is assumed, and the note says so.

Pure functions over plain records (selection :class:`~paretune.search.report.Candidate`\\ s
fit), so the report and ``paretune select`` flag the same pairs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from enum import Enum
from typing import Any, NamedTuple, Protocol

__all__ = [
    "ASSUMED_SPREAD",
    "MIN_EQUAL_WORK",
    "SPREAD_KEYS",
    "TIME_COSTS",
    "CloseCall",
    "NoiseSource",
    "TimedPoint",
    "TimingNoise",
    "close_pairs",
    "study_spread",
    "time_text",
    "timing_noise",
]

#: Costs measured by a clock.
TIME_COSTS: tuple[str, ...] = ("latency_ms", "train_seconds")

#: Time cost -> the user attribute holding its measured spread.
SPREAD_KEYS: Mapping[str, str] = {"latency_ms": "latency_ms_spread"}

#: Relative spread assumed for a time no trial measured the spread of and the study cannot
#: estimate (10 %: the per-epoch time of equal-work trials of digits-quick varied by 2-13 %
#: on a quiet machine; a busy one varies far more, so treat it as a floor).
ASSUMED_SPREAD = 0.10

#: Trials of equal work (in groups of two or more) needed for a study estimate.
MIN_EQUAL_WORK = 4

#: Strategy fields that set the work per epoch (besides ``params``, the dense model size).
_TRAIN_WORK = ("batch_size", "optimizer", "bits", "act_bits", "precision")
#: Strategy fields that set the work of one forward pass (besides ``params``).
_LATENCY_WORK = ("bits", "act_bits", "precision")


class NoiseSource(Enum):
    """Where the spreads of a time cost come from."""

    MEASURED = "measured"
    STUDY = "study"
    ASSUMED = "assumed"


class TimedPoint(NamedTuple):
    """One trial's time and its spread (both in the cost's unit)."""

    number: int
    value: float
    spread: float


class CloseCall(NamedTuple):
    """Two front points whose times differ by less than their noise.

    Attributes:
        cost: The time cost.
        first: Trial number of the faster point.
        second: Trial number of the slower point.
        first_value: Its time.
        second_value: The slower one's time.
        noise: Half the sum of their spreads: the largest difference the noise explains.
    """

    cost: str
    first: int
    second: int
    first_value: float
    second_value: float
    noise: float

    @property
    def difference(self) -> float:
        """``second_value - first_value`` (>= 0)."""
        return self.second_value - self.first_value


class TimingNoise(NamedTuple):
    """The noise of one time cost over a front.

    Attributes:
        cost: The time cost.
        source: Where the spreads come from.
        relative: The median relative spread (spread / value) over the front points.
        pairs: Front points indistinguishable within the noise, fastest pair first.
    """

    cost: str
    source: NoiseSource
    relative: float
    pairs: tuple[CloseCall, ...]

    def involving(self, number: int) -> tuple[CloseCall, ...]:
        """The pairs that contain trial ``number``."""
        return tuple(p for p in self.pairs if number in (p.first, p.second))

    def to_dict(self, *, around: int | None = None) -> dict[str, Any]:
        """JSON-able: the pairs, the trials indistinguishable from ``around`` and the note.

        Examples:
            >>> call = CloseCall("train_seconds", 3, 7, 1.0, 1.04, 0.1)
            >>> doc = TimingNoise("train_seconds", NoiseSource.STUDY, 0.1, (call,)).to_dict(
            ...     around=3)
            >>> doc["source"], doc["pairs"][0]["trials"], doc["near_chosen"]
            ('study', [3, 7], [7])
        """
        mine = self.involving(around) if around is not None else ()
        near = [p.second if p.first == around else p.first for p in mine]
        return {
            "cost": self.cost,
            "source": self.source.value,
            "relative_spread": self.relative,
            "pairs": [
                {
                    "trials": [p.first, p.second],
                    "values": [p.first_value, p.second_value],
                    "noise": p.noise,
                }
                for p in self.pairs
            ],
            "near_chosen": near if around is not None else None,
            "note": self.note(around=around),
        }

    def note(self, *, around: int | None = None, limit: int = 3) -> str:
        """One line naming the indistinguishable pairs ("" when there are none).

        Args:
            around: Only the pairs with this trial (the chosen one), worded for it.
            limit: Pairs named at most (the rest are counted).

        Examples:
            >>> call = CloseCall("latency_ms", 3, 7, 0.110, 0.113, 0.006)
            >>> noise = TimingNoise("latency_ms", NoiseSource.MEASURED, 0.05, (call,))
            >>> noise.note()
            'latency_ms: trials 3 and 7 (110 us vs 113 us) differ by less than the timing \
noise (measured spread ±2.5% typical); their order on this axis may be chance.'
            >>> noise.note(around=7)
            'latency_ms: the chosen trial 7 (113 us) and trial 3 (110 us) differ by less than \
the timing noise (measured spread ±2.5% typical); on this cost they are equally good.'
        """

        def fmt(value: float) -> str:
            return time_text(value, cost=self.cost)

        pairs = self.pairs if around is None else self.involving(around)
        if not pairs:
            return ""
        more = len(pairs) - limit
        rest = f" and {more} more" if more > 0 else ""
        typical = f"({_describe(self.source)} ±{self.relative / 2:.1%} typical)"
        if around is None:
            shown = ", ".join(
                f"{p.first} and {p.second} ({fmt(p.first_value)} vs {fmt(p.second_value)})"
                for p in pairs[:limit]
            )
            rest += f" pair{'s' if more > 1 else ''}" if more > 0 else ""
            return (
                f"{self.cost}: trials {shown}{rest} differ by less than the timing noise "
                f"{typical}; their order on this axis may be chance."
            )
        mine = pairs[0].first_value if pairs[0].first == around else pairs[0].second_value
        others = ", ".join(
            f"{q} ({fmt(v)})"
            for p in pairs[:limit]
            for q, v in [
                (p.second, p.second_value) if p.first == around else (p.first, p.first_value)
            ]
        )
        trials = "trials" if len(pairs) > 1 else "trial"
        return (
            f"{self.cost}: the chosen trial {around} ({fmt(mine)}) and {trials} {others}{rest} "
            f"differ by less than the timing noise {typical}; on this cost they are equally good."
        )


def time_text(value: float, *, cost: str) -> str:
    """A time as ``format_quantity`` writes it (``latency_ms`` in ms/us, ``train_seconds``).

    Examples:
        >>> time_text(0.11, cost="latency_ms"), time_text(3.25, cost="latency_ms")
        ('110 us', '3.25 ms')
        >>> time_text(0.86, cost="train_seconds"), time_text(300.0, cost="train_seconds")
        ('0.86 s', '5 min')
    """
    if not math.isfinite(value):
        return str(value)
    if cost == "latency_ms":
        return f"{value:.3g} ms" if value >= 1 else f"{value * 1e3:.3g} us"
    return f"{value:.3g} s" if value < 120 else f"{value / 60:.3g} min"


def _describe(source: NoiseSource) -> str:
    return {
        NoiseSource.MEASURED: "measured spread",
        NoiseSource.STUDY: "spread of equal-work trials",
        NoiseSource.ASSUMED: "assumed spread, no equal-work trials to estimate it",
    }[source]


def close_pairs(points: Sequence[TimedPoint], *, cost: str) -> tuple[CloseCall, ...]:
    """The pairs of ``points`` whose bands ``value ± spread / 2`` overlap.

    Args:
        points: Front points with their time and spread (NaN spreads count as 0).
        cost: The time cost (copied into each pair).

    Returns:
        The pairs, ordered by the faster point's time, then the slower one's.

    Examples:
        >>> pts = [TimedPoint(1, 1.00, 0.10), TimedPoint(2, 1.08, 0.10),
        ...        TimedPoint(3, 2.00, 0.10)]
        >>> [(p.first, p.second) for p in close_pairs(pts, cost="latency_ms")]
        [(1, 2)]
    """
    ordered = sorted(
        (p for p in points if math.isfinite(p.value)), key=lambda p: (p.value, p.number)
    )
    half = [p.spread / 2 if math.isfinite(p.spread) and p.spread > 0 else 0.0 for p in ordered]
    widest = max(half, default=0.0)
    found: list[CloseCall] = []
    for i, low in enumerate(ordered):
        for j in range(i + 1, len(ordered)):
            high = ordered[j]
            if high.value - low.value > half[i] + widest:
                break  # every later point is farther still
            if high.value - low.value <= half[i] + half[j]:
                found.append(
                    CloseCall(
                        cost, low.number, high.number, low.value, high.value, half[i] + half[j]
                    )
                )
    return tuple(found)


class _Timed(Protocol):
    """What the noise reads of a trial: a selection ``Candidate`` fits."""

    @property
    def number(self) -> int: ...

    @property
    def costs(self) -> Mapping[str, float]: ...

    @property
    def strategy(self) -> Mapping[str, Any]: ...

    @property
    def spreads(self) -> Mapping[str, float]: ...


def _per_work(trial: _Timed, cost: str) -> float:
    """The time per unit of work: ``train_seconds`` per epoch, ``latency_ms`` as it is."""
    value = float(trial.costs.get(cost, math.nan))
    if cost != "train_seconds":
        return value
    epochs = trial.strategy.get("epochs")
    if isinstance(epochs, int | float) and not isinstance(epochs, bool) and epochs > 0:
        return value / float(epochs)
    return math.nan


def _work_key(trial: _Timed, cost: str) -> tuple[Hashable, ...]:
    fields = _TRAIN_WORK if cost == "train_seconds" else _LATENCY_WORK
    return (trial.costs.get("params"), *(_hashable(trial.strategy.get(f)) for f in fields))


def _hashable(value: Any) -> Hashable:
    return value if isinstance(value, Hashable) else repr(value)


def study_spread(trials: Sequence[_Timed], *, cost: str) -> float | None:
    """The relative spread of ``cost`` among trials that did equal work, or None.

    See the module docstring: twice the median of ``|t / median of its group - 1|`` over the
    trials in groups of two or more, where ``t`` is the time per unit of work.

    Args:
        trials: Complete trials (candidates).
        cost: ``"latency_ms"`` or ``"train_seconds"``.

    Returns:
        The relative spread, or None with fewer than :data:`MIN_EQUAL_WORK` such trials.
    """
    groups: dict[tuple[Hashable, ...], list[float]] = {}
    for trial in trials:
        value = _per_work(trial, cost)
        if math.isfinite(value) and value > 0:
            groups.setdefault(_work_key(trial, cost), []).append(value)
    deviations = [
        abs(value / centre - 1.0)
        for values in groups.values()
        if len(values) > 1
        for centre in [statistics.median(values)]
        for value in values
    ]
    if len(deviations) < MIN_EQUAL_WORK:
        return None
    return 2.0 * statistics.median(deviations)


def timing_noise(trials: Sequence[_Timed], *, front: Sequence[_Timed], cost: str) -> TimingNoise:
    """The noise of a time cost and the front points it makes indistinguishable.

    Args:
        trials: Every complete trial (for the study estimate, see :func:`study_spread`).
        front: The front points to compare.
        cost: A time cost (one of :data:`TIME_COSTS`).

    Returns:
        The :class:`TimingNoise`.

    Raises:
        ValueError: For a cost that is not a time.
    """
    if cost not in TIME_COSTS:
        raise ValueError(
            f"The 'cost' parameter of timing_noise must be one of {', '.join(TIME_COSTS)}. "
            f"Got {cost!r} instead."
        )
    estimate = study_spread(trials, cost=cost)
    spread_key = SPREAD_KEYS.get(cost, "")
    measured = any(math.isfinite(t.spreads.get(spread_key, math.nan)) for t in front)
    if measured:
        source = NoiseSource.MEASURED
    else:
        source = NoiseSource.STUDY if estimate is not None else NoiseSource.ASSUMED
    relative = estimate if estimate is not None else (0.0 if measured else ASSUMED_SPREAD)
    points: list[TimedPoint] = []
    for trial in front:
        value = float(trial.costs.get(cost, math.nan))
        own = trial.spreads.get(spread_key, math.nan)
        spread = max(own if math.isfinite(own) else 0.0, relative * abs(value))
        points.append(TimedPoint(trial.number, value, spread))
    ratios = [p.spread / p.value for p in points if math.isfinite(p.value) and p.value > 0]
    return TimingNoise(
        cost=cost,
        source=source,
        relative=statistics.median(ratios) if ratios else relative,
        pairs=close_pairs(points, cost=cost),
    )
