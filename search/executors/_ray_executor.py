"""Run a study on Ray Tune: the sampler in the driver, trainers in Ray workers, one Optuna study.

:func:`run_ray` is the Ray counterpart of :func:`~paretune.search.run_local`. Both go through
the same ask -> suggest -> train -> record path, so a study can be run locally, then on a
cluster, then locally again, and every result lands in the one Optuna study:

* sampling is Ray Tune's ``OptunaSearch`` over the study (``_ray_searcher.py``);
* each trial runs the objective in a Ray worker with ``report`` bound to ``tune.report``
  (``_ray_trainable.py``) and the trainer's checkpoint attached to every epoch;
* the pruner runs as a Ray ``TrialScheduler`` (``_ray_scheduler.py``);
* with ``workers_per_trial > 1`` each trial is a Ray Train run of that many workers, started
  by the Tune function ``_ray_train.py`` (data-parallel trials).

Ray is imported only when :func:`run_ray` is called (``import paretune.search`` stays light).
"""

from __future__ import annotations

import functools
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paretune.search.executors._callbacks import TrialCallback, TrialCallbacks, check_callbacks
from paretune.search.executors._counters import MAX_CONSECUTIVE_FAILURES
from paretune.search.executors._ray_address import check_reachable
from paretune.search.executors._run_state import Front, RunState, TrialCounts, check_run_args
from paretune.search.executors._summary import StopReason
from paretune.spaces import bad_parameter, check_int, check_number

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import optuna
    from optuna.trial import FrozenTrial
    from paretune.search.executors._summary import RunSummary
    from paretune.search.study._outcome import ObjectiveFactory
    from paretune.search.study._spec import StudySpec

__all__ = ["gpu_share", "run_ray"]

logger = logging.getLogger(__name__)


def gpu_share(gpus_per_trial: float) -> float | None:
    """Check a per-trial GPU request; return the memory fraction each trial may use.

    A trial gets whole GPUs (an int >= 1: no cap, None) or a fraction that divides one GPU
    evenly (1/2, 1/4, ...: that many trials share a GPU, each capped at the fraction). Zero
    means CPU only (None).

    Raises:
        ValueError: In the scikit-learn wording.

    Examples:
        >>> gpu_share(0.25), gpu_share(0), gpu_share(2)
        (0.25, None, None)
        >>> gpu_share(0.3)
        Traceback (most recent call last):
        ...
        ValueError: The 'gpus_per_trial' parameter of run_ray must be 0, a whole number, or a \
fraction that divides 1 (0.5, 0.25, 0.2, ...). Got 0.3 instead.
    """
    return _gpu_share(gpus_per_trial, name="gpus_per_trial")


def _gpu_share(gpus: float, *, name: str) -> float | None:
    value = check_number(gpus, name=name, owner="run_ray", minimum=0, what="a float >= 0")
    if value == 0:
        return None
    if value >= 1:
        if float(value).is_integer():
            return None
    else:
        per_gpu = 1.0 / value
        if math.isclose(per_gpu, round(per_gpu), rel_tol=0, abs_tol=1e-9):
            return float(value)
    raise bad_parameter(
        name,
        "run_ray",
        "0, a whole number, or a fraction that divides 1 (0.5, 0.25, 0.2, ...)",
        gpus,
    )


def _check_workers(
    *,
    workers_per_trial: int,
    gpus_per_worker: float,
    cpus_per_worker: int,
    gpus_per_trial: float,
    cpus_per_trial: float,
) -> None:
    """Check the data-parallel arguments (in the scikit-learn wording)."""
    check_int(workers_per_trial, name="workers_per_trial", owner="run_ray", minimum=1)
    check_int(cpus_per_worker, name="cpus_per_worker", owner="run_ray", minimum=1)
    _gpu_share(gpus_per_worker, name="gpus_per_worker")
    if workers_per_trial > 1:
        # The workers reserve a trial's resources; a per-trial size would be ignored.
        for name, value, default in (
            ("gpus_per_trial", gpus_per_trial, 0),
            ("cpus_per_trial", cpus_per_trial, 1),
        ):
            if value != default:
                per_worker = name.replace("trial", "worker")
                raise bad_parameter(
                    name,
                    "run_ray",
                    f"{default} (its default) when workers_per_trial > 1 "
                    f"(workers_per_trial={workers_per_trial}); size each worker with "
                    f"{per_worker}",
                    value,
                )


