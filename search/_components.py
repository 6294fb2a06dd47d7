"""Search components by name: the registry shape samplers and pruners share.

A sampler and a pruner are each registered as a frozen record (name, factory, whether it
works on several objectives, one line of description) in a
:class:`paretune.spaces.Registry` that lists names sorted and names the registered ones when
a name is taken twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from paretune.spaces import Registry

__all__ = ["ComponentInfo", "Components"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, kw_only=True)
class ComponentInfo(Generic[F]):
    """A registered search component (a sampler or a pruner).

    Attributes:
        name: Registry name.
        factory: Builds the component from its keyword options.
        multi_objective: Whether it works on studies with more than one objective.
        description: One line for ``paretune spaces``.
    """

    name: str
    factory: F
    multi_objective: bool
    description: str


InfoT = TypeVar("InfoT", bound=ComponentInfo[Any])


class Components(Generic[InfoT]):
    """The components of one family, by name.

    Args:
        kind: The family, for messages (``"pruner"``).
        info: The record type built for each registered component.

    Examples:
        >>> colours = Components(kind="colour", info=ComponentInfo)
        >>> colours.register("red", str, multi_objective=False, description="Red.")
        >>> colours.register("blue", str, multi_objective=True, description="Blue.")
        >>> colours.names(), colours.multi_objective_names(), colours.info("red").description
        (['blue', 'red'], ['blue'], 'Red.')
        >>> colours.register("red", str, multi_objective=False, description="")
        Traceback (most recent call last):
        ...
        ValueError: A colour named 'red' is already registered. Registered: blue, red.
    """

    def __init__(self, *, kind: str, info: type[InfoT]) -> None:
        self._info = info
        self._registry: Registry[InfoT] = Registry(kind=kind, sort=True, list_on_duplicate=True)

    def register(
        self, name: str, factory: Callable[..., Any], *, multi_objective: bool, description: str
    ) -> None:
        """Add a component; a name already taken raises ``ValueError`` listing the registered."""
        self._registry.register(
            name,
            self._info(
                name=name,
                factory=factory,
                multi_objective=multi_objective,
                description=description,
            ),
        )

    def info(self, name: str) -> InfoT:
        """The record of ``name``; an unknown name raises ``ValueError`` listing the known."""
        return self._registry.get(name)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return self._registry.names()

    def multi_objective_names(self) -> list[str]:
        """Registered names of the components that work on several objectives, sorted."""
        return [name for name in self.names() if self._registry.get(name).multi_objective]
