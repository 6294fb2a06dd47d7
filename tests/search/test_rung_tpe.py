"""rung-tpe: TPE's good/bad split made at the highest rung that enough trials reached."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import optuna
import pytest
from paretune.search import get_sampler
from paretune.search.pruning import MOAshaPruner, TrialReporter
from paretune.search.samplers import RungTPESampler, rung_split, split_complete_trials
from paretune.search.study import record_result
from paretune.spaces import CategoricalDistribution, Fixed, StrategySpace, suggest

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _trial(number: int, curve: list[tuple[float, float]], state: Any) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        state=state,
        values=[curve[-1][0], curve[-1][1]] if state == optuna.trial.TrialState.COMPLETE else None,
        params={"x": number},
        distributions={"x": optuna.distributions.IntDistribution(0, 100)},
        user_attrs={
            "curve": [
                {"epoch": e, "val_accuracy": acc, "size_bits": size}
                for e, (acc, size) in enumerate(curve, start=1)
            ]
        },
    )


PRUNED = optuna.trial.TrialState.PRUNED
COMPLETE = optuna.trial.TrialState.COMPLETE


def _split(trials: list[optuna.trial.FrozenTrial], min_points: int, n_good: int) -> Any:
    return rung_split(
        trials,
        metrics=["val_accuracy", "size_bits"],
        min_points=min_points,
        n_below=lambda n: n_good,
        split=lambda points, n: split_complete_trials(points, 2, n),
    )


def test_the_rung_is_the_last_epoch_min_points_trials_reached() -> None:
    trials = [
        _trial(0, [(0.5, 100)] * 4, COMPLETE),
        _trial(1, [(0.6, 100)] * 4, COMPLETE),
        _trial(2, [(0.7, 100)] * 2, PRUNED),
        _trial(3, [(0.2, 100)] * 1, PRUNED),
    ]
    epoch, _, _ = _split(trials, min_points=3, n_good=1)
    assert epoch == 2
    epoch, _, _ = _split(trials, min_points=2, n_good=1)
    assert epoch == 4
    assert _split(trials, min_points=5, n_good=1) is None  # not enough trials anywhere


def test_pruned_trials_rank_by_their_rung_values_and_the_ones_stopped_earlier_are_bad() -> None:
    trials = [
        _trial(0, [(0.5, 100), (0.55, 100)], COMPLETE),
        _trial(1, [(0.6, 100), (0.9, 100)], PRUNED),  # best at epoch 2, though pruned
        _trial(2, [(0.4, 100), (0.45, 100)], PRUNED),
        _trial(3, [(0.99, 100)], PRUNED),  # stopped at epoch 1: lost a comparison there
    ]
    epoch, good, bad = _split(trials, min_points=3, n_good=1)
    assert epoch == 2
    assert [t.params["x"] for t in good] == [1]
    assert sorted(t.params["x"] for t in bad) == [0, 2, 3]


def test_costs_count_in_the_ranking() -> None:
    trials = [
        _trial(0, [(0.90, 4000)], PRUNED),
        _trial(1, [(0.80, 100)], PRUNED),  # less accurate, much cheaper: not dominated
        _trial(2, [(0.70, 4000)], PRUNED),  # dominated by 0
    ]
    _, good, bad = _split(trials, min_points=3, n_good=2)
    assert sorted(t.params["x"] for t in good) == [0, 1]
    assert [t.params["x"] for t in bad] == [2]


def test_a_point_missing_a_metric_is_bad_and_a_nan_accuracy_is_the_worst() -> None:
    missing = _trial(0, [(0.9, 100)], PRUNED)
    del missing.user_attrs["curve"][0]["size_bits"]
    trials = [
        missing,
        _trial(1, [(math.nan, 100)], PRUNED),
        _trial(2, [(0.5, 100)], PRUNED),
        _trial(3, [(0.4, 100)], PRUNED),
    ]
    _, good, bad = _split(trials, min_points=3, n_good=2)
    assert sorted(t.params["x"] for t in good) == [2, 3]
    assert sorted(t.params["x"] for t in bad) == [0, 1]


def test_min_points_is_validated() -> None:
    with pytest.raises(ValueError, match="'min_points' parameter of RungTPESampler must be an int"):
        RungTPESampler(min_points=1)
    with pytest.raises(ValueError, match="Unknown option 'min_pts' for sampler 'rung-tpe'"):
        get_sampler("rung-tpe", seed=0, min_pts=3)


# A study where only the early epochs tell configurations apart: accuracy at every epoch
# grows with x, and mo-asha stops most trials at the first rungs.
SPACE = StrategySpace(
    params={"x": CategoricalDistribution(choices=tuple(range(10))), "epochs": Fixed(value=8)}
)


def _run(sampler: optuna.samplers.BaseSampler, n_trials: int) -> list[int]:
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.set_user_attr("objectives", ["accuracy", "size_bits"])
    pruner = MOAshaPruner(min_epochs=1, reduction_factor=3, max_epochs=8)
    drawn = []
    for _ in range(n_trials):
        trial = study.ask()
        params = suggest(SPACE, trial)
        x = int(params["x"])
        drawn.append(x)
        reporter = TrialReporter(study=study, trial=trial, pruner=pruner, pruner_name="mo-asha")
        curve = []
        for epoch in range(1, 9):
            metrics = {"val_accuracy": 0.05 * x + 0.01 * epoch, "size_bits": 100.0}
            curve.append({"epoch": epoch, **metrics})
            if reporter(epoch, metrics):
                break
        record_result(
            study,
            trial,
            {
                "status": "stopped" if len(curve) < 8 else "completed",
                "reason": reporter.prune_reason or "",
                "epochs": len(curve),
                "curve": curve,
                **curve[-1],
            },
            prune_reason=reporter.prune_reason,
        )
    return drawn


def test_rung_tpe_runs_a_study_with_mo_asha() -> None:
    sampler = get_sampler("rung-tpe", seed=0, n_objectives=2, n_startup_trials=10)
    drawn = _run(sampler, 60)
    assert sampler.last_rung is not None  # type: ignore[attr-defined]
    late = Counter(drawn[30:])
    assert late[9] + late[8] + late[7] >= 15, late  # the three best x (uniform: 9 of 30)


def _draws_after_pruned_trials(name: str) -> Counter[int]:
    """30 draws of x after 30 trials that were all pruned at epoch 2 (accuracy grows with x)."""
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=get_sampler(name, seed=0, n_objectives=2, n_startup_trials=10),
    )
    study.set_user_attr("objectives", ["accuracy", "size_bits"])
    distribution = optuna.distributions.CategoricalDistribution(list(range(10)))
    for number in range(30):
        x = number % 10
        curve = [
            {"epoch": e, "val_accuracy": 0.05 * x + 0.01 * e, "size_bits": 100.0} for e in (1, 2)
        ]
        study.add_trial(
            optuna.trial.create_trial(
                state=PRUNED,
                params={"x": x},
                distributions={"x": distribution},
                user_attrs={"curve": curve},
            )
        )
    drawn: Counter[int] = Counter()
    for _ in range(30):
        trial = study.ask()
        drawn[trial.suggest_categorical("x", list(range(10)))] += 1
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # FAIL: not learnt from
    return drawn


def test_rung_tpe_learns_from_trials_that_were_all_pruned() -> None:
    drawn = _draws_after_pruned_trials("rung-tpe")
    assert drawn[9] + drawn[8] + drawn[7] >= 20, drawn


def test_optuna_tpe_cannot_rank_pruned_trials_of_a_multi_objective_study() -> None:
    """Why rung-tpe exists: Optuna's TPE has no values to rank these pruned trials by."""
    drawn = _draws_after_pruned_trials("tpe")
    assert drawn[9] + drawn[8] + drawn[7] < 15, drawn


def test_a_strategy_already_trained_is_not_proposed_again() -> None:
    """Seven of the eight strategies of a grid are done: the eighth comes next."""
    grid = {"x": list(range(4)), "y": [0, 1]}
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=get_sampler("rung-tpe", seed=0, n_objectives=2, n_startup_trials=2, min_points=3),
    )
    study.set_user_attr("objectives", ["accuracy", "size_bits"])
    distributions = {k: optuna.distributions.CategoricalDistribution(v) for k, v in grid.items()}
    done = [(x, y) for x in grid["x"] for y in grid["y"]][:-1]
    for x, y in done:
        curve = [{"epoch": 1, "val_accuracy": 0.1 * x + 0.05 * y, "size_bits": 100.0}]
        study.add_trial(
            optuna.trial.create_trial(
                state=PRUNED,
                params={"x": x, "y": y},
                distributions=distributions,
                user_attrs={"curve": curve},
            )
        )
    trial = study.ask(distributions)
    assert (trial.params["x"], trial.params["y"]) == (3, 1)
    assert study.sampler.last_rung == 1  # type: ignore[attr-defined]
