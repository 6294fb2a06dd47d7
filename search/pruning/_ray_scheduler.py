"""The study's pruner as a Ray Tune ``TrialScheduler``.

Every registered pruner (``asha``, ``hyperband``, ``median``, ``mo-asha`` ...) runs through
:class:`StudyPrunerScheduler`, which calls the same :class:`~paretune.search.TrialPruner` the
local executor builds, ``get_pruner(spec.pruner, **spec.pruner_options)``, with the same
options and defaults, on the study and the Optuna trial the driver's searcher
(:class:`~paretune.search.executors._ray_searcher.StudySearcher`) holds. So a Ray run decides
as a local run does: the Optuna-wrapped pruners report the objective metric as the trial's
intermediate value and ask the Optuna pruner; ``mo-asha`` decides with the pure core
:class:`paretune.search.pruning.MOAsha` over the curves in the study's storage. The
:class:`~paretune.search.Verdict`'s reason becomes the trial's ``prune_reason``, worded by the
pruner as in a local run.

A STOP is not carried out by killing the trial (what Ray does, losing the trainer's result):
it becomes a stop request on the trial channel, which the trainer's next ``report`` returns as
True, so the trainer stops cleanly and its result is recorded as a PRUNED trial, as in a
local run. The members of a fused group (``fuse = K``: one Tune trial, K Optuna trials) are
decided one by one, each on its own Optuna trial, and a stop request names the member, which
leaves the group alone. After deciding, the scheduler notes the epoch as seen on the channel:
rank 0 of a data-parallel trial (whose epochs reach Tune asynchronously, through Ray Train)
waits for that note before it reads the stop request. A data-parallel run without a pruner gets
:class:`EpochNoteScheduler` (FIFO that only takes those notes) in place of the plain FIFO.

This module imports Ray and is only imported lazily, by the Ray executor.
"""

from __future__ import annotations

import json
import pickle
from typing import TYPE_CHECKING, Any

import ray
from paretune.search._optuna_compat import trial_by_number
from paretune.search.executors._ray_channel import open_channel
from paretune.search.executors._ray_searcher import StudySearcher
from paretune.search.executors._ray_trainable import (
    EPOCH_KEY,
    GROUP_KEY,
    MEMBER_KEY,
    METRICS_KEY,
    RESULT_KEY,
    TRIAL_NUMBER_KEY,
    member_id,
)
from paretune.search.pruning._decision import Decision, Verdict, stop_reason
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

if TYPE_CHECKING:
    from paretune.search.pruning._base import TrialPruner
    from paretune.search.study._spec import StudySpec

__all__ = ["EpochNoteScheduler", "StudyPrunerScheduler", "make_scheduler"]


def make_scheduler(
    spec: StudySpec, *, channel_name: str, note_epochs: bool = False
) -> TrialScheduler:
    """The Ray Tune scheduler that runs the study's pruner (FIFO for ``none``).

    The spec built (and so validated) its pruner when it was made. With ``note_epochs`` (a
    run of data-parallel trials, whose rank 0 waits for each epoch to be seen), ``none`` is
    an :class:`EpochNoteScheduler`.
    """
    if spec.pruner == "none":
        if note_epochs:
            return EpochNoteScheduler(channel_name=channel_name)
        return FIFOScheduler()  # type: ignore[no-untyped-call]
    return StudyPrunerScheduler(spec=spec, channel_name=channel_name)


def study_searcher(tune_controller: Any) -> StudySearcher:
    """The :class:`StudySearcher` behind Tune's search algorithm (through its wrappers)."""
    searcher = getattr(tune_controller, "search_alg", None)
    while searcher is not None and not isinstance(searcher, StudySearcher):
        searcher = getattr(searcher, "searcher", None)
    if searcher is None:
        raise RuntimeError(
            "The paretune pruner runs as a Ray scheduler only together with the study's "
            "searcher (StudySearcher); Tune's search algorithm is "
            f"{type(getattr(tune_controller, 'search_alg', None)).__name__}."
        )
    return searcher


class EpochNoteScheduler(FIFOScheduler):
    """FIFO that notes every epoch it sees on the trial channel (:meth:`TrialChannel.seen`).

    Rank 0 of a data-parallel trial waits for the note before its next epoch, so Ray Train
    has registered the epoch's checkpoint by then (a worker that dies later resumes from it)
    and the verdict of a pruner (:class:`StudyPrunerScheduler`) is there to read.

    Args:
        channel_name: Name of the trial channel actor.
    """

    _supports_buffered_results = False  # the note (and decision) must reach the next report

    def __init__(self, *, channel_name: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._channel_name = channel_name
        self._channel: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_channel": None}

    def channel(self) -> Any:
        """The trial channel actor (looked up once; not pickled with the scheduler)."""
        if getattr(self, "_channel", None) is None:  # also a scheduler saved without one
            self._channel = open_channel(self._channel_name)
        return self._channel

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if RESULT_KEY not in result and METRICS_KEY in result:
            self.channel().note_seen.remote(trial.trial_id, int(result[EPOCH_KEY]))
        return str(TrialScheduler.CONTINUE)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__getstate__(), file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))


