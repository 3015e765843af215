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
from array import array
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from reprints.decide.links import Link, Links
from reprints.io.arrays import RowSequence
from reprints.types import DECISIONS, RELATIONS, DecisionKind, pickled_as_tuples

RemovedTokens = tuple[int, int, int, int, int]  # start, end, source doc, source start, source end (tokens)
Piece = tuple[int, int, int | None, int, int]  # start, end, holder (None: in no output), holder start, end


@pickled_as_tuples
@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one document, in token space (the write stage turns tokens into characters)."""

    decision: DecisionKind
    reason: str
    duplicate_of: int | None
    removed: tuple[RemovedTokens, ...]


class Verdicts(RowSequence[Verdict]):
    """Every document's verdict, held as columns (indexing gives a `Verdict`): a few dozen bytes a document
    where Python objects took a few hundred.

    Attributes:
        decision: Index of each document's decision in `reprints.types.DECISIONS`.
        reason: Index of each document's reason in `reasons`.
        duplicate_of: The document a dropped one duplicates, -1 for none.
        starts: Document `d`'s removed ranges are rows `starts[d]:starts[d + 1]` of `removed`.
        removed: `RemovedTokens` rows.
    """

    __slots__ = ("decision", "duplicate_of", "reason", "reasons", "removed", "starts")

    def __init__(
        self, decision: np.ndarray, reason: np.ndarray, reasons: list[str], duplicate_of: np.ndarray,
        starts: np.ndarray, removed: np.ndarray,
    ) -> None:  # fmt: skip
        self.decision, self.reason, self.reasons = decision, reason, reasons
        self.duplicate_of, self.starts, self.removed = duplicate_of, starts, removed

    def __len__(self) -> int:
        return len(self.decision)

    def part(self, first: int, count: int) -> Verdicts:
        """The verdicts of documents `first` to `first + count - 1` as columns of their own (what a write task
        carries to a worker: arrays pickle at once, where one object per document cost the main process a Python
        call each to make and to pickle)."""
        stop = first + count
        begin, end = int(self.starts[first]), int(self.starts[stop])
        return Verdicts(
            self.decision[first:stop].copy(), self.reason[first:stop].copy(), self.reasons,
            self.duplicate_of[first:stop].copy(), self.starts[first : stop + 1] - begin, self.removed[begin:end].copy(),
        )  # fmt: skip

    def named(self) -> set[int]:
        """The documents these verdicts name: the sources of their removed ranges and the documents dropped ones
        duplicate."""
        duplicates = self.duplicate_of[self.duplicate_of >= 0]
        return set(np.asarray(self.removed).reshape(-1, 5)[:, 2].tolist()) | set(duplicates.tolist())

    def __iter__(self) -> Iterator[Verdict]:
        """Every verdict in order, each column read once (indexing reads five arrays for each)."""
        removed = [tuple(row) for row in np.asarray(self.removed).reshape(-1, 5).tolist()]
        starts = self.starts.tolist()
        reasons = self.reasons
        for index, (decision, reason, duplicate_of) in enumerate(
            zip(self.decision.tolist(), self.reason.tolist(), self.duplicate_of.tolist(), strict=True)
        ):
            yield Verdict(
                DECISIONS[decision],
                reasons[reason],
                None if duplicate_of < 0 else duplicate_of,
                tuple(removed[starts[index] : starts[index + 1]]),
            )

    def _row(self, index: int) -> Verdict:
        duplicate_of = int(self.duplicate_of[index])
        rows = self.removed[self.starts[index] : self.starts[index + 1]].tolist()
        return Verdict(
            DECISIONS[self.decision[index]],
            self.reasons[self.reason[index]],
            None if duplicate_of < 0 else duplicate_of,
            tuple((start, end, source, s_start, s_end) for start, end, source, s_start, s_end in rows),
        )


class _Builder:
    """Verdicts as they are decided (in ranking order), each document's removed ranges kept as flat integers."""

    def __init__(self, size: int) -> None:
        self.decision = np.full(size, -1, dtype=np.int8)
        self.reason = np.zeros(size, dtype=np.int32)
        self.duplicate_of = np.full(size, -1, dtype=np.int64)
        self.first = np.zeros(size, dtype=np.int64)
        self.count = np.zeros(size, dtype=np.int64)
        self.reasons: dict[str, int] = {}
        self.flat = array("q")

    def add(self, doc: int, verdict: Verdict) -> None:
        self.judge(doc, verdict.decision, verdict.reason, verdict.duplicate_of)
        self.first[doc] = len(self.flat) // 5
        self.count[doc] = len(verdict.removed)
        for row in verdict.removed:
            self.flat.extend(row)

    def walked(self, first: np.ndarray, count: np.ndarray, rows: np.ndarray) -> None:
        """Take the removed rows of a compiled walk (`keep_kernel.credit_walk`): document `d`'s are
        `rows[first[d]:first[d] + count[d]]`; documents decided later (exact copies) are added after them."""
        self.flat = array("q")
        self.flat.frombytes(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
        self.first[:] = first
        self.count[:] = count

    def judge(self, doc: int, decision: DecisionKind, reason: str, duplicate_of: int | None) -> None:
        """Decide `doc`, its removed rows already taken (`walked`)."""
        self.decision[doc] = _DECISION_CODE[decision]
        self.reason[doc] = self.reasons.setdefault(reason, len(self.reasons))
        self.duplicate_of[doc] = -1 if duplicate_of is None else duplicate_of

    def holding(self, doc: int, tokens: int) -> _Holding:
        """What decided document `doc` holds."""
        first = int(self.first[doc]) * 5
        flat = self.flat[first : first + int(self.count[doc]) * 5]
        removed = tuple(zip(*(iter(flat),) * 5, strict=True))
        return _Holding(tokens, removed, bool(self.decision[doc] == _DECISION_CODE["drop"]))

    def done(self) -> Verdicts:
        missing = np.flatnonzero(self.decision < 0)
        assert not len(missing), f"documents {missing[:5].tolist()} are neither ranked nor copies"
        flat = np.frombuffer(self.flat, dtype=np.int64).reshape(-1, 5) if self.flat else np.empty((0, 5), np.int64)
        starts = np.concatenate(([0], np.cumsum(self.count))).astype(np.int64)
        within = np.arange(int(starts[-1]), dtype=np.int64) - np.repeat(starts[:-1], self.count)
        removed = flat[np.repeat(self.first, self.count) + within]
        return Verdicts(self.decision, self.reason, list(self.reasons), self.duplicate_of, starts, removed)


_DECISION_CODE = {decision: code for code, decision in enumerate(DECISIONS)}


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


class _Covered:
    """Token ranges of one document already credited: disjoint, merged and sorted intervals (a boolean per token
    costs NumPy calls per region, most of the decide stage on a large corpus)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def free(self, start: int, end: int) -> list[tuple[int, int]]:
        """Maximal runs of tokens in `start:end` not yet covered."""
        runs = []
        cursor = start
        at = bisect.bisect_right(self.ends, start)  # the first interval ending after `start`
        while cursor < end and at < len(self.starts) and self.starts[at] < end:
            if self.starts[at] > cursor:
                runs.append((cursor, self.starts[at]))
            cursor = max(cursor, self.ends[at])
            at += 1
        if cursor < end:
            runs.append((cursor, end))
        return runs

    def add(self, start: int, end: int) -> None:
        """Cover `start:end` (not empty)."""
        lo = bisect.bisect_left(self.ends, start)  # intervals ending before `start` stay apart
        hi = bisect.bisect_right(self.starts, end)  # intervals starting after `end` stay apart
        if lo < hi:
            start, end = min(start, self.starts[lo]), max(end, self.ends[hi - 1])
        self.starts[lo:hi] = [start]
        self.ends[lo:hi] = [end]


def _credits(doc: int, tokens: int, earlier: Sequence[Link], holdings: Mapping[int, _Holding]) -> list[RemovedTokens]:
    """The passages of `doc` held by the documents of `earlier` links (in rank order), credited where kept."""
    covered = _Covered()
    out: list[RemovedTokens] = []
    for link in earlier:
        source = link.other(doc)
        holding = holdings[source]
        for d_start, d_end, s_start, s_end in sorted(link.regions_from(doc)):
            for free_start, free_end in covered.free(d_start, min(d_end, tokens)):
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
                    covered.add(e_start, e_end)
    return sorted(out)


def decide(
    token_counts: Sequence[int] | np.ndarray,
    errors: Mapping[int, str],
    links: Sequence[Link],
    order: Sequence[int],
    *,
    min_passage: int,
    copies: Mapping[int, int] | None = None,
    boilerplate_only: Container[int] = (),
    strip_boilerplate: bool = False,
) -> Verdicts:
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
    counts = np.asarray(token_counts, dtype=np.int64)
    size = len(counts)
    table = Links.of(links)
    rank = np.full(size, size, dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    # Each document's links, in link order: rows bounds[doc]:bounds[doc + 1] of `by_doc`, to `partner`.
    ends = np.stack((table.a, table.b), axis=1).reshape(-1)
    by_end = np.argsort(ends, kind="stable")
    by_doc = by_end // 2
    partner = np.stack((table.b, table.a), axis=1).reshape(-1)[by_end]
    partner_rank = rank[partner]
    bounds = np.searchsorted(ends[by_end], np.arange(size + 1))
    del ends, by_end
    verdicts = _Builder(size)
    has_copies = set((copies or {}).values())
    walk = _walk_compiled if len(table) >= COMPILED_FROM else _walk_python
    walk(
        verdicts, order, counts, errors, boilerplate_only, strip_boilerplate, has_copies, min_passage,
        _Walk(table, rank, bounds, by_doc, partner, partner_rank),
    )  # fmt: skip
    for doc, canonical in sorted((copies or {}).items()):
        verdicts.add(
            doc, _copy_verdict(int(counts[doc]), canonical, verdicts.holding(canonical, int(counts[canonical])))
        )
    return verdicts.done()


COMPILED_FROM = 10_000  # links from which the compiled walk (`keep_kernel`) is worth loading


@dataclass(frozen=True, slots=True)
class _Walk:
    """The links as `decide` walks them: each document's links are rows `bounds[doc]:bounds[doc + 1]` of
    `by_doc` (link rows of `table`), to `partner`, of rank `partner_rank`."""

    table: Links
    rank: np.ndarray
    bounds: np.ndarray
    by_doc: np.ndarray
    partner: np.ndarray
    partner_rank: np.ndarray


def _walk_python(
    verdicts: _Builder, order: Sequence[int], counts: np.ndarray, errors: Mapping[int, str],
    boilerplate_only: Container[int], strip: bool, has_copies: set[int], min_passage: int, walk: _Walk,
) -> None:  # fmt: skip
    """`decide`'s walk of the ranking: each document in turn loses the passages earlier documents hold
    (`_credits`), and gets its verdict."""
    table, rank, bounds, partner_rank = walk.table, walk.rank, walk.bounds, walk.partner_rank
    for doc in order:
        tokens = int(counts[doc])
        verdict = _special(doc, tokens, errors, boilerplate_only, strip)
        if verdict is None and bounds[doc] == bounds[doc + 1]:  # in no link (most documents): nothing is removed
            verdict = _FIRST_COPY if doc in has_copies else _UNIQUE
        elif verdict is None:
            lo, hi = int(bounds[doc]), int(bounds[doc + 1])
            rows, others = walk.by_doc[lo:hi].tolist(), walk.partner[lo:hi].tolist()
            mine = int(rank[doc])
            before = sorted(
                (place, i) for i, place in enumerate(partner_rank[lo:hi].tolist()) if place < mine
            )  # earlier documents first; their links in link order
            earlier = [table[rows[i]] for _, i in before]
            holdings = {others[i]: verdicts.holding(others[i], int(counts[others[i]])) for _, i in before}
            removed = _credits(doc, tokens, earlier, holdings)
            verdict = _verdict(doc, tokens, removed, table, rows, others, rank, min_passage)
            if verdict.reason == "unique" and doc in has_copies:
                verdict = Verdict("keep", "first copy", None, ())
        verdicts.add(doc, verdict)


def _walk_compiled(
    verdicts: _Builder, order: Sequence[int], counts: np.ndarray, errors: Mapping[int, str],
    boilerplate_only: Container[int], strip: bool, has_copies: set[int], min_passage: int, walk: _Walk,
) -> None:  # fmt: skip
    """`decide`'s walk of the ranking in one compiled pass (the same verdicts as the loop in `decide`): the
    removed rows and what they leave from the kernel, each verdict's reason from them here."""
    from reprints.decide.keep_kernel import credit_walk

    ordered = np.asarray(order, dtype=np.int64)
    fixed = np.zeros(len(counts), dtype=np.bool_)
    fixed_dropped = np.zeros(len(counts), dtype=np.bool_)
    special: dict[int, Verdict] = {}
    in_order = np.zeros(len(counts), dtype=np.bool_)
    in_order[ordered] = True
    for doc in sorted(set(errors) | set(np.flatnonzero(counts <= 0).tolist())):
        verdict = _special(doc, int(counts[doc]), errors, boilerplate_only, strip) if in_order[doc] else None
        if verdict is not None:
            special[doc] = verdict
            fixed[doc] = True
            fixed_dropped[doc] = verdict.decision == "drop"
    table = walk.table
    rows, total, first, count = credit_walk(
        ordered, walk.rank, counts, walk.bounds, walk.by_doc, walk.partner, walk.partner_rank, table.a,
        table.starts, table.regions, fixed, fixed_dropped, min_passage,
    )  # fmt: skip
    verdicts.walked(first, count, rows[:total])
    linked = (walk.bounds[1:] > walk.bounds[:-1]).tolist()
    for doc, doc_first, doc_count in zip(
        ordered.tolist(), first[ordered].tolist(), count[ordered].tolist(), strict=True
    ):
        if doc in special:
            verdict = special[doc]
        elif not doc_count:
            verdict = _FIRST_COPY if linked[doc] or doc in has_copies else _UNIQUE
        else:
            lo, hi = int(walk.bounds[doc]), int(walk.bounds[doc + 1])
            removed = [tuple(row) for row in rows[doc_first : doc_first + doc_count].tolist()]
            verdict = _verdict(
                doc, int(counts[doc]), removed, table, walk.by_doc[lo:hi].tolist(), walk.partner[lo:hi].tolist(),
                walk.rank, min_passage,
            )  # fmt: skip
        verdicts.judge(doc, verdict.decision, verdict.reason, verdict.duplicate_of)


_UNIQUE = Verdict("keep", "unique", None, ())
_FIRST_COPY = Verdict("keep", "first copy", None, ())


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
    doc: int, tokens: int, removed: list[RemovedTokens], table: Links, rows: list[int], others: list[int],
    rank: np.ndarray, min_passage: int,
) -> Verdict:  # fmt: skip
    """The verdict of a document that lost `removed` to earlier documents (`rows`: its links, to `others`)."""
    if not removed:
        return Verdict("keep", "first copy" if rows else "unique", None, ())
    held: dict[int, int] = {}
    for start, end, source, _, _ in removed:
        held[source] = held.get(source, 0) + end - start
    left = tokens - sum(held.values())
    if left >= min_passage:
        return Verdict("trim", f"{len(removed)} passage(s) held by earlier documents", None, tuple(removed))
    main_source = min(held, key=lambda source: (-held[source], int(rank[source])))
    relation = next(
        (RELATIONS[table.relation[row]] for row, other in zip(rows, others, strict=True) if other == main_source), None
    )
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
