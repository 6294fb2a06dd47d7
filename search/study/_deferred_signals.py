"""Ctrl-C and SIGTERM held back while a storage write holds a lock no crash releases.

Optuna's journal file is guarded by a lock file (a symlink) that only its holder removes. A
``KeyboardInterrupt`` raised at the wrong moment of an append, just after the link is made,
leaves it behind, and every other writer (the other ``--jobs`` workers, the parent recording
their trials, the next run) then waits out Optuna's 30-second grace period before taking it;
raised while waiting for the lock, Optuna's own clean-up removes the lock another process
holds. :func:`deferred_interrupts` makes the write whole: a SIGINT or SIGTERM that comes during
the block is sent again, to the handler in place before, as soon as the block ends.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["deferred_interrupts"]


@contextmanager
def deferred_interrupts(
    signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
) -> Iterator[None]:
    """For the block, ``signums`` wait: one that comes is sent to this process again when
    the block ends. Signals that are ignored, or handled outside Python, are left alone, and
    outside the main thread (where no handler can be set) nothing changes.

    Examples:
        >>> import os, signal
        >>> before = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's Ctrl-C
        >>> try:
        ...     with deferred_interrupts():
        ...         os.kill(os.getpid(), signal.SIGINT)
        ...         print("the block ends")
        ... except KeyboardInterrupt:
        ...     print("then Ctrl-C")
        the block ends
        then Ctrl-C
        >>> _ = signal.signal(signal.SIGINT, before)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        if signum not in came:
            came.append(signum)

    before = {}
    for signum in signums:
        handler = signal.getsignal(signum)
        if callable(handler):  # a Python handler (not SIG_IGN, SIG_DFL or one set in C)
            before[signum] = signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        for signum in came:
            os.kill(os.getpid(), signum)
