"""The one registry helper: name -> record, refusing duplicates; options checked by signature."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "check_options"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Records of one family (optimizers, schedules, tasks) looked up by name.

    Args:
        kind: What the records are, used in error messages ("optimizer").
        sort: List names sorted (:meth:`names` and the error messages) instead of in
            registration order.
        list_on_duplicate: Whether a duplicate name's error also lists the registered names.

    Examples:
        >>> registry: Registry[int] = Registry(kind="colour")
        >>> registry.register("red", 1)
        >>> registry.get("red")
        1
        >>> registry.get("blue")
        Traceback (most recent call last):
        ...
        ValueError: Unknown colour 'blue'. Known: red.
        >>> sorted_registry: Registry[int] = Registry(kind="colour", sort=True,
        ...                                           list_on_duplicate=True)
        >>> sorted_registry.register("red", 1)
        >>> sorted_registry.register("blue", 2)
        >>> sorted_registry.names()
        ['blue', 'red']
        >>> sorted_registry.register("red", 3)
        Traceback (most recent call last):
        ...
        ValueError: A colour named 'red' is already registered. Registered: blue, red.
    """

    def __init__(self, *, kind: str, sort: bool = False, list_on_duplicate: bool = False) -> None:
        self._kind = kind
        self._sort = sort
        self._list_on_duplicate = list_on_duplicate
        self._records: dict[str, T] = {}

    def register(self, name: str, record: T) -> None:
        """Add ``record`` under ``name``; a name already taken raises ``ValueError``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {self._kind} name must be a non-empty string. Got {name!r}.")
        if name in self._records:
            listing = f" Registered: {', '.join(self.names())}." if self._list_on_duplicate else ""
            raise ValueError(f"A {self._kind} named {name!r} is already registered.{listing}")
        self._records[name] = record

    def get(self, name: str) -> T:
        """The record registered as ``name``; an unknown name raises listing the known ones."""
        try:
            return self._records[name]
        except (KeyError, TypeError):
            raise ValueError(
                f"Unknown {self._kind} {name!r}. Known: {', '.join(self.names())}."
            ) from None

    def names(self) -> list[str]:
        """Registered names, in registration order (sorted if the registry sorts)."""
        return sorted(self._records) if self._sort else list(self._records)

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def __iter__(self) -> Iterator[T]:
        return iter(self._records.values())


def check_options(
    kind: str,
    name: str,
    factory: Callable[..., Any],
    options: Mapping[str, Any],
    *,
    reserved: Collection[str] = (),
) -> None:
    """Raise ``ValueError`` for an option the factory does not take (listing those it does).

    ``reserved`` options are set by paretune itself (``seed``) and may not be passed.

    Examples:
        >>> def make(*, population_size=50, seed=None): ...
        >>> check_options("sampler", "nsga2", make, {"population_size": 20}, reserved=("seed",))
        >>> check_options("sampler", "nsga2", make, {"pop": 20}, reserved=("seed",))
        Traceback (most recent call last):
        ...
        ValueError: Unknown option 'pop' for sampler 'nsga2'. Known: population_size.
        >>> def cut(percentile, *, n_startup_trials=5): ...
        >>> check_options("pruner", "percentile", cut, {})
        Traceback (most recent call last):
        ...
        ValueError: The pruner 'percentile' needs the option 'percentile' (its options: \
n_startup_trials, percentile).
    """
    parameters = inspect.signature(factory).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    known = sorted(
        n
        for n, p in parameters.items()
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and n not in reserved
    )
    for option in options:
        if option in reserved:
            raise ValueError(
                f"The option {option!r} of {kind} {name!r} is set by paretune; remove it "
                f"(the study's {option} is used)."
            )
        if option not in known and not accepts_any:
            raise ValueError(
                f"Unknown option {option!r} for {kind} {name!r}. "
                f"Known: {', '.join(known) if known else '(none)'}."
            )
    required = [
        n for n in known if parameters[n].default is inspect.Parameter.empty and n not in options
    ]
    if required:
        raise ValueError(
            f"The {kind} {name!r} needs the option{'s' if len(required) > 1 else ''} "
            f"{', '.join(repr(n) for n in required)} (its options: {', '.join(known)})."
        )
