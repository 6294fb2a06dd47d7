"""The strategy space: one distribution (or fixed value) per parameter, plus conditions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from paretune.spaces._distributions import (
    CategoricalDistribution,
    Fixed,
    FloatDistribution,
    IntDistribution,
    distribution_from_dict,
)

__all__ = ["StrategySpace"]

ParamDistribution: TypeAlias = FloatDistribution | IntDistribution | CategoricalDistribution | Fixed
Condition: TypeAlias = tuple[str, tuple[Any, ...]]


def _possible_values(spec: ParamDistribution) -> tuple[Any, ...] | None:
    """The finite set of values a parameter can take, or None when it is a range."""
    if isinstance(spec, Fixed):
        return (spec.value,)
    if isinstance(spec, CategoricalDistribution):
        return tuple(spec.choices)
    return None


@dataclass(frozen=True, kw_only=True)
class StrategySpace:
    """Where each strategy parameter may lie, and when a sub-parameter applies at all.

    Args:
        params: Parameter name -> distribution or :class:`~paretune.spaces.Fixed` value.
            Sampling follows this order, except that a parent always comes before the
            parameters that depend on it.
        conditions: Sub-parameter name -> ``(parent, values)``: the sub-parameter (sampled or
            fixed) is part of a strategy only when the parent is part of it and takes one of
            ``values``. Both names must be in ``params``.

    Examples:
        >>> from paretune.spaces import CategoricalDistribution, FloatDistribution, Fixed
        >>> space = StrategySpace(
        ...     params={
        ...         "optimizer": CategoricalDistribution(choices=("sgd", "momentum")),
        ...         "momentum": FloatDistribution(low=0.5, high=0.99),
        ...         "epochs": Fixed(value=5),
        ...     },
        ...     conditions={"momentum": ("optimizer", ("momentum", "nesterov"))},
        ... )
        >>> space.order
        ('optimizer', 'momentum', 'epochs')
        >>> StrategySpace.from_json(space.to_json()) == space
        True
        >>> StrategySpace(
        ...     params={"lr": Fixed(value=0.1)}, conditions={"lr": ("optimizer", ("sgd",))}
        ... )
        Traceback (most recent call last):
        ...
        ValueError: The 'conditions' parameter of StrategySpace names parent 'optimizer' ...
    """

    params: Mapping[str, ParamDistribution]
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    order: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.params, Mapping):
            raise ValueError(
                f"The 'params' parameter of {owner} must be a mapping of names to "
                f"distributions. Got {self.params!r} instead."
            )
        params: dict[str, ParamDistribution] = {}
        for name, spec in self.params.items():
            if not isinstance(name, str) or not name:
                raise ValueError(
                    f"The 'params' parameter of {owner} must have non-empty str names. "
                    f"Got {name!r} instead."
                )
            if not isinstance(
                spec, (FloatDistribution, IntDistribution, CategoricalDistribution, Fixed)
            ):
                raise ValueError(
                    f"The 'params' parameter of {owner} must map {name!r} to a "
                    f"FloatDistribution, IntDistribution, CategoricalDistribution or Fixed. "
                    f"Got {spec!r} instead."
                )
            params[name] = spec
        if not isinstance(self.conditions, Mapping):
            raise ValueError(
                f"The 'conditions' parameter of {owner} must be a mapping of sub-parameter to "
                f"(parent, values). Got {self.conditions!r} instead."
            )
        known = ", ".join(params)
        conditions: dict[str, Condition] = {}
        for child, condition in self.conditions.items():
            if child not in params:
                raise ValueError(
                    f"The 'conditions' parameter of {owner} has a condition for {child!r}, "
                    f"which is not in params. Known: {known}."
                )
            if (
                not isinstance(condition, (tuple, list))
                or len(condition) != 2
                or not isinstance(condition[0], str)
                or isinstance(condition[1], (str, bytes))
                or not hasattr(condition[1], "__iter__")
            ):
                raise ValueError(
                    f"The 'conditions' parameter of {owner} must map {child!r} to "
                    f"(parent name, tuple of parent values). Got {condition!r} instead."
                )
            parent, values = condition[0], tuple(condition[1])
            if parent not in params:
                raise ValueError(
                    f"The 'conditions' parameter of {owner} names parent {parent!r} for "
                    f"{child!r}, but {parent!r} is not in params. Known: {known}."
                )
            if parent == child:
                raise ValueError(
                    f"The 'conditions' parameter of {owner} makes {child!r} depend on itself."
                )
            if not values:
                raise ValueError(
                    f"The 'conditions' parameter of {owner} must give {child!r} at least one "
                    f"parent value. Got {condition!r} instead."
                )
            possible = _possible_values(params[parent])
            if possible is not None and not any(v in values for v in possible):
                raise ValueError(
                    f"The condition for {child!r} can never hold: {parent!r} takes only "
                    f"{list(possible)!r}, and {child!r} applies only when it is one of "
                    f"{list(values)!r}."
                )
            conditions[child] = (parent, values)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "conditions", conditions)
        object.__setattr__(self, "order", self._parents_first(params, conditions))

    @staticmethod
    def _parents_first(
        params: Mapping[str, ParamDistribution], conditions: Mapping[str, Condition]
    ) -> tuple[str, ...]:
        order: list[str] = []
        placed: set[str] = set()
        visiting: list[str] = []

        def place(name: str) -> None:
            if name in placed:
                return
            if name in visiting:
                cycle = " -> ".join([*visiting[visiting.index(name) :], name])
                raise ValueError(
                    f"The 'conditions' parameter of StrategySpace has a cycle: {cycle}."
                )
            visiting.append(name)
            if name in conditions:
                place(conditions[name][0])
            visiting.pop()
            placed.add(name)
            order.append(name)

        for name in params:
            place(name)
        return tuple(order)

    @property
    def sampled(self) -> tuple[str, ...]:
        """Names of the parameters that are sampled (not :class:`Fixed`), in sampling order."""
        return tuple(n for n in self.order if not isinstance(self.params[n], Fixed))

    def applies(self, name: str, values: Mapping[str, Any]) -> bool:
        """Whether parameter ``name`` is part of a strategy whose other values are ``values``.

        Examples:
            >>> from paretune.spaces import CategoricalDistribution, Fixed
            >>> space = StrategySpace(
            ...     params={"schedule": CategoricalDistribution(choices=("step", "cosine")),
            ...             "step_size": Fixed(value=5)},
            ...     conditions={"step_size": ("schedule", ("step",))},
            ... )
            >>> space.applies("step_size", {"schedule": "cosine"})
            False
        """
        condition = self.conditions.get(name)
        if condition is None:
            return True
        parent, allowed = condition
        return parent in values and values[parent] in allowed

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (see :meth:`to_json`)."""
        return {
            "params": {name: spec.to_dict() for name, spec in self.params.items()},
            "conditions": {
                child: [parent, list(values)] for child, (parent, values) in self.conditions.items()
            },
        }

    def to_json(self) -> str:
        """The space as a JSON string; :meth:`from_json` reads it back to an equal space."""
        return json.dumps(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StrategySpace:
        """Rebuild a space from :meth:`to_dict` output."""
        if not isinstance(data, Mapping) or "params" not in data:
            raise ValueError(f"A strategy space must be a mapping with 'params'. Got {data!r}.")
        unknown = sorted(set(data) - {"params", "conditions"})
        if unknown:
            raise ValueError(
                f"Unknown key(s) {', '.join(map(repr, unknown))} in a strategy space. "
                "Known: conditions, params."
            )
        params = {name: distribution_from_dict(spec) for name, spec in data["params"].items()}
        conditions = {
            child: (cond[0], tuple(cond[1])) for child, cond in data.get("conditions", {}).items()
        }
        return cls(params=params, conditions=conditions)

    @classmethod
    def from_json(cls, text: str) -> StrategySpace:
        """Rebuild a space from :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"A strategy space must be valid JSON: {error}.") from None
        return cls.from_dict(data)
