"""The search follows each metric's direction: spec, stored study, recording, pruners
(median, mo-asha), rung-tpe's split, selection and the report on a minimized metric."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from paretune.search import (
    Decision,
    OutcomeState,
    StudySpec,
    TrialOutcome,
    UnusableError,
    build_report_data,
    candidates_from_trials,
    direction_of,
    open_study,
    record_result,
    select_strategy,
    study_quality,
)
from paretune.search.pruning import MOAshaPruner
from paretune.search.samplers import rung_split
from paretune.spaces import Fixed, FloatDistribution, StrategySpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = StrategySpace(
    params={"lr": FloatDistribution(low=1e-3, high=1.0, log=True), "epochs": Fixed(value=4)}
)
RMSE = {"val_rmse": "minimize"}


def _spec(tmp_path: Path, objectives: tuple[str, ...], **fields: object) -> StudySpec:
    return StudySpec(
        name="d",
        storage=f"sqlite:///{tmp_path}/d.db",
        objectives=objectives,
        space=SPACE,
        metric_directions=fields.pop("metric_directions", RMSE),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def test_directions_come_from_the_study_not_the_vocabulary(tmp_path: Path) -> None:
    spec = _spec(tmp_path, ("val_rmse", "size_bits"))
    assert spec.directions == ("minimize", "minimize")
    study = open_study(spec)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.user_attrs["metric_directions"] == RMSE
    f1 = _spec(tmp_path, ("val_macro_f1",), metric_directions={"val_macro_f1": "maximize"})
    assert f1.directions == ("maximize",)
    with pytest.raises(ValueError, match="needs its direction"):
        direction_of("val_rmse")
    with pytest.raises(ValueError, match="must map task metrics"):
        _spec(tmp_path, ("val_rmse",), metric_directions={"val_rmse": "down"})


def test_an_accuracy_study_stores_what_it_stored_before(tmp_path: Path) -> None:
    spec = _spec(tmp_path, ("accuracy", "size_bits"), metric_directions={})
    study = open_study(spec)
    assert "metric_directions" not in study.user_attrs
    assert spec.directions == ("maximize", "minimize")


def test_record_result_writes_metric_values_in_objective_order(tmp_path: Path) -> None:
    study = open_study(_spec(tmp_path, ("size_bits", "val_rmse")))
    outcome = TrialOutcome(
        state=OutcomeState.COMPLETE,
        measurements={"val_rmse": 51.5, "test_rmse": 50.0, "size_bits": 900.0, "epochs": 4},
    )
    record_result(study, study.ask(), outcome)
    trial = study.trials[0]
    assert trial.values == [900.0, 51.5]
    assert trial.user_attrs["test_rmse"] == 50.0
    nan = TrialOutcome(state=OutcomeState.COMPLETE, measurements={"val_rmse": math.nan})
    record_result(study, study.ask(), {**nan.to_dict(), "size_bits": 1.0})
    assert study.trials[1].user_attrs["fail_reason"] == "objective 'val_rmse' (val_rmse) is nan"


def _finished(study: optuna.Study, curve: list[float], size: float) -> None:
    trial = study.ask()
    entries = [{"val_rmse": v, "size_bits": size} for v in curve]
    if len(study.directions) == 1:  # intermediate values, for Optuna's own pruners
        for epoch, entry in enumerate(entries, start=1):
            trial.report(entry["val_rmse"], epoch)
    trial.set_user_attr("curve", [{"epoch": e, **p} for e, p in enumerate(entries, start=1)])
    study.tell(trial, [curve[-1], size][: len(study.directions)])


def test_median_pruner_stops_the_higher_error_on_a_minimized_metric(tmp_path: Path) -> None:
    spec = _spec(tmp_path, ("val_rmse",), pruner="median", pruner_options={"n_startup_trials": 2})
    study = open_study(spec)
    for curve in ([60.0, 55.0, 52.0, 50.0], [62.0, 56.0, 53.0, 51.0], [61.0, 57.0, 54.0, 52.0]):
        _finished(study, curve, 1.0)
    pruner = spec.get_pruner()
    bad, good = study.ask(), study.ask()
    stop = pruner.decide(study=study, trial=bad, epoch=1, metrics={"val_rmse": 90.0})
    go = pruner.decide(study=study, trial=good, epoch=1, metrics={"val_rmse": 58.0})
    assert stop.decision is Decision.STOP and "val_rmse=90" in (stop.reason or "")
    assert go.decision is Decision.CONTINUE


def test_mo_asha_stops_the_worse_trials_on_a_minimized_metric(tmp_path: Path) -> None:
    options = {"min_epochs": 1, "reduction_factor": 2}
    spec = _spec(tmp_path, ("val_rmse", "size_bits"), pruner="mo-asha", pruner_options=options)
    study = open_study(spec)
    # three trials at the 1-epoch rung, same size: low error is better
    for rmse in (50.0, 60.0, 70.0):
        _finished(study, [rmse, rmse, rmse, rmse], 1000.0)
    pruner = spec.get_pruner()
    low, high = study.ask(), study.ask()
    metrics = {"size_bits": 1000.0}
    assert (
        pruner.decide(
            study=study, trial=low, epoch=1, metrics={**metrics, "val_rmse": 45.0}
        ).decision
        is Decision.CONTINUE
    )
    verdict = pruner.decide(study=study, trial=high, epoch=1, metrics={**metrics, "val_rmse": 80.0})
    assert verdict.decision is Decision.STOP
    assert "rank 4 of 4" in (verdict.reason or "")  # the worst of the rung


def test_mo_asha_refuses_a_cost_as_the_first_objective(tmp_path: Path) -> None:
    """Refused when the study is declared, before any trial runs; and by the pruner itself
    on a study whose stored objectives put a cost first."""
    with pytest.raises(UnusableError, match="first objective must be 'accuracy' or a task metric"):
        _spec(tmp_path, ("size_bits", "val_rmse"), pruner="mo-asha",
              pruner_options={"min_epochs": 1})  # fmt: skip
    study = open_study(_spec(tmp_path, ("val_rmse", "size_bits")))
    study.set_user_attr("objectives", ["size_bits", "val_rmse"])
    pruner = MOAshaPruner(min_epochs=1, max_epochs=4)
    with pytest.raises(ValueError, match="first objective must be 'accuracy' or a task metric"):
        pruner.decide(study=study, trial=study.ask(), epoch=1, metrics={})


def test_rung_tpe_split_puts_low_errors_among_the_good(tmp_path: Path) -> None:
    study = open_study(_spec(tmp_path, ("val_rmse",)))
    for rmse in (40.0, 50.0, 60.0, 70.0, 80.0, 90.0):
        _finished(study, [rmse + 10, rmse], 1.0)
    trials = study.get_trials(deepcopy=False)

    def split(points: list, n: int) -> tuple[list, list]:
        ranked = sorted(points, key=lambda p: p.values[0], reverse=True)  # higher score better
        return ranked[:n], ranked[n:]

    found = rung_split(trials, metrics=["val_rmse"], min_points=4, n_below=lambda n: 2,
                       split=split, direction="minimize")  # fmt: skip
    assert found is not None
    epoch, good, bad = found
    assert epoch == 2
    assert sorted(t.values[0] for t in good) == [40.0, 50.0]


def _regression_study(tmp_path: Path) -> optuna.Study:
    study = open_study(_spec(tmp_path, ("val_rmse", "size_bits")))
    for rmse, size in ((50.0, 4000.0), (55.0, 1000.0), (60.0, 2000.0), (48.0, 9000.0)):
        outcome = TrialOutcome(
            state=OutcomeState.COMPLETE,
            measurements={"val_rmse": rmse, "size_bits": size, "epochs": 4},
            curve=({"val_rmse": rmse + 5}, {"val_rmse": rmse}),
            strategy={"lr": 0.01},
        )
        record_result(study, study.ask(), outcome)
    return study


def test_selection_treats_lower_error_as_better(tmp_path: Path) -> None:
    study = _regression_study(tmp_path)
    quality = study_quality(study)
    assert (quality.key, quality.maximize) == ("val_rmse", False)
    candidates = candidates_from_trials(study.get_trials(), quality=quality)
    objectives = ["val_rmse", "size_bits"]
    best = select_strategy(candidates, objectives=objectives, quality=quality)
    assert best.chosen is not None and best.chosen.accuracy == 48.0
    capped = select_strategy(candidates, objectives=objectives, quality=quality,
                             limits={"size_bits": 5000.0})  # fmt: skip
    assert capped.chosen is not None and capped.chosen.accuracy == 50.0
    within = select_strategy(candidates, objectives=objectives, quality=quality, max_quality=56.0)
    assert within.chosen is not None and within.chosen.costs["size_bits"] == 1000.0
    assert "val_rmse <= 56" in within.reason
    # the front: trial 2 (60, 2000) is dominated by trial 1 (55, 1000)
    assert [c.number for c in best.feasible_front] == [1, 0, 3]


def test_report_front_best_and_hypervolume_on_a_minimized_metric(tmp_path: Path) -> None:
    data = build_report_data(_regression_study(tmp_path))
    assert data.summary.best_accuracy == 48.0 and data.summary.best_trial == 3
    assert sorted(data.front) == [0, 1, 3]
    assert data.history.best_so_far == (50.0, 50.0, 50.0, 48.0)
    values = data.hypervolume.values
    assert all(b >= a for a, b in zip(values, values[1:], strict=False)) and values[-1] > 0
    (view,) = data.fronts
    assert view.stair_y[0] == 55.0 and min(view.stair_y) == 48.0  # steps down as cost grows
    assert data.rows[0].curve == (55.0, 50.0)
