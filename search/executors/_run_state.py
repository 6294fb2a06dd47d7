"""The bookkeeping every executor keeps for one run, shared by the local and Ray executors.

The arguments both executors take (:func:`check_run_args`), the study's trials counted by state
(:class:`TrialCounts`), the size of the feasible Pareto front (:class:`Front`), why the run
stopped (:meth:`RunState.stop_reason`) and the :class:`~paretune.search.RunSummary` /
:class:`~paretune.search.Progress` it reports (:class:`RunState`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from paretune.search.executors._summary import Progress, RunSummary, StopReason
from paretune.spaces import check_int, check_number

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial
    from paretune.search.study._spec import StudySpec

__all__ = ["Front", "RunState", "TrialCounts", "check_run_args"]


def check_run_args(*, owner: str, n_trials: int, timeout: float | None) -> None:
    """The checks of the arguments every executor takes, in one wording.

    Raises:
        ValueError: ``n_trials`` is not an int >= 0, or ``timeout`` not a number > 0 or None.

    Examples:
        >>> check_run_args(owner="run_ray", n_trials=0, timeout=None)
        >>> check_run_args(owner="run_ray", n_trials=2, timeout=0)
        Traceback (most recent call last):
        ...
        ValueError: The 'timeout' parameter of run_ray must be a number > 0 (seconds) or None. \
Got 0 instead.
    """
    check_int(n_trials, name="n_trials", owner=owner, minimum=0)
    if timeout is not None:
        check_number(
            timeout,
            name="timeout",
            owner=owner,
            minimum=0,
            strict=True,
            what="a number > 0 (seconds) or None",
        )


class TrialCounts(NamedTuple):
    """Trials of a study by state.

    Examples:
        >>> TrialCounts(complete=3, pruned=1, failed=2).done
        4
    """

    complete: int
    pruned: int
    failed: int

    @property
    def done(self) -> int:
        """Finished trials that count towards ``n_trials`` (complete + pruned)."""
        return self.complete + self.pruned

    @classmethod
    def of(cls, trials: Iterable[FrozenTrial]) -> TrialCounts:
        """Count ``trials`` by state."""
        from optuna.trial import TrialState

        states = [trial.state for trial in trials]
        return cls(
            complete=states.count(TrialState.COMPLETE),
            pruned=states.count(TrialState.PRUNED),
            failed=states.count(TrialState.FAIL),
        )


class Front:
    """The feasible COMPLETE trials' objective values, for the size of the Pareto front.

    Args:
        directions: ``"maximize"`` / ``"minimize"`` per objective.

    Examples:
        >>> front = Front(["maximize", "minimize"])
        >>> for point in ([0.9, 10.0], [0.8, 5.0], [0.7, 20.0]):
        ...     front.add(point)
        >>> front.size()
        2
    """

    def __init__(self, directions: Sequence[str]) -> None:
        self._signs = [-1.0 if d == "maximize" else 1.0 for d in directions]
        self._points: list[list[float]] = []

    def clear(self) -> None:
        """Forget every point."""
        self._points = []

    def add(self, values: Sequence[float]) -> None:
        """Add one feasible COMPLETE trial's objective values."""
        self._points.append([s * v for s, v in zip(self._signs, values, strict=True)])

    def add_trials(self, trials: Iterable[FrozenTrial]) -> None:
        """Add the feasible COMPLETE trials among ``trials``."""
        from optuna.trial import TrialState

        for trial in trials:
            if (
                trial.state is TrialState.COMPLETE
                and trial.values is not None
                and all(c <= 0 for c in trial.constraints.values())
            ):
                self.add(trial.values)

    def size(self) -> int:
        """Points on the Pareto front."""
        if not self._points:
            return 0
        from paretune.search._pareto import pareto_front_mask

        return int(pareto_front_mask(self._points).sum())


@dataclass(frozen=True, kw_only=True)
class RunState:
    """One run of a study: what it should reach, when it started, and the reports it makes.

    Args:
        spec: The study.
        n_trials: Finished (COMPLETE + PRUNED) trials the study should hold at the end.
        started: When the run started (``time.time()``; now by default).
    """

    spec: StudySpec
    n_trials: int
    started: float = field(default_factory=time.time)

    def elapsed_s(self) -> float:
        """Seconds since the run started."""
        return time.time() - self.started

    def stop_reason(
        self, *, done: int, epochs_spent: int, failing: bool, timed_out: bool, running: int = 0
    ) -> StopReason | None:
        """Which stop condition holds now (None: none, the run was cut short).

        ``running`` counts the trials other processes are running: when they hold every slot
        left, the run stopped because of them (``SLOTS_HELD``).

        Examples:
            >>> from paretune.search.study import StudySpec
            >>> from paretune.spaces import FloatDistribution, StrategySpace
            >>> spec = StudySpec(name="demo", storage="sqlite:///demo.db",
            ...     objectives=("accuracy",), max_total_epochs=10,
            ...     space=StrategySpace(params={"lr": FloatDistribution(low=0.0, high=1.0)}))
            >>> run = RunState(spec=spec, n_trials=5)
            >>> run.stop_reason(done=2, epochs_spent=12, failing=False, timed_out=True)
            <StopReason.MAX_TOTAL_EPOCHS: 'max_total_epochs'>
            >>> print(run.stop_reason(done=2, epochs_spent=3, failing=False, timed_out=False))
            None
            >>> run.stop_reason(done=2, epochs_spent=3, failing=False, timed_out=False, running=3)
            <StopReason.SLOTS_HELD: 'slots_held'>
        """
        if done >= self.n_trials:
            return StopReason.N_TRIALS
        limit = self.spec.max_total_epochs
        if limit is not None and epochs_spent >= limit:
            return StopReason.MAX_TOTAL_EPOCHS
        if failing:
            return StopReason.FAILURES
        if timed_out:
            return StopReason.TIMEOUT
        if done + running >= self.n_trials:
            return StopReason.SLOTS_HELD
        return None

    def summary(
        self,
        counts: TrialCounts,
        *,
        ran: int,
        recovered: tuple[int, ...],
        front_size: int,
        epochs_spent: int,
        stop_reason: StopReason,
        running: int = 0,
    ) -> RunSummary:
        """The run's :class:`RunSummary`, now (``running``: trials other processes run)."""
        return RunSummary(
            study_name=self.spec.name,
            storage=self.spec.storage,
            n_trials=self.n_trials,
            complete=counts.complete,
            pruned=counts.pruned,
            failed=counts.failed,
            ran=ran,
            recovered=recovered,
            front_size=front_size,
            epochs_spent=epochs_spent,
            elapsed_s=self.elapsed_s(),
            stop_reason=stop_reason,
            running=running,
        )

    def progress(
        self,
        counts: TrialCounts,
        *,
        running: int,
        front_size: int,
        epochs_spent: int,
        running_epochs: int = 0,
    ) -> Progress:
        """The run's :class:`Progress`, now."""
        return Progress(
            n_trials=self.n_trials,
            complete=counts.complete,
            pruned=counts.pruned,
            failed=counts.failed,
            running=running,
            front_size=front_size,
            epochs_spent=epochs_spent,
            elapsed_s=self.elapsed_s(),
            running_epochs=running_epochs,
        )
