"""``paretune report STUDY``: write the study's self-contained HTML report and print its path."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

from paretune.search import build_report_data, write_report
from paretune.search.report import plural
from paretune.search.study import storage_file_stem
from paretune.studies._study_args import (
    UsageError,
    add_study_arguments,
    open_existing_study,
    output_error,
)

__all__ = ["add_parser", "default_output", "run", "study_args"]


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
        >>> len(default_output("n" * 300).name)  # within a file system's 255 bytes
        125
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", study_name).strip(".") or "study"
    return Path("reports") / f"{storage_file_stem(safe)}.html"  # a long name is cut


def study_args(args: argparse.Namespace) -> list[str]:
    """The arguments that named the study, to repeat in the commands the report shows.

    Examples:
        >>> study_args(argparse.Namespace(study="digits-quick", storage="sqlite:///q.db",
        ...                               study_name=None))
        ['digits-quick', '--storage', 'sqlite:///q.db']
    """
    named = [args.study] if args.study else []
    if args.storage:
        named += ["--storage", args.storage]
    if args.study_name:
        named += ["--study", args.study_name]
    return named


def run(args: argparse.Namespace) -> int:
    """Build the report and print where it is."""
    if args.importance_trials < 3:
        raise UsageError(
            f"--importance-trials must be an integer >= 3 (got {args.importance_trials})"
        )
    study = open_existing_study(args)
    if args.output is not None and Path(args.output).is_dir():
        suggested = Path(args.output) / default_output(study.study_name).name
        raise UsageError(
            f"-o: {args.output} is a folder; name the HTML file to write ({suggested.as_posix()})"
        )
    start = time.perf_counter()
    data = build_report_data(study, max_importance_trials=args.importance_trials)
    target = args.output or default_output(study.study_name)
    try:
        path = write_report(data, target, study_args=study_args(args))
    except OSError as error:
        raise (output_error("-o", target, error) or error) from None
    seconds = time.perf_counter() - start
    s = data.summary
    print(
        f"study {s.study_name}: {s.n_complete} complete, {s.n_pruned} pruned, "
        f"{s.n_failed} failed; {plural(len(data.front), 'strategy')} on the Pareto front"
    )
    size = path.stat().st_size / 1e6
    print(f"report written in {seconds:.1f} s ({size:.1f} MB): {path.resolve()}")
    return 0
