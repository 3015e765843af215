"""The holders of keys looked up in the runs of `reprints.index.postings` in compiled passes (numba, cached on disk):
what `holders_of` does with NumPy, a dozen calls a run, each costing a query more than the few rows it reads, and
two binary searches a key a run over arrays larger than the processor's caches. Here each run has a directory of
its keys' top bits (`directory`), so that a key's rows are found with a read of the directory and one of the keys,
most often in one cache line. The NumPy code gives the same answers (tests hold them equal) and serves small
lookups and processes that have not loaded the kernels. Imported only when they are wanted (numba's import and
cache load cost a few hundred milliseconds)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def unique_keys(keys: Any) -> Any:
    """The distinct keys, ascending, and for each key given the position of its own among them (as
    `numpy.unique(keys, return_inverse=True)`)."""
    order = np.argsort(keys, kind="mergesort")
    inverse = np.empty(len(keys), dtype=np.int64)
    wanted = np.empty(len(keys), dtype=np.int64)
    distinct = 0
    for i in range(len(order)):
        key = keys[order[i]]
        if distinct == 0 or wanted[distinct - 1] != key:
            wanted[distinct] = key
            distinct += 1
        inverse[order[i]] = distinct - 1
    return wanted[:distinct], inverse


@numba.njit(cache=True, nogil=True)
def look_up(keys: Any, nums: Any, live: Any, directory: Any, shift: int, wanted: Any, limit: int) -> Any:
    """A run's rows of each wanted key (ascending, distinct), at most `limit` of each (-1: all): (counts per key,
    numbers, live), the rows one key after another. Key `k`'s rows lie between `directory[b]` and
    `directory[b + 1]`, where `b = (k >> shift) + 2 ** (63 - shift)` (its top `64 - shift` bits, as unsigned)."""
    half = np.int64(1) << np.int64(63 - shift)
    starts = np.empty(len(wanted), dtype=np.int64)
    counts = np.empty(len(wanted), dtype=np.int64)
    total = np.int64(0)
    for i in range(len(wanted)):
        key = wanted[i]
        bucket = (key >> np.int64(shift)) + half
        low, high = np.int64(directory[bucket]), np.int64(directory[bucket + 1])
        while low < high:  # the first row of the key or after it, in the bucket (a few rows, mostly)
            middle = (low + high) >> 1
            if keys[middle] < key:
                low = middle + 1
            else:
                high = middle
        end, high = low, np.int64(directory[bucket + 1])
        if 0 <= limit < high - low:
            high = low + limit
        while end < high:  # past its last row (or its `limit`-th)
            middle = (end + high) >> 1
            if keys[middle] <= key:
                end = middle + 1
            else:
                high = middle
        count = end - low
        starts[i], counts[i] = low, count
        total += count
    found_nums = np.empty(total, dtype=np.int64)
    found_live = np.empty(total, dtype=np.bool_)
    at = 0
    for i in range(len(wanted)):
        for row in range(starts[i], starts[i] + counts[i]):
            found_nums[at], found_live[at] = nums[row], live[row]
            at += 1
    return counts, found_nums, found_live


@numba.njit(cache=True, nogil=True)
def merged(counts: Any, nums: Any, live: Any, inverse: Any, limit: int) -> Any:
    """The holders of each key asked, in the order asked, from the runs' rows (`look_up`'s answers, oldest run
    first, one after another: `counts[r, i]` rows of run `r` for wanted key `i`): of each number, the newest
    run's row decides; the live ones, ascending, at most `limit` (-1: all). As (offsets, numbers): key `p`'s
    numbers are `numbers[offsets[p]:offsets[p + 1]]`."""
    runs, keys = counts.shape
    at = np.empty((runs, keys), dtype=np.int64)  # where run r's rows of key i begin
    position = 0
    for run in range(runs):
        for key in range(keys):
            at[run, key] = position
            position += counts[run, key]
    held = np.empty(len(nums), dtype=np.int64)
    held_from = np.zeros(keys + 1, dtype=np.int64)
    heads = np.empty(runs, dtype=np.int64)
    length = 0
    for key in range(keys):
        for run in range(runs):
            heads[run] = at[run, key]
        taken = 0
        while limit < 0 or taken < limit:
            # the smallest number at a head; of the runs holding it there, the newest decides
            smallest, newest = np.int64(0), -1
            for run in range(runs):
                if heads[run] < at[run, key] + counts[run, key]:
                    num = nums[heads[run]]
                    if newest < 0 or num <= smallest:
                        smallest, newest = num, run
            if newest < 0:
                break
            if live[heads[newest]]:
                held[length] = smallest
                length += 1
                taken += 1
            for run in range(runs):
                if heads[run] < at[run, key] + counts[run, key] and nums[heads[run]] == smallest:
                    heads[run] += 1
        held_from[key + 1] = length
    offsets = np.zeros(len(inverse) + 1, dtype=np.int64)
    for asked in range(len(inverse)):
        key = inverse[asked]
        offsets[asked + 1] = offsets[asked] + held_from[key + 1] - held_from[key]
    answer = np.empty(offsets[-1], dtype=np.int64)
    for asked in range(len(inverse)):
        key = inverse[asked]
        start = offsets[asked]
        for i in range(held_from[key + 1] - held_from[key]):
            answer[start + i] = held[held_from[key] + i]
    return offsets, answer
