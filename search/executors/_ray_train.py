"""Data-parallel trials on Ray: each Tune trial runs its training as one Ray Train run.

:func:`run_data_parallel_trial` is the Tune function trainable of a run with
``workers_per_trial > 1`` (Ray's "Hyperparameter Tuning with Ray Tune" pattern for Train V2):
it builds a ``TorchTrainer`` of ``workers_per_trial`` workers and fits it. Ray Train starts the
workers, initializes ``torch.distributed`` in each (``nccl`` when every worker has a whole GPU,
else ``gloo``) and sets each worker's CUDA device, so the objective's trainer finds the process
group and trains data-parallel.

Every worker runs :func:`train_worker`: it builds the objective (once per process), restores the
run's latest checkpoint into a local directory and calls
``objective(params, report, checkpoint_dir=dir)``. The trainer calls ``report`` on every rank
and writes the checkpoint on rank 0 only. ``report`` is ``ray.train.report`` (collective: every
rank reports, rank 0 attaches the checkpoint); ``TuneReportCallback`` passes rank 0's result on
to Tune, where the driver's scheduler decides on it. Rank 0 then waits until the scheduler has
seen the epoch (:meth:`TrialChannel.seen`) and answers whether it asked the trial to stop; the
trainer broadcasts rank 0's answer, so every rank stops together. The wait also makes each
epoch as durable as on one worker: Ray Train registers an epoch's checkpoint before it passes
the result on, so a worker group that dies later resumes after that epoch (without the wait, a
group dying within Ray Train's polling interval of a report would lose it). When the objective
returns, every rank reports the same :func:`~paretune.search.tune.final_result`, the one the
driver's searcher records, as for a one-worker trial.

Failures: Ray Train restarts the whole worker group from the latest checkpoint, up to
``max_failures`` times (``FailureConfig``); then ``fit`` raises here and the Tune trial fails
(the executor gives Tune no retries of its own for these trials). The Train run is named after
the Optuna trial and the Tune trial, in the Ray experiment's folder, so a Tune trial started
again by a resumed experiment finds the run and continues from its last checkpoint.

This module imports Ray (Ray Train's torch parts, and so torch, only inside the Tune function)
and is only imported lazily, by the Ray executor.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import ray
import ray.train
from paretune.search.executors._ray_channel import find_channel
from paretune.search.executors._ray_trainable import (
    TRIAL_NUMBER_KEY,
    _objective_of,
    epoch_result,
    final_result,
    objective_kwargs,
)
from paretune.search.study._outcome import ObjectiveFactory, to_outcome
from ray import tune

__all__ = [
    "VERDICT_TIMEOUT_S",
    "require_train_v2",
    "run_data_parallel_trial",
    "torch_backend",
    "train_worker",
]

logger = logging.getLogger(__name__)

# How long rank 0 waits for the driver's scheduler to see a reported epoch before it goes on
# without its verdict (a stop asked later is then read after the next epoch).
VERDICT_TIMEOUT_S = 300.0


def require_train_v2() -> None:
    """Raise RuntimeError unless this Ray runs Ray Train V2, which data-parallel trials need.

    (Ray Train V2 is the default in recent Ray; from Ray 2.43 it is turned on with the
    environment variable ``RAY_TRAIN_V2_ENABLED=1``.)
    """
    try:
        from ray.train.v2._internal.constants import is_v2_enabled
        from ray.tune.integration.ray_train import TuneReportCallback  # noqa: F401
    except ImportError:
        enabled = False
    else:
        enabled = is_v2_enabled()
    if not enabled:
        raise RuntimeError(
            "Data-parallel trials on Ray (workers_per_trial > 1) run on Ray Train V2, which "
            f"this Ray ({ray.__version__}) does not run: use a Ray where it is on (the "
            "default in recent Ray; RAY_TRAIN_V2_ENABLED=1 from Ray 2.43)."
        )


def torch_backend(gpus_per_worker: float) -> str:
    """The ``torch.distributed`` backend for workers with ``gpus_per_worker`` GPUs each.

    NCCL needs one whole GPU per rank; workers sharing a GPU, or on CPUs, use gloo.

    Examples:
        >>> torch_backend(1), torch_backend(2), torch_backend(0.5), torch_backend(0)
        ('nccl', 'nccl', 'gloo', 'gloo')
    """
    return "nccl" if gpus_per_worker >= 1 else "gloo"


def run_data_parallel_trial(
    config: dict[str, Any],
    *,
    objective_factory: ObjectiveFactory,
    channel_name: str,
    workers: int,
    gpus_per_worker: float,
    cpus_per_worker: int,
    gpu_fraction: float | None,
    storage_path: str,
    max_failures: int,
) -> None:
    """Train one trial on ``workers`` Ray Train workers (the function given to ``tune.Tuner``).

    Args:
        config: The sampled parameters (the searcher's suggestion).
        objective_factory: Builds the objective in each worker.
        channel_name: Name of the driver's :class:`TrialChannel`.
        workers: Workers (ranks) of the trial.
        gpus_per_worker: GPUs each worker reserves (0: CPU only).
        cpus_per_worker: CPUs each worker reserves.
        gpu_fraction: Each worker's share of its GPU when it is less than a whole one.
        storage_path: Where the Train runs keep their checkpoints (shared storage on a
            cluster).
        max_failures: Restarts of the worker group, each from the latest checkpoint.
    """
    from ray.train import (
        CheckpointConfig,
        FailureConfig,
        LoggingConfig,
        RunConfig,
        ScalingConfig,
    )
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    trial_id = tune.get_context().get_trial_id()
    resources: dict[str, float] = {"CPU": float(cpus_per_worker)}
    if gpus_per_worker:
        resources["GPU"] = float(gpus_per_worker)
    trainer = TorchTrainer(
        _WorkerLoop(
            objective_factory=objective_factory,
            channel_name=channel_name,
            gpu_fraction=gpu_fraction,
        ),
        train_loop_config={"params": dict(config), "trial_id": trial_id},
        scaling_config=ScalingConfig(
            num_workers=workers, use_gpu=gpus_per_worker > 0, resources_per_worker=resources
        ),
        torch_config=TorchConfig(backend=torch_backend(gpus_per_worker)),
        # (Ray's stubs describe Train V1's RunConfig; Train V2's takes logging_config and
        # TuneReportCallback.)
        run_config=RunConfig(  # type: ignore[call-arg]
            name=f"trial-{config.get(TRIAL_NUMBER_KEY, 'x')}-{trial_id}",
            storage_path=storage_path,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            # An INFO line per report and per checkpoint would drown the driver's console.
            logging_config=LoggingConfig(log_level="WARNING"),
            callbacks=[TuneReportCallback()],  # type: ignore[no-untyped-call,list-item]
        ),
    )
    try:
        trainer.fit()
    except Exception as error:
        # A worker noted its own exception; a worker that died (or a controller error) did not.
        channel = find_channel(channel_name)
        if ray.get(channel.last_error.remote(trial_id)) is None:
            ray.get(channel.note_error.remote(trial_id, f"{type(error).__name__}: {error}"))
        raise


class _WorkerLoop:
    """:func:`train_worker` with the run's settings bound (picklable, with one ``config``).

    Ray Train calls its ``train_loop_per_worker`` with the ``train_loop_config`` when the
    function takes one argument.
    """

    def __init__(
        self,
        *,
        objective_factory: ObjectiveFactory,
        channel_name: str,
        gpu_fraction: float | None,
    ) -> None:
        self.objective_factory = objective_factory
        self.channel_name = channel_name
        self.gpu_fraction = gpu_fraction

    def __call__(self, config: dict[str, Any]) -> None:
        train_worker(
            config,
            objective_factory=self.objective_factory,
            channel_name=self.channel_name,
            gpu_fraction=self.gpu_fraction,
        )


def train_worker(
    config: Mapping[str, Any],
    *,
    objective_factory: ObjectiveFactory,
    channel_name: str,
    gpu_fraction: float | None,
) -> None:
    """Train the trial's share on one Ray Train worker (every rank runs this).

    Args:
        config: ``{"params": the sampled parameters, "trial_id": the Tune trial id}``.
        objective_factory: Builds the objective in this worker (once per process).
        channel_name: Name of the driver's :class:`TrialChannel`.
        gpu_fraction: This worker's share of its GPU when it is less than a whole one; passed
            to the objective as ``gpu_memory_fraction``.
    """
    rank = ray.train.get_context().get_world_rank()
    trial_id = str(config["trial_id"])
    params = {k: v for k, v in config["params"].items() if k != TRIAL_NUMBER_KEY}
    channel = find_channel(channel_name)
    checkpoint_dir = tempfile.mkdtemp(prefix="paretune-trial-")
    try:
        restored = ray.train.get_checkpoint()
        if restored is not None:
            restored.to_directory(checkpoint_dir)

        def report(epoch: int, metrics: Mapping[str, float]) -> bool:
            checkpoint = None
            if rank == 0 and os.listdir(checkpoint_dir):
                checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir)
            ray.train.report(epoch_result(epoch, metrics), checkpoint=checkpoint)
            if rank != 0:
                return False  # the trainer takes rank 0's answer
            _await_seen(channel, trial_id, epoch)
            return ray.get(channel.stop_requested.remote(trial_id)) is not None

        try:
            objective = _objective_of(objective_factory)
            kwargs = objective_kwargs(
                objective,
                checkpoint_dir=checkpoint_dir,
                gpu_fraction=gpu_fraction,
                gpu_key="gpus_per_worker",
            )
            outcome = to_outcome(objective(params, report, **kwargs))
        except Exception as error:
            ray.get(channel.note_error.remote(trial_id, f"{type(error).__name__}: {error}"))
            raise
        # The same result on every rank (report is collective); Tune receives rank 0's.
        ray.train.report(final_result(outcome))
    finally:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)


def _await_seen(channel: Any, trial_id: str, epoch: int) -> None:
    """Wait until the driver's scheduler has seen ``epoch`` of the trial (or time runs out)."""
    deadline = time.monotonic() + VERDICT_TIMEOUT_S
    delay = 0.02
    while ray.get(channel.seen.remote(trial_id)) < epoch:
        if time.monotonic() >= deadline:
            logger.warning(
                "trial %s: the scheduler has not seen epoch %d after %.0f s; going on",
                trial_id,
                epoch,
                VERDICT_TIMEOUT_S,
            )
            return
        time.sleep(delay)
        delay = min(2 * delay, 0.5)
