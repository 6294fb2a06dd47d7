"""The report's faster reading of a study gives what a plain reading of the records gives.

Report rows (curves, strategies in report order), the constraint picks and the importance
ranking are computed on a small synthetic study plus a few odd records, and compared with an
independent reading of each trial's user attributes and with ``select``'s own candidates.
"""

from __future__ import annotations

import math
from collections import UserDict
from typing import Any

import optuna
import pytest
from paretune.search import candidates_from_trials, select_strategy
from paretune.search.report import constraint_picks, importances, rows_from_trials
from paretune.search.study import add_synthetic_trials, create_synthetic_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

OBJECTIVES = ["accuracy", "size_bits"]


@pytest.fixture(scope="module")
def trials() -> list[Any]:
    study = create_synthetic_study(storage=None, study_name="fast-paths")
    add_synthetic_trials(study, n_trials=150, seed=11)
    odd = [
        # a curve of mappings that are not dicts, one entry with the old key "accuracy"
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.PRUNED,
            user_attrs={
                "curve": [UserDict({"val_accuracy": 0.5}), {"accuracy": 0.625}],
                "strategy": {"lr": 0.1, "bits": 4, "momentum": None, "zeta": 1},
                "size_bits": 100.0,
            },
        ),
        # plain numbers as the curve, the task's own parameters beside the strategy fields
        optuna.trial.create_trial(
            values=[0.75, 80.0],
            user_attrs={
                "curve": [0.5, "0.75"],
                "val_accuracy": 0.75,
                "strategy": {"optimizer": "sgd", "task_params": {"width": 8}, "bits": 2},
                "size_bits": 80.0,
            },
        ),
    ]
    study.add_trials(odd)
    return list(study.get_trials(deepcopy=False))


def _curve(raw: list[Any]) -> tuple[float, ...]:
    out = []
    for entry in raw:
        value = entry.get("val_accuracy", entry.get("accuracy")) if hasattr(entry, "get") else entry
        out.append(float(value))
    return tuple(out)


def test_rows_hold_what_each_trial_recorded(trials: list[Any]) -> None:
    rows = rows_from_trials(trials)
    assert [r.number for r in rows] == sorted(t.number for t in trials)
    for trial, row in zip(sorted(trials, key=lambda t: t.number), rows, strict=True):
        attrs = trial.user_attrs
        curve = _curve(attrs.get("curve", []))
        assert row.state == trial.state.name
        assert row.curve == curve
        expected = float(attrs.get("val_accuracy", math.nan))
        if trial.state.name == "PRUNED" and math.isnan(expected) and curve:
            expected = curve[-1]
        assert row.accuracy == expected or (math.isnan(row.accuracy) and math.isnan(expected))
        for cost in ("size_bits", "bitops", "latency_ms", "epochs"):
            assert row.metrics.get(cost) == (float(attrs[cost]) if cost in attrs else None)
        strategy = dict(attrs["strategy"])
        strategy.update(strategy.pop("task_params", {}))
        assert row.strategy == {k: v for k, v in strategy.items() if v is not None}
    odd_pruned, odd_complete = rows[-2], rows[-1]
    assert odd_pruned.curve == (0.5, 0.625) and odd_pruned.accuracy == 0.625
    assert list(odd_pruned.strategy) == ["bits", "lr", "zeta"]  # report order, unknown last
    assert list(odd_complete.strategy) == ["bits", "optimizer", "width"]


def test_picks_choose_what_select_chooses(trials: list[Any]) -> None:
    picks = constraint_picks(rows_from_trials(trials), OBJECTIVES)
    candidates = candidates_from_trials(trials)
    assert len(picks) == 5
    for pick in picks:
        alone = select_strategy(
            candidates,
            objectives=OBJECTIVES,
            limits=dict(pick.limits),
            knee=pick.label.startswith("knee"),
        )
        assert alone.chosen is not None and pick.selection.chosen is not None
        assert pick.selection.chosen.number == alone.chosen.number
        assert [c.number for c in pick.selection.feasible_front] == [
            c.number for c in alone.feasible_front
        ]


def test_importances_rank_the_settings_that_set_the_size(trials: list[Any]) -> None:
    found = importances(trials[:150], OBJECTIVES, max_trials=1000, seed=0)  # params: not odd
    size = found["size_bits"]
    assert set(sorted(size, key=lambda k: -size[k])[:2]) == {"bits", "prune_rate"}
    assert math.isclose(sum(size.values()), 1.0, rel_tol=1e-6)
