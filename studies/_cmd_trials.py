"""``paretune trials STUDY``: every trial with every attribute, as CSV or JSON.

One record per trial: its number and state, its values by objective name, the start and
completion times and the duration, the sampled parameters, every user attribute (the
strategy, the costs and metrics, the fail or prune reason, the per-epoch ``curve``) and the
intermediate values. The CSV has one column per field, named as in Optuna's
``trials_dataframe`` (``values_accuracy``, ``params_lr``, ``user_attrs_size_bits``); a value
that is a list or a table (``user_attrs_curve``, ``user_attrs_strategy``,
``intermediate_values``) is a JSON string there. The JSON keeps them nested. Numbers keep full
precision; a value that is not finite is empty in the CSV and ``null`` in the JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from paretune.search import read_trials
from paretune.studies._study_args import (
    EXIT_OK,
    add_study_arguments,
    open_named_study,
    output_error,
)

__all__ = ["add_parser", "csv_table", "objective_names", "run", "trial_record"]

_FIXED_COLUMNS = ("number", "state")
_TIME_COLUMNS = ("datetime_start", "datetime_complete", "duration_s")


def add_parser(subparsers: Any) -> None:
    """Register ``trials``."""
    parser = subparsers.add_parser(
        "trials",
        help="write every trial with every attribute as CSV or JSON",
        description=(
            "Write every trial of a study with every attribute: number, state, values by "
            "objective name, start/complete time and duration, parameters, user attributes "
            "(strategy, costs, metrics, reasons, the per-epoch curve) and intermediate values. "
            "CSV columns are named as in Optuna's trials_dataframe (values_accuracy, params_lr, "
            "user_attrs_curve); lists and tables are JSON strings there."
        ),
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--format",
        choices=("csv", "json"),
        default="csv",
        help="csv (one row per trial; default) or json (one document, trials nested)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (default: standard output)"
    )


def objective_names(study: Any) -> list[str]:
    """The study's objective names: Optuna's ``metric_names``, else paretune's ``objectives``
    attribute, else their indexes ``0``, ``1``, ... (CSV columns ``values_0``, ``values_1``,
    as Optuna's ``trials_dataframe`` names them).

    Examples:
        >>> import optuna
        >>> study = optuna.create_study(directions=["maximize", "minimize"])
        >>> objective_names(study)
        ['0', '1']
        >>> study.set_user_attr("objectives", ["accuracy", "size_bits"])
        >>> objective_names(study)
        ['accuracy', 'size_bits']
    """
    count = len(study.directions)
    for names in (study.metric_names, study.user_attrs.get("objectives")):
        if names and len(names) == count:
            return [str(n) for n in names]
    return [str(i) for i in range(count)]


def _finite(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def trial_record(trial: Any, objectives: Sequence[str]) -> dict[str, Any]:
    """One trial as a JSON-able dict (the form ``--format json`` writes).

    Examples:
        >>> import optuna
        >>> trial = optuna.trial.create_trial(
        ...     values=[0.9, 800.0], params={"lr": 0.0275},
        ...     distributions={"lr": optuna.distributions.FloatDistribution(1e-3, 0.3)},
        ...     user_attrs={"curve": [{"epoch": 1, "val_accuracy": 0.9}]},
        ...     intermediate_values={1: 0.9})
        >>> record = trial_record(trial, ["accuracy", "size_bits"])
        >>> record["state"], record["values"], record["params"]
        ('COMPLETE', {'accuracy': 0.9, 'size_bits': 800.0}, {'lr': 0.0275})
        >>> record["user_attrs"]["curve"], record["intermediate_values"]
        ([{'epoch': 1, 'val_accuracy': 0.9}], {'1': 0.9})
    """
    values = None
    if trial.values is not None:
        values = dict(zip(objectives, trial.values, strict=False))
    start, complete = trial.datetime_start, trial.datetime_complete
    duration = trial.duration
    record: dict[str, Any] = _finite(
        {
            "number": trial.number,
            "state": trial.state.name,
            "values": values,
            "datetime_start": start.isoformat() if start is not None else None,
            "datetime_complete": complete.isoformat() if complete is not None else None,
            "duration_s": duration.total_seconds() if duration is not None else None,
            "params": dict(trial.params),
            "user_attrs": dict(trial.user_attrs),
            "intermediate_values": {
                str(step): value for step, value in sorted(trial.intermediate_values.items())
            },
        }
    )
    return record


def _cell(value: Any) -> Any:
    """A CSV cell: None empty, lists and tables as compact JSON, scalars as they are."""
    if value is None:
        return ""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"))
    return value


def _first_seen(keys: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(keys))


def csv_table(
    records: Sequence[Mapping[str, Any]], objectives: Sequence[str]
) -> tuple[list[str], list[list[Any]]]:
    """The CSV header and rows of :func:`trial_record` dicts (columns in first-seen order).

    Examples:
        >>> rec = {"number": 0, "state": "COMPLETE", "values": {"accuracy": 0.9},
        ...        "datetime_start": None, "datetime_complete": None, "duration_s": 1.5,
        ...        "params": {"lr": 0.1}, "user_attrs": {"curve": [{"epoch": 1}]},
        ...        "intermediate_values": {"1": 0.9}}
        >>> header, rows = csv_table([rec], ["accuracy"])
        >>> header
        ['number', 'state', 'values_accuracy', 'datetime_start', 'datetime_complete', \
'duration_s', 'params_lr', 'user_attrs_curve', 'intermediate_values']
        >>> rows[0][-2:]
        ['[{"epoch":1}]', '{"1":0.9}']
    """
    params = _first_seen(k for r in records for k in r["params"])
    attrs = _first_seen(k for r in records for k in r["user_attrs"])
    header = [
        *_FIXED_COLUMNS,
        *(f"values_{name}" for name in objectives),
        *_TIME_COLUMNS,
        *(f"params_{name}" for name in params),
        *(f"user_attrs_{name}" for name in attrs),
        "intermediate_values",
    ]
    rows = []
    for record in records:
        values = record["values"] or {}
        row = [
            *(record[c] for c in _FIXED_COLUMNS),
            *(values.get(name) for name in objectives),
            *(record[c] for c in _TIME_COLUMNS),
            *(record["params"].get(name) for name in params),
            *(record["user_attrs"].get(name) for name in attrs),
            record["intermediate_values"] or None,
        ]
        rows.append([_cell(v) for v in row])
    return header, rows


def _write(document: dict[str, Any], fmt: str, stream: TextIO) -> None:
    if fmt == "json":
        json.dump(document, stream, indent=2, allow_nan=False)
        stream.write("\n")
        return
    header, rows = csv_table(document["trials"], document["objectives"])
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def run(args: argparse.Namespace) -> int:
    """Write the trials."""
    named, study = open_named_study(args)
    objectives = objective_names(study)
    trials = read_trials(study)
    document = {
        "study": study.study_name,
        "storage": named.storage,
        "objectives": objectives,
        "directions": [d.name.lower() for d in study.directions],
        "trials": [trial_record(t, objectives) for t in trials],
    }
    if args.output is None:
        _write(document, args.format, sys.stdout)
        return EXIT_OK
    path = Path(args.output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as stream:
            _write(document, args.format, stream)
    except OSError as error:
        raise (output_error("-o", path, error) or error) from None
    print(f"{len(trials)} trials of study {study.study_name} written to {path}")
    return EXIT_OK
