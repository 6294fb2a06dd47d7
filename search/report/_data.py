"""Everything the report shows, computed from a study's trials (pure, no plotly).

One function, :func:`build_report_data`, reads an ``optuna.Study`` (or its frozen trials) and
returns a :class:`ReportData` of NamedTuples; ``_report_html`` only draws it. The smaller
functions (:func:`staircase`, :func:`front_view`, :func:`hypervolume_history`,
:func:`constraint_picks` ...) are public to the tests and work on plain rows.

Conventions: accuracy is the validation accuracy (the objective ``"accuracy"``); a PRUNED
trial's accuracy is the last ``val_accuracy`` of its ``curve``; only COMPLETE trials that meet
the study's constraints take part in fronts, hypervolume and picks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from paretune.search._pareto import hypervolume, pareto_front_mask
from paretune.search.report._select import (
    COST_UNITS,
    Candidate,
    Selection,
    select_strategy,
)

__all__ = [
    "ConstraintPick",
    "FrontView",
    "History",
    "HypervolumeHistory",
    "ReportData",
    "Summary",
    "TrialRow",
    "build_report_data",
    "constraint_picks",
    "front_view",
    "global_front",
    "hypervolume_history",
    "importances",
    "rows_from_trials",
    "staircase",
]

#: Strategy fields in the order the report shows them: what sets the cost first.
_ORDER = (
    "bits", "act_bits", "prune_rate", "optimizer", "lr", "momentum", "beta1", "beta2",
    "eps", "schedule", "warmup_epochs", "decay_gamma", "step_size", "batch_size",
    "weight_decay", "l1", "dropout", "epochs", "seed",
)  # fmt: skip

#: Numeric user attributes copied into :attr:`TrialRow.metrics`.
METRICS = (*COST_UNITS, "sparsity", "epochs")


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

    def candidate(self) -> Candidate:
        """This row as a selection :class:`Candidate`."""
        costs = {k: v for k, v in self.metrics.items() if k in COST_UNITS}
        return Candidate(self.number, self.accuracy, self.test_accuracy, costs, self.strategy)


class Summary(NamedTuple):
    """The report's first section.

    Attributes:
        study_name: Name of the study.
        task: Task name from the study metadata (``""`` if unknown).
        objectives: Objective names in order.
        constraints: Cost name -> largest allowed value (the study's constraints).
        n_complete: COMPLETE trials.
        n_pruned: PRUNED trials.
        n_failed: FAIL trials.
        n_running: RUNNING or WAITING trials.
        epochs_spent: Epochs trained over all trials.
        epochs_saved: Epochs pruning saved (planned minus run, over PRUNED trials).
        best_accuracy: Best validation accuracy of a feasible COMPLETE trial (NaN if none).
        best_trial: Its number (-1 if none).
        recommended: The knee of the feasible front (see ``select_strategy``).
    """

    study_name: str
    task: str
    objectives: tuple[str, ...]
    constraints: Mapping[str, float]
    n_complete: int
    n_pruned: int
    n_failed: int
    n_running: int
    epochs_spent: int
    epochs_saved: int
    best_accuracy: float
    best_trial: int
    recommended: Selection


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


class ConstraintPick(NamedTuple):
    """What a common constraint picks.

    Attributes:
        label: Human-readable constraint (``"size <= 1/4 of dense float32"``).
        limits: The limits applied (cost -> max).
        selection: The selection under those limits (``chosen`` may be None).
    """

    label: str
    limits: Mapping[str, float]
    selection: Selection


class ReportData(NamedTuple):
    """All the report's content.

    Attributes:
        summary: Counts, budget, best accuracy and the recommendation.
        rows: Every trial, in trial-number order.
        dimensions: Strategy keys present in any trial, in a stable order.
        fronts: One :class:`FrontView` per cost objective (or per constrained cost when the
            study has accuracy only).
        front: Row indices of the trials non-dominated on all objectives, cheapest first.
        hypervolume: The hypervolume history.
        history: The optimization history.
        importances: Objective -> parameter -> importance (empty when not computable).
        picks: What common constraints pick.
    """

    summary: Summary
    rows: tuple[TrialRow, ...]
    dimensions: tuple[str, ...]
    fronts: tuple[FrontView, ...]
    front: tuple[int, ...]
    hypervolume: HypervolumeHistory
    history: History
    importances: Mapping[str, Mapping[str, float]]
    picks: tuple[ConstraintPick, ...]


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _curve(raw: Any) -> tuple[float, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return ()
    values = []
    for entry in raw:
        if isinstance(entry, Mapping):
            values.append(_float(entry.get("val_accuracy", entry.get("accuracy"))))
        else:
            values.append(_float(entry))
    return tuple(values)


def _feasible(metrics: Mapping[str, float], constraints: Mapping[str, float]) -> bool:
    return all(metrics.get(c, math.inf) <= limit for c, limit in constraints.items())


def _ordered(strategy: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy in :data:`_ORDER`, without sub-parameters that do not apply (None)."""
    items = {str(k): v for k, v in strategy.items() if v is not None}
    rank = {name: i for i, name in enumerate(_ORDER)}
    return dict(sorted(items.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _meets_trial_constraints(trial: Any) -> bool:
    """Optuna's own record (``trial.set_constraint``): every value <= 0 means feasible."""
    recorded = getattr(trial, "constraints", None) or ()
    values = recorded.values() if isinstance(recorded, Mapping) else recorded
    return all(_float(v) <= 0 for v in values)


def rows_from_trials(
    trials: Iterable[Any], *, constraints: Mapping[str, float] | None = None
) -> tuple[TrialRow, ...]:
    """Turn Optuna ``FrozenTrial`` records into :class:`TrialRow` tuples.

    Args:
        trials: Frozen trials.
        constraints: The study's constraints (cost -> max) deciding ``feasible``.

    Returns:
        Rows in trial-number order.
    """
    constraints = dict(constraints or {})
    rows: list[TrialRow] = []
    for trial in trials:
        attrs = trial.user_attrs
        state = trial.state.name
        curve = _curve(attrs.get("curve"))
        accuracy = _float(attrs.get("val_accuracy"))
        if state == "PRUNED" and not math.isfinite(accuracy) and curve:
            accuracy = curve[-1]
        if not math.isfinite(accuracy) and state == "COMPLETE":
            accuracy = math.nan
        metrics = {k: _float(attrs[k]) for k in METRICS if k in attrs}
        strategy = attrs.get("strategy")
        note = str(attrs.get("fail_reason") or attrs.get("prune_reason") or "")
        rows.append(
            TrialRow(
                number=int(trial.number),
                state=state,
                accuracy=accuracy,
                test_accuracy=_float(attrs.get("test_accuracy")),
                metrics=metrics,
                strategy=_ordered(strategy if isinstance(strategy, Mapping) else trial.params),
                curve=curve,
                feasible=_feasible(metrics, constraints) and _meets_trial_constraints(trial),
                note=note,
            )
        )
    rows.sort(key=lambda r: r.number)
    return tuple(rows)


def _usable(row: TrialRow, costs: Sequence[str]) -> bool:
    return math.isfinite(row.accuracy) and all(
        math.isfinite(row.metrics.get(c, math.nan)) for c in costs
    )


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
    complete = [i for i, r in enumerate(rows) if r.state == "COMPLETE" and _usable(r, [cost])]
    feasible = [i for i in complete if rows[i].feasible]
    infeasible = [i for i in complete if not rows[i].feasible]
    pruned = [i for i, r in enumerate(rows) if r.state == "PRUNED" and _usable(r, [cost])]
    points = np.array([[rows[i].metrics[cost], -rows[i].accuracy] for i in feasible])
    mask = pareto_front_mask(points.reshape(len(feasible), 2))
    front = sorted(
        (i for i, on in zip(feasible, mask, strict=True) if on),
        key=lambda i: (rows[i].metrics[cost], -rows[i].accuracy, rows[i].number),
    )
    dominated = [i for i, on in zip(feasible, mask, strict=True) if not on]
    all_costs = [rows[i].metrics[cost] for i in complete + pruned]
    xs, ys = staircase(
        [rows[i].metrics[cost] for i in front],
        [rows[i].accuracy for i in front],
        x_max=max(all_costs) if all_costs else None,
    )
    positive = [c for c in all_costs if c > 0]
    log_x = (
        bool(positive) and len(positive) == len(all_costs) and max(positive) > 10 * min(positive)
    )
    return FrontView(
        cost, tuple(front), tuple(dominated), tuple(infeasible), tuple(pruned), xs, ys, log_x
    )


def _points(rows: Sequence[TrialRow], indices: Sequence[int], costs: Sequence[str]) -> np.ndarray:
    data = [[-rows[i].accuracy, *(rows[i].metrics[c] for c in costs)] for i in indices]
    return np.asarray(data, dtype=np.float64).reshape(len(indices), 1 + len(costs))


def global_front(rows: Sequence[TrialRow], objectives: Sequence[str]) -> tuple[int, ...]:
    """Row indices of feasible COMPLETE trials non-dominated on all objectives.

    Sorted by the first cost objective (then the others), cheapest first.

    Args:
        rows: All trials.
        objectives: The study's objectives.

    Returns:
        Row indices.
    """
    costs = [o for o in objectives if o != "accuracy"]
    usable = [i for i, r in enumerate(rows) if r.state == "COMPLETE" and r.feasible]
    usable = [i for i in usable if _usable(rows[i], costs)]
    mask = pareto_front_mask(_points(rows, usable, costs))
    front = [i for i, on in zip(usable, mask, strict=True) if on]
    front.sort(key=lambda i: (*(rows[i].metrics[c] for c in costs), -rows[i].accuracy))
    return tuple(front)


def hypervolume_history(
    rows: Sequence[TrialRow], objectives: Sequence[str], *, max_points: int = 200
) -> HypervolumeHistory:
    """Hypervolume of the feasible front as the study went on.

    Reference point: accuracy 0 and, for each cost, 1.1 times the largest value any
    feasible COMPLETE trial had. Each cost is divided by its reference value (accuracy
    stays as it is), so the volume is the share of the box
    ``[0, 1] x [0, ref_1] x ...`` dominated by the front, in [0, 1].

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
    costs = [o for o in objectives if o != "accuracy"]
    usable = [
        i for i, r in enumerate(rows) if r.state == "COMPLETE" and r.feasible and _usable(r, costs)
    ]
    if not usable:
        return HypervolumeHistory((), (), (), ())
    points = _points(rows, usable, costs)
    ref_costs = [max(float(points[:, j + 1].max()) * 1.1, 1e-12) for j in range(len(costs))]
    scale = np.array([1.0, *ref_costs])
    reference = np.array([0.0, *([1.0] * len(costs))])
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
        (0.0, *ref_costs),
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
            best = max(best, row.accuracy)
        indices.append(i)
        best_so_far.append(best if math.isfinite(best) else math.nan)
    return History(tuple(indices), tuple(best_so_far))


def constraint_picks(
    rows: Sequence[TrialRow],
    objectives: Sequence[str],
    *,
    constraints: Mapping[str, float] | None = None,
    fractions: Sequence[tuple[str, float]] = (("1/2", 0.5), ("1/4", 0.25), ("1/10", 0.1)),
) -> tuple[ConstraintPick, ...]:
    """The most accurate strategy under common size budgets, plus the knee.

    Only trials that meet the study's constraints (``TrialRow.feasible``) take part.

    The dense float model is ``params * 32`` bits (the largest ``params`` recorded); each
    fraction of it becomes a ``size_bits`` limit, combined with the study's own constraints.

    Args:
        rows: All trials.
        objectives: The study's objectives.
        constraints: The study's constraints.
        fractions: ``(label, fraction)`` pairs of the dense float size.

    Returns:
        One :class:`ConstraintPick` per budget, then the unconstrained best and the knee.
    """
    constraints = dict(constraints or {})
    rows = [r for r in rows if r.feasible or r.state != "COMPLETE"]
    candidates = [
        r.candidate()
        for r in rows
        if r.state == "COMPLETE" and math.isfinite(r.accuracy) and "size_bits" in r.metrics
    ]
    picks: list[ConstraintPick] = []
    dense = [r.metrics["params"] for r in rows if math.isfinite(r.metrics.get("params", math.nan))]
    if dense and candidates:
        dense_bits = max(dense) * 32
        for label, fraction in fractions:
            limit = dense_bits * fraction
            limits = {**constraints, "size_bits": min(limit, constraints.get("size_bits", limit))}
            selection = select_strategy(candidates, objectives=objectives, limits=limits)
            picks.append(ConstraintPick(f"size ≤ {label} of dense float32", limits, selection))
    usable = [r.candidate() for r in rows if r.state == "COMPLETE" and math.isfinite(r.accuracy)]
    usable = [c for c in usable if all(o in c.costs for o in objectives if o != "accuracy")]
    best = select_strategy(usable, objectives=objectives, limits=constraints)
    picks.append(ConstraintPick("most accurate (study constraints only)", constraints, best))
    knee = select_strategy(usable, objectives=objectives, limits=constraints, knee=True)
    picks.append(ConstraintPick("knee of the front", constraints, knee))
    return tuple(picks)


def importances(
    trials: Sequence[Any],
    objectives: Sequence[str],
    *,
    max_trials: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Parameter importances per objective with Optuna's fANOVA evaluator.

    At most ``max_trials`` COMPLETE trials (a seeded random subsample) are used and the
    forest is kept small (16 trees of depth 8), so the cost stays bounded (about a second
    per objective) at 20,000 trials. Parameters absent from some trial (conditional
    ones) are left out by Optuna.

    Args:
        trials: Frozen trials.
        objectives: The study's objectives (values are in this order).
        max_trials: Subsample size.
        seed: Seed of the evaluator's forest and the subsample.

    Returns:
        Objective -> parameter -> importance (normalized to sum to 1); an objective is
        missing when there are fewer than 3 usable trials or no parameter varies.
    """
    import optuna

    complete = [
        t
        for t in trials
        if t.state == optuna.trial.TrialState.COMPLETE
        and t.values is not None
        and len(t.values) == len(objectives)
        and all(math.isfinite(v) for v in t.values)
    ]
    if len(complete) < 3:
        return {}
    if len(complete) > max_trials:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(complete), size=max_trials, replace=False))
        complete = [complete[i] for i in keep]
    study = optuna.create_study(directions=["minimize"] * len(objectives))
    study.add_trials(  # params and values only: the curves and strategies are not needed
        [
            optuna.trial.create_trial(
                params=t.params, distributions=t.distributions, values=t.values
            )
            for t in complete
        ]
    )
    result: dict[str, dict[str, float]] = {}
    for index, name in enumerate(objectives):
        evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=16, max_depth=8, seed=seed)

        def target(trial: Any, i: int = index) -> float:
            return float(trial.values[i])

        try:
            values = optuna.importance.get_param_importances(
                study, evaluator=evaluator, target=target
            )
        except (ValueError, RuntimeError):
            continue
        if values:
            result[name] = {k: float(v) for k, v in values.items()}
    return result


