"""Shingles (hashes of k consecutive tokens), anchors chosen by winnowing, and whole-document hashes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xxhash
from numpy.lib.stride_tricks import sliding_window_view

from reprints.fingerprint.hashing import POLY_BASE, U64, doc_bits_for, doc_keys, powers, window_hashes
from reprints.fingerprint.kernels import COMPILED_FROM as COMPILED_FROM  # set by `reprints.kernels`
from reprints.fingerprint.kernels import (
    compiled_focus,
    compiled_match_table,
    compiled_shingles,
    compiled_sketches,
    compiled_winnow,
)
from reprints.io.arrays import offsets_of
from reprints.normalize.tokens import I64, Tokens


@dataclass(frozen=True, slots=True)
class Fingerprints:
    """Fingerprints of a batch of documents.

    Document `d` owns shingles `shingle_offsets[d]:shingle_offsets[d + 1]`; shingle `i` of a document
    covers its tokens `i:i + shingle_size`. Anchors are `(anchor_docs[j], anchor_hashes[j])`, one row per
    distinct anchor hash of a document, sorted by document then hash. The match table holds, for each
    document, the first MAX_REPEATS occurrences of each of its shingles, sorted by hash, with their positions:
    alignment matches two documents by looking one's table up in the other's.
    """

    shingles: U64
    shingle_offsets: I64
    anchor_docs: I64
    anchor_hashes: U64
    match_hashes: U64
    match_positions: I64
    match_counts: I64


def shingle(tokens: Tokens, shingle_size: int, seed: int) -> tuple[U64, I64]:
    """Hashes of every run of `shingle_size` tokens inside each document, and per-document offsets."""
    return shingle_hashes(tokens.hashes, tokens.offsets, shingle_size, seed)


def shingle_hashes(hashes: U64, token_offsets: I64, shingle_size: int, seed: int) -> tuple[U64, I64]:
    """`shingle` of documents given as their token hashes (document `d` owns `hashes[token_offsets[d]:
    token_offsets[d + 1]]`)."""
    if len(hashes) >= COMPILED_FROM:
        return compiled_shingles(hashes, token_offsets, powers(POLY_BASE, shingle_size), seed)
    counts = np.diff(token_offsets)
    per_doc = np.maximum(counts - shingle_size + 1, 0)
    offsets = offsets_of(per_doc)
    every = window_hashes(hashes, shingle_size, seed)
    if len(every) == 0:
        return every, offsets
    doc_of_token = np.repeat(np.arange(len(counts)), counts)[: len(every)]
    inside = np.arange(len(every)) + shingle_size <= token_offsets[doc_of_token + 1]
    return every[inside], offsets


def winnow(shingles: U64, offsets: I64, window: int) -> tuple[I64, U64]:
    """Anchors by winnowing: the smallest hash of every window of `window` consecutive shingles.

    Any passage of at least `window` shingles that two documents share is a window both contain, so it
    leaves the same anchor in both. A document with fewer shingles than `window` gets its smallest hash.

    Returns:
        `(docs, hashes)`: distinct anchors of each document, sorted by document then hash.
    """
    if len(shingles) >= COMPILED_FROM:
        return compiled_winnow(shingles, offsets, window)
    counts = np.diff(offsets)
    doc_of_shingle = np.repeat(np.arange(len(counts)), counts)
    chosen_all = _window_minima(shingles, offsets, window, doc_of_shingle)
    docs, hashes = doc_of_shingle[chosen_all], shingles[chosen_all]
    order = np.lexsort((hashes, docs))
    docs, hashes = docs[order], hashes[order]
    distinct = np.ones(len(docs), dtype=np.bool_)
    distinct[1:] = (docs[1:] != docs[:-1]) | (hashes[1:] != hashes[:-1])
    return docs[distinct].astype(np.int64), hashes[distinct]


def _window_minima(shingles: U64, offsets: I64, window: int, doc_of_shingle: I64) -> I64:
    """Positions of the window minima, with NumPy (the kernel `compiled_winnow` finds the same minima)."""
    counts = np.diff(offsets)
    picks = [np.empty(0, dtype=np.int64)]
    if len(shingles) >= window:
        starts = np.arange(len(shingles) - window + 1)
        valid = starts + window <= offsets[doc_of_shingle[starts] + 1]
        chosen = sliding_window_view(shingles, window).argmin(axis=1) + starts
        picks.append(chosen[valid])
    short = np.flatnonzero((counts > 0) & (counts < window))
    if len(short):
        lows = [int(offsets[d]) + int(np.argmin(shingles[offsets[d] : offsets[d + 1]])) for d in short]
        picks.append(np.array(lows, dtype=np.int64))
    return np.concatenate(picks)


def document_hashes(tokens: Tokens, seed: int) -> U64:
    """One 64-bit hash of each document's token sequence: equal exactly when the normalized texts are equal."""
    out = np.empty(len(tokens.offsets) - 1, dtype=np.uint64)
    for doc in range(len(out)):
        lo, hi = int(tokens.offsets[doc]), int(tokens.offsets[doc + 1])
        out[doc] = xxhash.xxh3_64_intdigest(tokens.hashes[lo:hi].tobytes(), seed=seed)
    return out


