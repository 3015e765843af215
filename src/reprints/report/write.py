"""The write stage: pairs, documents, clusters and the deduplicated corpus, per the output contract."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from reprints.config import Config
from reprints.decide.keep import Verdict
from reprints.decide.links import Link
from reprints.fingerprint.corpus import Corpus
from reprints.io.writers import RowWriter
from reprints.types import BOILERPLATE, Decision, Document, Pair, Removed, Span


def pair_of(link: Link, corpus: Corpus) -> Pair:
    """A link in character offsets, with document ids."""
    spans = []
    for a0, a1, b0, b1 in link.regions:
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
    if strip and doc.index in corpus.boilerplate_spans:
        lines = [Removed(start, end, BOILERPLATE, None, None) for start, end in corpus.boilerplate_spans[doc.index]]
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
    clusters: Sequence[int | None], links: Sequence[Link], order: Sequence[int], corpus: Corpus
) -> list[dict[str, Any]]:
    """One row per cluster: its canonical (kept) member, members and the pages containing them."""
    members: dict[int, list[int]] = {}
    for doc, number in enumerate(clusters):
        if number is not None:
            members.setdefault(number, []).append(doc)
    rank = {doc: position for position, doc in enumerate(order)}
    containers: dict[int, set[int]] = {}
    for link in links:
        if link.container is not None:
            containers.setdefault(link.other(link.container), set()).add(link.container)
    rows = []
    for number in sorted(members):
        docs = members[number]
        holders = sorted(set().union(*(containers.get(doc, set()) for doc in docs)) - set(docs))
        rows.append(
            {
                "cluster": number,
                "canonical": corpus.ids[min(docs, key=rank.__getitem__)],
                "members": [corpus.ids[doc] for doc in docs],
                "contained_in": [corpus.ids[doc] for doc in holders],
            }
        )
    return rows


def write_outputs(
    out: Path,
    documents: Iterator[Document],
    corpus: Corpus,
    links: Sequence[Link],
    verdicts: Sequence[Verdict],
    clusters: Sequence[int | None],
    order: Sequence[int],
    config: Config,
) -> dict[str, int]:
    """Write every output file but the summary; return the number of documents per decision."""
    fmt = config.run.output_format
    counts = {"keep": 0, "trim": 0, "drop": 0}
    with RowWriter(out, "pairs", fmt) as pairs:
        for link in links:
            pairs.write(pair_of(link, corpus).to_dict())
    with RowWriter(out, "clusters", fmt) as cluster_file:
        for row in cluster_rows(clusters, links, order, corpus):
            cluster_file.write(row)
    id_field, text_field = config.read.id_field, config.read.text_field
    strip = config.boilerplate.strip_boilerplate
    with RowWriter(out, "documents", fmt) as decisions, RowWriter(out, "deduplicated", fmt) as kept:
        for doc in documents:
            decision, text = _decision(doc, verdicts[doc.index], clusters[doc.index], corpus, strip)
            counts[decision.decision] += 1
            decisions.write(decision.to_dict())
            if text is not None:
                kept.write({id_field: doc.id, text_field: text, **doc.metadata})
    return counts
