"""Distributions of one strategy parameter: validated value objects with a JSON round trip.

Each class checks its arguments on construction and raises :class:`ValueError` in the
scikit-learn wording, so a bad range is reported where it is written, not when a trial
samples it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "CategoricalDistribution",
    "Distribution",
    "Fixed",
    "FloatDistribution",
    "IntDistribution",
    "distribution_from_dict",
]

#: Values a categorical choice may take (what Optuna stores and JSON keeps).
Choice: TypeAlias = None | bool | int | float | str

_STEP_TOLERANCE = 1e-9


def _type_name(value: Any) -> str:
    return type(value).__name__


def _check_real(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a float. "
            f"Got {value!r} ({_type_name(value)}) instead."
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a finite float. Got {number!r} instead."
        )
    return number


def _check_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be an int. "
            f"Got {value!r} ({_type_name(value)}) instead."
        )
    return value


def _check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a bool. Got {value!r} instead."
        )
    return value


@dataclass(frozen=True, kw_only=True)
class FloatDistribution:
    """A float range, optionally log-scaled or discretized by ``step``.

    Args:
        low: Lower end (inclusive).
        high: Upper end (inclusive), ``low <= high``.
        log: Sample on a log scale (needs ``low > 0``; not combined with ``step``).
        step: Sample only ``low + k * step``; ``high - low`` must be a multiple of it.

    Examples:
        >>> FloatDistribution(low=1e-4, high=0.3, log=True).to_dict()
        {'type': 'float', 'low': 0.0001, 'high': 0.3, 'log': True, 'step': None}
        >>> FloatDistribution(low=0.0, high=-1.0)
        Traceback (most recent call last):
        ...
        ValueError: The 'high' parameter of FloatDistribution must be a float >= low=0.0. ...
    """

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        low = _check_real(owner, "low", self.low)
        high = _check_real(owner, "high", self.high)
        _check_bool(owner, "log", self.log)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if high < low:
            raise ValueError(
                f"The 'high' parameter of {owner} must be a float >= low={low!r}. "
                f"Got {high!r} instead."
            )
        if self.log and low <= 0:
            raise ValueError(
                f"The 'low' parameter of {owner} must be a float > 0 when log=True. "
                f"Got {low!r} instead."
            )
        if self.step is not None:
            step = _check_real(owner, "step", self.step)
            if step <= 0:
                raise ValueError(
                    f"The 'step' parameter of {owner} must be a float > 0 or None. "
                    f"Got {step!r} instead."
                )
            if self.log:
                raise ValueError(
                    f"The 'step' parameter of {owner} must be None when log=True. "
                    f"Got {step!r} instead."
                )
            ratio = (high - low) / step
            if abs(ratio - round(ratio)) > _STEP_TOLERANCE * max(1.0, abs(ratio)):
                raise ValueError(
                    f"The 'step' parameter of {owner} must divide high - low = {high - low!r}. "
                    f"Got {step!r} instead."
                )
            object.__setattr__(self, "step", step)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in the range (and on the step grid, if any).

        Examples:
            >>> FloatDistribution(low=0.0, high=1.0, step=0.25).contains(0.5)
            True
            >>> FloatDistribution(low=0.0, high=1.0, step=0.25).contains(0.3)
            False
        """
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        ratio = (value - self.low) / self.step
        return abs(ratio - round(ratio)) <= _STEP_TOLERANCE * max(1.0, abs(ratio))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :func:`distribution_from_dict` reads it back."""
        return {
            "type": "float",
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "step": self.step,
        }


@dataclass(frozen=True, kw_only=True)
class IntDistribution:
    """An integer range, optionally log-scaled (then ``step`` must be 1).

    Args:
        low: Lower end (inclusive).
        high: Upper end (inclusive), ``low <= high``.
        log: Sample on a log scale (needs ``low > 0`` and ``step == 1``).
        step: Sample only ``low + k * step``; ``high - low`` must be a multiple of it.

    Examples:
        >>> IntDistribution(low=1, high=9, step=2).contains(5)
        True
        >>> IntDistribution(low=0, high=10, step=3)
        Traceback (most recent call last):
        ...
        ValueError: The 'step' parameter of IntDistribution must divide high - low = 10. Got 3 ...
    """

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        owner = type(self).__name__
        low = _check_int(owner, "low", self.low)
        high = _check_int(owner, "high", self.high)
        step = _check_int(owner, "step", self.step)
        _check_bool(owner, "log", self.log)
        if high < low:
            raise ValueError(
                f"The 'high' parameter of {owner} must be an int >= low={low!r}. "
                f"Got {high!r} instead."
            )
        if step <= 0:
            raise ValueError(
                f"The 'step' parameter of {owner} must be an int > 0. Got {step!r} instead."
            )
        if self.log and low <= 0:
            raise ValueError(
                f"The 'low' parameter of {owner} must be an int > 0 when log=True. "
                f"Got {low!r} instead."
            )
        if self.log and step != 1:
            raise ValueError(
                f"The 'step' parameter of {owner} must be 1 when log=True. Got {step!r} instead."
            )
        if (high - low) % step != 0:
            raise ValueError(
                f"The 'step' parameter of {owner} must divide high - low = {high - low!r}. "
                f"Got {step!r} instead."
            )

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is an int in the range and on the step grid."""
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :func:`distribution_from_dict` reads it back."""
        return {
            "type": "int",
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "step": self.step,
        }


def _check_choice(owner: str, value: Any) -> None:
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise ValueError(
            f"The 'choices' parameter of {owner} must hold only None, bool, int, float or str "
            f"values. Got {value!r} ({_type_name(value)}) instead."
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"The 'choices' parameter of {owner} must hold finite numbers. Got {value!r} instead."
        )


@dataclass(frozen=True, kw_only=True)
class CategoricalDistribution:
    """A choice among distinct, JSON-able values (None, bool, int, float or str).

    Args:
        choices: The values, in order; non-empty, no duplicates.

    Examples:
        >>> CategoricalDistribution(choices=["sgd", "adam"]).choices
        ('sgd', 'adam')
        >>> CategoricalDistribution(choices=[])
        Traceback (most recent call last):
        ...
        ValueError: The 'choices' parameter of CategoricalDistribution must be a non-empty ...
    """

    choices: tuple[Choice, ...]

    def __post_init__(self) -> None:
        owner = type(self).__name__
        raw = self.choices
        if isinstance(raw, (str, bytes, Mapping)) or not hasattr(raw, "__iter__"):
            raise ValueError(
                f"The 'choices' parameter of {owner} must be a non-empty sequence. "
                f"Got {raw!r} instead."
            )
        choices = tuple(raw)
        if not choices:
            raise ValueError(
                f"The 'choices' parameter of {owner} must be a non-empty sequence. "
                f"Got {raw!r} instead."
            )
        seen: list[tuple[type, Any]] = []
        for value in choices:
            _check_choice(owner, value)
            key = (type(value), value)
            if key in seen:
                raise ValueError(
                    f"The 'choices' parameter of {owner} must hold distinct values. "
                    f"Got {value!r} twice in {list(choices)!r}."
                )
            seen.append(key)
        object.__setattr__(self, "choices", choices)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one of the choices (same type, so ``True`` is not ``1``)."""
        return any(type(value) is type(c) and value == c for c in self.choices)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :func:`distribution_from_dict` reads it back."""
        return {"type": "categorical", "choices": list(self.choices)}


@dataclass(frozen=True, kw_only=True)
class Fixed:
    """A parameter held at one value (not sampled, but part of every strategy).

    Args:
        value: Any JSON-able value.

    Examples:
        >>> Fixed(value=20).to_dict()
        {'type': 'fixed', 'value': 20}
        >>> Fixed(value=object())
        Traceback (most recent call last):
        ...
        ValueError: The 'value' parameter of Fixed must be JSON-serializable. Got <object ...
    """

    value: Any

    def __post_init__(self) -> None:
        try:
            json.dumps(self.value, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError(
                f"The 'value' parameter of Fixed must be JSON-serializable. "
                f"Got {self.value!r} instead."
            ) from None

    def contains(self, value: Any) -> bool:
        """Whether ``value`` equals the fixed value."""
        return bool(value == self.value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :func:`distribution_from_dict` reads it back."""
        return {"type": "fixed", "value": self.value}


