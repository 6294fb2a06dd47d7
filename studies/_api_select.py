"""Choosing a strategy in a study and exporting it: what ``paretune select`` and
``StudyResult.select`` / ``StudyResult.export`` share.

The rules and the messages are one; only how a limit is written differs: ``--max
size_bits=50kbit`` on the command line, ``max={"size_bits": "50kbit"}`` in Python
(:class:`Syntax`).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from paretune.search import (
    COSTS,
    Candidate,
    Quality,
    Selection,
    candidates_from_trials,
    is_metric,
    parse_limit,
    read_trials,
    select_strategy,
    study_quality,
)
from paretune.spaces import is_number

__all__ = [
    "API",
    "CLI",
    "Bound",
    "Export",
    "MissingTaskError",
    "Syntax",
    "UntrustedTaskError",
    "candidate_of",
    "check_task_trust",
    "choose",
    "export_candidate",
]


@dataclass(frozen=True)
class Syntax:
    """How limits are written where they came from, to word the messages.

    Attributes:
        max: The name of the upper limits (``"--max"``, ``"max"``).
        min: The name of the lower limits on the metric (``"--min"``, ``"min"``).
        min_accuracy: The name of the accuracy floor (``"--min-accuracy"``, ``"min_accuracy"``).
        python: Whether limits are Python mappings (else ``NAME=VALUE`` flags).

    Examples:
        >>> CLI.write("max", "val_rmse"), API.write("max", "val_rmse")
        ('--max val_rmse=VALUE', "max={'val_rmse': VALUE}")
    """

    max: str
    min: str
    min_accuracy: str
    python: bool = False

    def pair(self, name: str, value: str = "VALUE") -> str:
        """One limit as written (``val_rmse=VALUE`` or ``{'val_rmse': VALUE}``)."""
        return f"{{{name!r}: {value}}}" if self.python else f"{name}={value}"

    def write(self, which: str, name: str, value: str = "VALUE") -> str:
        """A whole limit, with its flag or argument (``which`` is ``"max"`` or ``"min"``)."""
        flag = self.max if which == "max" else self.min
        return f"{flag}={self.pair(name, value)}" if self.python else f"{flag} {name}={value}"


CLI = Syntax("--max", "--min", "--min-accuracy")
API = Syntax("max", "min", "min_accuracy", python=True)


class Bound(NamedTuple):
    """One limit as given: ``--max size_bits=50kbit`` or ``max={"size_bits": "50kbit"}``.

    Attributes:
        label: How the user wrote it, to start its messages (``"--max size_bits=50kbit"``,
            ``"max['size_bits']"``).
        name: The cost or metric it limits.
        value: The value as given (a string with units, a number); ``None`` when missing.
        text: The limit as ``NAME=VALUE`` text.
    """

    label: str
    name: str
    value: Any
    text: str

    @classmethod
    def from_text(cls, flag: str, text: str) -> Bound:
        """A ``NAME=VALUE`` flag value (``Bound.from_text("--max", "size_bits=50kbit")``)."""
        name, sep, value = text.partition("=")
        return cls(f"{flag} {text}", name.strip(), value if sep else None, text)

    @classmethod
    def from_items(cls, argument: str, limits: Mapping[str, Any] | None) -> list[Bound]:
        """The entries of a Python mapping (``max={"size_bits": "50kbit"}``)."""
        return [
            cls(f"{argument}[{name!r}]", str(name), value, f"{name}={value}")
            for name, value in (limits or {}).items()
        ]


def _metric_bound(which: str, bound: Bound, quality: Quality, syntax: Syntax) -> float | None:
    """The number of a bound on the study's metric, or None when it names a cost."""
    name = bound.name
    if name not in ("accuracy", "val_accuracy") and not is_metric(name):
        if which == "min":
            raise ValueError(
                f"{bound.label}: {syntax.min} bounds the study's metric objective "
                f"({quality.key}), written {syntax.pair(quality.key)}"
            )
        return None
    if name not in (quality.key, quality.objective):
        raise ValueError(
            f"{bound.label}: the study's metric objective is {quality.key}; "
            f"limits apply to it and to costs ({', '.join(COSTS)})"
        )
    number = math.nan
    if isinstance(bound.value, str):
        with contextlib.suppress(ValueError):
            number = float(bound.value)
    elif is_number(bound.value):
        number = float(bound.value)
    if not math.isfinite(number):
        raise ValueError(f"{bound.label}: write {syntax.pair(quality.key, 'NUMBER')}")
    return number


