"""What every ``paretune`` command shares: exit codes, the usage-error path, naming a study.

A command names a study by ``STUDY`` (a study file or a built-in name), with ``--storage URL``
overriding the file's storage; ``report`` and ``select`` also accept ``--storage URL --study
NAME`` and read no file. A value a command cannot use raises :class:`UsageError` (or
:class:`~paretune.studies.StudyFileError` for a study file); ``paretune`` prints either as one
line, ``paretune: error: ...``, and exits with :data:`EXIT_BAD_INPUT`, never with a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TextIO

import optuna
from paretune import search
from paretune.studies._config import StudyLocation
from paretune.studies._loader import locate_study, read_study

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "UsageError",
    "add_study_argument",
    "add_study_arguments",
    "load_existing_study",
    "locate_named_study",
    "open_existing_study",
    "report_usage_error",
    "storage_override",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

_STORAGE_LABELS: Mapping[str, str] = {"storage": "--storage"}


class UsageError(ValueError):
    """A command-line value the command cannot use (exit code 2, one line, no traceback)."""


def report_usage_error(error: Exception, *, stream: TextIO | None = None) -> int:
    """Print ``error`` as the one line of a usage error and return :data:`EXIT_BAD_INPUT`.

    Examples:
        >>> import io
        >>> err = io.StringIO()
        >>> report_usage_error(UsageError("--max x: unknown cost"), stream=err)
        2
        >>> err.getvalue()
        'paretune: error: --max x: unknown cost\\n'
    """
    print(f"paretune: error: {error}", file=stream if stream is not None else sys.stderr)
    return EXIT_BAD_INPUT


def add_study_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``STUDY`` argument of the commands that read a study file."""
    parser.add_argument(
        "study",
        metavar="STUDY",
        help="a study file (studies/digits_quick.toml) or a built-in name (digits-quick)",
    )


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """``STUDY`` (optional) plus ``--storage URL --study NAME`` (``report`` and ``select``)."""
    parser.add_argument(
        "study",
        metavar="STUDY",
        nargs="?",
        help="a study file or built-in name (digits-quick); or give --storage and --study",
    )
    parser.add_argument(
        "--storage", metavar="URL", help="Optuna storage URL (overrides the study file's)"
    )
    parser.add_argument(
        "--study",
        dest="study_name",
        metavar="NAME",
        help="study name inside --storage (with --storage, no study file is read)",
    )


def storage_override(args: argparse.Namespace) -> dict[str, str]:
    """The study-file override ``--storage`` gives (empty without it).

    Examples:
        >>> storage_override(argparse.Namespace(storage="sqlite:///x.db"))
        {'storage': 'sqlite:///x.db'}
        >>> storage_override(argparse.Namespace(storage=None))
        {}
    """
    return {"storage": args.storage} if args.storage else {}


def load_existing_study(name: str, storage: str) -> optuna.Study:
    """Load a study that must already exist (never creates a storage file or a study).

    Raises:
        LookupError: When the storage file or the study does not exist.
    """
    path = search.storage_path(storage)
    if path is not None and not path.exists():
        raise LookupError(f"no study {name!r} yet: {path} does not exist")
    try:
        return optuna.load_study(study_name=name, storage=search.make_storage(storage))
    except KeyError:
        raise LookupError(f"no study {name!r} in {storage}") from None


def locate_named_study(args: argparse.Namespace) -> StudyLocation:
    """Where the study ``STUDY`` (with ``--storage``) lives, reading only the keys that say so.

    Raises:
        StudyFileError: The study file is wrong.
    """
    return locate_study(args.study, overrides=storage_override(args), labels=_STORAGE_LABELS)


def open_existing_study(args: argparse.Namespace) -> optuna.Study:
    """The study named by ``STUDY`` or by ``--storage URL --study NAME`` (never created).

    Raises:
        UsageError: Neither form was given, the storage URL is invalid, or the study does not
            exist.
        StudyFileError: The study file is wrong.
    """
    if args.study is not None:
        config = read_study(args.study, overrides=storage_override(args), labels=_STORAGE_LABELS)
        name, storage = args.study_name or config.spec.name, config.spec.storage
    elif args.storage and args.study_name:
        name, storage = args.study_name, args.storage
        try:
            search.validate_storage_url(storage)
        except ValueError as error:
            raise UsageError(f"--storage: {error}") from None
    else:
        raise UsageError(
            "name a study: STUDY (a study file or built-in name), or --storage URL --study NAME"
        )
    try:
        return load_existing_study(name, storage)
    except LookupError as error:
        raise UsageError(f"{error}; run it first with: paretune run STUDY") from None
