"""Reading a pickle of arrays without running code: the CIFAR-10 python batches.

``pickle.load`` calls whatever function a file names, so a batch in a user's ``data_dir``
could run any code. :func:`load_arrays` builds only what the CIFAR-10 batches hold: dicts,
lists, tuples, strings, bytes, numbers and numpy arrays (numpy's own reconstruct functions,
``numpy.ndarray`` and ``numpy.dtype``); any other name in the file is refused before anything
is built.
"""

from __future__ import annotations

import codecs
import pickle
from collections.abc import Callable
from typing import IO, Any, cast

import numpy as np

__all__ = ["UnsafePickleError", "load_arrays"]


class UnsafePickleError(ValueError):
    """A pickle names a function or class that :func:`load_arrays` does not build."""


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 writes bytes in protocol 2, for Latin-1 only."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(f"encodes with {encoding!r}; only latin1 is read")
    return text.encode("latin1")


def _builders() -> dict[tuple[str, str], Callable[..., Any]]:
    """What a pickle of numpy arrays may name, under every module name numpy has used."""
    probe = np.zeros(1, dtype=np.uint8)
    reconstruct = cast("Callable[..., Any]", probe.__reduce__()[0])  # multiarray._reconstruct
    frombuffer = cast("Callable[..., Any]", probe.__reduce_ex__(5)[0])  # numeric._frombuffer
    allowed: dict[tuple[str, str], Callable[..., Any]] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _ArraysUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` knows only the builders of numpy arrays."""

    _allowed = _builders()

    def find_class(self, module: str, name: str) -> Any:
        builder = self._allowed.get((module, name))
        if builder is None:
            raise UnsafePickleError(f"names {module}.{name}")
        return builder

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"holds a persistent id {str(pid)[:40]!r}")


def load_arrays(stream: IO[bytes], *, source: str) -> Any:
    """The object pickled in ``stream``, built only from plain data and numpy arrays.

    Python 2 strings come back as ``bytes`` (as ``pickle.load(..., encoding="bytes")``).

    Args:
        stream: The open pickle file (binary).
        source: The file's path, for the messages.

    Raises:
        UnsafePickleError: The file names anything else (a function to call, a class):
            nothing of it was run.
        ValueError: The file is not a readable pickle.

    Examples:
        >>> import io, pickle
        >>> batch = {b"data": np.arange(4, dtype=np.uint8), b"labels": [0, 1]}
        >>> load_arrays(io.BytesIO(pickle.dumps(batch)), source="batch")[b"data"].tolist()
        [0, 1, 2, 3]
        >>> load_arrays(io.BytesIO(pickle.dumps(print)), source="evil")
        Traceback (most recent call last):
        ...
        paretune.trainers._safe_unpickle.UnsafePickleError: evil names builtins.print, which \
is not data: only dicts, lists, strings, numbers and numpy arrays are read from it (nothing \
in it was run).
    """
    try:
        return _ArraysUnpickler(stream, encoding="bytes").load()
    except UnsafePickleError as error:
        raise UnsafePickleError(
            f"{source} {error}, which is not data: only dicts, lists, strings, numbers and "
            "numpy arrays are read from it (nothing in it was run)."
        ) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        LookupError,
        TypeError,
        ValueError,
        AttributeError,
    ) as error:
        raise ValueError(f"{source} is not a readable pickle: {error}") from None
