"""Study files shipped with paretune, and turning a study reference into a file."""

from __future__ import annotations

from pathlib import Path

from paretune.studies._errors import StudyFileError

__all__ = ["builtin_studies", "resolve_study"]

_HERE = Path(__file__).resolve().parent


def builtin_studies() -> dict[str, Path]:
    """The study files shipped with paretune, by built-in name.

    A file ``studies/digits_quick.toml`` is named ``digits-quick``.

    Returns:
        Built-in name -> path of the shipped file, sorted by name.

    Examples:
        >>> "digits-quick" in builtin_studies()
        True
        >>> builtin_studies()["digits-quick"].name
        'digits_quick.toml'
    """
    found = {p.stem.replace("_", "-"): p for p in _HERE.glob("*.toml")}
    return dict(sorted(found.items()))


def resolve_study(ref: str) -> tuple[Path, str]:
    """Find the file a study reference names.

    Args:
        ref: A path to a ``.toml`` file, or a built-in name (``"digits-quick"``).

    Returns:
        The file and the label to use for it in messages (the path as given, or
        ``studies/<file>`` for a built-in study).

    Raises:
        StudyFileError: When ``ref`` is neither an existing file nor a built-in name.

    Examples:
        >>> path, label = resolve_study("digits-quick")
        >>> label
        'studies/digits_quick.toml'
        >>> resolve_study("digits-quik")
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: digits-quik: is neither a study file nor a
        built-in study (did you mean 'digits-quick'?). Built-in: ...
    """
    path = Path(ref).expanduser()
    if path.is_file():
        return path, ref
    builtins = builtin_studies()
    if ref in builtins:
        return builtins[ref], f"studies/{builtins[ref].name}"
    if path.exists():
        raise StudyFileError(ref, "", "is not a file")
    import difflib

    close = difflib.get_close_matches(ref, list(builtins), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    what = "no such file" if ref.endswith(".toml") or "/" in ref else ""
    if what:
        raise StudyFileError(ref, "", f"no such file. Built-in studies: {', '.join(builtins)}")
    raise StudyFileError(
        ref,
        "",
        f"is neither a study file nor a built-in study{hint}. Built-in: {', '.join(builtins)}",
    )
