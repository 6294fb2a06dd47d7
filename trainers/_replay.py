"""Replay tasks: report recorded learning curves instead of training.

A replay table is one ``.npz`` file (``numpy.savez_compressed``) describing ``n`` recorded
runs of at most ``E`` epochs. It lets anyone compare samplers and pruners on curves they
recorded once, through the ordinary ``paretune run`` (``task = "replay:path/to/table.npz"``).

Table format (version 1); every array is indexed by row (one recorded strategy):

===================  ==========  =========================================================
key                  shape       meaning
===================  ==========  =========================================================
``format_version``   ``()``      ``1``
``strategies``       ``(n,)``    ``Strategy.to_dict()`` of each row, as a JSON string
``epochs``           ``(n,)``    epochs actually run (``<= E``); a completed run ran its
                                 strategy's ``epochs``
``curve_<metric>``   ``(n, E)``  a metric reported after each epoch (NaN after ``epochs``);
                                 ``curve_val_accuracy`` is required (no NaN within a
                                 completed run), ``curve_train_loss``, ``curve_lr``,
                                 ``curve_sparsity``, ``curve_train_seconds`` (cumulative),
                                 ``curve_test_accuracy`` are optional
``test_accuracy``    ``(n,)``    optional: test accuracy after the last epoch
``params``,          ``(n,)``    optional: costs of the trained model (see ``TrainResult``)
``nonzero_params``,
``sparsity``,
``size_bits``,
``bitops``,
``latency_ms``
``status``           ``(n,)``    optional: ``"completed"`` (default) or ``"diverged"``
``reason``           ``(n,)``    optional: why a run ended early
``source_task``      ``()``      optional: the task the runs were recorded on
===================  ==========  =========================================================

Required: ``format_version``, ``strategies``, ``epochs`` and ``curve_val_accuracy``; the rest
is optional, so a table holds only what a benchmark recorded. An optional column the table
lacks (or holds as NaN in every row) is *missing*: the replayed results carry NaN there
(``train_seconds`` too, without ``curve_train_seconds``), :func:`missing_replay_columns` names
them, and a study whose objective needs one is refused when its file is read.

A table may be keyed by columns of its own (say the six operation choices of a NAS-Bench-201
cell): each row's strategy then holds them in ``task_params`` (``Strategy(task_params={"op_0":
"conv3x3", ...})``), every row the same names. The replay task declares each such column as a
categorical task parameter (:class:`TaskParam`; choices: the values the table holds, sorted;
default: the first), so a study searches them under those names; a row is looked up with the
strategy's task parameters, the ones it leaves out at their defaults.

Replaying a row reports, after each recorded epoch, every ``curve_*`` metric; the planned
costs ``size_bits``, ``bitops``, ``params`` and ``nonzero_params`` (known before training,
reported every epoch by the real trainer) come from their ``curve_*`` columns when the table
has them, else from the run's final measured costs. A reporter answering "stop" ends the replay
with status ``stopped``; the result's test accuracy then comes from ``curve_test_accuracy``
if the table has it, else it is NaN (it was never measured at that epoch). A strategy the
table does not hold is an error that names the nearest held ones. The seed only matters
when the table holds a strategy with several seeds: a strategy recorded once replays for any
seed (so a study's own seeding does not get in the way).
:func:`write_replay_table` writes this format from :class:`TrainResult` objects or from
:class:`ReplayRun` records (only the columns a benchmark has).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from ._result import Reporter, TrainResult, TrainStatus
from ._strategy import Strategy
from ._task import Task
from ._task_param import TaskParam
from ._task_params import resolve_params

__all__ = [
    "FORMAT_VERSION",
    "ReplayRun",
    "make_replay_task",
    "missing_replay_columns",
    "write_replay_table",
]

FORMAT_VERSION = 1
_COSTS = ("params", "nonzero_params", "sparsity", "size_bits", "bitops", "latency_ms")
#: Per-run columns a table may leave out (marked missing: NaN in every row).
_OPTIONAL = ("test_accuracy", *_COSTS)
_REQUIRED = ("strategies", "epochs", "curve_val_accuracy")
_PLANNED = ("size_bits", "bitops", "params", "nonzero_params")
_SIGNIFICANT = 10


def _key_value(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{_SIGNIFICANT}g}")
    return value


def _flat(values: Mapping[str, Any]) -> dict[str, Any]:
    """Strategy fields and task parameters side by side (``task_params`` unnested)."""
    flat = {k: v for k, v in values.items() if k != "task_params"}
    flat.update(values.get("task_params") or {})
    return flat


def _strategy_key(values: Mapping[str, Any], *, seed: bool = True) -> str:
    kept = {k: _key_value(v) for k, v in values.items() if seed or k != "seed"}
    if "task_params" in kept:
        kept["task_params"] = {k: _key_value(v) for k, v in kept["task_params"].items()}
    return json.dumps(kept, sort_keys=True)


def _sorted_choices(values: list[Any]) -> tuple[Any, ...]:
    try:
        return tuple(sorted(values))
    except TypeError:  # mixed types: keep the order of first appearance
        return tuple(values)


def _declare_columns(path: Path, held: Sequence[Mapping[str, Any]]) -> tuple[TaskParam, ...]:
    """The table's own key columns as categorical task parameters."""
    names = list((held[0].get("task_params") or {}) if held else {})
    for row, values in enumerate(held):
        if sorted(values.get("task_params") or {}) != sorted(names):
            raise ValueError(
                f"{path}: every row must set the same task parameters; row 0 sets "
                f"{names or 'none'}, row {row} sets {list(values.get('task_params') or {})}."
            )
    params = []
    for name in names:
        seen: list[Any] = []
        for values in held:
            value = values["task_params"][name]
            if not any(type(v) is type(value) and v == value for v in seen):
                seen.append(value)
        choices = _sorted_choices(seen)
        params.append(
            TaskParam(
                name=name,
                type="categorical",
                default=choices[0],
                choices=choices,
                description=f"a key column of the table ({len(choices)} values)",
            )
        )
    return tuple(params)


