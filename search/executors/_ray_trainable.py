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
