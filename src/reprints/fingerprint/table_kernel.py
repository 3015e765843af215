"""The match table's compiled kernel (`reprints.fingerprint.kernels.compiled_match_table`), in a module of its
own: it calls `reprints.sorting.stable_order`, and numba's disk cache misses, in every new process, for a kernel
that holds another kernel in a closure (the other kernels of `reprints.fingerprint.kernels` are closures, so that
importing that module does not import numba). Imported only when a batch is large enough to take it."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from reprints.sorting import stable_order

# A bucket of more rows than this (hashes equal in their top bits: a document repeating a shingle, or holding
# few distinct ones) is ordered by a merge sort; smaller ones, nearly all of them, by insertion.
SMALL_BUCKET = 16


@numba.njit(cache=True, nogil=True)
def match_table(
    shingles: Any, offsets: Any, shift: Any, max_repeats: int, hashes: Any, positions: Any, counts: Any
) -> int:
    # Document by document: its shingles ordered by their hash's top bits (`hash >> shift`), stably (positions
    # break ties), of a run of equal hashes only its first `max_repeats`. The order is a bucket sort: a
    # document of n rows is dealt, in position order, into about n / 2 buckets by the first bits of its hashes
    # (never more bits than `hash >> shift` keeps, so equal keys share a bucket and keep their position order),
    # and each bucket is sorted by its keys. Hashes are uniform, so buckets hold one or two rows: a linear pass
    # where a comparison sort of every document cost 2.5 times as much.
    total = 0
    longest = 0
    for doc in range(len(offsets) - 1):
        longest = max(longest, offsets[doc + 1] - offsets[doc])
    order = np.empty(longest, dtype=np.int64)
    ends = np.empty(longest + 1, dtype=np.int64)
    room = np.int64(64) - np.int64(shift)
    for doc in range(len(offsets) - 1):
        lo, hi = offsets[doc], offsets[doc + 1]
        n = hi - lo
        bits = np.int64(0)
        while (np.int64(2) << bits) < n:
            bits += 1
        bits = min(bits, room)
        buckets = np.int64(1) << bits
        for k in range(buckets + 1):
            ends[k] = 0
        if bits == 0:
            ends[1] = n
        else:
            for k in range(n):
                ends[np.int64(shingles[lo + k] >> np.uint64(64 - bits)) + 1] += 1
        for k in range(buckets):
            ends[k + 1] += ends[k]
        for k in range(n):  # ends[slot] is where the bucket's next row goes, then where it ends
            slot = np.int64(shingles[lo + k] >> np.uint64(64 - bits)) if bits > 0 else np.int64(0)
            order[ends[slot]] = k
            ends[slot] += 1
        begin = 0
        for bucket in range(buckets):
            end = ends[bucket]
            if end - begin > SMALL_BUCKET:
                keys = np.empty(end - begin, dtype=np.uint64)
                for k in range(begin, end):
                    keys[k - begin] = shingles[lo + order[k]] >> shift
                ranked = stable_order(keys)
                dealt = order[begin:end].copy()
                for k in range(end - begin):
                    order[begin + k] = dealt[ranked[k]]
            else:
                for k in range(begin + 1, end):
                    moving = order[k]
                    key = shingles[lo + moving] >> shift
                    m = k - 1
                    while m >= begin and (shingles[lo + order[m]] >> shift) > key:
                        order[m + 1] = order[m]
                        m -= 1
                    order[m + 1] = moving
            begin = end
        kept = 0
        start = 0
        for k in range(1, n + 1):
            if k < n and shingles[lo + order[k]] == shingles[lo + order[k - 1]]:
                continue
            end = min(k, start + max_repeats)  # a run's first occurrences (in position order)
            for m in range(start, end):
                hashes[total] = shingles[lo + order[m]]
                positions[total] = order[m]
                total += 1
            kept += end - start
            start = k
        counts[doc] = kept
    return total
