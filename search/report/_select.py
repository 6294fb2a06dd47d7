"""Choosing one strategy from a study: limits with units, the most accurate, cheapest or knee.

Pure functions over :class:`Candidate` records (one per COMPLETE trial, read from the trial's
user attributes), so the same rules serve ``paretune select`` and the report's "what common
constraints pick" table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, NamedTuple

import numpy as np
from paretune.search._objectives import metric_of, quality_objective
from paretune.search._pareto import knee_point, pareto_front_mask
from paretune.search.report._noise import SPREAD_KEYS, TIME_COSTS, TimingNoise, timing_noise
from paretune.search.report._trials import Quality, read_trial

__all__ = [
    "COST_UNITS",
    "Candidate",
    "Selection",
    "SelectionRule",
    "Shortfall",
    "candidates_from_trials",
    "format_quantity",
    "parse_limit",
    "parse_quantity",
    "select_strategy",
]

#: Cost names a limit may name, with the unit of the stored value.
COST_UNITS: Mapping[str, str] = {
    "size_bits": "bit",
    "bitops": "op",
    "latency_ms": "ms",
    "train_seconds": "s",
    "params": "param",
    "nonzero_params": "param",
}

_SIZE_PREFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "ki": 2.0**10, "mi": 2.0**20}
_SIZE_PREFIX |= {"gi": 2.0**30}
_TIME_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0}
_TIME_SECONDS |= {"min": 60.0, "h": 3600.0}
_COUNT_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_NUMBER = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-zµ]*)\s*$")
#: What each kind of unit measures, for messages.
_UNIT_KIND = {"bit": "size", "ms": "time", "s": "time", "op": "count", "param": "count"}
_UNIT_HELP = {
    "bit": "bit, kbit, Mbit, Gbit, B, kB, MB, GB, KiB, MiB, GiB",
    "ms": "ns, us, ms, s, min, h",
    "s": "ns, us, ms, s, min, h",
    "op": "k, M, G, T",
    "param": "k, M, G, T",
}


def _size_factor(unit: str) -> float | None:
    """Bits per ``unit``: ``b``/``bit`` are bits, ``B`` bytes; k/M/G/Ki/Mi/Gi prefixes."""
    if unit.endswith("B"):
        per, stem = 8.0, unit[:-1]
    elif unit.lower().endswith("bits"):
        per, stem = 1.0, unit[:-4]
    elif unit.lower().endswith("bit"):
        per, stem = 1.0, unit[:-3]
    elif unit.endswith("b"):
        per, stem = 1.0, unit[:-1]
    else:
        return None
    prefix = _SIZE_PREFIX.get(stem.lower())
    return None if prefix is None else per * prefix


def _unit_factor(cost: str, unit: str) -> float | None:
    kind = COST_UNITS[cost]
    if unit == "":
        return 1.0
    if kind == "bit":
        return _size_factor(unit)
    if kind in ("ms", "s"):
        seconds = _TIME_SECONDS.get(unit)
        if seconds is None:
            return None
        return seconds * 1e3 if kind == "ms" else seconds
    return _COUNT_PREFIX.get(unit)


def _check_cost(cost: str) -> None:
    if cost not in COST_UNITS:
        raise ValueError(f"Unknown cost {cost!r}. Known: {', '.join(COST_UNITS)}.")


def parse_quantity(text: str | float, *, cost: str) -> float:
    """Turn ``"50kbit"``, ``"2MB"``, ``"3ms"``, ``"1.5G"`` into the cost's stored unit.

    Sizes are stored in bits (``b``/``bit`` = bit, ``B`` = byte, SI prefixes k/M/G and binary
    Ki/Mi/Gi), latency in milliseconds, training time in seconds, BitOps and parameter counts
    as plain counts (prefixes k/M/G/T). A bare number is already in the stored unit.

    Args:
        text: The quantity as typed, or a number.
        cost: The cost it limits (one of ``COST_UNITS``).

    Returns:
        The value in the cost's stored unit.

    Raises:
        ValueError: For an unknown cost, an unreadable number, a unit that does not fit the
            cost, or a value that is negative or not finite.

    Examples:
        >>> parse_quantity("50kbit", cost="size_bits")
        50000.0
        >>> parse_quantity("2MB", cost="size_bits")
        16000000.0
        >>> parse_quantity("3ms", cost="latency_ms"), parse_quantity("0.5s", cost="latency_ms")
        (3.0, 500.0)
        >>> parse_quantity("1.5G", cost="bitops")
        1500000000.0
    """
    _check_cost(cost)
    kind = COST_UNITS[cost]
    if isinstance(text, int | float) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = _NUMBER.match(str(text))
        if match is None:
            raise ValueError(
                f"The {cost!r} limit must be a number with an optional unit "
                f"({_UNIT_HELP[kind]}). Got {text!r} instead."
            )
        value, unit = float(match.group(1)), match.group(2)
    factor = _unit_factor(cost, unit)
    if factor is None:
        raise ValueError(
            f"The {cost!r} limit must use a unit of {_UNIT_KIND[kind]}: {_UNIT_HELP[kind]}. "
            f"Got {text!r} instead."
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"The {cost!r} limit must be a finite number >= 0. Got {text!r} instead.")
    return value * factor


def parse_limit(text: str) -> tuple[str, float]:
    """Read a ``COST=VALUE`` limit (``"size_bits=50kbit"``).

    Args:
        text: The limit as typed after ``--max``.

    Returns:
        ``(cost, value in the cost's stored unit)``.

    Raises:
        ValueError: If there is no ``=``, the cost is unknown or the value unreadable.

    Examples:
        >>> parse_limit("size_bits=2kB")
        ('size_bits', 16000.0)
        >>> parse_limit("latency_ms = 3ms")
        ('latency_ms', 3.0)
    """
    cost, sep, value = text.partition("=")
    if not sep:
        raise ValueError(
            f"A limit must be written COST=VALUE (e.g. size_bits=50kbit). Got {text!r} instead."
        )
    cost = cost.strip()
    _check_cost(cost)
    return cost, parse_quantity(value.strip(), cost=cost)


def format_quantity(value: float, *, cost: str, digits: int = 3, in_bytes: bool = True) -> str:
    """A cost value in readable units (the inverse of :func:`parse_quantity`, rounded).

    Args:
        value: The value in the cost's stored unit.
        cost: The cost name; unknown costs are printed as plain numbers.
        digits: Significant digits (at least 4 for an unknown cost).
        in_bytes: Add a size in bytes (``"(5.26 kB)"``) after the size in bits.

    Returns:
        A short string such as ``"42.1 kbit"``, ``"3.2 ms"``, ``"1.50 G"``.

    Examples:
        >>> format_quantity(42100, cost="size_bits")
        '42.1 kbit (5.26 kB)'
        >>> format_quantity(3.25, cost="latency_ms"), format_quantity(1.5e9, cost="bitops")
        ('3.25 ms', '1.5 G')
        >>> format_quantity(41324, cost="size_bits", digits=5)
        '41.324 kbit (5.1655 kB)'
        >>> format_quantity(41324, cost="size_bits", in_bytes=False)
        '41.3 kbit'
    """
    if not math.isfinite(value):
        return str(value)
    kind = COST_UNITS.get(cost)
    d = digits
    if kind == "bit":
        bits = f"{_si(value, d)}bit"
        return f"{bits} ({_si(value / 8, d)}B)" if in_bytes else bits
    if kind == "ms":
        return f"{value:.{d}g} ms" if value >= 1 else f"{value * 1e3:.{d}g} us"
    if kind == "s":
        return f"{value:.{d}g} s" if value < 120 else f"{value / 60:.{d}g} min"
    if kind in ("op", "param"):
        return _si(value, d).strip()
    return f"{value:.{max(4, d)}g}"


def _si(value: float, digits: int = 3) -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}"
    return f"{value:.{digits}g} "


class Candidate(NamedTuple):
    """A COMPLETE trial as selection sees it.

    Attributes:
        number: The Optuna trial number.
        accuracy: The study's quality metric: validation accuracy (the objective
            ``"accuracy"``) by default, or its task metric (``val_rmse``, see
            :class:`~paretune.search.report.Quality`).
        test_accuracy: Test accuracy (NaN when not recorded).
        costs: Every recorded cost (name -> value in its stored unit).
        strategy: The complete strategy (user attribute ``strategy``).
        maximize: Whether a higher ``accuracy`` is better (False for RMSE, MAE, loss).
        spreads: Measured spreads of time costs, by the user attribute that holds them
            (``latency_ms_spread``; see :func:`~paretune.search.report.timing_noise`).
    """

    number: int
    accuracy: float
    test_accuracy: float
    costs: Mapping[str, float]
    strategy: Mapping[str, Any]
    maximize: bool = True
    spreads: Mapping[str, float] = {}

    @property
    def minimized(self) -> float:
        """The quality as a minimized number: ``-accuracy``, or the metric when minimized."""
        return -self.accuracy if self.maximize else self.accuracy


class SelectionRule(Enum):
    """How a strategy was chosen among the feasible ones."""

    MOST_ACCURATE = "most accurate"
    CHEAPEST = "cheapest"
    KNEE = "knee"


class Shortfall(NamedTuple):
    """How far an infeasible candidate misses the limits.

    Attributes:
        candidate: The trial.
        score: Sum of the relative misses (0 would be feasible).
        misses: Limit name (``"accuracy"`` or a cost) -> relative miss (> 0).
    """

    candidate: Candidate
    score: float
    misses: Mapping[str, float]


class Selection(NamedTuple):
    """The outcome of :func:`select_strategy`.

    Attributes:
        chosen: The chosen candidate, or ``None`` when nothing is feasible.
        rule: The rule that chose it.
        reason: One paragraph saying why it won (or why nothing did).
        limits: The cost limits applied (callers merge in the study's constraints).
        min_accuracy: The floor on the quality metric applied (``--min-accuracy``,
            ``--min val_macro_f1=...``).
        n_candidates: Complete trials considered.
        feasible_front: Non-dominated feasible candidates, cheapest first.
        closest: When nothing is feasible, the candidates that miss the limits by least.
        max_quality: Highest acceptable quality (``--max val_rmse=50``).
        timing: For each time cost on the front (``latency_ms``, ``train_seconds``), its
            noise and the front points it cannot tell apart (see ``TimingNoise.involving``
            for those next to the chosen one).
    """

    chosen: Candidate | None
    rule: SelectionRule
    reason: str
    limits: Mapping[str, float]
    min_accuracy: float | None
    n_candidates: int
    feasible_front: tuple[Candidate, ...]
    closest: tuple[Shortfall, ...]
    max_quality: float | None = None
    timing: tuple[TimingNoise, ...] = ()


def candidates_from_trials(
    trials: Iterable[Any], *, quality: Quality | None = None
) -> list[Candidate]:
    """Candidates from Optuna ``FrozenTrial`` records (COMPLETE trials only).

    The quality is the user attribute ``quality.key`` (``val_accuracy`` by default); costs
    are the user attributes named in :data:`COST_UNITS`, spreads those of the time costs
    (``latency_ms_spread``). A trial without a finite quality is left out.

    Args:
        trials: Frozen trials (``study.get_trials(deepcopy=False)``).
        quality: The study's quality objective (:func:`~paretune.search.report.study_quality`).

    Returns:
        One candidate per usable COMPLETE trial, in trial-number order.
    """
    import optuna

    quality = quality or Quality()
    found: list[Candidate] = []
    read = (*COST_UNITS, *SPREAD_KEYS.values())
    for trial in trials:
        if trial.state != optuna.trial.TrialState.COMPLETE:
            continue
        record = read_trial(trial, metrics=read, quality=quality)
        if not math.isfinite(record.accuracy):
            continue
        found.append(
            Candidate(
                number=record.number,
                accuracy=record.accuracy,
                test_accuracy=record.test_accuracy,
                costs={k: v for k, v in record.metrics.items() if k in COST_UNITS},
                strategy=dict(record.strategy),
                maximize=quality.maximize,
                spreads={k: v for k, v in record.metrics.items() if k not in COST_UNITS},
            )
        )
    found.sort(key=lambda c: c.number)
    return found


def _cost_of(candidate: Candidate, cost: str) -> float:
    value = candidate.costs.get(cost)
    if value is None:
        raise ValueError(
            f"Trial {candidate.number} did not record the cost {cost!r}. "
            f"Recorded: {', '.join(sorted(candidate.costs)) or 'none'}."
        )
    return value


def _points(candidates: Sequence[Candidate], costs: Sequence[str]) -> np.ndarray:
    rows = [[c.minimized, *(_cost_of(c, name) for name in costs)] for c in candidates]
    return np.asarray(rows, dtype=np.float64).reshape(len(candidates), 1 + len(costs))


def select_strategy(
    candidates: Sequence[Candidate],
    *,
    objectives: Sequence[str],
    min_accuracy: float | None = None,
    limits: Mapping[str, float] | None = None,
    knee: bool = False,
    n_closest: int = 5,
    quality: Quality | None = None,
    max_quality: float | None = None,
) -> Selection:
    """Choose one strategy under an accuracy floor and cost limits.

    The rule: with ``knee``, the knee point of the feasible Pareto front (accuracy against
    the study's cost objectives); else with any cost limit, the most accurate feasible
    strategy; else with only a bound on the quality (``min_accuracy`` / ``max_quality``), the
    cheapest feasible strategy on the study's first cost objective (``size_bits`` when the
    study has none); with nothing, the most accurate. Ties go to the cheaper strategy, then
    the lower trial number. "Accuracy" is the study's quality metric (``quality``): "most
    accurate" is the lowest value of a minimized one such as ``val_rmse``.

    Args:
        candidates: Complete trials (see :func:`candidates_from_trials`).
        objectives: The study's objectives (``"accuracy"`` and cost names).
        min_accuracy: Lowest acceptable quality (validation accuracy in [0, 1] by default).
        limits: Cost name -> largest allowed value, in stored units.
        knee: Choose the knee of the feasible front.
        n_closest: How many near misses to return when nothing is feasible.
        quality: The study's quality objective (default: the first non-cost objective, in
            the candidates' direction; validation accuracy when there is none).
        max_quality: Highest acceptable quality (``--max val_rmse=50``).

    Returns:
        The :class:`Selection`; its ``timing`` flags the front points that a time objective
        (``latency_ms``, ``train_seconds``) cannot tell apart within the timing noise.

    Raises:
        ValueError: For an unknown cost, a cost some trial did not record, or an accuracy
            floor outside [0, 1].

    Examples:
        >>> a = Candidate(0, 0.90, 0.89, {"size_bits": 8000.0}, {"bits": 4})
        >>> b = Candidate(1, 0.95, 0.94, {"size_bits": 32000.0}, {"bits": 16})
        >>> s = select_strategy([a, b], objectives=["accuracy", "size_bits"],
        ...                     limits={"size_bits": 10000})
        >>> s.chosen.number, s.rule.value
        (0, 'most accurate')
        >>> select_strategy([a, b], objectives=["accuracy", "size_bits"],
        ...                 min_accuracy=0.99).chosen is None
        True
        >>> rmse = Quality("val_rmse", "val_rmse", maximize=False)
        >>> c = Candidate(2, 55.0, math.nan, {"size_bits": 8000.0}, {}, maximize=False)
        >>> d = Candidate(3, 50.0, math.nan, {"size_bits": 32000.0}, {}, maximize=False)
        >>> select_strategy([c, d], objectives=["val_rmse", "size_bits"], quality=rmse,
        ...                 max_quality=52.0).chosen.number
        3
    """
    if quality is None:
        named = quality_objective(objectives) or "accuracy"
        maximize = candidates[0].maximize if candidates else True
        quality = Quality(named, metric_of(named), maximize)
    limits = dict(limits or {})
    for cost, value in limits.items():
        _check_cost(cost)
        if not math.isfinite(float(value)) or float(value) < 0:
            raise ValueError(
                f"The {cost!r} limit must be a finite number >= 0. Got {value!r} instead."
            )
    if quality.key == "val_accuracy" and min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise ValueError(
            f"The 'min_accuracy' parameter must be a float in [0, 1]. Got {min_accuracy!r} instead."
        )
    for name, bound in (("min_accuracy", min_accuracy), ("max_quality", max_quality)):
        if bound is not None and not math.isfinite(float(bound)):
            raise ValueError(f"The {name!r} parameter must be finite. Got {bound!r} instead.")
    cost_objectives = [o for o in objectives if o in COST_UNITS]
    for cost in cost_objectives:
        _check_cost(cost)
    primary = cost_objectives[0] if cost_objectives else next(iter(limits), "size_bits")
    if knee:
        rule = SelectionRule.KNEE
    elif limits or (min_accuracy is None and max_quality is None):
        rule = SelectionRule.MOST_ACCURATE
    else:
        rule = SelectionRule.CHEAPEST

    def misses(c: Candidate) -> dict[str, float]:
        out: dict[str, float] = {}
        if min_accuracy is not None and c.accuracy < min_accuracy:
            out[quality.label] = (min_accuracy - c.accuracy) / max(abs(min_accuracy), 1e-12)
        if max_quality is not None and c.accuracy > max_quality:
            out[quality.label] = (c.accuracy - max_quality) / max(abs(max_quality), 1e-12)
        for cost, limit in limits.items():
            value = _cost_of(c, cost)
            if value > limit:
                out[cost] = (value - limit) / max(limit, 1e-12)
        return out

    checked = [(c, misses(c)) for c in candidates]
    feasible = [c for c, m in checked if not m]
    conditions = _describe_limits(min_accuracy, limits, quality.label, max_quality)
    if not feasible:
        ranked = sorted(
            (Shortfall(c, sum(m.values()), m) for c, m in checked),
            key=lambda s: (s.score, s.candidate.number),
        )
        reason = (
            f"No strategy among the {len(candidates)} complete trials meets {conditions}."
            if candidates
            else "The study has no complete trial to choose from."
        )
        return Selection(
            None,
            rule,
            reason,
            limits,
            min_accuracy,
            len(candidates),
            (),
            tuple(ranked[:n_closest]),
            max_quality,
        )

    if rule is SelectionRule.CHEAPEST:
        front_costs = cost_objectives or [primary]
    else:
        front_costs = cost_objectives
    points = _points(feasible, front_costs)
    mask = pareto_front_mask(points)
    front = [c for c, on in zip(feasible, mask, strict=True) if on]
    front.sort(key=lambda c: (*(_cost_of(c, n) for n in front_costs), c.minimized, c.number))

    if rule is SelectionRule.KNEE:
        chosen = feasible[knee_point(points)]
    elif rule is SelectionRule.CHEAPEST:
        chosen = min(feasible, key=lambda c: (_cost_of(c, primary), c.minimized, c.number))
    else:
        chosen = min(
            feasible,
            key=lambda c: (c.minimized, *(_cost_of(c, n) for n in cost_objectives), c.number),
        )
    reason = _explain(
        chosen, rule, feasible, len(candidates), conditions, primary, front_costs, quality
    )
    timing = tuple(
        timing_noise(candidates, front=front, cost=cost)
        for cost in front_costs
        if cost in TIME_COSTS
    )
    return Selection(
        chosen,
        rule,
        reason,
        limits,
        min_accuracy,
        len(candidates),
        tuple(front),
        (),
        max_quality,
        timing,
    )


def _describe_limits(
    min_accuracy: float | None,
    limits: Mapping[str, float],
    label: str = "accuracy",
    max_quality: float | None = None,
) -> str:
    parts = [f"{label} >= {min_accuracy:.4g}"] if min_accuracy is not None else []
    parts += [f"{label} <= {max_quality:.4g}"] if max_quality is not None else []
    parts += [f"{cost} <= {format_quantity(v, cost=cost)}" for cost, v in limits.items()]
    return " and ".join(parts) if parts else "no limit"


def _explain(
    chosen: Candidate,
    rule: SelectionRule,
    feasible: Sequence[Candidate],
    n_candidates: int,
    conditions: str,
    primary: str,
    front_costs: Sequence[str],
    quality: Quality,
) -> str:
    pool = (
        f"the {len(feasible)} of {n_candidates} complete trials with {conditions}"
        if conditions != "no limit"
        else f"all {n_candidates} complete trials"
    )
    costs = ", ".join(
        f"{n} {format_quantity(chosen.costs[n], cost=n)}" for n in front_costs if n in chosen.costs
    )
    name = "validation accuracy" if quality.key == "val_accuracy" else quality.key
    better = "higher is better" if quality.maximize else "lower is better"
    shown = "{:.4f}" if quality.key == "val_accuracy" else "{:.4g}"  # a metric: 4 digits
    measured = f"{name} {shown.format(chosen.accuracy)}"
    if math.isfinite(chosen.test_accuracy):
        measured += f" (test {shown.format(chosen.test_accuracy)})"
    if costs:
        measured += f", {costs}"
    others = [c for c in feasible if c.number != chosen.number]
    if rule is SelectionRule.MOST_ACCURATE:
        best = "most accurate"
        if quality.key != "val_accuracy":
            best = f"best on {quality.key} ({better})"
        text = f"Trial {chosen.number} is the {best} of {pool}: {measured}."
        if others:
            runner = min(others, key=lambda c: (c.minimized, c.number))
            text += f" Next best: trial {runner.number} at {shown.format(runner.accuracy)}."
        return text
    if rule is SelectionRule.CHEAPEST:
        text = f"Trial {chosen.number} has the smallest {primary} of {pool}: {measured}."
        if others:
            runner = min(others, key=lambda c: (c.costs.get(primary, math.inf), c.number))
            value = runner.costs.get(primary, math.nan)
            text += (
                f" Next cheapest: trial {runner.number} at {format_quantity(value, cost=primary)}."
            )
        return text
    if not front_costs:  # one objective: no trade-off, its knee is its best trial
        return (
            f"Trial {chosen.number} is the knee of {pool}: the study has one objective "
            f"({quality.label}), so its knee is its best trial. {measured}."
        )
    objectives = " vs ".join([quality.label, *front_costs])
    gain = "buying more accuracy"
    if quality.key != "val_accuracy":
        gain = f"improving {quality.key} further ({better})"
    return (
        f"Trial {chosen.number} is the knee of the Pareto front ({objectives}) of {pool}: "
        f"after scaling each objective to [0, 1] over all of them it is the front point closest to "
        f"the ideal corner, where {gain} starts to cost much more. {measured}."
    )
