"""The crediting walk of `reprints.decide.keep` as one compiled pass (numba, cached on disk): the Python code
there gives the same removed ranges and serves small corpora. Imported only when a corpus has enough links to
repay loading it (numba's import and cache load cost a few hundred milliseconds).

Integers only: token positions, documents and ranks as int64; `scale` floors as Python's `//` does (numba's
integer `//` is Python's).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _scale(x: Any, x0: Any, x1: Any, y0: Any, y1: Any) -> Any:
    # `reprints.decide.keep.scale`
    if x1 == x0:
        return y0
    return y0 + ((x - x0) * (y1 - y0) * 2 + (x1 - x0)) // (2 * (x1 - x0))


@numba.njit(cache=True, nogil=True)
def _row_less(rows: Any, i: Any, j: Any) -> Any:
    # Whether row i sorts before row j, comparing their columns left to right (as tuples do).
    for column in range(rows.shape[1]):
        if rows[i, column] != rows[j, column]:
            return rows[i, column] < rows[j, column]
    return False


@numba.njit(cache=True, nogil=True)
def _sort_rows(rows: Any, count: Any) -> None:
    # Insertion sort of rows[:count] as tuples (a document's rows are few); stable.
    for i in range(1, count):
        j = i
        while j > 0 and _row_less(rows, j, j - 1):
            for column in range(rows.shape[1]):
                rows[j, column], rows[j - 1, column] = rows[j - 1, column], rows[j, column]
            j -= 1


@numba.njit(cache=True, nogil=True)
def _grown(rows: Any, need: Any) -> Any:
    # `rows` with room for at least `need` rows (doubled), its rows kept.
    if need <= rows.shape[0]:
        return rows
    size = max(need, 2 * rows.shape[0])
    bigger = np.empty((size, rows.shape[1]), dtype=rows.dtype)
    for row in range(rows.shape[0]):  # value by value: numba's slice assignment compiles for seconds
        for column in range(rows.shape[1]):
            bigger[row, column] = rows[row, column]
    return bigger


@numba.njit(cache=True, nogil=True)
def _bisect(values: Any, n: Any, x: Any, right: bool) -> Any:
    # np.searchsorted(values[:n], x, side="right" if right else "left"), written out: numba's compiles for
    # about a second per use (paid on the first run after installing).
    lo, hi = 0, n
    while lo < hi:
        middle = (lo + hi) >> 1
        if values[middle] < x or (right and values[middle] == x):
            lo = middle + 1
        else:
            hi = middle
    return lo


@numba.njit(cache=True, nogil=True)
def _free(cov_starts: Any, cov_ends: Any, n_cov: Any, start: Any, end: Any, runs: Any) -> Any:
    # `_Covered.free`: runs of start:end not covered, written to `runs` (rows start, end); their number.
    count = 0
    cursor = start
    at = _bisect(cov_ends, n_cov, start, True)
    while cursor < end and at < n_cov and cov_starts[at] < end:
        if cov_starts[at] > cursor:
            runs[count, 0] = cursor
            runs[count, 1] = cov_starts[at]
            count += 1
        cursor = max(cursor, cov_ends[at])
        at += 1
    if cursor < end:
        runs[count, 0] = cursor
        runs[count, 1] = end
        count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _cover(cov_starts: Any, cov_ends: Any, n_cov: Any, start: Any, end: Any) -> Any:
    # `_Covered.add`: intervals start:end overlaps or touches merged into one; the new number of intervals.
    lo = _bisect(cov_ends, n_cov, start, False)
    hi = _bisect(cov_starts, n_cov, end, True)
    if lo < hi:
        start = min(start, cov_starts[lo])
        end = max(end, cov_ends[hi - 1])
    shift = 1 - (hi - lo)  # intervals lo:hi become one
    if shift > 0:
        for k in range(n_cov - 1, hi - 1, -1):
            cov_starts[k + shift] = cov_starts[k]
            cov_ends[k + shift] = cov_ends[k]
    elif shift < 0:
        for k in range(hi, n_cov):
            cov_starts[k + shift] = cov_starts[k]
            cov_ends[k + shift] = cov_ends[k]
    cov_starts[lo] = start
    cov_ends[lo] = end
    return n_cov + shift


@numba.njit(cache=True, nogil=True)
def _resolve(removed: Any, first: Any, count: Any, dropped: Any, source: Any, start: Any, end: Any, pieces: Any) -> Any:
    # `_Holding.resolve` of `source` (its removed rows removed[first[source]:][:count[source]], sorted) over
    # start:end, written to `pieces` (rows start, end, holder or -1 for none, holder start, end); their number.
    rows = removed[first[source] : first[source] + count[source]]
    n = 0
    cursor = start
    low, high = 0, len(rows)  # the first row starting at or after `start` (a binary search), less one
    while low < high:
        middle = (low + high) >> 1
        if rows[middle, 0] < start:
            low = middle + 1
        else:
            high = middle
    begin = max(0, low - 1)
    own = -1 if dropped[source] else source
    for r in range(begin, len(rows)):
        r_start, r_end = rows[r, 0], rows[r, 1]
        if r_start >= end:
            break
        if r_end <= cursor:
            continue
        if r_start > cursor:
            pieces[n, 0], pieces[n, 1], pieces[n, 2], pieces[n, 3], pieces[n, 4] = cursor, r_start, own, cursor, r_start
            n += 1
        lo, hi = max(r_start, cursor), min(r_end, end)
        mapped_lo = _scale(lo, r_start, r_end, rows[r, 3], rows[r, 4])
        mapped_hi = _scale(hi, r_start, r_end, rows[r, 3], rows[r, 4])
        pieces[n, 0], pieces[n, 1], pieces[n, 2] = lo, hi, rows[r, 2]
        pieces[n, 3], pieces[n, 4] = mapped_lo, max(mapped_hi, mapped_lo + 1)
        n += 1
        cursor = hi
    if cursor < end:
        pieces[n, 0], pieces[n, 1], pieces[n, 2], pieces[n, 3], pieces[n, 4] = cursor, end, own, cursor, end
        n += 1
    return n


@numba.njit(cache=True, nogil=True)
def credit_walk(
    order: Any,
    rank: Any,
    counts: Any,
    bounds: Any,
    by_doc: Any,
    partner: Any,
    partner_rank: Any,
    link_a: Any,
    starts: Any,
    regions: Any,
    fixed: Any,
    fixed_dropped: Any,
    min_passage: int,
) -> Any:
    """`reprints.decide.keep.decide`'s walk of the ranking, for every document of `order`: the passages it loses
    to earlier documents (`_credits`), sorted. A document left with fewer than `min_passage` tokens is dropped:
    what it kept of its own is then held by nobody when a later document's credit passes through it.

    A document of `fixed` (an unreadable or empty one) loses nothing and is dropped where `fixed_dropped`.

    Returns:
        `(removed, total, first, count)`: document `d`'s rows (start, end, source, source start, source end) are
        `removed[first[d]:first[d] + count[d]]` (rows past `total` unused).
    """
    size = len(counts)
    first = np.zeros(size, dtype=np.int64)
    count = np.zeros(size, dtype=np.int64)
    dropped = np.zeros(size, dtype=np.bool_)
    removed = np.empty((1024, 5), dtype=np.int64)
    total = 0
    cov_starts = np.empty(64, dtype=np.int64)
    cov_ends = np.empty(64, dtype=np.int64)
    local = np.empty((64, 5), dtype=np.int64)
    runs = np.empty((64, 2), dtype=np.int64)
    pieces = np.empty((64, 5), dtype=np.int64)
    mine = np.empty((16, 4), dtype=np.int64)
    earlier = np.empty(16, dtype=np.int64)
    for doc in order:
        first[doc] = total
        lo, hi = bounds[doc], bounds[doc + 1]
        if fixed[doc]:
            dropped[doc] = fixed_dropped[doc]
            continue
        if lo == hi:
            continue
        tokens = counts[doc]
        rank_doc = rank[doc]
        # Earlier documents' links first, by their rank; a document's links in link order (a stable sort).
        if earlier.shape[0] < hi - lo:
            earlier = np.empty(2 * (hi - lo), dtype=np.int64)
        m = 0
        for i in range(lo, hi):
            if partner_rank[i] < rank_doc:
                j = m
                while j > 0 and partner_rank[earlier[j - 1]] > partner_rank[i]:
                    earlier[j] = earlier[j - 1]
                    j -= 1
                earlier[j] = i
                m += 1
        n_cov = 0
        n_local = 0
        for e in range(m):
            i = earlier[e]
            row = by_doc[i]
            source = partner[i]
            source_tokens = counts[source]
            n_regions = starts[row + 1] - starts[row]
            if n_regions > mine.shape[0]:
                mine = np.empty((2 * n_regions, 4), dtype=np.int64)
            doc_first = link_a[row] == doc
            for k in range(n_regions):
                region = regions[starts[row] + k]
                if doc_first:
                    mine[k, 0], mine[k, 1], mine[k, 2], mine[k, 3] = region[0], region[1], region[2], region[3]
                else:
                    mine[k, 0], mine[k, 1], mine[k, 2], mine[k, 3] = region[2], region[3], region[0], region[1]
            _sort_rows(mine, n_regions)
            for k in range(n_regions):
                d_start, d_end, s_start, s_end = mine[k, 0], mine[k, 1], mine[k, 2], mine[k, 3]
                if runs.shape[0] < n_cov + 2:
                    runs = np.empty((2 * n_cov + 2, 2), dtype=np.int64)
                n_runs = _free(cov_starts, cov_ends, n_cov, d_start, min(d_end, tokens), runs)
                for f in range(n_runs):
                    free_start, free_end = runs[f, 0], runs[f, 1]
                    g_start = _scale(free_start, d_start, d_end, s_start, s_end)
                    g_end = max(_scale(free_end, d_start, d_end, s_start, s_end), g_start + 1)
                    g_end = min(g_end, source_tokens)
                    if g_start >= g_end:
                        continue
                    need = 2 * count[source] + 2
                    if pieces.shape[0] < need:
                        pieces = np.empty((2 * need, 5), dtype=np.int64)
                    n_pieces = _resolve(removed, first, count, dropped, source, g_start, g_end, pieces)
                    for p in range(n_pieces):
                        holder = pieces[p, 2]
                        e_start = _scale(pieces[p, 0], g_start, g_end, free_start, free_end)
                        e_end = _scale(pieces[p, 1], g_start, g_end, free_start, free_end)
                        if holder < 0 or e_end <= e_start:
                            continue
                        local = _grown(local, n_local + 1)
                        local[n_local, 0], local[n_local, 1], local[n_local, 2] = e_start, e_end, holder
                        local[n_local, 3], local[n_local, 4] = pieces[p, 3], pieces[p, 4]
                        n_local += 1
                        if cov_starts.shape[0] < n_cov + 1:
                            cov_starts = np.concatenate((cov_starts, np.empty(len(cov_starts), dtype=np.int64)))
                            cov_ends = np.concatenate((cov_ends, np.empty(len(cov_ends), dtype=np.int64)))
                        n_cov = _cover(cov_starts, cov_ends, n_cov, e_start, e_end)
        _sort_rows(local, n_local)
        removed = _grown(removed, total + n_local)
        kept = tokens
        for k in range(n_local):
            for column in range(5):
                removed[total + k, column] = local[k, column]
            kept -= local[k, 1] - local[k, 0]
        count[doc] = n_local
        total += n_local
        dropped[doc] = n_local > 0 and kept < min_passage
    return removed, total, first, count
