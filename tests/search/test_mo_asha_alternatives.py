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
