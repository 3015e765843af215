"""The fingerprints of a whole corpus, gathered batch by batch, laid out as flat arrays."""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reprints.align.chain import MatchIndex
from reprints.config import ReadConfig
from reprints.fingerprint.hashing import U64, doc_bits_for
from reprints.fingerprint.shingles import document_hashes, fingerprint, sketches
from reprints.io.arrays import (
    Column,
    Strings,
    batch_file,
    drop_pages,
    load_dataclass,
    offsets_of,
    ranges,
    read_rows,
    save_dataclass,
    save_npy,
)
from reprints.io.records import Fields
from reprints.io.slices import Slice
from reprints.io.sources import Raw, checked, expand_slices, parse_raw
from reprints.io.verify import text_digest
from reprints.io.writers import write_json
from reprints.normalize.boilerplate import line_keys, site_of
from reprints.normalize.lines import split_lines
from reprints.normalize.template import template_mask
from reprints.normalize.tokens import I64, PIECE_CHARS, Tokens, joined_code_points, keep_tokens, tokenize

I32 = npt.NDArray[np.int32]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchPrints:
    """Tokens and fingerprints of one batch of documents (document numbers local to the batch)."""

    token_counts: I64
    lead: I32
    trail: I32
    match_hashes: U64
    match_positions: I32
    match_counts: I64
    anchor_docs: I64
    anchor_hashes: U64
    doc_hashes: U64
    boilerplate_tokens: I64
    boilerplate_docs: I64
    boilerplate_starts: I64
    boilerplate_ends: I64
    template: npt.NDArray[np.bool_]  # of every token left (see `reprints.normalize.template`)


@dataclass(frozen=True, slots=True)
class TokenBatch:
    """Tokens and lines of one batch of documents: the checkpoint of the reading pass.

    Everything later passes need from the texts, so they never read or tokenize the input again. Document
    numbers of lines are local to the batch; token positions of lines are within their document.
    """

    token_counts: I64
    hashes: U64
    lead: I32
    trail: I32
    doc_hashes: U64
    doc_sketches: U64
    line_docs: I64
    line_hashes: U64
    line_token_start: I64
    line_token_end: I64
    line_char_start: I64
    line_char_end: I64


def tokenize_batch(texts: list[str], seed: int) -> TokenBatch:
    """Tokenize a batch of texts and split it into lines (both from one code-point array of the texts, when they
    fit in one piece)."""
    code_points = joined_code_points(texts) if texts and sum(map(len, texts)) <= PIECE_CHARS else None
    tokens = tokenize(texts, seed, code_points=code_points)
    lines = split_lines(texts, tokens, code_points=code_points)
    return TokenBatch(
        np.diff(tokens.offsets),
        tokens.hashes,
        tokens.lead.astype(np.int32),
        tokens.trail.astype(np.int32),
        document_hashes(tokens, seed),
        sketches(tokens, seed),
        lines.doc,
        lines.hashes,
        lines.token_start,
        lines.token_end,
        lines.char_start,
        lines.char_end,
    )


def concat_token_batches(*batches: TokenBatch) -> TokenBatch:
    """The documents of the batches one after another, as if they had been tokenized together."""
    values = {}
    firsts = np.cumsum([0] + [len(batch.token_counts) for batch in batches])
    for name in TokenBatch.__dataclass_fields__:
        parts = [getattr(batch, name) for batch in batches]
        if name == "line_docs":
            parts = [part + first for part, first in zip(parts, firsts.tolist(), strict=False)]
        values[name] = np.vstack(parts) if name == "doc_sketches" else np.concatenate(parts)
    return TokenBatch(**values)