SKETCH_DOC_BITS = 24  # sketch values are hashes' top 40 bits (batches of up to 16M documents)
SKETCH_SIZE = 16  # smallest shingle hashes kept per document (`sketches`)
SKETCH_SHINGLE = 3
NO_HASH = np.iinfo(np.uint64).max
NO_HASH_INT = int(NO_HASH)


def sketches(tokens: Tokens, seed: int, size: int = SKETCH_SIZE) -> U64:
    """A bottom-k sketch of each document: its `size` smallest distinct hashes of token 3-grams, ascending, padded
    with the largest hash. Two sketches estimate how alike two documents are (`resemblance`) whatever their line
    structure, for telling near-copies of one story from different documents.

    One sort of document-and-hash keys orders every document's hashes at once (a key keeps a hash's top `64 - b`
    bits, `b` the bits numbering the batch's documents); the values kept are the top `64 - SKETCH_DOC_BITS`
    bits of each hash whatever the batch, so sketches of documents read in different batches compare.
    """
    shingles, offsets = shingle(tokens, SKETCH_SHINGLE, seed ^ 0x5CE7C4)
    count = len(offsets) - 1
    out = np.full((count, size), NO_HASH, dtype=np.uint64)
    if len(shingles) == 0:
        return out
    doc_bits = doc_bits_for(count)
    if doc_bits > SKETCH_DOC_BITS:
        raise ValueError(f"a batch of {count:,} documents is too many to sketch at once")
    if len(shingles) >= COMPILED_FROM:
        compiled_sketches(shingles, offsets, doc_bits, SKETCH_DOC_BITS, out)
        return out
    shift = np.uint64(64 - doc_bits)
    keys = doc_keys(shingles, np.diff(offsets), 0, doc_bits)
    keys.sort()
    distinct = np.ones(len(keys), dtype=np.bool_)
    distinct[1:] = keys[1:] != keys[:-1]
    keys = keys[distinct]
    docs = (keys >> shift).astype(np.int64)
    rank = np.arange(len(docs)) - np.searchsorted(docs, docs)
    kept = rank < size
    hashes = keys[kept] & ((np.uint64(1) << shift) - np.uint64(1))  # the hash's top 64 - doc_bits bits
    out[docs[kept], rank[kept]] = hashes >> np.uint64(SKETCH_DOC_BITS - doc_bits)
    return out


def resemblance(sketch_a: Sequence[int], sketch_b: Sequence[int], size: int = SKETCH_SIZE) -> float:
    """Estimated Jaccard resemblance of two documents' 3-gram sets from their sketches (1.0: alike; 0.0 when
    neither has a 3-gram: nothing says they are alike). Sketches as lists of ints (`NO_HASH` padding ignored)."""
    a, b = set(sketch_a), set(sketch_b)
    a.discard(NO_HASH_INT)
    b.discard(NO_HASH_INT)
    union = sorted(a | b)[:size]
    if not union:
        return 0.0
    return sum(1 for value in union if value in a and value in b) / len(union)


def fingerprint(tokens: Tokens, *, shingle_size: int, window: int, seed: int, focus: bool = False) -> Fingerprints:
    """Shingles, anchors and the match table of a tokenized batch (document hashes: `document_hashes`).

    With `focus`, only the first document will be aligned with the others (an index query, `compare`): no
    anchors are chosen, and the others' match tables hold only the rows the first document's can meet
    (`focused_match_table`)."""
    shingles, offsets = shingle(tokens, shingle_size, seed)
    if focus:
        docs, hashes = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
        match_hashes, match_positions, match_counts = focused_match_table(shingles, offsets)
    else:
        docs, hashes = winnow(shingles, offsets, window)
        match_hashes, match_positions, match_counts = match_table(shingles, offsets)
    return Fingerprints(shingles, offsets, docs, hashes, match_hashes, match_positions, match_counts)


