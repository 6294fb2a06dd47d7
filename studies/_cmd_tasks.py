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
        description="List the built-in tasks, and the two other ways to name a task.",
    )


def run(args: argparse.Namespace) -> int:
    """Print the task registry."""
    from paretune import trainers  # imports torch: only when the command runs

    rows = [[name, text] for name, text in trainers.describe_tasks().items()]
    rows.append(["replay:PATH", "replays results recorded in a table (no training)"])
    rows.append(["package.module:factory", "your own factory(**task_options) -> Task"])
    print(format_table(["task", "description"], rows))
    return 0
