"""Report data: front, staircase, hypervolume, picks and summary, on hand-computed cases."""

from __future__ import annotations

import logging
import math

import numpy as np
import optuna
import pytest
from paretune.search import epochs_saved, epochs_spent, hypervolume, pareto_front_mask
from paretune.search.report import (
    TrialRow,
    build_report_data,
    constraint_picks,
    front_view,
    global_front,
    hypervolume_history,
    importances,
    optimization_history,
    rows_from_trials,
    staircase,
)
from paretune.search.study import add_synthetic_trials, create_synthetic_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _row(
    number: int,
    accuracy: float,
    size: float,
    *,
    state: str = "COMPLETE",
    feasible: bool = True,
    latency: float = 1.0,
    params: float = 100.0,
) -> TrialRow:
    metrics = {"size_bits": size, "latency_ms": latency, "params": params, "epochs": 5.0}
    return TrialRow(
        number, state, accuracy, accuracy, metrics, {"bits": 4}, (accuracy,), feasible, ""
    )


ROWS = (
    _row(0, 0.60, 400),
    _row(1, 0.80, 800),
    _row(2, 0.70, 900),  # dominated by 1
    _row(3, 0.90, 2000),
    _row(4, 0.95, 1000, feasible=False),  # would dominate 3 but breaks a constraint
    _row(5, 0.50, 100, state="PRUNED"),
    _row(6, math.nan, 50, state="FAIL"),
    _row(7, 0.80, 800),  # duplicate of 1: also on the front
)


def test_staircase_hand_computed() -> None:
    xs, ys = staircase([400, 800, 2000], [0.6, 0.8, 0.9], x_max=3000)
    assert xs == (400, 800, 800, 2000, 2000, 3000)
    assert ys == (0.6, 0.6, 0.8, 0.8, 0.9, 0.9)
    # a point that does not raise the best accuracy adds no step
    assert staircase([1, 2], [0.5, 0.5]) == ((1.0, 2.0), (0.5, 0.5))
    assert staircase([], []) == ((), ())
    with pytest.raises(ValueError, match="same length"):
        staircase([1], [])


def test_front_view_splits_the_trials() -> None:
    view = front_view(ROWS, "size_bits")
    assert [ROWS[i].number for i in view.front] == [0, 1, 7, 3]
    assert [ROWS[i].number for i in view.dominated] == [2]
    assert [ROWS[i].number for i in view.infeasible] == [4]
    assert [ROWS[i].number for i in view.pruned] == [5]
    assert view.stair_x == (400, 800, 800, 2000, 2000)  # ends at the largest cost (2000)
    assert view.stair_y == (0.6, 0.6, 0.8, 0.8, 0.9)
    assert view.log_x is True  # 100 .. 2000 spans more than a decade


def test_global_front_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    rows = tuple(
        _row(i, float(rng.random()), float(rng.integers(1, 50)), latency=float(rng.random()))
        for i in range(60)
    )
    front = global_front(rows, ["accuracy", "size_bits", "latency_ms"])
    points = np.array(
        [[-r.accuracy, r.metrics["size_bits"], r.metrics["latency_ms"]] for r in rows]
    )
    expected = {
        i
        for i in range(60)
        if not any(
            np.all(points[j] <= points[i]) and np.any(points[j] < points[i]) for j in range(60)
        )
    }
    assert set(front) == expected
    sizes = [rows[i].metrics["size_bits"] for i in front]
    assert sizes == sorted(sizes)


def test_hypervolume_history_hand_computed() -> None:
    h = hypervolume_history(ROWS, ["accuracy", "size_bits"])
    ref = 2000 * 1.1
    assert h.reference == (0.0, ref)
    assert h.trial_numbers == (0, 1, 2, 3, 7)
    first = 0.6 * (1 - 400 / ref)
    second = first + (0.8 - 0.6) * (1 - 800 / ref)
    third = second + (0.9 - 0.8) * (1 - 2000 / ref)
    assert h.values == pytest.approx((first, second, second, third, third))


def test_hypervolume_history_is_monotone_and_ends_at_the_full_value() -> None:
    study = create_synthetic_study(storage=None, study_name="hv")
    add_synthetic_trials(study, n_trials=400, seed=3)
    rows = rows_from_trials(study.trials)
    h = hypervolume_history(rows, ["accuracy", "size_bits"], max_points=37)
    assert len(h.values) <= 38
    assert all(b >= a - 1e-12 for a, b in zip(h.values, h.values[1:], strict=False))
    usable = [r for r in rows if r.state == "COMPLETE"]
    points = np.array([[-r.accuracy, r.metrics["size_bits"] / h.scale[1]] for r in usable])
    assert h.values[-1] == pytest.approx(hypervolume(points, [0.0, 1.0]))


def test_optimization_history() -> None:
    history = optimization_history(ROWS)
    assert [ROWS[i].number for i in history.rows] == [0, 1, 2, 3, 4, 7]
    # trial 4 is infeasible: it does not raise the best
    assert history.best_so_far == (0.6, 0.8, 0.8, 0.9, 0.9, 0.9)