def _limits(
    bounds: Iterable[Bound], quality: Quality, syntax: Syntax
) -> tuple[dict[str, float], float | None]:
    limits: dict[str, float] = {}
    ceiling: float | None = None
    for bound in bounds:
        number = _metric_bound("max", bound, quality, syntax)
        if number is not None:
            ceiling = number if ceiling is None else min(ceiling, number)
            continue
        try:
            cost, value = parse_limit(bound.text)
        except ValueError as error:
            raise ValueError(f"{bound.label}: {error}") from None
        limits[cost] = min(value, limits.get(cost, math.inf))
    return limits, ceiling


def _floor(
    min_accuracy: float | None, bounds: Iterable[Bound], quality: Quality, syntax: Syntax
) -> float | None:
    floors = [_metric_bound("min", bound, quality, syntax) for bound in bounds]
    if min_accuracy is not None:
        if quality.key != "val_accuracy":
            raise ValueError(
                f"{syntax.min_accuracy}: the study's metric objective is {quality.key}; "
                f"use {syntax.write('min', quality.key)} or {syntax.write('max', quality.key)}"
            )
        floors.append(min_accuracy)
    known = [f for f in floors if f is not None]
    return max(known) if known else None


def choose(
    study: Any,
    *,
    min_accuracy: float | None = None,
    maximums: Sequence[Bound] = (),
    minimums: Sequence[Bound] = (),
    knee: bool = False,
    syntax: Syntax = API,
) -> Selection:
    """Choose one strategy among the study's complete trials (``paretune select``'s rule).

    The study's own constraints always apply, merged with the cost limits of ``maximums``.

    Args:
        study: The ``optuna.Study``.
        min_accuracy: Lowest validation accuracy (an accuracy study only).
        maximums: Upper limits on costs or on the study's metric objective.
        minimums: Lower limits on the study's metric objective.
        knee: Choose the knee of the feasible front.
        syntax: How the limits were written (for messages).

    Returns:
        The selection (``chosen`` is ``None`` when nothing meets the limits).

    Raises:
        ValueError: A limit names an unknown cost, another metric, or an unreadable value.
    """
    quality = study_quality(study)
    limits, ceiling = _limits(maximums, quality, syntax)
    floor = _floor(min_accuracy, minimums, quality, syntax)
    objectives = list(study.user_attrs.get("objectives") or ["accuracy"])
    merged = {str(k): float(v) for k, v in (study.user_attrs.get("constraints") or {}).items()}
    for cost, value in limits.items():
        merged[cost] = min(value, merged.get(cost, math.inf))
    candidates = candidates_from_trials(read_trials(study), quality=quality)
    return select_strategy(
        candidates,
        objectives=objectives,
        min_accuracy=floor,
        limits=merged,
        knee=knee,
        quality=quality,
        max_quality=ceiling,
    )


def candidate_of(study: Any, chosen: Any) -> Candidate:
    """The candidate a selection, a trial or a trial number names in ``study``.

    Raises:
        ValueError: A selection that chose nothing, or a trial that is not a complete trial
            with a recorded quality.
    """
    if isinstance(chosen, Selection):
        if chosen.chosen is None:
            raise ValueError(f"The selection chose no strategy: {chosen.reason}")
        return chosen.chosen
    if isinstance(chosen, Candidate):
        return chosen
    number = chosen if isinstance(chosen, int) and not isinstance(chosen, bool) else None
    number = getattr(chosen, "number", number)
    if number is None:
        raise TypeError(
            "Export a Selection, a FrozenTrial, a Candidate or a trial number. "
            f"Got {type(chosen).__name__} instead."
        )
    trials = read_trials(study)
    if not 0 <= number < len(trials):
        raise ValueError(f"The study {study.study_name!r} has no trial {number}.")
    found = candidates_from_trials([trials[number]], quality=study_quality(study))
    if not found:
        raise ValueError(
            f"Trial {number} cannot be exported: it is {trials[number].state.name}, not a "
            "COMPLETE trial with a recorded quality."
        )
    return found[0]


class MissingTaskError(ValueError):
    """The study does not record the task its trials trained (``metadata.task``)."""


class UntrustedTaskError(ValueError):
    """The study names a user task (code) that nobody vouched for: exporting would run it."""


