"""Keep-first deduplication at passage level.

Documents are ranked: standalone documents before the pages that contain another document, then by the
`order_by` field when one is given, then input order. Walking the ranking, each document loses every passage
it shares with a document ranked before it; what is left decides `keep`, `trim` or `drop`.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reprints.decide.links import Link
from reprints.types import DecisionKind

RemovedTokens = tuple[int, int, int, int, int]  # start, end, source doc, source start, source end (tokens)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one document, in token space (the write stage turns tokens into characters)."""

    decision: DecisionKind
    reason: str
    duplicate_of: int | None
    removed: tuple[RemovedTokens, ...]


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (3, "")
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def ranking(size: int, links: Sequence[Link], order_values: Mapping[int, Any] | None) -> list[int]:
    """Documents in keep-first order."""
    containers = {link.container for link in links if link.container is not None}
    values = order_values or {}

    def key(doc: int) -> tuple[bool, tuple[int, Any], int]:
        return (doc in containers, _sort_value(values.get(doc)), doc)

    return sorted(range(size), key=key)


def _uncovered(covered: np.ndarray, start: int, end: int) -> list[tuple[int, int]]:
    """Maximal runs of tokens in `start:end` not yet covered."""
    free = ~covered[start:end]
    edges = np.diff(np.concatenate(([False], free, [False])).astype(np.int8))
    return [
        (start + int(s), start + int(e))
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    ]


def removals(doc: int, tokens: int, earlier: Sequence[tuple[int, Link]]) -> list[RemovedTokens]:
    """Passages of `doc` that documents ranked before it hold, each credited to the first such document.

    Args:
        doc: The document.
        tokens: Its number of tokens.
        earlier: `(rank, link)` for each link to a document ranked before `doc`.
    """
    covered = np.zeros(tokens, dtype=np.bool_)
    out: list[RemovedTokens] = []
    for _, link in sorted(earlier, key=lambda item: item[0]):
        source = link.other(doc)
        for start, end, src_start, src_end in sorted(link.regions_from(doc)):
            for free_start, free_end in _uncovered(covered, start, end):
                shift_start, shift_end = free_start - start, end - free_end
                out.append(
                    (
                        free_start,
                        free_end,
                        source,
                        src_start + shift_start,
                        max(src_start + shift_start, src_end - shift_end),
                    )
                )
            covered[start:end] = True
    return sorted(out)


def decide(
    token_counts: Sequence[int],
    errors: Mapping[int, str],
    links: Sequence[Link],
    *,
    min_passage: int,
    order_values: Mapping[int, Any] | None = None,
    boilerplate_only: Container[int] = (),
) -> list[Verdict]:
    """Keep, trim or drop every document.

    Args:
        token_counts: Tokens of each document.
        errors: Read error of each unreadable document.
        links: Every link between documents.
        min_passage: A document left with fewer tokens than this after trimming is dropped.
        order_values: Value of the `order_by` field for each document, if ordering by a field.
        boilerplate_only: Documents whose every word is boilerplate.
    """
    size = len(token_counts)
    order = ranking(size, links, order_values)
    rank = [0] * size
    for position, doc in enumerate(order):
        rank[doc] = position
    by_doc: list[list[Link]] = [[] for _ in range(size)]
    for link in links:
        by_doc[link.a].append(link)
        by_doc[link.b].append(link)
    verdicts: list[Verdict] = []
    for doc in range(size):
        error = errors.get(doc)
        if error is None and token_counts[doc] == 0 and doc in boilerplate_only:
            error = "empty: only boilerplate"
        verdicts.append(_verdict(doc, token_counts[doc], error, by_doc[doc], rank, min_passage))
    return verdicts


def _verdict(doc: int, tokens: int, error: str | None, links: list[Link], rank: list[int], min_passage: int) -> Verdict:
    if error is not None:
        return Verdict("drop", error, None, ())
    if tokens == 0:
        return Verdict("drop", "empty: no words", None, ())
    earlier = [(rank[link.other(doc)], link) for link in links if rank[link.other(doc)] < rank[doc]]
    removed = removals(doc, tokens, earlier)
    if not removed:
        return Verdict("keep", "first copy" if links else "unique", None, ())
    held: dict[int, int] = {}
    for start, end, source, _, _ in removed:
        held[source] = held.get(source, 0) + end - start
    main_source = min(held, key=lambda source: (-held[source], rank[source]))
    left = tokens - sum(held.values())
    if left >= min_passage:
        return Verdict("trim", f"{len(removed)} passage(s) held by earlier documents", None, tuple(removed))
    relation = next(link.relation for link in links if link.other(doc) == main_source)
    reason = {"exact": "exact duplicate", "near_duplicate": "near duplicate"}.get(
        relation, "covered by earlier documents"
    )
    return Verdict("drop", reason, main_source, tuple(removed))
