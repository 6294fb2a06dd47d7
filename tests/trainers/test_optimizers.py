"""Every registered optimizer builds the right torch optimizer with the right settings."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from paretune.trainers import (
    OptimizerInfo,
    Strategy,
    build_optimizer,
    list_optimizers,
    optimizer_info,
    register_optimizer,
)

# name -> (torch class, extra Strategy values, expected torch defaults)
EXPECTED: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any], dict[str, Any]]] = {
    "sgd": (torch.optim.SGD, {}, {"momentum": 0.0, "nesterov": False}),
    "momentum": (torch.optim.SGD, {"momentum": 0.8}, {"momentum": 0.8, "nesterov": False}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.7}, {"momentum": 0.7, "nesterov": True}),
    "adam": (
        torch.optim.Adam,
        {"beta1": 0.85, "beta2": 0.99, "eps": 1e-6},
        {"betas": (0.85, 0.99), "eps": 1e-6},
    ),
    "adamw": (
        torch.optim.AdamW,
        {"beta1": 0.8, "beta2": 0.95, "eps": 1e-7},
        {"betas": (0.8, 0.95), "eps": 1e-7},
    ),
    "adagrad": (torch.optim.Adagrad, {"eps": 1e-9}, {"eps": 1e-9}),
    "rmsprop": (
        torch.optim.RMSprop,
        {"momentum": 0.5, "eps": 1e-5},
        {"momentum": 0.5, "eps": 1e-5},
    ),
}


def test_every_registered_optimizer_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(list_optimizers())


@pytest.mark.parametrize("name", list_optimizers())
def test_optimizer_builds_with_the_strategy_values(name: str) -> None:
    cls, extra, expected = EXPECTED[name]
    layer = torch.nn.Linear(3, 2)
    strategy = Strategy(optimizer=name, lr=0.0123, weight_decay=0.004, **extra)
    optimizer = build_optimizer(layer.parameters(), strategy)
    assert type(optimizer) is cls
    defaults = optimizer.defaults
    assert defaults["lr"] == 0.0123
    assert defaults["weight_decay"] == 0.004
    for key, value in expected.items():
        assert defaults[key] == value, key
    assert len(optimizer.param_groups[0]["params"]) == 2


@pytest.mark.parametrize("name", list_optimizers())
def test_optimizer_defaults_come_from_the_registry(name: str) -> None:
    info = optimizer_info(name)
    strategy = Strategy(optimizer=name)
    optimizer = build_optimizer(torch.nn.Linear(2, 2).parameters(), strategy)
    if info.has_momentum:
        assert optimizer.defaults["momentum"] == info.default_momentum == strategy.momentum
    if info.has_betas:
        assert optimizer.defaults["betas"] == (0.9, 0.999)
    if info.has_eps:
        assert optimizer.defaults["eps"] == info.default_eps == strategy.eps


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
@pytest.mark.parametrize("name", list_optimizers())
def test_one_step_moves_the_weights_like_torch_itself(name: str, fused: bool) -> None:
    """Also with ``fused=True`` (torch's one-kernel update where the optimizer has one)."""
    cls, extra, expected = EXPECTED[name]
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    theirs.load_state_dict(ours.state_dict())
    strategy = Strategy(optimizer=name, lr=0.05, weight_decay=0.01, **extra)
    kwargs = {"lr": 0.05, "weight_decay": 0.01, **expected}
    reference = cls(theirs.parameters(), **kwargs)
    optimizer = build_optimizer(ours.parameters(), strategy, fused=fused)
    if fused and cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
        assert optimizer.defaults["fused"] is True
    x = torch.randn(8, 4)
    for model, opt in ((ours, optimizer), (theirs, reference)):
        for _ in range(3):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    torch.testing.assert_close(ours.weight, theirs.weight)


def test_adamw_decay_is_decoupled_and_adam_decay_is_l2() -> None:
    assert optimizer_info("adamw").decoupled_weight_decay
    assert not optimizer_info("adam").decoupled_weight_decay


def test_duplicate_registration_raises() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_optimizer(
            OptimizerInfo(name="adam", description="again", torch_class=torch.optim.Adam)
        )


def test_unknown_optimizer_lists_known_names() -> None:
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamx'\. Known: sgd, momentum, "):
        optimizer_info("adamx")
