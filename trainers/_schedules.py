"""Learning-rate schedules: pure functions of the epoch, with an optional linear warm-up.

For epoch ``e`` (numbered from 1) of ``E`` with ``W`` warm-up epochs and base rate ``lr``:

* warm-up (``e <= W``): ``lr * e / (W + 1)``;
* afterwards, with ``t = e - W - 1`` (0 at the first decay epoch) and ``T = max(E - W, 1)``:

  =============  =====================================
  constant       ``lr``
  linear         ``lr * (1 - t / T)``
  exponential    ``lr * gamma ** t``
  step           ``lr * gamma ** (t // step_size)``
  cosine         ``lr * (1 + cos(pi * t / T)) / 2``
  =============  =====================================

The rate is constant within an epoch, so every step of epoch ``e`` uses ``learning_rate(s, e)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from paretune.spaces import Registry

__all__ = [
    "ScheduleInfo",
    "ScheduleSettings",
    "learning_rate",
    "list_schedules",
    "register_schedule",
    "schedule_info",
]

# (t, T, gamma, step_size) -> multiplier of the base rate
Factor = Callable[[int, int, float, int], float]


class ScheduleSettings(Protocol):
    """What a learning rate is computed from: the fields a
    :class:`~paretune.trainers.Strategy` has for it (this registry reads them; it does not
    depend on the Strategy class)."""

    @property
    def lr(self) -> float: ...
    @property
    def schedule(self) -> str: ...
    @property
    def epochs(self) -> int: ...
    @property
    def warmup_epochs(self) -> int: ...
    @property
    def decay_gamma(self) -> float | None: ...
    @property
    def step_size(self) -> int | None: ...


@dataclass(frozen=True, kw_only=True)
class ScheduleInfo:
    """One decay schedule.

    Attributes:
        name: Registry name (``"cosine"``).
        description: One line for listings.
        factor: ``factor(t, T, gamma, step_size)``: the multiplier of the base rate at decay
            epoch ``t`` (0-based) of ``T``.
        has_decay_gamma: Takes ``decay_gamma`` (default ``default_decay_gamma``).
        has_step_size: Takes ``step_size`` (default a third of the epochs).
        default_decay_gamma: Default ``decay_gamma`` where it applies.

    Examples:
        >>> schedule_info("step").sub_parameters
        ('decay_gamma', 'step_size')
    """

    name: str
    description: str
    factor: Factor
    has_decay_gamma: bool = False
    has_step_size: bool = False
    default_decay_gamma: float | None = None

    @property
    def sub_parameters(self) -> tuple[str, ...]:
        """The Strategy fields this schedule takes besides ``warmup_epochs``."""
        names: list[str] = []
        if self.has_decay_gamma:
            names.append("decay_gamma")
        if self.has_step_size:
            names.append("step_size")
        return tuple(names)


_SCHEDULES: Registry[ScheduleInfo] = Registry(kind="schedule")


def register_schedule(info: ScheduleInfo) -> None:
    """Add a schedule; a duplicate name raises ``ValueError``."""
    _SCHEDULES.register(info.name, info)


def schedule_info(name: str) -> ScheduleInfo:
    """The registry entry for ``name``; unknown names raise listing the known ones."""
    return _SCHEDULES.get(name)


def list_schedules() -> list[str]:
    """Names of every registered schedule.

    Examples:
        >>> list_schedules()
        ['constant', 'linear', 'exponential', 'step', 'cosine']
    """
    return _SCHEDULES.names()


def learning_rate(strategy: ScheduleSettings, epoch: int) -> float:
    """The learning rate of every step in ``epoch`` (numbered from 1).

    Examples:
        >>> from paretune.trainers import Strategy
        >>> s = Strategy(lr=0.1, schedule="step", decay_gamma=0.5, step_size=2, epochs=6)
        >>> [learning_rate(s, e) for e in range(1, 7)]
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
        >>> w = Strategy(lr=0.3, warmup_epochs=2, epochs=4)
        >>> [round(learning_rate(w, e), 3) for e in range(1, 5)]
        [0.1, 0.2, 0.3, 0.3]
    """
    warmup = strategy.warmup_epochs
    if epoch <= warmup:
        return strategy.lr * epoch / (warmup + 1)
    info = schedule_info(strategy.schedule)
    t = epoch - warmup - 1
    total = max(strategy.epochs - warmup, 1)
    gamma = strategy.decay_gamma if strategy.decay_gamma is not None else 1.0
    step_size = strategy.step_size if strategy.step_size is not None else 1
    return strategy.lr * info.factor(t, total, gamma, step_size)


for _info in (
    ScheduleInfo(name="constant", description="constant rate", factor=lambda t, n, g, k: 1.0),
    ScheduleInfo(
        name="linear",
        description="linear decay towards 0 over the epochs",
        factor=lambda t, n, g, k: 1.0 - t / n,
    ),
    ScheduleInfo(
        name="exponential",
        description="multiply by decay_gamma every epoch",
        factor=lambda t, n, g, k: g**t,
        has_decay_gamma=True,
        default_decay_gamma=0.9,
    ),
    ScheduleInfo(
        name="step",
        description="multiply by decay_gamma every step_size epochs",
        factor=lambda t, n, g, k: g ** (t // k),
        has_decay_gamma=True,
        has_step_size=True,
        default_decay_gamma=0.1,
    ),
    ScheduleInfo(
        name="cosine",
        description="half-cosine decay towards 0 over the epochs",
        factor=lambda t, n, g, k: 0.5 * (1.0 + math.cos(math.pi * t / n)),
    ),
):
    register_schedule(_info)
