"""Ctrl-C held back while a process is started and recorded.

A process that was started but not yet recorded cannot be stopped by what reads the records
(``stop()``, a rollback, ``uclab down``); an interrupt between the two would leave it running.
Inside :func:`deferred`, SIGINT is noted instead of raised, and raised as
:class:`KeyboardInterrupt` once the block is done. Outside the main thread (where Python runs
signal handlers) it changes nothing. Child processes are not affected: the handler is
Python's, not a blocked signal mask they would inherit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and previous is signal.default_int_handler:
        raise KeyboardInterrupt