def fingerprint_tokens(
    batch: TokenBatch,
    shingle_size: int,
    window: int,
    seed: int,
    boilerplate: U64 | None = None,
    sites: I64 | None = None,
    focus: bool = False,
    template: npt.NDArray[np.bool_] | None = None,
) -> BatchPrints:
    """Fingerprint a tokenized batch.

    Tokens on boilerplate lines (line keys in the sorted array `boilerplate`, per site in `sites`) are left
    out of shingles, anchors and coverage; the whole-document hash still covers every token, so `exact`
    keeps its meaning. The tokens left are marked template or not (`reprints.normalize.template`). With
    `focus`, the batch is fingerprinted for aligning its first document with each of the others only
    (`reprints.fingerprint.shingles.fingerprint`). `template`: the marks, when known already (an index keeps
    its documents').
    """
    offsets = offsets_of(batch.token_counts)
    if template is None:
        template = template_mask(batch.hashes, offsets, seed)
    lead, trail = batch.lead.astype(np.int64), batch.trail.astype(np.int64)
    tokens = Tokens(lead, trail, batch.hashes, offsets, lead, trail)
    count = len(batch.token_counts)
    spans = np.empty(0, dtype=np.int64)
    bp_docs, bp_starts, bp_ends = spans, spans, spans
    bp_tokens = np.zeros(count, dtype=np.int64)
    if boilerplate is not None and len(boilerplate) and len(batch.line_docs):
        site_of_line = sites[batch.line_docs] if sites is not None else np.zeros(len(batch.line_docs), np.int64)
        hit = boilerplate_lines(batch.line_hashes, site_of_line, boilerplate)
        line_tokens = batch.line_token_end[hit] - batch.line_token_start[hit]
        drop = np.zeros(len(batch.hashes), dtype=np.bool_)
        drop[ranges(offsets[batch.line_docs[hit]] + batch.line_token_start[hit], line_tokens)] = True
        bp_docs, bp_starts, bp_ends = batch.line_docs[hit], batch.line_char_start[hit], batch.line_char_end[hit]
        bp_tokens = np.bincount(bp_docs, weights=line_tokens, minlength=count).astype(np.int64)
        if line_tokens.any():
            tokens = keep_tokens(tokens, ~drop)
            template = template[~drop]
    prints = fingerprint(tokens, shingle_size=shingle_size, window=window, seed=seed, focus=focus)
    return BatchPrints(
        np.diff(tokens.offsets),
        tokens.lead.astype(np.int32),
        tokens.trail.astype(np.int32),
        prints.match_hashes,
        prints.match_positions.astype(np.int32),
        prints.match_counts,
        prints.anchor_docs,
        prints.anchor_hashes,
        batch.doc_hashes,
        bp_tokens,
        bp_docs,
        bp_starts,
        bp_ends,
        template,
    )


def fingerprint_batch(texts: list[str], shingle_size: int, window: int, seed: int) -> BatchPrints:
    """Tokenize and fingerprint a batch of texts (no boilerplate): what `compare` needs."""
    return fingerprint_tokens(tokenize_batch(texts, seed), shingle_size, window, seed)


@dataclass(frozen=True, slots=True)
class TokenizeTask:
    """A picklable `tokenize_batch`, checkpointing each batch twice: its tokens as `tokens/NNNNNN.arrays` (for the
    fingerprint pass, which deletes them once the batch is in the match index) and its lines as
    `reading/NNNNNN.arrays` (what the reading pass returns, so a resumed run reads them back).

    Called with `(batch number, texts)`; returns the batch's lines (document numbers local to the batch) and
    whether they came from a checkpoint. Batches below `fingerprinted` are in the match index already: their
    tokens are not needed again.
    """

    tokens: Path
    reading: Path
    seed: int
    fingerprinted: int = 0

    def __call__(self, task: tuple[int, list[str]]) -> tuple[LineBatch, bool]:
        number, texts = task
        tokens_path, lines_path = (batch_file(folder, number) for folder in (self.tokens, self.reading))
        need_tokens = number >= self.fingerprinted
        batch = load_dataclass(tokens_path, TokenBatch) if need_tokens else None
        lines = load_dataclass(lines_path, LineBatch)
        if lines is not None and (batch is not None or not need_tokens):
            return lines, True
        if batch is None:
            batch = tokenize_batch(texts, self.seed)
            if need_tokens:
                save_dataclass(tokens_path, batch)
        if lines is None:
            lines = LineBatch(
                batch.line_docs,
                batch.line_hashes,
                batch.line_token_end - batch.line_token_start,
                batch.doc_hashes,
                batch.token_counts,
                batch.doc_sketches,
            )
            save_dataclass(lines_path, lines)
        return lines, False


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """What the main process keeps of each document of a batch of JSON Lines parsed by a worker
    (`RawTokenizeTask`), in input order: everything the reading pass records about a document but its tokens."""

    ids: list[str]  # each record's own id (the main process renames repeated ones: `reprints.io.sources.Names`)
    wheres: list[str]
    problems: list[list[str]]  # to report, in order (`reprints.io.sources.checked`)
    errors: list[str | None]
    sites: list[str]  # `reprints.normalize.boilerplate.site_of`
    order_values: list[Any]  # the `order_by` field's value (empty without one)
    digests: list[int]  # `reprints.io.verify.text_digest` of each text