def _distance(asked: Mapping[str, Any], held: Mapping[str, Any]) -> float:
    total = 0.0
    for name, value in asked.items():
        other = held.get(name)
        if _key_value(value) == _key_value(other):
            continue
        numeric = (int, float)
        if (
            isinstance(value, numeric)
            and isinstance(other, numeric)
            and not isinstance(value, bool)
            and value > 0
            and other > 0
        ):
            total += min(1.0, abs(math.log10(float(value) / float(other))))
        else:
            total += 1.0
    return total


def _differences(asked: Mapping[str, Any], held: Mapping[str, Any]) -> str:
    parts = [
        f"{name}={held.get(name)!r}"
        for name in asked
        if _key_value(asked[name]) != _key_value(held.get(name))
    ]
    return "{" + ", ".join(parts) + "}"


def _count(value: float) -> int:
    """A parameter count from a table column; NaN (missing) stays NaN."""
    return cast(int, value) if math.isnan(value) else int(value)


def _check_row(
    where: str, planned: int, ran: int, val_accuracy: NDArray[Any], *, completed: bool
) -> None:
    """Refuse a row whose curve and strategy disagree, or whose accuracy is NaN."""
    if completed and ran != planned:
        raise ValueError(
            f"{where} holds a {ran}-epoch curve but its strategy trains {planned} epochs "
            f"(epochs = {planned}); a completed run must record every epoch of its "
            "strategy, else no lookup of that strategy finds a whole run."
        )
    if ran > planned:
        raise ValueError(
            f"{where} holds a {ran}-epoch curve but its strategy trains only {planned} epochs."
        )
    nan = [e + 1 for e in range(ran) if math.isnan(float(val_accuracy[e]))]
    if completed and nan:
        raise ValueError(
            f"{where}: val_accuracy is NaN at epoch(s) {', '.join(map(str, nan))} of a "
            "completed run; every epoch a run reports must carry a number (record it as "
            "'diverged' if it broke)."
        )


