"""Ctrl-C that Python dropped, delivered again.

Python raises ``KeyboardInterrupt`` wherever the main thread is when a signal's handler runs,
also inside a weakref callback or a ``__del__`` that the garbage collector happens to run;
there the exception is printed ("Exception ignored in ...") and dropped, and the program
goes on as if no signal had come. A run then trains its trial to the end instead of
recording it interrupted. :func:`redeliver_dropped_interrupts` watches ``sys.unraisablehook``
for a dropped ``KeyboardInterrupt`` and sends the signal again a moment later.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["RETRY_S", "redeliver_dropped_interrupts"]

#: Seconds before a dropped interrupt's signal is sent again.
RETRY_S = 0.05


@contextmanager
def redeliver_dropped_interrupts(
    signum: int = signal.SIGINT, *, on_drop: Callable[[], None] | None = None
) -> Iterator[None]:
    """For the block: a ``KeyboardInterrupt`` Python dropped sends ``signum`` to this
    process again after :data:`RETRY_S` (``on_drop`` is called first). A signal still pending
    when the block ends is not sent.

    Examples:
        >>> with redeliver_dropped_interrupts():
        ...     pass
    """
    hook = sys.unraisablehook
    retries: list[threading.Timer] = []

    def on_unraisable(unraisable: Any) -> None:
        if unraisable.exc_type is not KeyboardInterrupt:
            hook(unraisable)
            return
        if on_drop is not None:
            on_drop()
        retry = threading.Timer(RETRY_S, os.kill, (os.getpid(), signum))
        retry.daemon = True
        retries.append(retry)
        retry.start()

    sys.unraisablehook = on_unraisable
    try:
        yield
    finally:
        for retry in retries:
            retry.cancel()
        sys.unraisablehook = hook