@dataclass(frozen=True, slots=True)
class RawTokenizeTask:
    """A `TokenizeTask` over JSON Lines not yet parsed: lines the main process read
    (`reprints.io.sources.raw_records`), or ranges of files the worker reads (`reprints.io.slices`). The worker
    parses and checks the records, then tokenizes their texts (or loads the batch's checkpoint).

    Called with `(batch number, items)`; returns the batch's lines, whether they came from a checkpoint, and
    what the main process keeps of each document.
    """

    tokenize: TokenizeTask
    read: ReadConfig
    site_field: str | None
    order_by: str | None

    def __call__(self, task: tuple[int, list[Raw] | list[Slice]]) -> tuple[LineBatch, bool, ParsedBatch]:
        number, items = task
        fields = Fields.of(self.read)
        records = [checked(parse_raw(item, fields), self.read) for item in expand_slices(items)]
        texts = [record.text or "" for record, _ in records]
        lines, loaded = self.tokenize((number, texts))
        order_by = self.order_by
        parsed = ParsedBatch(
            [record.id for record, _ in records],
            [record.where for record, _ in records],
            [problems for _, problems in records],
            [record.error for record, _ in records],
            [site_of(dict(record.metadata), self.site_field) for record, _ in records],
            [record.metadata.get(order_by) for record, _ in records] if order_by is not None else [],
            [text_digest(text) for text in texts],
        )
        return lines, loaded, parsed


@dataclass(frozen=True, slots=True)
class LineBatch:
    """Lines of one batch of documents, for boilerplate learning, and each document's hash and tokens."""

    docs: I64
    hashes: U64
    token_counts: I64
    doc_hashes: U64
    doc_tokens: I64
    doc_sketches: U64


@dataclass(frozen=True, slots=True)
class FingerprintTask:
    """A picklable `fingerprint_tokens` over the token checkpoints (the match index it feeds is the checkpoint
    of its results: see `CorpusWriter.checkpoint`).

    Called with `(batch number, sites of its documents)`; returns the batch's fingerprints.
    """

    tokens: Path
    shingle_size: int
    window: int
    seed: int
    boilerplate: Path | None = None

    def __call__(self, task: tuple[int, I64]) -> BatchPrints:
        number, sites = task
        batch = load_dataclass(batch_file(self.tokens, number), TokenBatch)
        assert batch is not None, f"token checkpoint {number} is missing"
        keys = np.load(self.boilerplate) if self.boilerplate is not None else None
        return fingerprint_tokens(batch, self.shingle_size, self.window, self.seed, keys, sites)


def boilerplate_lines(line_hashes: U64, line_sites: I64, boilerplate: U64) -> npt.NDArray[np.bool_]:
    """Which lines (their hashes and sites) are boilerplate: their keys among the sorted keys learned."""
    return members(line_keys(line_hashes, line_sites), boilerplate)


