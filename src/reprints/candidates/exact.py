"""Exact copies: documents whose normalized texts are equal, found by their whole-document hash."""

from __future__ import annotations

from collections.abc import Container

import numpy as np

from reprints.fingerprint.hashing import U64
from reprints.normalize.tokens import I64


def exact_groups(doc_hashes: U64, token_counts: I64, unreadable: Container[int]) -> tuple[I64, list[list[int]]]:
    """Group documents with equal normalized texts.

    Returns:
        For each document its representative (the first document of its group, itself if alone), and the
        groups of two or more documents, each sorted, ordered by first member. Empty and unreadable
        documents are never grouped.
    """
    size = len(doc_hashes)
    representative = np.arange(size, dtype=np.int64)
    eligible = np.array([token_counts[d] > 0 and d not in unreadable for d in range(size)], dtype=np.bool_)
    docs = np.flatnonzero(eligible)
    if len(docs) == 0:
        return representative, []
    order = np.lexsort((docs, doc_hashes[docs]))
    docs = docs[order]
    hashes = doc_hashes[docs]
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1])))
    sizes = np.diff(np.append(starts, len(docs)))
    representative[docs] = np.repeat(docs[starts], sizes)
    groups = [docs[s : s + n].tolist() for s, n in zip(starts, sizes, strict=True) if n > 1]
    return representative, sorted(groups)
