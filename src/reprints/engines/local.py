"""The local engine: runs a stage's batches in this process or in a pool of worker processes.

Results always come back in submission order, so the output never depends on the number of workers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Generic, TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    return trim if callable(trim) else None


def release_free_memory() -> None:
    """Hand memory freed by the last batch back to the OS (glibc keeps it otherwise; elsewhere a no-op).

    A batch allocates large temporary arrays; glibc's allocator raises its mmap threshold after the first
    ones are freed and then serves the next from a heap it never shrinks, so without this the resident
    size of a long run grows to several times its live data.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class _Trimming(Generic[Task, Result]):
    """A picklable wrapper that releases free memory after each call."""

    def __init__(self, function: Callable[[Task], Result]) -> None:
        self.function = function

    def __call__(self, task: Task) -> Result:
        try:
            return self.function(task)
        finally:
            release_free_memory()


class LocalEngine:
    """Maps stage functions over batches with `workers` processes (1: in this process)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalEngine:
        if self.workers > 1:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def map(self, function: Callable[[Task], Result], tasks: Iterable[Task]) -> Iterator[Result]:
        """`function(task)` for each task, in order; at most two tasks per worker are in flight."""
        trimming = _Trimming(function)
        if self._pool is None:
            yield from map(trimming, tasks)
            return
        pending: deque[Future[Result]] = deque()
        for task in tasks:
            pending.append(self._pool.submit(trimming, task))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
