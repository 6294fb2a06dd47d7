"""What an objective is, and what it returns: the typed seam between a trainer and the study.

An executor calls an :class:`Objective` as ``objective(params, report, checkpoint_dir)`` and
gets a :class:`TrialOutcome` back: a state (:class:`OutcomeState`), the measurements (validation
accuracy, costs, epochs ...), the learning curve and the strategy trained. The recorder
(:func:`~paretune.search.record_result`) turns it into a finished Optuna trial.

An objective may also return the outcome's plain-dict form (``TrainResult.to_dict()``'s
shape: ``{"status": "completed", "reason": "", "val_accuracy": ..., "curve": [...]}``);
:meth:`TrialOutcome.from_dict` and :meth:`TrialOutcome.to_dict` are the one pair of
functions converting between the two (the Ray executor sends the dict form across processes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from paretune.search._objectives import MEASUREMENTS, is_measurement

__all__ = [
    "Objective",
    "ObjectiveFactory",
    "OutcomeState",
    "Reporter",
    "TrialOutcome",
    "to_outcome",
]

#: ``report(epoch, metrics) -> True`` asks the trainer to stop after this epoch.
Reporter = Callable[[int, Mapping[str, float]], bool]


class OutcomeState(Enum):
    """How a trial ended, as the study records it.

    Examples:
        >>> OutcomeState("pruned") is OutcomeState.PRUNED
        True
    """

    #: Trained to the end: the objective values are recorded.
    COMPLETE = "complete"
    #: Stopped early because the reporter (the pruner) asked.
    PRUNED = "pruned"
    #: Failed (diverged, or gave unusable values): recorded with a reason, not counted.
    FAIL = "fail"


# The dict form's ``status`` strings (``trainers.TrainStatus`` values) and the states they mean.
_STATUS_STATE: dict[str, OutcomeState] = {
    "completed": OutcomeState.COMPLETE,
    "stopped": OutcomeState.PRUNED,
    "diverged": OutcomeState.FAIL,
}
_STATE_STATUS: dict[OutcomeState, str] = {state: s for s, state in _STATUS_STATE.items()}


@dataclass(frozen=True, kw_only=True)
class TrialOutcome:
    """The outcome of one trial, as an objective returns it.

    Attributes:
        state: Complete, pruned or failed.
        measurements: Measurement name (one of ``MEASUREMENTS``, or a task metric
            ``val_<name>`` / ``test_<name>``) -> number.
        curve: The metrics reported after each epoch, in order (None: not given).
        strategy: The strategy trained, as plain values (None: not given).
        reason: Why it ended early or failed (empty when complete).

    Raises:
        ValueError: An unknown state or measurement name.

    Examples:
        >>> outcome = TrialOutcome(state=OutcomeState.COMPLETE,
        ...     measurements={"val_accuracy": 0.9, "epochs": 2},
        ...     curve=({"val_accuracy": 0.5}, {"val_accuracy": 0.9}))
        >>> outcome.epochs, outcome.to_dict()["status"]
        (2, 'completed')
        >>> TrialOutcome.from_dict(outcome.to_dict()) == outcome
        True
        >>> TrialOutcome(state=OutcomeState.FAIL, measurements={"accuracy": 0.9})
        Traceback (most recent call last):
        ...
        ValueError: Unknown measurement 'accuracy'. Known: val_accuracy, test_accuracy, ...
    """

    state: OutcomeState
    measurements: Mapping[str, float] = field(default_factory=dict)
    curve: tuple[Mapping[str, float], ...] | None = None
    strategy: Mapping[str, Any] | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.state, OutcomeState):
            raise ValueError(
                f"The 'state' parameter of TrialOutcome must be an OutcomeState. "
                f"Got {self.state!r} instead."
            )
        for name in self.measurements:
            if not is_measurement(name):
                raise ValueError(
                    f"Unknown measurement {name!r}. Known: {', '.join(MEASUREMENTS)}, "
                    "val_<metric>, test_<metric>."
                )

    @property
    def epochs(self) -> int | None:
        """Epochs run, when the outcome says (an int), else None."""
        epochs = self.measurements.get("epochs")
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None

    def to_dict(self) -> dict[str, Any]:
        """The plain-dict form (``TrainResult.to_dict()``'s shape; JSON-able for plain values)."""
        out: dict[str, Any] = {"status": _STATE_STATUS[self.state], "reason": self.reason}
        out.update(self.measurements)
        if self.curve is not None:
            out["curve"] = [dict(point) for point in self.curve]
        if self.strategy is not None:
            out["strategy"] = dict(self.strategy)
        return out

    @classmethod
    def from_dict(cls, result: Mapping[str, Any]) -> TrialOutcome:
        """Read the plain-dict form. Keys other than the known ones are ignored.

        A ``status`` other than ``completed``, ``stopped`` or ``diverged`` is a FAIL outcome
        whose reason says so. Measurement values are taken as given (the recorder checks the
        ones it needs).

        Examples:
            >>> TrialOutcome.from_dict({"status": "stopped", "epochs": 2}).state
            <OutcomeState.PRUNED: 'pruned'>
            >>> TrialOutcome.from_dict({"status": "done"}).reason
            "the objective returned status 'done'; expected one of completed, stopped, diverged"
        """
        status = result.get("status")
        reason = result.get("reason") or ""
        state = _STATUS_STATE.get(status) if isinstance(status, str) else None
        if state is None:
            state = OutcomeState.FAIL
            reason = (
                f"the objective returned status {status!r}; "
                f"expected one of {', '.join(_STATUS_STATE)}"
            )
        curve = result.get("curve")
        strategy = result.get("strategy")
        return cls(
            state=state,
            measurements={key: value for key, value in result.items() if is_measurement(key)},
            curve=None if curve is None else tuple(dict(point) for point in curve),
            strategy=None if strategy is None else dict(strategy),
            reason=str(reason),
        )


def to_outcome(result: TrialOutcome | Mapping[str, Any]) -> TrialOutcome:
    """What an objective returned, as a :class:`TrialOutcome` (the dict form is read).

    Raises:
        TypeError: Neither a ``TrialOutcome`` nor a mapping.

    Examples:
        >>> to_outcome({"status": "completed", "val_accuracy": 0.9}).measurements
        {'val_accuracy': 0.9}
    """
    if isinstance(result, TrialOutcome):
        return result
    if isinstance(result, Mapping):
        return TrialOutcome.from_dict(result)
    raise TypeError(
        "An objective must return a TrialOutcome or its dict form (a mapping with 'status'). "
        f"Got {result!r} instead."
    )


class Objective(Protocol):
    """What an executor calls to train one trial: ``objective(params, report, checkpoint_dir)``.

    ``params`` are the sampled values, ``report(epoch, metrics)`` is called after every epoch
    (True: stop now, the trial is pruned), ``checkpoint_dir`` is where a retried or resumed
    trial keeps its per-epoch state (None when the executor does not resume trials). The Ray
    executor also passes ``gpu_memory_fraction=`` for a fractional GPU, to an objective that
    takes that keyword. It returns a :class:`TrialOutcome` (or its dict form).
    """

    def __call__(
        self,
        params: Mapping[str, Any],
        report: Reporter,
        checkpoint_dir: str | None = None,
    ) -> TrialOutcome | Mapping[str, Any]:
        """Train the strategy ``params`` describe and say how it ended."""
        ...


#: Builds an :class:`Objective` (once per worker process; picklable for processes and Ray).
ObjectiveFactory = Callable[[], Objective]
