# PYTHON_ARGCOMPLETE_OK  (argcomplete: this console script completes its arguments)
"""The ``paretune`` command: one subcommand per ``studies/_cmd_<name>.py`` module.

Each command module exposes ``add_parser(subparsers) -> None`` and ``run(args) -> int``.
Global flags (``--traceback``) are accepted before or after the subcommand.

Exit codes, the same in every command:

====  ===========================================================================
code  situation
====  ===========================================================================
0     done (also when the reader of standard output closed it: ``... | head -1``)
1     failed: the command could not succeed (an unexpected error; ``--traceback``
      prints it)
2     bad input: a flag, a study file, or a study that does not exist in its
      storage (one line ``paretune: error: ...``, no traceback)
3     ``select`` only: no strategy meets the limits (the closest are printed)
130   interrupted with Ctrl-C (the next ``run`` resumes)
143   ``run`` stopped by SIGTERM, handled as Ctrl-C (the next ``run`` resumes)
====  ===========================================================================

With argcomplete installed (``pip install "paretune[completion]"``),
``eval "$(register-python-argcomplete paretune)"`` completes subcommands and flags in bash
or zsh.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

import optuna
from paretune.search import StorageError
from paretune.studies import (
    _cmd_report,
    _cmd_run,
    _cmd_select,
    _cmd_spaces,
    _cmd_status,
    _cmd_tasks,
    _cmd_trials,
)
from paretune.studies._errors import StudyFileError, cut_quoted
from paretune.studies._study_args import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    report_usage_error,
)

__all__ = ["COMMANDS", "build_parser", "main", "version"]

#: Each subcommand's module, in the order ``paretune --help`` lists them.
_MODULES: dict[str, ModuleType] = {
    "run": _cmd_run,
    "status": _cmd_status,
    "report": _cmd_report,
    "select": _cmd_select,
    "trials": _cmd_trials,
    "spaces": _cmd_spaces,
    "tasks": _cmd_tasks,
}

#: Subcommands, in the order ``paretune --help`` lists them.
COMMANDS = tuple(_MODULES)


def version() -> str:
    """The installed paretune's version (``"unknown"`` when it is not installed).

    Examples:
        >>> version().count(".") >= 1 or version() == "unknown"
        True
    """
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("paretune")
    except PackageNotFoundError:
        return "unknown"


def _global_flags() -> argparse.ArgumentParser:
    """The flags every subcommand also takes, so they work before or after it.

    Their defaults are ``SUPPRESS``: a flag given before the subcommand is not overwritten by
    the subcommand's default (read them with ``getattr(args, name, default)``).
    """
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument(
        "--traceback",
        action="store_true",
        default=argparse.SUPPRESS,
        help="on an unexpected error, print the full Python traceback",
    )
    return flags


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as every other bad input's: ``paretune:
    error: MESSAGE (paretune run --help)``, exit 2 (argparse prints its usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"paretune: error: {message} (see {self.prog} --help)\n")


class _Subparsers:
    """The subparsers action, handing the global flags to every subcommand it adds."""

    def __init__(self, action: argparse._SubParsersAction[_Parser]) -> None:
        self._action = action
        self._parents = [_global_flags()]

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parents = [*kwargs.pop("parents", []), *self._parents]
        return self._action.add_parser(name, parents=parents, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of :data:`COMMANDS`.

    Examples:
        >>> args = build_parser().parse_args(["run", "digits-quick", "--n-trials", "5"])
        >>> args.command, args.study, args.n_trials
        ('run', 'digits-quick', 5)
        >>> build_parser().parse_args(["status", "digits-quick", "--traceback"]).traceback
        True
        >>> build_parser().parse_args(["--traceback", "status", "digits-quick"]).traceback
        True
    """
    parser = _Parser(
        prog="paretune",
        description=(
            "Search training strategies (optimizer, learning rate, schedule, batch size, "
            "regularization, pruning, bit width) for the best accuracy at each cost."
        ),
        epilog=(
            "exit codes: 0 done, 1 failed (unexpected error), 2 bad input (one line), "
            "3 select found nothing feasible, 130 interrupted, 143 terminated (SIGTERM)"
        ),
        parents=[_global_flags()],
    )
    parser.add_argument("--version", action="version", version=f"paretune {version()}")
    action = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    subparsers = _Subparsers(action)
    for name, module in _MODULES.items():
        module.add_parser(subparsers)
        action.choices[name].set_defaults(_run=module.run)
    return parser


def _autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request when argcomplete is installed (else nothing).

    The shell hook (``register-python-argcomplete paretune``) runs ``paretune`` with
    ``_ARGCOMPLETE`` set; argcomplete then prints the completions and exits. Without that
    variable nothing is imported.
    """
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def _quiet_optuna() -> None:
    """Optuna logs every study creation at INFO; the CLI prints its own lines instead."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _working_directory_off_path() -> None:
    """Take the working directory off the front of ``sys.path`` (``python -m``, ``-c``).

    A ``sklearn.py`` or ``sqlalchemy.py`` in the folder where ``paretune`` runs must not
    shadow an installed package: commands that only read a study run no code from there.
    A user task (``task = "mytasks:make_task"``) still finds ``mytasks.py`` in the working
    directory: :func:`paretune.trainers.get_task` searches it after the installed packages,
    and only when it resolves such a task. A console script puts its own folder first, not
    the working directory, so nothing is taken off then.
    """
    if sys.path and sys.path[0] in ("", os.curdir, os.getcwd()):
        del sys.path[0]


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone (``paretune ... | head -1``).

    Linux and macOS report ``POLLERR`` on the write end of a pipe whose read end is closed.
    """
    import select

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a StringIO, or closed
        return False
    if not hasattr(select, "poll"):  # Windows: assume the error came from standard output
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _end_quietly_on_closed_stdout() -> None:
    """Send what is left of standard output to devnull, so the interpreter's last flush
    does not fail again (the recipe of Python's ``signal`` documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``paretune`` with ``argv`` (default: the process arguments).

    Returns:
        The exit code (see the module's table).
    """
    parser = build_parser()
    _autocomplete(parser)
    args: argparse.Namespace | None = None
    path = list(sys.path)  # put back at the end: a caller in this interpreter keeps its own
    try:
        args = parser.parse_args(argv)
        _quiet_optuna()
        _working_directory_off_path()
        code: int = args._run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except (StudyFileError, UsageError) as error:
        return report_usage_error(error)
    except KeyboardInterrupt:
        print("\nparetune: interrupted. Run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StorageError as error:  # no space left on PATH, permission denied ...: one line
        if getattr(args, "traceback", False):
            traceback.print_exc()
        print(f"paretune: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError as error:
        if _stdout_closed():  # the reader took what it wanted: not a failure
            _end_quietly_on_closed_stdout()
            return EXIT_OK
        return _unexpected(error, traceback_wanted=getattr(args, "traceback", False))
    except Exception as error:  # the last line of defence: one message, no traceback
        return _unexpected(error, traceback_wanted=getattr(args, "traceback", False))
    finally:
        sys.path[:] = path
    return code


def _unexpected(error: Exception, *, traceback_wanted: bool) -> int:
    """Report the error being handled in one line (with the traceback when asked)."""
    if traceback_wanted:
        traceback.print_exc()
    message = cut_quoted(str(error)) or type(error).__name__
    print(f"paretune: error: {message} ({type(error).__name__})", file=sys.stderr)
    if not traceback_wanted:
        print("paretune: run with --traceback for the details", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
