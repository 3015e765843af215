"""Boilerplate learning's rounds (`reprints.normalize.boilerplate.learn`) as one compiled pass (numba, cached on
disk): the Python code there gives the same keys and serves small corpora. Imported only when the lines to examine
are many enough (numba's import and cache load cost a few hundred milliseconds).

The pass walks the same groups in the same order with the same rules: the shared context of each pair of
occurrences, the verdict of whether the two documents are different documents (remembered per pair within the
call), the medians, and the rounds in which boilerplate found stops the shared context of the next.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from reprints.fingerprint.hashing import U64
from reprints.normalize.tokens import I64

# numba's disk cache is keyed on this file alone and compiles module globals in as constants: what the kernel
# computes with is defined here (the caller passes the rule's numbers).
_NO_HASH = np.uint64(0xFFFFFFFFFFFFFFFF)  # the padding of a sketch (`reprints.fingerprint.shingles.NO_HASH`)


@numba.njit(cache=True, nogil=True)
def _sift(values: Any, carried: Any, node: int, end: int) -> None:
    while 2 * node + 1 < end:
        child = 2 * node + 1
        if child + 1 < end and values[child + 1] > values[child]:
            child += 1
        if values[node] >= values[child]:
            return
        values[node], values[child] = values[child], values[node]
        carried[node], carried[child] = carried[child], carried[node]
        node = child


@numba.njit(cache=True, nogil=True)
def _sort(values: Any, carried: Any) -> None:
    # Sorts `values` in place, moving `carried` along with them: a heap sort, which numba compiles in a fraction
    # of the time np.sort and np.argsort take (seconds, paid on the first run after installing)
    for node in range(len(values) // 2 - 1, -1, -1):
        _sift(values, carried, node, len(values))
    for end in range(len(values) - 1, 0, -1):
        values[0], values[end] = values[end], values[0]
        carried[0], carried[end] = carried[end], carried[0]
        _sift(values, carried, 0, end)


@numba.njit(cache=True, nogil=True)
def _flagged(key: Any, flagged: Any) -> Any:
    # Whether `key` is in the ascending array `flagged` (a binary search)
    lo, hi = 0, len(flagged)
    while lo < hi:
        middle = (lo + hi) // 2
        if flagged[middle] < key:
            lo = middle + 1
        else:
            hi = middle
    return lo < len(flagged) and flagged[lo] == key


@numba.njit(cache=True, nogil=True)
def _shared_context(
    line_a: int, line_b: int, keys: Any, docs: Any, counts: Any, doc_start: Any, cap: int, flagged: Any
) -> int:
    # `boilerplate._shared_context`, boilerplate keys as a sorted array
    shared = 0
    same_sides = 0
    for step in (-1, 1):
        a, b = line_a + step, line_b + step
        lo_a, hi_a = doc_start[docs[line_a]], doc_start[docs[line_a] + 1]
        lo_b, hi_b = doc_start[docs[line_b]], doc_start[docs[line_b] + 1]
        while lo_a <= a < hi_a and lo_b <= b < hi_b and keys[a] == keys[b] and not _flagged(keys[a], flagged):
            if shared >= cap:
                break
            shared += counts[a]
            a, b = a + step, b + step
        if not (lo_a <= a < hi_a) and not (lo_b <= b < hi_b):
            same_sides += 1
    return cap if same_sides == 2 else shared


@numba.njit(cache=True, nogil=True)
def _sorted_lines(
    doc: int, keys: Any, counts: Any, doc_start: Any, at: Any, store_keys: Any, store_counts: Any, used: int
) -> tuple[Any, Any, int]:
    # The line keys of `doc` in order, and their tokens, in the stores from `at[doc]`: sorted once per document
    # examined; returns the stores (grown when full) and how much of them is used
    if at[doc] >= 0:
        return store_keys, store_counts, used
    start, end = doc_start[doc], doc_start[doc + 1]
    if used + end - start > len(store_keys):
        grown_keys = np.empty(max(2 * len(store_keys), used + end - start), dtype=np.uint64)
        grown_counts = np.empty(len(grown_keys), dtype=np.int64)
        for kept in range(used):
            grown_keys[kept], grown_counts[kept] = store_keys[kept], store_counts[kept]
        store_keys, store_counts = grown_keys, grown_counts
    for line in range(start, end):
        store_keys[used + line - start], store_counts[used + line - start] = keys[line], counts[line]
    _sort(store_keys[used : used + end - start], store_counts[used : used + end - start])
    at[doc] = used
    return store_keys, store_counts, used + end - start


@numba.njit(cache=True, nogil=True)
def _own_tokens(keys_a: Any, counts_a: Any, keys_b: Any, counts_b: Any) -> tuple[int, int]:
    # Tokens of each of two documents on lines whose key the other lacks (lines sorted by key)
    own_a, own_b = 0, 0
    i, j = 0, 0
    while i < len(keys_a) or j < len(keys_b):
        if j >= len(keys_b) or (i < len(keys_a) and keys_a[i] < keys_b[j]):
            own_a += counts_a[i]
            i += 1
        elif i >= len(keys_a) or keys_b[j] < keys_a[i]:
            own_b += counts_b[j]
            j += 1
        else:
            key = keys_a[i]
            while i < len(keys_a) and keys_a[i] == key:
                i += 1
            while j < len(keys_b) and keys_b[j] == key:
                j += 1
    return own_a, own_b


@numba.njit(cache=True, nogil=True)
def _alike(sketch_a: Any, sketch_b: Any, size: int) -> bool:
    # `shingles.resemblance(a, b) >= 0.5`: of the `size` smallest distinct values of both sketches (padding
    # left out), at least half are in both. Sketches are ascending (`shingles.sketches`).
    a, b = sketch_a, sketch_b
    i, j, union, common = 0, 0, 0, 0
    while union < size:
        while i < len(a) and (a[i] == _NO_HASH or (i > 0 and a[i] == a[i - 1])):
            i += 1
        while j < len(b) and (b[j] == _NO_HASH or (j > 0 and b[j] == b[j - 1])):
            j += 1
        if i >= len(a) and j >= len(b):
            break
        if j >= len(b) or (i < len(a) and a[i] < b[j]):
            i += 1
        elif i >= len(a) or b[j] < a[i]:
            j += 1
        else:
            common += 1
            i += 1
            j += 1
        union += 1
    return union > 0 and 2 * common >= union


@numba.njit(cache=True, nogil=True)
def _distinct(
    doc_a: int,
    doc_b: int,
    keys_a: Any,
    counts_a: Any,
    keys_b: Any,
    counts_b: Any,
    sketches: Any,
    min_own: int,
    size: int,
) -> Any:
    # `boilerplate._Documents._distinct` (each document's line keys and tokens, sorted by key)
    own_a, own_b = _own_tokens(keys_a, counts_a, keys_b, counts_b)
    if min(own_a, own_b) < min_own:
        return False
    if len(sketches) and _alike(sketches[doc_a], sketches[doc_b], size):
        return False
    total_a, total_b = counts_a.sum(), counts_b.sum()
    return 2 * (total_a - own_a) < total_a and 2 * (total_b - own_b) < total_b


@numba.njit(cache=True, nogil=True)
def _at_most(values: Any, count: int, limit: int) -> Any:
    # statistics.median(values[:count]) <= limit, in integers (sorts them in place)
    ranked = values[:count]
    _sort(ranked, np.empty(count, dtype=np.int64))
    middle = count // 2
    if count % 2:
        return ranked[middle] <= limit
    return ranked[middle - 1] + ranked[middle] <= 2 * limit


@numba.njit(cache=True, nogil=True)
def _slot(table: Any, pair: int) -> int:
    # The slot of `pair` in an open-addressing table of pairs (-1: empty), or the empty slot where it goes
    mask = len(table) - 1
    slot = (pair * 0x9E3779B1) & mask
    while table[slot] != -1 and table[slot] != pair:
        slot = (slot + 1) & mask
    return slot


@numba.njit(cache=True, nogil=True)
def _grown(table: Any, verdicts: Any) -> tuple[Any, Any]:
    # The table twice as large, its pairs placed again (a typed dict would take seconds more to compile)
    pairs = np.full(2 * len(table), -1, dtype=np.int64)
    values = np.zeros(2 * len(table), dtype=np.bool_)
    for old in range(len(table)):
        if table[old] != -1:
            slot = _slot(pairs, table[old])
            pairs[slot], values[slot] = table[old], verdicts[old]
    return pairs, values


@numba.njit(cache=True, nogil=True)
def _merged(flagged: Any, found: Any) -> Any:
    # Two ascending arrays of distinct keys, none in both, as one (groups come by key, so keys are found in order)
    out = np.empty(len(flagged) + len(found), dtype=np.uint64)
    i, j = 0, 0
    for at in range(len(out)):
        if j >= len(found) or (i < len(flagged) and flagged[i] < found[j]):
            out[at] = flagged[i]
            i += 1
        else:
            out[at] = found[j]
            j += 1
    return out


@numba.njit(cache=True, nogil=True)
def learn_rounds(
    keys: Any,
    docs: Any,
    counts: Any,
    doc_start: Any,
    group_start: Any,
    group_lines: Any,
    group_sizes: Any,
    sketches: Any,
    min_docs: int,
    max_context: int,
    min_own: int,
    long_line_factor: int,
    rounds: int,
    sketch_size: int,
) -> Any:
    """The keys `learn` flags, sorted (`sketches` with no rows when there are none; `sketch_size` values of
    each compared, as `shingles.resemblance` does)."""
    flagged = np.empty(0, dtype=np.uint64)
    pairs, verdicts = np.full(1024, -1, dtype=np.int64), np.zeros(1024, dtype=np.bool_)  # verdicts by pair
    remembered = 0
    documents = len(doc_start) - 1
    sorted_at = np.full(documents, -1, dtype=np.int64)
    store_keys = np.empty(1024, dtype=np.uint64)
    store_counts = np.empty(1024, dtype=np.int64)
    used = 0
    widest = 1
    for group in range(len(group_sizes)):
        widest = max(widest, group_start[group + 1] - group_start[group])
    own = np.empty(widest, dtype=np.int64)
    beyond = np.empty(widest, dtype=np.int64)
    for _ in range(rounds):
        found = np.empty(len(group_sizes), dtype=np.uint64)
        count = 0
        for group in range(len(group_sizes)):
            first = group_lines[group_start[group]]
            if _flagged(keys[first], flagged):
                continue
            held = 0
            for at in range(group_start[group], group_start[group + 1] - 1):
                line_a, line_b = group_lines[at], group_lines[at + 1]
                shared = _shared_context(line_a, line_b, keys, docs, counts, doc_start, max_context + 1, flagged)
                if shared <= max_context:
                    doc_a, doc_b = min(docs[line_a], docs[line_b]), max(docs[line_a], docs[line_b])
                    pair = doc_a * documents + doc_b
                    slot = _slot(pairs, pair)
                    if pairs[slot] == pair:
                        distinct = verdicts[slot]
                    else:
                        store_keys, store_counts, used = _sorted_lines(
                            doc_a, keys, counts, doc_start, sorted_at, store_keys, store_counts, used
                        )
                        store_keys, store_counts, used = _sorted_lines(
                            doc_b, keys, counts, doc_start, sorted_at, store_keys, store_counts, used
                        )
                        a0, b0 = sorted_at[doc_a], sorted_at[doc_b]
                        a1, b1 = (
                            a0 + doc_start[doc_a + 1] - doc_start[doc_a],
                            b0 + doc_start[doc_b + 1] - doc_start[doc_b],
                        )
                        distinct = _distinct(
                            doc_a,
                            doc_b,
                            store_keys[a0:a1],
                            store_counts[a0:a1],
                            store_keys[b0:b1],
                            store_counts[b0:b1],
                            sketches,
                            min_own,
                            sketch_size,
                        )
                        pairs[slot], verdicts[slot] = pair, distinct
                        remembered += 1
                        if 2 * remembered > len(pairs):
                            pairs, verdicts = _grown(pairs, verdicts)
                    if not distinct:
                        continue
                beyond[held] = shared
                own[held] = shared + counts[line_a]
                held += 1
            if held == 0:
                continue
            if _at_most(own, held, max_context) or (
                group_sizes[group] >= long_line_factor * min_docs and _at_most(beyond, held, max_context)
            ):
                found[count] = keys[first]
                count += 1
        if count == 0:
            break
        flagged = _merged(flagged, found[:count])
    return flagged


def _read_only(array: Any, dtype: Any) -> Any:
    """`array` as a read-only view (no copy when it has the dtype): the corpus's lines are read-only mapped files, the
    index's are arrays in memory, and numba compiles read-only and writable arrays separately (seconds each)."""
    view = np.asarray(array, dtype=dtype).view()
    view.flags.writeable = False
    return view


