"""A tiny name -> record registry that refuses duplicates and lists known names in errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Records of one family (optimizers, schedules, tasks) looked up by name.

    Args:
        kind: What the records are, used in error messages ("optimizer").

    Examples:
        >>> registry: Registry[int] = Registry(kind="colour")
        >>> registry.register("red", 1)
        >>> registry.get("red")
        1
        >>> registry.get("blue")
        Traceback (most recent call last):
        ...
        ValueError: Unknown colour 'blue'. Known: red.
    """

    def __init__(self, *, kind: str) -> None:
        self._kind = kind
        self._records: dict[str, T] = {}

    def register(self, name: str, record: T) -> None:
        """Add ``record`` under ``name``; a name already taken raises ``ValueError``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {self._kind} name must be a non-empty string. Got {name!r}.")
        if name in self._records:
            raise ValueError(f"A {self._kind} named {name!r} is already registered.")
        self._records[name] = record

    def get(self, name: str) -> T:
        """The record registered as ``name``; an unknown name raises listing the known ones."""
        try:
            return self._records[name]
        except (KeyError, TypeError):
            raise ValueError(
                f"Unknown {self._kind} {name!r}. Known: {', '.join(self._records)}."
            ) from None

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._records)

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def __iter__(self) -> Iterator[T]:
        return iter(self._records.values())
