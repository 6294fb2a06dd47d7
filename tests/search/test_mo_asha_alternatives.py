"""The alternative rung rankings the mo-asha benchmark measures (bench/mo_pruning.py)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
from paretune.search.pruning import Decision

BENCH = Path(__file__).parents[2] / "bench" / "mo_pruning.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mo_pruning_bench", BENCH)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {BENCH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


def test_similar_cost_ranks_only_against_trials_of_similar_cost(bench: ModuleType) -> None:
    pruner = bench.SimilarCostPruner(
        width=0.5, min_epochs=1, reduction_factor=2, max_epochs=9, rung_spacing="asha"
    )
    # two cost groups: around 1.0 (poor accuracy) and around 5.0 (good accuracy)
    others = [(-0.5, 1.0), (-0.6, 1.2), (-0.9, 5.0), (-0.95, 5.1), (-0.97, 4.9)]
    # the best of the cheap group continues although the expensive ones are all better
    cheap = pruner.core.judge(epoch=1, point=(-0.7, 1.1), others=others)
    assert cheap.decision is Decision.CONTINUE
    assert (cheap.position, cheap.n_at_rung, cheap.n_kept) == (0, 3, 2)
    # the worst of the expensive group stops: rank 4 of 4 there, only 2 continue
    expensive = pruner.core.judge(epoch=1, point=(-0.8, 5.0), others=others)
    assert expensive.decision is Decision.STOP
    assert (expensive.position, expensive.n_at_rung, expensive.n_kept) == (3, 4, 2)
    # alone in its cost range: continues; not a rung: continues
    assert pruner.core.decide(epoch=1, point=(0.0, 9.0), others=others) is Decision.CONTINUE
    assert pruner.core.rungs() == (1, 2, 4, 8)
    assert pruner.core.decide(epoch=3, point=(0.0, 1.0), others=others) is Decision.CONTINUE


def test_cost_cells_round_costs_down_and_keep_accuracy(bench: ModuleType) -> None:
    pruner = bench.CostCellPruner(cell=0.5, min_epochs=1, reduction_factor=2, max_epochs=9)
    names = ("val_accuracy", "size_bits")
    low = pruner._point({"val_accuracy": 0.9, "size_bits": math.e - 1}, names)
    high = pruner._point({"val_accuracy": 0.8, "size_bits": math.exp(1.4) - 1}, names)
    assert low == pytest.approx((-0.9, 1.0))
    assert high == pytest.approx((-0.8, 1.0))  # same cell: now dominated by `low`
    verdict = pruner.core.judge(epoch=1, point=high, others=[low])
    assert verdict.decision is Decision.STOP


def test_unknown_ranking_is_an_error(bench: ModuleType) -> None:
    with pytest.raises(ValueError, match="Known: nds, accuracy, cost-cells, similar-cost"):
        bench.mo_asha("random", grace=1, factor=3, ranking="hv")


def _toy_table(tmp_path: Path) -> Path:
    """12 strategies (lr x bits x optimizer) x 4 epochs; the front lies at bits 2, adam."""
    from paretune.trainers import ReplayRun, Strategy, write_replay_table

    runs = []
    for lr in (0.001, 0.01, 0.1):
        for bits in (2, 8):
            for optimizer in ("adam", "momentum"):
                top = 0.99 - (0.02 if optimizer == "momentum" else 0.0) - abs(lr - 0.01)
                curve = [{"val_accuracy": top - 0.01 * (3 - e)} for e in range(4)]
                size = 1000.0 * bits * (1.0 + lr)  # the cheaper the smaller the lr
                strategy = Strategy(optimizer=optimizer, lr=lr, bits=bits, epochs=4)
                runs.append(ReplayRun(strategy=strategy, curve=curve, costs={"size_bits": size}))
    path = tmp_path / "toy.npz"
    write_replay_table(path, runs, source_task="toy")
    return path


def test_the_bound_samples_inside_the_true_fronts_box(bench: ModuleType, tmp_path: Path) -> None:
    import numpy as np

    table = bench.load_table(_toy_table(tmp_path))
    curves = bench.load_curves(table.path)
    box = bench.front_box(table, curves)
    inside = {(curves.strategies[i]["optimizer"], curves.strategies[i]["bits"]) for i in box}
    assert inside == {("adam", 2)}  # the front: adam, 2 bits, lr 0.001 and 0.01
    assert sorted(curves.strategies[i]["lr"] for i in box) == [0.001, 0.01]
    rng = np.random.default_rng(0)
    # budget for the whole box: the oracle holds the true front every draw
    full = bench.oracle_outcomes(table, curves, box, budget=8, start=0, rung=0, draws=5, rng=rng)
    assert full == pytest.approx([1.0] * 5)
    # one of the two trained: a fraction of the front, never more
    half = bench.oracle_outcomes(table, curves, box, budget=4, start=0, rung=0, draws=20, rng=rng)
    assert max(half) < 1.0 and min(half) > 0.0
    # halving with no budget left after the rung: no outcome
    assert (
        bench.oracle_outcomes(table, curves, box, budget=3, start=2, rung=2, draws=3, rng=rng) == []
    )
    text = bench.bound(table, [8], draws=4)
    assert "front's box: 2 of 12 rows" in text and "| full training | 1.000, 1.00 |" in text


def test_phased_rungs_screen_hard_for_the_first_epochs_then_keep_the_gentle_ones(
    bench: ModuleType,
) -> None:
    import optuna

    pruner = bench.PhasedPruner(
        switch=2, early_grace=1, early_factor=8, min_epochs=2, reduction_factor=2, max_epochs=20
    )
    assert pruner.core_at(1).rungs() == pruner.core_at(2).rungs() == (1,)
    assert pruner.core_at(3).rungs() == (2, 4, 8)
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["accuracy", "size_bits"])
    metrics = {"val_accuracy": 0.5, "size_bits": 100.0}
    first, second, third = (study.ask() for _ in range(3))
    for trial in (first, second, third):
        verdict = pruner.decide(study=study, trial=trial, epoch=1, metrics=metrics)
        assert verdict.decision is Decision.CONTINUE  # no other trial at the rung
    assert pruner.reported == 3 and pruner.core is pruner.late
    with pytest.raises(ValueError, match="phased rungs rank as mo-asha does"):
        bench.mo_asha("rung-tpe", grace=2, factor=2, ranking="accuracy", phased=(300, 1, 8))
