"""The write stage: pairs, documents, clusters and the deduplicated corpus, per the output contract."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from reprints.config import Config
from reprints.decide.keep import Verdict, scale
from reprints.decide.links import Link, Relations, oriented
from reprints.fingerprint.corpus import CharTable, Corpus
from reprints.io.writers import RowWriter
from reprints.normalize.tokens import I64
from reprints.types import BOILERPLATE, RELATIONS, Decision, Document, Pair, Removed, Span

T = TypeVar("T")

# Rows written from one table of character bounds (`Corpus.char_table`), read for the documents they name, at most
# CHUNK_ROWS rows and CHUNK_TOKENS tokens of documents read whole.
CHUNK_ROWS = 4_096
CHUNK_TOKENS = 2_000_000


def _chunks(items: Iterable[T], docs_of: Callable[[T], Iterable[int]], token_counts: I64) -> Iterator[list[T]]:
    """`items` in lists of at most CHUNK_ROWS whose documents (`docs_of`) hold at most CHUNK_TOKENS tokens in
    all (documents a `CharTable` does not read whole count for nothing)."""

    def weight(docs: set[int]) -> int:
        counts = (int(token_counts[doc]) for doc in docs)
        return sum(count for count in counts if count <= CharTable.WHOLE_TOKENS)

    chunk: list[T] = []
    seen: set[int] = set()
    tokens = 0
    for item in items:
        docs = set(docs_of(item))
        new = docs - seen
        more = weight(new)
        if chunk and (len(chunk) >= CHUNK_ROWS or tokens + more > CHUNK_TOKENS):
            yield chunk
            chunk, seen, tokens = [], set(), 0
            new = docs
            more = weight(new)
        chunk.append(item)
        seen.update(new)
        tokens += more
    if chunk:
        yield chunk


def _decision_docs(doc: int, verdict: Verdict) -> list[int]:
    """The documents whose character bounds a document's decision row needs: itself and its sources."""
    return [doc, *(removed[2] for removed in verdict.removed)]


def pair_of(link: Link, corpus: Corpus, chars: CharTable | None = None) -> Pair:
    """A link in character offsets (from `chars` when given: a table holding both documents), with document
    ids."""
    bounds = chars or corpus
    spans = []
    for a0, a1, b0, b1 in link.regions:
        if a1 <= a0 or b1 <= b0:
            continue
        a_start, a_end = bounds.char_span(link.a, a0, a1)
        b_start, b_end = bounds.char_span(link.b, b0, b1)
        spans.append(Span(a_start, a_end, b_start, b_end))
    container = link.container
    return Pair(
        corpus.ids[link.a],
        corpus.ids[link.b],
        link.relation,
        None if container is None else corpus.ids[container],
        link.coverage_a,
        link.coverage_b,
        tuple(spans),
    )


def _on_copy(link: Link, doc: int, copy: int, counts: Sequence[int] | I64) -> Link:
    """A link of `doc` moved to its exact copy `copy` (token positions scaled if their counts differ)."""
    regions = link.regions_from(doc)
    tokens, copy_tokens = int(counts[doc]), int(counts[copy])
    if copy_tokens != tokens:
        regions = [
            (scale(x0, 0, tokens, 0, copy_tokens), scale(x1, 0, tokens, 0, copy_tokens), y0, y1)
            for x0, x1, y0, y1 in regions
        ]
    coverage = link.coverage_a if doc == link.a else link.coverage_b
    other = link.other(doc)
    other_coverage = link.coverage_b if doc == link.a else link.coverage_a
    return oriented(copy, other, link.relation, coverage, other_coverage, regions)


def expanded_links(relations: Relations, counts: Sequence[int] | I64, max_exact_group: int) -> Iterator[Link]:
    """Every related pair of documents: links between ranked documents spread to each exact copy of either
    side, and the exact links within each group (every pair, or each copy to the canonical member when the
    group is larger than `max_exact_group`). Generated one link at a time."""
    members = {group[0]: group for group in relations.groups}
    for link in relations.links:
        for u in members.get(link.a, [link.a]):
            on_u = link if u == link.a else _on_copy(link, link.a, u, counts)
            for v in members.get(link.b, [link.b]):
                yield on_u if v == link.b else _on_copy(on_u, link.b, v, counts)
    for group in relations.groups:
        ordered = sorted(group)
        if len(group) <= max_exact_group:
            pairs = [(x, y) for i, x in enumerate(ordered) for y in ordered[i + 1 :]]
        else:
            pairs = [(min(group[0], y), max(group[0], y)) for y in ordered if y != group[0]]
        for x, y in pairs:
            regions = ((0, int(counts[x]), 0, int(counts[y])),) if counts[x] and counts[y] else ()
            yield Link(x, y, "exact", 1.0, 1.0, regions)


def removed_spans(doc: int, verdict: Verdict, corpus: Corpus, chars: CharTable | None = None) -> tuple[Removed, ...]:
    """The verdict's removed token ranges as character spans of the document and of their sources (from
    `chars` when given: a table holding them all)."""
    bounds = chars or corpus
    out = []
    for start, end, source, source_start, source_end in verdict.removed:
        char_start, char_end = bounds.char_span(doc, start, end)
        src_start, src_end = bounds.char_span(source, source_start, max(source_end, source_start + 1))
        out.append(Removed(char_start, char_end, corpus.ids[source], src_start, src_end))
    return tuple(out)


