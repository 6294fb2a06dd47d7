"""``paretune status STUDY``: trials by state, epochs pruning saved, and the current front."""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from paretune import search
from paretune.search import COSTS, direction_of, metric_of, pareto_front_mask
from paretune.search.report import distinct_digits, format_quantity
from paretune.studies._study_args import EXIT_OK, add_study_arguments, open_named_study
from paretune.studies._table import format_number, format_table

__all__ = ["add_parser", "run", "front_rows"]

_STRATEGY_COLUMNS = ("optimizer", "lr", "schedule", "batch_size", "prune_rate", "bits")


def add_parser(subparsers: Any) -> None:
    """Register ``status``."""
    parser = subparsers.add_parser(
        "status",
        help="show a study's trials by state and its current Pareto front",
        description=(
            "Show how many trials a study holds in each state, how many epochs pruning "
            "saved, and the current Pareto front (feasible complete trials) as a table."
        ),
    )
    add_study_arguments(parser)


def _number(value: Any, objective: str, digits: int | None = None) -> Any:
    """A table cell: accuracies with 4 decimals, whole numbers as ints, other floats with 4
    significant digits (3 for the strategy's own fields: ``lr 0.0275``; ``digits`` when
    given)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    if objective in ("accuracy", "val_accuracy", "test_accuracy"):
        return f"{value:.4f}"
    if objective in COSTS:  # with its unit, one word (a table cut at spaces): 30.8kbit, 1.2ms
        return _quantity(objective, value, digits or 3).replace(" ", "")
    if isinstance(value, int) or (abs(value) < 2**53 and float(value).is_integer()):
        return int(value)
    if digits is None:
        digits = 3 if objective in _STRATEGY_COLUMNS else 4
    return format_number(value, digits=digits)


def _quantity(cost: str, value: float, digits: int) -> str:
    return format_quantity(value, cost=cost, digits=digits, in_bytes=False)


def _varying_fields(strategies: Sequence[dict[str, Any]]) -> list[str]:
    """Strategy fields beyond the main columns whose values differ between the front's rows
    (``weight_decay``, ``dropout``, ``l1`` ...), so no two rows that differ look alike."""
    names = dict.fromkeys(k for s in strategies for k in s)
    return [
        name
        for name in names
        if name not in ("task_params", *_STRATEGY_COLUMNS)
        and len({json.dumps(s.get(name), sort_keys=True) for s in strategies}) > 1
    ]


def _column_digits(values: Sequence[Any]) -> int:
    """Significant digits that show every distinct number of a strategy column apart (3 at
    least), the report's rule (``paretune.search.report.distinct_digits``)."""
    numbers = [float(v) for v in values if isinstance(v, float)]
    return distinct_digits(numbers, render=lambda v, d: format_number(v, digits=d))


def _task_params(trial: FrozenTrial) -> dict[str, Any]:
    """The task's own parameters the trial's strategy set (``{}`` when none)."""
    strategy = trial.user_attrs.get("strategy") or {}
    own = strategy.get("task_params") if isinstance(strategy, dict) else None
    return dict(own) if isinstance(own, dict) else {}


def _quality_objective(objectives: Sequence[str]) -> str | None:
    """The study's quality: its first objective that is not a cost (None when all are)."""
    return next((o for o in objectives if o not in COSTS), None)


def _test_column(objectives: Sequence[str]) -> tuple[str, str]:
    """The user attribute and column head of the quality on the test split.

    ``test_accuracy`` (head ``test_acc``) for an accuracy study, ``test_rmse`` for a study of
    ``val_rmse``.

    Examples:
        >>> _test_column(["accuracy", "size_bits"]), _test_column(["size_bits", "val_rmse"])
        (('test_accuracy', 'test_acc'), ('test_rmse', 'test_rmse'))
    """
    named = _quality_objective(objectives)
    if named in (None, "accuracy"):
        return "test_accuracy", "test_acc"
    key = "test_" + metric_of(named).removeprefix("val_")
    return key, key


