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
def _compiled_focus() -> Callable[..., Any]:
    import numba

    @numba.njit(cache=True, nogil=True)
    def focus(shingles: Any, first_start: int, first_end: int, shift: Any, keep: Any) -> None:
        # Rows of the first document, and rows of the others whose top bits are among the first's: the first's
        # top bits in an open-addressing table at most a quarter full (they are hash bits already: their low
        # bits are the slot), which every other row probes.
        size = 1024
        while size < 4 * (first_end - first_start):
            size *= 2
        mask = np.uint64(size - 1)
        table = np.empty(size, dtype=np.uint64)
        used = np.zeros(size, dtype=np.bool_)
        for row in range(first_start, first_end):
            value = shingles[row] >> shift
            slot = value & mask
            while used[slot] and table[slot] != value:
                slot = (slot + np.uint64(1)) & mask
            used[slot] = True
            table[slot] = value
            keep[row] = True
        for row in range(len(shingles)):
            if first_start <= row < first_end:
                continue
            top = shingles[row] >> shift
            slot = top & mask
            while used[slot]:
                if table[slot] == top:
                    keep[row] = True
                    break
                slot = (slot + np.uint64(1)) & mask

    return focus


def compiled_focus(shingles: U64, first_start: int, first_end: int, doc_bits: int) -> np.ndarray:
    """Which rows `reprints.fingerprint.shingles.focused_match_table` keeps (the first document's rows from
    `first_start` to `first_end`)."""
    keep = np.zeros(len(shingles), dtype=np.bool_)
    _compiled_focus()(np.ascontiguousarray(shingles), first_start, first_end, np.uint64(doc_bits), keep)
    return keep


def compiled_shingles(hashes: U64, offsets: I64, factors: U64, seed: int) -> tuple[U64, I64]:
    """`reprints.fingerprint.shingles.shingle` in one pass (the same hashes and offsets); `factors`: the
    polynomial base's powers, one per token of a shingle."""
    counts = np.maximum(np.diff(offsets) - len(factors) + 1, 0)
    out = np.empty(int(counts.sum()), dtype=np.uint64)
    out_offsets = np.zeros(len(offsets), dtype=np.int64)
    from reprints.fingerprint.shingle_kernel import shingles

    shingles(
        np.ascontiguousarray(hashes, dtype=np.uint64),
        offsets.astype(np.int64),
        np.ascontiguousarray(factors, dtype=np.uint64),
        np.uint64(seed),
        out,
        out_offsets,
    )
    return out, out_offsets


@functools.lru_cache(maxsize=1)
def _compiled_bottom() -> Callable[..., Any]:
    import numba

    @numba.njit(cache=True, nogil=True)
    def bottom(shingles: Any, offsets: Any, doc_bits: Any, keep_shift: Any, out: Any) -> None:
        # For each document, its `out.shape[1]` smallest distinct values of `shingle >> doc_bits`, ascending,
        # each shifted right by `keep_shift` (`reprints.fingerprint.shingles.sketches`): a sorted buffer that a
        # value enters only when it is below the largest kept.
        size = out.shape[1]
        kept = np.empty(size, dtype=np.uint64)
        for doc in range(len(offsets) - 1):
            count = 0
            for row in range(offsets[doc], offsets[doc + 1]):
                value = shingles[row] >> doc_bits
                if count == size and value >= kept[size - 1]:
                    continue
                at = count
                while at > 0 and kept[at - 1] > value:
                    at -= 1
                if at > 0 and kept[at - 1] == value:
                    continue
                last = count if count < size else size - 1
                for move in range(last, at, -1):
                    kept[move] = kept[move - 1]
                kept[at] = value
                if count < size:
                    count += 1
            for slot in range(count):
                out[doc, slot] = kept[slot] >> keep_shift

    return bottom


def compiled_sketches(shingles: U64, offsets: I64, doc_bits: int, keep_bits: int, out: U64) -> None:
    """Fill `out` (one row per document, padded beforehand) with each document's smallest distinct values of
    `shingle >> doc_bits`, ascending, shifted right by `keep_bits - doc_bits`: what
    `reprints.fingerprint.shingles.sketches` computes with one sort of the whole batch."""
    _compiled_bottom()(
        np.ascontiguousarray(shingles, dtype=np.uint64),
        offsets.astype(np.int64),
        np.uint64(doc_bits),
        np.uint64(keep_bits - doc_bits),
        out,
    )


