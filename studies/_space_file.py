"""The ``[space]`` table of a study file, checked against the trainers' registries.

A scalar fixes a strategy field, a list makes it categorical and a table (``low``, ``high``,
``log``, ``step``) makes it a range. Sub-parameters that only apply to some optimizers or
schedules (``momentum``, ``beta1``, ``decay_gamma``, ``step_size`` ...) get the conditions
from ``trainers.conditional_parameters()``: they are sampled only where they apply.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from paretune.studies._checks import Where
from paretune.studies._errors import StudyFileError, format_value

if typing.TYPE_CHECKING:
    from paretune.spaces import StrategySpace

__all__ = ["read_space", "strategy_fields"]

_RANGE_KEYS = ("low", "high", "log", "step")


def strategy_fields() -> dict[str, tuple[type, Any]]:
    """Each ``Strategy`` field with its value type (``int``, ``float``, ``str``, ``bool``)
    and its default.

    Returns:
        Field name -> (type, default), in the order of the dataclass.

    Examples:
        >>> fields = strategy_fields()
        >>> fields["lr"][0], fields["optimizer"][0], fields["batch_size"][0]
        (<class 'float'>, <class 'str'>, <class 'int'>)
    """
    from paretune.trainers import Strategy

    hints = typing.get_type_hints(Strategy)
    result: dict[str, tuple[type, Any]] = {}
    for field in dataclasses.fields(Strategy):
        hint = hints[field.name]
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        default = field.default if field.default is not dataclasses.MISSING else None
        result[field.name] = (hint, default)
    return result


def _check_type(where: Where, kind: type, value: Any) -> Any:
    """A scalar of the field's type (ints are accepted for float fields)."""
    if isinstance(value, Mapping | list):
        raise where.fail(f"a {_type_word(kind)}", value)
    if kind is bool:
        return where.boolean(value)
    if kind is int:
        return where.integer(value)
    if kind is float:
        return where.number(value)
    if not isinstance(value, kind):
        raise where.fail(f"a {_type_word(kind)}", value)
    return value


def _type_word(kind: type) -> str:
    return {int: "integer", float: "number", str: "string", bool: "boolean"}.get(
        kind, kind.__name__
    )


class _SpaceReader:
    """Reads one ``[space]`` table (kept as an object so each step stays short)."""

    def __init__(self, table: Mapping[str, Any], where: Where) -> None:
        from paretune.trainers import conditional_parameters

        self.table = table
        self.where = where
        self.fields = strategy_fields()
        self.conditions = dict(conditional_parameters())

    # -- which parent values can occur -------------------------------------------------
    def possible(self, name: str) -> tuple[Any, ...] | None:
        """The values a field can take in this space (``None`` when it is a range)."""
        if name not in self.table:
            return (self.fields[name][1],)
        value = self.table[name]
        if isinstance(value, list):
            return tuple(value)
        if isinstance(value, Mapping):
            return None
        return (value,)

    def context(self, name: str) -> dict[str, Any]:
        """Parent values that make ``name`` apply, to check its values with ``Strategy``."""
        if name not in self.conditions:
            return {}
        parent, applies = self.conditions[name]
        possible = self.possible(parent) or applies
        chosen = next((v for v in possible if v in applies), applies[0])
        return {parent: chosen, **self.context(parent)}

    def probe(self, where: Where, name: str, value: Any) -> None:
        """Ask ``Strategy`` itself whether the value is allowed (the registries decide)."""
        from paretune.trainers import Strategy

        try:
            Strategy.from_dict({**self.context(name), name: value})
        except (ValueError, TypeError) as error:
            raise where.error(f"is not allowed (got {format_value(value)}): {error}") from None

    # -- one entry ----------------------------------------------------------------------
    def entry(self, name: str, value: Any) -> Any:
        from paretune.spaces import CategoricalDistribution, Fixed

        where = self.where.child(name)
        kind = self.fields[name][0]
        if isinstance(value, Mapping):
            return self.range(where, name, kind, value)
        if isinstance(value, list):
            if not value:
                raise where.fail("a non-empty list of choices", value)
            choices: list[Any] = []
            for index, item in enumerate(value):
                item_where = Where(where.source, f"{where.key}[{index}]")
                item = _check_type(item_where, kind, item)
                if item in choices:
                    raise item_where.error(f"repeats the choice {format_value(item)}")
                self.probe(item_where, name, item)
                choices.append(item)
            return self.build(where, CategoricalDistribution, choices=tuple(choices))
        fixed = _check_type(where, kind, value)
        self.probe(where, name, fixed)
        return self.build(where, Fixed, value=fixed)

    def range(self, where: Where, name: str, kind: type, table: Mapping[str, Any]) -> Any:
        from paretune.spaces import FloatDistribution, IntDistribution

        if kind not in (int, float):
            raise where.error(
                f"cannot be a range: {name} takes a {_type_word(kind)}; write one value or a "
                f"list of choices (got {format_value(dict(table))})"
            )
        where.keys(table, _RANGE_KEYS)
        for key in ("low", "high"):
            if key not in table:
                raise where.error(f"needs '{key}' (a range is {{ low = ..., high = ... }})")
        if table.get("log") is True and "step" in table:
            raise where.error("cannot have both log = true and a step")
        options = {key: table[key] for key in _RANGE_KEYS if key in table}
        # The distribution checks the range; its message is reworded onto the key path.
        try:
            if kind is int:
                distribution: Any = IntDistribution(**options)
            else:
                distribution = FloatDistribution(**options)
        except ValueError as error:
            raise _range_error(where, table, error) from None
        self.probe(where.child("low"), name, distribution.low)
        self.probe(where.child("high"), name, distribution.high)
        return distribution

    def build(self, where: Where, cls: Any, **kwargs: Any) -> Any:
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as error:
            raise where.error(f"is not a valid {cls.__name__}: {error}") from None

    # -- conditions ---------------------------------------------------------------------
    def condition(self, name: str) -> tuple[str, tuple[Any, ...]] | None:
        """The condition under which ``name`` is sampled, or ``None`` when it always is."""
        if name not in self.conditions:
            return None
        parent, applies = self.conditions[name]
        possible = self.possible(parent)
        if possible is None:
            return parent, tuple(applies)
        if not any(v in applies for v in possible):
            if parent in self.table:
                can = f"space.{parent} only allows {_listing(possible)}"
            else:
                can = (
                    f"{parent} is not in [space], so it is always "
                    f"{format_value(self.fields[parent][1])}"
                )
            raise self.where.child(name).error(
                f"can never be used: {name} only applies when {parent} is one of "
                f"{_listing(applies)}, but {can}"
            )
        if parent not in self.table:
            return None  # the parent is fixed at its default, where the sub-parameter applies
        return parent, tuple(applies)

    def read(self, *, epochs: int | None) -> StrategySpace:
        from paretune.spaces import Fixed, StrategySpace

        self.where.keys(self.table, self.fields)
        params: dict[str, Any] = {}
        conditions: dict[str, tuple[str, tuple[Any, ...]]] = {}
        for name, value in self.table.items():
            params[name] = self.entry(name, value)
            found = self.condition(name)
            if found is not None:
                conditions[name] = found
        if epochs is not None and "epochs" in self.fields and "epochs" not in params:
            params["epochs"] = Fixed(value=epochs)
        try:
            return StrategySpace(params=params, conditions=conditions)
        except (ValueError, TypeError) as error:
            raise self.where.error(f"is not a valid space: {error}") from None


