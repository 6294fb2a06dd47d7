"""The mo-asha pruner on real Optuna studies, fed by a replay table of made-up curves."""

from __future__ import annotations

import functools
import itertools
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from paretune.search import (
    Decision,
    StudySpec,
    Verdict,
    get_pruner,
    list_pruners,
    pareto_front_mask,
    run_local,
)
from paretune.search.pruning import MOAsha, MOAshaPruner, rung_point
from paretune.spaces import CategoricalDistribution, Fixed, StrategySpace
from paretune.studies import TrainingObjective
from paretune.trainers import Strategy, TrainResult, TrainStatus, write_replay_table

EPOCHS = 9
GRID: dict[str, tuple[Any, ...]] = {
    "optimizer": ("sgd", "adam"),
    "lr": (0.001, 0.01, 0.1),
    "bits": (2, 4, 8),
    "prune_rate": (0.0, 0.5),
}


def _toy_run(strategy: Strategy, rng: np.random.Generator) -> TrainResult:
    """A saturating curve whose level depends on every grid dimension, plus a little noise."""
    level = 0.95 - 0.25 * abs(math.log10(strategy.lr) + (2.0 if strategy.optimizer == "sgd" else 3))
    level -= 0.08 / strategy.bits + 0.05 * strategy.prune_rate
    speed = 0.6 if strategy.optimizer == "adam" else 0.3
    size = 1000.0 * strategy.bits * (1.0 - strategy.prune_rate)
    curve = tuple(
        {
            "val_accuracy": float(level * (1 - math.exp(-speed * e)) + rng.normal(0, 0.01)),
            "train_loss": 1.0 / e,
            "train_seconds": 0.1 * e,
            "size_bits": size,
            "bitops": 10.0 * strategy.bits,
            "params": 1000.0,
            "nonzero_params": 1000.0 * (1 - strategy.prune_rate),
        }
        for e in range(1, EPOCHS + 1)
    )
    return TrainResult(
        status=TrainStatus.COMPLETED,
        reason="",
        val_accuracy=curve[-1]["val_accuracy"],
        test_accuracy=curve[-1]["val_accuracy"] - 0.01,
        params=1000,
        nonzero_params=int(1000 * (1 - strategy.prune_rate)),
        sparsity=strategy.prune_rate,
        size_bits=size,
        bitops=10.0 * strategy.bits,
        latency_ms=0.1,
        train_seconds=0.1 * EPOCHS,
        epochs=EPOCHS,
        curve=curve,
        strategy=strategy,
    )


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    runs = [
        _toy_run(
            Strategy.from_dict({**dict(zip(GRID, values, strict=True)), "epochs": EPOCHS}), rng
        )
        for values in itertools.product(*GRID.values())
    ]
    path = tmp_path_factory.mktemp("replay") / "toy.npz"
    write_replay_table(path, runs, source_task="toy")
    return path


def _space() -> StrategySpace:
    params: dict[str, Any] = {k: CategoricalDistribution(choices=v) for k, v in GRID.items()}
    params["epochs"] = Fixed(value=EPOCHS)
    return StrategySpace(params=params)


def _spec(storage: str, **changes: Any) -> StudySpec:
    values: dict[str, Any] = {
        "name": "mo",
        "storage": storage,
        "objectives": ("accuracy", "size_bits"),
        "space": _space(),
        "sampler": "random",
        "pruner": "mo-asha",
        "pruner_options": {"min_epochs": 1, "reduction_factor": 3},
        "seed": 0,
    }
    values.update(changes)
    return StudySpec(**values)


def test_mo_asha_is_registered_for_several_objectives() -> None:
    assert "mo-asha" in list_pruners()
    pruner = get_pruner("mo-asha", n_objectives=3, min_epochs=2, tie_break="epsilon-net")
    assert isinstance(pruner, MOAshaPruner) and pruner.core.min_epochs == 2
    with pytest.raises(ValueError, match="Unknown option 'grace'"):
        get_pruner("mo-asha", grace=2)