def test_constraint_picks_hand_computed() -> None:
    # dense float32 = 100 params * 32 = 3200 bits: budgets 1600, 800, 320
    picks = constraint_picks(ROWS, ["accuracy", "size_bits"])
    chosen = {p.label: (p.selection.chosen.number if p.selection.chosen else None) for p in picks}
    # trial 4 (0.95 at 1000 bits) breaks a study constraint: never picked
    assert chosen["size ≤ 1/2 of dense float32"] == 1  # ties with 7: the lower number
    assert chosen["size ≤ 1/4 of dense float32"] == 1
    assert chosen["size ≤ 1/10 of dense float32"] is None
    assert picks[0].limits == {"size_bits": 1600.0}
    assert chosen["most accurate (study constraints only)"] == 3
    picks = constraint_picks(ROWS, ["accuracy", "size_bits"], constraints={"latency_ms": 0.5})
    assert all(p.selection.chosen is None for p in picks)


def _frozen(
    state: optuna.trial.TrialState, attrs: dict[str, object], values: list[float] | None
) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(state=state, values=values, user_attrs=attrs)


def test_rows_from_trials() -> None:
    S = optuna.trial.TrialState
    trials = [
        _frozen(S.COMPLETE, {"val_accuracy": 0.9, "test_accuracy": 0.88, "size_bits": 10.0,
                             "strategy": {"lr": 0.1}}, [0.9, 10.0]),
        _frozen(S.PRUNED, {"curve": [{"val_accuracy": 0.3}, {"val_accuracy": 0.4}],
                           "size_bits": 5.0, "prune_reason": "dominated"}, None),
        _frozen(S.FAIL, {"fail_reason": "diverged: nan"}, None),
        _frozen(S.COMPLETE, {"val_accuracy": 0.7, "size_bits": 99.0}, [0.7, 99.0]),
    ]  # fmt: skip
    for number, trial in enumerate(trials):
        trial.number = number
    rows = rows_from_trials(trials, constraints={"size_bits": 50.0})
    assert [r.state for r in rows] == ["COMPLETE", "PRUNED", "FAIL", "COMPLETE"]
    assert rows[0].accuracy == 0.9 and rows[0].test_accuracy == 0.88
    assert rows[0].strategy == {"lr": 0.1}
    assert rows[1].accuracy == 0.4 and rows[1].curve == (0.3, 0.4)
    assert rows[1].note == "dominated" and rows[2].note == "diverged: nan"
    assert math.isnan(rows[2].accuracy)
    assert [r.feasible for r in rows] == [True, True, False, False]


def test_build_report_data_on_a_synthetic_study() -> None:
    study = create_synthetic_study(
        storage=None, study_name="s", objectives=("accuracy", "size_bits", "latency_ms")
    )
    add_synthetic_trials(study, n_trials=300, seed=1)
    trials = study.get_trials(deepcopy=False)
    data = build_report_data(study, max_importance_trials=150)
    s = data.summary
    states = [t.state.name for t in trials]
    assert (s.n_complete, s.n_pruned, s.n_failed) == (
        states.count("COMPLETE"), states.count("PRUNED"), states.count("FAIL")
    )  # fmt: skip
    assert s.epochs_spent == epochs_spent(trials) and s.epochs_saved == epochs_saved(trials) > 0
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert s.best_accuracy == max(t.values[0] for t in complete)
    # the global front is the front of the study's values
    values = np.array([[-t.values[0], t.values[1], t.values[2]] for t in complete])
    expected = {complete[i].number for i in np.flatnonzero(pareto_front_mask(values))}
    assert {data.rows[i].number for i in data.front} == expected
    assert s.recommended.chosen is not None and s.recommended.chosen.number in expected
    assert [v.cost for v in data.fronts] == ["size_bits", "latency_ms"]
    assert set(data.importances) == {"accuracy", "size_bits", "latency_ms"}
    # size depends only on prune_rate and bits in the synthetic model
    size_importance = data.importances["size_bits"]
    assert max(size_importance, key=lambda k: size_importance[k]) in ("bits", "prune_rate")
    assert "lr" in data.dimensions and data.dimensions[:3] == ("bits", "prune_rate", "optimizer")


def test_importances_subsample_is_seeded_and_bounded() -> None:
    study = create_synthetic_study(storage=None, study_name="imp")
    add_synthetic_trials(study, n_trials=200, seed=2)
    first = importances(study.trials, ["accuracy", "size_bits"], max_trials=50, seed=4)
    again = importances(study.trials, ["accuracy", "size_bits"], max_trials=50, seed=4)
    assert first == again and set(first) == {"accuracy", "size_bits"}
    assert sum(first["accuracy"].values()) == pytest.approx(1.0)
    assert importances(study.trials[:2], ["accuracy", "size_bits"]) == {}


def test_importances_log_nothing_at_optunas_default_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    study = create_synthetic_study(storage=None, study_name="quiet")
    add_synthetic_trials(study, n_trials=20, seed=3)
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    optuna.logging.enable_propagation()
    try:
        with caplog.at_level(logging.INFO, logger="optuna"):
            assert importances(study.trials, ["accuracy", "size_bits"])
    finally:
        optuna.logging.disable_propagation()
        optuna.logging.set_verbosity(before)
    assert not [r for r in caplog.records if "A new study created" in r.getMessage()]
    assert optuna.logging.get_verbosity() == before