@functools.lru_cache(maxsize=1)
def _compiled_anchors() -> Callable[..., Any]:
    import numba

    @numba.njit(cache=True, nogil=True)
    def anchors(shingles: Any, offsets: Any, window: int, docs: Any, hashes: Any) -> int:
        # For each document: the hash at every window minimum of `window` shingles (a monotone queue), or its
        # smallest hash if it has fewer than `window` shingles; then that document's hashes sorted and each kept
        # once, written after the previous document's with the document's number beside each.
        count = 0
        ring = 1  # the queue's ring buffer: a power of two above `window`, so that a slot is a mask, not a division
        while ring <= window:
            ring *= 2
        slots = ring - 1
        queue = np.empty(ring, dtype=np.int64)
        for doc in range(len(offsets) - 1):
            start, end = offsets[doc], offsets[doc + 1]
            if end - start == 0:
                continue
            first = count
            if end - start < window:
                best = start
                for position in range(start + 1, end):
                    if shingles[position] < shingles[best]:
                        best = position
                hashes[count] = shingles[best]
                count += 1
            else:
                head, tail = 0, 0
                last = -1
                for position in range(start, end):
                    while tail > head and shingles[queue[(tail - 1) & slots]] > shingles[position]:
                        tail -= 1
                    queue[tail & slots] = position
                    tail += 1
                    if queue[head & slots] <= position - window:
                        head += 1
                    if position - start >= window - 1:
                        best = queue[head & slots]
                        if best != last:
                            hashes[count] = shingles[best]
                            count += 1
                            last = best
            hashes[first:count].sort()
            kept = first
            for row in range(first, count):
                if row == first or hashes[row] != hashes[kept - 1]:
                    hashes[kept] = hashes[row]
                    docs[kept] = doc
                    kept += 1
            count = kept
        return count

    return anchors


def compiled_winnow(shingles: U64, offsets: I64, window: int) -> tuple[I64, U64]:
    """`reprints.fingerprint.shingles.winnow` document by document (the same anchors, in the same order)."""
    docs = np.empty(len(shingles), dtype=np.int64)
    hashes = np.empty(len(shingles), dtype=np.uint64)
    shingles = np.ascontiguousarray(shingles, dtype=np.uint64)
    count = _compiled_anchors()(shingles, offsets.astype(np.int64), window, docs, hashes)
    return docs[:count].copy(), hashes[:count].copy()


def compiled_match_table(shingles: U64, offsets: I64, doc_bits: int, max_repeats: int) -> tuple[U64, I64, I64]:
    """`reprints.fingerprint.shingles.match_table` document by document (the same rows)."""
    hashes = np.empty(len(shingles), dtype=np.uint64)
    positions = np.empty(len(shingles), dtype=np.int64)
    counts = np.zeros(len(offsets) - 1, dtype=np.int64)
    from reprints.fingerprint.table_kernel import match_table  # imports numba: only when a batch needs it

    total = match_table(shingles, offsets.astype(np.int64), np.uint64(doc_bits), max_repeats, hashes, positions, counts)
    return hashes[:total].copy(), positions[:total].copy(), counts


def compiled_sieve(
    query: U64, hashes: U64, offsets: I64, factors: U64, seed: int, top_bits: int, reach: int, need: I64
) -> np.ndarray:
    """`reprints.index.sieve`'s decision in one pass: which documents (`hashes[offsets[d]:offsets[d + 1]]`, token
    hashes) have a chain of shingles whose top `top_bits` bits are among the query's (token hashes `query`), each
    within `reach` positions of the one before, spanning `need[d]` tokens or more."""
    keep = np.zeros(len(offsets) - 1, dtype=np.bool_)
    from reprints.fingerprint.shingle_kernel import sieve

    sieve(
        np.ascontiguousarray(query, dtype=np.uint64),
        np.ascontiguousarray(hashes, dtype=np.uint64),
        offsets.astype(np.int64),
        np.ascontiguousarray(factors, dtype=np.uint64),
        np.uint64(seed),
        np.uint64(64 - top_bits),
        reach,
        need.astype(np.int64),
        keep,
    )
    return keep