def check_task_trust(task: str, *, trusted: str | None = None, trust_task: bool = False) -> None:
    """Refuse to import a user task named only by a study's storage.

    A built-in task (``digits-mlp``) is always fine. A user task (``package.module:factory``)
    is code: it is imported only when the study file that names it was given (``trusted``,
    the task that file names: the user chose to run it) or when ``trust_task`` is true.

    Raises:
        UntrustedTaskError: A user task, neither trusted nor named by the study file given.

    Examples:
        >>> check_task_trust("digits-mlp")
        >>> check_task_trust("mytasks:make_task", trusted="mytasks:make_task")
        >>> check_task_trust("os:system")
        Traceback (most recent call last):
        ...
        paretune.studies._api_select.UntrustedTaskError: the study's storage names the task \
'os:system', which is code (a user task): exporting imports and runs it. Give the study file \
that names it, or pass --trust-task (trust_task=True) if you trust this storage
    """
    if ":" not in task or task.startswith("replay:") or trust_task or trusted == task:
        return
    said = f"; the study file given names {trusted!r} instead" if trusted is not None else ""
    raise UntrustedTaskError(
        f"the study's storage names the task {task!r}, which is code (a user task): "
        "exporting imports and runs it. Give the study file that names it, or pass "
        f"--trust-task (trust_task=True) if you trust this storage{said}"
    )


@dataclass(frozen=True, kw_only=True)
class Export:
    """What exporting a strategy wrote and measured (all of it is in ``metrics.json``).

    Attributes:
        directory: The folder holding the model (``weights.pt``, ``export.json``,
            ``model.onnx``, ``strategy.json``, ``metrics.json``, ``MODEL_CARD.md``).
        trial: The trial whose strategy was retrained.
        task: The task name.
        val_accuracy: The study's validation accuracy of that trial (NaN for a regression
            task); the retrained model saw the validation split, so it has none of its own.
        test_metrics: The exported model's metrics on the test split, measured once.
        test_accuracy: The exported model's test accuracy (NaN for a regression task).
        sparsity: Fraction of pruned weights.
        size_bits: Model size in bits.
        bitops: Bit operations per sample.
        latency_ms: Batch-1 latency on the training device.
        latency_cpu_onnxruntime_ms: Batch-1 latency in ONNX Runtime on the CPU, one thread
            (NaN when ONNX was skipped).
        latency_cpu_torch_ms: Batch-1 latency of the exported torch model on the CPU, one
            thread.
        train_seconds: Seconds the retraining took.
        threads: Torch CPU threads it trained with.
        onnx_skipped: Why there is no ``model.onnx`` (empty when there is one).
    """

    directory: Path
    trial: int
    task: str
    val_accuracy: float = math.nan
    test_metrics: Mapping[str, float] = field(default_factory=dict)
    test_accuracy: float
    sparsity: float
    size_bits: float
    bitops: float
    latency_ms: float
    latency_cpu_onnxruntime_ms: float = math.nan
    latency_cpu_torch_ms: float = math.nan
    train_seconds: float = math.nan
    threads: int = 1
    onnx_skipped: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The ``export`` document of ``paretune select --export DIR --json``."""
        return {
            "directory": str(self.directory),
            "trial": self.trial,
            "task": self.task,
            "val_accuracy": self.val_accuracy,
            "test_metrics": dict(self.test_metrics),
            "test_accuracy": self.test_accuracy,
            "sparsity": self.sparsity,
            "size_bits": self.size_bits,
            "bitops": self.bitops,
            "latency_ms": self.latency_ms,
            "latency_cpu_onnxruntime_ms": self.latency_cpu_onnxruntime_ms,
            "latency_cpu_torch_ms": self.latency_cpu_torch_ms,
            "train_seconds": self.train_seconds,
            "threads": self.threads,
            "onnx": None if self.onnx_skipped else str(self.directory / "model.onnx"),
            "onnx_skipped": self.onnx_skipped or None,
        }


class _RetrainProgress:
    """The retraining's progress on ``stream``: a tqdm bar per epoch on a terminal, one plain
    line per epoch elsewhere (a log file, a pipe)."""

    def __init__(self, *, trial: int, epochs: int, stream: TextIO) -> None:
        self.trial, self.epochs, self.stream = trial, epochs, stream
        self.start = time.monotonic()
        self.bar: Any = None
        if getattr(stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(
                total=epochs,
                desc=f"retraining trial {trial}",
                unit="epoch",
                file=stream,
                dynamic_ncols=True,
                leave=True,
                mininterval=0,
            )

    def report(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        loss = metrics.get("train_loss", math.nan)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"loss={loss:.4g}")
        else:
            seconds = time.monotonic() - self.start
            print(
                f"retraining trial {self.trial}: epoch {epoch}/{self.epochs}, "
                f"loss {loss:.4g}, {seconds:.1f} s",
                file=self.stream,
                flush=True,
            )
        return False

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _validation(study: Any, chosen: Candidate) -> dict[str, float]:
    """The study's validation figures of the chosen trial (``val_accuracy``, ``val_rmse`` …)."""
    trials = read_trials(study)
    attrs = trials[chosen.number].user_attrs if 0 <= chosen.number < len(trials) else {}
    found = {
        str(k): float(v)
        for k, v in attrs.items()
        if str(k).startswith("val_") and is_number(v) and math.isfinite(float(v))
    }
    key = study_quality(study).key
    if key not in found and math.isfinite(chosen.accuracy):
        found[key] = chosen.accuracy
    return found


