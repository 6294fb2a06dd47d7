"""``paretune spaces``: what a ``[space]`` table can hold, and the samplers and pruners."""

from __future__ import annotations

import argparse
from typing import Any

from paretune import search
from paretune.studies._space_file import strategy_fields
from paretune.studies._study_args import UsageError
from paretune.studies._table import format_table

__all__ = ["add_parser", "run", "task_param_rows", "task_params_table"]


def add_parser(subparsers: Any) -> None:
    """Register ``spaces``."""
    parser = subparsers.add_parser(
        "spaces",
        help="list the strategy fields, optimizers, schedules, samplers and pruners",
        description=(
            "List what a study file may use: the strategy fields of [space] with their "
            "defaults, the optimizers and schedules with the sub-parameters each takes, and "
            "the samplers and pruners. With --task, also the task's own parameters, which "
            "[space] takes beside the strategy fields."
        ),
    )
    parser.add_argument(
        "--task",
        metavar="TASK",
        help='also list this task\'s own parameters ("digits-mlp", "replay:PATH", ...)',
    )
    parser.add_argument("--data-dir", metavar="DIR", help="the task's data directory")


def task_param_rows(task: Any) -> list[list[Any]]:
    """One row per parameter the task declares: name, type, default, allowed, description."""
    from paretune import trainers

    return [
        [p.name, p.kind.value, p.default, p.allowed, p.description]
        for p in trainers.declared_params(task).values()
    ]


def task_params_table(name: str, *, data_dir: str | None) -> str:
    """The ``[space]`` keys a task adds (its own parameters), as printed text.

    Raises:
        UsageError: For a task that cannot be built (before anything is printed).
    """
    from paretune import trainers

    try:
        task = trainers.get_task(name, data_dir=data_dir)
        rows = task_param_rows(task)
    except (ValueError, TypeError, ImportError, OSError) as error:
        raise UsageError(f"--task: {error}") from None
    title = f"\nParameters of task {name} ([space] keys beside the strategy fields)\n"
    if rows:
        return title + format_table(
            ["parameter", "type", "default", "allowed", "description"], rows
        )
    return title + "(none: the task declares no parameters of its own)"


def run(args: argparse.Namespace) -> int:
    """Print the registries."""
    from paretune import trainers  # imports torch: only when the command runs

    own = None  # the task's parameters, read first: a task that cannot be built prints nothing
    if getattr(args, "task", None):
        own = task_params_table(args.task, data_dir=getattr(args, "data_dir", None))
    conditions = trainers.conditional_parameters()
    fields = []
    for name, (kind, default) in strategy_fields().items():
        applies = ""
        if name in conditions:
            parent, values = conditions[name]
            applies = f"{parent} in {', '.join(map(str, values))}"
        fields.append([name, kind.__name__, default, applies])
    print("Strategy fields ([space] keys; a value fixes, a list chooses, a table is a range)")
    print(format_table(["field", "type", "default", "only when"], fields))
    if own is not None:
        print(own)

    optimizers = []
    for name in trainers.list_optimizers():
        info = trainers.optimizer_info(name)
        optimizers.append(
            [
                name,
                info.has_momentum,
                info.has_betas,
                info.has_eps,
                ", ".join(info.sub_parameters) or "-",
                info.description,
            ]
        )
    print("\nOptimizers (optimizer = ...)")
    print(
        format_table(
            ["name", "momentum", "betas", "eps", "sub-parameters", "description"], optimizers
        )
    )

    schedules = []
    for name in trainers.list_schedules():
        schedule = trainers.schedule_info(name)
        schedules.append([name, ", ".join(schedule.sub_parameters) or "-", schedule.description])
    print("\nSchedules (schedule = ...; every schedule also takes warmup_epochs)")
    print(format_table(["name", "sub-parameters", "description"], schedules))

    samplers = []
    for name in search.list_samplers():
        sampler = search.sampler_info(name)
        samplers.append([name, sampler.multi_objective, sampler.description])
    print('\nSamplers (sampler = "name" or { name = "...", option = ... })')
    print(format_table(["name", "multi-objective", "description"], samplers))

    pruners = []
    for name in search.list_pruners():
        pruner = search.pruner_info(name)
        pruners.append([name, pruner.multi_objective, pruner.description])
    print('\nPruners (pruner = "name" or { name = "...", option = ... })')
    print(format_table(["name", "multi-objective", "description"], pruners))
    return 0
