"""Compiled kernels for fingerprinting's hot loops (numba, cached on disk), used on large batches; the NumPy
code in `reprints.fingerprint.shingles` gives the same results and serves small ones (`compare`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from reprints.fingerprint.hashing import U64
from reprints.normalize.tokens import I64

COMPILED_FROM = 20_000  # shingles in one batch from which the compiled kernel is worth loading


@functools.lru_cache(maxsize=1)
def _compiled_window_minima() -> Callable[..., Any]:
    import numba

    @numba.njit(cache=True, nogil=True)
    def window_minima(shingles: Any, offsets: Any, window: int, picks: Any) -> int:
        # For each document: the position of the smallest hash of every window of `window` shingles (a
        # monotone queue; the first of equal minima), each position once; a document with fewer shingles than
        # `window` gives the position of its smallest hash.
        count = 0
        queue = np.empty(window + 1, dtype=np.int64)
        for doc in range(len(offsets) - 1):
            start, end = offsets[doc], offsets[doc + 1]
            if end - start == 0:
                continue
            if end - start < window:
                best = start
                for position in range(start + 1, end):
                    if shingles[position] < shingles[best]:
                        best = position
                picks[count] = best
                count += 1
                continue
            head, tail = 0, 0
            last = -1
            for position in range(start, end):
                while tail > head and shingles[queue[(tail - 1) % (window + 1)]] > shingles[position]:
                    tail -= 1
                queue[tail % (window + 1)] = position
                tail += 1
                if queue[head % (window + 1)] <= position - window:
                    head += 1
                if position - start >= window - 1:
                    best = queue[head % (window + 1)]
                    if best != last:
                        picks[count] = best
                        count += 1
                        last = best
        return count

    return window_minima


def window_minima(shingles: U64, offsets: I64, window: int) -> I64:
    """Positions of the window minima of every document (see `reprints.fingerprint.shingles.winnow`)."""
    picks = np.empty(len(shingles) + len(offsets), dtype=np.int64)
    count = _compiled_window_minima()(shingles, offsets.astype(np.int64), window, picks)
    return picks[:count]


@functools.lru_cache(maxsize=1)
def _compiled_match_table() -> Callable[..., Any]:
    import numba

    @numba.njit(cache=True, nogil=True)
    def match_table(
        shingles: Any, offsets: Any, shift: Any, max_repeats: int, hashes: Any, positions: Any, counts: Any
    ) -> int:
        # Document by document: its shingles sorted by their hash's top bits (`hash >> shift`), stably (positions
        # break ties), runs of equal hashes longer than `max_repeats` left out.
        total = 0
        for doc in range(len(offsets) - 1):
            lo, hi = offsets[doc], offsets[doc + 1]
            order = np.argsort(shingles[lo:hi] >> shift, kind="mergesort")
            kept = 0
            start = 0
            for k in range(1, hi - lo + 1):
                if k < hi - lo and shingles[lo + order[k]] == shingles[lo + order[k - 1]]:
                    continue
                if k - start <= max_repeats:
                    for m in range(start, k):
                        hashes[total] = shingles[lo + order[m]]
                        positions[total] = order[m]
                        total += 1
                    kept += k - start
                start = k
            counts[doc] = kept
        return total

    return match_table


def compiled_match_table(shingles: U64, offsets: I64, doc_bits: int, max_repeats: int) -> tuple[U64, I64, I64]:
    """`reprints.fingerprint.shingles.match_table` document by document (the same rows)."""
    hashes = np.empty(len(shingles), dtype=np.uint64)
    positions = np.empty(len(shingles), dtype=np.int64)
    counts = np.zeros(len(offsets) - 1, dtype=np.int64)
    total = _compiled_match_table()(
        shingles, offsets.astype(np.int64), np.uint64(doc_bits), max_repeats, hashes, positions, counts
    )
    return hashes[:total].copy(), positions[:total].copy(), counts
