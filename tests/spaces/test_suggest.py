"""suggest(): define-by-run sampling through real Optuna trials, conditionals included."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from paretune.spaces import (
    CategoricalDistribution,
    Fixed,
    FloatDistribution,
    IntDistribution,
    StrategySpace,
    suggest,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = StrategySpace(
    params={
        "optimizer": CategoricalDistribution(choices=("sgd", "momentum", "adam")),
        "lr": FloatDistribution(low=1e-4, high=0.3, log=True),
        "momentum": FloatDistribution(low=0.5, high=0.99),
        "beta1": Fixed(value=0.9),
        "schedule": CategoricalDistribution(choices=("constant", "step")),
        "step_size": IntDistribution(low=2, high=10, step=2),
        "batch_size": CategoricalDistribution(choices=(16, 32, 64)),
        "prune_rate": FloatDistribution(low=0.0, high=0.9, step=0.1),
        "epochs": Fixed(value=5),
    },
    conditions={
        "momentum": ("optimizer", ("momentum", "nesterov")),
        "beta1": ("optimizer", ("adam", "adamw")),
        "step_size": ("schedule", ("step",)),
    },
)


def sample_many(n: int, seed: int = 0) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        values = suggest(SPACE, trial)
        out.append((values, dict(trial.params)))
        study.tell(trial, 0.0)
    return out


def test_conditional_params_appear_exactly_where_their_condition_holds() -> None:
    seen_optimizers = set()
    for values, sampled in sample_many(60):
        seen_optimizers.add(values["optimizer"])
        assert ("momentum" in values) == (values["optimizer"] == "momentum")
        assert ("momentum" in sampled) == (values["optimizer"] == "momentum")
        # a fixed conditional value follows its condition too, and is never sent to the trial
        assert ("beta1" in values) == (values["optimizer"] == "adam")
        assert "beta1" not in sampled and "epochs" not in sampled
        assert ("step_size" in values) == (values["schedule"] == "step")
        assert values["epochs"] == 5
    assert seen_optimizers == {"sgd", "momentum", "adam"}


def test_values_lie_in_their_distributions() -> None:
    for values, sampled in sample_many(40):
        for name, value in values.items():
            assert SPACE.params[name].contains(value), (name, value)
        assert set(sampled) <= set(values)
        assert all(values[k] == v for k, v in sampled.items())


def test_same_seed_same_strategies() -> None:
    assert sample_many(10, seed=3) == sample_many(10, seed=3)
    assert sample_many(10, seed=3) != sample_many(10, seed=4)


def test_result_is_in_sampling_order_with_parents_first() -> None:
    values, _ = sample_many(1)[0]
    keys = list(values)
    assert keys.index("optimizer") == 0
    assert [k for k in SPACE.order if k in values] == keys


def test_trial_distributions_match_the_space() -> None:
    study = optuna.create_study()
    trial = study.ask()
    suggest(SPACE, trial)
    lr = trial.distributions["lr"]
    assert isinstance(lr, optuna.distributions.FloatDistribution) and lr.log
    prune = trial.distributions["prune_rate"]
    assert isinstance(prune, optuna.distributions.FloatDistribution) and prune.step == 0.1


def test_enqueued_values_are_replayed() -> None:
    study = optuna.create_study()
    study.enqueue_trial({"optimizer": "momentum", "momentum": 0.95, "lr": 0.01})
    values = suggest(SPACE, study.ask())
    assert values["optimizer"] == "momentum"
    assert values["momentum"] == 0.95 and values["lr"] == 0.01


def test_works_with_any_trial_like_object() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def suggest_float(self, name: str, low: float, high: float, **kw: Any) -> float:
            self.calls.append(name)
            return low

        def suggest_int(self, name: str, low: int, high: int, **kw: Any) -> int:
            self.calls.append(name)
            return high

        def suggest_categorical(self, name: str, choices: Any) -> Any:
            self.calls.append(name)
            return choices[-1]

    trial = Recorder()
    values = suggest(SPACE, trial)
    assert values["optimizer"] == "adam" and values["beta1"] == 0.9
    assert "momentum" not in values and values["step_size"] == 10
    assert trial.calls == ["optimizer", "lr", "schedule", "step_size", "batch_size", "prune_rate"]


@pytest.mark.parametrize("choice", ["sgd", "momentum"])
def test_fixed_trial(choice: str) -> None:
    params = {"optimizer": choice, "lr": 0.1, "momentum": 0.9, "schedule": "constant"}
    params |= {"batch_size": 32, "prune_rate": 0.5}
    values = suggest(SPACE, optuna.trial.FixedTrial(params))
    assert ("momentum" in values) == (choice == "momentum")