# A shingle occurring more often than this in one document (a table, a refrain, a text pasted many times) is
# matched at its first MAX_REPEATS occurrences only: two such documents align at most MAX_REPEATS**2 points of it.
# (It was left out whole: a text repeated 9 times in a page matched nothing, not even its first copy.)
MAX_REPEATS = 8


def match_table(shingles: U64, offsets: I64, max_repeats: int = MAX_REPEATS) -> tuple[U64, I64, I64]:
    """Each document's shingles, each at its first `max_repeats` occurrences in it, sorted by document then
    hash (then position).

    Repeated shingles stay, so a passage a document carries twice (a print and a web version, a repeated
    paragraph) matches at each occurrence; a shingle repeated more often matches at its first `max_repeats`.

    Returns:
        `(hashes, positions, counts)`: the sorted hashes, each one's shingle position within its document,
        and how many each document has.
    """
    if len(shingles) >= COMPILED_FROM:
        return compiled_match_table(shingles, offsets, doc_bits_for(len(offsets) - 1), max_repeats)
    doc_of_shingle = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    # One stable sort of document-and-hash keys (the hash's top bits; positions break ties) orders rows as a
    # sort by document, hash and position does, up to hashes equal in all those bits (which the index, keyed
    # on fewer bits still, treats as equal anyway).
    keys = doc_keys(shingles, np.diff(offsets), 0, doc_bits_for(len(offsets) - 1))
    order = np.argsort(keys, kind="stable")
    ranked_hashes, ranked_docs = shingles[order], doc_of_shingle[order]
    new = np.ones(len(order), dtype=np.bool_)
    new[1:] = (ranked_hashes[1:] != ranked_hashes[:-1]) | (ranked_docs[1:] != ranked_docs[:-1])
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    kept = np.arange(len(group)) - starts[group] < max_repeats if len(group) else np.empty(0, dtype=np.bool_)
    positions = order[kept] - offsets[ranked_docs[kept]]
    counts = np.bincount(ranked_docs[kept], minlength=len(offsets) - 1).astype(np.int64)
    return ranked_hashes[kept], positions.astype(np.int64), counts


FOCUS_BITMAP = 1 << 16  # bits of the first document's sieve (`focused_match_table`)


def focused_match_table(shingles: U64, offsets: I64, max_repeats: int = MAX_REPEATS) -> tuple[U64, I64, I64]:
    """The rows of `match_table` that can match a row of the first document: all of the first document's, and
    of every other document those whose hash shares its top bits (what alignment compares, with the batch's
    document bits) with a shingle of the first. A run of equal hashes is kept or left out whole, so its first
    occurrences are those of the whole table; aligning the first document with another finds the same points.
    Sorting only these rows is what makes a query against its candidates cheap."""
    if len(offsets) <= 2:
        return match_table(shingles, offsets, max_repeats)
    doc_bits = doc_bits_for(len(offsets) - 1)
    if len(shingles) >= COMPILED_FROM:
        keep = compiled_focus(shingles, int(offsets[0]), int(offsets[1]), doc_bits)
    else:
        shift = np.uint64(doc_bits)
        tops = shingles >> shift
        first = np.unique(tops[offsets[0] : offsets[1]])
        # A bitmap of the first document's low bits sifts the rows first (binary searches of every row, in
        # random order, cost more than the sort they spare); the few that pass are searched.
        seen = np.zeros(FOCUS_BITMAP, dtype=np.bool_)
        seen[(first % np.uint64(FOCUS_BITMAP)).astype(np.int64)] = True
        maybe = np.flatnonzero(seen[(tops % np.uint64(FOCUS_BITMAP)).astype(np.int64)])
        at = np.minimum(np.searchsorted(first, tops[maybe]), max(len(first) - 1, 0))
        keep = np.zeros(len(tops), dtype=np.bool_)
        keep[maybe[first[at] == tops[maybe]]] = True
        keep[offsets[0] : offsets[1]] = True
    kept = np.flatnonzero(keep)
    kept_offsets = np.searchsorted(kept, offsets)
    hashes, positions, counts = match_table(shingles[kept], kept_offsets, max_repeats)
    docs = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    positions = kept[kept_offsets[docs] + positions] - offsets[docs]
    return hashes, positions.astype(np.int64), counts
