"""The pruner registry: each single-objective pruner stops weak trials in a real study."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest
from paretune.search import (
    Decision,
    StudySpec,
    TrialPruner,
    TrialReporter,
    Verdict,
    get_pruner,
    list_pruners,
    pruner_info,
    register_pruner,
    run_local,
)
from paretune.spaces import Fixed, FloatDistribution, StrategySpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

BUILTIN_OPTIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "median": {"n_startup_trials": 2},
    "percentile": {"percentile": 50.0, "n_startup_trials": 2},
    "asha": {"min_resource": 1, "reduction_factor": 2},
    "hyperband": {"min_resource": 1, "max_resource": 4, "reduction_factor": 2},
    "threshold": {"lower": 0.5, "n_warmup_steps": 3},
}

SPACE = StrategySpace(
    params={"lr": FloatDistribution(low=1e-5, high=1.0, log=True), "epochs": Fixed(value=4)}
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import fake_trainer_search

    return fake_trainer_search


def test_builtins_are_registered() -> None:
    assert set(BUILTIN_OPTIONS) <= set(list_pruners())
    for name in BUILTIN_OPTIONS:
        assert pruner_info(name).multi_objective is (name == "none")


@pytest.mark.parametrize("name", sorted(BUILTIN_OPTIONS))
def test_pruner_in_a_single_objective_study(name: str, workdir: Path, fake: ModuleType) -> None:
    pruner = get_pruner(name, **BUILTIN_OPTIONS[name])
    assert isinstance(pruner, TrialPruner)
    spec = StudySpec(
        name=name,
        storage="sqlite:///runs/p.db",
        objectives=("accuracy",),
        space=SPACE,
        sampler="random",
        pruner=name,
        pruner_options=BUILTIN_OPTIONS[name],
        seed=1,
    )
    summary = run_local(spec, objective_factory=fake.make_fake, n_trials=14)
    assert summary.done == 14 and summary.failed == 0
    study = optuna.load_study(study_name=name, storage="sqlite:///runs/p.db")
    pruned = [t for t in study.trials if t.state is optuna.trial.TrialState.PRUNED]
    if name == "none":
        assert pruned == []
        return
    assert pruned, f"{name} pruned nothing"
    for trial in pruned:
        epoch = trial.user_attrs["pruned_at_epoch"]
        assert 1 <= epoch <= 4
        assert trial.user_attrs["epochs"] == epoch == len(trial.user_attrs["curve"])
        assert trial.user_attrs["prune_reason"].startswith(f"{name} pruner stopped the trial")
        assert max(trial.intermediate_values) == epoch  # reported per epoch, numbered from 1
    complete = [t for t in study.trials if t.state is optuna.trial.TrialState.COMPLETE]
    best_pruned = max(t.user_attrs["val_accuracy"] for t in pruned)
    assert max(t.value for t in complete if t.value is not None) >= best_pruned


@pytest.mark.parametrize("name", sorted(set(BUILTIN_OPTIONS) - {"none"}))
def test_single_objective_pruner_refuses_a_multi_objective_study(
    name: str, workdir: Path, fake: ModuleType
) -> None:
    with pytest.raises(ValueError, match=f"Pruner '{name}' works on single-objective studies"):
        spec = StudySpec(
            name="mo",
            storage="sqlite:///runs/mo.db",
            objectives=("accuracy", "size_bits"),
            space=SPACE,
            pruner=name,
            pruner_options=BUILTIN_OPTIONS[name],
        )
        run_local(spec, objective_factory=fake.make_fake, n_trials=1)
    # and at decision time, for a pruner built without knowing the study
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()
    pruner = get_pruner(name, **BUILTIN_OPTIONS[name])
    with pytest.raises(ValueError, match="this study has 2 objectives"):
        pruner.decide(study=study, trial=trial, epoch=1, metrics={"val_accuracy": 0.5})


def test_errors_list_known_names_and_options() -> None:
    with pytest.raises(ValueError, match=r"Unknown pruner 'medain'\. Known: asha, hyperband"):
        get_pruner("medain")
    with pytest.raises(ValueError, match="Unknown option 'patience' for pruner 'median'"):
        get_pruner("median", patience=2)
    with pytest.raises(ValueError, match="Invalid options .* for pruner 'percentile'"):
        get_pruner("percentile", percentile=150.0)
    with pytest.raises(
        ValueError, match=r"^The pruner 'percentile' needs the option 'percentile' \(its options: "
    ):
        get_pruner("percentile")
    with pytest.raises(ValueError, match="A pruner named 'asha' is already registered"):
        register_pruner("asha", lambda: None, multi_objective=False, description="")  # type: ignore[arg-type,return-value]


def test_missing_metric_is_a_clear_error() -> None:
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("objectives", ["accuracy"])
    trial = study.ask()
    with pytest.raises(ValueError, match="prunes on 'val_accuracy', which the trainer did not"):
        get_pruner("median").decide(study=study, trial=trial, epoch=1, metrics={"loss": 1.0})


def test_prune_on_another_metric() -> None:
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    pruner = get_pruner("threshold", upper=1.0, metric="train_loss")
    metrics = {"val_accuracy": 0.9, "train_loss": 3.0}
    verdict = pruner.decide(study=study, trial=trial, epoch=1, metrics=metrics)
    assert verdict == Verdict(
        Decision.STOP,
        "threshold pruner stopped the trial after epoch 1 (val_accuracy=0.9, train_loss=3)",
    )


def test_any_object_with_decide_is_a_pruner_for_the_reporter() -> None:
    class StopAtTwo:
        def decide(self, *, study: Any, trial: Any, epoch: int, metrics: Any) -> Verdict:
            return Verdict(Decision.STOP if epoch >= 2 else Decision.CONTINUE)

    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()
    report = TrialReporter(study=study, trial=trial, pruner=StopAtTwo(), pruner_name="two")
    assert report(1, {"val_accuracy": 0.5}) is False
    assert report(2, {"val_accuracy": 0.6}) is True
    assert report.pruned_at_epoch == 2
    # a verdict without a reason: the reporter words it with the pruner's name
    assert report.prune_reason == "two pruner stopped the trial after epoch 2 (val_accuracy=0.6)"
    assert study.trials[0].user_attrs["curve"] == [
        {"epoch": 1, "val_accuracy": 0.5},
        {"epoch": 2, "val_accuracy": 0.6},
    ]
    assert "pruned_at_epoch" not in study.trials[0].user_attrs
    assert sys.modules  # the reporter records; record_result finishes the trial
