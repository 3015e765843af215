"""The write stage: pairs, documents, clusters and the deduplicated corpus, per the output contract."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reprints.config import Config
from reprints.decide.keep import Verdict, scale
from reprints.decide.links import Link, Relations, oriented
from reprints.fingerprint.corpus import Corpus
from reprints.io.writers import RowWriter
from reprints.normalize.tokens import I64
from reprints.types import BOILERPLATE, RELATIONS, Decision, Document, Pair, Removed, Span

# Rows written between two releases of the mapped pages read (`Corpus.release_pages`). A page fault maps the
# pages around it too (64 KB), so each row can make ~250 KB resident: at 10,000 rows a run of 640k documents held
# 1.2 GB of these files between two releases; a release costs microseconds.
RELEASE_EVERY = 1_000


def pair_of(link: Link, corpus: Corpus) -> Pair:
    """A link in character offsets, with document ids."""
    spans = []
    for a0, a1, b0, b1 in link.regions:
        if a1 <= a0 or b1 <= b0:
            continue
        a_start, a_end = corpus.char_span(link.a, a0, a1)
        b_start, b_end = corpus.char_span(link.b, b0, b1)
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


def removed_spans(doc: int, verdict: Verdict, corpus: Corpus) -> tuple[Removed, ...]:
    """The verdict's removed token ranges as character spans of the document and of their sources."""
    out = []
    for start, end, source, source_start, source_end in verdict.removed:
        char_start, char_end = corpus.char_span(doc, start, end)
        src_start, src_end = corpus.char_span(source, source_start, max(source_end, source_start + 1))
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
    doc: Document, verdict: Verdict, cluster: int | None, corpus: Corpus, strip: bool
) -> tuple[Decision, str | None]:
    removed = removed_spans(doc.index, verdict, corpus)
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
) -> list[dict[str, Any]]:
    """One row per cluster: its canonical (kept) member, members and the pages containing them."""
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
    out = []
    for number in sorted(members):
        docs = members[number]
        holders = sorted(set().union(*(containers.get(doc, set()) for doc in docs)) - set(docs))
        out.append(
            {
                "cluster": number,
                "canonical": corpus.ids[canonical.get(number, docs[0])],
                "members": [corpus.ids[doc] for doc in docs],
                "contained_in": [corpus.ids[doc] for doc in holders],
            }
        )
    return out


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
    with RowWriter(out, "pairs", fmt) as pairs:
        for number, link in enumerate(expanded_links(relations, corpus.token_counts, config.candidates.anchor_df_cap)):
            pairs.write(pair_of(link, corpus).to_dict())
            relation_counts[link.relation] += 1
            if number % RELEASE_EVERY == RELEASE_EVERY - 1:
                corpus.release_pages()
    corpus.release_pages()
    with RowWriter(out, "clusters", fmt) as cluster_file:
        for row in cluster_rows(clusters, numbers, relations, corpus):
            cluster_file.write(row)
    id_field, text_field = config.read.id_field, config.read.text_field
    strip = config.boilerplate.strip_boilerplate
    with RowWriter(out, "documents", fmt) as decisions, RowWriter(out, "deduplicated", fmt) as kept:
        for doc in documents:
            if doc.index % RELEASE_EVERY == RELEASE_EVERY - 1:
                corpus.release_pages()
            decision, text = _decision(doc, verdicts[doc.index], numbers[doc.index], corpus, strip)
            counts[decision.decision] += 1
            decisions.write(decision.to_dict())
            if text is not None:
                kept.write({id_field: doc.id, text_field: text, **doc.metadata})
    return counts, relation_counts
