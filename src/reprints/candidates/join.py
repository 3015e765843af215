"""Candidate pairs: documents that share anchors, found by grouping anchors by hash.

An anchor held by more than `anchor_df_cap` documents is boilerplate or a stock phrase; it is dropped so
that the join never grows quadratically with the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reprints.fingerprint.hashing import U64
from reprints.normalize.tokens import I64


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate pairs `(a[i], b[i])` with `a[i] < b[i]`, sorted, and how many anchors each pair shares."""

    a: I64
    b: I64
    shared: I64
    capped_anchors: int


def join_anchors(docs: I64, hashes: U64, *, anchor_df_cap: int) -> Candidates:
    """Pairs of documents that share at least one anchor held by at most `anchor_df_cap` documents.

    Args:
        docs: Document number of each anchor row (any order; repeated rows are ignored).
        hashes: Anchor hash of each row.
        anchor_df_cap: Anchors held by more documents than this are ignored.
    """
    order = np.lexsort((docs, hashes))
    docs, hashes = docs[order], hashes[order]
    distinct = np.ones(len(docs), dtype=np.bool_)
    distinct[1:] = (docs[1:] != docs[:-1]) | (hashes[1:] != hashes[:-1])
    docs, hashes = docs[distinct], hashes[distinct]
    group_start = np.ones(len(hashes), dtype=np.bool_)
    group_start[1:] = hashes[1:] != hashes[:-1]
    group_id = np.cumsum(group_start) - 1
    sizes = np.bincount(group_id) if len(group_id) else np.empty(0, dtype=np.int64)
    row_size = sizes[group_id]
    usable = (row_size >= 2) & (row_size <= anchor_df_cap)
    capped = int(np.count_nonzero(sizes > anchor_df_cap))
    docs, group_id = docs[usable], group_id[usable]
    firsts, seconds = [], []
    for step in range(1, int(row_size[usable].max(initial=1))):
        same = np.flatnonzero(group_id[step:] == group_id[:-step])
        firsts.append(docs[same])
        seconds.append(docs[same + step])
    if not firsts:
        empty = np.empty(0, dtype=np.int64)
        return Candidates(empty, empty, empty, capped)
    keys = np.concatenate(firsts) * np.int64(2**32) + np.concatenate(seconds)
    pair_keys, shared = np.unique(keys, return_counts=True)
    return Candidates(pair_keys // 2**32, pair_keys % 2**32, shared.astype(np.int64), capped)
