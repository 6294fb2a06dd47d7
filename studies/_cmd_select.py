"""``paretune select STUDY``: choose one strategy under limits, say why, optionally export it.

Exit codes: 0 chosen, 2 bad input (one message, no traceback), 3 nothing meets the limits
(the closest strategies are printed), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from paretune.search import (
    Candidate,
    Quality,
    Selection,
    format_quantity,
    study_quality,
)
from paretune.studies._api_select import (
    CLI,
    Bound,
    MissingTaskError,
    UntrustedTaskError,
    check_task_trust,
    choose,
    export_candidate,
)
from paretune.studies._builtin import resolve_study
from paretune.studies._checks import Where
from paretune.studies._preflight import check_device
from paretune.studies._study_args import (
    EXIT_OK,
    UsageError,
    add_study_arguments,
    open_existing_study,
)
from paretune.studies._table import format_number

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["EXIT_NOTHING_FEASIBLE", "add_parser", "run", "selection_to_dict"]

EXIT_NOTHING_FEASIBLE = 3


def add_parser(subparsers: Any) -> None:
    """Register ``select``."""
    parser = subparsers.add_parser(
        "select",
        help="choose a strategy under accuracy/cost limits (or the knee) and export it",
        description=(
            "Choose one strategy from a study's complete trials. With --max limits: the most "
            "accurate strategy within them; with only --min-accuracy: the cheapest on the "
            "study's first cost; with --knee: the knee of the feasible Pareto front; with "
            "nothing: the most accurate. The study's own constraints always apply. Exit code "
            "3 (and the closest strategies) when nothing meets the limits."
        ),
        epilog=(
            "units: sizes in bit, kbit, Mbit, B, kB, MB, KiB, MiB (size_bits=50kbit, 2MB); "
            "times in us, ms, s, min (latency_ms=3ms); counts with k, M, G (bitops=1.5G). "
            "The study's metric objective takes plain numbers: --max val_rmse=50, "
            "--min val_macro_f1=0.8"
        ),
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--min-accuracy", metavar="A", help="lowest validation accuracy (0.95 or 95%%)"
    )
    parser.add_argument(
        "--max",
        dest="limits",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="largest allowed cost, with units (size_bits=50kbit), or value of the study's "
        "metric objective (val_rmse=50); repeatable",
    )
    parser.add_argument(
        "--min",
        dest="minimums",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="lowest allowed value of the study's metric objective (val_macro_f1=0.8)",
    )
    parser.add_argument("--knee", action="store_true", help="the knee of the feasible front")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--export",
        metavar="DIR",
        help="retrain the chosen strategy on train+validation (like a trial: one torch "
        "thread) and export it to DIR: raw-input model, weights-only weights.pt, model.onnx, "
        "MODEL_CARD.md; DIR must be new or empty",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --export: write into a DIR that already holds files (never through a "
        "symbolic link)",
    )
    parser.add_argument(
        "--trust-task",
        action="store_true",
        help="with --export: import the study's user task (package.module:factory) named "
        "only by its storage; without it, give the study file that names the task",
    )
    parser.add_argument(
        "--device", default="auto", metavar="D", help="device for --export (auto, cpu, cuda)"
    )
    parser.add_argument(
        "--mlflow",
        metavar="URI",
        help="with --export: log the exported model to the chosen trial's MLflow run at URI",
    )


def _min_accuracy(text: str | None) -> float | None:
    if text is None:
        return None
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(
            f"--min-accuracy must be a number in [0, 1] or a percentage (got {text!r})"
        ) from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise UsageError(f"--min-accuracy must be in [0, 1] (got {text!r})")
    return value


def _candidate_dict(candidate: Candidate, quality: Quality) -> dict[str, Any]:
    """One candidate for ``--json``: its quality and the same metric on the test split."""
    test = candidate.test_accuracy
    return {
        "trial": candidate.number,
        quality.key: candidate.accuracy,
        quality.test_key: test if math.isfinite(test) else None,
        "costs": dict(candidate.costs),
        "strategy": dict(candidate.strategy),
    }


def selection_to_dict(
    selection: Selection, *, study_name: str, quality: Quality | None = None
) -> dict[str, Any]:
    """The JSON document ``select --json`` prints.

    Examples:
        >>> from paretune.search import Candidate, select_strategy
        >>> c = Candidate(3, 0.9, 0.88, {"size_bits": 800.0}, {"bits": 4})
        >>> doc = selection_to_dict(select_strategy([c], objectives=["accuracy", "size_bits"]),
        ...                         study_name="s")
        >>> doc["chosen"]["trial"], doc["rule"], doc["feasible"]
        (3, 'most accurate', True)
    """
    quality = quality or Quality()
    document = {
        "study": study_name,
        "feasible": selection.chosen is not None,
        "rule": selection.rule.value,
        "reason": selection.reason,
        "min_accuracy": selection.min_accuracy,
        "limits": dict(selection.limits),
        "n_candidates": selection.n_candidates,
        "chosen": _candidate_dict(selection.chosen, quality) if selection.chosen else None,
        "front": [_candidate_dict(c, quality) for c in selection.feasible_front],
        "closest": [
            {**_candidate_dict(s.candidate, quality), "misses": dict(s.misses)}
            for s in selection.closest
        ],
        "timing_noise": [
            noise.to_dict(around=selection.chosen.number if selection.chosen else None)
            for noise in selection.timing
        ],
    }
    if quality.key != "val_accuracy":
        document["metric"] = quality.key
        document["metric_direction"] = "maximize" if quality.maximize else "minimize"
        document["max_metric"] = selection.max_quality
    return document


def _print_text(selection: Selection, objectives: Sequence[str], quality: Quality) -> None:
    chosen = selection.chosen
    short = "val acc" if quality.key == "val_accuracy" else quality.key
    shown = "{:.4f}" if quality.key == "val_accuracy" else "{:.4g}"
    if chosen is None:
        print(f"nothing feasible: {selection.reason}")
        if selection.closest:
            print("closest strategies (how far each misses its limits):")
        for shortfall in selection.closest:
            c = shortfall.candidate
            misses = ", ".join(f"{k} by {v:.1%}" for k, v in shortfall.misses.items())
            costs = ", ".join(
                f"{k} {format_quantity(v, cost=k)}"
                for k, v in c.costs.items()
                if k in objectives or k in shortfall.misses
            )
            print(
                f"  trial {c.number}: {short} {shown.format(c.accuracy)}, {costs}; misses {misses}"
            )
        return
    print(f"chosen: trial {chosen.number} ({selection.rule.value})")
    print(f"why: {selection.reason}")
    if quality.key == "val_accuracy":
        test = (
            f"{chosen.test_accuracy:.4f}" if math.isfinite(chosen.test_accuracy) else "not recorded"
        )
        print(f"validation accuracy {chosen.accuracy:.4f}; test accuracy {test}")
    else:
        better = "higher is better" if quality.maximize else "lower is better"
        on_test = chosen.test_accuracy
        measured = f"{on_test:.4g}" if math.isfinite(on_test) else "not recorded"
        print(f"{quality.key} {chosen.accuracy:.4g} ({better}); {quality.test_key} {measured}")
    for name, value in chosen.costs.items():
        print(f"  {name:<15} {format_quantity(value, cost=name)}")
    for noise in selection.timing:  # a time objective that cannot tell the front apart
        if noise.involving(chosen.number):
            print(f"note: {noise.note(around=chosen.number)}")
    print("strategy:")
    for key, value in chosen.strategy.items():
        if value is not None:  # sub-parameters that do not apply to this strategy
            shown_value = format_number(value, digits=3) if isinstance(value, float) else value
            print(f"  {key:<15} {shown_value}")


def _print_export_tail(exported: dict[str, Any]) -> None:
    """Latencies, threads and the ONNX file (or why there is none) of an export."""
    onnx_ms, torch_ms = exported["latency_cpu_onnxruntime_ms"], exported["latency_cpu_torch_ms"]
    threads = exported["threads"]
    print(
        f"retrained in {exported['train_seconds']:.2f} s with {threads} torch "
        f"thread{'s' if threads != 1 else ''}; batch-1 CPU latency (1 thread): torch "
        f"{torch_ms:.3g} ms"
        + (f", ONNX Runtime {onnx_ms:.3g} ms" if math.isfinite(onnx_ms) else "")
    )
    if exported["onnx_skipped"]:
        print(f"ONNX skipped: {exported['onnx_skipped']}")
    else:
        print(f"ONNX: {exported['onnx']}; model card: {exported['directory']}/MODEL_CARD.md")


def _file_task(ref: str | None) -> str | None:
    """The task the study file ``ref`` names (None without a file, or a built-in study's)."""
    if ref is None:
        return None
    path, _ = resolve_study(ref)
    try:
        task = tomllib.loads(path.read_text(encoding="utf-8")).get("task")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # reading the study's location already named what is wrong
    return task if isinstance(task, str) else None


def _check_export(args: argparse.Namespace, study: Any) -> str | None:
    """Refuse ``--export`` early (exit 2): a user task nobody vouched for, or a folder that
    may not be written. Returns the task the study file names."""
    if not args.export:
        for flag, given in (("--force", args.force), ("--trust-task", args.trust_task)):
            if given:
                raise UsageError(f"{flag}: applies to an export, so it needs --export DIR")
        return None
    trusted = _file_task(args.study)
    task = (study.user_attrs.get("metadata") or {}).get("task")
    if isinstance(task, str) and task.startswith("__main__:"):
        raise UsageError(
            f"--export: the study's task {task!r} is a function of the script or notebook that "
            "ran the study, which this command cannot import: export from there "
            "(StudyResult.export), or move the factory into a module and name its path"
        )
    try:
        if task:
            check_task_trust(str(task), trusted=trusted, trust_task=args.trust_task)
        from paretune.trainers import EXPORT_FILES, check_export_dir  # imports torch

        check_export_dir(args.export, names=EXPORT_FILES, force=args.force)
    except UntrustedTaskError as error:
        raise UsageError(f"--export: {error}") from None
    except FileExistsError as error:
        raise UsageError(
            f"--export {args.export}: {str(error).replace('force=True (--force)', '--force')}"
        ) from None
    except ValueError as error:
        raise UsageError(f"--export {args.export}: {error}") from None
    return trusted


def run(args: argparse.Namespace) -> int:
    """Choose, print, and export."""
    min_accuracy = _min_accuracy(args.min_accuracy)
    study = open_existing_study(args)
    if "objectives" not in study.user_attrs:
        raise UsageError(
            f"study {study.study_name!r} was not made by paretune: it records no objectives, "
            "strategies or costs to select from"
        )
    if args.export:  # a device this machine lacks is bad input, refused before retraining
        check_device(Where("--device"), args.device)
    trusted = _check_export(args, study)
    quality = study_quality(study)
    objectives = list(study.user_attrs.get("objectives") or ["accuracy"])
    try:
        selection = choose(
            study,
            min_accuracy=min_accuracy,
            maximums=[Bound.from_text("--max", text) for text in args.limits],
            minimums=[Bound.from_text("--min", text) for text in args.minimums],
            knee=args.knee,
            syntax=CLI,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    document = selection_to_dict(selection, study_name=study.study_name, quality=quality)
    if selection.chosen is not None and args.export:
        if not args.json:
            print(f"retraining trial {selection.chosen.number} on train+validation ...")
        try:
            exported = export_candidate(
                study,
                selection.chosen,
                args.export,
                device=args.device,
                force=args.force,
                trusted=trusted,
                trust_task=args.trust_task,
                progress=sys.stderr,
            )
        except (MissingTaskError, UntrustedTaskError) as error:
            raise UsageError(f"--export: {error}") from None
        document["export"] = exported.to_dict()
        if args.mlflow:
            from paretune.search import MLflowTracker

            run_id = MLflowTracker(tracking_uri=args.mlflow).log_export(
                args.export, trial_number=selection.chosen.number, study_name=study.study_name
            )
            document["export"]["mlflow_run_id"] = run_id
    elif args.mlflow and not args.export:
        raise UsageError("--mlflow: logs an exported model, so it needs --export DIR")
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    else:
        _print_text(selection, objectives, quality)
        exported_doc = document.get("export")
        if exported_doc and math.isnan(exported_doc["test_accuracy"]):
            measured = ", ".join(f"{k} {v:.4g}" for k, v in exported_doc["test_metrics"].items())
            print(
                f"exported to {exported_doc['directory']}: {measured}, sparsity "
                f"{exported_doc['sparsity']:.1%}, size {exported_doc['size_bits']:.0f} bits"
            )
        elif exported_doc:
            measured = (
                f"test accuracy {exported_doc['test_accuracy']:.4f} (validation accuracy in the "
                f"study {exported_doc['val_accuracy']:.4f})"
            )
            test_key = "test_" + quality.key.removeprefix("val_")
            own = exported_doc["test_metrics"].get(test_key)
            if quality.key != "val_accuracy" and own is not None and selection.chosen:
                measured = (  # the study's own metric first: what it searched for
                    f"{test_key} {own:.4g} ({quality.key} in the study "
                    f"{selection.chosen.accuracy:.4g}), test accuracy "
                    f"{exported_doc['test_accuracy']:.4f}"
                )
            print(
                f"exported to {exported_doc['directory']}: {measured}, sparsity "
                f"{exported_doc['sparsity']:.1%}, size {exported_doc['size_bits']:,.0f} bits"
            )
        if exported_doc:
            _print_export_tail(exported_doc)
    return EXIT_OK if selection.chosen is not None else EXIT_NOTHING_FEASIBLE