def members(values: U64, sorted_keys: U64) -> npt.NDArray[np.bool_]:
    """Whether each value is one of `sorted_keys` (sorted, as learned): binary searches, where `np.isin` sorts
    the values and all the keys again at every batch (and every query of the index)."""
    if len(sorted_keys) > 1 and not bool(np.all(sorted_keys[1:] >= sorted_keys[:-1])):
        sorted_keys = np.sort(sorted_keys)
    hit = np.zeros(len(values), dtype=np.bool_)
    if not len(sorted_keys):
        return hit
    # A bitmap of the keys' low bits (about 16 bits per key) sifts the values; the few that pass are searched.
    low = np.uint64(min(1 << 24, max(1 << 10, 1 << (16 * len(sorted_keys)).bit_length())) - 1)
    seen = np.zeros(int(low) + 1, dtype=np.bool_)
    seen[(sorted_keys & low).astype(np.intp)] = True
    maybe = np.flatnonzero(seen[(values & low).astype(np.intp)])
    at = np.minimum(np.searchsorted(sorted_keys, values[maybe]), len(sorted_keys) - 1)
    hit[maybe[sorted_keys[at] == values[maybe]]] = True
    return hit


@dataclass(slots=True)
class Corpus:
    """Everything later stages need about every document, without the texts."""

    ids: Strings = field(default_factory=Strings)
    errors: dict[int, str] = field(default_factory=dict)
    order_values: dict[int, Any] = field(default_factory=dict)
    batches: list[BatchPrints] = field(default_factory=list)
    token_offsets: I64 = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    lead: I32 = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    trail: I32 = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    doc_hashes: U64 = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    anchor_docs: I64 = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    anchor_hashes: U64 = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    index: MatchIndex | None = None
    boilerplate_tokens: I64 = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    boilerplate_docs: I64 = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # the boilerplate lines
    boilerplate_starts: I64 = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # removed, in document
    boilerplate_ends: I64 = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # order (characters)
    template_before: I64 = field(default_factory=lambda: np.zeros(1, dtype=np.int64))  # template tokens before each
    mapped: list[Any] = field(default_factory=list)  # the memory-mapped arrays (see `release_pages`)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def token_counts(self) -> I64:
        """Tokens of each document, boilerplate left out."""
        return np.diff(self.token_offsets)

    @property
    def total_tokens(self) -> I64:
        """Tokens of each document, boilerplate included."""
        return self.token_counts + self.boilerplate_tokens

    def seal(self, folder: Path | None = None) -> None:
        """Gather `batches` into corpus-wide arrays (call once, after the last batch; see `CorpusWriter`)."""
        writer = CorpusWriter(self, folder, sum(len(b.token_counts) for b in self.batches))
        batches, self.batches = self.batches, []
        batches.reverse()
        while batches:
            writer.add(batches.pop())
        writer.finish()

    def release_anchors(self) -> None:
        """Let go of the anchors once the candidate pairs are found (nothing after needs them)."""
        self.anchor_docs = np.empty(0, dtype=np.int64)
        self.anchor_hashes = np.empty(0, dtype=np.uint64)

    def release_pages(self) -> None:
        """Drop the pages of the mapped arrays this process has read from its resident set: they stay in the
        operating system's file cache and are read back from there when needed, so a pass over every
        document's offsets (writing the outputs) does not keep them all in the process's memory."""
        drop_pages(*self.mapped)

    def boilerplate_spans(self, doc: int) -> list[tuple[int, int]]:
        """Characters of each boilerplate line removed from a document, in text order."""
        lo, hi = np.searchsorted(self.boilerplate_docs, (doc, doc + 1))
        return list(zip(self.boilerplate_starts[lo:hi].tolist(), self.boilerplate_ends[lo:hi].tolist(), strict=True))

    def char_span(self, doc: int, start: int, end: int) -> tuple[int, int]:
        """Characters of tokens `start:end` of a document, widened over glued punctuation."""
        base = int(self.token_offsets[doc])
        return int(self.lead[base + start]), int(self.trail[base + end - 1])

    def char_table(self, docs: Iterable[int]) -> CharTable:
        """The character bounds of every token of `docs`, read at once (see `CharTable`)."""
        return CharTable(self, docs)

    @classmethod
    def bounds_from(cls, folder: Path) -> Corpus:
        """A corpus holding only what writing output rows reads (the character bounds of every token, each
        document's token offsets and the boilerplate lines removed), mapped from `folder`: where `CorpusWriter`
        wrote a corpus and `save_index` its index. A worker writing rows opens it for each chunk it writes."""

        def mapped(name: str) -> Any:
            return np.load(folder / f"{name}.npy", mmap_mode="r").view(np.ndarray)

        return cls(
            token_offsets=offsets_of(np.asarray(mapped("token_counts"))),
            lead=mapped("lead"),
            trail=mapped("trail"),
            boilerplate_docs=mapped("boilerplate_docs"),
            boilerplate_starts=mapped("boilerplate_starts"),
            boilerplate_ends=mapped("boilerplate_ends"),
        )

    def save_index(self, folder: Path) -> None:
        """Write what `load_index` needs besides the arrays `seal(folder)` already mapped there."""
        assert self.index is not None
        for name in INDEX_ARRAYS:
            target = folder / f"{name}.npy"
            value = getattr(self.index, name)
            if isinstance(value, np.memmap) and Path(str(value.filename)) == target.resolve():
                value.flush()
            else:  # (`doc_hashes.npy` is also a column of the fingerprint checkpoint: never left half-written)
                save_npy(target, value)
        (folder / "doc_bits").write_text(str(self.index.doc_bits), encoding="utf-8")