@pytest.mark.parametrize(
    ("spacing", "rungs"), [("asha", (1, 2, 4, 8)), ("full-stretch", (1, 2, 4))]
)
def test_rung_spacing_sets_where_a_local_study_stops_trials(
    table: Path, workdir: Path, spacing: str, rungs: tuple[int, ...]
) -> None:
    options = {"min_epochs": 1, "reduction_factor": 2, "rung_spacing": spacing}
    spec = _spec(f"sqlite:///{workdir / 'mo.db'}", pruner_options=options)
    factory = functools.partial(TrainingObjective, task=f"replay:{table}")
    run_local(spec, objective_factory=factory, n_trials=36)
    trials = optuna.load_study(study_name="mo", storage=spec.storage).get_trials()
    stops = {t.user_attrs["pruned_at_epoch"] for t in trials if t.state.name == "PRUNED"}
    assert MOAsha(min_epochs=1, reduction_factor=2, rung_spacing=spacing).rungs(EPOCHS) == rungs
    assert stops <= set(rungs) and max(rungs) in stops, stops  # the last rung stops trials too


def test_a_local_study_with_mo_asha(table: Path, workdir: Path) -> None:
    spec = _spec(f"sqlite:///{workdir / 'mo.db'}")
    factory = functools.partial(TrainingObjective, task=f"replay:{table}")
    summary = run_local(spec, objective_factory=factory, n_trials=36)
    study = optuna.load_study(study_name="mo", storage=spec.storage)
    trials = study.get_trials()
    assert summary.done == 36 == len(trials)
    pruned = [t for t in trials if t.state is optuna.trial.TrialState.PRUNED]
    complete = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    assert len(pruned) >= 12 and len(complete) >= 2
    rungs = MOAsha(min_epochs=1, reduction_factor=3).rungs(EPOCHS)
    assert rungs == (1, 3)
    for trial in pruned:
        # the curve stops at a rung; no values on a pruned trial
        assert trial.values is None
        assert len(trial.user_attrs["curve"]) == trial.user_attrs["pruned_at_epoch"]
        assert trial.user_attrs["pruned_at_epoch"] in rungs
        reason = trial.user_attrs["prune_reason"]
        assert (
            reason.startswith("mo-asha pruner stopped the trial after epoch") and "rank" in reason
        )
    for trial in complete:
        assert len(trial.user_attrs["curve"]) == EPOCHS
        assert trial.values == [trial.user_attrs["val_accuracy"], trial.user_attrs["size_bits"]]
    # every stop is the core's verdict against the trials that reached the rung before it
    core = MOAsha(min_epochs=1, reduction_factor=3, max_epochs=EPOCHS)

    def point(t: optuna.trial.FrozenTrial, epoch: int) -> tuple[float, ...]:
        entry = t.user_attrs["curve"][epoch - 1]
        return rung_point(accuracy=entry["val_accuracy"], costs=[entry["size_bits"]])

    for trial in trials:
        for epoch in rungs:
            if len(trial.user_attrs["curve"]) < epoch:
                break
            earlier = [
                point(t, epoch)
                for t in trials
                if t.number < trial.number and len(t.user_attrs["curve"]) >= epoch
            ]
            decision = core.decide(epoch=epoch, point=point(trial, epoch), others=earlier)
            stopped_here = trial.user_attrs.get("pruned_at_epoch") == epoch
            assert (decision is Decision.STOP) == stopped_here, (trial.number, epoch)
    # best_trials is the front of the completed trials
    values = np.array([[-t.values[0], t.values[1]] for t in complete])
    front = {t.number for t, keep in zip(complete, pareto_front_mask(values), strict=True) if keep}
    assert {t.number for t in study.best_trials} == front


def _finished(study: optuna.Study, accuracies: list[float], size: float) -> None:
    curve = [
        {"epoch": e, "val_accuracy": acc, "size_bits": size} for e, acc in enumerate(accuracies, 1)
    ]
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.PRUNED,
            user_attrs={"curve": curve},
        )
    )


