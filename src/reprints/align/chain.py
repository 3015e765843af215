"""Alignment: matching shingles of candidate pairs chained along diagonals into aligned passages.

Works on a whole batch of pairs at once. For pair `p = (a, b)`, a shingle hash at position `i` of `a` and
`j` of `b` is a match point `(i, j)` (a shingle repeated in a document gives a point for each occurrence,
so a passage carried twice aligns twice); points on one diagonal `j - i` with gaps of at most `max_gap`
tokens form runs; runs that follow each other in both documents (again within `max_gap`, never going back
in either) form a region. Regions
shorter than `min_passage` tokens are dropped, and the survivors are chained once more so that a stray
match inside a passage cannot split it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reprints.fingerprint.hashing import U64, doc_keys
from reprints.io.arrays import drop_pages, offsets_of, ranges, read_rows
from reprints.normalize.tokens import I64


@dataclass(frozen=True, slots=True)
class MatchIndex:
    """Every document's matchable shingles, sorted by `(document, hash)` into one array of keys.

    Document `d` owns rows `offsets[d]:offsets[d + 1]`. A key holds the document number in its top
    `doc_bits` bits and the top bits of the shingle hash below, so looking a shingle of one document up
    in another is one binary search in `keys`. `positions` are shingle positions within their document.
    """

    keys: U64
    positions: npt.NDArray[np.int32]
    offsets: I64
    token_counts: I64
    doc_bits: int
    doc_hashes: U64  # each document's exact-text hash: with its token count, which side of a pair is aligned first

    @staticmethod
    def keys_for(hashes: U64, counts: I64, first_doc: int, doc_bits: int) -> U64:
        """Keys of match-table rows: `counts[i]` rows of document `first_doc + i`, each sorted by hash."""
        return doc_keys(hashes, counts, first_doc, doc_bits)


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


MATCH_CHUNK = 4096  # pairs whose match points the NumPy path finds from one read of their documents' rows
# Pairs the alignment takes from one read of their documents' rows: an alignment batch (`--batch-pairs`, 16,000 by
# default) reads each of its documents' rows once; the compiled pass holds one pair's match points at a time.
ALIGN_CHUNK = 16_384
CHUNK_ROWS = 4_000_000  # rows (12 bytes each) one chunk reads at most: fewer pairs when their documents are long
COMPILED_FROM = 20_000  # query rows in one chunk of pairs from which the compiled kernel is worth loading


@dataclass(frozen=True, slots=True)
class _Chunk:
    """The rows of a chunk of pairs' documents, read from the index and renumbered: document `local_a[p]` of the
    chunk owns rows `offsets[d]:offsets[d + 1]` of `keys` and `positions`."""

    docs: I64
    keys: U64
    positions: npt.NDArray[np.int32]
    offsets: I64
    local_a: I64
    local_b: I64

    @staticmethod
    def read(index: MatchIndex, a: I64, b: I64, docs: I64) -> _Chunk:
        """The chunk of the pairs `(a[p], b[p])`, whose documents are `docs` (sorted, distinct)."""
        doc_starts, doc_stops = np.asarray(index.offsets[docs]), np.asarray(index.offsets[docs + 1])
        keys = read_rows(index.keys, doc_starts, doc_stops)  # the chunk's documents' rows, renumbered 0..len(docs)
        positions = read_rows(index.positions, doc_starts, doc_stops)
        offsets = offsets_of(doc_stops - doc_starts)
        return _Chunk(docs, keys, positions, offsets, np.searchsorted(docs, a), np.searchsorted(docs, b))

    def query_rows(self) -> int:
        """How many rows the pairs look up: each pair's smaller document's."""
        count_a = self.offsets[self.local_a + 1] - self.offsets[self.local_a]
        count_b = self.offsets[self.local_b + 1] - self.offsets[self.local_b]
        return int(np.minimum(count_a, count_b).sum())


def _chunks(index: MatchIndex, a: I64, b: I64, most: int) -> Iterator[tuple[int, int, I64]]:
    """`(start, stop, docs)`: the pairs `start:stop`, at most `most` of them, and their documents (sorted,
    distinct), whose rows in the index number at most CHUNK_ROWS unless the range is one pair: what one read of the
    index brings in."""
    for start in range(0, len(a), most):
        yield from _within_rows(index, a, b, start, min(start + most, len(a)))


def _within_rows(index: MatchIndex, a: I64, b: I64, start: int, stop: int) -> Iterator[tuple[int, int, I64]]:
    docs = np.unique(np.concatenate((a[start:stop], b[start:stop])))
    rows = int((np.asarray(index.offsets[docs + 1]) - np.asarray(index.offsets[docs])).sum())
    if rows <= CHUNK_ROWS or stop - start == 1:
        yield start, stop, docs
        return
    middle = (start + stop) // 2
    yield from _within_rows(index, a, b, start, middle)
    yield from _within_rows(index, a, b, middle, stop)


def match_points(index: MatchIndex, a: I64, b: I64) -> tuple[I64, I64, I64]:
    """Match points `(pair, i, j)`: shingle `i` of `a[pair]` equals shingle `j` of `b[pair]`.

    The smaller document of each pair is looked up in the larger one, so a pair costs
    `2 * min(len(a), len(b))` binary searches; a shingle found several times gives a point for each. Pairs are
    looked up `MATCH_CHUNK` at a time (fewer when their documents have more than CHUNK_ROWS rows), in their
    documents' rows read from the index (`read_rows`: a mapped index would become resident in each worker, a page
    fault mapping a whole page-cache folio).
    """
    pairs, firsts, seconds = [], [], []
    for start, stop, docs in _chunks(index, a, b, MATCH_CHUNK):
        chunk = _Chunk.read(index, a[start:stop], b[start:stop], docs)
        pair, i, j = _match_points(chunk, index.doc_bits)
        pairs.append(pair + start)
        firsts.append(i)
        seconds.append(j)
    if not pairs:
        return _no_points()
    drop_pages(index.offsets)
    return np.concatenate(pairs), np.concatenate(firsts), np.concatenate(seconds)


def _no_points() -> tuple[I64, I64, I64]:
    empty = np.empty(0, dtype=np.int64)
    return empty, empty, empty


def _match_points(chunk: _Chunk, doc_bits: int) -> tuple[I64, I64, I64]:
    docs, keys, positions, offsets = chunk.docs, chunk.keys, chunk.positions, chunk.offsets
    local_a, local_b = chunk.local_a, chunk.local_b
    count_a, count_b = offsets[local_a + 1] - offsets[local_a], offsets[local_b + 1] - offsets[local_b]
    query_is_a = count_a <= count_b
    query = np.where(query_is_a, local_a, local_b)
    target = np.where(query_is_a, local_b, local_a)
    lengths = np.where(query_is_a, count_a, count_b)
    rows = ranges(offsets[query], lengths)
    pair = np.repeat(np.arange(len(local_a), dtype=np.int64), lengths)
    shift = np.uint64(64 - doc_bits)
    low_bits = keys[rows] & ((np.uint64(1) << shift) - np.uint64(1))
    target_of_row = target[pair]
    wanted = (docs[target_of_row].astype(np.uint64) << shift) | low_bits  # keys hold the corpus's numbers
    first, found = lookup_in_ranges(keys, wanted)
    pair, query_pos = np.repeat(pair, found), np.repeat(positions[rows].astype(np.int64), found)
    target_pos = positions[ranges(first, found)].astype(np.int64)  # int64, as the compiled path gives
    from_a = query_is_a[pair]
    return pair, np.where(from_a, query_pos, target_pos), np.where(from_a, target_pos, query_pos)


def lookup_in_ranges(keys: U64, wanted: U64) -> tuple[I64, I64]:
    """For each wanted key, its first row in the sorted `keys` and how many rows hold it, with NumPy over all of
    `keys`, searching the wanted keys in sorted order (each binary search then starts near the last one, in
    memory the previous search brought in)."""
    order = np.argsort(wanted, kind="stable")
    ordered = wanted[order]
    first_sorted = np.searchsorted(keys, ordered, side="left")
    found_sorted = np.searchsorted(keys, ordered, side="right") - first_sorted
    first = np.empty(len(wanted), dtype=np.int64)
    found = np.empty(len(wanted), dtype=np.int64)
    first[order] = first_sorted
    found[order] = found_sorted
    return first, found


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


def chain(parts: Regions, *, max_gap: int, overlap: int = 0) -> tuple[Regions, I64]:
    """Join parts that follow each other in both documents into regions.

    A part joins the region of the part before it (in `a` order) when it starts at most `max_gap` tokens
    after that part ends in both documents and goes back by at most `overlap` tokens in neither: the second
    occurrence of a repeated passage is a region of its own. A part that ends no further on than the part before
    it in one document (a repeated phrase matching tokens that part already aligned) is set aside before chaining:
    joined, it would stretch the region over text the other document does not have; left in place, it would cut
    the passage it sits in. The parts set aside are chained among themselves (their own regions).

    Returns:
        The regions, sorted by pair then `a_start`, and for each part the number of the region it joined.
    """
    if len(parts.pair) == 0:
        return parts, np.empty(0, dtype=np.int64)
    order = np.lexsort((parts.b_start, parts.a_start, parts.pair))
    p = parts.select(order)
    kept = _advancing(p)
    if kept.all():
        regions, region = _chained(p, max_gap=max_gap, overlap=overlap)
    else:
        main, main_region = _chained(p.select(kept), max_gap=max_gap, overlap=overlap)
        aside, aside_region = chain(p.select(~kept), max_gap=max_gap, overlap=overlap)
        both = Regions(*(np.concatenate((getattr(main, f), getattr(aside, f))) for f in Regions.__slots__))
        by_pair = np.lexsort((both.b_start, both.a_start, both.pair))
        regions = both.select(by_pair)
        renumbered = np.empty(len(by_pair), dtype=np.int64)
        renumbered[by_pair] = np.arange(len(by_pair))
        region = np.empty(len(p.pair), dtype=np.int64)
        region[kept] = renumbered[main_region]
        region[~kept] = renumbered[aside_region + len(main.pair)]
    region_of_part = np.empty(len(order), dtype=np.int64)
    region_of_part[order] = region
    return regions, region_of_part


def _advancing(p: Regions) -> npt.NDArray[np.bool_]:
    """The parts (sorted by pair, `a_start`, `b_start`) that end further on in both documents than the kept part
    before them: the others are set aside, one at a time from the first of each run, until none is left."""
    kept = np.ones(len(p.pair), dtype=np.bool_)
    while True:
        rows = np.flatnonzero(kept)
        q = p.select(rows)
        behind = np.zeros(len(rows), dtype=np.bool_)
        behind[1:] = (q.pair[1:] == q.pair[:-1]) & ((q.a_end[1:] <= q.a_end[:-1]) | (q.b_end[1:] <= q.b_end[:-1]))
        first = behind.copy()
        first[1:] &= ~behind[:-1]  # only the first of a run: the next is judged against the part kept before it
        if not first.any():
            return kept
        kept[rows[first]] = False


def _chained(p: Regions, *, max_gap: int, overlap: int) -> tuple[Regions, I64]:
    """Regions of parts sorted by pair, `a_start`, `b_start` (see `chain`), and the region of each part."""
    new = np.ones(len(p.pair), dtype=np.bool_)
    new[1:] = (
        (p.pair[1:] != p.pair[:-1])
        | (p.a_start[1:] - p.a_end[:-1] > max_gap)
        | (p.b_start[1:] - p.b_end[:-1] > max_gap)
        | (p.b_start[1:] < p.b_start[:-1])
        | (p.b_start[1:] < p.b_end[:-1] - overlap)
        | (p.a_start[1:] < p.a_end[:-1] - overlap)
    )
    starts = np.flatnonzero(new)
    regions = Regions(
        p.pair[starts],
        np.minimum.reduceat(p.a_start, starts),
        np.maximum.reduceat(p.a_end, starts),
        np.minimum.reduceat(p.b_start, starts),
        np.maximum.reduceat(p.b_end, starts),
    )
    return regions, np.cumsum(new) - 1


SHORT_DOCUMENT_SHARE = 0.8  # a passage this share of a short document long counts even under min_passage


def shortest_passage(index: MatchIndex, a: I64, b: I64, *, shingle_size: int, min_passage: int) -> I64:
    """The shortest passage each pair reports: `min_passage` tokens, or, when one side is shorter than that
    (a news brief), most of that side (`SHORT_DOCUMENT_SHARE`), never under two shingles."""
    shorter = np.minimum(index.token_counts[a], index.token_counts[b])
    return shortest_for(shorter, shingle_size=shingle_size, min_passage=min_passage)


def shortest_for(shorter: I64, *, shingle_size: int, min_passage: int) -> I64:
    """`shortest_passage` of pairs whose shorter side has `shorter` tokens."""
    relaxed = np.maximum(2 * shingle_size, np.ceil(SHORT_DOCUMENT_SHARE * shorter).astype(np.int64))
    return np.asarray(np.minimum(min_passage, relaxed), dtype=np.int64)


def _long_enough(regions: Regions, shortest: I64) -> npt.NDArray[np.bool_]:
    lengths = np.minimum(regions.a_end - regions.a_start, regions.b_end - regions.b_start)
    return np.asarray(lengths >= shortest[regions.pair], dtype=np.bool_)


def align(index: MatchIndex, a: I64, b: I64, *, shingle_size: int, min_passage: int, max_gap: int) -> Regions:
    """Aligned passages of the pairs `(a[p], b[p])`, at least `min_passage` tokens long on both sides (see
    `shortest_passage` for documents shorter than that).

    Pairs are aligned ALIGN_CHUNK at a time (fewer when their documents have more than CHUNK_ROWS rows), from
    their documents' rows read from the index once (`read_rows`:
    a mapped index would become resident in each worker, a page fault mapping a whole page-cache folio). A chunk
    with many rows to look up takes one compiled pass from rows to passages (`reprints.align.kernels`, the same
    passages), a small one the NumPy path (`_aligned`).
    """
    swapped = _swapped(index, a, b)
    if swapped.any():  # each pair aligned in its canonical order, its regions then turned back
        a, b = np.where(swapped, b, a), np.where(swapped, a, b)
    shortest = shortest_passage(index, a, b, shingle_size=shingle_size, min_passage=min_passage)
    found: list[Regions] = []
    for start, stop, docs in _chunks(index, a, b, ALIGN_CHUNK):
        chunk = _Chunk.read(index, a[start:stop], b[start:stop], docs)
        chunk_shortest = shortest[start:stop]
        if chunk.query_rows() >= COMPILED_FROM:
            from reprints.align.kernels import compiled_align

            regions = Regions(
                *compiled_align(
                    chunk.keys,
                    chunk.positions,
                    chunk.offsets,
                    chunk.local_a,
                    chunk.local_b,
                    index.doc_bits,
                    chunk_shortest,
                    shingle_size=shingle_size,
                    max_gap=max_gap,
                )
            )
        else:
            pair, i, j = _match_points(chunk, index.doc_bits)
            parts = runs(pair, i, j, shingle_size=shingle_size, max_gap=max_gap)
            regions = _aligned(parts, chunk_shortest, shingle_size=shingle_size, max_gap=max_gap)
        found.append(Regions(regions.pair + start, regions.a_start, regions.a_end, regions.b_start, regions.b_end))
    if not found:
        return _empty_regions()
    drop_pages(index.offsets)
    aligned = Regions(*(np.concatenate([getattr(regions, f) for regions in found]) for f in Regions.__slots__))
    if not swapped.any():
        return aligned
    turned = swapped[aligned.pair]
    back = Regions(
        aligned.pair,
        np.where(turned, aligned.b_start, aligned.a_start),
        np.where(turned, aligned.b_end, aligned.a_end),
        np.where(turned, aligned.a_start, aligned.b_start),
        np.where(turned, aligned.a_end, aligned.b_end),
    )
    return back.select(np.lexsort((back.b_start, back.a_start, back.pair)))


def _swapped(index: MatchIndex, a: I64, b: I64) -> npt.NDArray[np.bool_]:
    """The pairs whose documents are aligned the other way round. Chaining follows the first document's order, so
    a pair whose passages cross (one text reorders the other's paragraphs) could align differently with its sides
    swapped: each pair is aligned with its shorter document first (by tokens, then by exact-text hash, a function
    of the texts alone), so that `compare(x, y)` mirrors `compare(y, x)` and a query, which puts itself first,
    finds what `dedup`, which puts the earlier document first, finds."""
    count_a, count_b = index.token_counts[a], index.token_counts[b]
    hash_a, hash_b = index.doc_hashes[a], index.doc_hashes[b]
    return np.asarray((count_a > count_b) | ((count_a == count_b) & (hash_a > hash_b)), dtype=np.bool_)


def _aligned(parts: Regions, shortest: I64, *, shingle_size: int, max_gap: int) -> Regions:
    """The passages of runs: regions chained from the runs, the runs of regions long enough chained again, and
    the regions long enough kept (so that a stray match inside a passage cannot split it)."""
    first, region_of_part = chain(parts, max_gap=max_gap, overlap=shingle_size)
    survivors = parts.select(_long_enough(first, shortest)[region_of_part])
    final, _ = chain(survivors, max_gap=max_gap, overlap=shingle_size)
    return final.select(_long_enough(final, shortest))


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