class _ReplayTable:
    """A loaded table: row lookup by strategy and the replay of one row."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ValueError(f"Replay table {str(path)!r} does not exist (or is not a file).")
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        self.path = path
        version = int(arrays.get("format_version", np.asarray(-1)))
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{path}: format_version must be {FORMAT_VERSION} (got {version}); "
                "see paretune.trainers._replay for the table format."
            )
        missing = [key for key in _REQUIRED if key not in arrays]
        if missing:
            raise ValueError(
                f"{path}: the replay table lacks {', '.join(missing)} "
                f"(it holds {', '.join(sorted(arrays))}); required: {', '.join(_REQUIRED)}."
            )
        self.curves: dict[str, NDArray[np.float64]] = {
            key[len("curve_") :]: np.asarray(value, dtype=np.float64)
            for key, value in arrays.items()
            if key.startswith("curve_")
        }
        n, width = self.curves["val_accuracy"].shape
        for name, curve in self.curves.items():
            if curve.shape != (n, width):
                raise ValueError(
                    f"{path}: curve_{name} has shape {curve.shape}; expected ({n}, {width})."
                )
        self.epochs = np.asarray(arrays["epochs"], dtype=np.int64)
        nan = np.full(n, np.nan)
        self.columns = {
            key: np.asarray(arrays.get(key, nan), dtype=np.float64) for key in _OPTIONAL
        }
        self.status = [str(s) for s in arrays.get("status", np.full(n, "completed"))]
        self.reason = [str(s) for s in arrays.get("reason", np.full(n, ""))]
        self.source_task = str(arrays.get("source_task", ""))
        self.width = width
        self.held = [json.loads(str(s)) for s in arrays["strategies"]]
        for key, column in [("epochs", self.epochs), *self.columns.items()]:
            if column.shape != (n,):
                raise ValueError(f"{path}: {key} has shape {column.shape}; expected ({n},).")
        if len(self.held) != n or not np.all((self.epochs >= 1) & (self.epochs <= width)):
            raise ValueError(
                f"{path}: strategies must hold {n} rows and epochs must lie in 1..{width}."
            )
        for row, values in enumerate(self.held):
            _check_row(
                f"{path}: row {row}",
                Strategy.from_dict(values).epochs,
                int(self.epochs[row]),
                self.curves["val_accuracy"][row],
                completed=self.status[row] == "completed",
            )
        absent = [key for key, column in self.columns.items() if np.all(np.isnan(column))]
        if "train_seconds" not in self.curves:
            absent.append("train_seconds")
        self.missing = tuple(absent)
        self.params = _declare_columns(path, self.held)
        self.rows: dict[str, list[int]] = {}
        for row, values in enumerate(self.held):
            key = _strategy_key(Strategy.from_dict(values).to_dict(), seed=False)
            self.rows.setdefault(key, []).append(row)

    def asked(self, strategy: Strategy) -> dict[str, Any]:
        """``strategy.to_dict()`` with every key column (defaults filled in)."""
        declared = {param.name: param for param in self.params}
        own = resolve_params(declared, strategy.task_params, task=f"replay:{self.path}")
        asked = strategy.to_dict()
        asked.pop("task_params", None)
        if own:
            asked["task_params"] = own
        return asked

    def row_of(self, strategy: Strategy) -> int:
        asked = self.asked(strategy)
        rows = self.rows.get(_strategy_key(asked, seed=False), [])
        for row in rows:
            if self.held[row].get("seed") == asked["seed"]:
                return row
        if len(rows) == 1:
            return rows[0]  # recorded with one seed: it stands for every seed
        if rows:
            seeds = ", ".join(str(self.held[row].get("seed")) for row in rows)
            raise ValueError(
                f"The replay table {str(self.path)!r} holds this strategy with the seeds "
                f"{seeds}, not with seed {asked['seed']}."
            )
        flat, held = _flat(asked), [_flat(values) for values in self.held]
        ranked = sorted(range(len(held)), key=lambda i: _distance(flat, held[i]))
        nearest = "; ".join(_differences(flat, held[i]) for i in ranked[:3])
        raise ValueError(
            f"The replay table {str(self.path)!r} does not hold this strategy. "
            f"Nearest held ones differ in: {nearest}."
        )

    def __call__(self, strategy: Strategy, report: Reporter | None) -> TrainResult:
        row = self.row_of(strategy)
        last = int(self.epochs[row])
        planned = {
            name: float(self.columns[name][row])
            for name in _PLANNED
            if name not in self.missing  # a missing cost is not reported
        }
        curve: list[dict[str, float]] = []
        stopped = False
        for epoch in range(1, last + 1):
            metrics = dict(planned)
            metrics.update(
                (name, float(values[row, epoch - 1])) for name, values in self.curves.items()
            )
            metrics.pop("test_accuracy", None)
            curve.append(metrics)
            if report is not None and report(epoch, metrics):
                stopped = epoch < last or self.status[row] != "completed"
                break
        ran = len(curve)
        if stopped:
            status, reason = TrainStatus.STOPPED, f"stopped by the reporter after epoch {ran}"
        elif self.status[row] == "completed":
            status, reason = TrainStatus.COMPLETED, ""
        else:
            status, reason = TrainStatus(self.status[row]), self.reason[row]
        test_curve = self.curves.get("test_accuracy")
        if ran == last:
            test = float(self.columns["test_accuracy"][row])
        elif test_curve is not None:
            test = float(test_curve[row, ran - 1])
        else:
            test = math.nan
        seconds = self.curves.get("train_seconds")
        return TrainResult(
            status=status,
            reason=reason,
            val_accuracy=float(self.curves["val_accuracy"][row, ran - 1]),
            test_accuracy=test,
            params=_count(self.columns["params"][row]),
            nonzero_params=_count(self.columns["nonzero_params"][row]),
            sparsity=float(self.columns["sparsity"][row]),
            size_bits=planned.get("size_bits", math.nan),
            bitops=planned.get("bitops", math.nan),
            latency_ms=float(self.columns["latency_ms"][row]),
            train_seconds=float(seconds[row, ran - 1]) if seconds is not None else math.nan,
            epochs=ran,
            curve=tuple(curve),
            strategy=strategy,
        )


def make_replay_task(path: str | Path) -> Task:
    """A task that replays the recorded runs in the table at ``path`` (see module docstring).

    Args:
        path: The ``.npz`` replay table.

    Returns:
        A :class:`Task` named ``"replay:<path>"`` whose ``replay`` field reports recorded
        curves; its ``default_epochs`` is the table's longest run.

    Raises:
        ValueError: If the file is missing or not a valid replay table.

    Examples:
        >>> import tempfile, os
        >>> run = TrainResult(status=TrainStatus.COMPLETED, reason="", val_accuracy=0.8,
        ...     test_accuracy=0.79, params=10, nonzero_params=10, sparsity=0.0,
        ...     size_bits=320.0, bitops=0.0, latency_ms=0.1, train_seconds=2.0, epochs=2,
        ...     curve=({"val_accuracy": 0.6}, {"val_accuracy": 0.8}), strategy=Strategy(epochs=2))
        >>> path = os.path.join(tempfile.mkdtemp(), "table.npz")
        >>> write_replay_table(path, [run])
        >>> task = make_replay_task(path)
        >>> task.default_epochs
        2
        >>> task.replay(Strategy(epochs=2), lambda epoch, metrics: True).status.value
        'stopped'
        >>> task.replay(Strategy(lr=0.1, epochs=2), None)
        Traceback (most recent call last):
        ...
        ValueError: The replay table '...' does not hold ... differ in: {lr=0.001}.
    """
    table = _ReplayTable(Path(path))
    source = f" recorded on {table.source_task}" if table.source_task else ""
    return Task(
        name=f"replay:{path}",
        description=f"replays {len(table.held)} runs{source} from {path}",
        default_epochs=int(table.epochs.max()),
        options={"path": str(path)},
        replay=table,
        params=table.params,
    )


@dataclass(frozen=True, kw_only=True)
class ReplayRun:
    """One recorded run with only the columns a benchmark has (for :func:`write_replay_table`).

    Args:
        strategy: The strategy run (its ``epochs`` must equal the curve's length when the
            run completed).
        curve: The metrics after each epoch; ``val_accuracy`` is required in every one.
        test_accuracy: Test accuracy after the last epoch (NaN: not recorded).
        costs: Any of ``params``, ``nonzero_params``, ``sparsity``, ``size_bits``, ``bitops``,
            ``latency_ms`` (the others are missing).
        status: How the run ended (``COMPLETED`` or ``DIVERGED``).
        reason: Why it ended early (empty when completed).

    Examples:
        >>> run = ReplayRun(strategy=Strategy(epochs=2), curve=[{"val_accuracy": 0.5},
        ...     {"val_accuracy": 0.7}], costs={"size_bits": 320.0})
        >>> run.status.value, dict(run.costs)
        ('completed', {'size_bits': 320.0})
    """

    strategy: Strategy
    curve: Sequence[Mapping[str, float]]
    test_accuracy: float = math.nan
    costs: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    status: TrainStatus = TrainStatus.COMPLETED
    reason: str = ""


def _as_run(result: TrainResult | ReplayRun) -> ReplayRun:
    if isinstance(result, ReplayRun):
        return result
    return ReplayRun(
        strategy=result.strategy,
        curve=result.curve,
        test_accuracy=result.test_accuracy,
        costs={name: float(getattr(result, name)) for name in _COSTS},
        status=result.status,
        reason=result.reason,
    )


def _rows(rows: Sequence[int]) -> str:
    shown = ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
    return f"row{'s' if len(rows) > 1 else ''} {shown}"


def missing_replay_columns(task: Task) -> tuple[str, ...]:
    """The measurements a replay task's table lacks (its results carry NaN there).

    Args:
        task: Any task; one that does not replay a table lacks nothing.

    Returns:
        Names among ``test_accuracy``, ``params``, ``nonzero_params``, ``sparsity``,
        ``size_bits``, ``bitops``, ``latency_ms`` and ``train_seconds``.

    Examples:
        >>> import tempfile, os
        >>> run = ReplayRun(strategy=Strategy(epochs=1), curve=[{"val_accuracy": 0.5}],
        ...     costs={"size_bits": 320.0})
        >>> path = os.path.join(tempfile.mkdtemp(), "table.npz")
        >>> write_replay_table(path, [run])
        >>> missing_replay_columns(make_replay_task(path))
        ('test_accuracy', 'params', 'nonzero_params', 'sparsity', 'bitops', 'latency_ms', \
'train_seconds')
    """
    table = task.replay
    return table.missing if isinstance(table, _ReplayTable) else ()


def write_replay_table(
    path: str | Path, results: Sequence[TrainResult | ReplayRun], *, source_task: str = ""
) -> None:
    """Write runs as a replay table (``numpy.savez_compressed``, format of this module).

    Every metric that appears in some run's curve becomes a ``curve_<metric>`` column
    (float32; NaN where a run did not report it), the planned costs the trainer reports
    each epoch included; the result's measured costs are kept once per run.

    Required of each run: its strategy and a curve with ``val_accuracy`` at every epoch (no
    NaN in a completed run), as many epochs as the strategy's ``epochs`` when it completed.
    Optional: ``test_accuracy`` and each cost; a column that is NaN (or, for a
    :class:`ReplayRun`, absent) in every run is left out of the table and marked missing; one
    given for some runs and NaN for others is refused (a run that did not complete may lack
    its test accuracy).

    Args:
        path: Where to write the ``.npz`` file.
        results: The runs (:class:`TrainResult` or :class:`ReplayRun`); each strategy once.
        source_task: The task the runs were recorded on (shown in the replay task).

    A table keyed by its own columns holds them in each strategy's ``task_params`` (see
    the module docstring); every run must then set the same names.

    Raises:
        ValueError: If ``results`` is empty, a run reported no epoch, a strategy repeats, the
            runs set different task parameters, a curve's length and its strategy's epochs
            disagree, a completed run's accuracy is NaN, a cost is unknown, or an optional
            column is given for some runs only.

    Examples:
        >>> import tempfile, os
        >>> short = ReplayRun(strategy=Strategy(epochs=20), curve=[{"val_accuracy": 0.5}] * 15)
        >>> write_replay_table(os.path.join(tempfile.mkdtemp(), "t.npz"), [short])
        Traceback (most recent call last):
        ...
        ValueError: The 'results' parameter of write_replay_table: row 0 holds a 15-epoch \
