"""Compiled kernels for alignment's hot loops (numba), each with a NumPy twin giving identical results.

The kernels compile on first use and are cached on disk (numba's cache, beside this module or in the user's
cache folder), so only the first run after installing pays for compiling them. Small inputs (`compare` of two
texts) take the NumPy path and never import numba.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from reprints.fingerprint.hashing import U64
from reprints.normalize.tokens import I64

COMPILED_FROM = 200_000  # lookups in one call from which the compiled kernel is worth loading


@functools.lru_cache(maxsize=1)
def _compiled_lookup() -> Callable[..., Any]:
    import numba

    @numba.njit(cache=True, nogil=True)
    def lookup(keys: Any, wanted: Any, lo: Any, hi: Any, first: Any, found: Any) -> None:
        # The rows of one pair come in increasing key order (a document's rows are sorted), so each search
        # gallops forward from where the last one ended: a sequential walk through the target's rows, not a
        # fresh binary search over them for every shingle.
        cursor = 0
        last_lo = -1
        last_key = wanted[0] if len(wanted) else 0
        for row in range(len(wanted)):
            key = wanted[row]
            start, end = lo[row], hi[row]
            if start != last_lo or key < last_key or cursor < start:
                cursor = start
            last_lo, last_key = start, key
            low = cursor
            high = end
            if low < end and keys[low] < key:
                step = 1
                while low + step < end and keys[low + step] < key:
                    low += step
                    step *= 2
                high = min(low + step, end)
                low += 1
                while low < high:
                    middle = (low + high) >> 1
                    if keys[middle] < key:
                        low = middle + 1
                    else:
                        high = middle
            first[row] = low
            stop = low
            while stop < end and keys[stop] == key:
                stop += 1
            found[row] = stop - low
            cursor = low

    return lookup


def lookup_in_ranges(keys: U64, wanted: U64, lo: I64, hi: I64) -> tuple[I64, I64]:
    """For each wanted key, its first row in the sorted `keys` and how many rows hold it, knowing that it can
    only be in rows `lo[i]:hi[i]` (the rows of one document)."""
    if len(wanted) < COMPILED_FROM:
        return _numpy_lookup(keys, wanted)
    first = np.empty(len(wanted), dtype=np.int64)
    found = np.empty(len(wanted), dtype=np.int64)
    _compiled_lookup()(keys, wanted, lo.astype(np.int64), hi.astype(np.int64), first, found)
    return first, found


def _numpy_lookup(keys: U64, wanted: U64) -> tuple[I64, I64]:
    """The same with NumPy over all of `keys`, searching the wanted keys in sorted order (each binary search
    then starts near the last one, in memory the previous search brought in)."""
    order = np.argsort(wanted, kind="stable")
    ordered = wanted[order]
    first_sorted = np.searchsorted(keys, ordered, side="left")
    found_sorted = np.searchsorted(keys, ordered, side="right") - first_sorted
    first = np.empty(len(wanted), dtype=np.int64)
    found = np.empty(len(wanted), dtype=np.int64)
    first[order] = first_sorted
    found[order] = found_sorted
    return first, found
