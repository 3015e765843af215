"""Compiled kernels for alignment's hot loops (numba, cached on disk): the NumPy code in `reprints.align.chain`
gives identical results and serves small inputs. Imported only when a chunk of pairs is large enough (numba's
import and cache load cost a few hundred milliseconds), so `compare` of two texts never imports numba.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from reprints.fingerprint.hashing import U64
from reprints.normalize.tokens import I64
from reprints.sorting import stable_order

_DIAGONAL_SHIFT = np.int64(1) << np.int64(31)  # added to a diagonal (j - i) to make it a non-negative key


@numba.njit(cache=True, nogil=True)
def _points(keys: Any, positions: Any, bounds: Any, low_mask: Any, points: Any) -> int:
    # The match points of one pair (`bounds`: its documents' rows a_lo, a_hi, b_lo, b_hi), each as one key
    # sorting by diagonal then position in `a`: the smaller document's rows are looked up in the other's,
    # galloping forward through the target's sorted rows. Returns how many, or -1 when `points` has no room for
    # them all (the caller grows it and asks again: an array replaced inside this loop would cost reference
    # counting on every row).
    a_lo, a_hi, b_lo, b_hi = bounds[0], bounds[1], bounds[2], bounds[3]
    query_is_a = a_hi - a_lo <= b_hi - b_lo
    if query_is_a:
        q_lo, q_hi, t_lo, t_hi = a_lo, a_hi, b_lo, b_hi
    else:
        q_lo, q_hi, t_lo, t_hi = b_lo, b_hi, a_lo, a_hi
    found = 0
    cursor = t_lo
    for row in range(q_lo, q_hi):
        key = keys[row] & low_mask
        low = cursor
        if low < t_hi and (keys[low] & low_mask) < key:
            step = 1
            while low + step < t_hi and (keys[low + step] & low_mask) < key:
                low += step
                step *= 2
            high = min(low + step, t_hi)
            low += 1
            while low < high:
                middle = (low + high) >> 1
                if (keys[middle] & low_mask) < key:
                    low = middle + 1
                else:
                    high = middle
        cursor = low
        stop = low
        while stop < t_hi and (keys[stop] & low_mask) == key:
            if query_is_a:
                i, j = np.int64(positions[row]), np.int64(positions[stop])
            else:
                i, j = np.int64(positions[stop]), np.int64(positions[row])
            if found == len(points):
                return -1
            points[found] = (np.uint64(j - i + _DIAGONAL_SHIFT) << np.uint64(32)) | np.uint64(i)
            found += 1
            stop += 1
    return found


@numba.njit(cache=True, nogil=True)
def _runs(ordered: Any, shingle_size: int, max_gap: int) -> Any:
    # Sorted point keys cut into runs (`reprints.align.chain.runs`): a_start, a_end, b_start, b_end.
    low32 = np.uint64(0xFFFFFFFF)
    upper = np.uint64(32)
    parts = np.empty((len(ordered), 4), dtype=np.int64)
    count = 0
    run_start = 0
    for k in range(1, len(ordered) + 1):
        if k < len(ordered):
            same_diagonal = (ordered[k] >> upper) == (ordered[k - 1] >> upper)
            gap = np.int64(ordered[k] & low32) - np.int64(ordered[k - 1] & low32)
            if same_diagonal and gap <= max_gap + shingle_size:
                continue
        diagonal = np.int64(ordered[run_start] >> upper) - _DIAGONAL_SHIFT
        a_start = np.int64(ordered[run_start] & low32)
        a_end = np.int64(ordered[k - 1] & low32) + shingle_size
        parts[count, 0], parts[count, 1] = a_start, a_end
        parts[count, 2], parts[count, 3] = a_start + diagonal, a_end + diagonal
        count += 1
        run_start = k
    return parts[:count]


@numba.njit(cache=True, nogil=True)
def _advancing(parts: Any, rows: Any) -> Any:
    # `reprints.align.chain._advancing` over one pair's parts `parts[rows]` (rows sorted by a_start, b_start).
    kept = np.ones(len(rows), dtype=np.bool_)
    first = np.zeros(len(rows), dtype=np.bool_)
    while True:
        previous = -1
        previous_behind = False
        any_first = False
        for k in range(len(rows)):
            if not kept[k]:
                continue
            behind = False
            if previous >= 0:
                r, q = rows[k], rows[previous]
                behind = parts[r, 1] <= parts[q, 1] or parts[r, 3] <= parts[q, 3]
            if behind and not previous_behind:
                first[k] = True
                any_first = True
            previous_behind = behind
            previous = k
        if not any_first:
            return kept
        for k in range(len(rows)):
            if first[k]:
                kept[k] = False
                first[k] = False


@numba.njit(cache=True, nogil=True)
def _chain(parts: Any, max_gap: int, overlap: int) -> Any:
    # `reprints.align.chain.chain` over one pair's parts: the regions sorted by a_start, b_start, and the region
    # of each part. The advancing parts are chained, the parts set aside are chained among themselves, and so on.
    # (Rows are copied value by value: numba's array-to-array assignment and fancy indexing would each add
    # about a second to the kernel's compilation, paid on the first run after installing.)
    keys = parts[:, 0] * (np.int64(1) << np.int64(32)) + parts[:, 2]
    remaining = stable_order(keys)  # the keys are distinct: any sort gives this order
    regions = np.empty((len(parts), 4), dtype=np.int64)
    region_of_part = np.empty(len(parts), dtype=np.int64)
    count = 0
    while len(remaining):
        kept = _advancing(parts, remaining)
        previous = -1
        left = 0
        for k in range(len(remaining)):
            r = remaining[k]
            if not kept[k]:
                remaining[left] = r
                left += 1
                continue
            if (
                previous < 0
                or parts[r, 0] - parts[previous, 1] > max_gap
                or parts[r, 2] - parts[previous, 3] > max_gap
                or parts[r, 2] < parts[previous, 2]
                or parts[r, 2] < parts[previous, 3] - overlap
                or parts[r, 0] < parts[previous, 1] - overlap
            ):
                for c in range(4):
                    regions[count, c] = parts[r, c]
                count += 1
            else:
                regions[count - 1, 0] = min(regions[count - 1, 0], parts[r, 0])
                regions[count - 1, 1] = max(regions[count - 1, 1], parts[r, 1])
                regions[count - 1, 2] = min(regions[count - 1, 2], parts[r, 2])
                regions[count - 1, 3] = max(regions[count - 1, 3], parts[r, 3])
            region_of_part[r] = count - 1
            previous = r
        remaining = remaining[:left]
    order = stable_order(regions[:count, 0] * (np.int64(1) << np.int64(32)) + regions[:count, 2])
    rank = np.empty(count, dtype=np.int64)
    ordered = np.empty((count, 4), dtype=np.int64)
    for k in range(count):
        rank[order[k]] = k
        for c in range(4):
            ordered[k, c] = regions[order[k], c]
    for p in range(len(parts)):
        region_of_part[p] = rank[region_of_part[p]]
    return ordered, region_of_part


@numba.njit(cache=True, nogil=True)
def _long_enough(region: Any, shortest: int) -> Any:
    return min(region[1] - region[0], region[3] - region[2]) >= shortest


@numba.njit(cache=True, nogil=True)
def _grown(out: Any, count: int) -> Any:
    # `out` (its first `count` rows) in twice the room (rows copied value by value: see `_chain`).
    bigger = np.empty((2 * len(out), 5), dtype=np.int64)
    for row in range(count):
        for c in range(5):
            bigger[row, c] = out[row, c]
    return bigger


@numba.njit(cache=True, nogil=True)
def _align_pairs(
    keys: Any,
    positions: Any,
    offsets: Any,
    local_a: Any,
    local_b: Any,
    low_mask: Any,
    shortest: Any,
    shingle_size: int,
    max_gap: int,
) -> Any:
    # `reprints.align.chain.align` pair by pair: match points, runs, regions; the parts of regions long enough
    # chained again, and the regions long enough kept. Rows: pair, a_start, a_end, b_start, b_end.
    out = np.empty((1024, 5), dtype=np.int64)
    count = 0
    points = np.empty(1024, dtype=np.uint64)
    bounds = np.empty(4, dtype=np.int64)
    for p in range(len(local_a)):
        bounds[0], bounds[1] = offsets[local_a[p]], offsets[local_a[p] + 1]
        bounds[2], bounds[3] = offsets[local_b[p]], offsets[local_b[p] + 1]
        found = _points(keys, positions, bounds, low_mask, points)
        while found < 0:
            points = np.empty(2 * len(points), dtype=np.uint64)
            found = _points(keys, positions, bounds, low_mask, points)
        if found == 0:
            continue
        parts = _runs(np.sort(points[:found]), shingle_size, max_gap)
        if len(parts) == 1:  # one run (a pair sharing one phrase, or one passage unbroken): its own region
            if _long_enough(parts[0], shortest[p]):
                if count == len(out):
                    out = _grown(out, count)
                out[count, 0] = p
                for c in range(4):
                    out[count, 1 + c] = parts[0, c]
                count += 1
            continue
        regions, region_of_part = _chain(parts, max_gap, shingle_size)
        survives = np.zeros(len(parts), dtype=np.bool_)
        for k in range(len(parts)):
            survives[k] = _long_enough(regions[region_of_part[k]], shortest[p])
        surviving = 0
        for k in range(len(parts)):
            if survives[k]:
                for c in range(4):
                    parts[surviving, c] = parts[k, c]
                surviving += 1
        if surviving == 0:
            continue
        final, _ = _chain(parts[:surviving], max_gap, shingle_size)
        for k in range(len(final)):
            if not _long_enough(final[k], shortest[p]):
                continue
            if count == len(out):
                out = _grown(out, count)
            out[count, 0] = p
            for c in range(4):
                out[count, 1 + c] = final[k, c]
            count += 1
    return out[:count]


def compiled_align(
    keys: U64,
    positions: Any,
    offsets: I64,
    local_a: I64,
    local_b: I64,
    doc_bits: int,
    shortest: I64,
    *,
    shingle_size: int,
    max_gap: int,
) -> tuple[I64, I64, I64, I64, I64]:
    """`(pair, a_start, a_end, b_start, b_end)` of the aligned passages of the pairs `(local_a[p], local_b[p])`
    of documents whose sorted rows are `keys[offsets[d]:offsets[d + 1]]`: what `reprints.align.chain.align`
    gives for them (`shortest[p]`: the pair's shortest passage), sorted by pair, `a_start`, `b_start`."""
    low_mask = np.uint64((1 << (64 - doc_bits)) - 1)
    rows = _align_pairs(
        keys,
        positions,
        offsets.astype(np.int64),
        local_a.astype(np.int64),
        local_b.astype(np.int64),
        low_mask,
        shortest.astype(np.int64),
        shingle_size,
        max_gap,
    )
    return rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy(), rows[:, 3].copy(), rows[:, 4].copy()
