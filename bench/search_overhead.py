"""paretune's per-trial search overhead against a raw ``optuna`` ``study.optimize``.

Both sides do the same work per trial with a no-op trainer: sample the same space with the
same seeded sampler, store the same user attributes (strategy, every measurement, the
one-epoch curve) in a fresh SQLite file, and tell the same objective values. The difference is
what paretune adds: the reporter (curve + pruner), the worker mark used to recover killed
trials, result validation and recording.

Usage::

    python bench/search_overhead.py                 # 100 and 1000 trials, random sampler
    python bench/search_overhead.py --trials 100 --sampler tpe
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from paretune.search import StudySpec, run_local
from paretune.spaces import (
    CategoricalDistribution,
    Fixed,
    FloatDistribution,
    StrategySpace,
    suggest,
)

OBJECTIVES = ("accuracy", "size_bits")

SPACE = StrategySpace(
    params={
        "optimizer": CategoricalDistribution(choices=("sgd", "momentum", "adam")),
        "lr": FloatDistribution(low=1e-4, high=0.3, log=True),
        "momentum": FloatDistribution(low=0.5, high=0.99),
        "batch_size": CategoricalDistribution(choices=(16, 32, 64, 128)),
        "weight_decay": FloatDistribution(low=1e-6, high=1e-2, log=True),
        "bits": CategoricalDistribution(choices=(2, 4, 8, 32)),
        "epochs": Fixed(value=1),
    },
    conditions={"momentum": ("optimizer", ("momentum",))},
)


def fake_result(params: Mapping[str, Any]) -> dict[str, Any]:
    """What a trainer would return, computed from the params in microseconds."""
    accuracy = 1.0 - abs(params["lr"] - 0.01)
    size = 1000.0 * params["bits"]
    metrics = {"val_accuracy": accuracy, "train_loss": 0.1, "size_bits": size}
    return {
        "status": "completed",
        "reason": "",
        "val_accuracy": accuracy,
        "test_accuracy": accuracy,
        "params": 1000,
        "nonzero_params": 1000,
        "sparsity": 0.0,
        "size_bits": size,
        "bitops": size * 10,
        "latency_ms": 0.01,
        "train_seconds": 0.0,
        "epochs": 1,
        "curve": [metrics],
        "strategy": dict(params),
    }


def noop_trainer(params: dict[str, Any], report: Any, checkpoint_dir: str | None = None) -> Any:
    """The paretune objective: report one epoch, return the result."""
    result = fake_result(params)
    report(1, result["curve"][0])
    return result


def make_noop_trainer() -> Any:
    return noop_trainer


def run_paretune(folder: Path, n_trials: int, sampler: str, seed: int) -> float:
    spec = StudySpec(
        name="bench",
        storage=f"sqlite:///{folder}/paretune.db",
        objectives=OBJECTIVES,
        space=SPACE,
        sampler=sampler,
        seed=seed,
    )
    start = time.perf_counter()
    summary = run_local(spec, objective_factory=make_noop_trainer, n_trials=n_trials)
    elapsed = time.perf_counter() - start
    if summary.complete != n_trials:
        raise RuntimeError(f"paretune finished {summary.complete} of {n_trials} trials")
    return elapsed


def run_raw_optuna(folder: Path, n_trials: int, sampler: str, seed: int) -> float:
    from paretune.search import get_sampler

    study = optuna.create_study(
        storage=f"sqlite:///{folder}/raw.db",
        study_name="bench",
        directions=["maximize", "minimize"],
        sampler=get_sampler(sampler, seed=seed, n_objectives=2),
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = suggest(SPACE, trial)
        result = fake_result(params)
        for key in (
            "strategy",
            "val_accuracy",
            "test_accuracy",
            "params",
            "nonzero_params",
            "sparsity",
            "size_bits",
            "bitops",
            "latency_ms",
            "train_seconds",
            "epochs",
            "curve",
        ):
            trial.set_user_attr(key, result[key])
        return result["val_accuracy"], result["size_bits"]

    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--sampler", default="random")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"sampler={args.sampler}, storage=SQLite (fresh file per run), no-op trainer")
    print(f"{'trials':>7} {'raw optuna ms/trial':>20} {'paretune ms/trial':>18} {'ratio':>6}")
    for n_trials in args.trials:
        with tempfile.TemporaryDirectory() as raw_dir, tempfile.TemporaryDirectory() as our_dir:
            raw = run_raw_optuna(Path(raw_dir), n_trials, args.sampler, args.seed)
            ours = run_paretune(Path(our_dir), n_trials, args.sampler, args.seed)
        raw_ms, our_ms = 1000 * raw / n_trials, 1000 * ours / n_trials
        print(f"{n_trials:>7} {raw_ms:>20.2f} {our_ms:>18.2f} {our_ms / raw_ms:>6.2f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
