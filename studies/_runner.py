"""Wiring one study run: config -> spec + objective factory -> local or Ray executor."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from paretune.studies._errors import StudyFileError, format_value
from paretune.studies._objective import objective_factory
from paretune.studies._progress import ProgressBar, format_elapsed

if TYPE_CHECKING:
    from paretune.search import Progress, RunSummary
    from paretune.studies._config import StudyConfig

__all__ = ["run_study", "EXIT_INTERRUPTED"]

EXIT_INTERRUPTED = 130


def _describe(config: StudyConfig) -> str:
    from paretune.search import direction_of

    objectives = ", ".join(
        f"{o} ({'max' if direction_of(o) == 'maximize' else 'min'})" for o in config.objectives
    )
    where = config.backend if config.backend == "ray" else f"local, {config.jobs} job(s)"
    return (
        f"study {config.name}: task {config.task}, objectives {objectives}, "
        f"sampler {config.sampler}, pruner {config.pruner}, {config.n_trials} trials "
        f"({where}) -> {config.storage}"
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


def check_same_study(config: StudyConfig, *, label: str) -> None:
    """Refuse to resume a stored study whose objectives, constraints or space differ.

    The storage keeps the study of this name as it was created; changing the file and
    running again would mix trials of two different searches. The message names the key
    that changed, with the stored and the new value.

    Raises:
        StudyFileError: When the stored study was created from a different file content.
    """
    import json

    import optuna
    from paretune.studies._cmd_status import load_existing_study

    try:
        study = load_existing_study(config.name, config.storage)
    except LookupError:
        return
    except (ValueError, optuna.exceptions.OptunaError):
        return  # the executor reports storage problems itself
    stored = study.user_attrs
    advice = (
        f"the study {config.name!r} in {config.storage} was created with {{was}}; to search "
        "differently give the study a new name (or another storage)"
    )
    if "objectives" in stored and list(stored["objectives"]) != list(config.objectives):
        raise StudyFileError(
            label,
            "objectives",
            f"= {format_value(list(config.objectives))} differs: "
            + advice.format(was=format_value(stored["objectives"])),
        )
    if "constraints" in stored and dict(stored["constraints"]) != dict(config.constraints):
        raise StudyFileError(
            label,
            "constraints",
            f"= {format_value(dict(config.constraints))} differs: "
            + advice.format(was=format_value(stored["constraints"])),
        )
    if not isinstance(stored.get("space"), str):
        return
    before = json.loads(stored["space"])
    now = config.space.to_dict()
    old_params, new_params = before.get("params", {}), now["params"]
    for name in [*new_params, *(n for n in old_params if n not in new_params)]:
        if old_params.get(name) != new_params.get(name):
            raise StudyFileError(
                label,
                f"space.{name}",
                f"= {_entry(new_params.get(name))} differs: "
                + advice.format(was=f"{name} = {_entry(old_params.get(name))}"),
            )


def _execute(config: StudyConfig, progress: ProgressBar | None) -> RunSummary:
    from paretune import search

    spec = config.to_spec()
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
        )
        return summary
    return search.run_local(
        spec,
        objective_factory=factory,
        n_trials=config.n_trials,
        timeout=config.timeout,
        jobs=config.jobs,
        progress=on_progress,
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
    from paretune.search import StopReason

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    print(_describe(config), file=out, flush=True)
    check_same_study(config, label=label)
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
            f"nothing to run: study {config.name} already holds {summary.done} finished trials "
            f"(n_trials = {config.n_trials}). Use --n-trials N to extend it.",
            file=out,
        )
        return 0
    reason = {
        StopReason.N_TRIALS: "n_trials reached",
        StopReason.TIMEOUT: "timeout reached; run again to continue",
        StopReason.MAX_TOTAL_EPOCHS: (
            f"epoch budget max_total_epochs = {config.max_total_epochs} spent"
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