def export_candidate(
    study: Any,
    chosen: Candidate,
    directory: str | Path,
    *,
    device: str = "auto",
    force: bool = False,
    trusted: str | None = None,
    trust_task: bool = False,
    threads: int = 1,
    progress: TextIO | None = None,
) -> Export:
    """Retrain ``chosen``'s strategy on train + validation as a trial trains, and export it.

    The retraining runs like a trial: torch uses ``threads`` CPU threads (1, as trials do),
    and with ``progress`` each epoch is shown there.

    Args:
        study: The ``optuna.Study`` (its ``metadata`` names the task).
        chosen: The strategy to retrain.
        directory: Where to write the model.
        device: Where to retrain (``"auto"``, ``"cpu"``, ``"cuda"``).
        force: Write into a ``directory`` that already holds files.
        trusted: The task named by the study file the user gave (a user task is imported
            only when it is this one, or with ``trust_task``).
        trust_task: Import the study's user task even without its study file.
        threads: Torch CPU threads for the retraining.
        progress: Where to show the retraining's progress (None: nowhere).

    Raises:
        MissingTaskError: The study does not record its task.
        UntrustedTaskError: The study's task is a user task nobody vouched for.
        FileExistsError: ``directory`` holds files and ``force`` is False.
        ValueError: ``directory`` or a file name the export writes there is a symbolic link.
        RuntimeError: The retraining did not complete.
    """
    metadata = study.user_attrs.get("metadata") or {}
    task_name = metadata.get("task")
    if not task_name:
        raise MissingTaskError("the study does not record its task (metadata.task)")
    check_task_trust(str(task_name), trusted=trusted, trust_task=trust_task)
    from paretune import trainers  # imports torch: only when exporting

    folder = trainers.check_export_dir(directory, names=trainers.EXPORT_FILES, force=force)
    task = trainers.get_task(
        str(task_name), data_dir=metadata.get("data_dir"), options=metadata.get("task_options")
    )
    strategy = trainers.strategy_from_params(chosen.strategy, task=task)
    with trainers.torch_threads(threads):
        shown = (
            _RetrainProgress(trial=chosen.number, epochs=strategy.epochs, stream=progress)
            if progress is not None
            else None
        )
        try:
            result = trainers.train(
                task,
                strategy,
                device=device,
                fit_on_validation=True,
                keep_model=True,
                report=shown.report if shown is not None else None,
            )
        finally:
            if shown is not None:
                shown.close()
        if result.status is not trainers.TrainStatus.COMPLETED:
            raise RuntimeError(
                f"retraining trial {chosen.number} ended {result.status.value}: {result.reason}"
            )
        provenance = trainers.Provenance(
            study=study.study_name,
            trial=chosen.number,
            validation=_validation(study, chosen),
            fit_on_validation=True,
            threads=threads,
            data_dir=metadata.get("data_dir"),
        )
        path = trainers.export_model(
            folder, result=result, task=task, provenance=provenance, force=force
        )
    measured = json.loads((Path(path) / "metrics.json").read_text(encoding="utf-8"))

    def number(value: Any) -> float:
        return float(value) if is_number(value) else math.nan

    def median(key: str) -> float:
        entry = measured.get(key) or {}
        return number(entry.get("median_ms"))

    return Export(
        directory=Path(path),
        trial=chosen.number,
        task=str(task_name),
        val_accuracy=number(measured.get("val_accuracy")),
        test_metrics={k: number(v) for k, v in (measured.get("test_metrics") or {}).items()},
        test_accuracy=number(measured.get("test_accuracy")),
        sparsity=result.sparsity,
        size_bits=result.size_bits,
        bitops=result.bitops,
        latency_ms=result.latency_ms,
        latency_cpu_onnxruntime_ms=median("latency_cpu_onnxruntime"),
        latency_cpu_torch_ms=median("latency_cpu_torch"),
        train_seconds=result.train_seconds,
        threads=threads,
        onnx_skipped=str((measured.get("onnx") or {}).get("skipped") or ""),
    )
