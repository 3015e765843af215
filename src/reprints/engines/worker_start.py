"""Loaded once into the fork server that starts worker processes (so every worker starts with it imported).

A worker whose parent dies while handing it its start-up data (the run was killed with SIGKILL) finds its
input cut short; that is no error of the worker's, and its traceback would land on the user's terminal after
the run is gone. The fork server's exception hook, which reports such failures, stays silent for it.
"""

from __future__ import annotations

import sys
from types import TracebackType

import numpy  # noqa: F401  (workers start with it imported)

_default_hook = sys.excepthook


def _quiet_when_parent_gone(kind: type[BaseException], value: BaseException, trace: TracebackType | None) -> None:
    if issubclass(kind, EOFError | ConnectionError):
        return
    _default_hook(kind, value, trace)


sys.excepthook = _quiet_when_parent_gone
