"""Stopping a run on a signal without cutting a critical step in half.

`install()` (the CLI calls it) turns SIGTERM and SIGHUP into a `Terminated` exception and SIGINT into
KeyboardInterrupt, raised in the main thread as usual, except inside `critical()`: starting a worker process or
handing it a task. A signal arriving there is held and raised when the step is done, because a worker left
waiting for the rest of its start-up data never exits, and the pool would wait for it forever. The signal mask
itself is never changed, so worker processes start with every signal deliverable.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) reached the run: unwind as for Ctrl-C, so workers stop and locks are released."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


_depth = 0
_pending: int | None = None


def _raise(number: int) -> None:
    if number == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(number)


def _handler(number: int, frame: FrameType | None) -> None:
    global _pending
    if _depth > 0:
        _pending = number
        return
    _raise(number)


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP as described above (main thread only)."""
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _handler)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Hold stop signals until the block ends (a no-op outside the main thread)."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            number, _pending = _pending, None
            _raise(number)