class StudyPrunerScheduler(EpochNoteScheduler):
    """Any paretune pruner as a Ray Tune scheduler (see the module docstring).

    Each epoch of each trial is decided once (a retried trial replaying an epoch is not asked
    again). When the verdict is STOP, the trial gets a stop request on the channel and this
    scheduler answers CONTINUE, so Tune lets the trainer finish the epoch cleanly and send its
    result (recorded PRUNED). A STOP at the trial's last epoch is ignored: it ends anyway.

    Args:
        spec: The study.
        channel_name: Name of the trial channel actor.
    """

    def __init__(self, *, spec: StudySpec, channel_name: str) -> None:
        super().__init__(channel_name=channel_name)
        self._spec = spec
        self._pruner: TrialPruner | None = None
        self._decided: dict[str, int] = {}  # Tune trial id -> last epoch decided
        self._stopping: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_pruner": None}

    def verdict(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> Verdict:
        """The pruner's verdict on the epoch ``trial`` reported in ``result``.

        The pruner sees the searcher's study and Optuna trial, as the local pruner sees the
        executor's.
        """
        if self._pruner is None:
            self._pruner = self._spec.get_pruner()
        searcher = study_searcher(tune_controller)
        if MEMBER_KEY in result:  # a member of a fused group
            member = int(result[MEMBER_KEY])
            handle = searcher.member_trial(trial.trial_id, member)
            if handle is None:
                number = int(trial.config[GROUP_KEY][member]["number"])
                handle = trial_by_number(searcher.study, number)
        else:
            handle = searcher.optuna_trial(trial.trial_id)
        if handle is None:
            handle = trial_by_number(searcher.study, int(trial.config[TRIAL_NUMBER_KEY]))
        return self._pruner.decide(
            study=searcher.study,
            trial=handle,
            epoch=int(result[EPOCH_KEY]),
            metrics=json.loads(result[METRICS_KEY]),
        )

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if RESULT_KEY in result or METRICS_KEY not in result:
            return str(TrialScheduler.CONTINUE)  # the trainer's final result
        self._decide(tune_controller, trial, result, int(result[EPOCH_KEY]))
        # After any stop request (that call returned): whoever finds the epoch seen finds it.
        return super().on_trial_result(tune_controller, trial, result)

    def _decide(self, tune_controller: Any, trial: Any, result: dict[str, Any], epoch: int) -> None:
        """Ask the pruner about ``epoch`` once; on STOP, leave a stop request on the channel
        (for the trial, or for the member of a group the result is of)."""
        trial_id = trial.trial_id
        params = trial.config
        if MEMBER_KEY in result:
            member = int(result[MEMBER_KEY])
            trial_id = member_id(trial.trial_id, member)
            params = trial.config[GROUP_KEY][member]["params"]
        if trial_id in self._stopping or epoch <= self._decided.get(trial_id, 0):
            return
        self._decided[trial_id] = epoch
        verdict = self.verdict(tune_controller, trial, result)
        if verdict.decision is not Decision.STOP:
            return
        planned = params.get("epochs")
        if planned is not None and epoch >= int(planned):
            return  # its last epoch: the trainer ends anyway
        reason = verdict.reason or stop_reason(
            self._spec.pruner, epoch, json.loads(result[METRICS_KEY])
        )
        ray.get(self.channel().request_stop.remote(trial_id, reason))
        self._stopping.add(trial_id)

    @staticmethod
    def _keys(trial: Any) -> list[str]:
        """The trial's keys here: its id, and its members' for a fused group."""
        members = trial.config.get(GROUP_KEY, ())
        return [trial.trial_id] + [member_id(trial.trial_id, m) for m in range(len(members))]

    def _forget(self, trial: Any) -> None:
        for key in self._keys(trial):
            self._stopping.discard(key)
            self._decided.pop(key, None)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        if GROUP_KEY in trial.config:  # a retried group trains again from its first epoch,
            for key in self._keys(trial)[1:]:  # each member decided afresh
                self._stopping.discard(key)
                self._decided.pop(key, None)
                ray.get(self.channel().clear.remote(key))
            return
        self._stopping.discard(trial.trial_id)  # a retry decides its epochs from the checkpoint

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self._forget(trial)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._forget(trial)

    def debug_string(self) -> str:
        return f"paretune pruner {self._spec.pruner!r}"
