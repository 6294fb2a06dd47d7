"""paretune studies are Optuna-native: metric names, learning curves as intermediate values.

Read back with Optuna's own API (``load_study``, ``trials_dataframe``, the plots) and with
optuna-dashboard's HTTP API (its WSGI app, called as a server would call it).
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.util import setup_testing_defaults

import optuna
import pytest
from optuna.trial import TrialState
from paretune.search import StudySpec, TrialReporter, get_pruner, make_storage, run_local
from paretune.search.study import create_synthetic_study, curve_metric, open_study
from paretune.spaces import CategoricalDistribution, Fixed, FloatDistribution, StrategySpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = StrategySpace(
    params={
        "lr": FloatDistribution(low=1e-3, high=0.3, log=True),
        "bits": CategoricalDistribution(choices=(4, 8, 32)),
        "epochs": Fixed(value=3),
    }
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> ModuleType:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import fake_trainer_search

    return fake_trainer_search


def _spec(tmp: Path, name: str, **extra: Any) -> StudySpec:
    return StudySpec(
        name=name,
        storage=extra.pop("storage", f"sqlite:///{tmp}/{name}.db"),
        objectives=extra.pop("objectives", ("accuracy", "size_bits")),
        space=extra.pop("space", SPACE),
        sampler=extra.pop("sampler", "random"),
        **extra,
    )


def _load(spec: StudySpec) -> optuna.Study:
    return optuna.load_study(study_name=spec.name, storage=make_storage(spec.storage))


def _dashboard_get(storage: str, path: str) -> Any:
    """GET ``path`` from optuna-dashboard's WSGI app over ``storage`` (a real request)."""
    import optuna_dashboard

    app = optuna_dashboard.wsgi(make_storage(storage))
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(line)

    body = b"".join(app(environ, start_response))
    assert status == ["200 OK"], body[:500]
    return json.loads(body)


def _no_warnings(call: Callable[[], Any]) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    assert [str(w.message) for w in caught] == []
    return result


@pytest.mark.slow
def test_a_trained_study_reads_as_a_native_optuna_study(workdir: Path) -> None:
    from paretune.studies import build_objective

    factory = functools.partial(build_objective, task="synthetic", task_options={"n_samples": 200})
    spec = _spec(workdir, "native")
    summary = run_local(spec, objective_factory=factory, n_trials=3)
    assert summary.complete == 3

    study = _load(spec)
    assert study.metric_names == ["accuracy", "size_bits"]
    frame = study.trials_dataframe()
    assert {"values_accuracy", "values_size_bits"} <= set(frame.columns)
    assert list(frame["values_accuracy"]) == [t.values[0] for t in study.trials]
    for trial in study.trials:
        curve = trial.user_attrs["curve"]
        assert [p["epoch"] for p in curve] == [1, 2, 3]
        # every epoch's validation accuracy is an intermediate value, step = epoch
        assert trial.intermediate_values == {p["epoch"]: p["val_accuracy"] for p in curve}
        assert "train_loss" in curve[0]  # the other metrics stay in the curve

    figure = _no_warnings(lambda: optuna.visualization.plot_intermediate_values(study))
    assert len(figure.data) == 3
    assert sorted(list(trace.x) for trace in figure.data) == [[1, 2, 3]] * 3

    summaries = _dashboard_get(spec.storage, "/api/studies")["study_summaries"]
    study_id = next(s["study_id"] for s in summaries if s["study_name"] == "native")
    detail = _dashboard_get(spec.storage, f"/api/studies/{study_id}")
    assert detail["objective_names"] == ["accuracy", "size_bits"]
    assert detail["has_intermediate_values"] is True
    by_number = {t.number: t for t in study.trials}
    for served in detail["trials"]:
        points = {p["step"]: p["value"] for p in served["intermediate_values"]}
        assert points == by_number[served["number"]].intermediate_values


def test_a_pruned_single_objective_study_reports_each_epoch_once(fake: ModuleType) -> None:
    spec = _spec(
        Path.cwd(),
        "single",
        objectives=("accuracy",),
        pruner="threshold",
        pruner_options={"lower": 0.1},
        space=StrategySpace(
            params={
                "lr": CategoricalDistribution(choices=(1e-6, 0.01)),
                "epochs": Fixed(value=4),
            }
        ),
    )
    factory = functools.partial(fake.make_fake)
    _no_warnings(lambda: run_local(spec, objective_factory=factory, n_trials=6))

    study = _load(spec)
    assert study.metric_names == ["accuracy"]
    assert "value_accuracy" in study.trials_dataframe().columns  # one objective: value_
    states = {t.state for t in study.trials}
    assert states == {TrialState.COMPLETE, TrialState.PRUNED}
    for trial in study.trials:
        curve = trial.user_attrs["curve"]
        assert trial.intermediate_values == {p["epoch"]: p["val_accuracy"] for p in curve}
        if trial.state is TrialState.PRUNED:
            assert trial.params["lr"] == 1e-6 and list(trial.intermediate_values) == [1]
        else:
            assert list(trial.intermediate_values) == [1, 2, 3, 4]
    figure = _no_warnings(lambda: optuna.visualization.plot_intermediate_values(study))
    assert len(figure.data) == 6


def test_worker_processes_store_the_curves_too(fake: ModuleType) -> None:
    spec = _spec(Path.cwd(), "jobs", storage="journal:///runs/jobs.log")
    run_local(spec, objective_factory=functools.partial(fake.make_fake), n_trials=4, jobs=2)
    study = _load(spec)
    assert study.metric_names == ["accuracy", "size_bits"]
    assert len(study.trials) == 4
    for trial in study.trials:
        assert trial.intermediate_values == {
            p["epoch"]: p["val_accuracy"] for p in trial.user_attrs["curve"]
        }
        assert len(trial.intermediate_values) == 3


