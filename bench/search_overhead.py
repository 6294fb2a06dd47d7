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

``--at N`` prices one more trial in a study that already holds N: a study of N trials is
filled once (random sampler, through paretune, kept in ``--base-dir``), each column runs on
a copy of it, and the time of the last ``--more`` trials (the first 10 left out: the study's
first read) is divided by their number. That is the cost a long-running sweep pays per
trial at that size, without the growth from empty (a 10,000-trial run from scratch with raw
TPE takes hours).

Usage::

    python bench/search_overhead.py                 # 100 and 1000 trials, random sampler
    python bench/search_overhead.py --at 1000 10000 --more 200   # marginal cost at 1k, 10k
    python bench/search_overhead.py --trials 1000 --sampler tpe --fuse 8   # batch asking
    python bench/search_overhead.py --trials 100 --sampler tpe
    python bench/search_overhead.py --trials 1000 3000 --sampler tpe --repeat 1
"""

from __future__ import annotations

import argparse
import shutil
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


class NoopGroupTrainer:
    """The no-op objective with ``run_group`` (``--fuse K``: the executor asks K at once)."""

    def __call__(
        self, params: dict[str, Any], report: Any, checkpoint_dir: str | None = None
    ) -> Any:
        return noop_trainer(params, report)

    def run_group(self, params: list[dict[str, Any]], reports: list[Any]) -> list[Any]:
        return [noop_trainer(p, r) for p, r in zip(params, reports, strict=True)]


def make_noop_trainer() -> Any:
    return noop_trainer


def make_noop_group_trainer() -> Any:
    return NoopGroupTrainer()


def _spec_at(folder: Path, sampler: str, seed: int) -> StudySpec:
    return StudySpec(
        name="bench",
        storage=f"sqlite:///{folder}/paretune.db",
        objectives=OBJECTIVES,
        space=SPACE,
        sampler=sampler,
        seed=seed,
    )


def run_paretune(
    folder: Path, n_trials: int, sampler: str, seed: int, fuse: int = 1
) -> tuple[float, float]:
    spec = _spec_at(folder, sampler, seed)
    wall, cpu = time.perf_counter(), time.process_time()
    factory = make_noop_group_trainer if fuse > 1 else make_noop_trainer
    summary = run_local(spec, objective_factory=factory, n_trials=n_trials, fuse=fuse)
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


def raw_objective(trial: optuna.Trial) -> tuple[float, float]:
    """The raw Optuna loop's objective: sample, store what record_result stores, return."""
    params = suggest(SPACE, trial)
    result = fake_result(params)
    for key in ("strategy", *MEASUREMENTS, "curve"):
        trial.set_user_attr(key, result[key])
    return result["val_accuracy"], result["size_bits"]


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

    study.optimize(raw_objective, n_trials=n_trials)
    return time.perf_counter() - wall, time.process_time() - cpu


def base_study(base_dir: Path, n_trials: int, seed: int) -> Path:
    """A SQLite file holding a study of ``n_trials`` finished trials (random sampler), made
    once and kept in ``base_dir``."""
    folder = base_dir / f"base{n_trials}"
    if not (folder / "paretune.db").exists():
        folder.mkdir(parents=True, exist_ok=True)
        spec = _spec_at(folder, "random", seed)
        run_local(spec, objective_factory=make_noop_trainer, n_trials=n_trials)
    return folder / "paretune.db"


class _Clock:
    """An Optuna-style callback timing the trials after the first ``skip``."""

    def __init__(self, skip: int = 10) -> None:
        self.skip, self.seen, self.started, self.cpu = skip, 0, 0.0, 0.0

    def __call__(self, study: Any, trial: Any) -> None:
        self.seen += 1
        if self.seen == self.skip:
            self.started, self.cpu = time.perf_counter(), time.process_time()

    def per_trial(self) -> tuple[float, float]:
        n = self.seen - self.skip
        return (
            (time.perf_counter() - self.started) / n,
            (time.process_time() - self.cpu) / n,
        )


def marginal(
    base: Path, folder: Path, label: str, n_trials: int, more: int, sampler: str, seed: int
) -> tuple[float, float]:
    """Seconds (wall, CPU) per trial of ``more`` trials added to a copy of ``base``."""
    shutil.copy(base, folder / "paretune.db")
    clock = _Clock()
    if label == "paretune":
        spec = _spec_at(folder, sampler, seed)
        run_local(
            spec, objective_factory=make_noop_trainer, n_trials=n_trials + more, callbacks=[clock]
        )
        return clock.per_trial()
    url = f"sqlite:///{folder}/paretune.db"
    study = optuna.load_study(
        study_name="bench",
        storage=make_storage(url) if label == "same" else url,
        sampler=optuna_sampler(sampler, seed=seed),
    )

    study.optimize(raw_objective, n_trials=more, callbacks=[clock])
    return clock.per_trial()


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
    parser.add_argument(
        "--at", type=int, nargs="+", help="price one more trial in studies of these sizes"
    )
    parser.add_argument("--more", type=int, default=200, help="trials added with --at (> 10)")
    parser.add_argument("--base-dir", type=Path, help="where --at keeps its filled studies")
    parser.add_argument(
        "--fuse", type=int, default=1, help="paretune asks K trials at once (batch asking)"
    )
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1; got {args.repeat}.")
    if args.fuse < 1 or (args.fuse > 1 and args.at):
        parser.error(f"--fuse must be >= 1 (and is not priced with --at); got {args.fuse}.")
    batch = f", paretune asking {args.fuse} trials at once" if args.fuse > 1 else ""
    print(
        f"sampler={args.sampler}, SQLite (a fresh file per run), no-op trainer, "
        f"best of {args.repeat} runs{batch}"
    )
    print("ms per trial, wall clock (CPU time of the process in brackets)")
    print(
        f"{'trials':>7} {'optuna, plain URL':>20} {'optuna, same storage':>21} "
        f"{'paretune':>17} {'ratio':>11} {'vs plain':>9}"
    )
    if args.at:
        if args.more <= 10:
            parser.error(f"--more must be > 10; got {args.more}.")
        print(f"(--at: ms per trial of {args.more - 10} trials added to a study of N)")
    sizes = args.at or args.trials
    base_dir = args.base_dir or Path(tempfile.mkdtemp(prefix="paretune-bench-"))
    for n_trials in sizes:
        base = base_study(base_dir, n_trials, args.seed) if args.at else None
        wall = dict.fromkeys(("plain", "same", "paretune"), float("nan"))
        cpu = dict(wall)
        for _ in range(args.repeat):
            for label in args.columns:
                with tempfile.TemporaryDirectory() as folder:
                    if base is not None:
                        per_trial = marginal(
                            base,
                            Path(folder),
                            label,
                            n_trials,
                            args.more,
                            args.sampler,
                            args.seed,
                        )
                    else:
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
                        per_trial = (seconds[0] / n_trials, seconds[1] / n_trials)
                wall[label] = min(wall[label], 1000 * per_trial[0], key=_not_nan)
                cpu[label] = min(cpu[label], 1000 * per_trial[1], key=_not_nan)
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
