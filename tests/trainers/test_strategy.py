"""Strategy: defaults, every bad value's message, sub-parameters, round trips."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from paretune.trainers import (
    BIT_WIDTHS,
    Strategy,
    conditional_parameters,
    list_optimizers,
    list_schedules,
    optimizer_info,
    schedule_info,
)

BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"optimizer": "adamx"}, "The 'optimizer' parameter of Strategy must be one of sgd, momentum"),
    ({"optimizer": 3}, "The 'optimizer' parameter of Strategy must be one of"),
    ({"lr": -0.1}, "The 'lr' parameter of Strategy must be a float > 0. Got -0.1 instead."),
    ({"lr": 0}, "The 'lr' parameter of Strategy must be a float > 0. Got 0 instead."),
    ({"lr": "1e-3"}, "The 'lr' parameter of Strategy must be a float > 0. Got '1e-3' instead."),
    ({"lr": float("nan")}, "The 'lr' parameter of Strategy must be a float > 0. Got nan"),
    ({"lr": True}, "The 'lr' parameter of Strategy must be a float > 0. Got True instead."),
    ({"schedule": "poly"}, "The 'schedule' parameter of Strategy must be one of constant, linear"),
    ({"warmup_epochs": -1}, "The 'warmup_epochs' parameter of Strategy must be an int >= 0."),
    ({"warmup_epochs": 1.5}, "The 'warmup_epochs' parameter of Strategy must be an int >= 0."),
    ({"batch_size": 0}, "The 'batch_size' parameter of Strategy must be an int >= 1. Got 0"),
    ({"batch_size": 32.0}, "The 'batch_size' parameter of Strategy must be an int >= 1."),
    ({"epochs": 0}, "The 'epochs' parameter of Strategy must be an int >= 1. Got 0 instead."),
    ({"seed": -3}, "The 'seed' parameter of Strategy must be an int >= 0. Got -3 instead."),
    ({"weight_decay": -1e-4}, "The 'weight_decay' parameter of Strategy must be a float >= 0."),
    ({"l1": -0.5}, "The 'l1' parameter of Strategy must be a float >= 0. Got -0.5 instead."),
    ({"dropout": 1.0}, "The 'dropout' parameter of Strategy must be a float in [0, 1). Got 1.0"),
    ({"dropout": -0.1}, "The 'dropout' parameter of Strategy must be a float in [0, 1)."),
    ({"prune_rate": 1.0}, "The 'prune_rate' parameter of Strategy must be a float in [0, 1)."),
    ({"prune_rate": -0.2}, "The 'prune_rate' parameter of Strategy must be a float in [0, 1)."),
    ({"bits": 1}, "The 'bits' parameter of Strategy must be an int in {2, 3, 4, 5, 6, 7, 8, 16"),
    ({"bits": 12}, "The 'bits' parameter of Strategy must be an int in {2, 3, 4, 5, 6, 7, 8,"),
    ({"bits": 4.0}, "The 'bits' parameter of Strategy must be an int in"),
    ({"act_bits": 9}, "The 'act_bits' parameter of Strategy must be None or an int in {2,"),
    ({"optimizer": "momentum", "momentum": 1.0}, "'momentum' parameter of Strategy must be a fl"),
    ({"optimizer": "momentum", "momentum": -0.1}, "The 'momentum' parameter of Strategy must be"),
    (
        {"optimizer": "nesterov", "momentum": 0.0},
        "The 'momentum' parameter of Strategy must be a float in (0, 1). Got 0.0 instead.",
    ),
    ({"optimizer": "adam", "beta1": 1.0}, "The 'beta1' parameter of Strategy must be a float in"),
    ({"optimizer": "adamw", "beta2": -0.1}, "The 'beta2' parameter of Strategy must be a float"),
    ({"optimizer": "adagrad", "eps": 0.0}, "The 'eps' parameter of Strategy must be a float > 0."),
    (
        {"schedule": "exponential", "decay_gamma": 0.0},
        "The 'decay_gamma' parameter of Strategy must be a float in (0, 1]. Got 0.0 instead.",
    ),
    ({"schedule": "step", "decay_gamma": 1.5}, "The 'decay_gamma' parameter of Strategy must be"),
    ({"schedule": "step", "step_size": 0}, "The 'step_size' parameter of Strategy must be an int"),
    (
        {"optimizer": "adam", "momentum": 0.9},
        "The 'momentum' parameter of Strategy does not "
        "apply to optimizer 'adam' (it applies to momentum, nesterov, rmsprop).",
    ),
    (
        {"optimizer": "sgd", "eps": 1e-8},
        "The 'eps' parameter of Strategy does not apply to optimizer 'sgd'",
    ),
    ({"optimizer": "momentum", "beta1": 0.9}, "The 'beta1' parameter of Strategy does not apply"),
    (
        {"schedule": "cosine", "decay_gamma": 0.5},
        "The 'decay_gamma' parameter of Strategy does "
        "not apply to schedule 'cosine' (it applies to exponential, step).",
    ),
    ({"schedule": "exponential", "step_size": 2}, "The 'step_size' parameter of Strategy does not"),
    ({"init": "he"}, "The 'init' parameter of Strategy must be one of default, xavier_uniform, "),
    ({"precision": "fp8"}, "The 'precision' parameter of Strategy must be one of fp32, bf16, fp16"),
    ({"precision": 16}, "The 'precision' parameter of Strategy must be one of fp32"),
    ({"freeze_epochs": -1}, "The 'freeze_epochs' parameter of Strategy must be None or an int >="),
    ({"freeze_epochs": 1.5}, "The 'freeze_epochs' parameter of Strategy must be None or an int"),
    ({"backbone_lr_scale": 0}, "The 'backbone_lr_scale' parameter of Strategy must be None or a"),
    ({"distill_alpha": 1.5}, "The 'distill_alpha' parameter of Strategy must be None or a float"),
    ({"distill_alpha": -0.1}, "The 'distill_alpha' parameter of Strategy must be None or a float"),
    ({"distill_temperature": 0.0}, "The 'distill_temperature' parameter of Strategy must be None"),
    ({"grad_clip": -1.0}, "The 'grad_clip' parameter of Strategy must be None or a float > 0."),
    ({"grad_clip": float("inf")}, "The 'grad_clip' parameter of Strategy must be None or a float"),
    ({"channels_last": 1}, "The 'channels_last' parameter of Strategy must be a bool. Got 1"),
]


@pytest.mark.parametrize(("values", "message"), BAD_VALUES, ids=[str(v) for v, _ in BAD_VALUES])
def test_each_bad_value_gets_its_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Strategy(**values)


def test_defaults_are_the_documented_ones() -> None:
    s = Strategy()
    assert (s.optimizer, s.lr, s.schedule, s.batch_size, s.epochs, s.bits) == (
        "adam",
        1e-3,
        "constant",
        32,
        20,
        32,
    )
    assert (s.beta1, s.beta2, s.eps, s.momentum, s.decay_gamma, s.step_size) == (
        0.9,
        0.999,
        1e-8,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("name", list_optimizers())
def test_optimizer_sub_parameters_are_filled_exactly_where_they_apply(name: str) -> None:
    s = Strategy(optimizer=name)
    info = optimizer_info(name)
    for field in ("momentum", "beta1", "beta2", "eps"):
        assert (getattr(s, field) is not None) == (field in info.sub_parameters), field


@pytest.mark.parametrize("name", list_schedules())
def test_schedule_sub_parameters_are_filled_exactly_where_they_apply(name: str) -> None:
    s = Strategy(schedule=name, epochs=9)
    info = schedule_info(name)
    for field in ("decay_gamma", "step_size"):
        assert (getattr(s, field) is not None) == (field in info.sub_parameters), field
    if info.has_step_size:
        assert s.step_size == 3


def test_conditional_parameters_follow_the_registries() -> None:
    conditions = conditional_parameters()
    assert conditions["momentum"] == ("optimizer", ("momentum", "nesterov", "rmsprop"))
    assert conditions["beta1"] == ("optimizer", ("adam", "adamw"))
    assert conditions["beta2"] == ("optimizer", ("adam", "adamw"))
    assert conditions["eps"] == ("optimizer", ("adam", "adamw", "adagrad", "rmsprop"))
    assert conditions["decay_gamma"] == ("schedule", ("exponential", "step"))
    assert conditions["step_size"] == ("schedule", ("step",))
    for name, (parent, values) in conditions.items():
        for value in values:  # every listed parent value accepts the sub-parameter ...
            Strategy(**{parent: value})
        others = set(list_optimizers() if parent == "optimizer" else list_schedules())
        for value in others - set(values):  # ... and every other one refuses it
            sample = 2 if name == "step_size" else 0.5
            with pytest.raises(ValueError, match="does not apply"):
                Strategy(**{parent: value, name: sample})


@pytest.mark.parametrize("optimizer", list_optimizers())
@pytest.mark.parametrize("schedule", list_schedules())
def test_to_dict_is_json_and_round_trips(optimizer: str, schedule: str) -> None:
    s = Strategy(optimizer=optimizer, schedule=schedule, prune_rate=0.5, bits=4, act_bits=8)
    text = json.dumps(s.to_dict())
    assert Strategy.from_dict(json.loads(text)) == s


def test_from_dict_refuses_unknown_keys_listing_known() -> None:
    with pytest.raises(
        ValueError,
        match=r"Unknown Strategy field\(s\) learning_rate\. Known: "
        r"optimizer, lr, momentum",
    ):
        Strategy.from_dict({"learning_rate": 0.1})


def test_ints_are_accepted_for_floats_and_stored_as_floats() -> None:
    s = Strategy(lr=1, weight_decay=0)
    assert isinstance(s.lr, float) and isinstance(s.weight_decay, float)


def test_replace_drops_sub_parameters_of_the_old_choice() -> None:
    s = Strategy(optimizer="adam", beta1=0.8, schedule="step", step_size=4)
    moved = s.replace(optimizer="nesterov", schedule="cosine")
    assert (moved.beta1, moved.momentum, moved.step_size) == (None, 0.9, None)
    assert s.replace(lr=0.5).beta1 == 0.8


def test_strategy_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Strategy().lr = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("bits", BIT_WIDTHS)
def test_every_bit_width_is_accepted(bits: int) -> None:
    assert Strategy(bits=bits, act_bits=bits).bits == bits


LATER = {
    "init": "kaiming_normal",
    "freeze_epochs": 2,
    "backbone_lr_scale": 0.1,
    "distill_alpha": 0.7,
    "distill_temperature": 3.0,
    "grad_clip": 1.0,
    "precision": "bf16",
    "channels_last": True,
}


def test_later_fields_stay_out_of_to_dict_at_their_defaults() -> None:
    # replay tables, stored studies and checkpoints key on to_dict: it must not change
    old_keys = [
        "optimizer", "lr", "momentum", "beta1", "beta2", "eps", "schedule", "warmup_epochs",
        "decay_gamma", "step_size", "batch_size", "weight_decay", "l1", "dropout",
        "prune_rate", "bits", "act_bits", "epochs", "seed",
    ]  # fmt: skip
    assert list(Strategy().to_dict()) == old_keys
    assert list(Strategy(**{k: None for k in LATER if k not in ("init", "precision",
                "channels_last")}).to_dict()) == old_keys  # fmt: skip
    for name, value in LATER.items():
        values = Strategy(**{name: value}).to_dict()
        assert values[name] == value and list(values) == [*old_keys, name]


def test_later_fields_round_trip_through_json() -> None:
    s = Strategy(**LATER)
    assert Strategy.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert s.replace(lr=0.5).to_dict() == {**s.to_dict(), "lr": 0.5}


def test_enum_members_are_accepted_and_stored_as_their_values() -> None:
    from paretune.trainers import Init, Precision

    s = Strategy(init=Init.XAVIER_NORMAL, precision=Precision.BF16)
    assert (s.init, s.precision) == ("xavier_normal", "bf16")
