"""The counters the workers of one local run share: its progress, and when it stops."""

from __future__ import annotations

import multiprocessing
from typing import TYPE_CHECKING

from paretune.search.executors._run_state import TrialCounts

if TYPE_CHECKING:
    import optuna
    from paretune.search.study._quota import SlotCounts

__all__ = ["MAX_CONSECUTIVE_FAILURES", "RunCounters"]

#: Consecutive FAIL trials (over all workers) after which a run stops starting trials.
MAX_CONSECUTIVE_FAILURES = 10


class RunCounters:
    """Counters shared by the workers of one run (process-safe), for its progress and stop.

    Examples:
        >>> from optuna.trial import TrialState
        >>> from paretune.search.study import SlotCounts
        >>> counters = RunCounters(counts=TrialCounts(complete=0, pruned=0, failed=0), epochs=0)
        >>> counters.start(SlotCounts(complete=0, pruned=0, failed=0, running=0, waiting=0))
        >>> # a second claim reads the first trial's COMPLETE before its worker counts it
        >>> counters.start(SlotCounts(complete=1, pruned=0, failed=0, running=1, waiting=0))
        >>> counters.finish(TrialState.COMPLETE, epochs=2)
        >>> counters.counts().complete  # counted once
        1

    The trial slots themselves come from the storage (:class:`TrialSlots`): a trial that ends
    FAIL gives its slot back there, so failures are retried until the study holds the
    finished trials it should.
    """

    def __init__(self, *, counts: TrialCounts, epochs: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._lock = ctx.Lock()
        # the study's counts when the run began plus the trials this run finished, and the
        # largest counts read from the storage at a claim (other processes' trials too); the
        # study holds at least the larger of the two. They are kept apart: a claim can read a
        # trial another worker has told the storage of but not counted yet, and adding the
        # two would count it twice.
        self._complete = ctx.Value("q", counts.complete, lock=False)
        self._pruned = ctx.Value("q", counts.pruned, lock=False)
        self._failed = ctx.Value("q", counts.failed, lock=False)
        self._seen = [ctx.Value("q", 0, lock=False) for _ in range(3)]  # complete, pruned, failed
        self._epochs = ctx.Value("q", epochs, lock=False)
        self._ran = ctx.Value("q", 0, lock=False)
        self._running = ctx.Value("q", 0, lock=False)
        self._streak = ctx.Value("q", 0, lock=False)
        self._live_epochs = ctx.Value("q", 0, lock=False)  # reported by running trials
        self._stopped = ctx.Value("b", 0, lock=False)

    def failing(self) -> bool:
        """Whether the last ``MAX_CONSECUTIVE_FAILURES`` trials all failed."""
        with self._lock:
            return bool(self._streak.value >= MAX_CONSECUTIVE_FAILURES)

    def stop(self) -> None:
        """Hand out no more slots (the run is failing: a callback raised)."""
        with self._lock:
            self._stopped.value = 1

    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        with self._lock:
            return bool(self._stopped.value)

    def start(self, counts: SlotCounts) -> None:
        """A trial of this run starts; ``counts`` are the study's, read when it took its slot
        (other processes' trials included; the counters only grow, so the larger one holds)."""
        with self._lock:
            self._running.value += 1
            for seen, count in zip(
                self._seen, (counts.complete, counts.pruned, counts.failed), strict=True
            ):
                seen.value = max(seen.value, count)

    def release(self, reported: int = 0) -> None:
        with self._lock:
            self._running.value -= 1
            self._live_epochs.value -= reported

    def epoch_reported(self) -> None:
        """A running trial reported one more epoch."""
        with self._lock:
            self._live_epochs.value += 1

    def running_epochs(self) -> int:
        """Epochs the running trials have reported so far."""
        with self._lock:
            return int(self._live_epochs.value)

    def finish(self, state: optuna.trial.TrialState, epochs: int, reported: int = 0) -> None:
        import optuna

        with self._lock:
            self._ran.value += 1
            self._running.value -= 1
            self._live_epochs.value -= reported
            self._epochs.value += epochs
            if state is optuna.trial.TrialState.COMPLETE:
                self._complete.value += 1
                self._streak.value = 0
            elif state is optuna.trial.TrialState.PRUNED:
                self._pruned.value += 1
                self._streak.value = 0
            else:
                self._failed.value += 1
                self._streak.value += 1

    def counts(self) -> TrialCounts:
        """The study's trials by state (old ones and those this run finished)."""
        with self._lock:
            complete, pruned, failed = (seen.value for seen in self._seen)
            return TrialCounts(
                complete=int(max(self._complete.value, complete)),
                pruned=int(max(self._pruned.value, pruned)),
                failed=int(max(self._failed.value, failed)),
            )

    def ran(self) -> int:
        """Trials this run finished (any state)."""
        with self._lock:
            return int(self._ran.value)

    def running(self) -> int:
        with self._lock:
            return int(self._running.value)

    def epochs(self) -> int:
        with self._lock:
            return int(self._epochs.value)
