"""Python's garbage collector, set for a run.

A run makes millions of short-lived objects (parsed records, rows, links) and almost no reference cycles, while
its processes hold hundreds of thousands of long-lived ones from their imports (NumPy, numba, PyArrow). With
Python's default thresholds the collector ran ~600 times in each worker of a run of the bulk corpus (2 workers),
and each full collection walked every one of those long-lived objects again: ~0.6 s of the run's ~10.5 s of CPU,
for a few dozen cycles freed (exceptions caught while reading).

So a run freezes the objects its processes hold once they have imported their modules (`gc.freeze`: never walked
again; they live as long as the process anyway) and lets `YOUNG` allocations pass between young collections
instead of 700. Cycles are still collected. Measured on the bulk corpus, 2 workers, 7 alternating runs: 6.28 ->
6.04 s wall (median), 10.5 -> 10.1 s CPU, peak memory unchanged (608 -> 607 MB).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# Allocations (less deallocations) between two collections of the youngest generation (Python's default: 700).
YOUNG = 50_000


def settle() -> None:
    """In a process of reprints' own (a worker): freeze what it holds now and collect young objects less often,
    for the rest of its life."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)


@contextlib.contextmanager
def settled() -> Iterator[None]:
    """`settle` for a run in the caller's process, undone when the run ends: the thresholds restored and the
    objects frozen unfrozen. A process that froze objects of its own (`gc.get_freeze_count()`) or turned the
    collector off is left as it is."""
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    threshold = gc.get_threshold()
    settle()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
