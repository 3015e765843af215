"""The C library's allocator, for reprints' own processes: keeping freed memory for reuse (`hold_freed_memory`) and
(`reprints.io.arrays.release_free_memory`) handing it back. Imports nothing but ctypes, so that the command line
sets it before anything large is allocated."""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def libc_function(name: str) -> Callable[..., int] | None:
    """A function of the C library this process runs with, by name (None where it has none of that name: glibc's
    `malloc_trim` and `mallopt` exist only with glibc). Looked up among the symbols the process has loaded, not by
    `ctypes.util.find_library`, which runs `ldconfig` in a subprocess."""
    try:
        process = ctypes.CDLL(None)
    except (OSError, TypeError):  # (Windows has no such handle)
        return None
    function = getattr(process, name, None)
    return function if callable(function) else None


# glibc's `mallopt` parameters, and the values `hold_freed_memory` sets: arrays up to MMAP_THRESHOLD_MAX bytes (the
# most glibc's own threshold ever reaches, and the most older versions' mallopt accept) are served from the heap, and
# up to HELD_FREE_BYTES freed at its top are kept for the next.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MAX = 32 << 20
HELD_FREE_BYTES = 32 << 20


@functools.lru_cache(maxsize=1)
def hold_freed_memory() -> bool:
    """Have glibc's allocator keep freed memory for reuse in this process (elsewhere a no-op; returns whether it
    took the settings).

    A batch's large temporary arrays (tokens, shingles, match points, output rows) are a few MB to a few tens of MB.
    By default glibc serves any above its mmap threshold (at most 32 MB, raised as such arrays are freed) with a
    mapping of their own, and hands it back when it is freed, and it gives back the heap's top once more than twice
    that is free: so the next batch's arrays were new pages, which the kernel faults in and zeroes. On the bulk
    corpus (41,328 documents, 2 workers) that was 560,000 page faults, a quarter of the run's CPU in the kernel;
    with these settings 100,000, and the run 7% shorter. What a process keeps is bounded by its own peak, and by
    HELD_FREE_BYTES at the heap's top: keeping 64 MB there saved 7,000 more page faults (no measurable time) but
    held the workers at 136 MB each through a run of 640,000 documents, where 32 MB holds them at 97 MB (the process
    tree's peak 1,101 -> 1,015 MB). `release_free_memory` still hands memory back when the resident set has grown
    by KEEP_FREE_BYTES.

    Set for reprints' own processes only (its command line, the local engine's workers, the Python workers of
    Spark's executors that run its tasks), never for a program that imports reprints as a library."""
    mallopt = libc_function("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, HELD_FREE_BYTES))