def front_rows(
    trials: Sequence[FrozenTrial],
    objectives: Sequence[str],
    directions: Sequence[str] | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """The Pareto front of the feasible COMPLETE trials, as table headers and rows.

    Rows are sorted best first on the first objective; columns are the trial number, the
    objectives, the quality on the test split (test accuracy, or ``test_rmse`` for a study of
    ``val_rmse``), the main strategy fields, every other strategy field whose value differs
    between the front's rows (``weight_decay``, ``dropout`` ...) and the task's parameters;
    numbers get the digits that tell the column's values apart. ``directions`` are the study's
    (``"maximize"`` / ``"minimize"`` per objective; default: accuracy maximized, costs
    minimized), so a minimized metric such as ``val_rmse`` sorts lowest first.

    Examples:
        >>> import optuna
        >>> a = optuna.trial.create_trial(values=[0.9, 100.0], user_attrs={"strategy": {}})
        >>> b = optuna.trial.create_trial(values=[0.8, 200.0], user_attrs={"strategy": {}})
        >>> headers, rows = front_rows([a, b], ["accuracy", "size_bits"])
        >>> headers[:3], len(rows), rows[0][1:3]
        (['trial', 'accuracy', 'size_bits'], 1, ['0.9000', '100bit'])
    """
    feasible = [
        t
        for t in trials
        if t.state is optuna.trial.TrialState.COMPLETE
        and t.values is not None
        and all(c <= 0 for c in (t.constraints or {}).values())
    ]
    test_key, test_head = _test_column(objectives)
    headers = ["trial", *objectives, test_head, *_STRATEGY_COLUMNS]
    if not feasible:
        return headers, []
    own = list(dict.fromkeys(k for t in feasible for k in _task_params(t)))  # width, depth ...
    if directions is None:
        directions = [direction_of(o) for o in objectives]
    signs = [-1.0 if d == "maximize" else 1.0 for d in directions]
    points = [[s * v for s, v in zip(signs, t.values, strict=True)] for t in feasible]
    mask = pareto_front_mask(points)
    front = [t for t, keep in zip(feasible, mask, strict=True) if keep]
    front.sort(key=lambda t: signs[0] * t.values[0])
    strategies = [dict(t.user_attrs.get("strategy") or {}) for t in front]
    varying = _varying_fields(strategies)  # weight_decay, dropout, l1 ... when they differ
    headers += [*varying, *own]
    fields = [*_STRATEGY_COLUMNS, *varying]
    digits = {c: _column_digits([s.get(c) for s in strategies]) for c in fields}
    for index, cost in enumerate(objectives):
        if cost in COSTS:
            digits[cost] = distinct_digits(
                [t.values[index] for t in front], render=functools.partial(_quantity, cost)
            )
    rows = []
    for trial, strategy in zip(front, strategies, strict=True):
        rows.append(
            [
                trial.number,
                *(
                    _number(v, o, digits.get(o))
                    for v, o in zip(trial.values, objectives, strict=True)
                ),
                _number(trial.user_attrs.get(test_key), test_key),
                *(_number(strategy.get(c), c, digits[c]) for c in fields),
                *(_number(_task_params(trial).get(c), c) for c in own),
            ]
        )
    return headers, rows


def run(args: argparse.Namespace) -> int:
    """Print the study's state."""
    named, study = open_named_study(args)
    # the front shows each trial's strategy: curves, parameters and reports stay unread
    trials = search.read_trials(study, omit=("curve",), params=False, intermediate_values=False)
    objectives = list(study.user_attrs.get("objectives") or [])
    states = [t.state for t in trials]
    failed = [t for t in trials if t.state is optuna.trial.TrialState.FAIL]
    interrupted = sum(1 for t in failed if t.user_attrs.get("fail_reason") == "interrupted")
    done = states.count(optuna.trial.TrialState.COMPLETE) + states.count(
        optuna.trial.TrialState.PRUNED
    )
    target = f"{done}/{named.n_trials}" if named.n_trials is not None else f"{done}"
    print(f"study {named.name} in {named.storage}: {target} finished trials")
    rows = [
        [state.name.lower(), states.count(state)]
        for state in optuna.trial.TrialState
        if states.count(state)
    ]
    print(format_table(["state", "trials"], rows or [["(none)", 0]]))
    if interrupted:
        print(f"({interrupted} of the failed trials were interrupted; their strategies re-run)")
    print(
        f"epochs trained: {search.epochs_spent(trials)}; saved by pruning: "
        f"{search.epochs_saved(trials)} (over "
        f"{states.count(optuna.trial.TrialState.PRUNED)} pruned trials)"
    )
    if not objectives or len(objectives) != len(study.directions):
        print("\n(no Pareto front: the study was not made by paretune; it records no objectives)")
        return EXIT_OK
    constraints = study.user_attrs.get("constraints") or {}
    limits = ", ".join(f"{k} <= {_quantity(k, float(v), 4)}" for k, v in constraints.items())
    directions = [d.name.lower() for d in study.directions]
    headers, front = front_rows(trials, objectives, directions)
    title = f"Pareto front ({len(front)} trials" + (f"; feasible: {limits}" if limits else "")
    quality = _quality_objective(objectives)
    if quality not in (None, "accuracy"):  # name the metric's direction; accuracy goes up
        direction = directions[objectives.index(quality)]
        title += f"; {quality}: {'higher' if direction == 'maximize' else 'lower'} is better"
    title += ")"
    print(f"\n{title}")
    if front:
        print(format_table(headers, front))
    else:
        print("(no feasible complete trial yet)")
    return EXIT_OK
