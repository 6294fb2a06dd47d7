"""Optuna-style callbacks on run_local, and MLflowTracker against a real local MLflow store."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState
from paretune.search import (
    MLflowTracker,
    StudySpec,
    make_storage,
    open_study,
    run_local,
    run_ray,
)
from paretune.spaces import CategoricalDistribution, Fixed, StrategySpace

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny is not installed")

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = StrategySpace(
    params={
        "lr": CategoricalDistribution(choices=(0.003, 0.01, 0.03, 0.5)),
        "bits": CategoricalDistribution(choices=(4, 8)),
        "epochs": Fixed(value=3),
    }
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> ModuleType:
    # on sys.path before the workers start, so that they can import the objective factory
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import fake_trainer_search

    return fake_trainer_search


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One MLflow SQLite store for the module (creating its tables takes seconds)."""
    folder = tmp_path_factory.mktemp("mlflow")
    yield f"sqlite:///{folder}/mlflow.db"


def _spec(name: str, **extra: Any) -> StudySpec:
    return StudySpec(
        name=name,
        storage=extra.pop("storage", f"sqlite:///{Path.cwd()}/{name}.db"),
        objectives=("accuracy", "size_bits"),
        space=SPACE,
        sampler="random",
        **extra,
    )


def _trials(spec: StudySpec) -> list[FrozenTrial]:
    return optuna.load_study(study_name=spec.name, storage=make_storage(spec.storage)).trials


