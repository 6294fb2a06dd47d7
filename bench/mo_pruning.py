"""Multi-objective pruning benchmark: replay the digits-mlp grid, compare at equal epoch budgets.

Every method runs a study on the replay table ``bench/data/digits_mlp_grid.npz`` (built by
``bench/make_table.py``) with objectives (accuracy, size_bits) over the table's categorical
grid, and stops starting trials once the epochs it spent reach the budget (the
``max_total_epochs`` rule). Each study is an in-memory Optuna study driven through the same
pieces as ``run_local`` with one job (ask, ``spaces.suggest``, the replay task, paretune's
``TrialReporter`` + pruner, ``record_result``); ``run_local`` itself wants a file storage,
which would make the hundreds of studies here I/O-bound.

The score is the hypervolume of the completed trials' front divided by the hypervolume of
the table's true front, in (1 - validation accuracy, log10 size_bits scaled to [0, 1] over
the table) with the reference point (0.1, 1.1): only models above 90% validation accuracy
count (the best reach 99.2%); medians over seeds.

    OMP_NUM_THREADS=1 python bench/mo_pruning.py            # the main table
    OMP_NUM_THREADS=1 python bench/mo_pruning.py --sweep    # rung schedule / ranking study
    OMP_NUM_THREADS=1 python bench/mo_pruning.py --sweep --only "eta 3" --seeds 20 --first-seed 100
    python bench/mo_pruning.py --bound --budgets 300 1200   # what a method told the answer gets

``bench/data/digits_mlp_grid_seed1.npz`` is the same grid trained with seed 1
(``bench/make_table.py --seed 1``): ``--table`` it to measure on a table no set-up was chosen
on.

Methods: paretune ``mo-asha`` with the nsga2 and tpe samplers, the same samplers and random
search with full training, and Syne Tune's MOASHA (random configurations) when syne-tune is
importable (``pip install --target DIR --no-deps syne-tune dill``, then ``PYTHONPATH=DIR``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from numpy.typing import ArrayLike, NDArray
from paretune.search import hypervolume, pareto_front_mask
from paretune.search.pruning import MOAsha, MOAshaPruner, NoPruner, TrialPruner, TrialReporter
from paretune.search.samplers import get_sampler
from paretune.search.study import record_result
from paretune.spaces import CategoricalDistribution, Fixed, StrategySpace, suggest
from paretune.trainers import (
    Reporter,
    Strategy,
    Task,
    TrainResult,
    conditional_parameters,
    make_replay_task,
)

TABLE = Path(__file__).parent / "data" / "digits_mlp_grid.npz"
OBJECTIVES = ("accuracy", "size_bits")
#: Hypervolume reference point: 10% error (90% accuracy) and 1.1 x the table's log-size range.
REFERENCE = (0.1, 1.1)


@dataclass(frozen=True)
class Table:
    """What the benchmark needs from the replay table."""

    path: Path
    space: StrategySpace
    max_epochs: int
    true_front_hv: float
    log_low: float
    log_high: float
    n_rows: int

    def scaled(self, accuracy: ArrayLike, size_bits: ArrayLike) -> np.ndarray:
        error = 1.0 - np.asarray(accuracy, dtype=float)
        cost = (np.log10(np.asarray(size_bits, dtype=float)) - self.log_low) / (
            self.log_high - self.log_low
        )
        return np.column_stack([error, cost])

    def hv(self, accuracy: ArrayLike, size_bits: ArrayLike) -> float:
        if np.size(accuracy) == 0:
            return 0.0
        return float(hypervolume(self.scaled(accuracy, size_bits), REFERENCE))


@dataclass(frozen=True)
class Curves:
    """The table's rows as arrays."""

    strategies: list[dict[str, Any]]
    val_accuracy: NDArray[np.float64]  # (rows, epochs)
    epochs: NDArray[np.int64]
    final: NDArray[np.float64]
    size_bits: NDArray[np.float64]
    completed: NDArray[np.bool_]


def load_curves(path: Path) -> Curves:
    with np.load(path, allow_pickle=False) as data:
        strategies = [json.loads(str(s)) for s in data["strategies"]]
        curve = data["curve_val_accuracy"].astype(float)
        epochs = data["epochs"].astype(int)
        size_bits = data["size_bits"].astype(float)
        completed = np.asarray([str(s) == "completed" for s in data["status"]])
    final = curve[np.arange(len(strategies)), epochs - 1]
    return Curves(strategies, curve, epochs, final, size_bits, completed)