def trimmed_text(text: str, removed: Sequence[Removed]) -> str:
    """The text without the removed spans; the pieces left are stripped and joined by newlines."""
    pieces, cursor = [], 0
    for span in sorted(removed, key=lambda r: (r.start, r.end)):
        pieces.append(text[cursor : span.start])
        cursor = max(cursor, span.end)
    pieces.append(text[cursor:])
    return "\n".join(piece.strip() for piece in pieces if piece.strip())


def _decision(
    doc: Document, verdict: Verdict, cluster: int | None, corpus: Corpus, strip: bool, chars: CharTable
) -> tuple[Decision, str | None]:
    removed = removed_spans(doc.index, verdict, corpus, chars)
    decision, reason = verdict.decision, verdict.reason
    spans = corpus.boilerplate_spans(doc.index) if strip else []
    if spans:
        lines = [Removed(start, end, BOILERPLATE, None, None) for start, end in spans]
        removed = tuple(sorted((*removed, *lines), key=lambda r: (r.start, r.end)))
        if decision == "keep":
            decision, reason = "trim", "boilerplate removed"
    text: str | None = None
    if decision == "keep":
        text = doc.text
    elif decision == "trim":
        text = trimmed_text(doc.text, removed)
    duplicate_of = None if verdict.duplicate_of is None else corpus.ids[verdict.duplicate_of]
    row = Decision(
        corpus.ids[doc.index],
        decision,
        reason,
        cluster,
        duplicate_of,
        removed,
        0 if text is None else len(text),
    )
    return row, text


def cluster_rows(
    clusters: Sequence[Sequence[int]], numbers: Sequence[int | None], relations: Relations, corpus: Corpus
) -> Iterator[dict[str, Any]]:
    """One row per cluster, made as it is written: its canonical (kept) member, members and the pages
    containing them. (Made all at once, the rows were the peak of a 2.5M-document run: +600 MB for seconds.)"""
    members: dict[int, list[int]] = {}
    for doc, number in enumerate(numbers):
        if number is not None:
            members.setdefault(number, []).append(doc)
    canonical = {numbers[group[0]]: group[0] for group in clusters}
    copies_of: dict[int, list[int]] = {}
    for copy, original in relations.copies.items():
        copies_of.setdefault(original, []).append(copy)
    containers: dict[int, set[int]] = {}
    links = relations.links
    holder = links.container()
    rows = np.flatnonzero(holder >= 0)
    inside = np.where(holder[rows] == links.a[rows], links.b[rows], links.a[rows])
    for container, contained in zip(holder[rows].tolist(), inside.tolist(), strict=True):
        containers.setdefault(contained, set()).update((container, *copies_of.get(container, [])))
    for number in sorted(members):
        docs = members[number]
        holders = sorted(set().union(*(containers.get(doc, set()) for doc in docs)) - set(docs))
        yield {
            "cluster": number,
            "canonical": corpus.ids[canonical.get(number, docs[0])],
            "members": [corpus.ids[doc] for doc in docs],
            "contained_in": [corpus.ids[doc] for doc in holders],
        }


def write_outputs(
    out: Path,
    documents: Iterator[Document],
    corpus: Corpus,
    relations: Relations,
    verdicts: Sequence[Verdict],
    clusters: Sequence[Sequence[int]],
    numbers: Sequence[int | None],
    config: Config,
) -> tuple[dict[str, int], dict[str, int]]:
    """Write every output file but the summary; return the number of documents per decision and of pairs per
    relation."""
    fmt = config.run.output_format
    counts = {"keep": 0, "trim": 0, "drop": 0}
    relation_counts: dict[str, int] = dict.fromkeys(RELATIONS, 0)
    token_counts = corpus.token_counts
    with RowWriter(out, "pairs", fmt) as pairs:
        links = expanded_links(relations, token_counts, config.candidates.anchor_df_cap)
        for chunk in _chunks(links, lambda link: (link.a, link.b), token_counts):
            chars = corpus.char_table(doc for link in chunk for doc in (link.a, link.b))
            for link in chunk:
                pairs.write(pair_of(link, corpus, chars).to_dict())
                relation_counts[link.relation] += 1
            corpus.release_pages()
    corpus.release_pages()
    with RowWriter(out, "clusters", fmt) as cluster_file:
        for row in cluster_rows(clusters, numbers, relations, corpus):
            cluster_file.write(row)
    id_field, text_field = config.read.id_field, config.read.text_field
    strip = config.boilerplate.strip_boilerplate
    with RowWriter(out, "documents", fmt) as decisions, RowWriter(out, "deduplicated", fmt) as kept:
        judged = ((doc, verdicts[doc.index]) for doc in documents)
        for read in _chunks(judged, lambda item: _decision_docs(item[0].index, item[1]), token_counts):
            chars = corpus.char_table(d for doc, verdict in read for d in _decision_docs(doc.index, verdict))
            for doc, verdict in read:
                decision, text = _decision(doc, verdict, numbers[doc.index], corpus, strip, chars)
                counts[decision.decision] += 1
                decisions.write(decision.to_dict())
                if text is not None:
                    kept.write({id_field: doc.id, text_field: text, **doc.metadata})
            corpus.release_pages()
    return counts, relation_counts
