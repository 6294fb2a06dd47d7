"""The one error a study file (or a command-line flag) raises when its content is wrong."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["StudyFileError", "format_value", "unknown_key_message"]


class StudyFileError(ValueError):
    """A study file, or an override of one of its keys, holds a value that is not allowed.

    The message names the file, the key path, what is allowed and the value that came, so a
    user can fix the file from the message alone.

    Args:
        source: The study file as the user named it (or ``"--flag"`` for a command-line flag).
        key: The dotted key path inside the file (``"space.lr.low"``); empty for the file
            itself.
        message: What is wrong, continuing the key path (``"must be > 0 (got 0)"``).

    Examples:
        >>> error = StudyFileError("studies/x.toml", "space.lr.low",
        ...                        "must be > 0 when log = true (got 0)")
        >>> str(error)
        'studies/x.toml: space.lr.low must be > 0 when log = true (got 0)'
        >>> isinstance(error, ValueError)
        True
        >>> str(StudyFileError("x.toml", "", "is not valid TOML"))
        'x.toml: is not valid TOML'
    """

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.detail = message
        where = f"{source}: {key} " if key else f"{source}: "
        super().__init__(where + message)


def format_value(value: Any) -> str:
    """Write a value the way it would appear in a TOML file (for error messages).

    Examples:
        >>> format_value("adamx")
        '"adamx"'
        >>> format_value(True)
        'true'
        >>> format_value([1, "a"])
        '[1, "a"]'
        >>> format_value({"low": 0, "log": True})
        '{ low = 0, log = true }'
        >>> format_value(float("inf"))
        'inf'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k} = {format_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def unknown_key_message(key: str, known: Iterable[str]) -> str:
    """The message for a key that is not part of the vocabulary, listing the known keys.

    Examples:
        >>> unknown_key_message("smapler", ["sampler", "seed", "name"])
        "is not a known key (did you mean 'sampler'?). Known: name, sampler, seed"
        >>> unknown_key_message("zzz", ["low", "high"])
        'is not a known key. Known: high, low'
    """
    known_sorted = sorted(known)
    close = difflib.get_close_matches(key, known_sorted, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"is not a known key{hint}. Known: {', '.join(known_sorted)}"