PROGRESS = "progress.json"

# Every column of the corpus a CorpusWriter fills: per token, per match, per anchor, per boilerplate line
# removed, per document.
_COLUMNS: tuple[tuple[str, type], ...] = (
    ("lead", np.int32),
    ("trail", np.int32),
    ("template_before", np.int64),
    ("keys", np.uint64),
    ("positions", np.int32),
    ("anchor_docs", np.int64),
    ("anchor_hashes", np.uint64),
    ("boilerplate_docs", np.int64),
    ("boilerplate_starts", np.int64),
    ("boilerplate_ends", np.int64),
    ("doc_token_counts", np.int64),
    ("doc_match_counts", np.int64),
    ("doc_hashes", np.uint64),
    ("doc_boilerplate_tokens", np.int64),
)


def saved_progress(folder: Path) -> dict[str, Any] | None:
    """How far the corpus in `folder` was written by an earlier run (`CorpusWriter.checkpoint`), if it can be
    continued: None if nothing was checkpointed, or if the record or a column is damaged (with a warning): cut
    short, or its values checkpointed not what the file holds (read whole to check: a changed value would give
    wrong spans)."""
    path = folder / PROGRESS
    try:
        progress = json.loads(path.read_text(encoding="utf-8"))
        columns = {name: int(progress["columns"][name]) for name, _ in _COLUMNS}
        recorded = {name: str(progress["digests"][name]) for name, _ in _COLUMNS}
        counters = {key: int(progress[key]) for key in ("batches", "documents", "templates")}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("discarding damaged checkpoint %s (%s); fingerprinting every batch again", path, exc)
        return None
    digests = {}
    for name, dtype in _COLUMNS:
        try:
            digests[name] = Column.prefix_digest(folder, name, dtype, columns[name])  # (refuses a short one)
            if digests[name].hexdigest() != recorded[name]:
                raise ValueError(f"{name}.npy differs from what was written")
        except (OSError, ValueError) as exc:
            log.warning("discarding damaged checkpoint %s (%s); fingerprinting every batch again", path, exc)
            return None
    return {**counters, "columns": columns, "digests": digests}