curve but its strategy trains 20 epochs ...
    """
    if not results:
        raise ValueError("The 'results' parameter of write_replay_table must not be empty.")
    runs = [_as_run(result) for result in results]
    keys = [_strategy_key(run.strategy.to_dict()) for run in runs]
    if len(set(keys)) != len(keys):
        raise ValueError("The 'results' parameter of write_replay_table repeats a strategy.")
    columns = [sorted(run.strategy.task_params) for run in runs]
    if any(other != columns[0] for other in columns):
        raise ValueError(
            "Every run in 'results' must set the same task parameters (the table's key "
            f"columns); the first sets {columns[0] or 'none'}, another "
            f"{next(o for o in columns if o != columns[0]) or 'none'}."
        )
    owner = "The 'results' parameter of write_replay_table"
    for row, run in enumerate(runs):
        if not run.curve:
            raise ValueError("Every run in 'results' must have reported at least one epoch.")
        if any("val_accuracy" not in point for point in run.curve):
            raise ValueError(f"{owner}: row {row} reports no val_accuracy at some epoch.")
        unknown = sorted(set(run.costs) - set(_COSTS))
        if unknown:
            raise ValueError(
                f"{owner}: row {row} has unknown cost(s) {', '.join(map(repr, unknown))}. "
                f"Known: {', '.join(_COSTS)}."
            )
        _check_row(
            f"{owner}: row {row}",
            run.strategy.epochs,
            len(run.curve),
            np.asarray([float(point["val_accuracy"]) for point in run.curve]),
            completed=run.status is TrainStatus.COMPLETED,
        )
    width = max(len(run.curve) for run in runs)
    names = sorted({name for run in runs for point in run.curve for name in point} - {"epoch"})
    curves = {name: np.full((len(runs), width), np.nan, dtype=np.float32) for name in names}
    for row, run in enumerate(runs):
        for epoch, point in enumerate(run.curve):
            for name in names:
                if name in point:
                    curves[name][row, epoch] = point[name]
    arrays: dict[str, NDArray[Any]] = {f"curve_{name}": curve for name, curve in curves.items()}
    for name in _OPTIONAL:
        values = np.asarray(
            [
                run.test_accuracy if name == "test_accuracy" else run.costs.get(name, math.nan)
                for run in runs
            ],
            dtype=np.float64,
        )
        absent = np.isnan(values)
        if absent.all():
            continue  # missing in every run: left out, marked missing when replayed
        counted = [
            row
            for row, run in enumerate(runs)
            if absent[row] and (name != "test_accuracy" or run.status is TrainStatus.COMPLETED)
        ]
        if counted:
            raise ValueError(
                f"{owner}: {name} is missing (NaN) in {_rows(counted)} of {len(runs)} but "
                "given in others; give it for every run or for none (a column missing in "
                "every run is marked missing)."
            )
        arrays[name] = values
    arrays["format_version"] = np.asarray(FORMAT_VERSION)
    arrays["strategies"] = np.asarray(
        [json.dumps(run.strategy.to_dict()) for run in runs], dtype=str
    )
    arrays["epochs"] = np.asarray([len(run.curve) for run in runs], dtype=np.int32)
    arrays["status"] = np.asarray([run.status.value for run in runs], dtype=str)
    arrays["reason"] = np.asarray([run.reason for run in runs], dtype=str)
    arrays["source_task"] = np.asarray(source_task)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
