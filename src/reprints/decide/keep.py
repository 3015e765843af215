"""Keep-first deduplication at passage level, crediting only text that stays in the output.

Walking the ranking (`reprints.decide.rank`), each document loses the passages it shares with documents ranked
before it. A passage is credited to the source it was aligned with only where that source *keeps* the text; where
the source itself lost it to an earlier document, the credit follows on to that document (at the mapped
offsets); where the source lost it to nobody (a dropped source's own few words), the passage stays in the
document. So every removed span names a document that keeps it, and no word is lost by being credited to a
document that is dropped.

A document left with fewer than `min_passage` tokens of its own is dropped, one that lost something is trimmed,
the rest are kept. An exact copy is dropped as a duplicate of its group's canonical member, its text credited
where the canonical's text is kept.
"""

from __future__ import annotations

import bisect
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from reprints.decide.links import Link
from reprints.types import DecisionKind

RemovedTokens = tuple[int, int, int, int, int]  # start, end, source doc, source start, source end (tokens)
Piece = tuple[int, int, int | None, int, int]  # start, end, holder (None: in no output), holder start, end


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one document, in token space (the write stage turns tokens into characters)."""

    decision: DecisionKind
    reason: str
    duplicate_of: int | None
    removed: tuple[RemovedTokens, ...]


def scale(x: int, x0: int, x1: int, y0: int, y1: int) -> int:
    """`x` in `[x0, x1]` mapped linearly onto `[y0, y1]`."""
    if x1 == x0:
        return y0
    return y0 + ((x - x0) * (y1 - y0) * 2 + (x1 - x0)) // (2 * (x1 - x0))


@dataclass(frozen=True, slots=True)
class _Holding:
    """What a decided document holds: its removed ranges (each credited to kept text elsewhere), the rest kept
    unless it was dropped."""

    tokens: int
    removed: tuple[RemovedTokens, ...]
    dropped: bool

    def resolve(self, start: int, end: int, doc: int) -> list[Piece]:
        """Who keeps each part of this document's tokens `start:end`: itself, the document its removed span
        names (at mapped offsets), or nobody."""
        out: list[Piece] = []
        cursor = start
        first = max(0, bisect.bisect_right(self.removed, (start,)) - 1)
        for r_start, r_end, source, s_start, s_end in self.removed[first:]:
            if r_start >= end:
                break
            if r_end <= cursor:
                continue
            if r_start > cursor:
                out.append(self._own(cursor, r_start, doc))
            lo, hi = max(r_start, cursor), min(r_end, end)
            mapped_lo = scale(lo, r_start, r_end, s_start, s_end)
            mapped_hi = scale(hi, r_start, r_end, s_start, s_end)
            out.append((lo, hi, source, mapped_lo, max(mapped_hi, mapped_lo + 1)))
            cursor = hi
        if cursor < end:
            out.append(self._own(cursor, end, doc))
        return out

    def _own(self, start: int, end: int, doc: int) -> Piece:
        return (start, end, None if self.dropped else doc, start, end)


def _uncovered(covered: np.ndarray, start: int, end: int) -> list[tuple[int, int]]:
    """Maximal runs of tokens in `start:end` not yet covered."""
    free = ~covered[start:end]
    edges = np.diff(np.concatenate(([False], free, [False])).astype(np.int8))
    return [
        (start + int(s), start + int(e))
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    ]


def _credits(doc: int, tokens: int, earlier: Sequence[Link], holdings: Mapping[int, _Holding]) -> list[RemovedTokens]:
    """The passages of `doc` held by the documents of `earlier` links (in rank order), credited where kept."""
    covered = np.zeros(tokens, dtype=np.bool_)
    out: list[RemovedTokens] = []
    for link in earlier:
        source = link.other(doc)
        holding = holdings[source]
        for d_start, d_end, s_start, s_end in sorted(link.regions_from(doc)):
            for free_start, free_end in _uncovered(covered, d_start, min(d_end, tokens)):
                g_start = scale(free_start, d_start, d_end, s_start, s_end)
                g_end = max(scale(free_end, d_start, d_end, s_start, s_end), g_start + 1)
                g_end = min(g_end, holding.tokens)
                if g_start >= g_end:
                    continue
                for lo, hi, holder, h_start, h_end in holding.resolve(g_start, g_end, source):
                    e_start = scale(lo, g_start, g_end, free_start, free_end)
                    e_end = scale(hi, g_start, g_end, free_start, free_end)
                    if holder is None or e_end <= e_start:
                        continue
                    out.append((e_start, e_end, holder, h_start, h_end))
                    covered[e_start:e_end] = True
    return sorted(out)


def decide(
    token_counts: Sequence[int],
    errors: Mapping[int, str],
    links: Sequence[Link],
    order: Sequence[int],
    *,
    min_passage: int,
    copies: Mapping[int, int] | None = None,
    boilerplate_only: Container[int] = (),
    strip_boilerplate: bool = False,
) -> list[Verdict]:
    """Keep, trim or drop every document.

    Args:
        token_counts: Tokens of each document (boilerplate left out).
        errors: Read error of each unreadable document.
        links: Links between documents that are not exact copies of an earlier-ranked one.
        order: Those documents in keep-first order (`reprints.decide.rank.ranking`).
        min_passage: A document left with fewer tokens than this after trimming is dropped.
        copies: Each exact copy and the canonical member of its group (copies are in no link).
        boilerplate_only: Documents whose every word is boilerplate.
        strip_boilerplate: Whether boilerplate is removed from the output (then such documents are dropped).
    """
    rank = {doc: position for position, doc in enumerate(order)}
    by_doc: dict[int, list[Link]] = {}
    for link in links:
        by_doc.setdefault(link.a, []).append(link)
        by_doc.setdefault(link.b, []).append(link)
    verdicts: list[Verdict | None] = [None] * len(token_counts)
    has_copies = set((copies or {}).values())
    holdings: dict[int, _Holding] = {}
    for doc in order:
        tokens = token_counts[doc]
        verdict = _special(doc, tokens, errors, boilerplate_only, strip_boilerplate)
        if verdict is None:
            mine = by_doc.get(doc, [])
            earlier = sorted(
                (link for link in mine if rank[link.other(doc)] < rank[doc]), key=lambda x: rank[x.other(doc)]
            )
            verdict = _verdict(doc, tokens, _credits(doc, tokens, earlier, holdings), mine, rank, min_passage)
            if verdict.reason == "unique" and doc in has_copies:
                verdict = Verdict("keep", "first copy", None, ())
        verdicts[doc] = verdict
        holdings[doc] = _Holding(tokens, verdict.removed, verdict.decision == "drop")
    for doc, canonical in sorted((copies or {}).items()):
        verdicts[doc] = _copy_verdict(token_counts[doc], canonical, holdings[canonical])
    missing = [doc for doc, verdict in enumerate(verdicts) if verdict is None]
    assert not missing, f"documents {missing[:5]} are neither ranked nor copies"
    return [verdict for verdict in verdicts if verdict is not None]


def _special(
    doc: int, tokens: int, errors: Mapping[int, str], boilerplate_only: Container[int], strip: bool
) -> Verdict | None:
    """The verdict of an unreadable, empty or boilerplate-only document (None for any other)."""
    if doc in errors:
        return Verdict("drop", errors[doc], None, ())
    if tokens > 0:
        return None
    if doc not in boilerplate_only:
        return Verdict("drop", "empty: no words", None, ())
    if strip:
        return Verdict("drop", "empty: only boilerplate", None, ())
    return Verdict("keep", "only boilerplate", None, ())


def _verdict(
    doc: int, tokens: int, removed: list[RemovedTokens], links: list[Link], rank: Mapping[int, int], min_passage: int
) -> Verdict:
    if not removed:
        return Verdict("keep", "first copy" if links else "unique", None, ())
    held: dict[int, int] = {}
    for start, end, source, _, _ in removed:
        held[source] = held.get(source, 0) + end - start
    left = tokens - sum(held.values())
    if left >= min_passage:
        return Verdict("trim", f"{len(removed)} passage(s) held by earlier documents", None, tuple(removed))
    main_source = min(held, key=lambda source: (-held[source], rank[source]))
    relation = next((link.relation for link in links if link.other(doc) == main_source), None)
    reason = {"exact": "exact duplicate", "near_duplicate": "near duplicate"}.get(
        relation or "", "covered by earlier documents"
    )
    return Verdict("drop", reason, main_source, tuple(removed))


def _copy_verdict(tokens: int, canonical: int, holding: _Holding) -> Verdict:
    """An exact copy: dropped, each part credited where the canonical member's text is kept."""
    removed: list[RemovedTokens] = []
    if tokens > 0 and holding.tokens > 0:
        for lo, hi, holder, h_start, h_end in holding.resolve(0, holding.tokens, canonical):
            start = scale(lo, 0, holding.tokens, 0, tokens)
            end = scale(hi, 0, holding.tokens, 0, tokens)
            if holder is not None and end > start:
                removed.append((start, end, holder, h_start, h_end))
    return Verdict("drop", "exact duplicate", canonical, tuple(removed))