def compiled_learn(
    keys: U64,
    docs: I64,
    counts: I64,
    doc_start: I64,
    groups: list[tuple[list[int], int]],
    sketches: U64 | None,
    *,
    min_docs: int,
    max_context: int,
    min_own: int,
    long_line_factor: int,
    rounds: int,
    sketch_size: int,
) -> U64:
    """`learn_rounds` over `learn`'s arrays and groups (`boilerplate._recurring`)."""
    group_start = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum([len(lines) for lines, _ in groups], out=group_start[1:])
    group_lines = np.fromiter((line for lines, _ in groups for line in lines), dtype=np.int64, count=group_start[-1])
    group_sizes = np.array([size for _, size in groups], dtype=np.int64)
    table = np.empty((0, sketch_size), dtype=np.uint64) if sketches is None else np.asarray(sketches, dtype=np.uint64)
    arrays = (keys, docs, counts, doc_start, group_start, group_lines, group_sizes, table)
    dtypes = (np.uint64, np.int64, np.int64, np.int64, np.int64, np.int64, np.int64, np.uint64)
    read_only = [_read_only(array, dtype) for array, dtype in zip(arrays, dtypes, strict=True)]
    run: Any = learn_rounds  # (numba's stubs take no unpacked arguments)
    flagged: U64 = run(
        *read_only,
        min_docs,
        max_context,
        min_own,
        long_line_factor,
        rounds,
        sketch_size,
    )
    return flagged
