"""What every ``paretune`` command shares: exit codes, the usage-error path, naming a study.

Every command that reads a study (``status``, ``report``, ``select``, ``trials``) names it the
same way (:func:`add_study_arguments`): ``STUDY`` (a study file or a built-in name; only the
keys that say where the study lives are read), with ``--storage URL`` overriding the file's
storage and ``--study NAME`` its name; or ``--storage URL --study NAME`` alone, reading no
file. A value a command cannot use raises :class:`UsageError` (or
:class:`~paretune.studies.StudyFileError` for a study file); ``paretune`` prints either as one
line, ``paretune: error: ...``, and exits with :data:`EXIT_BAD_INPUT`, never with a traceback.
A study that does not exist in its storage is bad input too, in every command.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

import optuna
from paretune import search
from paretune.studies._errors import cut_quoted
from paretune.studies._loader import locate_study

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "NamedStudy",
    "UsageError",
    "add_study_argument",
    "add_study_arguments",
    "load_existing_study",
    "name_study",
    "open_existing_study",
    "open_named_study",
    "report_usage_error",
    "storage_override",
]

#: The command did what was asked.
EXIT_OK = 0
#: The command could not succeed: an unexpected error (``--traceback`` shows it).
EXIT_ERROR = 1
#: Bad input: a flag, a study file or a study that does not exist (one line, no traceback).
EXIT_BAD_INPUT = 2
#: Interrupted with Ctrl-C (a run resumes where it stopped).
EXIT_INTERRUPTED = 130

_STORAGE_LABELS: Mapping[str, str] = {"storage": "--storage"}


class UsageError(ValueError):
    """A command-line value the command cannot use (exit code 2, one line, no traceback)."""


#: Why an output file the user named cannot be written: their path, not a failure.
_PATH_ERRNOS = frozenset(
    (
        errno.ENOENT,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENAMETOOLONG,
    )
)


def output_error(flag: str, path: object, error: OSError) -> UsageError | None:
    """The one-line usage error of an output file that cannot be written at the path the
    user named (``-o /proc/r.html``); None for another failure (a full disk).

    Examples:
        >>> import errno
        >>> refused = FileNotFoundError(errno.ENOENT, "No such file or directory")
        >>> print(output_error("-o", "/proc/r.html", refused))
        -o /proc/r.html: cannot be written (No such file or directory)
    """
    if error.errno not in _PATH_ERRNOS:
        return None
    return UsageError(f"{flag} {path}: cannot be written ({error.strerror or error})")


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
    message = cut_quoted(str(error))  # a huge value is cut, not echoed whole
    print(f"paretune: error: {message}", file=stream if stream is not None else sys.stderr)
    return EXIT_BAD_INPUT


def add_study_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``STUDY`` argument of the commands that read a study file (``run``)."""
    parser.add_argument(
        "study",
        metavar="STUDY",
        help="a study file (studies/digits_quick.toml) or a built-in name (digits-quick)",
    )


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """``STUDY`` (optional) plus ``--storage URL --study NAME``: how every command that reads
    a study names it."""
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
        help="study name inside the storage (with --storage alone, no study file is read)",
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


@dataclass(frozen=True, kw_only=True)
class NamedStudy:
    """The study a command was asked to read (see :func:`name_study`).

    Attributes:
        name: The Optuna study name.
        storage: Its storage URL.
        n_trials: Finished trials the study file asks for (None without a file).
        objectives: The file's objectives (empty without a file).
        ref: How the user named it, to repeat in a suggested command (``tiny.toml``,
            ``--storage URL --study NAME``).
    """

    name: str
    storage: str
    n_trials: int | None
    objectives: tuple[str, ...]
    ref: str


def name_study(args: argparse.Namespace) -> NamedStudy:
    """The study named by ``STUDY`` (with ``--storage``/``--study``) or by ``--storage URL
    --study NAME``, reading only the study-file keys that say where it lives (no torch).

    Raises:
        UsageError: Neither form was given, or the storage URL is invalid.
        StudyFileError: The study file is wrong.

    Examples:
        >>> args = argparse.Namespace(study="digits-quick", storage=None, study_name=None)
        >>> named = name_study(args)
        >>> named.name, named.storage, named.n_trials
        ('digits-quick', 'sqlite:///runs/digits-quick.db', 60)
        >>> args = argparse.Namespace(study=None, storage="sqlite:///x.db", study_name="x")
        >>> name_study(args).ref
        '--storage sqlite:///x.db --study x'
    """
    if args.study is not None:
        where = locate_study(args.study, overrides=storage_override(args), labels=_STORAGE_LABELS)
        ref = args.study
        if args.storage:
            ref += f" --storage {args.storage}"
        if args.study_name:
            ref += f" --study {args.study_name}"
        return NamedStudy(
            name=args.study_name or where.name,
            storage=where.storage,
            n_trials=where.n_trials,
            objectives=where.objectives,
            ref=ref,
        )
    if args.storage and args.study_name:
        try:
            search.validate_storage_url(args.storage)
        except ValueError as error:
            raise UsageError(f"--storage: {error}") from None
        return NamedStudy(
            name=args.study_name,
            storage=args.storage,
            n_trials=None,
            objectives=(),
            ref=f"--storage {args.storage} --study {args.study_name}",
        )
    raise UsageError(
        "name a study: STUDY (a study file or built-in name), or --storage URL --study NAME"
    )


def load_existing_study(name: str, storage: str) -> optuna.Study:
    """Load a study that must already exist (never creates a storage file or a study).

    Raises:
        LookupError: When the storage file or the study does not exist.
    """
    path = search.storage_path(storage)
    if path is not None and not os.path.exists(path):  # False for a name too long, too
        raise LookupError(f"no study {name!r} yet: {path} does not exist")
    try:
        return search.load_study_fast(storage=storage, study_name=name)
    except KeyError:
        raise LookupError(f"no study {name!r} in {storage}") from None
    except search.MissingDriverError as error:
        raise UsageError(f"--storage: {error}") from None


def open_named_study(args: argparse.Namespace) -> tuple[NamedStudy, optuna.Study]:
    """:func:`name_study` and the study itself, which must exist (it is never created).

    Raises:
        UsageError: No study named, an invalid storage URL, or a study that does not exist
            (the message says how to start it).
        StudyFileError: The study file is wrong.
    """
    named = name_study(args)
    try:
        study = load_existing_study(named.name, named.storage)
    except LookupError as error:
        start = args.study if args.study is not None else "STUDY"
        raise UsageError(f"{error}; start it with: paretune run {start}") from None
    return named, study


def open_existing_study(args: argparse.Namespace) -> optuna.Study:
    """The study named by ``STUDY`` or by ``--storage URL --study NAME`` (never created).

    Raises:
        UsageError: Neither form was given, the storage URL is invalid, or the study does not
            exist.
        StudyFileError: The study file is wrong.
    """
    return open_named_study(args)[1]
