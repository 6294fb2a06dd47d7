"""``paretune report STUDY``: write the study's self-contained HTML report and print its path."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = ["BadInput", "add_parser", "add_study_arguments", "open_existing_study", "run"]


class BadInput(ValueError):
    """A command-line value the command cannot use (exit code 2, one message)."""


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """``STUDY`` (optional) plus ``--storage URL --study NAME`` (shared with ``select``)."""
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


def open_existing_study(args: argparse.Namespace) -> optuna.Study:
    """The study named by ``STUDY`` or by ``--storage URL --study NAME`` (never created).

    Raises:
        BadInput: Neither form was given, the storage URL is invalid, or the study does not
            exist.
        StudyFileError: The study file is wrong.
    """
    from paretune import search
    from paretune.studies._cmd_status import load_existing_study

    if args.study is not None:
        from paretune.studies._loader import read_study

        overrides = {"storage": args.storage} if args.storage else {}
        config = read_study(args.study, overrides=overrides, labels={"storage": "--storage"})
        name, storage = args.study_name or config.name, config.storage
    elif args.storage and args.study_name:
        name, storage = args.study_name, args.storage
        try:
            search.validate_storage_url(storage)
        except ValueError as error:
            raise BadInput(f"--storage: {error}") from None
    else:
        raise BadInput(
            "name a study: STUDY (a study file or built-in name), or --storage URL --study NAME"
        )
    try:
        study: optuna.Study = load_existing_study(name, storage)
    except LookupError as error:
        raise BadInput(f"{error}; run it first with: paretune run STUDY") from None
    return study


def add_parser(subparsers: Any) -> None:
    """Register ``report``."""
    parser = subparsers.add_parser(
        "report",
        help="write a study's HTML report (Pareto fronts, table, budgets, importances)",
        description=(
            "Write one self-contained HTML file (opens offline; no network request) with the "
            "study's summary, the Pareto front of accuracy against each cost, the table of "
            "non-dominated strategies, what common size budgets pick, hypervolume and "
            "optimization history, parameter importances and the front's learning curves. "
            "Reads only the study's storage."
        ),
    )
    add_study_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to write the HTML (default: reports/<study name>.html)",
    )
    parser.add_argument(
        "--importance-trials",
        type=int,
        default=1000,
        metavar="N",
        help="complete trials sampled for the parameter importances (default 1000)",
    )


def default_output(study_name: str) -> Path:
    """``reports/<name>.html`` with every unsafe character of the name replaced.

    Examples:
        >>> default_output("digits-quick").as_posix()
        'reports/digits-quick.html'
        >>> default_output("<script>alert(1)</script>").as_posix()
        'reports/_script_alert_1_script_.html'
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", study_name).strip(".") or "study"
    return Path("reports") / f"{safe}.html"


def run(args: argparse.Namespace) -> int:
    """Build the report and print where it is."""
    import sys

    from paretune.search import build_report_data, write_report

    if args.importance_trials < 3:
        print(
            "paretune: error: --importance-trials must be an integer >= 3 "
            f"(got {args.importance_trials})",
            file=sys.stderr,
        )
        return 2
    try:
        study = open_existing_study(args)
    except BadInput as error:
        print(f"paretune: error: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    data = build_report_data(study, max_importance_trials=args.importance_trials)
    path = write_report(data, args.output or default_output(study.study_name))
    seconds = time.perf_counter() - start
    s = data.summary
    print(
        f"study {s.study_name}: {s.n_complete} complete, {s.n_pruned} pruned, "
        f"{s.n_failed} failed; {len(data.front)} strategies on the Pareto front"
    )
    size = path.stat().st_size / 1e6
    print(f"report written in {seconds:.1f} s ({size:.1f} MB): {path.resolve()}")
    return 0