@pytest.mark.parametrize("sampler", ["tpe", "rung-tpe"])
def test_tpe_samplers_learn_from_pruned_trials_that_carry_curves(
    fake: ModuleType, sampler: str
) -> None:
    # Optuna's own multi-objective TPE raises on PRUNED trials with intermediate values
    spec = _spec(
        Path.cwd(),
        f"mo-{sampler}",
        sampler=sampler,
        sampler_options={"n_startup_trials": 2},
        pruner="mo-asha",
        pruner_options={"min_epochs": 1, "reduction_factor": 2},
        space=StrategySpace(
            params={
                "lr": FloatDistribution(low=1e-6, high=0.3, log=True),
                "bits": CategoricalDistribution(choices=(4, 8, 32)),
                "epochs": Fixed(value=4),
            }
        ),
    )
    run_local(spec, objective_factory=functools.partial(fake.make_fake), n_trials=12)
    trials = _load(spec).trials
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    assert pruned and len(trials) == 12
    assert all(t.intermediate_values for t in pruned)


def test_a_study_made_before_metric_names_gets_them_on_open(workdir: Path) -> None:
    spec = _spec(workdir, "old")
    open_study(spec)
    storage = make_storage(spec.storage)
    study_id = storage.get_study_id_from_name(spec.name)
    # as an older paretune left it: user attributes, no metric names
    storage.set_study_system_attr(study_id, "study:metric_names", None)  # type: ignore[arg-type]
    assert _load(spec).metric_names is None
    open_study(spec)
    assert _load(spec).metric_names == ["accuracy", "size_bits"]


def test_a_cost_only_study_stores_its_first_objective_per_epoch(fake: ModuleType) -> None:
    assert curve_metric(["size_bits", "bitops"]) == "size_bits"
    spec = _spec(Path.cwd(), "costs", objectives=("size_bits", "bitops"))
    run_local(spec, objective_factory=functools.partial(fake.make_fake), n_trials=2)
    study = _load(spec)
    assert study.metric_names == ["size_bits", "bitops"]
    for trial in study.trials:
        bits = trial.params["bits"]
        assert trial.intermediate_values == {1: 1000.0 * bits, 2: 1000.0 * bits, 3: 1000.0 * bits}


def test_a_curve_returned_without_reports_is_stored_at_record_time(workdir: Path) -> None:
    def objective(
        params: Mapping[str, Any], report: Any, checkpoint_dir: str | None = None
    ) -> dict[str, Any]:
        curve = [{"val_accuracy": 0.2 * e, "size_bits": 8.0} for e in (1, 2)]
        return {"status": "completed", "val_accuracy": 0.4, "size_bits": 8.0, "curve": curve}

    spec = _spec(workdir, "silent")
    run_local(spec, objective_factory=lambda: objective, n_trials=1)
    assert _load(spec).trials[0].intermediate_values == {1: 0.2, 2: 0.4}


def test_a_reporter_on_a_multi_objective_study_writes_through_the_storage() -> None:
    study = create_synthetic_study(storage=None, study_name="mo")
    assert study.metric_names == ["accuracy", "size_bits"]
    trial = study.ask()
    report = TrialReporter(study=study, trial=trial, pruner=get_pruner("none"), pruner_name="none")
    for epoch, accuracy in ((1, 0.3), (2, 0.6)):
        assert report(epoch, {"val_accuracy": accuracy, "size_bits": 10.0}) is False
    assert study.trials[0].intermediate_values == {1: 0.3, 2: 0.6}


@pytest.fixture
def ray_fake(fake: ModuleType) -> Any:
    ray = pytest.importorskip("ray", reason="ray is not installed")
    from ray import cloudpickle

    # Ray workers cannot import the fake by name: send it by value.
    cloudpickle.register_pickle_by_value(fake)  # type: ignore[no-untyped-call]
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield fake
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(fake)  # type: ignore[no-untyped-call]


@pytest.mark.ray
@pytest.mark.slow
def test_a_ray_run_stores_the_curves_and_calls_back_in_the_driver(ray_fake: ModuleType) -> None:
    from paretune.search import run_ray

    spec = _spec(Path.cwd(), "ray-native")
    seen: list[tuple[int, str]] = []

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        seen.append((trial.number, trial.state.name))

    run_ray(
        spec,
        objective_factory=functools.partial(ray_fake.make_fake),
        n_trials=3,
        storage_path=Path.cwd() / "ray",
        callbacks=[record],
    )
    study = _load(spec)
    assert study.metric_names == ["accuracy", "size_bits"]
    assert sorted(seen) == [(t.number, t.state.name) for t in study.trials]
    for trial in study.trials:
        assert trial.intermediate_values == {
            p["epoch"]: p["val_accuracy"] for p in trial.user_attrs["curve"]
        }
        assert len(trial.intermediate_values) == 3

    def boom(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        raise RuntimeError("tracking is down")

    with pytest.raises(RuntimeError, match="tracking is down"):
        run_ray(
            spec,
            objective_factory=functools.partial(ray_fake.make_fake),
            n_trials=10,
            storage_path=Path.cwd() / "ray",
            max_concurrent=1,
            callbacks=[boom],
        )
    assert len(_load(spec).trials) == 4  # the run stopped after the trial that raised
