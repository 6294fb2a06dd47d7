"""Distributions check themselves on construction and round-trip through JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from paretune.spaces import (
    CategoricalDistribution,
    Fixed,
    FloatDistribution,
    IntDistribution,
    distribution_from_dict,
)


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (FloatDistribution, {"low": 1.0, "high": 0.5}, "'high' parameter of FloatDistribution"),
        (FloatDistribution, {"low": 0.0, "high": 1.0, "log": True}, "must be a float > 0 when"),
        (FloatDistribution, {"low": -1.0, "high": 1.0, "log": True}, "Got -1.0 instead"),
        (FloatDistribution, {"low": 0.0, "high": 1.0, "step": 0.3}, "must divide high - low"),
        (FloatDistribution, {"low": 0.0, "high": 1.0, "step": -0.5}, "must be a float > 0 or"),
        (FloatDistribution, {"low": 1e-3, "high": 1.0, "log": True, "step": 0.1}, "when log=True"),
        (FloatDistribution, {"low": math.nan, "high": 1.0}, "must be a finite float"),
        (FloatDistribution, {"low": "0", "high": 1.0}, "'low' parameter of FloatDistribution"),
        (FloatDistribution, {"low": True, "high": 1.0}, "must be a float"),
        (FloatDistribution, {"low": 0.0, "high": 1.0, "log": 1}, "must be a bool"),
        (IntDistribution, {"low": 5, "high": 1}, "'high' parameter of IntDistribution"),
        (IntDistribution, {"low": 0, "high": 10, "step": 3}, "must divide high - low = 10"),
        (IntDistribution, {"low": 0, "high": 8, "log": True}, "must be an int > 0 when log"),
        (IntDistribution, {"low": 1, "high": 9, "log": True, "step": 2}, "must be 1 when log"),
        (IntDistribution, {"low": 1.5, "high": 9}, "must be an int. Got 1.5 (float)"),
        (IntDistribution, {"low": 0, "high": 9, "step": 0}, "must be an int > 0"),
        (CategoricalDistribution, {"choices": []}, "must be a non-empty sequence"),
        (CategoricalDistribution, {"choices": "adam"}, "must be a non-empty sequence"),
        (CategoricalDistribution, {"choices": [[1, 2]]}, "must hold only None, bool, int"),
        (CategoricalDistribution, {"choices": [{"a": 1}]}, "must hold only None, bool, int"),
        (CategoricalDistribution, {"choices": ["sgd", "sgd"]}, "must hold distinct values"),
        (CategoricalDistribution, {"choices": [1.0, math.inf]}, "must hold finite numbers"),
        (Fixed, {"value": {1, 2}}, "must be JSON-serializable"),
        (Fixed, {"value": math.nan}, "must be JSON-serializable"),
    ],
)
def test_bad_arguments_raise_in_sklearn_wording(
    factory: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="The '") as info:
        factory(**kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "distribution",
    [
        FloatDistribution(low=1e-4, high=0.3, log=True),
        FloatDistribution(low=0.0, high=0.95),
        FloatDistribution(low=0.0, high=1.0, step=0.25),
        FloatDistribution(low=0.5, high=0.5),
        IntDistribution(low=16, high=256, log=True),
        IntDistribution(low=0, high=12, step=4),
        CategoricalDistribution(choices=("sgd", "adam", None, True, 3, 2.5)),
        Fixed(value=20),
        Fixed(value={"nested": [1, 2]}),
    ],
)
def test_json_round_trip(distribution: Any) -> None:
    text = json.dumps(distribution.to_dict())
    assert distribution_from_dict(json.loads(text)) == distribution


def test_ints_are_accepted_as_float_bounds_and_stored_as_floats() -> None:
    d = FloatDistribution(low=0, high=1)
    assert (d.low, d.high) == (0.0, 1.0)
    assert isinstance(d.low, float)


def test_categorical_distinguishes_true_from_one() -> None:
    d = CategoricalDistribution(choices=(True, 1))
    assert d.contains(True) and d.contains(1)
    assert not CategoricalDistribution(choices=(1,)).contains(True)


def test_contains_follows_range_and_step() -> None:
    assert IntDistribution(low=0, high=12, step=4).contains(8)
    assert not IntDistribution(low=0, high=12, step=4).contains(6)
    assert not IntDistribution(low=0, high=12).contains(13)
    assert FloatDistribution(low=0.0, high=1.0, step=0.1).contains(0.3)
    assert not FloatDistribution(low=0.0, high=1.0).contains("0.5")
    assert Fixed(value=3).contains(3) and not Fixed(value=3).contains(4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "normal", "low": 0}, "Unknown distribution type 'normal'. Known: categorical"),
        ({"low": 0}, "with a 'type' key"),
        ({"type": "float", "low": 0, "high": 1, "scale": 2}, "Unknown key(s) 'scale'"),
        ({"type": "int", "low": 0}, "Incomplete int distribution"),
    ],
)
def test_from_dict_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        distribution_from_dict(data)
    assert message in str(info.value)


def test_distributions_are_frozen() -> None:
    d = FloatDistribution(low=0.0, high=1.0)
    with pytest.raises(AttributeError):
        d.low = 0.5  # type: ignore[misc]
