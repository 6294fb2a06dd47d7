"""terminate_as_interrupt: SIGTERM becomes KeyboardInterrupt, also when it lands where Python
would swallow an exception (a weakref callback run by the garbage collector)."""

from __future__ import annotations

import os
import signal
import time
import weakref

import pytest
from paretune.studies import terminate_as_interrupt


class _Thing:
    pass


def _busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_sigterm_in_the_block_raises_keyboard_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt() as terminated:
        os.kill(os.getpid(), signal.SIGTERM)
        _busy(5.0)
    assert terminated()


def test_sigterm_during_a_weakref_callback_is_delivered_after_it() -> None:
    def callback(_: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        _busy(0.2)  # the handler runs here, inside the callback, where a raise is dropped

    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt() as terminated:
        thing = _Thing()
        ref = weakref.ref(thing, callback)
        del thing  # runs the callback
        _busy(5.0)  # the interrupt comes here, a moment later
    assert ref() is None and terminated()


def test_a_block_that_ends_first_just_ends() -> None:
    with terminate_as_interrupt() as terminated:
        pass
    assert not terminated()
    assert signal.getsignal(signal.SIGTERM) is not None


def test_a_ctrl_c_dropped_in_a_weakref_callback_is_delivered_again() -> None:
    from paretune.search.executors import redeliver_dropped_interrupts

    def callback(_: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Python's own handler: KeyboardInterrupt here
        _busy(0.2)

    # Python's own Ctrl-C handler (an earlier test or library may have replaced it)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), redeliver_dropped_interrupts():
            thing = _Thing()
            ref = weakref.ref(thing, callback)
            del thing
            _busy(5.0)
    finally:
        signal.signal(signal.SIGINT, before)
    assert ref() is None
