"""``paretune run STUDY``: run a study, or resume it until it holds ``n_trials`` trials."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from paretune.search import StopReason
from paretune.search.executors import MAX_CONSECUTIVE_FAILURES
from paretune.studies._api import run_declared, study_from_file
from paretune.studies._config import StudyConfig
from paretune.studies._duration import parse_duration
from paretune.studies._failures import failed_run_line
from paretune.studies._loader import backend_key
from paretune.studies._runner import describe, interrupted_line, next_commands, outcome_lines
from paretune.studies._study_args import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_study_argument,
)
from paretune.studies._terminate import terminate_as_interrupt

#: Exit code after SIGTERM (128 + 15, what a shell reports for a process SIGTERM ended).
EXIT_TERMINATED = 143

__all__ = [
    "EXIT_TERMINATED",
    "add_parser",
    "overrides_from_args",
    "run",
]

#: flag destination -> (study-file key, flag as the user writes it)
FLAG_KEYS: dict[str, tuple[str, str]] = {
    "n_trials": ("n_trials", "--n-trials"),
    "timeout": ("timeout", "--timeout"),
    "storage": ("storage", "--storage"),
    "jobs": ("jobs", "--jobs"),
    "seed": ("seed", "--seed"),
    "max_total_epochs": ("max_total_epochs", "--max-total-epochs"),
    "fuse": ("fuse", "--fuse"),
    "backend": ("backend", "--backend"),
    "device": ("device", "--device"),
    "data_dir": ("data_dir", "--data-dir"),
    "mlflow": ("tracking.mlflow", "--mlflow"),
    "address": ("ray.address", "--address"),
    "gpus_per_trial": ("ray.gpus_per_trial", "--gpus-per-trial"),
    "cpus_per_trial": ("ray.cpus_per_trial", "--cpus-per-trial"),
    "max_concurrent": ("ray.max_concurrent", "--max-concurrent"),
    "storage_path": ("ray.storage_path", "--storage-path"),
    "gpus_per_worker": ("ray.gpus_per_worker", "--gpus-per-worker"),
    "cpus_per_worker": ("ray.cpus_per_worker", "--cpus-per-worker"),
}
#: flags whose key depends on the backend: ``KEY`` for local, ``ray.KEY`` for Ray
BACKEND_FLAG_KEYS: dict[str, tuple[str, str]] = {
    "workers_per_trial": ("workers_per_trial", "--workers-per-trial"),
}


def _duration(text: str) -> float:
    try:
        return float(parse_duration(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error} (got {text!r})") from None


def add_parser(subparsers: Any) -> None:
    """Register ``run`` and its flags (each overrides the study file's key)."""
    parser = subparsers.add_parser(
        "run",
        help="run a study, or resume it until it holds n_trials finished trials",
        description=(
            "Run a study or resume it: n_trials (in the file or --n-trials) is the number of "
            "finished (complete or pruned) trials the study should hold. Re-running a "
            "finished study runs nothing; an interrupted one runs only what is missing; a "
            "larger --n-trials extends it. Flags override the study file's keys."
        ),
    )
    add_study_argument(parser)
    parser.add_argument("--n-trials", type=int, metavar="N", help="finished trials to hold")
    parser.add_argument(
        "--timeout", type=_duration, metavar="T", help='stop starting trials after T ("10m")'
    )
    parser.add_argument("--storage", metavar="URL", help="Optuna storage URL")
    parser.add_argument(
        "--jobs", type=int, metavar="N", help="worker processes (needs journal:/// storage)"
    )
    parser.add_argument("--seed", type=int, metavar="S", help="sampler seed")
    parser.add_argument(
        "--max-total-epochs", type=int, metavar="N", help="epoch budget of the whole study"
    )
    parser.add_argument(
        "--fuse",
        type=int,
        metavar="K",
        help="train K compatible trials at once as one fused model (one process or Ray trial)",
    )
    parser.add_argument("--backend", metavar="local|ray", help="where trials run")
    parser.add_argument("--device", metavar="D", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--data-dir", metavar="DIR", help="where the task's data lies")
    parser.add_argument(
        "--mlflow",
        metavar="URI",
        help="log each trial as an MLflow run at this tracking URI ([tracking] mlflow)",
    )
    parser.add_argument(
        "--workers-per-trial",
        type=int,
        metavar="N",
        help="processes training each trial data-parallel (the local or the [ray] key)",
    )
    ray = parser.add_argument_group("Ray backend (--backend ray)")
    ray.add_argument("--address", metavar="A", help='Ray cluster address ("auto")')
    ray.add_argument("--gpus-per-trial", type=float, metavar="F", help="GPU share per trial")
    ray.add_argument("--cpus-per-trial", type=int, metavar="N", help="CPUs per trial")
    ray.add_argument("--max-concurrent", type=int, metavar="N", help="most trials at once")
    ray.add_argument("--storage-path", metavar="P", help="where Ray keeps checkpoints")
    ray.add_argument(
        "--gpus-per-worker", type=float, metavar="F", help="GPU share per data-parallel worker"
    )
    ray.add_argument(
        "--cpus-per-worker", type=int, metavar="N", help="CPUs per data-parallel worker"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress line (the summary is still printed)"
    )


def overrides_from_args(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """The study-file overrides the flags give, and the flag naming each (for messages).

    A flag of ``BACKEND_FLAG_KEYS`` overrides the key of the study's backend (the file's
    ``backend``, or ``--backend``): the top-level key for local, the ``[ray]`` one for Ray.

    Examples:
        >>> ns = argparse.Namespace(n_trials=5, timeout=None, address="auto")
        >>> overrides, labels = overrides_from_args(ns)
        >>> overrides
        {'n_trials': 5, 'ray.address': 'auto'}
        >>> labels
        {'n_trials': '--n-trials', 'ray.address': '--address'}
        >>> ns = argparse.Namespace(study="digits-quick", backend="ray", workers_per_trial=2)
        >>> overrides_from_args(ns)
        ({'backend': 'ray', 'ray.workers_per_trial': 2}, {'backend': '--backend', \
'ray.workers_per_trial': '--workers-per-trial'})
    """
    overrides: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for dest, (key, flag) in FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is not None:
            overrides[key] = value
            labels[key] = flag
    for dest, (name, flag) in BACKEND_FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is not None:
            key = backend_key(args.study, name, overrides=overrides)
            overrides[key] = value
            labels[key] = flag
    return overrides, labels


def run(args: argparse.Namespace) -> int:
    """Load the study file, open (or resume) the study and run the missing trials.

    The study goes through the Python API (``Study``): the same validation, the same run;
    this command only prints around it. Exit 1 when the run stopped on consecutive failed
    trials (it could not succeed; their distinct reasons are printed), 130 on Ctrl-C and
    143 on SIGTERM (both record the running trial as interrupted and queue it first).
    """
    overrides, labels = overrides_from_args(args)
    study = study_from_file(args.study, overrides=overrides, labels=labels)

    def announce(config: StudyConfig) -> None:
        print(describe(config), flush=True)

    with terminate_as_interrupt() as terminated:
        try:
            result = run_declared(study, progress=not args.quiet, on_start=announce)
        except KeyboardInterrupt as error:
            print(interrupted_line(error), file=sys.stderr)
            return EXIT_TERMINATED if terminated() else EXIT_INTERRUPTED
    if result.summary is not None:
        for line in outcome_lines(study.config, result.summary):
            print(line)
    print(next_commands(study.config, label=args.study, storage_flag=args.storage))
    if result.summary is not None and result.summary.stop_reason is StopReason.FAILURES:
        # it stopped on consecutive failures: the run could not succeed; say why
        line = failed_run_line(result.study, MAX_CONSECUTIVE_FAILURES)
        print(f"paretune: error: {line}", file=sys.stderr)
        return EXIT_ERROR
    # SIGTERM came as the run ended (its interrupt not delivered yet): the run is done, and
    # the exit status still says it was terminated
    return EXIT_TERMINATED if terminated() else EXIT_OK
