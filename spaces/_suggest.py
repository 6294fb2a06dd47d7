"""Sample a strategy space through any Optuna-like trial (define-by-run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from paretune.spaces._distributions import (
    CategoricalDistribution,
    Fixed,
    FloatDistribution,
    IntDistribution,
)
from paretune.spaces._space import StrategySpace

__all__ = ["SuggestTrial", "suggest"]


class SuggestTrial(Protocol):
    """What :func:`suggest` needs from a trial: Optuna's three ``suggest_*`` methods."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = ..., log: bool = ...
    ) -> float: ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = ..., log: bool = ...
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


def suggest(space: StrategySpace, trial: SuggestTrial) -> dict[str, Any]:
    """Ask ``trial`` for every parameter of ``space`` that applies; return the full strategy.

    Parents are asked before the sub-parameters that depend on them; a sub-parameter whose
    condition does not hold is neither sampled nor returned (fixed ones included). Fixed values
    are returned but not sent to the trial, so the trial's params hold only what was sampled.

    Args:
        space: The strategy space.
        trial: An ``optuna.Trial`` or anything with the same ``suggest_*`` methods.

    Returns:
        Parameter name -> value, in sampling order, ready for ``Strategy.from_dict``.

    Examples:
        >>> import optuna
        >>> from paretune.spaces import CategoricalDistribution, Fixed, FloatDistribution
        >>> space = StrategySpace(
        ...     params={
        ...         "optimizer": CategoricalDistribution(choices=("sgd", "adam")),
        ...         "momentum": FloatDistribution(low=0.8, high=0.99),
        ...         "beta1": Fixed(value=0.9),
        ...         "epochs": Fixed(value=3),
        ...     },
        ...     conditions={"momentum": ("optimizer", ("sgd", "momentum")),
        ...                 "beta1": ("optimizer", ("adam",))},
        ... )
        >>> trial = optuna.trial.FixedTrial({"optimizer": "adam"})
        >>> suggest(space, trial)
        {'optimizer': 'adam', 'beta1': 0.9, 'epochs': 3}
    """
    values: dict[str, Any] = {}
    for name in space.order:
        if not space.applies(name, values):
            continue
        spec = space.params[name]
        if isinstance(spec, Fixed):
            values[name] = spec.value
        elif isinstance(spec, FloatDistribution):
            values[name] = trial.suggest_float(
                name, spec.low, spec.high, step=spec.step, log=spec.log
            )
        elif isinstance(spec, IntDistribution):
            values[name] = trial.suggest_int(
                name, spec.low, spec.high, step=spec.step, log=spec.log
            )
        elif isinstance(spec, CategoricalDistribution):
            values[name] = trial.suggest_categorical(name, spec.choices)
        else:  # pragma: no cover - StrategySpace validates the types
            raise TypeError(f"Unsupported distribution {spec!r} for {name!r}.")
    return values