def _dimensions(rows: Sequence[TrialRow]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row.strategy:
            seen.setdefault(str(key), None)
    known = [k for k in _ORDER if k in seen]
    return tuple(known + sorted(k for k in seen if k not in _ORDER))


def build_report_data(
    study: Any,
    *,
    trials: Sequence[Any] | None = None,
    max_importance_trials: int = 1000,
    seed: int = 0,
) -> ReportData:
    """Compute every section of the report from a study.

    Args:
        study: An ``optuna.Study`` written by paretune (user attributes ``objectives``,
            ``constraints``, ``metadata``); objective names fall back to ``accuracy`` and
            ``objective_1`` ... when absent.
        trials: The study's frozen trials when already loaded (else read once here).
        max_importance_trials: Subsample size for the importances.
        seed: Seed for the importance evaluator.

    Returns:
        The :class:`ReportData`.
    """
    from paretune.search import epochs_saved, epochs_spent

    if trials is None:
        trials = study.get_trials(deepcopy=False)
    attrs = study.user_attrs
    objectives = tuple(
        attrs.get("objectives")
        or ["accuracy", *(f"objective_{i}" for i in range(1, len(study.directions)))]
    )
    constraints = {str(k): float(v) for k, v in dict(attrs.get("constraints") or {}).items()}
    metadata = attrs.get("metadata") or {}
    rows = rows_from_trials(trials, constraints=constraints)
    costs = [o for o in objectives if o != "accuracy"]
    plotted = costs or [c for c in constraints if c in COST_UNITS] or ["size_bits"]
    fronts = tuple(front_view(rows, cost) for cost in plotted)
    front = global_front(rows, objectives)
    states = [r.state for r in rows]
    usable = [r for r in rows if r.state == "COMPLETE" and r.feasible and math.isfinite(r.accuracy)]
    best = max(usable, key=lambda r: (r.accuracy, -r.number)) if usable else None
    picks = constraint_picks(rows, objectives, constraints=constraints)
    recommended = picks[-1].selection
    summary = Summary(
        study_name=str(study.study_name),
        task=str(metadata.get("task", "")) if isinstance(metadata, Mapping) else "",
        objectives=objectives,
        constraints=constraints,
        n_complete=states.count("COMPLETE"),
        n_pruned=states.count("PRUNED"),
        n_failed=states.count("FAIL"),
        n_running=states.count("RUNNING") + states.count("WAITING"),
        epochs_spent=int(epochs_spent(trials)),
        epochs_saved=int(epochs_saved(trials)),
        best_accuracy=best.accuracy if best else math.nan,
        best_trial=best.number if best else -1,
        recommended=recommended,
    )
    return ReportData(
        summary=summary,
        rows=rows,
        dimensions=_dimensions(rows),
        fronts=fronts,
        front=front,
        hypervolume=hypervolume_history(rows, objectives),
        history=optimization_history(rows),
        importances=importances(trials, objectives, max_trials=max_importance_trials, seed=seed),
        picks=picks,
    )
