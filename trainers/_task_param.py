"""One declared parameter of a task (model width, depth, any knob): :class:`TaskParam`.

A task lists its parameters in ``Task.params``; each says its value type and its domain (a
range or choices) and checks a value against them. Resolving a strategy's values against a
task's declaration and building the model with them is :mod:`._task_params`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paretune.spaces import is_int, is_number

from ._strategy import Strategy

__all__ = ["TaskParam", "TaskParamType"]


class TaskParamType(str, enum.Enum):
    """The value type of a task parameter."""

    INT = "int"
    FLOAT = "float"
    CATEGORICAL = "categorical"
    BOOL = "bool"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or is_int(value) or is_number(value)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind (``True`` is not ``1``, ``1`` is not ``"1"``)."""
    return type(a) is type(b) and a == b


def _show(values: Sequence[Any]) -> str:
    return ", ".join(repr(v) for v in values)


@dataclass(frozen=True, kw_only=True)
class TaskParam:
    """One parameter a task declares: name, type, default and allowed values.

    ``int`` and ``float`` parameters allow a range (``low``/``high``, inclusive) or a list of
    ``choices``; ``categorical`` ones need ``choices`` (str, int, float or bool values);
    ``bool`` ones take neither.

    Attributes:
        name: A Python identifier that is not a :class:`Strategy` field.
        type: A :class:`TaskParamType` (or its value, ``"int"`` ...).
        default: The value used when a strategy does not set it (must be allowed).
        low: Smallest allowed value of a range.
        high: Largest allowed value of a range.
        choices: The allowed values, when they are a list.
        description: One line for ``paretune tasks``.

    Examples:
        >>> width = TaskParam(name="width", type="int", default=256, low=1, high=4096)
        >>> width.allowed, width.check(128, task="digits-mlp")
        ('an int in [1, 4096]', 128)
        >>> width.check(0, task="digits-mlp")
        Traceback (most recent call last):
        ...
        ValueError: The parameter 'width' of task 'digits-mlp' must be an int in [1, 4096]. \
Got 0 instead.
        >>> TaskParam(name="lr", type="float", default=0.1, low=0.0, high=1.0)
        Traceback (most recent call last):
        ...
        ValueError: The 'name' parameter of TaskParam must be a name that is no Strategy \
field (optimizer, lr, ...). Got 'lr' instead.
    """

    name: str
    type: TaskParamType | str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        put = object.__setattr__
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise self._bad("name", "a Python identifier", self.name)
        fields = [f.name for f in dataclasses.fields(Strategy)]
        if self.name in fields:
            raise self._bad(
                "name",
                f"a name that is no Strategy field ({', '.join(fields[:2])}, ...)",
                self.name,
            )
        try:
            kind = TaskParamType(self.type)
        except ValueError:
            raise self._bad(
                "type", f"one of {', '.join(t.value for t in TaskParamType)}", self.type
            ) from None
        put(self, "type", kind)
        if not isinstance(self.choices, tuple | list):
            raise self._bad("choices", "a tuple of values", self.choices)
        put(self, "choices", tuple(self.choices))
        if kind is TaskParamType.CATEGORICAL and not self.choices:
            raise self._bad("choices", f"non-empty for categorical {self.name!r}", self.choices)
        if kind in (TaskParamType.CATEGORICAL, TaskParamType.BOOL) or self.choices:
            if self.low is not None or self.high is not None:
                raise self._bad(
                    "low", f"None for {self.name!r} ({kind.value} or with choices)", self.low
                )
        elif self.low is None or self.high is None:
            raise self._bad("low", f"set with high (or give choices) for {self.name!r}", self.low)
        else:
            self._check_bounds(kind)
        if kind is TaskParamType.BOOL and self.choices:
            raise self._bad("choices", f"empty for bool {self.name!r}", self.choices)
        for index, choice in enumerate(self.choices):
            if not self._of_type(choice) or any(_same(c, choice) for c in self.choices[:index]):
                raise self._bad(
                    "choices", f"distinct values of type {kind.value} for {self.name!r}", choice
                )
        try:
            put(self, "default", self.check(self.default, task="?"))
        except ValueError:
            raise self._bad("default", self.allowed, self.default) from None
        if not isinstance(self.description, str):
            raise self._bad("description", "a str", self.description)

    def _check_bounds(self, kind: TaskParamType) -> None:
        typed = is_int if kind is TaskParamType.INT else is_number
        low, high = self.low, self.high
        for key, value in (("low", low), ("high", high)):
            if not typed(value):
                raise self._bad(key, f"a {kind.value} for {self.name!r}", value)
        if float(high) < float(low):  # type: ignore[arg-type]
            raise self._bad("high", f">= low ({low!r}) for {self.name!r}", high)
        if kind is TaskParamType.FLOAT:
            object.__setattr__(self, "low", float(low))  # type: ignore[arg-type]
            object.__setattr__(self, "high", float(high))  # type: ignore[arg-type]

    @staticmethod
    def _bad(key: str, what: str, value: Any) -> ValueError:
        return ValueError(
            f"The {key!r} parameter of TaskParam must be {what}. Got {value!r} instead."
        )

    def _of_type(self, value: Any) -> bool:
        if self.kind is TaskParamType.INT:
            return is_int(value)
        if self.kind is TaskParamType.FLOAT:
            return is_number(value)
        if self.kind is TaskParamType.BOOL:
            return isinstance(value, bool)
        return _is_scalar(value)

    @property
    def kind(self) -> TaskParamType:
        """``type`` as a :class:`TaskParamType` (a str given to the constructor is converted)."""
        return TaskParamType(self.type)

    @property
    def is_range(self) -> bool:
        """Whether the allowed values are a range (``low``/``high``), not a list."""
        return self.low is not None

    @property
    def allowed(self) -> str:
        """The allowed values in words (``"an int in [1, 4096]"``, ``"one of 'a', 'b'"``)."""
        if self.kind is TaskParamType.BOOL:
            return "a bool"
        if self.choices:
            return f"one of {_show(self.choices)}"
        article = "an" if self.kind is TaskParamType.INT else "a"
        return f"{article} {self.kind.value} in [{self.low!r}, {self.high!r}]"

    def check(self, value: Any, *, task: str) -> Any:
        """``value`` if allowed (a float parameter takes ints, as floats), else ``ValueError``.

        The message names the task, the parameter, the value and what is allowed.
        """
        ok = self._of_type(value)
        if ok and self.kind is TaskParamType.FLOAT:
            value = float(value)
        if ok and self.choices:
            ok = any(
                _same(value, c) or (is_number(c) and is_number(value) and value == c)
                for c in self.choices
            )
        elif ok and self.low is not None and self.high is not None:
            ok = bool(self.low <= value <= self.high)
        if not ok:
            raise ValueError(
                f"The parameter {self.name!r} of task {task!r} must be {self.allowed}. "
                f"Got {value!r} instead."
            )
        return value
