"""The one place a trial's outcome becomes a finished Optuna trial.

:func:`record_result` takes a :class:`~paretune.search.TrialOutcome` and writes the user
attributes (strategy, every measurement, the curve), the constraint values, and tells the
study COMPLETE, PRUNED or FAIL. :func:`record_failure` does the same for a trial that raised
or was interrupted. Every executor (local, processes, Ray) calls these two functions and
nothing else to finish a trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from paretune.search._objectives import MEASUREMENTS, is_measurement, metric_of
from paretune.search._optuna_compat import set_trial_user_attrs, trial_by_number, trial_id_of
from paretune.search.study._curves import curve_metric, report_curve
from paretune.search.study._outcome import OutcomeState, TrialOutcome, to_outcome

if TYPE_CHECKING:
    import optuna

__all__ = ["MEASUREMENTS", "record_failure", "record_result"]


def _handle(study: optuna.Study, trial: optuna.Trial | int) -> optuna.Trial:
    handle: optuna.Trial = trial_by_number(study, trial) if isinstance(trial, int) else trial
    return handle


def _study_setup(
    study: optuna.Study,
    objectives: Sequence[str] | None,
    constraints: Mapping[str, float] | None,
) -> tuple[Sequence[str], Mapping[str, float]]:
    if objectives is not None and constraints is not None:
        return objectives, constraints
    attrs = study.user_attrs
    if "objectives" not in attrs:
        raise ValueError(
            f"Study {study.study_name!r} has no 'objectives' attribute; open it with "
            "paretune.search.open_study or pass objectives=."
        )
    return (
        objectives if objectives is not None else attrs["objectives"],
        constraints if constraints is not None else attrs.get("constraints", {}),
    )


def _plain(value: Any) -> Any:
    """A JSON-able copy of a measurement (numbers as int/float, numpy scalars included)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "item"):
        return value.item()
    return value


def _attrs_of(outcome: TrialOutcome) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if outcome.strategy is not None:
        attrs["strategy"] = dict(outcome.strategy)
    for key, value in outcome.measurements.items():
        if is_measurement(key):
            attrs[key] = _plain(value)
    if outcome.curve is not None:
        # numbered like the reporter's curve: {"epoch": 1, ...metrics}
        attrs["curve"] = [
            {"epoch": epoch, **{k: _plain(v) for k, v in dict(point).items()}}
            for epoch, point in enumerate(outcome.curve, start=1)
        ]
    return attrs


def _complete_values(
    objectives: Sequence[str], measurements: Mapping[str, Any]
) -> list[float] | str:
    """Objective values in order, or the reason they cannot be used."""
    values: list[float] = []
    for objective in objectives:
        key = metric_of(objective)
        if key not in measurements:
            return f"the result has no {key!r} (needed for objective {objective!r})"
        try:
            value = float(measurements[key])
        except (TypeError, ValueError):
            return f"objective {objective!r} ({key}) is not a number: {measurements[key]!r}"
        if not math.isfinite(value):
            return f"objective {objective!r} ({key}) is {value}"
        values.append(value)
    return values


