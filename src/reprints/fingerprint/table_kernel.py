"""The match table's compiled kernel (`reprints.fingerprint.kernels.compiled_match_table`), in a module of its
own: it calls `reprints.sorting.stable_order`, and numba's disk cache misses, in every new process, for a kernel
that holds another kernel in a closure (the other kernels of `reprints.fingerprint.kernels` are closures, so that
importing that module does not import numba). Imported only when a batch is large enough to take it."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from reprints.sorting import stable_order


@numba.njit(cache=True, nogil=True)
def match_table(
    shingles: Any, offsets: Any, shift: Any, max_repeats: int, hashes: Any, positions: Any, counts: Any
) -> int:
    # Document by document: its shingles sorted by their hash's top bits (`hash >> shift`), stably (positions
    # break ties), of a run of equal hashes only its first `max_repeats`. A document of at most 2**shift
    # shingles sorts one word per shingle, its top bits then its position (`shift` bits free for it); a
    # longer one takes a stable argsort.
    total = 0
    low = (np.uint64(1) << shift) - np.uint64(1)
    for doc in range(len(offsets) - 1):
        lo, hi = offsets[doc], offsets[doc + 1]
        if hi - lo <= (np.int64(1) << np.int64(shift)):
            packed = np.empty(hi - lo, dtype=np.uint64)
            for k in range(hi - lo):
                packed[k] = ((shingles[lo + k] >> shift) << shift) | np.uint64(k)
            packed.sort()
            order = (packed & low).astype(np.int64)
        else:
            order = stable_order(shingles[lo:hi] >> shift)
        kept = 0
        start = 0
        for k in range(1, hi - lo + 1):
            if k < hi - lo and shingles[lo + order[k]] == shingles[lo + order[k - 1]]:
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
