"""StrategySpace: validation of conditions, parents-first order, JSON round trip."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from paretune.spaces import (
    CategoricalDistribution,
    Fixed,
    FloatDistribution,
    IntDistribution,
    StrategySpace,
)

OPTIMIZER = CategoricalDistribution(choices=("sgd", "momentum", "adam"))
SCHEDULE = CategoricalDistribution(choices=("constant", "step", "exponential"))


def full_space() -> StrategySpace:
    return StrategySpace(
        params={
            "momentum": FloatDistribution(low=0.5, high=0.99),
            "optimizer": OPTIMIZER,
            "lr": FloatDistribution(low=1e-4, high=0.3, log=True),
            "step_size": IntDistribution(low=2, high=10, step=2),
            "decay_gamma": Fixed(value=0.5),
            "schedule": SCHEDULE,
            "epochs": Fixed(value=20),
        },
        conditions={
            "momentum": ("optimizer", ("momentum", "nesterov")),
            "step_size": ("schedule", ("step",)),
            "decay_gamma": ("schedule", ("step", "exponential")),
        },
    )


def test_parents_come_before_children_otherwise_param_order_is_kept() -> None:
    space = full_space()
    assert space.order == (
        "optimizer",
        "momentum",
        "lr",
        "schedule",
        "step_size",
        "decay_gamma",
        "epochs",
    )
    assert space.sampled == ("optimizer", "momentum", "lr", "schedule", "step_size")


def test_nested_conditions_are_ordered_transitively() -> None:
    space = StrategySpace(
        params={
            "c": Fixed(value=1),
            "b": CategoricalDistribution(choices=("x", "y")),
            "a": CategoricalDistribution(choices=("on", "off")),
        },
        conditions={"c": ("b", ("x",)), "b": ("a", ("on",))},
    )
    assert space.order == ("a", "b", "c")


def test_json_round_trip_keeps_params_conditions_and_order() -> None:
    space = full_space()
    again = StrategySpace.from_json(space.to_json())
    assert again == space
    assert again.order == space.order
    assert again.conditions["momentum"] == ("optimizer", ("momentum", "nesterov"))


def test_space_pickles_for_worker_processes() -> None:
    space = full_space()
    assert pickle.loads(pickle.dumps(space)) == space


@pytest.mark.parametrize(
    ("params", "conditions", "message"),
    [
        (
            {"lr": Fixed(value=0.1)},
            {"momentum": ("optimizer", ("sgd",))},
            "condition for 'momentum', which is not in params. Known: lr",
        ),
        (
            {"momentum": Fixed(value=0.9)},
            {"momentum": ("optimizer", ("sgd",))},
            "names parent 'optimizer' for 'momentum', but 'optimizer' is not in params",
        ),
        (
            {"optimizer": Fixed(value="adam"), "momentum": Fixed(value=0.9)},
            {"momentum": ("optimizer", ("sgd", "momentum"))},
            "The condition for 'momentum' can never hold: 'optimizer' takes only ['adam']",
        ),
        (
            {"optimizer": OPTIMIZER, "momentum": Fixed(value=0.9)},
            {"momentum": ("optimizer", ())},
            "at least one parent value",
        ),
        (
            {"optimizer": OPTIMIZER, "momentum": Fixed(value=0.9)},
            {"momentum": "optimizer"},
            "must map 'momentum' to (parent name, tuple of parent values)",
        ),
        (
            {
                "a": CategoricalDistribution(choices=(1, 2)),
                "b": CategoricalDistribution(choices=(1,)),
            },
            {"a": ("b", (1,)), "b": ("a", (1,))},
            "has a cycle: a -> b -> a",
        ),
        (
            {"a": CategoricalDistribution(choices=(1, 2))},
            {"a": ("a", (1,))},
            "makes 'a' depend on itself",
        ),
        ({"lr": 0.1}, {}, "must map 'lr' to a FloatDistribution"),
        ({"": Fixed(value=1)}, {}, "must have non-empty str names"),
    ],
)
def test_bad_spaces_raise(params: dict[str, Any], conditions: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        StrategySpace(params=params, conditions=conditions)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "must be valid JSON"),
        ('{"conditions": {}}', "must be a mapping with 'params'"),
        ('{"params": {}, "extra": 1}', "Unknown key(s) 'extra' in a strategy space"),
        ('{"params": {"lr": {"type": "float", "low": 2, "high": 1}}}', "'high' parameter"),
    ],
)
def test_from_json_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        StrategySpace.from_json(text)
    assert message in str(info.value)


def test_applies_reads_the_parent_value() -> None:
    space = full_space()
    assert space.applies("momentum", {"optimizer": "momentum"})
    assert not space.applies("momentum", {"optimizer": "adam"})
    assert not space.applies("momentum", {})
    assert space.applies("lr", {})