def load_table(path: Path) -> Table:
    """The grid space, the true front's hypervolume and the scaling of the table."""
    curves = load_curves(path)
    held, size_bits = curves.strategies, curves.size_bits
    levels: dict[str, list[Any]] = {}
    for row in held:
        for name, value in row.items():
            if value not in levels.setdefault(name, []):
                levels[name].append(value)
    params: dict[str, Any] = {}
    for name, values in levels.items():
        if name in conditional_parameters() or None in values:
            continue  # sub-parameters resolve to their defaults, as in the table
        if len(values) > 1:
            params[name] = CategoricalDistribution(choices=tuple(values))
        else:
            params[name] = Fixed(value=values[0])
    final, done = curves.final, curves.completed
    logs = np.log10(size_bits)
    table = Table(
        path=path,
        space=StrategySpace(params=params),
        max_epochs=int(curves.epochs.max()),
        true_front_hv=0.0,
        log_low=float(logs.min()),
        log_high=float(logs.max()),
        n_rows=len(held),
    )
    true_hv = table.hv(final[done], size_bits[done])
    return Table(**{**table.__dict__, "true_front_hv": true_hv})


@dataclass(frozen=True)
class Outcome:
    hv_ratio: float
    trials: int
    epochs: int
    completed: int

    @property
    def epoch_fraction(self) -> float:
        """Epochs spent / epochs that full training of the same trials would need."""
        return self.epochs / max(1, self.trials)


def _replay_of(task: Task) -> Callable[[Strategy, Reporter | None], TrainResult]:
    if task.replay is None:
        raise ValueError(f"Task {task.name!r} is not a replay task.")
    replay: Callable[[Strategy, Reporter | None], TrainResult] = task.replay
    return replay


def run_paretune(
    table: Table,
    *,
    sampler: str,
    pruner: TrialPruner,
    budget: int,
    seed: int,
    sampler_options: Mapping[str, Any] | None = None,
) -> Outcome:
    """One study through paretune's ask -> suggest -> replay -> record path, in memory."""
    task = make_replay_task(table.path)
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=get_sampler(sampler, seed=seed, n_objectives=2, **(sampler_options or {})),
    )
    study.set_user_attr("objectives", list(OBJECTIVES))
    study.set_user_attr("constraints", {})
    spent = trials = 0
    replay = _replay_of(task)
    while spent < budget:
        trial = study.ask()
        strategy = Strategy.from_dict(suggest(table.space, trial))
        trial.set_user_attr("strategy", strategy.to_dict())
        reporter = TrialReporter(study=study, trial=trial, pruner=pruner, pruner_name="bench")
        result = replay(strategy, reporter)
        record_result(study, trial, result.to_dict(), prune_reason=reporter.prune_reason)
        spent += result.epochs
        trials += 1
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    acc = [t.values[0] for t in done]
    size = [t.values[1] for t in done]
    return Outcome(table.hv(acc, size) / table.true_front_hv, trials, spent, len(done))


def run_syne_tune(table: Table, *, budget: int, seed: int, grace: int, factor: float) -> Outcome:
    """Syne Tune's MOASHA (random configurations), driven through the same replay."""
    from syne_tune.backend.trial_status import Trial
    from syne_tune.config_space import choice
    from syne_tune.optimizer.scheduler import SchedulerDecision
    from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

    np.random.seed(seed)  # Syne Tune samples configurations from NumPy's global generator
    task = make_replay_task(table.path)
    config_space: dict[str, Any] = {
        name: choice(list(d.choices)) if isinstance(d, CategoricalDistribution) else d.value
        for name, d in table.space.params.items()
    }
    scheduler = MOASHA(
        config_space=config_space,
        metrics=["error", "size_bits"],
        do_minimize=True,
        time_attr="epoch",
        max_t=table.max_epochs,
        grace_period=grace,
        reduction_factor=factor,
        random_seed=seed,
    )
    spent = trials = 0
    acc: list[float] = []
    size: list[float] = []
    replay = _replay_of(task)
    while spent < budget:
        config = scheduler.suggest().config
        trial = Trial(trial_id=trials, config=config, creation_time=None)
        scheduler.on_trial_add(trial)

        def report(epoch: int, metrics: Mapping[str, float], trial: Any = trial) -> bool:
            result = {
                "epoch": epoch,
                "error": 1.0 - metrics["val_accuracy"],
                "size_bits": metrics["size_bits"],
            }
            return bool(scheduler.on_trial_result(trial, result) == SchedulerDecision.STOP)

        result = replay(Strategy.from_dict(config), report)
        spent += result.epochs
        trials += 1
        if result.status.value == "completed":
            acc.append(result.val_accuracy)
            size.append(result.size_bits)
    return Outcome(table.hv(acc, size) / table.true_front_hv, trials, spent, len(acc))


