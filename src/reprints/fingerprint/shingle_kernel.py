"""The kernels that hash shingles (`reprints.fingerprint.kernels.compiled_shingles` and `compiled_sieve`), in a
module of their own: both call `shingle_at`, and numba's disk cache misses, in every new process, for a kernel that
holds another kernel in a closure (the other kernels of `reprints.fingerprint.kernels` are closures, so that
importing that module does not import numba). Imported only when a batch is large enough to take them."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

# `reprints.fingerprint.hashing.mix64`'s constants, defined in this file: numba compiles globals in as constants and
# keys its disk cache on this file alone (tests hold the kernels equal to the NumPy code).
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, nogil=True, inline="always")
def shingle_at(hashes: Any, start: int, factors: Any, seed: Any) -> Any:
    """The hash of the run of `len(factors)` token hashes from `start`: its polynomial sum (`factors`: the base's
    powers) mixed with the seed."""
    x = hashes[start]
    for j in range(1, len(factors)):
        x += hashes[start + j] * factors[j]
    x = x + seed + _GOLDEN
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


@numba.njit(cache=True, nogil=True)
def shingles(hashes: Any, offsets: Any, factors: Any, seed: Any, out: Any, out_offsets: Any) -> None:
    # For each document, the hash of every run of `len(factors)` tokens inside it (`shingle_at`).
    size = len(factors)
    total = 0
    for doc in range(len(offsets) - 1):
        for start in range(offsets[doc], offsets[doc + 1] - size + 1):
            out[total] = shingle_at(hashes, start, factors, seed)
            total += 1
        out_offsets[doc + 1] = total


@numba.njit(cache=True, nogil=True)
def sieve(
    query: Any, hashes: Any, offsets: Any, factors: Any, seed: Any, shift: Any, reach: int, need: Any, keep: Any
) -> None:
    # `reprints.index.sieve`: the query's shingles' top bits in an open-addressing table (as `focus`); each
    # document's shingles, made as `shingles` makes them, probe it; a hit within `reach` of the last one
    # extends the chain, and a chain spanning `need[doc]` tokens keeps the document (the rest unread).
    size = len(factors)
    count = max(len(query) - size + 1, 0)
    slots = 1024
    while slots < 4 * count:
        slots *= 2
    mask = np.uint64(slots - 1)
    table = np.empty(slots, dtype=np.uint64)
    used = np.zeros(slots, dtype=np.bool_)
    for start in range(count):
        value = shingle_at(query, start, factors, seed) >> shift
        slot = value & mask
        while used[slot] and table[slot] != value:
            slot = (slot + np.uint64(1)) & mask
        used[slot] = True
        table[slot] = value
    for doc in range(len(offsets) - 1):
        first = 0
        last = -1
        for start in range(offsets[doc], offsets[doc + 1] - size + 1):
            value = shingle_at(hashes, start, factors, seed) >> shift
            slot = value & mask
            while used[slot]:
                if table[slot] == value:
                    position = start - offsets[doc]
                    if last < 0 or position - last > reach:
                        first = position
                    last = position
                    if position + size - first >= need[doc]:
                        keep[doc] = True
                    break
                slot = (slot + np.uint64(1)) & mask
            if keep[doc]:
                break