def trial_demand(
    *,
    workers_per_trial: int,
    gpus_per_worker: float,
    cpus_per_worker: int,
    gpus_per_trial: float,
    cpus_per_trial: float,
) -> tuple[float, float]:
    """The CPUs and GPUs one trial reserves while it trains.

    Examples:
        >>> trial_demand(workers_per_trial=4, gpus_per_worker=0.5, cpus_per_worker=2,
        ...              gpus_per_trial=0, cpus_per_trial=1)
        (8.0, 2.0)
        >>> trial_demand(workers_per_trial=1, gpus_per_worker=0, cpus_per_worker=1,
        ...              gpus_per_trial=0.25, cpus_per_trial=2)
        (2.0, 0.25)
    """
    if workers_per_trial > 1:
        return (
            float(workers_per_trial * cpus_per_worker),
            float(workers_per_trial * gpus_per_worker),
        )
    return float(cpus_per_trial), float(gpus_per_trial)


def trials_that_fit(
    cluster: Mapping[str, float], *, cpus: float, gpus: float, workers_per_trial: int
) -> int:
    """How many trials needing ``cpus`` and ``gpus`` each the cluster can run at once.

    Raises ValueError when not even one fits, naming the numbers.

    Examples:
        >>> trials_that_fit({"CPU": 16.0, "GPU": 4.0}, cpus=4, gpus=2, workers_per_trial=2)
        2
        >>> trials_that_fit({"CPU": 4.0}, cpus=2, gpus=2, workers_per_trial=2)
        Traceback (most recent call last):
        ...
        ValueError: A trial of 2 workers needs 2 GPUs (2 x 1 per worker); the Ray cluster \
has 0 GPUs.
    """
    fits: list[int] = []
    for resource, need in (("CPU", cpus), ("GPU", gpus)):
        if need <= 0:
            continue
        have = float(cluster.get(resource, 0.0))
        count = math.floor(have / need + 1e-9)
        if count < 1:
            if workers_per_trial > 1:
                what = (
                    f"A trial of {workers_per_trial} workers needs {_amount(need, resource)} "
                    f"({workers_per_trial} x {need / workers_per_trial:g} per worker)"
                )
            else:
                what = f"A trial needs {_amount(need, resource)}"
            raise ValueError(f"{what}; the Ray cluster has {_amount(have, resource)}.")
        fits.append(count)
    return min(fits)


def _amount(count: float, resource: str) -> str:
    return f"{count:g} {resource}" + ("" if count == 1 else "s")


def _check_args(
    *,
    n_trials: int,
    cpus_per_trial: float,
    max_concurrent: int | None,
    max_failures: int,
    timeout: float | None,
    address: str | None,
) -> None:
    check_run_args(owner="run_ray", n_trials=n_trials, timeout=timeout)
    check_number(
        cpus_per_trial,
        name="cpus_per_trial",
        owner="run_ray",
        minimum=0,
        strict=True,
        what="a float > 0",
    )
    if max_concurrent is not None:
        check_int(
            max_concurrent,
            name="max_concurrent",
            owner="run_ray",
            minimum=1,
            what="an int >= 1 or None",
        )
    check_int(max_failures, name="max_failures", owner="run_ray", minimum=0)
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise bad_parameter(
            "address", "run_ray", "'auto', 'HOST:PORT', 'ray://HOST:PORT' or None", address
        )


def _experiment_root(storage_path: str | os.PathLike[str] | None) -> str:
    """Where Ray Tune keeps experiments: a URI as given, a local path made absolute."""
    if storage_path is None:
        return str(Path("runs", "ray").resolve())
    text = os.fspath(storage_path)
    return text if "://" in text else str(Path(text).expanduser().resolve())


