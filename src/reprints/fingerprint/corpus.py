"""The fingerprints of a whole corpus, gathered batch by batch, laid out as flat arrays."""

from __future__ import annotations

import contextlib
import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reprints.align.chain import MatchIndex
from reprints.fingerprint.hashing import U64, doc_bits_for
from reprints.fingerprint.shingles import document_hashes, fingerprint, sketches
from reprints.io.arrays import Column, Strings, checkpointed, drop_pages, load_dataclass, ranges
from reprints.normalize.boilerplate import line_keys
from reprints.normalize.lines import split_lines
from reprints.normalize.template import template_mask
from reprints.normalize.tokens import I64, Tokens, keep_tokens, tokenize

I32 = npt.NDArray[np.int32]


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
    """Tokenize a batch of texts and split it into lines."""
    tokens = tokenize(texts, seed)
    lines = split_lines(texts, tokens)
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
) -> BatchPrints:
    """Fingerprint a tokenized batch.

    Tokens on boilerplate lines (line keys in the sorted array `boilerplate`, per site in `sites`) are left
    out of shingles, anchors and coverage; the whole-document hash still covers every token, so `exact`
    keeps its meaning. The tokens left are marked template or not (`reprints.normalize.template`).
    """
    offsets = _offsets(batch.token_counts)
    template = template_mask(batch.hashes, offsets, seed)
    lead, trail = batch.lead.astype(np.int64), batch.trail.astype(np.int64)
    tokens = Tokens(lead, trail, batch.hashes, offsets, lead, trail)
    count = len(batch.token_counts)
    spans = np.empty(0, dtype=np.int64)
    bp_docs, bp_starts, bp_ends = spans, spans, spans
    bp_tokens = np.zeros(count, dtype=np.int64)
    if boilerplate is not None and len(boilerplate) and len(batch.line_docs):
        site_of_line = sites[batch.line_docs] if sites is not None else np.zeros(len(batch.line_docs), np.int64)
        hit = _members(line_keys(batch.line_hashes, site_of_line), boilerplate)
        line_tokens = batch.line_token_end[hit] - batch.line_token_start[hit]
        drop = np.zeros(len(batch.hashes), dtype=np.bool_)
        drop[ranges(offsets[batch.line_docs[hit]] + batch.line_token_start[hit], line_tokens)] = True
        bp_docs, bp_starts, bp_ends = batch.line_docs[hit], batch.line_char_start[hit], batch.line_char_end[hit]
        bp_tokens = np.bincount(bp_docs, weights=line_tokens, minlength=count).astype(np.int64)
        tokens = keep_tokens(tokens, ~drop)
        template = template[~drop]
    prints = fingerprint(tokens, shingle_size=shingle_size, window=window, seed=seed)
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
    """A picklable `tokenize_batch`, checkpointing each batch as `checkpoints/NNNNNN.npz`.

    Called with `(batch number, texts)`; returns the batch's lines (document numbers local to the batch) and
    whether they came from a checkpoint. The tokens stay in the checkpoint for the fingerprint pass.
    """

    checkpoints: Path
    seed: int

    def __call__(self, task: tuple[int, list[str]]) -> tuple[LineBatch, bool]:
        number, texts = task
        batch, loaded = checkpointed(
            self.checkpoints / f"{number:06d}.npz", TokenBatch, lambda: tokenize_batch(texts, self.seed)
        )
        lines = LineBatch(
            batch.line_docs,
            batch.line_hashes,
            batch.line_token_end - batch.line_token_start,
            batch.doc_hashes,
            batch.token_counts,
            batch.doc_sketches,
        )
        return lines, loaded


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
    """A picklable `fingerprint_tokens` over the token checkpoints, checkpointing each batch in `checkpoints`.

    Called with `(batch number, sites of its documents)`; a batch already fingerprinted is loaded. Returns the
    batch's fingerprints and whether they came from a checkpoint.
    """

    tokens: Path
    checkpoints: Path
    shingle_size: int
    window: int
    seed: int
    boilerplate: Path | None = None

    def __call__(self, task: tuple[int, I64]) -> tuple[BatchPrints, bool]:
        number, sites = task

        def compute() -> BatchPrints:
            batch = load_dataclass(self.tokens / f"{number:06d}.npz", TokenBatch)
            assert batch is not None, f"token checkpoint {number} is missing"
            keys = np.load(self.boilerplate) if self.boilerplate is not None else None
            return fingerprint_tokens(batch, self.shingle_size, self.window, self.seed, keys, sites)

        return checkpointed(self.checkpoints / f"{number:06d}.npz", BatchPrints, compute)


def _members(values: U64, sorted_keys: U64) -> npt.NDArray[np.bool_]:
    """Whether each value is one of `sorted_keys` (sorted, as learned): binary searches, where `np.isin` sorts
    the values and all the keys again at every batch (and every query of the index)."""
    if len(sorted_keys) > 1 and not bool(np.all(sorted_keys[1:] >= sorted_keys[:-1])):
        sorted_keys = np.sort(sorted_keys)
    at = np.searchsorted(sorted_keys, values)
    hit = at < len(sorted_keys)
    hit[hit] = sorted_keys[at[hit]] == values[hit]
    return hit


