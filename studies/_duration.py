"""Durations written for humans: ``"90s"``, ``"10m"``, ``"1h30m"`` or a number of seconds."""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhd])+")


def parse_duration(value: object) -> float:
    """Turn a duration into seconds.

    Args:
        value: A positive number of seconds (int or float), or a string of one or more
            ``<number><unit>`` parts with units ``s``, ``m``, ``h``, ``d`` (``"1h30m"``), or a
            plain number in a string (``"90"``).

    Returns:
        The duration in seconds, > 0.

    Raises:
        ValueError: When the value is not a positive duration; the message says what is
            allowed.

    Examples:
        >>> parse_duration("10m")
        600.0
        >>> parse_duration("1h30m")
        5400.0
        >>> parse_duration(90)
        90.0
        >>> parse_duration("2.5s")
        2.5
        >>> parse_duration("soon")
        Traceback (most recent call last):
        ...
        ValueError: must be a duration > 0 such as "90s", "10m", "1h" or a number of seconds
    """
    allowed = 'must be a duration > 0 such as "90s", "10m", "1h" or a number of seconds'
    seconds: float
    if isinstance(value, bool):
        raise ValueError(allowed)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            if not _WHOLE.fullmatch(text):
                raise ValueError(allowed) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    else:
        raise ValueError(allowed)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(allowed)
    return seconds
