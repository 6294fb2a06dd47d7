"""Wiring one study run: config -> spec + objective factory -> local or Ray executor.

:func:`execute` runs a validated config and prints nothing (``Study.run`` and ``paretune
run`` both go through it); :func:`describe`, :func:`outcome_lines` and :func:`next_commands`
are the lines ``paretune run`` prints around it.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import optuna
from paretune.studies._builtin import resolve_study
from paretune.studies._errors import StudyFileError, format_value
from paretune.studies._failures import failed_run_line
from paretune.studies._objective import objective_factory
from paretune.studies._progress import ProgressBar, epochs_per_trial, format_elapsed
from paretune.studies._same_study import check_same_task
from paretune.studies._study_args import EXIT_ERROR, EXIT_INTERRUPTED
from paretune.studies._tracking import open_tracker, tracking_callbacks

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial
    from paretune.search import Progress, RunSummary, StudyMismatchError
    from paretune.studies._config import StudyConfig

    #: An Optuna-style callback: called with the study and each finished trial.
    Callback = Callable[[optuna.Study, FrozenTrial], None]

__all__ = [
    "INTERRUPTED",
    "describe",
    "execute",
    "interrupted_line",
    "next_commands",
    "optuna_warnings_only",
    "outcome_lines",
    "run_study",
]

#: What ``paretune run`` says on Ctrl-C.
INTERRUPTED = (
    "paretune: interrupted. The running trial was recorded as failed (interrupted) "
    "and will be tried again; run the same command to resume."
)


def interrupted_line(error: KeyboardInterrupt) -> str:
    """What ``paretune run`` says on Ctrl-C: the Ray backend's own account when it gave one
    (its trials stay RUNNING in a saved experiment, resumed by the same command), else
    :data:`INTERRUPTED`.

    Examples:
        >>> interrupted_line(KeyboardInterrupt()) == INTERRUPTED
        True
        >>> interrupted_line(KeyboardInterrupt("the Ray run of study 'x' was interrupted"))
        "paretune: interrupted: the Ray run of study 'x' was interrupted."
    """
    said = str(error).strip()
    return f"paretune: interrupted: {said.rstrip('.')}." if said else INTERRUPTED


@contextmanager
def optuna_warnings_only() -> Iterator[None]:
    """Raise Optuna's log level to WARNING for the block (no "A new study created" line),
    then restore it.

    Examples:
        >>> before = optuna.logging.get_verbosity()
        >>> with optuna_warnings_only():
        ...     optuna.logging.get_verbosity() == optuna.logging.WARNING
        True
        >>> optuna.logging.get_verbosity() == before
        True
    """
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(before, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def describe(config: StudyConfig) -> str:
    """The one line ``paretune run`` prints before it starts: task, objectives, where."""
    objectives = ", ".join(
        f"{o} ({'max' if d == 'maximize' else 'min'})"
        for o, d in zip(config.spec.objectives, config.spec.directions, strict=True)
    )
    if config.backend == "ray":
        where, workers = "ray", config.ray.workers_per_trial
    else:
        where, workers = f"local, {config.jobs} job(s)", config.workers_per_trial
    if workers > 1:
        where += f", {workers} workers per trial"
    if config.fuse > 1:
        where += f", {config.fuse} trials fused{_fuse_split(config)}"
    return (
        f"study {config.spec.name}: task {config.task}, objectives {objectives}, "
        f"sampler {config.spec.sampler}, pruner {config.spec.pruner}{_idle_pruner(config)}, "
        f"{_target(config)} ({where}) -> {config.spec.storage}"
    )


def _idle_pruner(config: StudyConfig) -> str:
    """What to add after mo-asha's name when none of its rungs fits in the space's longest
    trial, so that it can stop no trial (``min_epochs = 5`` with ``epochs = 2``)."""
    core = getattr(config.spec.get_pruner(), "core", None)
    rungs = getattr(core, "rungs", None)
    last = epochs_per_trial(config.spec.space)
    if rungs is None or last is None or rungs(last):
        return ""
    return f" (stops no trial: none of its rungs fits in {last} epochs)"


def _fuse_split(config: StudyConfig) -> str:
    """What splits a fused group, where the space searches it: fused trials share
    ``batch_size``, ``epochs`` and the task's own parameters (``trainers.fuse_key``).

    Examples:
        >>> from paretune.studies import Study
        >>> study = Study(name="s", task="synthetic", fuse=4,
        ...               space={"lr": 0.1, "batch_size": [32, 64], "width": [8, 16]})
        >>> _fuse_split(study.config)
        ' where they share batch_size, width (searched)'
        >>> _fuse_split(Study(name="s", task="synthetic", fuse=4, space={"lr": 0.1}).config)
        ''
    """
    from paretune.spaces import Fixed
    from paretune.studies._space_file import strategy_fields

    params = config.spec.space.params
    fields = strategy_fields()
    task_params = sorted(name for name in params if name not in fields)
    searched = [
        key
        for key in ("batch_size", "epochs", *task_params)
        if key in params and not isinstance(params[key], Fixed)
    ]
    return f" where they share {', '.join(searched)} (searched)" if searched else ""


def _target(config: StudyConfig) -> str:
    """What the run aims for: ``"60 trials"``, or the epoch budget it runs until spent."""
    if config.until_budget:
        return f"trials until max_total_epochs = {config.spec.max_total_epochs:,} is spent"
    if config.n_trials > 1 and _one_strategy(config):
        return f"{config.n_trials} trials (the space holds one strategy: each trains the same)"
    return f"{config.n_trials} trials"


def _one_strategy(config: StudyConfig) -> bool:
    """Whether every dimension of the space has one value (nothing is searched).

    Examples:
        >>> from paretune.studies import Study
        >>> _one_strategy(Study(name="s", task="synthetic", space={"lr": 0.1, "bits": [8]}).config)
        True
        >>> _one_strategy(Study(name="s", task="synthetic", space={"bits": [4, 8]}).config)
        False
    """
    from paretune.spaces import CategoricalDistribution, Fixed

    for distribution in config.spec.space.params.values():
        if isinstance(distribution, Fixed):
            continue
        if isinstance(distribution, CategoricalDistribution) and len(distribution.choices) == 1:
            continue
        low = getattr(distribution, "low", None)
        if low is not None and low == getattr(distribution, "high", None):
            continue
        return False
    return True


def _entry(spec: dict[str, Any] | None) -> str:
    """A space entry as it would be written in ``[space]``."""
    if spec is None:
        return "(not in [space])"
    kind = spec.get("type")
    if kind == "fixed":
        return str(format_value(spec.get("value")))
    if kind == "categorical":
        return str(format_value(list(spec.get("choices", []))))
    shown = {k: spec[k] for k in ("low", "high", "log", "step") if spec.get(k) not in (None, False)}
    return str(format_value(shown))


def check_existing(config: StudyConfig, *, label: str) -> None:
    """Refuse to run ``config`` into an existing study created with another task, task
    options or data folder (``check_same_task``), as the study file's one-line error.

    Raises:
        StudyFileError: Naming the key, the stored and the new value.
    """
    from paretune import search

    try:
        with optuna_warnings_only():
            check_same_task(config)
    except search.StudyMismatchError as error:
        raise _mismatch(error, label=label) from None


def _mismatch(error: StudyMismatchError, *, label: str) -> StudyFileError:
    """The study-file error for a stored study created with other objectives, constraints or
    space (``open_study`` refuses to mix trials of two searches): it names the key that
    changed, with the stored and the new value."""
    advice = (
        f"the study {error.name!r} in {error.storage} was created with {{was}}; to search "
        "differently give the study a new name (or another storage)"
    )
    if error.key == "space" and error.param is not None:
        name = error.param
        return StudyFileError(
            label,
            f"space.{name}",
            f"= {_entry(error.wanted)} differs: "
            + advice.format(was=f"{name} = {_entry(error.stored)}"),
        )
    return StudyFileError(
        label,
        error.key,
        f"= {format_value(error.wanted)} differs: " + advice.format(was=format_value(error.stored)),
    )


def _execute(
    config: StudyConfig, progress: ProgressBar | None, callbacks: Sequence[Callback]
) -> RunSummary:
    from paretune import search

    spec = config.spec
    factory = objective_factory(config)
    # Only a run with callbacks passes the keyword (executors without it still run).
    hooks: dict[str, Any] = {"callbacks": list(callbacks)} if callbacks else {}

    def on_progress(state: Progress) -> None:
        if progress is not None:
            progress.show(state)

    if config.backend == "ray":
        from paretune.search import run_ray

        ray = config.ray
        # The data-parallel keywords go only to runs whose trials have several workers.
        parallel: dict[str, Any] = {}
        if config.fuse > 1:
            parallel["fuse"] = config.fuse
        if ray.workers_per_trial > 1:
            parallel = {
                "workers_per_trial": ray.workers_per_trial,
                "gpus_per_worker": ray.gpus_per_worker,
                "cpus_per_worker": ray.cpus_per_worker,
            }
        summary: RunSummary = run_ray(
            spec,
            objective_factory=factory,
            n_trials=config.n_trials,
            address=config.ray.address,
            gpus_per_trial=config.ray.gpus_per_trial,
            cpus_per_trial=config.ray.cpus_per_trial,
            max_concurrent=config.ray.max_concurrent,
            storage_path=config.ray.storage_path,
            max_failures=config.ray.max_failures,
            timeout=config.timeout,
            **parallel,
            **hooks,
        )
        return summary
    parallel = {"workers_per_trial": config.workers_per_trial}
    if config.workers_per_trial == 1:
        parallel = {}
    if config.fuse > 1:
        parallel["fuse"] = config.fuse
    return search.run_local(
        spec,
        objective_factory=factory,
        n_trials=config.n_trials,
        timeout=config.timeout,
        jobs=config.jobs,
        progress=on_progress,
        **parallel,
        **hooks,
    )


def execute(
    config: StudyConfig,
    *,
    label: str,
    progress: bool = False,
    stream: TextIO | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunSummary:
    """Run (or resume) a validated study; print nothing but the progress display.

    Optuna's log level is WARNING while it runs (restored after). The caller has refused a
    stored study of another task first (:func:`check_existing`).

    Args:
        config: The validated study.
        label: The study as the user named it (for messages).
        progress: Draw the progress display ``paretune run`` draws.
        stream: Where to draw it (stderr by default).
        callbacks: Optuna-style callbacks, called with the study and each finished trial.

    Returns:
        What the run did.

    Raises:
        StudyFileError: When the storage refuses the study (for example a study of the
            same name created with another space or other objectives).
        KeyboardInterrupt: On Ctrl-C (the running trial is recorded as failed, interrupted;
            the next run tries it again).
    """
    from paretune import search

    stream = stream if stream is not None else sys.stderr
    from paretune.search.executors import check_callbacks

    given = check_callbacks(callbacks, owner="Study.run")
    for callback in given:
        if isinstance(callback, search.MLflowTracker):  # its store opened before any trial
            open_tracker(
                callback, study_name=config.spec.name, label=label, key="callbacks: MLflowTracker"
            )
    raised: list[BaseException] = []  # what a callback raised goes out as it was raised
    callbacks = [
        _watched(callback, raised)
        for callback in [*given, *tracking_callbacks(config, label=label)]
    ]
    bar = None
    if progress:
        per_trial = epochs_per_trial(config.spec.space)
        budget = config.spec.max_total_epochs if config.until_budget else None
        bar = ProgressBar(
            total=config.n_trials, stream=stream, epochs_per_trial=per_trial, budget=budget
        )
    try:
        with optuna_warnings_only():
            return _execute(config, bar, callbacks)
    except search.StudyMismatchError as error:
        raise _mismatch(error, label=label) from None
    except ValueError as error:
        if any(error is seen for seen in raised):
            raise  # a callback's own error, with its traceback
        # Trials' own errors are recorded as FAIL inside the executor; a ValueError that gets
        # here is the storage or the study refusing this run: bad input.
        raise StudyFileError(label, "", str(error)) from None
    finally:
        if bar is not None:
            bar.close()


def _watched(callback: Callback, raised: list[BaseException]) -> Callback:
    """``callback``, noting in ``raised`` whatever it raises (then raising it on)."""

    def call(study: optuna.Study, trial: FrozenTrial) -> None:
        try:
            callback(study, trial)
        except BaseException as error:
            raised.append(error)
            raise

    return call


def outcome_lines(config: StudyConfig, summary: RunSummary) -> list[str]:
    """What ``paretune run`` prints when the run ends: recovered trials, why it stopped and
    what the study holds."""
    from paretune.search import StopReason

    lines = []
    if summary.recovered:
        numbers = ", ".join(str(n) for n in summary.recovered)
        lines.append(
            f"recovered trial(s) {numbers}, left running by a process that died: recorded as "
            "failed (interrupted); their strategies run again"
        )
    if summary.stop_reason is StopReason.ALREADY_DONE:
        lines.append(
            f"nothing to run: study {config.spec.name} already holds {summary.done} finished "
            f"trials (n_trials = {config.n_trials}). Use --n-trials N to extend it."
        )
        return lines
    reason = {
        StopReason.N_TRIALS: "n_trials reached",
        StopReason.SLOTS_HELD: (
            "the slots left are held by trials running in other processes, which finish them"
        ),
        StopReason.TIMEOUT: "timeout reached; run again to continue",
        StopReason.MAX_TOTAL_EPOCHS: (
            f"epoch budget max_total_epochs = {config.spec.max_total_epochs} spent"
        ),
    }.get(summary.stop_reason, summary.stop_reason.value)
    holds = f"{summary.done}/{config.n_trials}"
    if config.until_budget:  # no n_trials: the budget is the target
        budget = config.spec.max_total_epochs
        holds = f"{summary.done}"
        spent = f"spent {summary.epochs_spent:,}/{budget:,} epochs in {summary.done} trials"
        if summary.stop_reason is StopReason.MAX_TOTAL_EPOCHS:
            reason = f"max_total_epochs reached: {spent}"
        else:
            reason += f"; {spent}"
    lines.append(
        f"ran {summary.ran} trial(s) in {format_elapsed(summary.elapsed_s)} ({reason}). "
        f"The study holds {holds} finished trials "
        f"({summary.complete} complete, {summary.pruned} pruned), {summary.failed} failed"
        + (f", {summary.running} running elsewhere" if summary.running else "")
        + f"; front of {summary.front_size}; {summary.epochs_spent} epochs trained."
    )
    return lines


def next_commands(config: StudyConfig, *, label: str, storage_flag: str | None = None) -> str:
    """The commands to look at the study next, in a form that works for it.

    A study run from a study file (or a built-in name) is named by it, with ``--storage
    URL`` when the command line gave one; any other study (declared in Python) by ``--storage
    URL --study NAME``, which every command that reads a study accepts.

    Args:
        config: The study.
        label: How the user named it (a study file, a built-in name, or a label such as
            ``"Study"``).
        storage_flag: The ``--storage`` URL the command line gave (None for none).

    Examples:
        >>> from paretune.studies import load_config
        >>> config = load_config("digits-quick")
        >>> next_commands(config, label="digits-quick")
        'next: paretune status digits-quick   |   paretune report digits-quick'
        >>> next_commands(config, label="Study")  # doctest: +NORMALIZE_WHITESPACE
        'next: paretune status --storage sqlite:///runs/digits-quick.db --study digits-quick
        |   paretune report --storage sqlite:///runs/digits-quick.db --study digits-quick'
    """
    try:
        resolve_study(label)
    except StudyFileError:
        spec = config.spec
        ref = f"--storage {shlex.quote(spec.storage)} --study {shlex.quote(spec.name)}"
    else:
        ref = shlex.quote(label)
        if storage_flag:
            ref += f" --storage {shlex.quote(storage_flag)}"
    return f"next: paretune status {ref}   |   paretune report {ref}"


def run_study(
    config: StudyConfig,
    *,
    label: str,
    quiet: bool = False,
    hint_flags: str = "",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run (or resume) a study and print what happened, as ``paretune run`` does.

    In Python, :class:`~paretune.studies.Study` is the simpler way: it validates a study
    declared in code, runs it quietly and returns a result.

    Args:
        config: The validated study.
        label: The study as the user named it (a study file or built-in name; for messages
            and the suggested next commands).
        hint_flags: ``" --storage URL"`` when the storage was overridden (the next commands
            repeat it).
        quiet: Draw no progress line.
        out: Where the summary goes (stdout by default).
        err: Where the progress line and the interruption message go (stderr by default).

    Returns:
        0 when the run ended as asked (n_trials reached, timeout, epoch budget spent, or
        nothing left to run); 1 when it stopped because its last trials all failed (their
        reasons printed to ``err``); 130 when interrupted with Ctrl-C.

    Raises:
        StudyFileError: When the storage refuses the study (for example a study of the
            same name created with another space or other objectives).
    """
    out = out if out is not None else sys.stdout
    from paretune.search import StopReason

    err = err if err is not None else sys.stderr
    check_existing(config, label=label)  # refused before the run's first line
    print(describe(config), file=out, flush=True)
    try:
        summary = execute(config, label=label, progress=not quiet, stream=err)
    except KeyboardInterrupt as error:
        print(interrupted_line(error), file=err)
        return EXIT_INTERRUPTED
    for line in outcome_lines(config, summary):
        print(line, file=out)
    storage = hint_flags.removeprefix(" --storage ").strip() or None
    print(next_commands(config, label=label, storage_flag=storage), file=out)
    if summary.stop_reason is StopReason.FAILURES:  # it could not succeed: say why, exit 1
        from paretune.search.executors import MAX_CONSECUTIVE_FAILURES
        from paretune.studies._api_result import StudyResult

        with optuna_warnings_only():
            study = StudyResult.open(name=config.spec.name, storage=config.spec.storage).study
        print(f"paretune: error: {failed_run_line(study, MAX_CONSECUTIVE_FAILURES)}", file=err)
        return EXIT_ERROR
    return 0