class Recorder:
    """A callback recording (trial number, state) of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, TrialState]] = []

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        assert study.study_name and trial.state.is_finished()
        self.calls.append((trial.number, trial.state))


@pytest.mark.parametrize("jobs", [1, 2])
def test_callbacks_are_called_once_for_each_trial_the_run_ends(fake: ModuleType, jobs: int) -> None:
    storage = f"journal:///{Path.cwd()}/cb.log" if jobs > 1 else None
    spec = _spec("cb", **({"storage": storage} if storage else {}))
    factory = functools.partial(fake.make_fake, diverge_above_lr=0.1)
    first, second = Recorder(), Recorder()
    run_local(spec, objective_factory=factory, n_trials=3, jobs=jobs, callbacks=[first])
    ran = {t.number: t.state for t in _trials(spec)}
    assert sorted(first.calls) == sorted(ran.items())
    assert len(first.calls) == len(ran)  # once each

    # a longer run calls them for its own trials only
    run_local(spec, objective_factory=factory, n_trials=5, jobs=jobs, callbacks=(second,))
    new = {t.number: t.state for t in _trials(spec) if t.number not in ran}
    assert sorted(second.calls) == sorted(new.items()) and new


def test_a_callback_that_raises_fails_the_run_and_no_trial_starts_after_it(
    fake: ModuleType,
) -> None:
    spec = _spec("boom")

    def boom(study: optuna.Study, trial: FrozenTrial) -> None:
        raise RuntimeError(f"tracking is down (trial {trial.number})")

    with pytest.raises(RuntimeError, match=r"tracking is down \(trial 0\)"):
        run_local(spec, objective_factory=fake.make_fake, n_trials=4, callbacks=[boom])
    assert [t.state for t in _trials(spec)] == [TrialState.COMPLETE]


def test_a_callback_that_raises_with_jobs_lets_running_trials_finish(fake: ModuleType) -> None:
    spec = _spec("boom-jobs", storage=f"journal:///{Path.cwd()}/boom.log")

    def boom(study: optuna.Study, trial: FrozenTrial) -> None:
        raise RuntimeError("tracking is down")

    factory = functools.partial(fake.make_fake, sleep_s=0.05)
    with pytest.raises(RuntimeError, match="tracking is down"):
        run_local(spec, objective_factory=factory, n_trials=20, jobs=2, callbacks=[boom])
    trials = _trials(spec)
    assert all(t.state.is_finished() for t in trials)  # none left RUNNING
    assert len(trials) < 20


@pytest.mark.parametrize("run", [run_local, run_ray])
@pytest.mark.parametrize("callbacks", [print, "print", [print, 3]])
def test_callbacks_must_be_a_sequence_of_callables(run: Any, callbacks: Any) -> None:
    spec = _spec("bad", storage="sqlite:///unused.db")
    with pytest.raises(ValueError, match=r"The 'callbacks' parameter of run_\w+ must be a seq"):
        run(spec, objective_factory=lambda: None, n_trials=1, callbacks=callbacks)


def test_each_trial_becomes_an_mlflow_run(fake: ModuleType, store: str) -> None:
    spec = _spec("tracked")
    open_study(spec).enqueue_trial({"lr": 0.5, "bits": 4})  # diverges in this fake: FAIL
    tracker = MLflowTracker(tracking_uri=store)
    factory = functools.partial(fake.make_fake, diverge_above_lr=0.1)
    run_local(spec, objective_factory=factory, n_trials=4, callbacks=[tracker])

    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("tracked")  # default: the study's name
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    trials = _trials(spec)
    assert sorted(runs) == sorted(f"trial-{t.number}" for t in trials)
    for trial in trials:
        run = runs[f"trial-{trial.number}"]
        tags = run.data.tags
        assert (tags["study"], tags["trial"], tags["state"]) == (
            "tracked",
            str(trial.number),
            trial.state.name,
        )
        assert run.data.params == {k: str(v) for k, v in trial.user_attrs["strategy"].items()}
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        curve = trial.user_attrs["curve"]
        assert [(m.step, m.value) for m in history] == [
            (p["epoch"], pytest.approx(p["val_accuracy"])) for p in curve
        ]
        metrics = run.data.metrics
        if trial.state is TrialState.COMPLETE:
            assert run.info.status == "FINISHED"
            assert metrics["objective/accuracy"] == pytest.approx(trial.values[0])
            assert metrics["objective/size_bits"] == trial.values[1]
            assert metrics["final/size_bits"] == trial.user_attrs["size_bits"]
            assert metrics["final/epochs"] == 3
            assert "reason" not in tags
        else:
            assert trial.state is TrialState.FAIL
            assert run.info.status == "FAILED"
            assert tags["reason"] == trial.user_attrs["fail_reason"]
            assert not any(key.startswith("objective/") for key in metrics)
    assert trials[0].state is TrialState.FAIL


def test_the_task_parameters_are_one_param_each(store: str) -> None:
    study = optuna.create_study(study_name="knobs", directions=["maximize"])
    strategy = {"lr": 0.1, "task_params": {"width": 32, "depth": 2}}
    study.add_trial(
        optuna.trial.create_trial(values=[0.9], user_attrs={"strategy": strategy, "curve": []})
    )
    tracker = MLflowTracker(tracking_uri=store)
    run_id = tracker.log_trial(study, study.trials[0])
    params = mlflow.MlflowClient(tracking_uri=store).get_run(run_id).data.params
    assert params == {"lr": "0.1", "task_params.width": "32", "task_params.depth": "2"}


def test_log_export_adds_the_model_to_the_trial_run(fake: ModuleType, store: str) -> None:
    spec = _spec("exported")
    tracker = MLflowTracker(tracking_uri=store, experiment="exports")
    run_local(spec, objective_factory=fake.make_fake, n_trials=2, callbacks=[tracker])
    model = Path("model")
    model.mkdir()
    (model / "model.onnx").write_bytes(b"onnx")
    (model / "README.md").write_text("a model")

    run_id = tracker.log_export(model, trial_number=1, study_name="exported")
    client = mlflow.MlflowClient(tracking_uri=store)
    run = client.get_run(run_id)
    assert run.info.run_name == "trial-1" and run.data.tags["study"] == "exported"
    listed = sorted(a.path for a in client.list_artifacts(run_id, "model"))
    assert listed == ["model/README.md", "model/model.onnx"]
    # a trial that was never tracked gets a run of its own
    other = tracker.log_export(model, trial_number=7, study_name="exported")
    assert client.get_run(other).info.run_name == "trial-7"
    with pytest.raises(ValueError, match="must be a folder"):
        tracker.log_export(model / "README.md", trial_number=1)


def test_a_file_store_works_where_mlflow_allows_it(
    fake: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow 3 refuses file stores unless the user opts in with this variable.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file:{Path.cwd()}/mlruns"
    spec = _spec("filestore")
    run_local(
        spec,
        objective_factory=fake.make_fake,
        n_trials=2,
        callbacks=[MLflowTracker(tracking_uri=uri)],
    )
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("filestore")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["trial-0", "trial-1"]
    history = client.get_metric_history(runs[0].info.run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2, 3]


def test_the_tracker_validates_its_arguments_and_pickles() -> None:
    import pickle

    with pytest.raises(ValueError, match="The 'tracking_uri' parameter of MLflowTracker"):
        MLflowTracker(tracking_uri="  ")
    tracker = MLflowTracker(tracking_uri="sqlite:///x.db", experiment="e")
    assert repr(pickle.loads(pickle.dumps(tracker))) == repr(tracker)
