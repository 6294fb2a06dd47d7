"""StudySpec validates its fields in the scikit-learn wording."""

from __future__ import annotations

from typing import Any

import pytest
from paretune.search import StudySpec
from paretune.spaces import FloatDistribution, StrategySpace

SPACE = StrategySpace(params={"lr": FloatDistribution(low=1e-4, high=1.0, log=True)})


def make(**changes: Any) -> StudySpec:
    fields: dict[str, Any] = {
        "name": "s",
        "storage": "sqlite:///runs/s.db",
        "objectives": ("accuracy", "size_bits"),
        "space": SPACE,
    }
    fields.update(changes)
    return StudySpec(**fields)


def test_defaults_and_directions() -> None:
    spec = make(objectives=["accuracy", "bitops", "latency_ms"])
    assert spec.objectives == ("accuracy", "bitops", "latency_ms")
    assert spec.directions == ("maximize", "minimize", "minimize")
    assert (spec.sampler, spec.pruner, spec.seed) == ("tpe", "none", 0)
    assert spec.constraints == {} and spec.max_total_epochs is None


def test_constraints_become_floats() -> None:
    assert make(objectives=("accuracy",), constraints={"size_bits": 5000}).constraints == {
        "size_bits": 5000.0
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "The 'name' parameter of StudySpec must be a non-empty str"),
        ({"storage": "runs/s.db"}, "The 'storage' parameter must be a storage URL"),
        ({"objectives": ()}, "must name at least one objective"),
        ({"objectives": "accuracy"}, "must be a sequence of names"),
        ({"objectives": ("accuracy", "speed")}, "Got 'speed' instead"),
        ({"objectives": ("size_bits", "size_bits")}, "must not repeat a name"),
        ({"space": {"lr": 1}}, "The 'space' parameter of StudySpec must be a StrategySpace"),
        ({"sampler": ""}, "The 'sampler' parameter of StudySpec must be a non-empty str"),
        ({"seed": -1}, "The 'seed' parameter of StudySpec must be an int >= 0. Got -1"),
        ({"seed": 1.5}, "The 'seed' parameter"),
        ({"constraints": {"accuracy": 0.5}}, "must constrain costs among size_bits"),
        ({"constraints": {"size_bits": "big"}}, "must give 'size_bits' a finite number"),
        ({"max_total_epochs": 0}, "The 'max_total_epochs' parameter of StudySpec must be an int"),
        ({"metadata": {"task": object()}}, "The 'metadata' parameter of StudySpec must be JSON"),
        ({"sampler_options": {"seed": 3}}, "must not set 'seed': paretune sets it"),
        ({"sampler_options": [1]}, "The 'sampler_options' parameter of StudySpec must be a map"),
    ],
)
def test_bad_fields_raise(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        make(**changes)
    assert message in str(info.value)