def syne_tune_available() -> bool:
    try:
        import syne_tune.optimizer.schedulers.multiobjective.moasha  # noqa: F401
    except ImportError:
        return False
    return True


Method = Callable[[Table, int, int], Outcome]


def front_box(table: Table, curves: Curves) -> NDArray[np.intp]:
    """Rows whose every searched value is one a true-front row takes (the front's box)."""
    rows = np.flatnonzero(curves.completed)
    points = table.scaled(curves.final[rows], curves.size_bits[rows])
    counted = points[:, 0] < REFERENCE[0]
    front = rows[counted][pareto_front_mask(points[counted])]
    searched = [k for k, d in table.space.params.items() if isinstance(d, CategoricalDistribution)]
    allowed = {k: {curves.strategies[i][k] for i in front} for k in searched}
    inside = [i for i in rows if all(curves.strategies[i][k] in allowed[k] for k in searched)]
    return np.asarray(inside, dtype=np.intp)


def oracle_outcomes(
    table: Table,
    curves: Curves,
    box: NDArray[np.intp],
    *,
    budget: int,
    start: int,
    rung: int,
    draws: int,
    rng: np.random.Generator,
) -> list[float]:
    """HV ratios of successive halving inside ``box``: ``start`` rows to epoch ``rung``.

    The best by validation accuracy at ``rung`` train on to the last epoch while the budget
    lasts; ``rung = 0``: ``budget / epochs`` rows trained fully.
    """
    last = table.max_epochs
    ratios = []
    for _ in range(draws):
        if rung == 0:
            kept = rng.choice(box, min(len(box), budget // last), replace=False)
        else:
            rows = rng.choice(box, min(len(box), start), replace=False)
            n_kept = (budget - len(rows) * rung) // (last - rung)
            if n_kept < 1:
                return []
            ties = rng.random(len(rows)) * 1e-9  # ties broken at random
            kept = rows[np.argsort(-(curves.val_accuracy[rows, rung - 1] + ties))][:n_kept]
        ratios.append(table.hv(curves.final[kept], curves.size_bits[kept]) / table.true_front_hv)
    return ratios


def bound(table: Table, budgets: Sequence[int], *, draws: int = 400, seed: int = 0) -> str:
    """What a method told the true front's box in advance reaches at each budget.

    Two oracles sample only inside the box: full training, and successive halving with one
    rung, its schedule (start count, rung epoch) picked after the fact as the best median.
    """
    curves = load_curves(table.path)
    box = front_box(table, curves)
    rng = np.random.default_rng(seed)
    head = ["oracle told the front's box", *(f"HV ratio @ {b}, P(>= 0.995)" for b in budgets)]
    lines = [
        f"front's box: {len(box)} of {table.n_rows} rows",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    cells: dict[str, list[str]] = {"full training": [], "successive halving, best schedule": []}
    for b in budgets:
        full = oracle_outcomes(table, curves, box, budget=b, start=0, rung=0, draws=draws, rng=rng)
        cells["full training"].append(_median_and_share(full))
        best: tuple[float, str] = (-1.0, "")
        for start in sorted({min(n, len(box)) for n in (16, 24, 32, 48, 64, 96, 128, 256)}):
            for rung in (r for r in (1, 2, 4, 8) if r < table.max_epochs):
                ratios = oracle_outcomes(
                    table, curves, box, budget=b, start=start, rung=rung, draws=draws, rng=rng
                )
                if ratios and statistics.median(ratios) > best[0]:
                    text = f"{_median_and_share(ratios)} ({start} to epoch {rung})"
                    best = (statistics.median(ratios), text)
        cells["successive halving, best schedule"].append(best[1])
    lines += ["| " + " | ".join([name, *row]) + " |" for name, row in cells.items()]
    return "\n".join(lines)


def _median_and_share(ratios: Sequence[float]) -> str:
    share = float(np.mean(np.asarray(ratios) >= 0.995))
    return f"{statistics.median(ratios):.3f}, {share:.2f}"


class AccuracyOnlyPruner(MOAshaPruner):  # type: ignore[misc,unused-ignore]
    """MO-ASHA ranking on accuracy alone at the rungs (measured as an alternative)."""

    @staticmethod
    def _metrics(study: optuna.Study) -> tuple[str, ...]:
        return ("val_accuracy",)


class CostCellPruner(MOAshaPruner):  # type: ignore[misc,unused-ignore]
    """MO-ASHA with each cost rounded down to a cell of ``cell`` in ``log1p`` units.

    Trials whose costs share a cell compete on accuracy alone at the rungs (measured as an
    alternative: "accuracy within cost strata"; ``cell = 0.7`` is about a factor 2 in cost).
    """

    def __init__(self, *, cell: float, **options: Any) -> None:
        super().__init__(**options)
        self.cell = cell

    def _point(self, values: Mapping[str, Any], names: Sequence[str]) -> tuple[float, ...]:
        point = super()._point(values, names)
        return (point[0], *(np.floor(c / self.cell) * self.cell for c in point[1:]))


@dataclass(frozen=True, kw_only=True)
class _SimilarCostCore(MOAsha):
    """Rank a newcomer by accuracy among the trials within ``width`` of its (log) costs."""

    width: float = 0.35

    def _rank(self, rows: NDArray[np.float64]) -> tuple[int, int]:
        near = np.all(np.abs(rows[:, 1:] - rows[-1, 1:]) <= self.width, axis=1)
        error = np.where(np.isnan(rows[near, 0]), np.inf, rows[near, 0])
        return int((error[:-1] < error[-1]).sum()), int(near.sum())


class SimilarCostPruner(MOAshaPruner):  # type: ignore[misc,unused-ignore]
    """Successive halving on accuracy among trials of similar cost (measured alternative)."""

    def __init__(self, *, width: float, **options: Any) -> None:
        super().__init__(**options)
        # the same rung options (tie-break and spacing included), ranked the other way
        core = self.core
        fields = {f.name: getattr(core, f.name) for f in dataclasses.fields(core)}
        self.core = _SimilarCostCore(**fields, width=width)


class PhasedPruner(MOAshaPruner):  # type: ignore[misc,unused-ignore]
    """MO-ASHA with a harder schedule for the study's first ``switch`` epochs (measured as an
    alternative: screen hard while the budget is small, then keep the gentler rungs).

    Every epoch a trial reports counts, so ``switch`` is epochs spent by this process.
    """

    def __init__(self, *, switch: int, early_grace: int, early_factor: float, **options: Any):
        super().__init__(**options)
        self.late = self.core
        self.early = dataclasses.replace(
            self.core, min_epochs=early_grace, reduction_factor=early_factor
        )
        self.switch = switch
        self.reported = 0

    def core_at(self, reported: int) -> MOAsha:
        """The rung schedule for the ``reported``-th epoch reported to this pruner."""
        return self.early if reported <= self.switch else self.late

    def decide(
        self, *, study: optuna.Study, trial: optuna.Trial, epoch: int, metrics: Mapping[str, float]
    ) -> Any:
        self.reported += 1
        self.core = self.core_at(self.reported)
        return super().decide(study=study, trial=trial, epoch=epoch, metrics=metrics)


def _paretune(
    table: Table,
    budget: int,
    seed: int,
    *,
    sampler: str,
    pruner: Callable[[], TrialPruner],
    sampler_options: Mapping[str, Any] | None = None,
) -> Outcome:
    return run_paretune(
        table,
        sampler=sampler,
        pruner=pruner(),
        budget=budget,
        seed=seed,
        sampler_options=sampler_options,
    )


def _syne(table: Table, budget: int, seed: int, *, grace: int, factor: float) -> Outcome:
    return run_syne_tune(table, budget=budget, seed=seed, grace=grace, factor=factor)


def mo_asha(
    sampler: str,
    *,
    grace: int,
    factor: float,
    tie_break: str = "crowding",
    rung_spacing: str = "asha",
    ranking: str = "nds",
    ranking_option: float = 0.0,
    phased: tuple[int, int, float] | None = None,
    **sampler_options: Any,
) -> Method:
    """paretune's mo-asha, or a measured alternative ranking.

    ``ranking``: ``"nds"`` (mo-asha), ``"accuracy"`` (accuracy alone), ``"cost-cells"``
    (:class:`CostCellPruner`, cell ``ranking_option``) or ``"similar-cost"``
    (:class:`SimilarCostPruner`, width ``ranking_option``). ``phased``: ``(switch, grace,
    factor)``, that schedule for the first ``switch`` epochs (:class:`PhasedPruner`).
    """
    options: dict[str, Any] = {}
    cls: type[MOAshaPruner] = MOAshaPruner
    if ranking == "accuracy":
        cls = AccuracyOnlyPruner
    elif ranking == "cost-cells":
        cls, options = CostCellPruner, {"cell": ranking_option}
    elif ranking == "similar-cost":
        cls, options = SimilarCostPruner, {"width": ranking_option}
    elif ranking != "nds":
        raise ValueError(
            f"Unknown ranking {ranking!r}. Known: nds, accuracy, cost-cells, similar-cost."
        )
    if phased is not None:
        if ranking != "nds":
            raise ValueError(f"phased rungs rank as mo-asha does; got ranking {ranking!r}.")
        switch, early_grace, early_factor = phased
        cls = PhasedPruner
        options = {"switch": switch, "early_grace": early_grace, "early_factor": early_factor}
    pruner = functools.partial(
        cls,
        min_epochs=grace,
        reduction_factor=factor,
        tie_break=tie_break,
        rung_spacing=rung_spacing,
        **options,
    )
    return functools.partial(
        _paretune, sampler=sampler, pruner=pruner, sampler_options=sampler_options
    )


def full_training(sampler: str) -> Method:
    return functools.partial(_paretune, sampler=sampler, pruner=NoPruner)


def methods(*, grace: int, factor: float, tie_break: str, with_syne: bool) -> dict[str, Method]:
    """The main comparison."""
    label = f"grace {grace}, eta {factor:g}"
    found: dict[str, Method] = {
        f"paretune mo-asha + nsga2 ({label})": mo_asha(
            "nsga2", grace=grace, factor=factor, tie_break=tie_break
        ),
        f"paretune mo-asha + tpe ({label})": mo_asha(
            "tpe", grace=grace, factor=factor, tie_break=tie_break
        ),
        f"paretune mo-asha + rung-tpe ({label})": mo_asha(
            "rung-tpe", grace=grace, factor=factor, tie_break=tie_break
        ),
        f"paretune mo-asha + rung-tpe ({label}, full-stretch)": mo_asha(
            "rung-tpe", grace=grace, factor=factor, tie_break=tie_break, rung_spacing="full-stretch"
        ),
        "paretune mo-asha + rung-tpe (grace 2, eta 2, full-stretch)": mo_asha(
            "rung-tpe", grace=2, factor=2, tie_break=tie_break, rung_spacing="full-stretch"
        ),
        "paretune mo-asha + rung-tpe (grace 1, eta 8, full-stretch)": mo_asha(
            "rung-tpe", grace=1, factor=8, tie_break=tie_break, rung_spacing="full-stretch"
        ),
        "nsga2, full training": full_training("nsga2"),
        "tpe, full training": full_training("tpe"),
        "random, full training": full_training("random"),
    }
    if with_syne:
        found[f"Syne Tune MOASHA, random configs ({label})"] = functools.partial(
            _syne, grace=grace, factor=factor
        )
    return found


def sweep_methods() -> dict[str, Method]:
    """Rung schedule, grace period, tie-break and how cost enters the ranking (random sampler)."""
    runs: dict[str, Method] = {}
    for grace, factor in [(1, 3), (2, 3), (3, 3), (1, 2), (2, 2), (1, 4)]:
        runs[f"random + mo-asha, grace {grace}, eta {factor}"] = mo_asha(
            "random", grace=grace, factor=factor
        )
    runs["random + mo-asha, grace 1, eta 3, epsilon-net"] = mo_asha(
        "random", grace=1, factor=3, tie_break="epsilon-net"
    )
    runs["random + mo-asha, grace 1, eta 3, accuracy only"] = mo_asha(
        "random", grace=1, factor=3, ranking="accuracy"
    )
    for cell in (0.7, 1.0):
        runs[f"random + mo-asha, grace 1, eta 3, cost cells {cell}"] = mo_asha(
            "random", grace=1, factor=3, ranking="cost-cells", ranking_option=cell
        )
    for width in (0.1, 0.35):
        runs[f"random + similar-cost halving, grace 1, eta 3, width {width}"] = mo_asha(
            "random", grace=1, factor=3, ranking="similar-cost", ranking_option=width
        )
    runs["tpe + mo-asha, grace 1, eta 3"] = mo_asha("tpe", grace=1, factor=3)
    for sampler in ("random", "rung-tpe"):
        for grace, factor in [(1, 2), (2, 2), (1, 3)]:
            for spacing in ("asha", "full-stretch"):
                runs[f"{sampler} + mo-asha, grace {grace}, eta {factor}, {spacing} rungs"] = (
                    mo_asha(sampler, grace=grace, factor=factor, rung_spacing=spacing)
                )
    for grace, factor in [(1, 4), (1, 6), (1, 8)]:
        runs[f"rung-tpe + mo-asha, grace {grace}, eta {factor}, full-stretch rungs"] = mo_asha(
            "rung-tpe", grace=grace, factor=factor, rung_spacing="full-stretch"
        )
    runs["rung-tpe + mo-asha, grace 1, eta 8 for the first 300 epochs, then grace 2, eta 2"] = (
        mo_asha("rung-tpe", grace=2, factor=2, rung_spacing="full-stretch", phased=(300, 1, 8))
    )
    runs["random, full training"] = full_training("random")
    return runs


def evaluate(
    table: Table, runs: Mapping[str, Method], budgets: Sequence[int], seeds: Sequence[int]
) -> dict[str, dict[int, list[Outcome]]]:
    results: dict[str, dict[int, list[Outcome]]] = {}
    for name, method in runs.items():
        start = time.perf_counter()
        results[name] = {b: [method(table, b, seed) for seed in seeds] for b in budgets}
        print(f"  {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return results


def markdown(
    results: Mapping[str, Mapping[int, Sequence[Outcome]]], budgets: Sequence[int], max_epochs: int
) -> str:
    head = ["method", *(f"HV ratio @ {b} epochs" for b in budgets), "trials", "epochs / full"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, by_budget in results.items():
        cells = [name]
        for b in budgets:
            ratios = [o.hv_ratio for o in by_budget[b]]
            low, high = np.percentile(ratios, [25, 75])
            cells.append(f"{statistics.median(ratios):.3f} ({low:.3f}-{high:.3f})")
        last = by_budget[budgets[-1]]
        trials = statistics.median(o.trials for o in last)
        fraction = statistics.median(o.epochs / (o.trials * max_epochs) for o in last)
        cells += [f"{trials:g}", f"{fraction:.0%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds from this one on")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1200])
    parser.add_argument("--grace", type=int, default=1)
    parser.add_argument("--reduction-factor", type=float, default=2.0)
    parser.add_argument("--tie-break", default="crowding")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--only", default=None, help="run the methods whose name has this")
    parser.add_argument(
        "--bound", action="store_true", help="what a method told the true front's box gets"
    )
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = load_table(args.table)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    print(
        f"table {args.table}: {table.n_rows} strategies x {table.max_epochs} epochs; "
        f"budgets {args.budgets} epochs; {len(seeds)} seeds",
        file=sys.stderr,
    )
    if args.bound:
        print(bound(table, args.budgets))
        return 0
    if args.sweep:
        sweep = {k: v for k, v in sweep_methods().items() if (args.only or "") in k}
        results = evaluate(table, sweep, args.budgets, seeds)
        print(markdown(results, args.budgets, table.max_epochs))
        return 0
    with_syne = syne_tune_available()
    if not with_syne:
        print("syne-tune is not importable: its MOASHA row is left out", file=sys.stderr)
    runs = methods(
        grace=args.grace,
        factor=args.reduction_factor,
        tie_break=args.tie_break,
        with_syne=with_syne,
    )
    if args.only:
        runs = {k: v for k, v in runs.items() if args.only in k}
    print(markdown(evaluate(table, runs, args.budgets, seeds), args.budgets, table.max_epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
