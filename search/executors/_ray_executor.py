"""Run a study on Ray Tune: the sampler in the driver, trainers in Ray workers, one Optuna study.

:func:`run_ray` is the Ray counterpart of :func:`~paretune.search.run_local`. Both go through
the same ask -> suggest -> train -> record path, so a study can be run locally, then on a
cluster, then locally again, and every result lands in the one Optuna study:

* sampling is Ray Tune's ``OptunaSearch`` over the study (``_ray_searcher.py``);
* each trial runs the objective in a Ray worker with ``report`` bound to ``tune.report``
  (``_ray_trainable.py``) and the trainer's checkpoint attached to every epoch;
* the pruner runs as a Ray ``TrialScheduler`` (``_ray_scheduler.py``).

Ray is imported only when :func:`run_ray` is called (``import paretune.search`` stays light).
"""

from __future__ import annotations

import functools
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paretune.search.executors._run_state import Front, RunState, TrialCounts, check_run_args
from paretune.search.executors._summary import StopReason
from paretune.spaces import bad_parameter, check_int, check_number

if TYPE_CHECKING:
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
    value = check_number(
        gpus_per_trial, name="gpus_per_trial", owner="run_ray", minimum=0, what="a float >= 0"
    )
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
        "gpus_per_trial",
        "run_ray",
        "0, a whole number, or a fraction that divides 1 (0.5, 0.25, 0.2, ...)",
        gpus_per_trial,
    )


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
) -> RunSummary:
    """Run the study on Ray Tune until it holds ``n_trials`` finished trials.

    Without ``address`` (and with no Ray started in this process) a local Ray is started and
    stopped again at the end; with one (``"auto"``, ``"HOST:PORT"``) the run joins that
    cluster. A Ray already initialized in this process is used as it is.

    The Ray experiment lives in ``storage_path/<study name>`` (default ``runs/ray`` under the
    working directory; on several nodes it must be shared storage, NFS or ``s3://...``). When
    an interrupted experiment is found there it is resumed first (Ray Tune's restore: running
    trials continue from their last epoch); results already in the Optuna storage are never
    recorded twice. Then new trials start until the study holds ``n_trials`` finished
    (COMPLETE + PRUNED) trials.

    Args:
        spec: The study (its storage must be reachable from the driver).
        objective_factory: Picklable callable building the objective in each worker.
        n_trials: Finished trials the study should hold at the end.
        address: Ray cluster to join, or None for a local Ray.
        gpus_per_trial: GPUs per trial: 0, a whole number, or a fraction dividing 1 (0.25:
            four trials share a GPU, each capped at a quarter of its memory).
        cpus_per_trial: CPUs reserved per trial.
        max_concurrent: Most trials running at once (None: as many as resources allow).
        storage_path: Where Ray Tune keeps its experiment (shared storage on a cluster).
        max_failures: Retries of a trial whose worker failed, each resuming from the last
            epoch checkpoint; then the trial is recorded FAIL with the error.
        timeout: Seconds after which no new trial starts (running trials finish).

    Returns:
        The :class:`~paretune.search.RunSummary` of the study after the run.

    Raises:
        ValueError: A bad argument, or an unknown pruner or pruner option.
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
    fraction = gpu_share(gpus_per_trial)
    if not callable(objective_factory):
        raise ValueError(
            "The 'objective_factory' parameter of run_ray must be a callable that builds the "
            f"objective. Got {objective_factory!r} instead."
        )

    import ray
    from paretune.search.executors._ray_channel import open_channel
    from paretune.search.executors._ray_searcher import StudySearcher
    from paretune.search.executors._ray_trainable import run_trial
    from paretune.search.pruning._ray_scheduler import make_scheduler
    from paretune.search.study._open import open_study, recover_interrupted
    from ray import tune

    run = RunState(spec=spec, n_trials=n_trials)
    channel_name = f"paretune-channel:{spec.name}"
    make_scheduler(spec, channel_name=channel_name)  # bad pruner settings fail before Ray starts
    study = open_study(spec)
    root = _experiment_root(storage_path)
    path = f"{root.rstrip('/')}/{spec.name}"
    if _counts(study).done >= n_trials:
        recovered = tuple(recover_interrupted(study))
        return _summary(run, study, recovered=recovered)
    restorable = tune.Tuner.can_restore(path)

    own_ray = not ray.is_initialized()
    if own_ray:
        ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False)
    # The driver holds the channel actor for the whole run (an actor with no handle left is
    # destroyed, even a named one).
    channel = open_channel(channel_name)
    try:
        resources: dict[str, float] = {"cpu": float(cpus_per_trial)}
        if gpus_per_trial:
            resources["gpu"] = float(gpus_per_trial)
        trainable = tune.with_resources(
            functools.partial(
                run_trial,
                objective_factory=objective_factory,
                channel_name=channel_name,
                gpu_fraction=fraction,
            ),
            resources,
        )
        interrupted = False
        if restorable:
            logger.info("resuming the Ray Tune experiment in %s", path)
            tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True)
            with CtrlCWatch() as watch:
                tuner.fit()
            interrupted = watch.fired
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
                max_failed_trials=n_trials,
            )
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    scheduler=make_scheduler(spec, channel_name=channel_name),
                    num_samples=-1,
                    max_concurrent_trials=max_concurrent,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=spec.name,
                    storage_path=root,
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    verbose=0,
                ),
            )
            with CtrlCWatch() as watch:
                tuner.fit()
            # The searcher stops starting trials only at a stop condition, so a run that ended
            # before any held was interrupted too (where the watch cannot see the signal).
            reason = _stop_reason(run, study, recovered=recovered, timeout=timeout)
            interrupted = watch.fired or reason is None
    finally:
        del channel
        if own_ray:
            ray.shutdown()
    if interrupted:
        raise KeyboardInterrupt(
            f"the Ray run of study {spec.name!r} was interrupted; its experiment is saved in "
            f"{path} and running the same command again resumes it"
        )
    return _summary(run, study, recovered=recovered, timeout=timeout)


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
    run: RunState, study: optuna.Study, *, recovered: tuple[int, ...], timeout: float | None
) -> StopReason | None:
    """Which stop condition of the run holds now (None: none, the run was cut short)."""
    from optuna.trial import TrialState
    from paretune.search.study._budget import epochs_spent

    trials = study.get_trials(deepcopy=False)
    failed_now = sum(t.state == TrialState.FAIL for t in _ran(trials, run, recovered))
    return run.stop_reason(
        done=TrialCounts.of(trials).done,
        epochs_spent=epochs_spent(trials),
        # the searcher gives up after n_trials failures in a run
        failing=failed_now >= run.n_trials,
        timed_out=timeout is not None and run.elapsed_s() >= timeout,
    )


def _summary(
    run: RunState,
    study: optuna.Study,
    *,
    recovered: tuple[int, ...],
    timeout: float | None = None,
) -> RunSummary:
    from paretune.search.study._budget import epochs_spent

    trials = study.get_trials(deepcopy=False)
    counts = TrialCounts.of(trials)
    ran = len(_ran(trials, run, recovered))
    if ran == 0 and counts.done >= run.n_trials:
        reason = StopReason.ALREADY_DONE
    else:
        reason = (
            _stop_reason(run, study, recovered=recovered, timeout=timeout) or StopReason.N_TRIALS
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
    )
