"""Reading a study file's TOML, whatever the file holds: each way it can be unreadable is one
:class:`~paretune.studies.StudyFileError` naming the file and the reason."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from paretune.studies._checks import MAX_DEPTH, Where, check_depth
from paretune.studies._errors import StudyFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["MAX_FILE_BYTES", "read_toml"]

#: The largest study file read (the largest built-in one is about 3 KB): parsing megabytes
#: of TOML takes long, so a larger file is refused at once.
MAX_FILE_BYTES = 1 << 20


def read_toml(path: Path, *, source: str) -> dict[str, Any]:
    """The tables of the TOML file ``path`` (named ``source`` in messages).

    Raises:
        StudyFileError: The file is too large, cannot be read, is not UTF-8 or not TOML, or
            nests arrays or tables deeper than :data:`~paretune.studies._checks.MAX_DEPTH`.

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x.toml"
        >>> _ = path.write_text("lr = " + "[" * 5000 + "]" * 5000)
        >>> read_toml(path, source="x.toml")
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: nests arrays or tables too deeply
        to be read (at most 16 levels)
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise StudyFileError(
                source, "", f"is {size} bytes; a study file holds at most {MAX_FILE_BYTES} bytes"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StudyFileError(source, "", f"cannot be read: {error}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise StudyFileError(source, "", f"is not valid TOML: {error}") from None
    except RecursionError:  # the parser recurses once per level
        raise StudyFileError(
            source, "", f"nests arrays or tables too deeply to be read (at most {MAX_DEPTH} levels)"
        ) from None
    check_depth(raw, where=Where(source))
    return raw