class CtrlCWatch:
    """Tells whether Ray Tune was stopped by Ctrl-C (SIGINT or SIGUSR1) during one ``fit``.

    For a fit, Ray Tune installs its own SIGINT handler over the one it finds. On the first
    signal it puts that one back and ends the run after saving the experiment; after a normal
    end it leaves its own in place. So the watch installs a handler of its own before the
    fit: finding it in place again afterwards means that Tune received the signal.

    The trials' last results cannot tell: a trial whose last epoch arrived while Tune shut
    down can be recorded finished without Tune's ``done`` flag, so a finished resume looked
    interrupted. Outside the main thread no handler can be installed (Tune installs none
    either, and Ctrl-C reaches the main thread as ``KeyboardInterrupt``): ``fired`` stays
    False.
    """

    def __init__(self) -> None:
        self.fired = False
        self._before: Any = None
        self._installed = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        # Reached only for a second Ctrl-C, after Tune's handler gave the signal back: what
        # the handler found before the fit would have done.
        import signal

        if callable(self._before):
            self._before(signum, frame)
        elif self._before != signal.SIG_IGN:
            raise KeyboardInterrupt

    def __enter__(self) -> CtrlCWatch:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._before = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if not self._installed:
            return
        self.fired = signal.getsignal(signal.SIGINT) == self._on_sigint
        signal.signal(signal.SIGINT, self._before)


