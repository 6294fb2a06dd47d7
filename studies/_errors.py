"""The one error a study file (or a command-line flag) raises when its content is wrong."""

from __future__ import annotations

import datetime
import difflib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MAX_SHOWN",
    "StudyFileError",
    "cut",
    "cut_quoted",
    "format_value",
    "unknown_key_message",
]

#: The most characters of one value an error message shows; a longer one is cut, and the
#: message says how long it was (a 10 MB value must not become a 10 MB error line).
MAX_SHOWN = 80

#: The most characters of the file an error names: a path is shown whole up to Linux's
#: PATH_MAX (a study file in a deep folder must still be named so it can be found).
MAX_SOURCE_SHOWN = 4096

#: A run of characters without a space that is too long to read (a value another error's
#: text quotes whole).
_LONG_WORD = re.compile(r"\S{" + str(2 * MAX_SHOWN + 1) + ",}")


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
        >>> deep = "/".join(["folder"] * 20) + "/x.toml"  # a file is named whole
        >>> str(StudyFileError(deep, "n_trials", "must be >= 1 (got 0)")) == (
        ...     deep + ": n_trials must be >= 1 (got 0)")
        True
    """

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.detail = message
        source_shown = cut(source, limit=MAX_SOURCE_SHOWN)
        where = f"{source_shown}: {cut(key)} " if key else f"{source_shown}: "
        super().__init__(where + cut_quoted(message))


def cut(text: str, *, limit: int = MAX_SHOWN) -> str:
    """``text`` itself, or its first ``limit`` characters and how long it was.

    Examples:
        >>> cut("adamx")
        'adamx'
        >>> cut("x" * 10_000_000, limit=8)
        'xxxxxxxx… (10000000 chars)'
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} chars)"


def cut_quoted(message: str) -> str:
    """``message`` with every word (a run without spaces) longer than twice
    :data:`MAX_SHOWN` cut, such as a value another error quotes whole (``Got 'xxx…'
    instead``), and every line cut to a readable length.

    Examples:
        >>> cut_quoted("Got '" + "a" * 500 + "' instead.")[-30:]
        'aaaaaaaa… (502 chars) instead.'
        >>> cut_quoted("short 'ok'")
        "short 'ok'"
    """
    if len(message) <= MAX_SHOWN:
        return message
    shortened = _LONG_WORD.sub(lambda m: cut(m[0]), message)
    return "\n".join(cut(line, limit=20 * MAX_SHOWN) for line in shortened.split("\n"))


def format_value(value: Any) -> str:
    """Write a value the way it would appear in a TOML file (for error messages).

    A long value is cut to :data:`MAX_SHOWN` characters, saying how long it was.

    Examples:
        >>> format_value("adamx")
        '"adamx"'
        >>> format_value("x" * 200)[-20:]
        'xxxxxxx… (202 chars)'
        >>> format_value(10**5000)
        '(an integer of 5001 digits)'
        >>> format_value(True)
        'true'
        >>> format_value([1, "a"])
        '[1, "a"]'
        >>> format_value({"low": 0, "log": True})
        '{ low = 0, log = true }'
        >>> format_value(float("inf"))
        'inf'
        >>> format_value(None)
        '(not set)'
        >>> from pathlib import PurePosixPath
        >>> format_value(PurePosixPath("runs/x.db"))
        "PurePosixPath('runs/x.db')"
    """
    return cut(_toml_text(value))


def _toml_text(value: Any) -> str:
    if value is None:  # TOML has no null: the key was not given
        return "(not set)"
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
    if isinstance(value, int) and value.bit_length() > 4000:  # str() refuses 4300+ digits
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"(an integer of {digits} digits)"
    if isinstance(value, int | datetime.date | datetime.time):  # TOML's own values
        return str(value)
    return repr(value)  # a Python object (a Path, a set): its type shows


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