def _offsets(counts: I64) -> I64:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


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

    def save_index(self, folder: Path) -> None:
        """Write what `load_index` needs besides the arrays `seal(folder)` already mapped there."""
        assert self.index is not None
        for name in ("keys", "positions", "offsets", "token_counts"):
            target = folder / f"{name}.npy"
            value = getattr(self.index, name)
            if isinstance(value, np.memmap) and Path(str(value.filename)) == target.resolve():
                value.flush()
            else:
                np.save(target, value)
        (folder / "doc_bits").write_text(str(self.index.doc_bits), encoding="utf-8")


class CorpusWriter:
    """Fills a Corpus batch by batch (`add`, then `finish`), so the batches never sit in memory together.

    With a `folder`, the per-token arrays (character offsets, template counts and the match index) are written
    to `.npy` files there as the batches arrive and mapped read-only at the end: pages the operating system can
    evict, and which worker processes map instead of copying (see `load_index`). So are the anchors (read once,
    by the candidate join) and the boilerplate lines removed (read when writing). Per-document arrays stay in
    memory.
    """

    def __init__(self, corpus: Corpus, folder: Path | None, documents: int) -> None:
        self.corpus = corpus
        self.doc_bits = doc_bits_for(documents)
        self.lead = Column(folder, "lead", np.int32)
        self.trail = Column(folder, "trail", np.int32)
        self.template_before = Column(folder, "template_before", np.int64)
        self.template_before.append(np.zeros(1, dtype=np.int64))
        self.templates = 0
        self.keys = Column(folder, "keys", np.uint64)
        self.positions = Column(folder, "positions", np.int32)
        self.per_doc = {  # in memory
            name: Column(None, name, dtype)
            for name, dtype in (
                ("token_counts", np.int64),
                ("match_counts", np.int64),
                ("doc_hashes", np.uint64),
                ("boilerplate_tokens", np.int64),
            )
        }
        self.anchor_docs = Column(folder, "anchor_docs", np.int64)
        self.anchor_hashes = Column(folder, "anchor_hashes", np.uint64)
        self.boilerplate = [Column(folder, f"boilerplate_{name}", np.int64) for name in ("docs", "starts", "ends")]
        self.docs = 0

    def add(self, batch: BatchPrints) -> None:
        """Append one batch (documents numbered after those already added)."""
        d = self.docs
        self.lead.append(batch.lead)
        self.trail.append(batch.trail)
        before = np.cumsum(batch.template, dtype=np.int64) + self.templates
        self.template_before.append(before)
        self.templates = int(before[-1]) if len(before) else self.templates
        self.keys.append(MatchIndex.keys_for(batch.match_hashes, batch.match_counts, d, self.doc_bits))
        self.positions.append(batch.match_positions)
        for name, column in self.per_doc.items():
            column.append(getattr(batch, name))
        self.anchor_docs.append(batch.anchor_docs + d)
        self.anchor_hashes.append(batch.anchor_hashes)
        for column, values in zip(
            self.boilerplate,
            (batch.boilerplate_docs + d, batch.boilerplate_starts, batch.boilerplate_ends),
            strict=True,
        ):
            column.append(values)
        self.docs += len(batch.token_counts)

    def finish(self) -> None:
        """Lay the corpus out (call once, after the last batch)."""
        corpus = self.corpus
        token_counts, match_counts, corpus.doc_hashes, corpus.boilerplate_tokens = (
            column.close() for column in self.per_doc.values()
        )
        corpus.anchor_docs = self.anchor_docs.close().view(np.ndarray)
        corpus.anchor_hashes = self.anchor_hashes.close().view(np.ndarray)
        corpus.token_offsets = _offsets(token_counts)
        # Plain views of the mappings: indexing a np.memmap goes through Python, and `char_span` indexes these
        # once per passage written.
        lead, trail, template_before = self.lead.close(), self.trail.close(), self.template_before.close()
        keys, positions = self.keys.close(), self.positions.close()
        boilerplate = [column.close() for column in self.boilerplate]
        every = (lead, trail, template_before, keys, positions, *boilerplate)
        corpus.mapped = [a for a in every if isinstance(a, np.memmap)]
        corpus.boilerplate_docs, corpus.boilerplate_starts, corpus.boilerplate_ends = (
            a.view(np.ndarray) for a in boilerplate
        )
        for array in corpus.mapped:
            # Read here a few values per passage, scattered over the corpus: without this hint each page fault
            # reads ahead, and a pass writing the pairs made a gigabyte of these files resident between two
            # releases (`release_pages`) at 640k documents.
            with contextlib.suppress(AttributeError, OSError, ValueError):
                array._mmap.madvise(mmap.MADV_RANDOM)
        corpus.lead, corpus.trail = lead.view(np.ndarray), trail.view(np.ndarray)
        corpus.template_before = template_before
        corpus.index = MatchIndex(keys, positions, _offsets(match_counts), token_counts, self.doc_bits)


INDEX_ARRAYS = ("keys", "positions", "offsets", "token_counts")


def load_index(folder: Path) -> MatchIndex:
    """Map a match index written by `Corpus.save_index`."""
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in INDEX_ARRAYS}
    doc_bits = int((folder / "doc_bits").read_text(encoding="utf-8"))
    return MatchIndex(arrays["keys"], arrays["positions"], arrays["offsets"], arrays["token_counts"], doc_bits)