def run_ray(
    spec: StudySpec,
    *,
    objective_factory: ObjectiveFactory,
    n_trials: int,
    address: str | None = None,
    gpus_per_trial: float = 0,
    cpus_per_trial: float = 1,
    max_concurrent: int | None = None,
    storage_path: str | os.PathLike[str] | None = None,
    max_failures: int = 2,
    timeout: float | None = None,
    workers_per_trial: int = 1,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: int = 1,
    fuse: int = 1,
    callbacks: Sequence[TrialCallback] = (),
) -> RunSummary:
    """Run the study on Ray Tune until it holds ``n_trials`` finished trials.

    Without ``address`` (and with no Ray started in this process) Ray's own rule applies: the
    cluster in ``RAY_ADDRESS``, else the latest one ``ray start`` began on this machine, else
    a local Ray started for the run and stopped again at the end. With one (``"auto"``,
    ``"HOST:PORT"``) the run joins that cluster. A Ray already initialized in this process
    is used as it is.

    The Ray experiment lives in ``storage_path/<study name>`` (default ``runs/ray`` under the
    working directory; on several nodes it must be shared storage, NFS or ``s3://...``). When
    an interrupted experiment is found there it is resumed first (Ray Tune's restore: running
    trials continue from their last epoch); results already in the Optuna storage are never
    recorded twice. Then new trials start until the study holds ``n_trials`` finished
    (COMPLETE + PRUNED) trials.

    With ``workers_per_trial > 1`` each trial trains data-parallel on that many Ray Train
    workers, each reserving ``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs (the Tune
    trial itself reserves next to nothing: one byte of memory). Tune is then told to run at
    most as many trials at once as the cluster can place the workers of (and at most
    ``max_concurrent``), so no trial waits for workers that cannot be placed; an autoscaling
    cluster grows no further than its size at the start allows. A failed worker restarts the
    trial's worker group from its last checkpoint, up to ``max_failures`` times (Ray Train's
    retries; Tune does not retry these trials on top), then the trial is recorded FAIL.

    With ``fuse = K`` each Tune trial is a fused group: the searcher asks up to K Optuna
    trials at once and one worker trains them together (the objective's ``run_group``,
    fused where compatible, see ``paretune.trainers.train_fused``); ``gpus_per_trial`` and
    ``cpus_per_trial`` are then the group's. Each member reports its epochs, is decided on
    by the pruner and stopped alone, and is recorded as its own trial. A retried group trains
    again from its first epoch (groups keep no checkpoint).

    Right after Ray is up, a trial that needs more CPUs or GPUs than the cluster has is
    refused, before any trial starts.

    Args:
        spec: The study (its storage must be reachable from the driver).
        objective_factory: Picklable callable building the objective in each worker.
        n_trials: Finished trials the study should hold at the end.
        address: Ray cluster to join, or None for Ray's default (above).
        gpus_per_trial: GPUs per trial: 0, a whole number, or a fraction dividing 1 (0.25:
            four trials share a GPU, each capped at a quarter of its memory).
        cpus_per_trial: CPUs reserved per trial.
        max_concurrent: Most trials running at once (None: as many as resources allow).
        storage_path: Where Ray Tune keeps its experiment (shared storage on a cluster).
        max_failures: Retries of a trial whose worker failed, each resuming from the last
            epoch checkpoint; then the trial is recorded FAIL with the error.
        timeout: Seconds after which no new trial starts (running trials finish).
        workers_per_trial: Workers (ranks) training each trial data-parallel; 1 trains a
            trial in one Tune worker.
        gpus_per_worker: GPUs per worker of a data-parallel trial: 0, a whole number (then
            the workers talk over NCCL) or a fraction dividing 1 (gloo; each worker's memory
            capped at the fraction).
        cpus_per_worker: CPUs per worker of a data-parallel trial.
        fuse: Trials each Tune trial trains at once as a fused group (1: one trial each).
        callbacks: Optuna-style ``callback(study, frozen_trial)`` callables, each called once
            for every trial this run ends (COMPLETE, PRUNED or FAIL), in the driver: by the
            study's searcher right after recording the trial (for the trials of a resumed
            experiment, when that experiment has ended). A callback that raises fails the
            run, as in Optuna: no trial starts after it, the running ones finish and are
            recorded, then the error is raised.

    Returns:
        The :class:`~paretune.search.RunSummary` of the study after the run.

    Raises:
        ValueError: A bad argument, an unknown pruner or pruner option, or a trial larger
            than the Ray cluster.
        RuntimeError: Data-parallel trials on a Ray without Ray Train V2.
        KeyboardInterrupt: The driver was interrupted; running the same call again resumes.
    """
    _check_args(
        n_trials=n_trials,
        cpus_per_trial=cpus_per_trial,
        max_concurrent=max_concurrent,
        max_failures=max_failures,
        timeout=timeout,
        address=address,
    )
    gpu_share(gpus_per_trial)
    check_int(fuse, name="fuse", owner="run_ray", minimum=1)
    if fuse > 1 and workers_per_trial > 1:
        raise ValueError(
            "The 'fuse' parameter of run_ray must be 1 when workers_per_trial > 1: a fused "
            f"group trains in one worker. Got fuse={fuse}, workers_per_trial={workers_per_trial}."
        )
    _check_workers(
        workers_per_trial=workers_per_trial,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
        gpus_per_trial=gpus_per_trial,
        cpus_per_trial=cpus_per_trial,
    )
    if not callable(objective_factory):
        raise ValueError(
            "The 'objective_factory' parameter of run_ray must be a callable that builds the "
            f"objective. Got {objective_factory!r} instead."
        )
    callbacks = check_callbacks(callbacks, owner="run_ray")

    import ray
    from optuna.trial import TrialState
    from paretune.search.executors._ray_channel import open_channel
    from paretune.search.executors._ray_searcher import StudySearcher
    from paretune.search.pruning._ray_scheduler import make_scheduler
    from paretune.search.study._open import open_study, recover_interrupted
    from paretune.search.study._storage import storage_file_stem
    from ray import tune

    if workers_per_trial > 1:
        from paretune.search.executors._ray_train import require_train_v2

        require_train_v2()
    run = RunState(spec=spec, n_trials=n_trials)
    channel_name = f"paretune-channel:{spec.name}"
    make_scheduler(spec, channel_name=channel_name)  # bad pruner settings fail before Ray starts
    if not ray.is_initialized():  # ray.init retries an address nobody answers for minutes
        check_reachable(address)
    study = open_study(spec)
    root = _experiment_root(storage_path)
    folder = storage_file_stem(spec.name)  # a long study name still fits the file system
    path = f"{root.rstrip('/')}/{folder}"
    if _counts(study).done >= n_trials:
        recovered = tuple(recover_interrupted(study))
        return _summary(run, study, recovered=recovered)
    # A saved experiment resumes the trials it left RUNNING. When none is left (another run,
    # of either backend, recovered them as interrupted and went on), it is stale: a new one
    # starts in its folder (restoring it resumed trials Optuna had finished, and hung).
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    restorable = bool(running) and tune.Tuner.can_restore(path)

    own_ray = not ray.is_initialized()
    if own_ray:
        ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False)
    # The driver holds the channel actor for the whole run (an actor with no handle left is
    # destroyed, even a named one).
    channel = open_channel(channel_name)
    try:
        trainable, concurrent, tune_failures = _trials_plan(
            cluster=ray.cluster_resources(),  # type: ignore[no-untyped-call]
            objective_factory=objective_factory,
            channel_name=channel_name,
            storage_path=f"{path}/train",
            workers_per_trial=workers_per_trial,
            gpus_per_worker=gpus_per_worker,
            cpus_per_worker=cpus_per_worker,
            gpus_per_trial=gpus_per_trial,
            cpus_per_trial=cpus_per_trial,
            max_concurrent=max_concurrent,
            max_failures=max_failures,
            fuse=fuse,
        )
        interrupted = failing = False
        if restorable:
            logger.info("resuming the Ray Tune experiment in %s", path)
            tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True)
            ended = TrialCallbacks(callbacks, study)  # the restored searcher has none
            with CtrlCWatch() as watch:
                tuner.fit()
            interrupted = watch.fired
            ended.poll()
        # Trials a dead driver had asked for but not yet checkpointed in its experiment:
        # FAIL "interrupted", their parameters queued again (as run_local does).
        recovered = tuple(recover_interrupted(study))
        remaining = None if timeout is None else timeout - run.elapsed_s()
        if (
            not interrupted
            and _counts(study).done < n_trials
            and (remaining is None or remaining > 0)
        ):
            searcher = StudySearcher(
                spec=spec,
                n_trials=n_trials,
                timeout=remaining,
                channel_name=channel_name,
                max_failed_trials=MAX_CONSECUTIVE_FAILURES,
                fuse=fuse,
                callbacks=callbacks,
            )
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    scheduler=make_scheduler(
                        spec, channel_name=channel_name, note_epochs=workers_per_trial > 1
                    ),
                    num_samples=-1,
                    max_concurrent_trials=concurrent,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=folder,
                    storage_path=root,
                    failure_config=tune.FailureConfig(max_failures=tune_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    verbose=0,
                ),
            )
            with CtrlCWatch() as watch:
                tuner.fit()
            if searcher.callback_error is not None:
                raise searcher.callback_error
            # The searcher stops starting trials only at a stop condition, so a run that ended
            # before any held was interrupted too (where the watch cannot see the signal).
            failing = searcher.failing
            reason = _stop_reason(run, study, recovered=recovered, timeout=timeout, failing=failing)
            interrupted = watch.fired or reason is None
    finally:
        del channel
        if own_ray:
            ray.shutdown()
    if interrupted:
        raise KeyboardInterrupt(
            f"the Ray run of study {spec.name!r} was interrupted; its running trials stay "
            f"RUNNING in the experiment saved in {path}, and running the same command again "
            "resumes them"
        )
    return _summary(run, study, recovered=recovered, timeout=timeout, failing=failing)


