"""SIGTERM treated as Ctrl-C, delivered again when Python drops the interrupt."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType

from paretune.search.executors import redeliver_dropped_interrupts

__all__ = ["terminate_as_interrupt"]


@contextmanager
def terminate_as_interrupt() -> Iterator[Callable[[], bool]]:
    """Treat SIGTERM (what Kubernetes, Slurm and ``kill`` send) as Ctrl-C for the block.

    The handler raises ``KeyboardInterrupt`` in the main thread, so the running trial is
    recorded as interrupted and queued first for the next run, exactly as on Ctrl-C; worker
    processes the run started get SIGINT, as a terminal's Ctrl-C would give them. Yields a
    function telling whether SIGTERM came (``paretune run`` then exits 143, 128 + SIGTERM).
    Outside the main thread (where no handler can be set) nothing changes.

    A signal that arrives while the main thread runs a weakref callback or a ``__del__``
    (where Python drops the exception, through ``sys.unraisablehook``, which the block
    watches) is delivered again a moment later, so
    the interrupt is not lost; if the block ends first, it just ends (``terminated()`` still
    tells that SIGTERM came).

    Examples:
        >>> with terminate_as_interrupt() as terminated:
        ...     pass
        >>> terminated()
        False
    """
    received: list[int] = []
    raised: list[bool] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        if raised:  # a second SIGTERM while the first is handled: do not interrupt that
            return
        if not received:
            received.append(signum)
            for child in multiprocessing.active_children():
                if child.pid is not None:
                    with suppress(OSError):
                        os.kill(child.pid, signal.SIGINT)
        raised.append(True)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    before = signal.signal(signal.SIGTERM, on_term)
    try:
        # a dropped interrupt: SIGTERM again soon, raised again (the retry is not pending
        # after the block, so it never reaches the old handler)
        with redeliver_dropped_interrupts(signal.SIGTERM, on_drop=raised.clear):
            yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGTERM, before)
