"""Wiring one study run: config -> spec + objective factory -> local or Ray executor."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from paretune.studies._errors import StudyFileError, format_value
from paretune.studies._objective import objective_factory
from paretune.studies._progress import ProgressBar, format_elapsed
from paretune.studies._study_args import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from paretune.search import Progress, RunSummary, StudyMismatchError
    from paretune.studies._config import StudyConfig

__all__ = ["run_study"]


def _describe(config: StudyConfig) -> str:
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
    return (
        f"study {config.spec.name}: task {config.task}, objectives {objectives}, "
        f"sampler {config.spec.sampler}, pruner {config.spec.pruner}, {config.n_trials} trials "
        f"({where}) -> {config.spec.storage}"
    )


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


def _execute(config: StudyConfig, progress: ProgressBar | None) -> RunSummary:
    from paretune import search

    spec = config.spec
    factory = objective_factory(config)

    def on_progress(state: Progress) -> None:
        if progress is not None:
            progress.update(
                done=state.done,
                pruned=state.pruned,
                failed=state.failed,
                front=state.front_size,
                elapsed=state.elapsed_s,
            )

    if config.backend == "ray":
        from paretune.search import run_ray

        ray = config.ray
        # The data-parallel keywords go only to runs whose trials have several workers.
        parallel: dict[str, Any] = {}
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
        )
        return summary
    parallel = {"workers_per_trial": config.workers_per_trial}
    if config.workers_per_trial == 1:
        parallel = {}
    return search.run_local(
        spec,
        objective_factory=factory,
        n_trials=config.n_trials,
        timeout=config.timeout,
        jobs=config.jobs,
        progress=on_progress,
        **parallel,
    )


def run_study(
    config: StudyConfig,
    *,
    label: str,
    quiet: bool = False,
    hint_flags: str = "",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run (or resume) a study and print what happened.

    Args:
        config: The validated study.
        label: The study as the user named it (for messages).
        hint_flags: Flags to repeat in the suggested next commands (``--storage URL``).
        quiet: Draw no progress line.
        out: Where the summary goes (stdout by default).
        err: Where the progress line and the interruption message go (stderr by default).

    Returns:
        0 when the run ended as asked (n_trials reached, timeout, epoch budget spent, or
        nothing left to run); 130 when interrupted with Ctrl-C.

    Raises:
        StudyFileError: When the storage refuses the study (for example a study of the
            same name created with another space or other objectives).
    """
    from paretune import search
    from paretune.search import StopReason

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    print(_describe(config), file=out, flush=True)
    bar = None if quiet else ProgressBar(total=config.n_trials, stream=err)
    try:
        summary = _execute(config, bar)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(
            "paretune: interrupted. The running trial was recorded as failed (interrupted) "
            "and will be tried again; run the same command to resume.",
            file=err,
        )
        return EXIT_INTERRUPTED
    except search.StudyMismatchError as error:
        raise _mismatch(error, label=label) from None
    except ValueError as error:
        # Trials' own errors are recorded as FAIL inside the executor; a ValueError that gets
        # here is the storage or the study refusing this run: bad input.
        raise StudyFileError(label, "", str(error)) from None
    finally:
        if bar is not None:
            bar.close()
    if summary.recovered:
        numbers = ", ".join(str(n) for n in summary.recovered)
        print(
            f"recovered trial(s) {numbers}, left running by a process that died: recorded as "
            "failed (interrupted); their strategies run again",
            file=out,
        )
    if summary.stop_reason is StopReason.ALREADY_DONE:
        print(
            f"nothing to run: study {config.spec.name} already holds {summary.done} finished "
            f"trials (n_trials = {config.n_trials}). Use --n-trials N to extend it.",
            file=out,
        )
        return 0
    reason = {
        StopReason.N_TRIALS: "n_trials reached",
        StopReason.TIMEOUT: "timeout reached; run again to continue",
        StopReason.MAX_TOTAL_EPOCHS: (
            f"epoch budget max_total_epochs = {config.spec.max_total_epochs} spent"
        ),
    }.get(summary.stop_reason, summary.stop_reason.value)
    print(
        f"ran {summary.ran} trial(s) in {format_elapsed(summary.elapsed_s)} ({reason}). "
        f"The study holds {summary.done}/{config.n_trials} finished trials "
        f"({summary.complete} complete, {summary.pruned} pruned), {summary.failed} failed; "
        f"front of {summary.front_size}; {summary.epochs_spent} epochs trained.",
        file=out,
    )
    study = f"{label}{hint_flags}"
    print(f"next: paretune status {study}   |   paretune report {study}", file=out)
    return 0