def _trials_plan(
    *,
    cluster: Mapping[str, float],
    objective_factory: ObjectiveFactory,
    channel_name: str,
    storage_path: str,
    workers_per_trial: int,
    gpus_per_worker: float,
    cpus_per_worker: int,
    gpus_per_trial: float,
    cpus_per_trial: float,
    max_concurrent: int | None,
    max_failures: int,
    fuse: int = 1,
) -> tuple[Any, int | None, int]:
    """Tune's trainable (with its resources), its concurrency cap and its retries.

    Raises ValueError for a trial larger than the cluster. A one-worker trial is a Tune
    function reserving the trial's resources. A data-parallel trial is a Tune function that
    starts a Ray Train run whose controller (0 CPUs) and workers reserve their own: the Tune
    trial needs a non-empty reservation, so it takes one byte of memory (a CPU share would be
    taken from the CPUs the workers are counted against). Tune, seeing only that, would start
    trials whose workers cannot be placed: it runs at most as many as the cluster fits. Ray
    Train retries their workers, so Tune does not retry on top.
    """
    cpus, gpus = trial_demand(
        workers_per_trial=workers_per_trial,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
        gpus_per_trial=gpus_per_trial,
        cpus_per_trial=cpus_per_trial,
    )
    fit = trials_that_fit(cluster, cpus=cpus, gpus=gpus, workers_per_trial=workers_per_trial)
    from ray import tune

    if workers_per_trial == 1:
        from paretune.search.executors._ray_trainable import run_group_trial, run_trial

        resources = {"cpu": cpus} | ({"gpu": gpus} if gpus else {})
        trainable = functools.partial(
            run_trial if fuse == 1 else run_group_trial,
            objective_factory=objective_factory,
            channel_name=channel_name,
            gpu_fraction=gpu_share(gpus_per_trial),
        )
        return tune.with_resources(trainable, resources), max_concurrent, max_failures

    from paretune.search.executors._ray_train import run_data_parallel_trial

    trainable = functools.partial(
        run_data_parallel_trial,
        objective_factory=objective_factory,
        channel_name=channel_name,
        workers=workers_per_trial,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
        gpu_fraction=_gpu_share(gpus_per_worker, name="gpus_per_worker"),
        storage_path=storage_path,
        max_failures=max_failures,
    )
    concurrent = fit if max_concurrent is None else min(max_concurrent, fit)
    return tune.with_resources(trainable, {"cpu": 0, "memory": 1}), concurrent, 0


