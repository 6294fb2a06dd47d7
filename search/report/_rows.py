"""The report's view of each trial: one :class:`TrialRow` per trial, read once from the study.

Conventions: accuracy is the validation accuracy (the objective ``"accuracy"``); a PRUNED
trial's accuracy is the last ``val_accuracy`` of its ``curve``; ``feasible`` says whether the
trial meets the study's constraints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from paretune.search.report._select import COST_UNITS, Candidate
from paretune.search.report._trials import Quality, as_float, read_trial

__all__ = [
    "METRICS",
    "TrialRow",
    "dimensions",
    "objective_points",
    "rows_from_trials",
    "is_usable",
]

#: Strategy fields in the order the report shows them: what sets the cost first.
_ORDER = (
    "bits", "act_bits", "prune_rate", "optimizer", "lr", "momentum", "beta1", "beta2",
    "eps", "schedule", "warmup_epochs", "decay_gamma", "step_size", "batch_size",
    "weight_decay", "l1", "dropout", "epochs", "seed",
)  # fmt: skip

_RANK = {name: i for i, name in enumerate(_ORDER)}

#: Numeric user attributes copied into :attr:`TrialRow.metrics`.
METRICS = (*COST_UNITS, "sparsity", "epochs", "latency_ms_spread")


class TrialRow(NamedTuple):
    """One trial as the report sees it.

    Attributes:
        number: Optuna trial number.
        state: ``"COMPLETE"``, ``"PRUNED"``, ``"FAIL"``, ``"RUNNING"`` or ``"WAITING"``.
        accuracy: Validation accuracy (last reported one for PRUNED; NaN when unknown).
        test_accuracy: Test accuracy (NaN when not recorded).
        metrics: Costs, ``sparsity`` and ``epochs`` that the trial recorded.
        strategy: The complete strategy (``strategy`` user attribute, else the params).
        curve: Validation accuracy after each epoch (epoch ``i + 1`` at index ``i``).
        feasible: Whether the trial meets the study's constraints.
        note: The fail or prune reason (empty otherwise).
        maximize: Whether a higher ``accuracy`` is better: ``accuracy`` is the study's quality
            metric (:class:`~paretune.search.report.Quality`), e.g. ``val_rmse`` (minimized).
    """

    number: int
    state: str
    accuracy: float
    test_accuracy: float
    metrics: Mapping[str, float]
    strategy: Mapping[str, Any]
    curve: tuple[float, ...]
    feasible: bool
    note: str
    maximize: bool = True

    @property
    def minimized(self) -> float:
        """The quality as a minimized number: ``-accuracy``, or the metric when minimized."""
        return -self.accuracy if self.maximize else self.accuracy

    def candidate(self) -> Candidate:
        """This row as a selection :class:`Candidate`."""
        costs = {k: v for k, v in self.metrics.items() if k in COST_UNITS}
        spreads = {k: v for k, v in self.metrics.items() if k.endswith("_spread")}
        return Candidate(
            self.number,
            self.accuracy,
            self.test_accuracy,
            costs,
            self.strategy,
            self.maximize,
            spreads,
        )


def _curve(raw: Any, key: str = "val_accuracy") -> tuple[float, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return ()
    values = []
    for entry in raw:
        # ``type(...) is dict`` first: the ABC check costs more than the rest (20,000 curves)
        if type(entry) is dict or isinstance(entry, Mapping):
            if key in entry:
                values.append(as_float(entry[key]))
            else:
                values.append(as_float(entry.get("accuracy") if key == "val_accuracy" else None))
        else:
            values.append(as_float(entry))
    return tuple(values)


def _feasible(metrics: Mapping[str, float], constraints: Mapping[str, float]) -> bool:
    return all(metrics.get(c, math.inf) <= limit for c, limit in constraints.items())


def _ordered(strategy: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy in :data:`_ORDER`, without sub-parameters that do not apply (None)."""
    items = {str(k): v for k, v in strategy.items() if v is not None}
    names = tuple(items)
    order = _ORDERS.get(names)
    if order is None:  # one sort per distinct set of names, not per trial
        order = _ORDERS[names] = tuple(sorted(names, key=lambda k: (_RANK.get(k, len(_RANK)), k)))
    return {k: items[k] for k in order}


_ORDERS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _meets_trial_constraints(trial: Any) -> bool:
    """Optuna's own record (``trial.set_constraint``): every value <= 0 means feasible."""
    recorded = getattr(trial, "constraints", None) or ()
    values = recorded.values() if isinstance(recorded, Mapping) else recorded
    return all(as_float(v) <= 0 for v in values)


def rows_from_trials(
    trials: Iterable[Any],
    *,
    constraints: Mapping[str, float] | None = None,
    quality: Quality | None = None,
) -> tuple[TrialRow, ...]:
    """Turn Optuna ``FrozenTrial`` records into :class:`TrialRow` tuples.

    Args:
        trials: Frozen trials.
        constraints: The study's constraints (cost -> max) deciding ``feasible``.
        quality: The study's quality objective (default: validation accuracy).

    Returns:
        Rows in trial-number order.
    """
    constraints = dict(constraints or {})
    quality = quality or Quality()
    rows: list[TrialRow] = []
    for trial in trials:
        record = read_trial(trial, metrics=METRICS, quality=quality)
        attrs = trial.user_attrs
        state = trial.state.name
        curve = _curve(attrs.get("curve"), quality.key)
        accuracy = record.accuracy
        if state == "PRUNED" and not math.isfinite(accuracy) and curve:
            accuracy = curve[-1]
        if not math.isfinite(accuracy) and state == "COMPLETE":
            accuracy = math.nan
        note = str(attrs.get("fail_reason") or attrs.get("prune_reason") or "")
        rows.append(
            TrialRow(
                number=record.number,
                state=state,
                accuracy=accuracy,
                test_accuracy=record.test_accuracy,
                metrics=record.metrics,
                strategy=_ordered(record.strategy),
                curve=curve,
                feasible=_feasible(record.metrics, constraints) and _meets_trial_constraints(trial),
                note=note,
                maximize=quality.maximize,
            )
        )
    rows.sort(key=lambda r: r.number)
    return tuple(rows)


def is_usable(row: TrialRow, costs: Sequence[str]) -> bool:
    """Whether the row has a finite accuracy and a finite value for each of ``costs``."""
    return math.isfinite(row.accuracy) and all(
        math.isfinite(row.metrics.get(c, math.nan)) for c in costs
    )


def objective_points(
    rows: Sequence[TrialRow], indices: Sequence[int], costs: Sequence[str]
) -> np.ndarray:
    """The rows at ``indices`` as minimized objective vectors: the quality, then ``costs``.

    The quality is ``-accuracy``, or the metric itself when it is minimized (``val_rmse``).
    """
    data = [[rows[i].minimized, *(rows[i].metrics[c] for c in costs)] for i in indices]
    return np.asarray(data, dtype=np.float64).reshape(len(indices), 1 + len(costs))


def dimensions(rows: Sequence[TrialRow]) -> tuple[str, ...]:
    """Strategy keys present in any row: the known fields in report order, then the rest sorted."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row.strategy:
            seen.setdefault(str(key), None)
    known = [k for k in _ORDER if k in seen]
    return tuple(known + sorted(k for k in seen if k not in _ORDER))
