"""Alignment: matching shingles of candidate pairs chained along diagonals into aligned passages.

Works on a whole batch of pairs at once. For pair `p = (a, b)`, a shingle hash that occurs once in `a` and
once in `b` is a match point `(i, j)`; points on one diagonal `j - i` with gaps of at most `max_gap` tokens
form runs; runs that follow each other in both documents (again within `max_gap`) form a region. Regions
shorter than `min_passage` tokens are dropped, and the survivors are chained once more so that a stray
match inside a passage cannot split it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reprints.fingerprint.hashing import U64, mix64
from reprints.normalize.tokens import I64


@dataclass(frozen=True, slots=True)
class ShingleStore:
    """Shingles of many documents end to end: document `d` owns `shingles[offsets[d]:offsets[d + 1]]`."""

    shingles: U64
    offsets: I64
    unique: npt.NDArray[np.bool_]
    token_counts: I64


@dataclass(frozen=True, slots=True)
class Regions:
    """Aligned passages of a batch of pairs, in token indices: pair `pair[r]` aligns
    tokens `a_start[r]:a_end[r]` of its first document with `b_start[r]:b_end[r]` of its second.
    Sorted by pair, then `a_start`."""

    pair: I64
    a_start: I64
    a_end: I64
    b_start: I64
    b_end: I64

    def select(self, rows: npt.NDArray[np.bool_] | I64) -> Regions:
        """The regions at the given rows (mask or indices)."""
        return Regions(self.pair[rows], self.a_start[rows], self.a_end[rows], self.b_start[rows], self.b_end[rows])


def _empty_regions() -> Regions:
    empty = np.empty(0, dtype=np.int64)
    return Regions(empty, empty, empty, empty, empty)


def _ranges(starts: I64, lengths: I64) -> I64:
    """Concatenation of `arange(s, s + n)` for each start and length."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - first + np.repeat(starts, lengths)


def _side(store: ShingleStore, docs: I64) -> tuple[I64, I64, U64]:
    """Pair number, position and hash of every unique shingle of the given documents."""
    lengths = store.offsets[docs + 1] - store.offsets[docs]
    index = _ranges(store.offsets[docs], lengths)
    pair = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    position = index - np.repeat(store.offsets[docs], lengths)
    keep = store.unique[index]
    return pair[keep], position[keep], store.shingles[index[keep]]


def match_points(store: ShingleStore, a: I64, b: I64) -> tuple[I64, I64, I64]:
    """Match points `(pair, i, j)`: shingle `i` of `a[pair]` equals shingle `j` of `b[pair]`."""
    pair_a, pos_a, hash_a = _side(store, a)
    pair_b, pos_b, hash_b = _side(store, b)
    pair = np.concatenate((pair_a, pair_b))
    position = np.concatenate((pos_a, pos_b))
    hashes = np.concatenate((hash_a, hash_b))
    from_b = np.concatenate((np.zeros(len(pair_a), np.bool_), np.ones(len(pair_b), np.bool_)))
    order = np.argsort(hashes ^ mix64(pair.astype(np.uint64)), kind="stable")
    pair, position, hashes, from_b = pair[order], position[order], hashes[order], from_b[order]
    hit = np.flatnonzero((hashes[1:] == hashes[:-1]) & (pair[1:] == pair[:-1]) & (from_b[1:] != from_b[:-1]))
    first_is_a = ~from_b[hit]
    i = np.where(first_is_a, position[hit], position[hit + 1])
    j = np.where(first_is_a, position[hit + 1], position[hit])
    return pair[hit], i, j


def runs(pair: I64, i: I64, j: I64, *, shingle_size: int, max_gap: int) -> Regions:
    """Match points on one diagonal, at most `max_gap` tokens apart, joined into runs (token extents)."""
    if len(pair) == 0:
        return _empty_regions()
    diagonal = j - i
    order = np.lexsort((i, diagonal, pair))
    pair, i, diagonal = pair[order], i[order], diagonal[order]
    new = np.ones(len(pair), dtype=np.bool_)
    new[1:] = (pair[1:] != pair[:-1]) | (diagonal[1:] != diagonal[:-1]) | (i[1:] - i[:-1] > max_gap + shingle_size)
    starts = np.flatnonzero(new)
    last = np.append(starts[1:], len(pair)) - 1
    a_start, a_end = i[starts], i[last] + shingle_size
    return Regions(pair[starts], a_start, a_end, a_start + diagonal[starts], a_end + diagonal[starts])


def chain(parts: Regions, *, max_gap: int) -> tuple[Regions, I64]:
    """Join parts that follow each other in both documents into regions.

    Returns:
        The regions and, for each part, the number of the region it joined.
    """
    if len(parts.pair) == 0:
        return parts, np.empty(0, dtype=np.int64)
    order = np.lexsort((parts.b_start, parts.a_start, parts.pair))
    p = parts.select(order)
    new = np.ones(len(p.pair), dtype=np.bool_)
    new[1:] = (
        (p.pair[1:] != p.pair[:-1])
        | (p.a_start[1:] - p.a_end[:-1] > max_gap)
        | (p.b_start[1:] - p.b_end[:-1] > max_gap)
        | (p.b_start[1:] < p.b_start[:-1])
    )
    region = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    out = Regions(
        p.pair[starts],
        np.minimum.reduceat(p.a_start, starts),
        np.maximum.reduceat(p.a_end, starts),
        np.minimum.reduceat(p.b_start, starts),
        np.maximum.reduceat(p.b_end, starts),
    )
    region_of_part = np.empty(len(order), dtype=np.int64)
    region_of_part[order] = region
    return out, region_of_part


def _long_enough(regions: Regions, min_passage: int) -> npt.NDArray[np.bool_]:
    return np.minimum(regions.a_end - regions.a_start, regions.b_end - regions.b_start) >= min_passage


def align(store: ShingleStore, a: I64, b: I64, *, shingle_size: int, min_passage: int, max_gap: int) -> Regions:
    """Aligned passages of the pairs `(a[p], b[p])`, at least `min_passage` tokens long on both sides."""
    pair, i, j = match_points(store, a, b)
    parts = runs(pair, i, j, shingle_size=shingle_size, max_gap=max_gap)
    first, region_of_part = chain(parts, max_gap=max_gap)
    survivors = parts.select(_long_enough(first, min_passage)[region_of_part])
    final, _ = chain(survivors, max_gap=max_gap)
    return final.select(_long_enough(final, min_passage))


def coverage(regions: Regions, pairs: int) -> tuple[I64, I64]:
    """Tokens of each side covered by the union of its regions, per pair (as counts)."""
    return (
        _union_length(regions.pair, regions.a_start, regions.a_end, pairs),
        _union_length(regions.pair, regions.b_start, regions.b_end, pairs),
    )


def _union_length(group: I64, start: I64, end: I64, groups: int) -> I64:
    """Length of the union of intervals `[start, end)` within each group."""
    out = np.zeros(groups, dtype=np.int64)
    if len(group) == 0:
        return out
    order = np.lexsort((start, group))
    group, start, end = group[order], start[order], end[order]
    stride = np.int64(int(end.max()) + 1)
    running = np.maximum.accumulate(group * stride + end) - group * stride
    previous = np.empty_like(running)
    previous[0] = -1
    previous[1:] = running[:-1]
    previous[np.flatnonzero(np.diff(group)) + 1] = -1
    added = np.maximum(0, end - np.maximum(start, previous))
    np.add.at(out, group, added)
    return out
