"""Check a registry entry's keyword options against the signature of its factory."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any

__all__ = ["check_options"]


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
