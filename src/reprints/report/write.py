"""The write stage: pairs, documents, clusters and the deduplicated corpus, per the output contract."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import numpy as np

from reprints.config import Config, ReadConfig
from reprints.decide.keep import Verdict, Verdicts, scale
from reprints.decide.links import Link, Links, Relations, oriented
from reprints.fingerprint.corpus import CharTable, Corpus
from reprints.io.slices import Slice
from reprints.io.sources import Raw, expand_slices, raw_documents
from reprints.io.verify import Batch, check_batch, check_count
from reprints.io.writers import Encoded, RowWriter, encoded
from reprints.normalize.tokens import I64
from reprints.types import BOILERPLATE, RELATIONS, Decision, Document, Pair, Removed, Span

T = TypeVar("T")
Task = TypeVar("Task")
Result = TypeVar("Result")
Mapper = Callable[[Callable[[Task], Result], Iterable[Task]], Iterator[Result]]
Ids = Sequence[str] | Mapping[int, str]  # document ids by input index: every id, or those a chunk names


class CharBounds(Protocol):
    """What turns token ranges into character spans: a `Corpus` or a `CharTable` read from it."""

    def char_span(self, doc: int, start: int, end: int) -> tuple[int, int]: ...


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


def pair_of(link: Link, ids: Ids, bounds: CharBounds) -> Pair:
    """A link in character offsets (from `bounds`: the corpus, or a table holding both documents), with document
    ids."""
    spans = []
    for a0, a1, b0, b1 in link.regions:
        if a1 <= a0 or b1 <= b0:
            continue
        a_start, a_end = bounds.char_span(link.a, a0, a1)
        b_start, b_end = bounds.char_span(link.b, b0, b1)
        spans.append(Span(a_start, a_end, b_start, b_end))
    container = link.container
    return Pair(
        ids[link.a],
        ids[link.b],
        link.relation,
        None if container is None else ids[container],
        link.coverage_a,
        link.coverage_b,
        tuple(spans),
    )


def pair_rows(links: Sequence[Link], ids: Ids, chars: CharTable) -> list[dict[str, Any]]:
    """`pair_of(link, ids, chars).to_dict()` of every link, with the character bounds of all their passages
    looked up at once (`CharTable.char_spans`)."""
    table = Links.of(links)
    owner = np.repeat(np.arange(len(table)), np.diff(table.starts))
    regions = table.regions.astype(np.int64)
    valid = (regions[:, 1] > regions[:, 0]) & (regions[:, 3] > regions[:, 2])
    regions, owner = regions[valid], owner[valid]
    a_start, a_end = chars.char_spans(table.a[owner], regions[:, 0], regions[:, 1])
    b_start, b_end = chars.char_spans(table.b[owner], regions[:, 2], regions[:, 3])
    spans = np.stack([a_start, a_end, b_start, b_end], axis=1).tolist()
    ends = np.cumsum(np.bincount(owner, minlength=len(links))).tolist()
    rows, begin = [], 0
    for link, end in zip(links, ends, strict=True):
        row: dict[str, Any] = {"a": ids[link.a], "b": ids[link.b], "relation": link.relation}
        container = link.container
        if container is not None:
            row["container"] = ids[container]
        row["coverage_a"] = link.coverage_a
        row["coverage_b"] = link.coverage_b
        row["spans"] = spans[begin:end]
        rows.append(row)
        begin = end
    return rows


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


def removed_spans(doc: int, verdict: Verdict, ids: Ids, bounds: CharBounds) -> tuple[Removed, ...]:
    """The verdict's removed token ranges as character spans of the document and of their sources (from
    `bounds`: the corpus, or a table holding them all)."""
    out = []
    for start, end, source, source_start, source_end in verdict.removed:
        char_start, char_end = bounds.char_span(doc, start, end)
        src_start, src_end = bounds.char_span(source, source_start, max(source_end, source_start + 1))
        out.append(Removed(char_start, char_end, ids[source], src_start, src_end))
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
    doc: Document, verdict: Verdict, cluster: int | None, ids: Ids, corpus: Corpus, strip: bool, chars: CharTable
) -> tuple[Decision, str | None]:
    removed = removed_spans(doc.index, verdict, ids, chars)
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
    duplicate_of = None if verdict.duplicate_of is None else ids[verdict.duplicate_of]
    row = Decision(
        ids[doc.index],
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
    """One row per cluster, made as it is written: its canonical member (ranked first), members and the pages
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


@dataclass(frozen=True, slots=True)
class PairRows:
    """A chunk of links as `pairs` rows (a task run in a worker): called with the links and the ids of their
    documents, it reads the character bounds from the corpus in `folder` (`Corpus.bounds_from`)."""

    folder: Path
    output_format: str

    def __call__(self, task: tuple[list[Link], dict[int, str]]) -> Encoded:
        links, ids = task
        corpus = Corpus.bounds_from(self.folder)
        chars = corpus.char_table(doc for link in links for doc in (link.a, link.b))
        return encoded(pair_rows(links, ids, chars), self.output_format)