class CharTable:
    """The character bounds of the tokens of some documents, read from the corpus' files in one pass: its
    `char_span` answers as `Corpus.char_span` does. Writing the outputs looked up two values per passage
    through the mapped per-token files, scattered over the whole corpus: a page fault each, and once the files
    outgrow the page cache a read from disk each (the write stage took 312 s of 1,006 at 2.5 million documents).
    Reading whole documents' rows with positioned reads (`read_rows`) costs a read per run of documents and
    leaves nothing mapped. A document of more than WHOLE_TOKENS tokens is not read whole (a long book cited by
    many documents would be read again for each chunk): it is looked up through the corpus as before."""

    WHOLE_TOKENS = 65_536

    def __init__(self, corpus: Corpus, docs: Iterable[int]) -> None:
        self.corpus = corpus
        wanted = np.unique(np.fromiter(docs, dtype=np.int64))
        starts, stops = corpus.token_offsets[wanted], corpus.token_offsets[wanted + 1]
        small = stops - starts <= self.WHOLE_TOKENS
        wanted, starts, stops = wanted[small], starts[small], stops[small]
        self.lead = read_rows(corpus.lead, starts, stops)
        self.trail = read_rows(corpus.trail, starts, stops)
        lengths = stops - starts
        bases = np.cumsum(lengths) - lengths
        self.docs, self.bases, self.lengths = wanted, bases, lengths
        self.rows = dict(zip(wanted.tolist(), zip(bases.tolist(), lengths.tolist(), strict=True), strict=True))

    def char_span(self, doc: int, start: int, end: int) -> tuple[int, int]:
        """Characters of tokens `start:end` of a document, widened over glued punctuation."""
        base, length = self.rows.get(doc, (0, 0))
        if not (0 <= start < length and 0 <= end - 1 < length):  # outside it, or not read: ask the corpus
            return self.corpus.char_span(doc, start, end)
        return int(self.lead[base + start]), int(self.trail[base + end - 1])

    def char_spans(self, docs: I64, starts: I64, ends: I64) -> tuple[I64, I64]:
        """`char_span` of many token ranges at once: their first and last characters, as two arrays."""
        held = np.zeros(len(docs), dtype=np.bool_)
        base = np.zeros(len(docs), dtype=np.int64)
        length = np.zeros(len(docs), dtype=np.int64)
        if len(self.docs):
            at = np.minimum(np.searchsorted(self.docs, docs), len(self.docs) - 1)
            held = self.docs[at] == docs
            base = np.where(held, self.bases[at], 0)
            length = np.where(held, self.lengths[at], 0)
        inside = held & (starts >= 0) & (starts < length) & (ends >= 1) & (ends <= length)
        first = np.empty(len(docs), dtype=np.int64)
        last = np.empty(len(docs), dtype=np.int64)
        first[inside] = self.lead[base[inside] + starts[inside]]
        last[inside] = self.trail[base[inside] + ends[inside] - 1]
        for k in np.flatnonzero(~inside).tolist():  # outside a document read, or not read: ask the corpus
            first[k], last[k] = self.corpus.char_span(int(docs[k]), int(starts[k]), int(ends[k]))
        return first, last


