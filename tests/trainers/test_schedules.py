"""Every schedule's learning rate equals its formula epoch by epoch, also inside training."""

from __future__ import annotations

import math

import pytest
import torch
from paretune.trainers import (
    ScheduleInfo,
    Strategy,
    get_task,
    learning_rate,
    list_schedules,
    register_schedule,
    schedule_info,
    train,
)
from torch.nn import functional as F


def oracle(s: Strategy, epoch: int) -> float:
    """The documented formulas, written out again independently of the implementation."""
    if epoch <= s.warmup_epochs:
        return s.lr * epoch / (s.warmup_epochs + 1)
    t = epoch - s.warmup_epochs - 1
    n = max(s.epochs - s.warmup_epochs, 1)
    if s.schedule == "constant":
        return s.lr
    if s.schedule == "linear":
        return s.lr * (n - t) / n
    if s.schedule == "exponential":
        assert s.decay_gamma is not None
        return s.lr * s.decay_gamma**t
    if s.schedule == "step":
        assert s.decay_gamma is not None and s.step_size is not None
        return s.lr * s.decay_gamma ** math.floor(t / s.step_size)
    if s.schedule == "cosine":
        return s.lr * (1 + math.cos(math.pi * t / n)) / 2
    raise AssertionError(f"no oracle for schedule {s.schedule!r}")


def test_every_registered_schedule_has_an_oracle() -> None:
    for name in list_schedules():
        oracle(Strategy(schedule=name, epochs=3), 2)


@pytest.mark.parametrize("name", list_schedules())
@pytest.mark.parametrize("warmup", [0, 3])
def test_schedule_follows_its_formula_epoch_by_epoch(name: str, warmup: int) -> None:
    info = schedule_info(name)
    extra: dict[str, float | int] = {}
    if info.has_decay_gamma:
        extra["decay_gamma"] = 0.7
    if info.has_step_size:
        extra["step_size"] = 4
    s = Strategy(lr=0.2, schedule=name, warmup_epochs=warmup, epochs=17, **extra)
    for epoch in range(1, s.epochs + 1):
        assert learning_rate(s, epoch) == pytest.approx(oracle(s, epoch), rel=1e-12), epoch


def test_warmup_rises_linearly_then_decays() -> None:
    s = Strategy(lr=1.0, schedule="linear", warmup_epochs=3, epochs=7)
    rates = [learning_rate(s, e) for e in range(1, 8)]
    assert rates == pytest.approx([0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25])


def test_warmup_longer_than_training_only_warms_up() -> None:
    s = Strategy(lr=1.0, warmup_epochs=5, epochs=2)
    assert [learning_rate(s, e) for e in (1, 2)] == pytest.approx([1 / 6, 2 / 6])


@pytest.mark.parametrize("name", list_schedules())
def test_training_uses_the_scheduled_rate(name: str) -> None:
    """Full-batch SGD by hand with the formula's rates ends at the trainer's weights."""
    task = get_task(
        "synthetic", options={"n_samples": 100, "n_features": 6, "n_informative": 4, "hidden": 8}
    )
    data = task.data()
    extra = {"decay_gamma": 0.5} if schedule_info(name).has_decay_gamma else {}
    s = Strategy(
        optimizer="sgd",
        lr=0.5,
        schedule=name,
        warmup_epochs=1,
        epochs=4,
        batch_size=len(data.x_train),
        **extra,
    )
    result = train(task, s, device="cpu", keep_model=True)
    assert [point["lr"] for point in result.curve] == pytest.approx(
        [oracle(s, e) for e in range(1, 5)]
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.seed)
        model = task.new_model(0.0)
    for epoch in range(1, 5):
        model.zero_grad()
        F.cross_entropy(model(data.x_train), data.y_train).backward()
        with torch.no_grad():
            for p in model.parameters():
                assert p.grad is not None
                p -= oracle(s, epoch) * p.grad
    assert result.model is not None
    for ours, theirs in zip(result.model.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_duplicate_schedule_raises_and_unknown_lists_known() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_schedule(ScheduleInfo(name="cosine", description="x", factor=lambda *a: 1.0))
    with pytest.raises(ValueError, match=r"Unknown schedule 'poly'\. Known: constant, linear"):
        schedule_info("poly")
