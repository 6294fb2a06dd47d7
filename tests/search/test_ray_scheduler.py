"""Every pruner runs on Ray as the local pruner, deciding the same (no Ray started)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from paretune.search import StudySpec, TrialReporter, Verdict, get_pruner, list_pruners
from paretune.search.study import open_study
from paretune.spaces import CategoricalDistribution, Fixed, StrategySpace

pytest.importorskip("ray", reason="ray is not installed")

from paretune.search.tune import (  # noqa: E402
    StudyPrunerScheduler,
    StudySearcher,  # noqa: E402
    epoch_result,  # noqa: E402
    make_scheduler,
    study_searcher,
)
from ray.tune.schedulers import FIFOScheduler  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

EPOCHS = 4
OPTIONS: dict[str, dict[str, Any]] = {
    "asha": {"min_resource": 1, "reduction_factor": 2},
    "hyperband": {"min_resource": 1, "max_resource": EPOCHS, "reduction_factor": 2},
    "median": {"n_startup_trials": 2},
    "percentile": {"percentile": 50.0, "n_startup_trials": 2},
    "threshold": {"lower": 0.5, "n_warmup_steps": 2},
    "mo-asha": {"min_epochs": 1, "reduction_factor": 2},
}
#: The learning rate of trial i (its curve), whatever the sampler drew.
RATES = (0.05, 0.8, 0.1, 0.4, 0.2, 1.6, 0.05, 0.4, 0.8, 0.1, 0.2, 1.6)


def _objectives(pruner: str) -> tuple[str, ...]:
    return ("accuracy", "size_bits") if pruner == "mo-asha" else ("accuracy",)


def _spec(tmp: Path, pruner: str, options: dict[str, Any], objectives: tuple[str, ...]) -> Any:
    return StudySpec(
        name="s",
        storage=f"sqlite:///{tmp}/s.db",
        objectives=objectives,
        space=StrategySpace(
            params={
                "lr": CategoricalDistribution(choices=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6)),
                "epochs": Fixed(value=EPOCHS),
            }
        ),
        sampler="random",
        pruner=pruner,
        pruner_options=options,
    )


def _metrics(number: int, epoch: int) -> dict[str, float]:
    accuracy = 1.0 - math.exp(-RATES[number] * epoch)
    return {"val_accuracy": accuracy, "train_loss": 1.0 - accuracy, "size_bits": 100.0 * number}


Decided = list[tuple[int, int, Verdict]]


def _local_run(tmp: Path, pruner: str) -> tuple[Decided, optuna.Study]:
    """The local executor's path: its trial, its reporter, the registry's pruner."""
    spec = _spec(tmp, pruner, OPTIONS[pruner], _objectives(pruner))
    study = open_study(spec)
    decided: Decided = []

    class Recording:
        def __init__(self) -> None:
            self.pruner = get_pruner(pruner, **OPTIONS[pruner])

        def decide(self, **kwargs: Any) -> Verdict:
            verdict = self.pruner.decide(**kwargs)
            decided.append((kwargs["trial"].number, kwargs["epoch"], verdict))
            return verdict

    recording = Recording()
    for number in range(len(RATES)):
        trial = study.ask()
        reporter = TrialReporter(study=study, trial=trial, pruner=recording, pruner_name=pruner)
        stopped = any(reporter(epoch, _metrics(number, epoch)) for epoch in range(1, EPOCHS + 1))
        _finish(study, trial, stopped, number, len(reporter.curve))
    return decided, study


def _ray_run(tmp: Path, pruner: str) -> tuple[Decided, optuna.Study]:
    """The Ray driver's path: Tune's results through the searcher and the pruner scheduler."""
    spec = _spec(tmp, pruner, OPTIONS[pruner], _objectives(pruner))
    # (the trials are told here, not through Tune: the searcher counts them in flight)
    searcher = StudySearcher(
        spec=spec, n_trials=3 * len(RATES), timeout=None, channel_name="c", max_failed_trials=1
    )
    scheduler = make_scheduler(spec, channel_name="c")
    assert isinstance(scheduler, StudyPrunerScheduler)
    # Tune hands schedulers its controller; the searcher sits behind its wrappers.
    controller = SimpleNamespace(search_alg=SimpleNamespace(searcher=searcher))
    decided: Decided = []
    for number in range(len(RATES)):
        trial_id = f"t{number}"
        tune_trial = SimpleNamespace(trial_id=trial_id, config=searcher.suggest(trial_id))
        handle = searcher.optuna_trial(trial_id)
        assert handle is not None and handle.number == number
        stopped, epochs = False, 0
        for epoch in range(1, EPOCHS + 1):
            result = epoch_result(epoch, _metrics(number, epoch))
            verdict = scheduler.verdict(controller, tune_trial, result)  # Tune: scheduler first
            searcher.on_trial_result(trial_id, result)
            decided.append((number, epoch, verdict))
            epochs = epoch
            if verdict.decision.value == "stop":
                stopped = True
                break
        _finish(searcher.study, handle, stopped, number, epochs)
    return decided, searcher.study


def _finish(study: optuna.Study, trial: Any, stopped: bool, number: int, epochs: int) -> None:
    if stopped:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    metrics = _metrics(number, epochs)
    values = [metrics["val_accuracy"]] + (
        [metrics["size_bits"]] if len(study.directions) > 1 else []
    )
    study.tell(trial, values)


def test_none_is_fifo(tmp_path: Path) -> None:
    scheduler = make_scheduler(_spec(tmp_path, "none", {}, ("accuracy",)), channel_name="c")
    assert type(scheduler) is FIFOScheduler


def test_every_other_pruner_runs_the_local_pruner_inside_a_ray_scheduler(tmp_path: Path) -> None:
    assert set(OPTIONS) == set(list_pruners()) - {"none"}
    for name, options in OPTIONS.items():
        spec = _spec(tmp_path, name, options, _objectives(name))
        assert isinstance(make_scheduler(spec, channel_name="c"), StudyPrunerScheduler)
    # any option of the local pruner is an option on Ray (Optuna's own, with its defaults)
    spec = _spec(tmp_path, "median", {"n_min_trials": 2, "interval_steps": 1}, ("accuracy",))
    assert isinstance(make_scheduler(spec, channel_name="c"), StudyPrunerScheduler)


@pytest.mark.parametrize("pruner", sorted(OPTIONS))
def test_the_ray_path_decides_as_the_local_one(tmp_path: Path, pruner: str) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "ray").mkdir()
    local, local_study = _local_run(tmp_path / "local", pruner)
    remote, ray_study = _ray_run(tmp_path / "ray", pruner)
    assert remote == local  # same decisions, same reasons, at the same epochs
    stops = [verdict for _, _, verdict in local if verdict.decision.value == "stop"]
    assert stops, f"{pruner} stopped no trial"
    assert all(
        v.reason and v.reason.startswith(f"{pruner} pruner stopped the trial") for v in stops
    )
    # the Optuna trials hold the same states, values and intermediate values
    for a, b in zip(local_study.trials, ray_study.trials, strict=True):
        assert (a.state, a.values, a.intermediate_values) == (
            b.state,
            b.values,
            b.intermediate_values,
        )
    if pruner != "mo-asha":  # the Optuna pruners report the objective metric every epoch
        pruned = [t for t in ray_study.trials if t.state is optuna.trial.TrialState.PRUNED]
        assert pruned and all(t.intermediate_values and t.values for t in pruned)


def test_the_scheduler_finds_the_study_searcher_behind_tunes_wrappers(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "asha", {}, ("accuracy",))
    searcher = StudySearcher(
        spec=spec, n_trials=1, timeout=None, channel_name="c", max_failed_trials=1
    )
    assert study_searcher(SimpleNamespace(search_alg=searcher)) is searcher
    wrapped = SimpleNamespace(
        search_alg=SimpleNamespace(searcher=SimpleNamespace(searcher=searcher))
    )
    assert study_searcher(wrapped) is searcher
    with pytest.raises(RuntimeError, match="only together with the study's searcher"):
        study_searcher(SimpleNamespace(search_alg=SimpleNamespace(searcher=None)))


def test_unknown_pruner_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="asha"):
        make_scheduler(_spec(tmp_path, "asha2", {}, ("accuracy",)), channel_name="c")


def test_single_objective_pruner_refuses_several_objectives(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_scheduler(_spec(tmp_path, "asha", {}, ("accuracy", "size_bits")), channel_name="c")
