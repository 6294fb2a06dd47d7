"""``paretune tasks``: the tasks a study can train."""

from __future__ import annotations

import argparse
from typing import Any

from paretune.studies._table import format_table

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register ``tasks``."""
    subparsers.add_parser(
        "tasks",
        help="list the tasks (dataset + model) a study can train",
        description=(
            "List the built-in tasks with their own parameters (searchable in [space] beside "
            "the strategy fields), and the two other ways to name a task."
        ),
    )


def run(args: argparse.Namespace) -> int:
    """Print the task registry."""
    from paretune import trainers  # imports torch: only when the command runs

    rows = [[name, text, _params(name)] for name, text in trainers.describe_tasks().items()]
    rows.append(
        ["replay:PATH", "replays results recorded in a table (no training)", "its key columns"]
    )
    rows.append(["package.module:factory", "your own factory(**task_options) -> Task", "its own"])
    print(format_table(["task", "description", "parameters ([space] keys)"], rows))
    print("\nA task's parameters in detail: paretune spaces --task TASK [--data-dir DIR]")
    return 0


def _params(name: str) -> str:
    """``width=256, depth=2``: the task's own parameters with their defaults."""
    from paretune import trainers

    try:
        task = trainers.get_task(name)
    except (ValueError, OSError):  # the task reads files from a data_dir
        return "see paretune spaces --task"
    params = trainers.declared_params(task).values()
    return ", ".join(f"{p.name}={p.default}" for p in params) or "-"
