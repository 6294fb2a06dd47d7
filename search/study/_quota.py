"""The trial-slot quota: ``n_trials`` finished trials, however many processes and hosts run.

A study has ``n_trials`` slots. A trial holds one while it is RUNNING and keeps it when it
ends COMPLETE or PRUNED (the finished trials that count); a FAIL trial gives its slot back, so
a failure is tried again. Before starting a trial, a process takes the study's lock
(:class:`~paretune.search.study._lock.StudyLock`, shared by every process and host on the
storage) and, holding it,

1. counts COMPLETE + PRUNED + RUNNING trials;
2. when that leaves no slot free, recovers the trials left RUNNING by dead processes of this
   host (FAIL ``interrupted``, parameters queued again: the slot of a killed run is not lost)
   and counts again;
3. creates the trial (``ask``, which takes a queued trial first) only when that count is
   below ``n_trials``, and records which process runs it.

No other step creates a RUNNING trial, and the count never grows outside the lock (a running
trial only finishes or fails), so the study can never hold more than ``n_trials`` finished
trials, and a run ends with exactly that many unless it stops early (timeout, failures).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from paretune.search._optuna_compat import storage_of
from paretune.search.study._lock import StudyLock
from paretune.search.study._open import mark_worker, recover_interrupted, session_seed

if TYPE_CHECKING:
    import optuna
    from paretune.search.study._spec import StudySpec

__all__ = ["SlotCounts", "TrialSlots"]

T = TypeVar("T")


class SlotCounts(NamedTuple):
    """A study's trials by state, counted under the study's lock.

    Examples:
        >>> counts = SlotCounts(complete=3, pruned=1, failed=2, running=2, waiting=1)
        >>> counts.done, counts.free(6), counts.started
        (4, 0, 8)
    """

    complete: int
    pruned: int
    failed: int
    running: int
    waiting: int

    @property
    def done(self) -> int:
        """Finished trials that count towards ``n_trials`` (complete + pruned)."""
        return self.complete + self.pruned

    @property
    def started(self) -> int:
        """Trials ever started (every trial but the queued ones); one more per claim."""
        return self.complete + self.pruned + self.failed + self.running

    def free(self, n_trials: int) -> int:
        """Slots no trial holds: ``n_trials`` minus the finished and the running trials."""
        return max(0, n_trials - self.done - self.running)

    @classmethod
    def of_states(cls, counted: Mapping[optuna.trial.TrialState, int]) -> SlotCounts:
        """From trials counted by state."""
        from optuna.trial import TrialState

        return cls(
            complete=counted.get(TrialState.COMPLETE, 0),
            pruned=counted.get(TrialState.PRUNED, 0),
            failed=counted.get(TrialState.FAIL, 0),
            running=counted.get(TrialState.RUNNING, 0),
            waiting=counted.get(TrialState.WAITING, 0),
        )

    @classmethod
    def of(cls, trials: list[optuna.trial.FrozenTrial]) -> SlotCounts:
        """Count ``trials`` by state."""
        from optuna.trial import TrialState

        states = [t.state for t in trials]
        return cls(
            complete=states.count(TrialState.COMPLETE),
            pruned=states.count(TrialState.PRUNED),
            failed=states.count(TrialState.FAIL),
            running=states.count(TrialState.RUNNING),
            waiting=states.count(TrialState.WAITING),
        )


class TrialSlots:
    """The ``n_trials`` slots of one study, claimed by every process under the study's lock.

    Args:
        spec: The study (its storage URL names the lock; its seed reseeds the sampler).
        study: The study as this process opened it.
        n_trials: Finished (COMPLETE + PRUNED) trials the study should hold.
        worker: This process's worker index within its run (for the sampler's seed).

    The first claim of a process reseeds its sampler with
    ``session_seed(spec.seed, n_existing=started, worker=worker)``, where ``started`` counts
    the study's trials at that moment: each claim adds one, so processes that opened the
    study together still draw different strategies, and a lone run on a fresh study keeps
    ``spec.seed`` itself.

    Examples:
        >>> import tempfile
        >>> from paretune.search.study import StudySpec, open_study
        >>> from paretune.spaces import FloatDistribution, StrategySpace
        >>> spec = StudySpec(name="demo", storage=f"journal:///{tempfile.mkdtemp()}/a.log",
        ...     objectives=("accuracy",),
        ...     space=StrategySpace(params={"lr": FloatDistribution(low=0.0, high=1.0)}))
        >>> study = open_study(spec)
        >>> slots = TrialSlots(spec=spec, study=study, n_trials=1)
        >>> trial, counts = slots.claim()
        >>> trial.number, counts.free(1)
        (0, 1)
        >>> slots.claim()  # the only slot is held by trial 0, still running
        (None, SlotCounts(complete=0, pruned=0, failed=0, running=1, waiting=0))
    """

    def __init__(
        self, *, spec: StudySpec, study: optuna.Study, n_trials: int, worker: int = 0
    ) -> None:
        self.spec = spec
        self.study = study
        self.n_trials = n_trials
        self.worker = worker
        self.recovered: list[int] = []
        self._reseeded = False
        study_id = storage_of(study).get_study_id_from_name(study.study_name)
        self._study_id = study_id
        self._lock = StudyLock(storage=spec.storage, study_id=study_id)

    def counts(self) -> SlotCounts:
        """The study's trials by state now (read without the lock; a count in SQL for an RDB
        storage, not a read of every trial)."""
        from paretune.search.study._trial_cache import OwnedTrialCache

        storage = storage_of(self.study)
        if isinstance(storage, OwnedTrialCache):
            return SlotCounts.of_states(storage.count_states(self._study_id))
        return SlotCounts.of(self.study.get_trials(deepcopy=False))

    def recover(self) -> list[int]:
        """Under the lock, fail the RUNNING trials of dead processes of this host (queued
        again); return their numbers (also added to :attr:`recovered`)."""
        with self._lock:
            return self._recover()

    def _recover(self) -> list[int]:
        numbers = recover_interrupted(self.study)
        self.recovered.extend(numbers)
        return numbers

    def claim_with(self, ask: Callable[[], T | None]) -> tuple[T | None, SlotCounts]:
        """Take a slot and call ``ask`` (which creates the trial) while holding the lock.

        Returns:
            ``ask``'s answer (None without calling it when no slot is free) and the counts
            taken before it.
        """
        with self._lock:
            counts = self.counts()
            if counts.free(self.n_trials) <= 0 and counts.running and self._recover():
                counts = self.counts()
            if counts.free(self.n_trials) <= 0:
                return None, counts
            if not self._reseeded:
                seed = session_seed(self.spec.seed, n_existing=counts.started, worker=self.worker)
                self.study.sampler = self.spec.get_sampler(seed=seed)
                self._reseeded = True
            return ask(), counts

    def claim(self) -> tuple[optuna.Trial | None, SlotCounts]:
        """Take a slot: create the next trial (a queued one first) and mark it as this
        process's; None when every slot is held."""

        def ask() -> optuna.Trial:
            trial = self.study.ask()
            mark_worker(self.study, trial)
            return trial

        return self.claim_with(ask)

    def close(self) -> None:
        """Release what the lock holds open (a file or a database connection)."""
        self._lock.close()