#: A sampled distribution (what ``isinstance(x, Distribution)`` accepts; Fixed is not one).
Distribution: TypeAlias = FloatDistribution | IntDistribution | CategoricalDistribution

_KINDS: dict[str, type[FloatDistribution | IntDistribution | CategoricalDistribution | Fixed]] = {
    "float": FloatDistribution,
    "int": IntDistribution,
    "categorical": CategoricalDistribution,
    "fixed": Fixed,
}


def distribution_from_dict(
    data: Mapping[str, Any],
) -> FloatDistribution | IntDistribution | CategoricalDistribution | Fixed:
    """Rebuild a distribution (or :class:`Fixed`) from its :meth:`to_dict` form.

    Examples:
        >>> d = IntDistribution(low=16, high=256, log=True)
        >>> distribution_from_dict(d.to_dict()) == d
        True
        >>> distribution_from_dict({"type": "normal"})
        Traceback (most recent call last):
        ...
        ValueError: Unknown distribution type 'normal'. Known: categorical, fixed, float, int.
    """
    if not isinstance(data, Mapping) or "type" not in data:
        raise ValueError(
            f"A distribution must be a mapping with a 'type' key. Got {data!r} instead."
        )
    kind = data["type"]
    if kind not in _KINDS:
        raise ValueError(f"Unknown distribution type {kind!r}. Known: {', '.join(sorted(_KINDS))}.")
    cls = _KINDS[kind]
    fields = {k: v for k, v in data.items() if k != "type"}
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(
            f"Unknown key(s) {', '.join(map(repr, unknown))} for a {kind} distribution. "
            f"Known: {', '.join(sorted(known))}."
        )
    if cls is CategoricalDistribution and "choices" in fields:
        fields["choices"] = (
            tuple(fields["choices"]) if isinstance(fields["choices"], list) else fields["choices"]
        )
    try:
        return cls(**fields)
    except TypeError as error:
        raise ValueError(f"Incomplete {kind} distribution {dict(data)!r}: {error}.") from None
