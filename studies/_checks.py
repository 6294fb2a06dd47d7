"""Typed readers for study-file values: each returns the value or raises ``StudyFileError``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from paretune.spaces import is_int, is_number
from paretune.studies._errors import StudyFileError, format_value, unknown_key_message

__all__ = ["MAX_DEPTH", "Where", "check_depth"]

#: How deeply a study file may nest arrays and tables (its deepest key needs 4).
MAX_DEPTH = 16


@dataclass(frozen=True)
class Where:
    """A place in a study file: the file label and the key path, used to word errors.

    Examples:
        >>> where = Where("x.toml", "space").child("lr").child("low")
        >>> where.key
        'space.lr.low'
        >>> where.integer(0, minimum=1)
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: space.lr.low must be an integer >= 1
        (got 0)
    """

    source: str
    key: str = ""

    def child(self, name: str) -> Where:
        """The place of a key inside this table."""
        return Where(self.source, f"{self.key}.{name}" if self.key else name)

    def error(self, message: str) -> StudyFileError:
        """An error at this place (the message continues the key path)."""
        return StudyFileError(self.source, self.key, message)

    def fail(self, allowed: str, value: Any) -> StudyFileError:
        """``KEY must be ALLOWED (got VALUE)``."""
        return self.error(f"must be {allowed} (got {format_value(value)})")

    def table(self, value: Any) -> Mapping[str, Any]:
        """A TOML table."""
        if not isinstance(value, Mapping):
            raise self.fail("a table", value)
        return value

    def keys(self, table: Mapping[str, Any], known: Iterable[str]) -> None:
        """Refuse keys that are not in ``known``, listing the known ones."""
        known = list(known)
        for key in table:
            if key not in known:
                raise self.child(key).error(unknown_key_message(key, known))

    def string(self, value: Any, *, choices: Iterable[str] | None = None) -> str:
        """A non-empty string, optionally one of ``choices``."""
        if choices is not None:
            listed = list(choices)
            if not isinstance(value, str) or value not in listed:
                raise self.fail("one of " + ", ".join(format_value(c) for c in listed), value)
            return value
        if not isinstance(value, str) or not value.strip():
            raise self.fail("a non-empty string", value)
        return value

    def integer(self, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
        """An integer (booleans refused), optionally ``>= minimum`` and ``<= maximum``."""
        bound = f" >= {minimum}" if minimum is not None else ""
        if maximum is not None:
            bound = f" in [{minimum}, {maximum}]" if minimum is not None else f" <= {maximum}"
        if (
            not is_int(value)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            raise self.fail(f"an integer{bound}", value)
        return int(value)

    def number(self, value: Any, *, minimum: float | None = None, strict: bool = False) -> float:
        """A finite number, optionally ``>= minimum`` (``> minimum`` when ``strict``)."""
        bound = ""
        if minimum is not None:
            bound = f" {'>' if strict else '>='} {format_value(minimum)}"
        if not is_number(value):
            finite = "a finite number" if isinstance(value, float) else "a number"
            raise self.fail(f"{finite}{bound}", value)
        number = float(value)
        if minimum is not None and (number < minimum or (strict and number == minimum)):
            raise self.fail(f"a number{bound}", value)
        return number

    def boolean(self, value: Any) -> bool:
        """``true`` or ``false``."""
        if not isinstance(value, bool):
            raise self.fail("true or false", value)
        return value


def check_depth(data: Any, *, where: Where) -> None:
    """Refuse arrays or tables nested deeper than :data:`MAX_DEPTH` (walked without
    recursion, so a hostile file cannot exhaust the stack), naming the deepest key path.

    Examples:
        >>> check_depth({"space": {"lr": [1, 2]}}, where=Where("x.toml"))
        >>> check_depth({"a": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}, where=Where("x.toml"))
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: a[0]...[0] nests arrays or tables
        more than 16 levels deep
    """
    stack: list[tuple[Any, str, int]] = [(data, where.key, 0)]
    while stack:
        value, key, depth = stack.pop()
        if isinstance(value, Mapping):
            children = [(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()]
        elif isinstance(value, list):
            children = [(v, f"{key}[{i}]") for i, v in enumerate(value)]
        else:
            continue
        if depth >= MAX_DEPTH:
            raise Where(where.source, key).error(
                f"nests arrays or tables more than {MAX_DEPTH} levels deep"
            )
        stack.extend((v, k, depth + 1) for v, k in children)
