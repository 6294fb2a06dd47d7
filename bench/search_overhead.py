"""paretune's per-trial search overhead against a raw ``optuna`` ``study.optimize``.

Both sides do the same work per trial with a no-op trainer: sample the same space with the
same seeded sampler, store the same user attributes (strategy, every measurement, the
one-epoch curve) in a fresh SQLite file, and tell the same objective values. The difference is
what paretune adds: the reporter (curve + pruner), the worker mark used to recover killed
trials, result validation and recording.

Columns: raw optuna on a plain ``sqlite:///`` URL (Optuna's defaults: rollback journal, a
disk sync per commit, every running trial re-read from the database), raw optuna on the same
storage paretune opens (SQLite in WAL mode, behind :class:`OwnedTrialCache`, see
``paretune.search.make_storage``), and paretune. ``ratio`` compares paretune with the second
(same storage): that is paretune's own overhead; ``ratio vs plain`` is what a user moving
from a plain Optuna script sees. Each cell is the best of ``--repeat`` runs (the runs of the
three columns interleaved), which filters out other work on the machine.

``--sampler`` picks the sampler (paretune's registry names). With ``tpe`` or ``rung-tpe`` the
raw columns run Optuna's own ``TPESampler`` (``multivariate=True`` for rung-tpe, as paretune's
factory sets it) while paretune runs its own: the ratio then includes the sampler's work, which
grows with the study (paretune's ``tpe`` reads and splits the study once a trial, Optuna's once
a parameter; see ``search/samplers/_tpe.py``).

Usage::

    python bench/search_overhead.py                 # 100 and 1000 trials, random sampler
    python bench/search_overhead.py --trials 100 --sampler tpe
    python bench/search_overhead.py --trials 1000 3000 --sampler tpe --repeat 1
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
from paretune.search import MEASUREMENTS, StudySpec, get_sampler, make_storage, run_local
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
        "latency_ms_spread": 0.0,
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


def run_paretune(folder: Path, n_trials: int, sampler: str, seed: int) -> tuple[float, float]:
    spec = StudySpec(
        name="bench",
        storage=f"sqlite:///{folder}/paretune.db",
        objectives=OBJECTIVES,
        space=SPACE,
        sampler=sampler,
        seed=seed,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    summary = run_local(spec, objective_factory=make_noop_trainer, n_trials=n_trials)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if summary.complete != n_trials:
        raise RuntimeError(f"paretune finished {summary.complete} of {n_trials} trials")
    return wall, cpu


def optuna_sampler(name: str, *, seed: int) -> optuna.samplers.BaseSampler:
    """Optuna's own sampler for the raw columns: its ``TPESampler`` for ``tpe`` (and, with
    ``multivariate=True`` as paretune's factory sets it, for ``rung-tpe``), not paretune's."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "rung-tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    return get_sampler(name, seed=seed, n_objectives=2)  # Optuna's classes as they are


def run_raw_optuna(
    folder: Path, n_trials: int, sampler: str, seed: int, *, same_storage: bool
) -> tuple[float, float]:
    """``study.optimize`` on a plain ``sqlite:///`` URL, or on paretune's SQLite storage."""
    url = f"sqlite:///{folder}/raw.db"
    wall, cpu = time.perf_counter(), time.process_time()  # opening the study counts, as above
    study = optuna.create_study(
        storage=make_storage(url) if same_storage else url,
        study_name="bench",
        directions=["maximize", "minimize"],
        sampler=optuna_sampler(sampler, seed=seed),
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = suggest(SPACE, trial)
        result = fake_result(params)
        for key in ("strategy", *MEASUREMENTS, "curve"):  # what record_result stores
            trial.set_user_attr(key, result[key])
        return result["val_accuracy"], result["size_bits"]

    study.optimize(objective, n_trials=n_trials)
    return time.perf_counter() - wall, time.process_time() - cpu


def _not_nan(value: float) -> float:
    """Sort key of ``min``: a cell not measured yet (NaN) loses to any time."""
    return float("inf") if value != value else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--sampler", default="random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the best counts")
    parser.add_argument(
        "--columns",
        nargs="+",
        choices=("plain", "same", "paretune"),
        default=["plain", "same", "paretune"],
        help="which columns to run (a 10,000-trial raw TPE run takes hours: paretune alone)",
    )
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1; got {args.repeat}.")
    print(
        f"sampler={args.sampler}, SQLite (a fresh file per run), no-op trainer, "
        f"best of {args.repeat} runs"
    )
    print("ms per trial, wall clock (CPU time of the process in brackets)")
    print(
        f"{'trials':>7} {'optuna, plain URL':>20} {'optuna, same storage':>21} "
        f"{'paretune':>17} {'ratio':>11} {'vs plain':>9}"
    )
    for n_trials in args.trials:
        wall = dict.fromkeys(("plain", "same", "paretune"), float("nan"))
        cpu = dict(wall)
        for _ in range(args.repeat):
            for label in args.columns:
                with tempfile.TemporaryDirectory() as folder:
                    if label == "paretune":
                        seconds = run_paretune(Path(folder), n_trials, args.sampler, args.seed)
                    else:
                        seconds = run_raw_optuna(
                            Path(folder),
                            n_trials,
                            args.sampler,
                            args.seed,
                            same_storage=label == "same",
                        )
                wall[label] = min(wall[label], 1000 * seconds[0] / n_trials, key=_not_nan)
                cpu[label] = min(cpu[label], 1000 * seconds[1] / n_trials, key=_not_nan)
        cells = [f"{wall[k]:8.2f} ({cpu[k]:6.2f})" for k in ("plain", "same", "paretune")]
        ratio = f"{wall['paretune'] / wall['same']:4.2f} ({cpu['paretune'] / cpu['same']:4.2f})"
        print(
            f"{n_trials:>7} {cells[0]:>20} {cells[1]:>21} {cells[2]:>17} {ratio:>11} "
            f"{wall['paretune'] / wall['plain']:>9.2f}"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
