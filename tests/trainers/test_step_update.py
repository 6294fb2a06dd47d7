"""BatchStep's update: the optimizer's fused kernel called directly equals ``step()`` bit for
bit, for every optimizer of the registry, and falls back to ``step()`` where it must."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from paretune.trainers import (
    BatchStep,
    Strategy,
    build_optimizer,
    list_optimizers,
    optimizer_info,
)
from torch import nn
from torch.nn import functional as F

#: A value off the default for each optimizer sub-parameter.
OFF_DEFAULT: dict[str, float] = {"momentum": 0.7, "beta1": 0.85, "beta2": 0.99, "eps": 1e-6}


def _options(name: str) -> dict[str, Any]:
    """Every sub-parameter the optimizer takes, off its default."""
    return {key: OFF_DEFAULT[key] for key in optimizer_info(name).sub_parameters}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def _batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        (torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)) for _ in range(n)
    ]


def _plain(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> None:
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()  # type: ignore[no-untyped-call]
    optimizer.step()


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("name", list_optimizers())
def test_the_direct_update_equals_step_bit_for_bit(name: str) -> None:
    strategy = Strategy(optimizer=name, lr=0.05, weight_decay=1e-3, **_options(name))
    ours, theirs = _model(), _model()
    opt_ours = build_optimizer(ours.parameters(), strategy, fused=True)
    opt_theirs = build_optimizer(theirs.parameters(), strategy, fused=True)
    step = BatchStep(ours, opt_ours, F.cross_entropy, device_type="cpu")
    for epoch, lr in enumerate((0.05, 0.02)):  # the trainer sets each epoch's rate
        for group in (*opt_ours.param_groups, *opt_theirs.param_groups):
            group["lr"] = lr
        for x, y in _batches(4):
            step(x, y)
            _plain(theirs, opt_theirs, x, y)
            assert _same(ours, theirs), (name, epoch)
    for a, b in zip(opt_ours.state.values(), opt_theirs.state.values(), strict=True):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["adam", "momentum", "rmsprop"])
def test_a_state_loaded_after_the_first_steps_is_the_one_updated(name: str) -> None:
    # a checkpoint's state replaces the optimizer's tensors: the update must follow it
    strategy = Strategy(optimizer=name, lr=0.05, **_options(name))
    ours, theirs = _model(), _model()
    opt_ours = build_optimizer(ours.parameters(), strategy, fused=True)
    opt_theirs = build_optimizer(theirs.parameters(), strategy, fused=True)
    step = BatchStep(ours, opt_ours, F.cross_entropy, device_type="cpu")
    batches = _batches(6)
    for x, y in batches[:3]:
        step(x, y)
        _plain(theirs, opt_theirs, x, y)
    saved_model = copy.deepcopy(theirs.state_dict())
    saved = copy.deepcopy(opt_theirs.state_dict())
    for x, y in batches[3:]:  # steps the checkpoint then undoes
        step(x, y)
    ours.load_state_dict(saved_model)
    opt_ours.load_state_dict(saved)
    for x, y in batches[3:]:
        step(x, y)
        _plain(theirs, opt_theirs, x, y)
        assert _same(ours, theirs)


def test_a_layer_without_gradients_is_left_to_step() -> None:
    # a frozen layer has no gradient: torch's step() skips it, and so does BatchStep
    ours, theirs = _model(), _model()
    strategy = Strategy(optimizer="adam", lr=0.05)
    opt_ours = build_optimizer(ours.parameters(), strategy, fused=True)
    opt_theirs = build_optimizer(theirs.parameters(), strategy, fused=True)
    step = BatchStep(ours, opt_ours, F.cross_entropy, device_type="cpu")
    batches = _batches(6)
    for index, (x, y) in enumerate(batches):
        frozen = index in (2, 3)
        for model in (ours, theirs):
            model[0].requires_grad_(not frozen)
        step(x, y)
        _plain(theirs, opt_theirs, x, y)
        assert _same(ours, theirs), index
    first = next(iter(opt_ours.state.values()))
    assert int(first["step"]) == 4  # the first layer stepped in 4 of the 6 batches
