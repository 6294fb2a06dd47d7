"""The local executor: ask -> suggest -> objective -> tell, in this process or N processes.

``run_local`` is only a loop over Optuna's public ask/tell calls (like ``study.optimize``),
with paretune's reporter (curve + pruner) in the middle and :func:`record_result` at the end.
With ``jobs > 1`` it starts worker processes (``spawn``) that open the same storage. Every
process (these workers, other ``paretune run`` processes, other hosts) takes a trial slot from
the storage before starting a trial (:class:`~paretune.search.study._quota.TrialSlots`), so
the study ends with exactly ``n_trials`` finished trials.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from paretune.search._objectives import metric_of
from paretune.search.executors._callbacks import TrialCallback, TrialCallbacks, check_callbacks
from paretune.search.executors._counters import MAX_CONSECUTIVE_FAILURES, RunCounters
from paretune.search.executors._data_parallel import DataParallelObjective
from paretune.search.executors._interrupts import redeliver_dropped_interrupts
from paretune.search.executors._run_state import Front, RunState, TrialCounts, check_run_args
from paretune.search.executors._summary import Progress, RunSummary, StopReason
from paretune.search.executors._trial_loop import run_trials
from paretune.search.study._budget import epochs_spent
from paretune.search.study._open import open_study, session_seed
from paretune.search.study._outcome import (
    Objective,
    ObjectiveFactory,
    TrialOutcome,
)
from paretune.search.study._quota import SlotCounts, TrialSlots
from paretune.search.study._spec import StudySpec
from paretune.search.study._storage import is_parallel_safe
from paretune.spaces import check_int

if TYPE_CHECKING:
    import optuna

__all__ = ["MAX_CONSECUTIVE_FAILURES", "Objective", "ObjectiveFactory", "run_local"]

ProgressCallback = Callable[[Progress], None]

_WORKER_GRACE_S = 60.0
_POLL_S = 0.2


def _result_values(
    objectives: Sequence[str], constraints: Mapping[str, float], outcome: TrialOutcome
) -> list[float] | None:
    """Objective values of a COMPLETE, feasible outcome (None when infeasible)."""
    measurements = outcome.measurements
    for cost, limit in constraints.items():
        if float(measurements.get(cost, 0.0)) > limit:
            return None
    return [float(measurements[metric_of(o)]) for o in objectives]


def _check_args(
    n_trials: int, timeout: float | None, jobs: int, workers_per_trial: int, storage: str
) -> None:
    check_run_args(owner="run_local", n_trials=n_trials, timeout=timeout)
    check_int(jobs, name="jobs", owner="run_local", minimum=1)
    check_int(workers_per_trial, name="workers_per_trial", owner="run_local", minimum=1)
    if jobs > 1 and not is_parallel_safe(storage):
        raise ValueError(
            f"The 'jobs' parameter of run_local must be 1 with a SQLite storage ({storage}): "
            f"SQLite fails under parallel writers. Got jobs={jobs}. For several processes on "
            f"one machine use a journal file (storage='journal:///runs/NAME.log'); for "
            f"several machines use a server (storage='postgresql://USER@HOST/DB')."
        )


def _check_picklable(objective_factory: ObjectiveFactory, *, when: str) -> None:
    import pickle

    try:
        pickle.dumps(objective_factory)
    except Exception as error:  # pickling raises several types (PicklingError, AttributeError)
        raise ValueError(
            f"The 'objective_factory' parameter of run_local must be picklable when {when} "
            "(a module-level function or a functools.partial of one): each worker process "
            f"builds its own objective. Got {objective_factory!r} instead ({error})."
        ) from None


def run_local(
    spec: StudySpec,
    *,
    objective_factory: ObjectiveFactory,
    n_trials: int,
    timeout: float | None = None,
    jobs: int = 1,
    workers_per_trial: int = 1,
    fuse: int = 1,
    progress: ProgressCallback | None = None,
    callbacks: Sequence[TrialCallback] = (),
) -> RunSummary:
    """Run (or resume) the study of ``spec`` on this machine until it holds ``n_trials``.

    ``n_trials`` counts finished trials (COMPLETE + PRUNED) in the study, old ones included:
    re-running a finished study runs nothing (``stop_reason = ALREADY_DONE``), an interrupted
    one runs only what is missing, a larger ``n_trials`` extends it. FAIL trials (raising or
    diverging objectives) are recorded and do not count. Trials left RUNNING by a dead process
    are marked FAIL ``interrupted`` first and their parameters queued to run again. After
    ``MAX_CONSECUTIVE_FAILURES`` failed trials in a row the run stops
    (``stop_reason = FAILURES``): the objective is probably broken.

    Other processes and hosts may run the same study at the same time: each trial takes one
    of the ``n_trials`` slots from the storage, so together they run exactly the missing
    trials. A run whose remaining slots are all held by trials running elsewhere stops
    (``stop_reason = SLOTS_HELD``; those processes finish the study).

    Args:
        spec: The study.
        objective_factory: Builds the objective (once per worker process); it must be
            picklable when ``jobs > 1`` (a module-level function or ``functools.partial``).
            The objective (an :class:`~paretune.search.Objective`) is called as
            ``objective(params, report, checkpoint_dir)`` and returns a
            :class:`~paretune.search.TrialOutcome` (or its dict form).
        n_trials: Finished trials the study should hold.
        timeout: Stop starting trials after this many seconds.
        jobs: Worker processes. More than 1 needs a storage that takes parallel writers
            (``journal:///...`` or a database server), not SQLite.
        workers_per_trial: Data-parallel rank processes per trial. With more than 1, each
            trial runs in a :class:`~paretune.search.DataParallelObjective`: ``workers_per_trial``
            processes (``spawn``) join a ``torch.distributed`` group (gloo on the CPU, NCCL
            when there is a GPU per rank) and each builds the objective with
            ``objective_factory`` (which must then be picklable) and calls it; the objective
            trains data-parallel (``paretune.trainers.train`` does when it finds the group;
            ``Strategy.batch_size`` is the global batch). Only rank 0's reports and outcome
            reach the study, so each trial is recorded once. A rank that dies (a signal)
            restarts the trial on fresh ranks from its last epoch, twice at most; a rank that
            raises fails the trial with that error. ``jobs`` trials run at once, so the
            machine runs ``jobs * workers_per_trial`` rank processes.
        fuse: Trials asked at once and handed together to the objective's
            ``run_group(params_list, reports)`` (paretune's training objective trains the
            compatible ones as one fused model, see ``paretune.trainers.train_fused``); each
            is recorded as its own trial. 1: one trial at a time. An objective without
            ``run_group`` trains the group's trials one after the other.
        progress: Called with a :class:`Progress` after every finished trial.
        callbacks: Optuna-style ``callback(study, frozen_trial)`` callables, each called once
            for every trial this run ends (COMPLETE, PRUNED or FAIL), in this process: right
            after the trial is recorded, or with ``jobs > 1`` when this process finds it
            finished in the storage (the workers record trials; this process polls). A
            callback that raises fails the run, as in Optuna: no trial starts after it, the
            running ones are recorded, then the error is raised.

    Raises:
        ValueError: Bad arguments, ``jobs > 1`` on SQLite, or an objective factory that does
            not pickle when ``jobs > 1`` or ``workers_per_trial > 1``.
        KeyboardInterrupt: Re-raised after the running trial(s) are recorded as FAIL
            ``interrupted`` (their parameters queued); the next run resumes.

    Examples:
        >>> import tempfile
        >>> from paretune.search import OutcomeState, TrialOutcome
        >>> from paretune.spaces import FloatDistribution, StrategySpace
        >>> def objective(params, report, checkpoint_dir=None):
        ...     report(1, {"val_accuracy": params["lr"]})
        ...     return TrialOutcome(state=OutcomeState.COMPLETE, strategy=params,
        ...         measurements={"val_accuracy": params["lr"], "epochs": 1})
        >>> spec = StudySpec(name="demo", storage=f"sqlite:///{tempfile.mkdtemp()}/demo.db",
        ...     objectives=("accuracy",), sampler="random",
        ...     space=StrategySpace(params={"lr": FloatDistribution(low=0.0, high=1.0)}))
        >>> run_local(spec, objective_factory=lambda: objective, n_trials=3).done
        3
        >>> run_local(spec, objective_factory=lambda: objective, n_trials=3).stop_reason
        <StopReason.ALREADY_DONE: 'already_done'>
    """
    _check_args(n_trials, timeout, jobs, workers_per_trial, spec.storage)
    check_int(fuse, name="fuse", owner="run_local", minimum=1)
    if fuse > 1 and workers_per_trial > 1:
        raise ValueError(
            "The 'fuse' parameter of run_local must be 1 when workers_per_trial > 1: a fused "
            f"group trains in one process. Got fuse={fuse}, workers_per_trial={workers_per_trial}."
        )
    callbacks = check_callbacks(callbacks, owner="run_local")
    if jobs > 1:
        _check_picklable(objective_factory, when="jobs > 1")
    if workers_per_trial > 1:
        _check_picklable(objective_factory, when="workers_per_trial > 1")
        # every trial (in this process or in the --jobs workers) runs on its own ranks
        objective_factory = functools.partial(
            DataParallelObjective, objective_factory=objective_factory, workers=workers_per_trial
        )
    run = RunState(spec=spec, n_trials=n_trials)
    study = open_study(spec)
    slots = TrialSlots(spec=spec, study=study, n_trials=n_trials)
    slots.recover()
    ended = TrialCallbacks(callbacks, study)
    trials = study.get_trials(deepcopy=False)
    counts = TrialCounts.of(trials)
    front = Front(spec.directions)
    front.add_trials(trials)
    quota = RunCounters(counts=counts, epochs=epochs_spent(trials))

    def summary(reason: StopReason) -> RunSummary:
        # the study's own counts: other processes and hosts add trials too
        trials = study.get_trials(deepcopy=False)
        slots.close()
        return run.summary(
            TrialCounts.of(trials),
            ran=quota.ran(),
            recovered=tuple(slots.recovered),
            front_size=front.size(),
            epochs_spent=epochs_spent(trials),
            stop_reason=reason,
            running=SlotCounts.of(trials).running,
        )

    if counts.done >= n_trials:
        return summary(StopReason.ALREADY_DONE)
    # the clock starts with the first trial (like study.optimize), not while the storage opens
    deadline = None if timeout is None else time.time() + float(timeout)

    front_sizes: dict[int, int] = {}  # trials ended -> front size (computed once per trial)

    def emit() -> None:
        if progress is not None:
            ran = quota.ran()
            if ran not in front_sizes:
                front_sizes.clear()
                front_sizes[ran] = front.size()
            progress(
                run.progress(
                    quota.counts(),
                    running=quota.running(),
                    front_size=front_sizes[ran],
                    epochs_spent=quota.epochs(),
                    running_epochs=quota.running_epochs(),
                )
            )

    if jobs == 1:

        def on_trial(state: optuna.trial.TrialState, outcome: TrialOutcome | None) -> None:
            import optuna

            if state is optuna.trial.TrialState.COMPLETE and outcome is not None:
                values = _result_values(spec.objectives, spec.constraints, outcome)
                if values is not None:
                    front.add(values)
            emit()

        emit()
        reason = run_trials(
            study=study,
            spec=spec,
            objective=objective_factory(),
            quota=quota,
            slots=slots,
            deadline=deadline,
            on_trial=on_trial,
            callbacks=ended,
            on_epoch=emit,
            fuse=fuse,
        )
        return summary(reason)

    def on_change() -> None:
        _refresh_front(study, front)
        emit()
        ended.poll()

    _run_processes(
        study=study,
        spec=spec,
        objective_factory=objective_factory,
        quota=quota,
        slots=slots,
        deadline=deadline,
        jobs=jobs,
        n_existing=len(trials),
        on_change=on_change,
        on_epoch=emit,
        fuse=fuse,
    )
    now = SlotCounts.of(study.get_trials(deepcopy=False))
    held = run.stop_reason(
        done=now.done,
        epochs_spent=quota.epochs(),
        failing=quota.failing(),
        timed_out=deadline is not None and time.time() >= deadline,
        running=now.running,
    )
    return summary(held or StopReason.N_TRIALS)


def _refresh_front(study: optuna.Study, front: Front) -> None:
    """Reload the COMPLETE trials into ``front`` (workers finish trials in other processes)."""
    import optuna

    front.clear()
    front.add_trials(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _worker_main(
    spec: StudySpec,
    objective_factory: ObjectiveFactory,
    quota: RunCounters,
    n_trials: int,
    worker: int,
    n_existing: int,
    deadline: float | None,
    verbosity: int,
    fuse: int = 1,
) -> None:
    """Entry point of a worker process: open the study and run trials until the quota is met.

    The parent stops its workers with SIGINT (a Ctrl-C, or the SIGTERM it was sent), so a
    worker raises ``KeyboardInterrupt`` on it even when it was started with SIGINT ignored (a
    run started in the background, ``cmd &``, ignores it, and so would every worker, which the
    parent would then wait a minute for, each).
    """
    import signal
    import sys

    import optuna

    signal.signal(signal.SIGINT, signal.default_int_handler)
    optuna.logging.set_verbosity(verbosity)
    study = open_study(
        spec, sampler_seed=session_seed(spec.seed, n_existing=n_existing, worker=worker)
    )
    slots = TrialSlots(spec=spec, study=study, n_trials=n_trials, worker=worker)
    try:
        with redeliver_dropped_interrupts():  # the parent's Ctrl-C is not lost in a callback
            run_trials(
                study=study,
                spec=spec,
                objective=objective_factory(),
                quota=quota,
                slots=slots,
                deadline=deadline,
                on_trial=None,
                fuse=fuse,
            )
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        slots.close()


def _run_processes(
    *,
    study: optuna.Study,
    spec: StudySpec,
    objective_factory: ObjectiveFactory,
    quota: RunCounters,
    slots: TrialSlots,
    deadline: float | None,
    jobs: int,
    n_existing: int,
    on_change: Callable[[], None],
    on_epoch: Callable[[], None] | None = None,
    fuse: int = 1,
) -> None:
    """Start ``jobs`` worker processes and wait for them, calling ``on_change`` as trials end
    and ``on_epoch`` as the running trials report epochs (polling the shared quota)."""
    import optuna

    ctx = multiprocessing.get_context("spawn")
    verbosity = optuna.logging.get_verbosity()
    processes = [
        ctx.Process(
            target=_worker_main,
            args=(
                spec,
                objective_factory,
                quota,
                slots.n_trials,
                worker,
                n_existing,
                deadline,
                verbosity,
                fuse,
            ),
            name=f"paretune-worker-{worker}",
        )
        for worker in range(jobs)
    ]
    for process in processes:
        process.start()
    seen = -1
    seen_epochs = quota.running_epochs()
    try:
        while any(p.is_alive() for p in processes):
            processes[0].join(_POLL_S) if processes[0].is_alive() else time.sleep(_POLL_S)
            ran, epochs = quota.ran(), quota.running_epochs()
            if ran != seen:
                seen, seen_epochs = ran, epochs
                on_change()
            elif epochs != seen_epochs and on_epoch is not None:
                seen_epochs = epochs
                on_epoch()
    except KeyboardInterrupt:
        # Ctrl-C reaches the workers too (same process group; SIGTERM is passed on to them):
        # each records its running trial as interrupted and exits. Wait for them, then mark
        # what a worker could not record (stopped inside a storage call, or terminated) as
        # interrupted too, so no trial is left RUNNING.
        _stop_workers(processes)
        slots.recover()
        raise
    except BaseException:
        # a callback raised: no trial starts any more; the running ones end and are recorded
        quota.stop()
        for process in processes:
            process.join()
        raise
    crashed = [p for p in processes if p.exitcode not in (0, None)]
    if crashed:
        # A worker killed mid-trial left that trial RUNNING: mark it interrupted and queue it.
        recovered = slots.recover()
        codes = ", ".join(f"{p.name} exited with code {p.exitcode}" for p in crashed)
        requeued = f" Trial(s) {recovered} were interrupted and queued again." if recovered else ""
        raise RuntimeError(
            f"{codes}.{requeued} Finished trials are kept; run the study again to resume."
        )
    on_change()


def _stop_workers(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """Wait for interrupted workers to record their trials and exit (up to a minute each),
    terminate those still running, and reap them all. A further Ctrl-C while waiting does not
    leave a worker unreaped."""
    for process in processes:
        while True:
            try:
                process.join(_WORKER_GRACE_S)
                if process.is_alive():
                    process.terminate()
                    process.join()
                break
            except KeyboardInterrupt:
                continue
