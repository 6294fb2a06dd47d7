"""The worker loop of the local executor: take a slot, suggest, train, record; repeat.

:func:`run_trials` trains one trial at a time. With ``fuse = K`` it takes up to K slots at
once (each trial is asked and suggested in turn, so a sampler's own parallel mechanism, such
as TPE's ``constant_liar``, sees the ones asked before it) and hands the K parameter sets to
the objective's ``run_group(params, reports)`` when it has one (paretune's training objective
trains the compatible ones as one fused model); every trial is then recorded on its own, as
an unfused trial is. An objective without ``run_group`` trains the K trials one after the
other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paretune.search._optuna_compat import frozen_trial
from paretune.search.executors._callbacks import TrialCallbacks
from paretune.search.executors._summary import StopReason
from paretune.search.pruning._reporter import TrialReporter
from paretune.search.study._curves import curve_metric
from paretune.search.study._outcome import Objective, TrialOutcome, to_outcome
from paretune.search.study._quota import SlotCounts, TrialSlots
from paretune.search.study._record import record_failure, record_result
from paretune.search.study._spec import StudySpec
from paretune.search.study._storage_errors import StorageError
from paretune.search.study._trial_cache import suggest_strategy

if TYPE_CHECKING:
    import optuna
    from paretune.search.executors._counters import RunCounters

__all__ = ["CountingReport", "run_trials"]

OnTrial = Callable[["optuna.trial.TrialState", TrialOutcome | None], None]


def _stop_reason(spec: StudySpec, quota: RunCounters, deadline: float | None) -> StopReason | None:
    """Why no trial may start now (None: one may)."""
    if deadline is not None and time.time() >= deadline:
        return StopReason.TIMEOUT
    if spec.max_total_epochs is not None and quota.epochs() >= spec.max_total_epochs:
        return StopReason.MAX_TOTAL_EPOCHS
    if quota.failing():
        return StopReason.FAILURES
    if quota.stopped():
        return StopReason.N_TRIALS
    return None


@dataclass
class _Member:
    """One claimed trial: its reporter and the report handed to the objective."""

    trial: optuna.Trial
    reporter: TrialReporter
    report: CountingReport
    params: dict[str, Any] = field(default_factory=dict)


def run_trials(
    *,
    study: optuna.Study,
    spec: StudySpec,
    objective: Objective,
    quota: RunCounters,
    slots: TrialSlots,
    deadline: float | None,
    on_trial: OnTrial | None,
    callbacks: TrialCallbacks | None = None,
    on_epoch: Callable[[], None] | None = None,
    fuse: int = 1,
) -> StopReason:
    """The worker loop: take up to ``fuse`` slots from the storage (which asks the trials),
    suggest, run the objective, record each; repeat.

    Each epoch a trial reports is counted in ``quota`` (and ``on_epoch`` called), so the
    progress moves while a long trial runs.
    """
    pruner = spec.get_pruner()
    metric = curve_metric(spec.objectives)
    while True:
        reason = _stop_reason(spec, quota, deadline)
        if reason is not None:
            return reason
        members: list[_Member] = []
        counts: SlotCounts | None = None
        try:
            for _ in range(fuse):
                trial, counts = slots.claim()
                if trial is None:
                    break
                quota.start(counts)
                reporter = TrialReporter(
                    study=study, trial=trial, pruner=pruner, pruner_name=spec.pruner, metric=metric
                )
                member = _Member(trial, reporter, CountingReport(reporter, quota, on_epoch))
                members.append(member)
                member.params = suggest_strategy(spec.space, trial)
            if not members:
                done = counts is not None and counts.done >= slots.n_trials
                return StopReason.N_TRIALS if done else StopReason.SLOTS_HELD
            results = _train(objective, members)
            ended = [_record(study, spec, m, r) for m, r in zip(members, results, strict=True)]
        except BaseException as error:
            # Ctrl-C, or an error outside the objective (sampling, storage): no trial may stay
            # RUNNING. An interrupted trial's parameters are queued to run again.
            _abandon(study, members, quota, error)
            raise
        for member, (state, outcome) in zip(members, ended, strict=True):
            epochs = len(member.reporter.curve)
            if outcome is not None and outcome.epochs is not None:
                epochs = outcome.epochs
            quota.finish(state, epochs, member.report.count)
            if on_trial is not None:
                on_trial(state, outcome)
            if callbacks:
                callbacks.ended(frozen_trial(study, member.trial))
        for member in members:
            if member.report.error is not None:
                raise member.report.error


def _train(objective: Objective, members: Sequence[_Member]) -> list[Any]:
    """Each member's result (a TrialOutcome or its dict form) or the Exception it raised.

    A storage error stops the run (it propagates); any other error fails its trial only.
    """
    group = getattr(objective, "run_group", None)
    if len(members) > 1 and callable(group):
        try:
            results: list[Any] = list(
                group([m.params for m in members], [m.report for m in members])
            )
        except StorageError:
            raise
        except Exception as error:  # the whole group failed: each of its trials says why
            return [error] * len(members)
        if len(results) != len(members):
            wrong = ValueError(
                f"run_group returned {len(results)} results for {len(members)} trials."
            )
            return [wrong] * len(members)
        for result in results:
            if isinstance(result, StorageError):
                raise result
        return results
    out: list[Any] = []
    for member in members:
        try:
            out.append(objective(member.params, member.report, None))
        except StorageError:
            raise
        except Exception as error:  # the study goes on: this trial fails with the reason
            out.append(error)
    return out


def _record(
    study: optuna.Study, spec: StudySpec, member: _Member, result: Any
) -> tuple[optuna.trial.TrialState, TrialOutcome | None]:
    """Record one trial's result (or the error it failed with)."""
    if isinstance(result, Exception):
        reason = f"{type(result).__name__}: {result}"
        return record_failure(study, member.trial, reason, curve=member.reporter.curve), None
    outcome = to_outcome(result)
    state = record_result(
        study,
        member.trial,
        outcome,
        objectives=spec.objectives,
        constraints=spec.constraints,
        prune_reason=member.reporter.prune_reason,
    )
    return state, outcome


def _abandon(
    study: optuna.Study, members: Sequence[_Member], quota: RunCounters, error: BaseException
) -> None:
    """Record the members still RUNNING as failed (queued again when interrupted)."""
    import optuna

    interrupted = isinstance(error, KeyboardInterrupt)
    for member in members:
        trial = member.trial
        if frozen_trial(study, trial).state is optuna.trial.TrialState.RUNNING:
            reason = "interrupted" if interrupted else f"{type(error).__name__}: {error}"
            record_failure(study, trial, reason, curve=member.reporter.curve)
            if interrupted:
                study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
        quota.release(member.report.count)


class CountingReport:
    """The reporter handed to the objective: the trial's reporter, then one epoch counted in
    the quota and ``on_epoch`` called (the progress display moves per epoch).

    An error of ``on_epoch`` (a progress callback) is not the trial's: it is kept in
    :attr:`error` and raised once the trial is recorded.
    """

    def __init__(
        self, reporter: TrialReporter, quota: RunCounters, on_epoch: Callable[[], None] | None
    ) -> None:
        self.reporter = reporter
        self.quota = quota
        self.on_epoch = on_epoch
        self.count = 0
        self.error: Exception | None = None

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        stop = self.reporter(epoch, metrics)
        self.count += 1
        self.quota.epoch_reported()
        if self.on_epoch is not None and self.error is None:
            try:
                self.on_epoch()
            except Exception as error:  # raised after the trial is recorded
                self.error = error
        return stop