def _counts(study: optuna.Study) -> TrialCounts:
    return TrialCounts.of(study.get_trials(deepcopy=False))


def _ran(trials: list[FrozenTrial], run: RunState, recovered: tuple[int, ...]) -> list[FrozenTrial]:
    """The trials this run finished (not those it only marked ``interrupted``)."""
    import datetime

    since = datetime.datetime.fromtimestamp(run.started)
    return [
        t
        for t in trials
        if t.datetime_complete is not None
        and t.datetime_complete >= since
        and t.number not in recovered
    ]


def _stop_reason(
    run: RunState,
    study: optuna.Study,
    *,
    recovered: tuple[int, ...],
    timeout: float | None,
    failing: bool,
) -> StopReason | None:
    """Which stop condition of the run holds now (None: none, the run was cut short).

    ``failing``: the searcher stopped after ``MAX_CONSECUTIVE_FAILURES`` failed trials in a
    row, as ``run_local`` does.
    """
    from optuna.trial import TrialState
    from paretune.search.study._budget import epochs_spent

    trials = study.get_trials(deepcopy=False)
    return run.stop_reason(
        done=TrialCounts.of(trials).done,
        epochs_spent=epochs_spent(trials),
        failing=failing,
        timed_out=timeout is not None and run.elapsed_s() >= timeout,
        # trials of other processes holding the slots left (the run waits for its own)
        running=sum(t.state == TrialState.RUNNING for t in trials),
    )


def _summary(
    run: RunState,
    study: optuna.Study,
    *,
    recovered: tuple[int, ...],
    timeout: float | None = None,
    failing: bool = False,
) -> RunSummary:
    from optuna.trial import TrialState
    from paretune.search.study._budget import epochs_spent

    trials = study.get_trials(deepcopy=False)
    counts = TrialCounts.of(trials)
    ran = len(_ran(trials, run, recovered))
    if ran == 0 and counts.done >= run.n_trials:
        reason = StopReason.ALREADY_DONE
    else:
        reason = (
            _stop_reason(run, study, recovered=recovered, timeout=timeout, failing=failing)
            or StopReason.N_TRIALS
        )
    front = Front(run.spec.directions)
    front.add_trials(trials)
    return run.summary(
        counts,
        ran=ran,
        recovered=recovered,
        front_size=front.size(),
        epochs_spent=epochs_spent(trials),
        stop_reason=reason,
        running=sum(t.state is TrialState.RUNNING for t in trials),
    )
