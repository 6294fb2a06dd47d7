"""Freed CPU memory kept for reuse (glibc's malloc), so each step's buffers fault in no pages.

PyTorch allocates every CPU tensor with ``malloc`` and frees it when the last reference goes.
glibc's defaults return a freed block of a few MiB to the operating system (``munmap``, or
trimming the top of the heap once 2x the largest freed block is free there), and the next
step's tensor of the same size is faulted in again page by page: on a fused digits-cnn step
(16 members) about 3,200 page faults, a sixth of the step. Keeping freed blocks of up to
32 MiB in the heap and trimming it only past 128 MiB free leaves about 70. Allocators made for
this (jemalloc, tcmalloc, preloaded) make the same trade; this needs nothing installed.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys

__all__ = ["keep_freed_memory"]

#: glibc's ``mallopt`` parameters (malloc.h) and the values set.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's own ceiling for its adaptive threshold
TRIM_THRESHOLD = 128 * 2**20

#: Environment variables by which a user sets glibc's malloc: then it is left as set.
_USER_SETTINGS = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
)


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed blocks of up to 32 MiB for reuse; True when it does.

    Called once per process by :func:`train` and :func:`train_fused` before CPU training. It
    does nothing (False) off Linux, with another C library, or where the user has set glibc's
    malloc already (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TOP_PAD_``,
    ``MALLOC_MMAP_MAX_`` or a ``glibc.malloc`` entry of ``GLIBC_TUNABLES``); setting one of
    them, say ``GLIBC_TUNABLES=glibc.malloc.check=0``, is how to opt out. The cost is that a
    process keeps up to 128 MiB of freed heap it would otherwise give back.

    Examples:
        >>> keep_freed_memory() in (True, False)
        True
    """
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
