"""What runs inside a Ray Tune worker: build the objective, train, report every epoch.

The trainer's ``report(epoch, metrics)`` is bound to ``ray.tune.report``: each epoch becomes
one Tune result (with the trainer's checkpoint directory attached, so a retried or resumed
trial continues from its last epoch), and its answer is the stop request the driver's
scheduler left on the trial channel. When the objective returns, its
:class:`~paretune.search.TrialOutcome` is sent as one last Tune result in its dict form
(:func:`final_result`); the driver's searcher reads it back (:func:`outcome_of`) and records it
with the same function as a local run.

This module imports Ray and is only imported lazily, by the Ray executor.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import ray
from paretune.search.executors._ray_channel import find_channel
from paretune.search.study._outcome import Objective, ObjectiveFactory, TrialOutcome, to_outcome
from ray import cloudpickle, tune

# Keys of the Tune results that carry paretune data as JSON (flat, so Tune does not split them).
METRICS_KEY = "paretune_metrics"
RESULT_KEY = "paretune_result"
EPOCH_KEY = "epoch"
# Key of the Tune config that carries the Optuna trial number (not passed to the objective).
TRIAL_NUMBER_KEY = "paretune_trial"
# A fused group (``fuse = K``): the Tune config's list of members (each its Optuna trial
# number and parameters), and the member index each epoch result is of.
GROUP_KEY = "paretune_group"
MEMBER_KEY = "paretune_member"


def member_id(trial_id: str, member: int) -> str:
    """The channel key of member ``member`` of the group Tune trial ``trial_id``.

    Examples:
        >>> member_id("abc_00001", 2)
        'abc_00001/2'
    """
    return f"{trial_id}/{member}"


def epoch_result(epoch: int, metrics: Mapping[str, float]) -> dict[str, Any]:
    """The Tune result for one reported epoch: the metrics flat (for schedulers) and as JSON.

    Examples:
        >>> r = epoch_result(2, {"val_accuracy": 0.5, "lr": 0.01})
        >>> r["epoch"], r["val_accuracy"], json.loads(r["paretune_metrics"])["lr"]
        (2, 0.5, 0.01)
    """
    flat = {str(key): float(value) for key, value in metrics.items()}
    return {**flat, EPOCH_KEY: int(epoch), METRICS_KEY: json.dumps(flat)}


def final_result(outcome: TrialOutcome) -> dict[str, Any]:
    """The last Tune result of a trial: its outcome's dict form as JSON.

    The flat copies of the numeric measurements keep Tune's metric checks and the schedulers
    (which read ``epoch`` and the objective's metric) satisfied.

    Examples:
        >>> from paretune.search import OutcomeState
        >>> outcome = TrialOutcome(state=OutcomeState.COMPLETE,
        ...                        measurements={"epochs": 3, "val_accuracy": 0.9})
        >>> r = final_result(outcome)
        >>> r["epoch"], json.loads(r["paretune_result"])["status"]
        (3, 'completed')
        >>> outcome_of(r) == outcome
        True
    """
    flat = {
        key: float(value)
        for key, value in outcome.measurements.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    return {
        **flat,
        EPOCH_KEY: int(outcome.measurements.get("epochs", 0)),
        RESULT_KEY: json.dumps(outcome.to_dict()),
    }


def outcome_of(result: Mapping[str, Any]) -> TrialOutcome:
    """The outcome a :func:`final_result` carries (read in the driver)."""
    return TrialOutcome.from_dict(json.loads(result[RESULT_KEY]))


def group_result(outcomes: list[TrialOutcome | str]) -> dict[str, Any]:
    """The last Tune result of a fused group: each member's outcome, or why it failed.

    The flat measurements are those of the first member with an outcome (Tune's metric
    checks), so at least one member must have one.

    Examples:
        >>> from paretune.search import OutcomeState
        >>> done = TrialOutcome(state=OutcomeState.COMPLETE,
        ...                     measurements={"epochs": 2, "val_accuracy": 0.8})
        >>> r = group_result(["ValueError: bad lr", done])
        >>> r["epoch"], outcomes_of(r) == ["ValueError: bad lr", done]
        (2, True)
    """
    first = next(o for o in outcomes if isinstance(o, TrialOutcome))
    entries = [o if isinstance(o, str) else o.to_dict() for o in outcomes]
    return {**final_result(first), RESULT_KEY: json.dumps(entries), GROUP_KEY: len(outcomes)}


def outcomes_of(result: Mapping[str, Any]) -> list[TrialOutcome | str]:
    """The members' outcomes (or failure reasons) a :func:`group_result` carries."""
    entries = json.loads(result[RESULT_KEY])
    return [e if isinstance(e, str) else TrialOutcome.from_dict(e) for e in entries]


# The objective each worker process built, by its pickled factory: a trial that runs in a
# process that already ran one (Ray reuses idle worker processes) skips importing torch and
# loading the task's data again.
_BUILT: dict[bytes, Objective] = {}


def _objective_of(factory: ObjectiveFactory) -> Objective:
    key: bytes = cloudpickle.dumps(factory)  # type: ignore[no-untyped-call]
    if key not in _BUILT:
        _BUILT.clear()
        _BUILT[key] = factory()
    return _BUILT[key]


def accepts_keyword(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` can be called with the keyword argument ``name``.

    Examples:
        >>> accepts_keyword(lambda params, report, checkpoint_dir=None: None, "checkpoint_dir")
        True
        >>> accepts_keyword(lambda params, report: None, "gpu_memory_fraction")
        False
        >>> accepts_keyword(lambda params, report, **kwargs: None, "gpu_memory_fraction")
        True
    """
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        (p.name == name and p.kind is not p.POSITIONAL_ONLY) or p.kind is p.VAR_KEYWORD
        for p in parameters
    )


def objective_kwargs(
    objective: Objective,
    *,
    checkpoint_dir: str,
    gpu_fraction: float | None,
    gpu_key: str,
) -> dict[str, Any]:
    """The keyword arguments a Ray worker passes to the objective.

    ``gpu_memory_fraction`` is passed for a fractional GPU share (``gpu_key`` names the
    setting that asked for it), and the objective must take it.

    Examples:
        >>> objective_kwargs(lambda params, report, checkpoint_dir=None: None,
        ...                  checkpoint_dir="ckpt", gpu_fraction=None, gpu_key="gpus_per_trial")
        {'checkpoint_dir': 'ckpt'}
        >>> objective_kwargs(lambda params, report, checkpoint_dir=None: None,
        ...                  checkpoint_dir="ckpt", gpu_fraction=0.5, gpu_key="gpus_per_worker")
        Traceback (most recent call last):
        ...
        TypeError: A fractional gpus_per_worker needs an objective that takes the keyword ...
    """
    kwargs: dict[str, Any] = {"checkpoint_dir": checkpoint_dir}
    if gpu_fraction is not None:
        if not accepts_keyword(objective, "gpu_memory_fraction"):
            raise TypeError(
                f"A fractional {gpu_key} needs an objective that takes the keyword "
                "'gpu_memory_fraction' and caps its GPU memory with it "
                f"(torch.cuda.set_per_process_memory_fraction); {objective!r} does not."
            )
        kwargs["gpu_memory_fraction"] = gpu_fraction
    return kwargs


def run_trial(
    config: dict[str, Any],
    *,
    objective_factory: ObjectiveFactory,
    channel_name: str,
    gpu_fraction: float | None,
) -> None:
    """Train one trial in a Ray worker (the function given to ``tune.Tuner``).

    Args:
        config: The sampled parameters (the searcher's suggestion).
        objective_factory: Builds the objective in this worker.
        channel_name: Name of the driver's :class:`TrialChannel`.
        gpu_fraction: This trial's share of its GPU when it is given less than a whole one;
            passed to the objective as ``gpu_memory_fraction`` so it can cap its memory.
    """
    # One INFO line per epoch ("Checkpoint successfully created at ...") drowns the driver's
    # console; warnings and errors still come through.
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    context = tune.get_context()
    trial_id = context.get_trial_id()
    channel = find_channel(channel_name)
    checkpoint_dir = tempfile.mkdtemp(prefix="paretune-trial-")
    try:
        restored = tune.get_checkpoint()
        if restored is not None:
            restored.to_directory(checkpoint_dir)

        def report(epoch: int, metrics: Mapping[str, float]) -> bool:
            checkpoint = (
                tune.Checkpoint.from_directory(checkpoint_dir)
                if os.listdir(checkpoint_dir)
                else None
            )
            tune.report(epoch_result(epoch, metrics), checkpoint=checkpoint)
            return ray.get(channel.stop_requested.remote(trial_id)) is not None

        try:
            objective = _objective_of(objective_factory)
            kwargs = objective_kwargs(
                objective,
                checkpoint_dir=checkpoint_dir,
                gpu_fraction=gpu_fraction,
                gpu_key="gpus_per_trial",
            )
            params = {k: v for k, v in config.items() if k != TRIAL_NUMBER_KEY}
            outcome = to_outcome(objective(params, report, **kwargs))
        except Exception as error:
            ray.get(channel.note_error.remote(trial_id, f"{type(error).__name__}: {error}"))
            raise
        tune.report(final_result(outcome))
    finally:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)


def run_group_trial(
    config: dict[str, Any],
    *,
    objective_factory: ObjectiveFactory,
    channel_name: str,
    gpu_fraction: float | None,
) -> None:
    """Train a fused group of trials in one Ray worker (``fuse = K`` on Ray).

    ``config[GROUP_KEY]`` lists the members the searcher asked (their Optuna trial numbers
    and parameters); the objective's ``run_group`` trains them (fused where compatible). Each
    member's epochs are Tune results tagged with its index, and its report answers the stop
    request the scheduler left for that member alone, so a pruned member leaves the group and
    the others go on. The last result carries every member's outcome, or the reason it
    failed. A group keeps no checkpoint: a retried group starts again from its first epoch
    (the driver records each epoch and decides on it once).

    Raises:
        TypeError: The objective has no ``run_group``.
        RuntimeError: Every member failed (the driver records each FAIL with the reasons).
    """
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    trial_id = tune.get_context().get_trial_id()
    channel = find_channel(channel_name)
    members: list[dict[str, Any]] = list(config[GROUP_KEY])

    def reporter(member: int) -> Callable[[int, Mapping[str, float]], bool]:
        def report(epoch: int, metrics: Mapping[str, float]) -> bool:
            tune.report({**epoch_result(epoch, metrics), MEMBER_KEY: member})
            key = member_id(trial_id, member)
            return ray.get(channel.stop_requested.remote(key)) is not None

        return report

    try:
        objective = _objective_of(objective_factory)
        run_group = getattr(objective, "run_group", None)
        if run_group is None:
            raise TypeError(
                f"fuse > 1 needs an objective with a run_group method; {objective!r} has none."
            )
        kwargs: dict[str, Any] = {}
        if gpu_fraction is not None:
            if not accepts_keyword(run_group, "gpu_memory_fraction"):
                raise TypeError(
                    "A fractional gpus_per_trial needs a run_group that takes the keyword "
                    f"'gpu_memory_fraction'; {objective!r}'s does not."
                )
            kwargs["gpu_memory_fraction"] = gpu_fraction
        answers = run_group(
            [dict(m["params"]) for m in members],
            [reporter(k) for k in range(len(members))],
            **kwargs,
        )
        outcomes: list[TrialOutcome | str] = []
        for answer in answers:
            if isinstance(answer, Exception):
                outcomes.append(f"{type(answer).__name__}: {answer}")
            else:
                outcomes.append(to_outcome(answer))
        if not any(isinstance(o, TrialOutcome) for o in outcomes):
            raise RuntimeError("every member of the group failed: " + "; ".join(map(str, outcomes)))
    except Exception as error:
        ray.get(channel.note_error.remote(trial_id, f"{type(error).__name__}: {error}"))
        raise
    tune.report(group_result(outcomes))