class CorpusWriter:
    """Fills a Corpus batch by batch (`add`, then `finish`), so the batches never sit in memory together.

    With a `folder`, every array is written to a `.npy` file there as the batches arrive, and the per-token
    arrays (character offsets, template counts and the match index) are mapped read-only at the end: pages the
    operating system can evict, and which worker processes map instead of copying (see `load_index`). So are the
    anchors (read once, by the candidate join) and the boilerplate lines removed (read when writing).
    Per-document arrays are read back into memory.

    The files are also the fingerprint pass's checkpoint: `checkpoint` hands what was added to the operating
    system and records how much that is, with a digest of each column's values (checked before a run continues
    them); a writer made with that record (`saved_progress`) continues after it, cutting off
    whatever a killed run wrote past it.
    """

    def __init__(
        self, corpus: Corpus, folder: Path | None, documents: int, *, resume: dict[str, Any] | None = None
    ) -> None:
        self.corpus = corpus
        self.folder = folder
        self.doc_bits = doc_bits_for(documents)
        if folder is None:
            resume = None
        elif resume is None:
            (folder / PROGRESS).unlink(missing_ok=True)
        self.columns = {
            name: Column(
                folder,
                name,
                dtype,
                resume_at=resume["columns"][name] if resume else None,
                digest=resume["digests"][name] if resume else None,
            )
            for name, dtype in _COLUMNS
        }
        self.batches = resume["batches"] if resume else 0
        self.docs = resume["documents"] if resume else 0
        self.templates = resume["templates"] if resume else 0
        if resume is None:
            self.columns["template_before"].append(np.zeros(1, dtype=np.int64))

    def add(self, batch: BatchPrints) -> None:
        """Append one batch (documents numbered after those already added)."""
        d, columns = self.docs, self.columns
        columns["lead"].append(batch.lead)
        columns["trail"].append(batch.trail)
        before = np.cumsum(batch.template, dtype=np.int64) + self.templates
        columns["template_before"].append(before)
        self.templates = int(before[-1]) if len(before) else self.templates
        columns["keys"].append(MatchIndex.keys_for(batch.match_hashes, batch.match_counts, d, self.doc_bits))
        columns["positions"].append(batch.match_positions)
        columns["anchor_docs"].append(batch.anchor_docs + d)
        columns["anchor_hashes"].append(batch.anchor_hashes)
        columns["boilerplate_docs"].append(batch.boilerplate_docs + d)
        columns["boilerplate_starts"].append(batch.boilerplate_starts)
        columns["boilerplate_ends"].append(batch.boilerplate_ends)
        columns["doc_token_counts"].append(batch.token_counts)
        columns["doc_match_counts"].append(batch.match_counts)
        columns["doc_hashes"].append(batch.doc_hashes)
        columns["doc_boilerplate_tokens"].append(batch.boilerplate_tokens)
        self.docs += len(batch.token_counts)
        self.batches += 1

    def checkpoint(self) -> None:
        """Record the batches added so far, their values handed to the operating system first, so that a run
        killed later continues after them (`saved_progress`, which checks each column against its digest: what a
        crash of the machine damaged is fingerprinted again). Only with a folder."""
        assert self.folder is not None
        for column in self.columns.values():
            column.flush()
        progress = {
            "batches": self.batches,
            "documents": self.docs,
            "templates": self.templates,
            "doc_bits": self.doc_bits,
            "columns": {name: column.count for name, column in self.columns.items()},
            "digests": {name: column.digest.hexdigest() for name, column in self.columns.items()},
        }
        write_json(self.folder / PROGRESS, progress)

    def finish(self) -> None:
        """Lay the corpus out (call once, after the last batch)."""
        corpus = self.corpus
        arrays = {name: column.close() for name, column in self.columns.items()}
        token_counts, match_counts, corpus.doc_hashes, corpus.boilerplate_tokens = (
            np.array(arrays.pop(name))
            for name in ("doc_token_counts", "doc_match_counts", "doc_hashes", "doc_boilerplate_tokens")
        )
        corpus.anchor_docs = arrays.pop("anchor_docs").view(np.ndarray)
        corpus.anchor_hashes = arrays.pop("anchor_hashes").view(np.ndarray)
        corpus.token_offsets = offsets_of(token_counts)
        # Plain views of the mappings: indexing a np.memmap goes through Python, and `char_span` indexes these
        # once per passage written.
        corpus.mapped = [a for a in arrays.values() if isinstance(a, np.memmap)]
        corpus.boilerplate_docs, corpus.boilerplate_starts, corpus.boilerplate_ends = (
            arrays[name].view(np.ndarray) for name in ("boilerplate_docs", "boilerplate_starts", "boilerplate_ends")
        )
        for array in corpus.mapped:
            # Read here a few values per passage, scattered over the corpus: without this hint each page fault
            # reads ahead, and a pass writing the pairs made a gigabyte of these files resident between two
            # releases (`release_pages`) at 640k documents.
            with contextlib.suppress(AttributeError, OSError, ValueError):
                array._mmap.madvise(mmap.MADV_RANDOM)
        corpus.lead, corpus.trail = arrays["lead"].view(np.ndarray), arrays["trail"].view(np.ndarray)
        corpus.template_before = arrays["template_before"]
        offsets = offsets_of(match_counts)
        corpus.index = MatchIndex(
            arrays["keys"], arrays["positions"], offsets, token_counts, self.doc_bits, corpus.doc_hashes
        )


INDEX_ARRAYS = ("keys", "positions", "offsets", "token_counts", "doc_hashes")


def load_index(folder: Path) -> MatchIndex:
    """Map a match index written by `Corpus.save_index`."""
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in INDEX_ARRAYS}
    doc_bits = int((folder / "doc_bits").read_text(encoding="utf-8"))
    return MatchIndex(
        arrays["keys"], arrays["positions"], arrays["offsets"], arrays["token_counts"], doc_bits, arrays["doc_hashes"]
    )
