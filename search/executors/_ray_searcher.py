"""Ray Tune's ``OptunaSearch``, writing into the paretune study the same way a local run does.

Sampling is Ray Tune's own ``OptunaSearch`` with the define-by-run function
:func:`paretune.spaces.suggest` and the study's sampler, on the study that
:func:`~paretune.search.open_study` opens (same storage, same ``study_name``), so a Ray run and
a local run of one study are one Optuna study. What changes is what is told to Optuna:

* each reported epoch is recorded on the trial's curve as the local reporter records it (the
  pruner scheduler decides on this searcher's Optuna trial, and an Optuna-wrapped pruner
  reports its intermediate value there, as in a local run), and its value of the study's curve
  metric becomes the trial's intermediate value when the pruner did not report that step;
* the finished trial is recorded by :func:`paretune.search.study._record.record_result` from the
  trainer's own result, so a trial that a scheduler stopped is PRUNED at the epoch it
  reached (``OptunaSearch`` would tell Optuna COMPLETE with the partial-budget value);
* a trial Ray gave up on is FAIL with the worker's exception as ``fail_reason``;
* a trial already finished in the storage (a resumed experiment replaying it) is never told
  twice;
* after recording, the run's Optuna-style callbacks are called with the finished trial, in
  the driver; a callback that raises ends the run (no trial starts after it) and
  :attr:`StudySearcher.callback_error` holds the error for the executor to raise. Callbacks
  are not pickled with the searcher (Tune saves it with its experiment).

With ``fuse = K`` one Tune trial is a fused group: :meth:`StudySearcher.suggest` takes up to
K slots and asks K Optuna trials, each epoch result names its member, and the group's last
result holds each member's outcome; each member is recorded as its own trial, exactly as an
unfused one (a member that failed alone is FAIL with its reason).

It also decides when the run is over: ``n_trials`` finished (COMPLETE + PRUNED) trials in the
study, the time budget, the study's epoch budget, or too many failures. Each trial takes one of
the study's ``n_trials`` slots from the storage before it is asked
(:class:`~paretune.search.study._quota.TrialSlots`), so a Ray run and any other processes or
hosts on the same study together run exactly ``n_trials`` trials.

This module imports Ray and is only imported lazily, by the Ray executor.
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ray
from paretune.search._objectives import metric_of
from paretune.search._optuna_compat import frozen_trial
from paretune.search.executors._ray_channel import open_channel
from paretune.search.executors._ray_trainable import (
    EPOCH_KEY,
    GROUP_KEY,
    MEMBER_KEY,
    METRICS_KEY,
    RESULT_KEY,
    TRIAL_NUMBER_KEY,
    member_id,
    outcome_of,
    outcomes_of,
)
from paretune.search.study._curves import curve_metric, report_epoch
from paretune.search.study._open import mark_worker
from paretune.search.study._quota import TrialSlots
from paretune.search.study._record import record_failure, record_result
from paretune.search.study._trial_cache import suggest_strategy
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

if TYPE_CHECKING:
    import optuna
    from paretune.search.executors._callbacks import TrialCallback
    from paretune.search.study._spec import StudySpec
    from paretune.spaces import StrategySpace

logger = logging.getLogger(__name__)


def _define_by_run(space: StrategySpace, trial: Any) -> dict[str, Any]:
    params: dict[str, Any] = suggest_strategy(space, trial)
    return params


class StudySearcher(OptunaSearch):
    """``OptunaSearch`` over a paretune study (see the module docstring).

    Args:
        spec: The study.
        n_trials: Finished (COMPLETE + PRUNED) trials the study should hold at the end.
        timeout: Seconds after which no new trial starts (running ones finish).
        channel_name: Name of the trial channel actor (failure reasons of workers).
        max_failed_trials: Stop starting trials once this many failed in a row in this run
            (a trial that completes or is pruned starts the count again).
        fuse: Trials asked at once for each Tune trial (a fused group); 1: one.
        callbacks: ``callback(study, frozen_trial)`` callables called once for each trial
            this searcher records.
    """

    def __init__(
        self,
        *,
        spec: StudySpec,
        n_trials: int,
        timeout: float | None,
        channel_name: str,
        max_failed_trials: int,
        fuse: int = 1,
        callbacks: Sequence[TrialCallback] = (),
    ) -> None:
        self._spec = spec
        self._fuse = fuse
        # Tune trial id -> its members' Optuna trials and parameters (a fused group)
        self._members: dict[str, list[tuple[optuna.Trial, dict[str, Any]]]] = {}
        self._callbacks: tuple[TrialCallback, ...] = tuple(callbacks)
        self.callback_error: BaseException | None = None
        self._n_trials = n_trials
        self._timeout = timeout
        self._channel_name = channel_name
        self._max_failed_trials = max_failed_trials
        self._deadline: float | None = None
        self._failed = 0
        self._curves: dict[str, dict[int, dict[str, float]]] = {}
        metrics = [metric_of(name) for name in spec.objectives]
        modes = ["max" if direction == "maximize" else "min" for direction in spec.directions]
        super().__init__(
            space=functools.partial(_define_by_run, spec.space),
            metric=metrics[0] if len(metrics) == 1 else metrics,
            mode=modes[0] if len(modes) == 1 else modes,
            study_name=spec.name,
        )

    # -- the study ---------------------------------------------------------------------------

    def _setup_study(self, mode: str | list[str]) -> None:
        from paretune.search.study._open import open_study, session_seed

        probe = open_study(self._spec)
        seed = session_seed(self._spec.seed, n_existing=len(probe.trials), worker=0)
        self._ot_study = open_study(self._spec, sampler_seed=seed)  # type: ignore[assignment]

    @property
    def study(self) -> optuna.Study:
        """The paretune study trials are written to."""
        study = self._ot_study
        if study is None:
            raise RuntimeError("the searcher has no study yet")
        return study

    def optuna_trial(self, trial_id: str) -> optuna.Trial | None:
        """The Optuna trial behind Tune trial ``trial_id`` (None if this searcher did not ask it).

        The pruner scheduler decides on it, as the local pruner decides on the executor's.
        """
        trial: optuna.Trial | None = self._ot_trials.get(trial_id)
        return trial

    def member_trial(self, trial_id: str, member: int) -> optuna.Trial | None:
        """The Optuna trial of member ``member`` of the group Tune trial ``trial_id``."""
        members = self._members.get(trial_id)
        if members is None or not 0 <= member < len(members):
            return None
        return members[member][0]

    # -- when to stop ------------------------------------------------------------------------

    def _in_flight(self) -> int:
        return len(set(self._ot_trials) - self._completed_trials)

    def _slots(self) -> TrialSlots:
        slots: TrialSlots | None = getattr(self, "_trial_slots", None)
        if slots is None:
            slots = TrialSlots(spec=self._spec, study=self.study, n_trials=self._n_trials)
            self._trial_slots = slots
        return slots

    def _ask(self, trial_id: str) -> dict[str, Any] | None:
        """Ask Optuna for the trial (``OptunaSearch.suggest``) and mark it as this driver's."""
        params = super().suggest(trial_id)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None:
            mark_worker(self.study, ot_trial)
        return None if params is None else dict(params)

    def _budget_spent(self) -> bool:
        limit = self._spec.max_total_epochs
        if limit is None:
            return False
        from paretune.search.study._budget import epochs_spent

        return bool(epochs_spent(self.study.get_trials(deepcopy=False)) >= limit)

    def _ask_member(self) -> tuple[optuna.Trial, dict[str, Any]]:
        """Ask one member of a group (its slot is held) and mark it as this driver's."""
        ot_trial = self.study.ask()
        mark_worker(self.study, ot_trial)
        return ot_trial, _define_by_run(self._spec.space, ot_trial)

    def _group_config(self, trial_id: str) -> dict[str, Any]:
        members = self._members[trial_id]
        return {GROUP_KEY: [{"number": t.number, "params": p} for t, p in members]}

    @property
    def failing(self) -> bool:
        """Whether it stopped starting trials because ``max_failed_trials`` failed in a row."""
        return self._failed >= self._max_failed_trials

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        """New parameters for Tune trial ``trial_id``, None to wait, or ``FINISHED``."""
        if trial_id in self._members:
            return self._group_config(trial_id)
        if trial_id not in self._ot_trials:
            if self.callback_error is not None:
                return Searcher.FINISHED
            if self._deadline is None and self._timeout is not None:
                self._deadline = time.monotonic() + self._timeout
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return Searcher.FINISHED
            if self._failed >= self._max_failed_trials or self._budget_spent():
                return Searcher.FINISHED
            if getattr(self, "_fuse", 1) > 1:
                return self._suggest_group(trial_id)
            params, counts = self._slots().claim_with(functools.partial(self._ask, trial_id))
            if counts.free(self._n_trials) <= 0:
                # A running trial of this run may still fail; wait for it before calling the
                # run finished (other processes' trials are theirs to finish).
                return None if self._in_flight() else Searcher.FINISHED
        else:
            params = super().suggest(trial_id)
        if params is None:
            return None
        ot_trial = self._ot_trials[trial_id]
        return {**params, TRIAL_NUMBER_KEY: ot_trial.number}

    def _suggest_group(self, trial_id: str) -> dict[str, Any] | str | None:
        """Up to K members for the Tune trial, one slot each (fewer when fewer are free)."""
        members: list[tuple[optuna.Trial, dict[str, Any]]] = []
        for _ in range(self._fuse):
            asked, counts = self._slots().claim_with(self._ask_member)
            if asked is None:
                break
            members.append(asked)
        if not members:
            return None if self._in_flight() else Searcher.FINISHED
        self._members[trial_id] = members
        self._ot_trials[trial_id] = members[0][0]  # in flight until the group completes
        return self._group_config(trial_id)

    # -- recording ---------------------------------------------------------------------------

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Record one reported epoch on the Optuna trial, as the local reporter does."""
        if RESULT_KEY in result or METRICS_KEY not in result:
            return
        key = trial_id
        ot_trial = self._ot_trials.get(trial_id)
        if MEMBER_KEY in result:  # a member of a fused group
            member = int(result[MEMBER_KEY])
            ot_trial = self.member_trial(trial_id, member)
            key = member_id(trial_id, member)
        if ot_trial is None or trial_id in self._completed_trials:
            return
        epoch = int(result[EPOCH_KEY])
        metrics: dict[str, float] = json.loads(result[METRICS_KEY])
        curve = self._curves.setdefault(key, {})
        if epoch in curve:
            return  # a retried trial replaying an epoch it had reported
        curve[epoch] = {"epoch": epoch, **metrics}
        ot_trial.set_user_attr("curve", [curve[e] for e in sorted(curve)])
        # after the scheduler (Tune asks it first), whose Optuna pruner may report this step
        report_epoch(ot_trial, curve_metric(self._spec.objectives), epoch, metrics)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Record the finished trial: the trainer's result, or FAIL with the worker's reason."""
        if trial_id in self._completed_trials:
            return
        self._completed_trials.add(trial_id)
        if trial_id in self._members:
            self._group_complete(trial_id, result, error)
            return
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None:
            return
        curve = [point for _, point in sorted(self._curves.pop(trial_id, {}).items())]
        if frozen_trial(self.study, ot_trial).state.is_finished():
            logger.info("trial %d is already recorded; not telling it twice", ot_trial.number)
            return
        channel = open_channel(self._channel_name)
        if result is not None and RESULT_KEY in result:
            self._failed = 0  # failures in a row: this one ends the streak
            record_result(
                self.study,
                ot_trial,
                outcome_of(result),
                objectives=self._spec.objectives,
                constraints=self._spec.constraints,
                prune_reason=ray.get(channel.stop_requested.remote(trial_id)),
            )
        elif error:
            self._failed += 1
            reason = ray.get(channel.last_error.remote(trial_id))
            record_failure(
                self.study,
                ot_trial,
                reason or "the Ray worker running the trial died",
                curve=curve,
            )
        else:
            record_failure(self.study, ot_trial, "interrupted", curve=curve)
        channel.clear.remote(trial_id)
        self._trial_ended(ot_trial)

    def _group_complete(self, trial_id: str, result: dict[str, Any] | None, error: bool) -> None:
        """Record each member of a finished group as its own trial."""
        channel = open_channel(self._channel_name)
        members = self._members.pop(trial_id)
        outcomes = outcomes_of(result) if result is not None and RESULT_KEY in result else None
        group_error = ray.get(channel.last_error.remote(trial_id)) if error else None
        for index, (ot_trial, _) in enumerate(members):
            key = member_id(trial_id, index)
            curve = [point for _, point in sorted(self._curves.pop(key, {}).items())]
            if frozen_trial(self.study, ot_trial).state.is_finished():
                continue
            outcome = outcomes[index] if outcomes is not None else None
            if outcome is not None and not isinstance(outcome, str):
                self._failed = 0  # failures in a row: this one ends the streak
                record_result(
                    self.study,
                    ot_trial,
                    outcome,
                    objectives=self._spec.objectives,
                    constraints=self._spec.constraints,
                    prune_reason=ray.get(channel.stop_requested.remote(key)),
                )
            elif outcome is not None or error:
                self._failed += 1
                reason = outcome or group_error or "the Ray worker running the group died"
                record_failure(self.study, ot_trial, reason, curve=curve)
            else:
                record_failure(self.study, ot_trial, "interrupted", curve=curve)
            channel.clear.remote(key)
            self._trial_ended(ot_trial)
        channel.clear.remote(trial_id)

    def _trial_ended(self, ot_trial: optuna.Trial) -> None:
        """Call the callbacks with the recorded trial; keep the first error they raise."""
        callbacks = getattr(self, "_callbacks", ())
        if not callbacks or self.callback_error is not None:
            return
        trial = frozen_trial(self.study, ot_trial)
        try:
            for callback in callbacks:
                callback(self.study, trial)
        except Exception as error:  # raised by run_ray once Tune has stopped
            logger.error("a callback raised on trial %d: %r", trial.number, error)
            self.callback_error = error

    # -- pickling: the callbacks stay in the driver ------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_callbacks", None)
        state.pop("callback_error", None)
        state.pop("_trial_slots", None)  # its lock connection stays in this process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._callbacks = ()
        self.callback_error = None

    def save(self, checkpoint_path: str) -> None:
        """Save the searcher as ``OptunaSearch`` does, without the callbacks."""
        with open(checkpoint_path, "wb") as output:
            pickle.dump(self.__getstate__(), output)

    # -- checkpointing -----------------------------------------------------------------------

    def restore(self, checkpoint_path: str) -> None:
        """Load the searcher of an interrupted run; its time budget starts again from now."""
        super().restore(checkpoint_path)
        self._deadline = None
        self._failed = 0
        for trial_id, ot_trial in self._ot_trials.items():
            if trial_id in self._completed_trials:
                continue
            if not frozen_trial(self.study, ot_trial).state.is_finished():  # not recovered
                mark_worker(self.study, ot_trial)  # this driver runs them now
        for members in getattr(self, "_members", {}).values():
            for member, _ in members[1:]:
                mark_worker(self.study, member)