def test_decide_reads_other_trials_curves_from_the_storage() -> None:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.set_user_attr("objectives", ["accuracy", "size_bits", "latency_ms"])
    study.set_user_attr("space", _space().to_json())
    _finished(study, [0.9, 0.95, 0.97], 2000.0)
    _finished(study, [0.8, 0.85], 1000.0)
    _finished(study, [0.7], 3000.0)
    pruner = MOAshaPruner(min_epochs=1, reduction_factor=2)
    trial = study.ask()
    # latency_ms is not reported by anyone: it is left out of the comparison
    metrics = {"val_accuracy": 0.6, "size_bits": 2500.0}
    assert pruner.decide(study=study, trial=trial, epoch=1, metrics=metrics) == Verdict(
        Decision.STOP,
        "mo-asha pruner stopped the trial after epoch 1 (val_accuracy=0.6): "
        "rank 4 of 4 at the 1-epoch rung; only the top 2 continue",
    )
    cheapest = {"val_accuracy": 0.6, "size_bits": 500.0}
    assert pruner.decide(study=study, trial=trial, epoch=1, metrics=cheapest) == Verdict(
        Decision.CONTINUE
    )
    # epoch 2 is the rung of 2 (reduction 2): two others reached it; this one is dominated
    verdict = pruner.decide(study=study, trial=trial, epoch=2, metrics=metrics)
    assert verdict.decision is Decision.STOP
    # epoch 3 is no rung; epoch 4 would be, but the last epoch (9) comes from the space
    verdict = pruner.decide(study=study, trial=trial, epoch=3, metrics=metrics)
    assert verdict.decision is Decision.CONTINUE


def test_the_last_epoch_is_never_a_rung() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["accuracy", "size_bits"])
    for _ in range(3):
        _finished(study, [0.9] * 3, 100.0)
    trial = study.ask()
    trial.set_user_attr("strategy", {"epochs": 3})
    pruner = MOAshaPruner(min_epochs=1, reduction_factor=3)
    worst = {"val_accuracy": 0.1, "size_bits": 1000.0}
    verdict = pruner.decide(study=study, trial=trial, epoch=1, metrics=worst)
    assert verdict.decision is Decision.STOP
    verdict = pruner.decide(study=study, trial=trial, epoch=3, metrics=worst)
    assert verdict.decision is Decision.CONTINUE


def test_decide_explains_what_is_missing() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()
    pruner = MOAshaPruner(max_epochs=9)
    with pytest.raises(ValueError, match="has no 'objectives' attribute"):
        pruner.decide(study=study, trial=trial, epoch=2, metrics={"val_accuracy": 0.5})
    study.set_user_attr("objectives", ["size_bits", "accuracy"])
    with pytest.raises(ValueError, match="first objective must be 'accuracy'"):
        pruner.decide(study=study, trial=trial, epoch=2, metrics={"val_accuracy": 0.5})
    study.set_user_attr("objectives", ["accuracy", "size_bits"])
    with pytest.raises(ValueError, match="Set the pruner option max_epochs"):
        MOAshaPruner().decide(study=study, trial=trial, epoch=2, metrics={"val_accuracy": 0.5})


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ['"tpe"', '{ name = "rung-tpe", min_points = 5 }'])
def test_paretune_run_with_a_replay_task_and_mo_asha(
    table: Path, workdir: Path, sampler: str
) -> None:
    (workdir / "replay.toml").write_text(
        f"""
name = "replayed"
task = "replay:{table}"
objectives = ["accuracy", "size_bits"]
sampler = {sampler}
pruner = {{ name = "mo-asha", min_epochs = 1, reduction_factor = 3 }}
n_trials = 20
seed = 1
[space]
optimizer = ["sgd", "adam"]
lr = [0.001, 0.01, 0.1]
bits = [2, 4, 8]
prune_rate = [0.0, 0.5]
epochs = {EPOCHS}
"""
    )
    done = subprocess.run(
        ["paretune", "run", "replay.toml"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="replayed", storage="sqlite:///runs/replayed.db")
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) > 0
    assert states.count(optuna.trial.TrialState.COMPLETE) > 0
    assert len(states) == 20
    if "rung-tpe" in sampler:  # ranking at a rung from the 11th trial on: no repeats
        seen = [tuple(sorted(t.params.items())) for t in study.trials]
        assert all(seen[i] not in seen[:i] for i in range(10, 20)), seen
