"""Choosing a strategy in a study and exporting it: what ``paretune select`` and
``StudyResult.select`` / ``StudyResult.export`` share.

The rules and the messages are one; only how a limit is written differs: ``--max
size_bits=50kbit`` on the command line, ``max={"size_bits": "50kbit"}`` in Python
(:class:`Syntax`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from paretune.search import (
    COSTS,
    Candidate,
    Quality,
    Selection,
    candidates_from_trials,
    is_metric,
    parse_limit,
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
    "candidate_of",
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
    candidates = candidates_from_trials(study.get_trials(deepcopy=False), quality=quality)
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
    trials = study.get_trials(deepcopy=False)
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


@dataclass(frozen=True, kw_only=True)
class Export:
    """What exporting a strategy wrote and measured.

    Attributes:
        directory: The folder holding the model (``model.pt``, ``weights.pt``,
            ``strategy.json``, ``metrics.json``, ``MODEL_CARD.md``).
        trial: The trial whose strategy was retrained.
        task: The task name.
        test_metrics: The task's metrics on the test split.
        test_accuracy: Test accuracy of the retrained model (NaN for a regression task).
        reloaded_test_accuracy: Test accuracy of the model loaded back from ``directory``.
        sparsity: Fraction of pruned weights.
        size_bits: Model size in bits.
        bitops: Bit operations per sample.
        latency_ms: Measured latency per sample.
    """

    directory: Path
    trial: int
    task: str
    test_metrics: Mapping[str, float] = field(default_factory=dict)
    test_accuracy: float
    reloaded_test_accuracy: float
    sparsity: float
    size_bits: float
    bitops: float
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        """The ``export`` document of ``paretune select --export DIR --json``."""
        return {
            "directory": str(self.directory),
            "task": self.task,
            "test_metrics": dict(self.test_metrics),
            "test_accuracy": self.test_accuracy,
            "reloaded_test_accuracy": self.reloaded_test_accuracy,
            "sparsity": self.sparsity,
            "size_bits": self.size_bits,
            "bitops": self.bitops,
            "latency_ms": self.latency_ms,
        }


def export_candidate(
    study_attrs: Mapping[str, Any],
    chosen: Candidate,
    directory: str | Path,
    *,
    device: str = "auto",
    force: bool = False,
) -> Export:
    """Retrain ``chosen``'s strategy on train + validation and export the model.

    Args:
        study_attrs: The study's user attributes (its ``metadata`` names the task).
        chosen: The strategy to retrain.
        directory: Where to write the model.
        device: Where to retrain (``"auto"``, ``"cpu"``, ``"cuda"``).
        force: Write into a ``directory`` that already holds files.

    Raises:
        MissingTaskError: The study does not record its task.
        FileExistsError: ``directory`` holds files and ``force`` is False.
        RuntimeError: The retraining did not complete.
    """
    metadata = study_attrs.get("metadata") or {}
    task_name = metadata.get("task")
    if not task_name:
        raise MissingTaskError("the study does not record its task (metadata.task)")
    folder = Path(directory).expanduser()
    if not force and (folder.is_file() or (folder.is_dir() and any(folder.iterdir()))):
        raise FileExistsError(
            f"{folder} already exists and is not empty: export into a new folder, or pass "
            "force=True to write over it"
        )
    from paretune import trainers  # imports torch: only when exporting

    task = trainers.get_task(
        str(task_name), data_dir=metadata.get("data_dir"), options=metadata.get("task_options")
    )
    strategy = trainers.strategy_from_params(chosen.strategy, task=task)
    result = trainers.train(task, strategy, device=device, fit_on_validation=True, keep_model=True)
    if result.status is not trainers.TrainStatus.COMPLETED:
        raise RuntimeError(
            f"retraining trial {chosen.number} ended {result.status.value}: {result.reason}"
        )
    path = trainers.export_model(folder, result=result, task=task)
    reloaded = trainers.load_exported(path)
    if task.regression:  # no accuracy: the task's metrics on the test split instead
        reloaded_accuracy = math.nan
    else:
        reloaded_accuracy = trainers.evaluate(reloaded.model, task, split="test")
    return Export(
        directory=Path(path),
        trial=chosen.number,
        task=str(task_name),
        test_metrics={k: v for k, v in result.metrics.items() if k.startswith("test_")},
        test_accuracy=result.test_accuracy,
        reloaded_test_accuracy=reloaded_accuracy,
        sparsity=result.sparsity,
        size_bits=result.size_bits,
        bitops=result.bitops,
        latency_ms=result.latency_ms,
    )