# A batch of the first pass read again: documents, or JSON Lines not yet parsed (lines, or ranges of files).
Judged = Batch[Document] | Batch[Raw] | Batch[Raw | Slice]


@dataclass(frozen=True, slots=True)
class DecisionRows:
    """A batch of documents as `documents` rows and `deduplicated` rows (a task run in a worker): called with
    a first-pass batch read again (documents, or lines still to parse: `raw_documents`), checked against the
    first pass (`check_batch`), its verdicts
    and cluster numbers, and the ids of every document they name; returns both files' rows and the number of
    documents per decision."""

    folder: Path
    output_format: str
    strip: bool
    read: ReadConfig

    def __call__(
        self, task: tuple[Judged, Sequence[Verdict], list[int | None], dict[int, str]]
    ) -> tuple[Encoded, Encoded, dict[str, int]]:
        source, judged_columns, clusters, ids = task
        verdicts = list(judged_columns)  # read twice below
        first, items = source.first, source.items
        if all(isinstance(item, Document) for item in items):
            documents = cast(list[Document], items)
        else:
            lines = expand_slices(cast(list[Raw | Slice], items))
            check_count(first, source.count, len(lines))
            documents = raw_documents(lines, first, [ids[first + i] for i in range(len(lines))], self.read)
        check_batch(documents, source.checksum)
        corpus = Corpus.bounds_from(self.folder)
        judged = zip(documents, verdicts, strict=True)
        chars = corpus.char_table(d for doc, verdict in judged for d in _decision_docs(doc.index, verdict))
        decisions, kept = [], []
        counts = {"keep": 0, "trim": 0, "drop": 0}
        id_field, text_field = self.read.id_field, self.read.text_field
        for doc, verdict, cluster in zip(documents, verdicts, clusters, strict=True):
            decision, text = _decision(doc, verdict, cluster, ids, corpus, self.strip, chars)
            counts[decision.decision] += 1
            decisions.append(decision.to_dict())
            if text is not None:
                kept.append({id_field: doc.id, text_field: text, **doc.metadata})
        return encoded(decisions, self.output_format), encoded(kept, self.output_format), counts


def write_outputs(
    out: Path,
    documents: Iterator[Batch[Document]] | Iterator[Batch[Raw]] | Iterator[Batch[Raw | Slice]],
    corpus: Corpus,
    relations: Relations,
    verdicts: Verdicts,
    clusters: Sequence[Sequence[int]],
    numbers: Sequence[int | None],
    config: Config,
    *,
    folder: Path,
    mapper: Mapper[Any, Any] = map,
) -> tuple[dict[str, int], dict[str, int]]:
    """Write every output file but the summary; return the number of documents per decision and of pairs per
    relation.

    The rows are made in chunks by `mapper` (an engine's `map`: in its workers) from the corpus in `folder`
    (`Corpus.bounds_from`); this process hands out the chunks and writes what comes back, in order. The
    documents come in the first pass' batches read again (`reprints.io.verify.batches_again`): read, or JSON
    Lines not yet parsed; the workers parse those, and check every batch against the first pass.
    """
    fmt = config.run.output_format
    counts = {"keep": 0, "trim": 0, "drop": 0}
    relation_counts: dict[str, int] = dict.fromkeys(RELATIONS, 0)
    token_counts = corpus.token_counts
    ids = corpus.ids

    def pair_tasks() -> Iterator[tuple[list[Link], dict[int, str]]]:
        links = expanded_links(relations, token_counts, config.candidates.anchor_df_cap)
        for chunk in _chunks(links, lambda link: (link.a, link.b), token_counts):
            named = {doc for link in chunk for doc in (link.a, link.b)}
            for link in chunk:
                relation_counts[link.relation] += 1
            yield chunk, {doc: ids[doc] for doc in sorted(named)}

    with RowWriter(out, "pairs", fmt) as pairs:
        for rows in mapper(PairRows(folder, fmt), pair_tasks()):
            pairs.write_encoded(rows)
    with RowWriter(out, "clusters", fmt) as cluster_file:
        for row in cluster_rows(clusters, numbers, relations, corpus):
            cluster_file.write(row)
    task = DecisionRows(folder, fmt, config.boilerplate.strip_boilerplate, config.read)

    def decision_tasks() -> Iterator[tuple[Judged, Sequence[Verdict], list[int | None], dict[int, str]]]:
        for source in documents:
            docs = range(source.first, source.first + source.count)
            judged = verdicts.part(source.first, source.count)  # as columns: made into verdicts in the worker
            named = set(docs) | judged.named()
            yield source, judged, [numbers[doc] for doc in docs], {doc: ids[doc] for doc in sorted(named)}

    with RowWriter(out, "documents", fmt) as decisions, RowWriter(out, "deduplicated", fmt) as kept:
        for decision_rows, kept_rows, chunk_counts in mapper(task, decision_tasks()):
            decisions.write_encoded(decision_rows)
            kept.write_encoded(kept_rows)
            for decision, count in chunk_counts.items():
                counts[decision] += count
    return counts, relation_counts
