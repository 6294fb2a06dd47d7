"""The one parameter check every package uses: ints and numbers, booleans refused.

Python's ``bool`` is an ``int``; a check written by hand forgets that about half the time. These
helpers refuse booleans, NaN and infinities, and word the error the scikit-learn way.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["bad_parameter", "check_int", "check_number", "is_int", "is_number"]


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer and not a bool.

    Examples:
        >>> is_int(3), is_int(True), is_int(3.0)
        (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real, finite number and not a bool.

    Examples:
        >>> is_number(0.5), is_number(False), is_number(float("nan")), is_number("1")
        (True, False, False, False)
    """
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def bad_parameter(name: str, owner: str, what: str, value: Any) -> ValueError:
    """The error for a parameter that is not ``what``, in scikit-learn's wording.

    Examples:
        >>> bad_parameter("lr", "Strategy", "a float > 0", -0.1)
        ValueError("The 'lr' parameter of Strategy must be a float > 0. Got -0.1 instead.")
    """
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ValueError(f"The {name!r} parameter of {owner} must be {what}. Got {shown} instead.")


def _bound(minimum: float | None, strict: bool) -> str:
    if minimum is None:
        return ""
    return f" {'>' if strict else '>='} {minimum:g}"


def check_int(
    value: Any,
    *,
    name: str,
    owner: str,
    minimum: int | None = None,
    what: str | None = None,
) -> int:
    """Return ``value`` as an int, or raise naming ``owner``'s parameter ``name``.

    Args:
        value: What came.
        name: The parameter's name.
        owner: The function or class it belongs to.
        minimum: The smallest allowed value, if any.
        what: Words for the allowed values; by default ``"an int >= minimum"``.

    Examples:
        >>> check_int(4, name="jobs", owner="run_local", minimum=1)
        4
        >>> check_int(True, name="jobs", owner="run_local", minimum=1)
        Traceback (most recent call last):
        ...
        ValueError: The 'jobs' parameter of run_local must be an int >= 1. Got True instead.
    """
    if not is_int(value) or (minimum is not None and value < minimum):
        raise bad_parameter(name, owner, what or f"an int{_bound(minimum, False)}", value)
    return int(value)


def check_number(
    value: Any,
    *,
    name: str,
    owner: str,
    minimum: float | None = None,
    strict: bool = False,
    what: str | None = None,
) -> float:
    """Return ``value`` as a finite float, or raise naming ``owner``'s parameter ``name``.

    Args:
        value: What came.
        name: The parameter's name.
        owner: The function or class it belongs to.
        minimum: The smallest allowed value, if any.
        strict: Whether ``minimum`` itself is refused (``> minimum``).
        what: Words for the allowed values; by default ``"a number >= minimum"``.

    Examples:
        >>> check_number(2, name="timeout", owner="run_local", minimum=0, strict=True)
        2.0
        >>> check_number(0, name="timeout", owner="run_local", minimum=0, strict=True)
        Traceback (most recent call last):
        ...
        ValueError: The 'timeout' parameter of run_local must be a number > 0. Got 0 instead.
    """
    if not is_number(value) or (
        minimum is not None and (value < minimum or (strict and value == minimum))
    ):
        raise bad_parameter(name, owner, what or f"a number{_bound(minimum, strict)}", value)
    return float(value)
