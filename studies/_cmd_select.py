"""``paretune select STUDY``: choose one strategy under limits, say why, optionally export it.

Exit codes: 0 chosen, 2 bad input (one message, no traceback), 3 nothing meets the limits
(the closest strategies are printed), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from paretune.search import (
    COSTS,
    Candidate,
    Quality,
    Selection,
    candidates_from_trials,
    format_quantity,
    is_metric,
    parse_limit,
    select_strategy,
    study_quality,
)
from paretune.studies._study_args import (
    EXIT_OK,
    UsageError,
    add_study_arguments,
    open_existing_study,
)

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
        help="retrain the chosen strategy on train+validation and export the model to DIR",
    )
    parser.add_argument(
        "--device", default="auto", metavar="D", help="device for --export (auto, cpu, cuda)"
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


def _metric_bound(flag: str, text: str, quality: Quality) -> float | None:
    """The number of ``METRIC=VALUE`` when it names a metric, else None (a cost limit)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if name not in ("accuracy", "val_accuracy") and not is_metric(name):
        if flag == "--min":
            raise UsageError(
                f"--min {text}: --min bounds the study's metric objective "
                f"({quality.key}), written {quality.key}=VALUE"
            )
        return None
    if name not in (quality.key, quality.objective):
        raise UsageError(
            f"{flag} {text}: the study's metric objective is {quality.key}; "
            f"limits apply to it and to costs ({', '.join(COSTS)})"
        )
    try:
        number = float(value) if sep else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise UsageError(f"{flag} {text}: write {quality.key}=NUMBER")
    return number


def _limits(texts: Sequence[str], quality: Quality) -> tuple[dict[str, float], float | None]:
    limits: dict[str, float] = {}
    ceiling: float | None = None
    for text in texts:
        bound = _metric_bound("--max", text, quality)
        if bound is not None:
            ceiling = bound if ceiling is None else min(ceiling, bound)
            continue
        try:
            cost, value = parse_limit(text)
        except ValueError as error:
            raise UsageError(f"--max {text}: {error}") from None
        limits[cost] = min(value, limits.get(cost, math.inf))
    return limits, ceiling


def _floor(min_accuracy: float | None, texts: Sequence[str], quality: Quality) -> float | None:
    floors = [_metric_bound("--min", text, quality) for text in texts]
    if min_accuracy is not None:
        if quality.key != "val_accuracy":
            raise UsageError(
                f"--min-accuracy: the study's metric objective is {quality.key}; "
                f"use --min {quality.key}=VALUE or --max {quality.key}=VALUE"
            )
        floors.append(min_accuracy)
    known = [f for f in floors if f is not None]
    return max(known) if known else None


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
    print("strategy:")
    for key, value in chosen.strategy.items():
        if value is not None:  # sub-parameters that do not apply to this strategy
            print(f"  {key:<15} {value}")


def _export(
    study_attrs: Mapping[str, Any], chosen: Candidate, directory: str, device: str
) -> dict[str, Any]:
    from paretune import trainers  # imports torch: only when exporting

    metadata = study_attrs.get("metadata") or {}
    task_name = metadata.get("task")
    if not task_name:
        raise UsageError("--export: the study does not record its task (metadata.task)")
    task = trainers.get_task(
        str(task_name), data_dir=metadata.get("data_dir"), options=metadata.get("task_options")
    )
    strategy = trainers.strategy_from_params(chosen.strategy, task=task)
    result = trainers.train(task, strategy, device=device, fit_on_validation=True, keep_model=True)
    if result.status is not trainers.TrainStatus.COMPLETED:
        raise RuntimeError(
            f"retraining trial {chosen.number} ended {result.status.value}: {result.reason}"
        )
    path = trainers.export_model(directory, result=result, task=task)
    reloaded = trainers.load_exported(path)
    tested = {k: v for k, v in result.metrics.items() if k.startswith("test_")}
    if task.regression:  # no accuracy: the task's metrics on the test split instead
        reloaded_accuracy = math.nan
    else:
        reloaded_accuracy = trainers.evaluate(reloaded.model, task, split="test")
    return {
        "directory": str(path),
        "task": str(task_name),
        "test_metrics": tested,
        "test_accuracy": result.test_accuracy,
        "reloaded_test_accuracy": reloaded_accuracy,
        "sparsity": result.sparsity,
        "size_bits": result.size_bits,
        "bitops": result.bitops,
        "latency_ms": result.latency_ms,
    }


def run(args: argparse.Namespace) -> int:
    """Choose, print, and export."""
    min_accuracy = _min_accuracy(args.min_accuracy)
    study = open_existing_study(args)
    quality = study_quality(study)
    limits, ceiling = _limits(args.limits, quality)
    floor = _floor(min_accuracy, args.minimums, quality)
    objectives = list(study.user_attrs.get("objectives") or ["accuracy"])
    constraints = {str(k): float(v) for k, v in (study.user_attrs.get("constraints") or {}).items()}
    merged = {**constraints}
    for cost, value in limits.items():
        merged[cost] = min(value, merged.get(cost, math.inf))
    candidates = candidates_from_trials(study.get_trials(deepcopy=False), quality=quality)
    try:
        selection = select_strategy(
            candidates,
            objectives=objectives,
            min_accuracy=floor,
            limits=merged,
            knee=args.knee,
            quality=quality,
            max_quality=ceiling,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    document = selection_to_dict(selection, study_name=study.study_name, quality=quality)
    if selection.chosen is not None and args.export:
        if not args.json:
            print(f"retraining trial {selection.chosen.number} on train+validation ...")
        document["export"] = _export(study.user_attrs, selection.chosen, args.export, args.device)
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    else:
        _print_text(selection, objectives, quality)
        exported = document.get("export")
        if exported and math.isnan(exported["test_accuracy"]):
            measured = ", ".join(f"{k} {v:.4g}" for k, v in exported["test_metrics"].items())
            print(
                f"exported to {exported['directory']}: {measured}, sparsity "
                f"{exported['sparsity']:.1%}, size {exported['size_bits']:.0f} bits"
            )
        elif exported:
            print(
                f"exported to {exported['directory']}: test accuracy "
                f"{exported['test_accuracy']:.4f} (reloaded: "
                f"{exported['reloaded_test_accuracy']:.4f}), sparsity "
                f"{exported['sparsity']:.1%}, size {exported['size_bits']:.0f} bits"
            )
    return EXIT_OK if selection.chosen is not None else EXIT_NOTHING_FEASIBLE
