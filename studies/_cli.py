"""The ``paretune`` command: one subcommand per ``studies/_cmd_<name>.py`` module.

Each command module exposes ``add_parser(subparsers) -> None`` and ``run(args) -> int``.
Exit codes: 0 done, 2 bad input (one line naming the file, key, value and what is allowed),
1 anything else, 130 interrupted with Ctrl-C (the next run resumes).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

import optuna
from paretune.studies import (
    _cmd_report,
    _cmd_run,
    _cmd_select,
    _cmd_spaces,
    _cmd_status,
    _cmd_tasks,
)
from paretune.studies._errors import StudyFileError
from paretune.studies._study_args import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    UsageError,
    report_usage_error,
)

__all__ = ["COMMANDS", "build_parser", "main"]

#: Each subcommand's module, in the order ``paretune --help`` lists them.
_MODULES: dict[str, ModuleType] = {
    "run": _cmd_run,
    "status": _cmd_status,
    "report": _cmd_report,
    "select": _cmd_select,
    "spaces": _cmd_spaces,
    "tasks": _cmd_tasks,
}

#: Subcommands, in the order ``paretune --help`` lists them.
COMMANDS = tuple(_MODULES)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of :data:`COMMANDS`.

    Examples:
        >>> args = build_parser().parse_args(["run", "digits-quick", "--n-trials", "5"])
        >>> args.command, args.study, args.n_trials
        ('run', 'digits-quick', 5)
    """
    parser = argparse.ArgumentParser(
        prog="paretune",
        description=(
            "Search training strategies (optimizer, learning rate, schedule, batch size, "
            "regularization, pruning, bit width) for the best accuracy at each cost."
        ),
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an unexpected error, print the full Python traceback",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _MODULES.items():
        module.add_parser(subparsers)
        chosen = subparsers.choices[name]
        chosen.set_defaults(_run=module.run)
    return parser


def _quiet_optuna() -> None:
    """Optuna logs every study creation at INFO; the CLI prints its own lines instead."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _import_from_cwd() -> None:
    """Let ``task = "mytasks:make_task"`` find ``mytasks.py`` in the working directory.

    ``python -m`` puts the working directory first on ``sys.path``; a console script puts
    its own folder there instead. Worker processes inherit the path.
    """
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``paretune`` with ``argv`` (default: the process arguments).

    Returns:
        The exit code.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_optuna()
    _import_from_cwd()
    try:
        code: int = args._run(args)
    except (StudyFileError, UsageError) as error:
        return report_usage_error(error)
    except KeyboardInterrupt:
        print("\nparetune: interrupted. Run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as error:  # the last line of defence: one message, no traceback
        if args.traceback:
            traceback.print_exc()
        message = str(error) or type(error).__name__
        print(f"paretune: error: {message} ({type(error).__name__})", file=sys.stderr)
        if not args.traceback:
            print("paretune: run with --traceback for the details", file=sys.stderr)
        return EXIT_ERROR
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