def record_result(
    study: optuna.Study,
    trial: optuna.Trial | int,
    outcome: TrialOutcome | Mapping[str, Any],
    *,
    objectives: Sequence[str] | None = None,
    constraints: Mapping[str, float] | None = None,
    prune_reason: str | None = None,
) -> optuna.trial.TrialState:
    """Record a trial's outcome on its running Optuna trial and finish it.

    - ``COMPLETE``: COMPLETE, values in ``objectives`` order (``accuracy`` is
      ``val_accuracy``); a missing or non-finite value makes it FAIL with ``fail_reason``.
    - ``PRUNED`` (the pruner asked to stop): PRUNED with ``pruned_at_epoch`` (epochs run) and
      ``prune_reason``.
    - ``FAIL`` (diverged, or an unknown status in the dict form): FAIL with ``fail_reason``.

    The outcome's curve becomes the ``curve`` user attribute, and each epoch's value of the
    study's curve metric (:func:`~paretune.search.study.curve_metric`: ``val_accuracy`` for
    an accuracy study) the trial's intermediate value at ``step = epoch``, where the
    reporter did not store it while the trial ran.

    With constraints, each ``cost - max`` is recorded by ``trial.set_constraint`` (feasible
    when ``<= 0``), so constraint-aware samplers and Optuna's plots use it.

    Args:
        study: The study.
        trial: The running trial, or its number.
        outcome: The :class:`TrialOutcome`, or its dict form (``TrainResult.to_dict()``).
        objectives: The study's objectives (default: its ``objectives`` attribute).
        constraints: The study's constraints (default: its ``constraints`` attribute).
        prune_reason: Why the pruner stopped the trial (for PRUNED).

    Returns:
        The state the trial was finished with.

    Examples:
        >>> import optuna
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(directions=["maximize", "minimize"])
        >>> trial = study.ask()
        >>> outcome = TrialOutcome(state=OutcomeState.COMPLETE, strategy={"lr": 0.1},
        ...     measurements={"val_accuracy": 0.9, "size_bits": 800.0, "epochs": 3})
        >>> record_result(study, trial, outcome, objectives=("accuracy", "size_bits"),
        ...               constraints={"size_bits": 1000.0})
        <TrialState.COMPLETE: 1>
        >>> frozen = study.trials[0]
        >>> frozen.values, frozen.user_attrs["epochs"], frozen.constraints
        ([0.9, 800.0], 3, {'size_bits': -200.0})
    """
    import optuna

    outcome = to_outcome(outcome)
    handle = _handle(study, trial)
    objectives, constraints = _study_setup(study, objectives, constraints)
    attrs = _attrs_of(outcome)
    measurements = outcome.measurements
    values: list[float] | None = None
    state = optuna.trial.TrialState.FAIL
    if outcome.state is OutcomeState.COMPLETE:
        checked = _complete_values(objectives, measurements)
        if isinstance(checked, str):
            attrs["fail_reason"] = checked
        else:
            values, state = checked, optuna.trial.TrialState.COMPLETE
    elif outcome.state is OutcomeState.PRUNED:
        state = optuna.trial.TrialState.PRUNED
        attrs["pruned_at_epoch"] = _plain(measurements.get("epochs", len(attrs.get("curve", []))))
        attrs["prune_reason"] = prune_reason or outcome.reason or "stopped by the pruner"
    else:
        attrs["fail_reason"] = outcome.reason or "training diverged"
    set_trial_user_attrs(study._storage, trial_id_of(handle), attrs)
    if attrs.get("curve") and objectives:
        # epochs no reporter stored live (a Ray result's curve, an objective that never reported)
        report_curve(handle, curve_metric(objectives), attrs["curve"])
    if state is not optuna.trial.TrialState.FAIL:
        for cost, limit in constraints.items():
            if measurements.get(cost) is not None:
                handle.set_constraint(cost, float(measurements[cost]) - float(limit))
    study.tell(handle, values, state=state)
    return state


def record_failure(
    study: optuna.Study,
    trial: optuna.Trial | int,
    reason: str,
    *,
    curve: Sequence[Mapping[str, Any]] | None = None,
) -> optuna.trial.TrialState:
    """Finish a running trial as FAIL with ``fail_reason`` (and its partial curve, if any).

    Examples:
        >>> import optuna
        >>> study = optuna.create_study()
        >>> trial = study.ask()
        >>> record_failure(study, trial, "ValueError: lr must be > 0")
        <TrialState.FAIL: 3>
        >>> study.trials[0].user_attrs
        {'fail_reason': 'ValueError: lr must be > 0'}
    """
    import optuna

    handle = _handle(study, trial)
    attrs: dict[str, Any] = {"fail_reason": reason}
    if curve:
        attrs["curve"] = [dict(point) for point in curve]
        attrs["epochs"] = len(attrs["curve"])
    set_trial_user_attrs(study._storage, trial_id_of(handle), attrs)
    study.tell(handle, state=optuna.trial.TrialState.FAIL)
    return optuna.trial.TrialState.FAIL
