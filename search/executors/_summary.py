"""What a run reports while it runs (:class:`Progress`) and when it ends (:class:`RunSummary`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Progress", "RunSummary", "StopReason"]


class StopReason(Enum):
    """Why a run stopped starting trials.

    Examples:
        >>> StopReason("timeout") is StopReason.TIMEOUT
        True
    """

    #: The study already held ``n_trials`` finished trials: nothing was run.
    ALREADY_DONE = "already_done"
    #: The study now holds ``n_trials`` finished (complete or pruned) trials.
    N_TRIALS = "n_trials"
    #: ``timeout`` seconds passed.
    TIMEOUT = "timeout"
    #: ``max_total_epochs`` were trained.
    MAX_TOTAL_EPOCHS = "max_total_epochs"
    #: Too many trials in a row failed (a broken objective would otherwise fail forever,
    #: since failed trials do not count towards ``n_trials``).
    FAILURES = "failures"
    #: Every slot left is held by a trial running in another process (or on another host),
    #: which finishes the study: the study holds ``n_trials`` once those trials end.
    SLOTS_HELD = "slots_held"


@dataclass(frozen=True, kw_only=True)
class Progress:
    """The state of a running study, passed to the ``progress`` callback.

    ``run_local`` calls it after each finished trial and after each epoch a running trial
    reports (with ``jobs > 1``, when the parent sees the shared epoch counter move).

    Attributes:
        n_trials: Finished trials the study should hold at the end.
        complete: COMPLETE trials in the study.
        pruned: PRUNED trials in the study.
        failed: FAIL trials in the study.
        running: Trials running now (this run's workers).
        front_size: Feasible COMPLETE trials on the Pareto front (the best one for a single
            objective).
        epochs_spent: Epochs trained in the study's finished trials so far.
        elapsed_s: Seconds since this run started.
        running_epochs: Epochs the running trials have reported so far (0 between trials).

    Examples:
        >>> p = Progress(n_trials=10, complete=3, pruned=1, failed=0, running=1,
        ...              front_size=2, epochs_spent=30, elapsed_s=4.0, running_epochs=2)
        >>> p.done, p.epochs_run
        (4, 32)
    """

    n_trials: int
    complete: int
    pruned: int
    failed: int
    running: int
    front_size: int
    epochs_spent: int
    elapsed_s: float
    running_epochs: int = 0

    @property
    def done(self) -> int:
        """Finished trials that count towards ``n_trials`` (complete + pruned)."""
        return self.complete + self.pruned

    @property
    def epochs_run(self) -> int:
        """Every epoch trained so far: the finished trials' and the running ones'."""
        return self.epochs_spent + self.running_epochs


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """The outcome of one ``run_local`` / ``run_ray`` call.

    Attributes:
        study_name: The study.
        storage: Its storage URL.
        n_trials: Finished trials the study should hold.
        complete: COMPLETE trials in the study at the end.
        pruned: PRUNED trials in the study at the end.
        failed: FAIL trials in the study at the end.
        ran: Trials this call finished (any state).
        recovered: Numbers of trials found RUNNING from a dead process and marked FAIL
            ``interrupted`` (their parameters were queued to run again).
        front_size: Feasible COMPLETE trials on the Pareto front.
        epochs_spent: Epochs trained in the study.
        elapsed_s: Seconds this call took.
        stop_reason: Why it stopped.
        running: Trials still RUNNING in the study at the end (in other processes or on
            other hosts; a run waits for its own).
    """

    study_name: str
    storage: str
    n_trials: int
    complete: int
    pruned: int
    failed: int
    ran: int
    recovered: tuple[int, ...]
    front_size: int
    epochs_spent: int
    elapsed_s: float
    stop_reason: StopReason
    running: int = 0

    @property
    def done(self) -> int:
        """Finished trials that count towards ``n_trials`` (complete + pruned)."""
        return self.complete + self.pruned