#: A distribution's error: "The 'low' parameter of FloatDistribution must be .... Got 0 instead."
_DISTRIBUTION_ERROR = re.compile(r"The '(?P<key>\w+)' parameter of \w+ must (?P<rule>.+?)\. Got .*")

#: Python words in a distribution's rule -> the words of a study file.
_FILE_WORDS = (
    (" or None", ""),
    ("an int", "an integer"),
    ("a finite float", "a finite number"),
    ("a float", "a number"),
    ("a bool", "true or false"),
    ("log=True", "log = true"),
)


def _range_error(where: Where, table: Mapping[str, Any], error: ValueError) -> StudyFileError:
    """A distribution's ``ValueError`` as a study-file error at ``space.NAME.KEY``.

    Examples:
        >>> from paretune.spaces import FloatDistribution
        >>> try:
        ...     FloatDistribution(low=0.5, high=0.1)
        ... except ValueError as error:
        ...     print(_range_error(Where("x.toml", "space.lr"), {"low": 0.5, "high": 0.1}, error))
        x.toml: space.lr.high must be >= low = 0.5 (got 0.1)
    """
    match = _DISTRIBUTION_ERROR.fullmatch(str(error))
    if match is None or match["key"] not in table:
        return where.error(f"is not a valid range (got {format_value(dict(table))}): {error}")
    key, rule = match["key"], match["rule"]
    # "be a float >= low=0.5": the type is the field's; the bound is the file's value
    rule = re.sub(r"^be (an int|a float) (?=[<>])", "be ", rule)
    rule = re.sub(r"\blow=\S+", lambda _: f"low = {format_value(table['low'])}", rule)
    for python, toml in _FILE_WORDS:
        rule = rule.replace(python, toml)
    return where.child(key).error(f"must {rule} (got {format_value(table[key])})")


def _listing(values: Any) -> str:
    return ", ".join(format_value(v) for v in values)


def read_space(table: Any, where: Where, *, epochs: int | None = None) -> StrategySpace:
    """Turn the ``[space]`` table of a study file into a ``StrategySpace``.

    Args:
        table: The parsed ``[space]`` table.
        where: The file and key path (``space``) for error messages.
        epochs: The task's default epochs, fixed when the table does not set ``epochs``.

    Returns:
        The space, with conditions for the sub-parameters that only apply to some
        optimizers or schedules.

    Raises:
        StudyFileError: For an unknown field, a value of the wrong type, a value the
            trainers refuse, a malformed range, or a sub-parameter that can never apply.

    Examples:
        >>> space = read_space({"optimizer": ["sgd", "momentum"], "momentum": {"low": 0.5,
        ...     "high": 0.99}, "lr": {"low": 1e-3, "high": 0.1, "log": True}},
        ...     Where("x.toml", "space"))
        >>> dict(space.conditions)["momentum"][0]
        'optimizer'
        >>> read_space({"lr": {"low": 0, "high": 1, "log": True}}, Where("x.toml", "space"))
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: space.lr.low must be > 0 when log =
        true (got 0)
    """
    mapping = where.table(table)
    if not mapping:
        raise where.error("is empty: give at least one strategy field (e.g. lr = { ... })")
    return _SpaceReader(mapping, where).read(epochs=epochs)
