"""Which candidates of a query can align with it: a necessary condition, checked on what the index stores.

Most candidates of a query share an anchor with it and little more (a common phrase): aligning them finds no
passage, yet each would be unpacked, fingerprinted and aligned. A passage (`reprints.align.chain`) is made of
match points, a shingle of one document equal to a shingle of the other, and the positions of its points in
either document, sorted, are never more than `shingle_size + max_gap` apart: the points of a run are within that
of each other on their diagonal, and a part chained to the one before starts at most `max_gap` tokens after that
part ends and never before it starts. So a passage spans no more than the chain of such positions it lies in,
from the first position to the last one's shingle end.

The sieve takes each candidate's shingles as `fingerprint_tokens` makes them (of its tokens without its
boilerplate lines), finds those whose hash shares its top `TOP_BITS` bits with a shingle of the query's
(alignment compares more bits than that, so every match point is among them), chains their positions with that
gap, and keeps a candidate where a chain spans the pair's shortest passage (`shortest_for`). A candidate left
out aligns no passage: the query's answer is the same without it. Exact copies of the query are never sieved
(they are linked whole, not aligned).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from reprints.align.chain import shortest_for
from reprints.config import Config
from reprints.fingerprint.corpus import TokenBatch, boilerplate_lines, members
from reprints.fingerprint.hashing import POLY_BASE, U64, powers
from reprints.fingerprint.kernels import compiled_sieve
from reprints.fingerprint.shingles import shingle_hashes
from reprints.index.packing import StoredTokens, token_hashes
from reprints.io.arrays import offsets_of, ranges
from reprints.normalize.tokens import I64

TOP_BITS = 32  # of a shingle hash, compared: alignment compares 64 less its batch's document bits (never 32 more)
COMPILED_FROM = 20_000  # candidates' tokens from which the compiled kernel is worth loading (`reprints.kernels`)


def alignable(
    query: TokenBatch,
    query_site: int,
    stored: Sequence[StoredTokens],
    line_tokens: Sequence[bytes],
    sites: Sequence[int],
    boilerplate: U64 | None,
    config: Config,
) -> npt.NDArray[np.bool_]:
    """Which stored documents can align a passage with the query (see the module's description).

    Args:
        query: The query's tokens (one document).
        query_site: Its site, for its boilerplate lines.
        stored: The candidates' packed tokens, as `unpack_tokens` takes them.
        line_tokens: Each candidate's tokens per line (int64 each; its lines hold its tokens in order).
        sites: Each candidate's site, for its boilerplate lines.
        boilerplate: The learned boilerplate line keys (sorted), or None.
        config: The index's parameters.
    """
    k, gap = config.fingerprint.shingle_size, config.align.max_gap
    seed = config.fingerprint.seed
    query_hashes, query_count = _without_boilerplate(
        query.hashes,
        query.token_counts,
        query.line_hashes,
        np.full(len(query.line_hashes), query_site, dtype=np.int64),
        query.line_docs,
        query.line_token_start + offsets_of(query.token_counts)[query.line_docs],
        query.line_token_end - query.line_token_start,
        boilerplate,
    )
    counts = np.array([row[0] for row in stored], dtype=np.int64)
    lines = np.array([len(row[3]) // 8 for row in stored], dtype=np.int64)
    line_counts = np.frombuffer(b"".join(line_tokens), dtype="<i8").astype(np.int64)
    line_docs = np.repeat(np.arange(len(stored), dtype=np.int64), lines)
    # Line `i` of document `d` starts where `d`'s tokens start, after the tokens of `d`'s lines before it.
    before = offsets_of(line_counts)
    line_starts = offsets_of(counts)[line_docs] + before[:-1] - before[offsets_of(lines)[line_docs]]
    # (a document whose lines do not hold all its tokens, which tokenizing never makes, is kept unsieved)
    tiled = np.bincount(line_docs, weights=line_counts, minlength=len(stored)).astype(np.int64) == counts
    sieved = tiled[line_docs]
    hashes, kept_counts = _without_boilerplate(
        token_hashes(stored),
        counts,
        np.frombuffer(b"".join(row[3] for row in stored), dtype="<u8").astype(np.uint64)[sieved],
        np.asarray(sites, dtype=np.int64)[line_docs[sieved]],
        line_docs[sieved],
        line_starts[sieved],
        line_counts[sieved],
        boilerplate,
    )
    shorter = np.minimum(int(query_count[0]), kept_counts)
    need = np.maximum(shortest_for(shorter, shingle_size=k, min_passage=config.align.min_passage), 1)
    offsets = offsets_of(kept_counts)
    if len(hashes) >= COMPILED_FROM:
        can = compiled_sieve(query_hashes, hashes, offsets, powers(POLY_BASE, k), seed, TOP_BITS, k + gap, need)
    else:
        can = _chained(query_hashes, hashes, offsets, k, gap, seed) >= need
    return np.asarray(can | ~tiled, dtype=np.bool_)


def _chained(query: U64, hashes: U64, token_offsets: I64, k: int, gap: int, seed: int) -> I64:
    """Of each document (token hashes `hashes[token_offsets[d]:token_offsets[d + 1]]`), how many tokens its
    longest chain of the query's shingles spans (0: none of them), with NumPy (`compiled_sieve` decides the same)."""
    shift = np.uint64(64 - TOP_BITS)
    query_shingles, _ = shingle_hashes(query, np.array([0, len(query)], dtype=np.int64), k, seed)
    shingles, offsets = shingle_hashes(hashes, token_offsets, k, seed)
    rows = np.flatnonzero(members(shingles >> shift, np.unique(query_shingles >> shift)))
    doc = np.searchsorted(offsets, rows, side="right") - 1
    position = rows - offsets[doc]
    new = np.ones(len(rows), dtype=np.bool_)
    new[1:] = (doc[1:] != doc[:-1]) | (position[1:] - position[:-1] > k + gap)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(rows)) - 1
    longest = np.zeros(len(token_offsets) - 1, dtype=np.int64)
    if len(rows):
        np.maximum.at(longest, doc[starts], position[ends] + k - position[starts])
    return longest


def _without_boilerplate(
    hashes: U64,
    counts: I64,
    line_hashes: U64,
    line_sites: I64,
    line_docs: I64,
    line_starts: I64,
    line_counts: I64,
    boilerplate: U64 | None,
) -> tuple[U64, I64]:
    """The documents' token hashes (`counts` each, one after another) without the tokens of their boilerplate
    lines (line `i` holds `line_counts[i]` tokens from `hashes[line_starts[i]]`), and how many each keeps: the
    tokens `fingerprint_tokens` shingles."""
    if boilerplate is None or not len(boilerplate) or not len(line_hashes):
        return hashes, counts
    hit = boilerplate_lines(line_hashes, line_sites, boilerplate)
    if not line_counts[hit].any():
        return hashes, counts
    keep = np.ones(len(hashes), dtype=np.bool_)
    keep[ranges(line_starts[hit], line_counts[hit])] = False
    dropped = np.bincount(line_docs[hit], weights=line_counts[hit], minlength=len(counts)).astype(np.int64)
    return hashes[keep], counts - dropped
