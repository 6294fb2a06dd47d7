"""``paretune spaces``: what a ``[space]`` table can hold, and the samplers and pruners."""

from __future__ import annotations

import argparse
from typing import Any

from paretune import search
from paretune.studies._space_file import strategy_fields
from paretune.studies._table import format_table

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register ``spaces``."""
    subparsers.add_parser(
        "spaces",
        help="list the strategy fields, optimizers, schedules, samplers and pruners",
        description=(
            "List what a study file may use: the strategy fields of [space] with their "
            "defaults, the optimizers and schedules with the sub-parameters each takes, and "
            "the samplers and pruners."
        ),
    )


def run(args: argparse.Namespace) -> int:
    """Print the registries."""
    from paretune import trainers  # imports torch: only when the command runs

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
