"""The fingerprints of a whole corpus, gathered batch by batch, laid out as flat arrays."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reprints.align.chain import MatchIndex, ranges
from reprints.fingerprint.hashing import U64, doc_bits_for
from reprints.fingerprint.shingles import document_hashes, fingerprint, sketches
from reprints.io.arrays import checkpointed, load_dataclass
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
        hit = np.isin(line_keys(batch.line_hashes, site_of_line), boilerplate)
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


def _reopen(array: Any) -> Any:
    """A written memory-mapped array flushed and mapped again read-only.

    Pages written through the first mapping stay in the process's resident set; the fresh mapping holds none
    until they are read, so a process that never reads them (the main process while workers align) does not
    carry them.
    """
    if not isinstance(array, np.memmap) or array.filename is None:
        return array
    array.flush()
    return np.load(array.filename, mmap_mode="r")


def _offsets(counts: I64) -> I64:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


@dataclass(slots=True)
class Corpus:
    """Everything later stages need about every document, without the texts."""

    ids: list[str] = field(default_factory=list)
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
    boilerplate_spans: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    template_before: I64 = field(default_factory=lambda: np.zeros(1, dtype=np.int64))  # template tokens before each

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
        """Gather the batches into corpus-wide arrays (call once, after the last batch).

        Each batch is copied into preallocated arrays and released at once, so the peak is the corpus
        arrays plus one batch, not twice the corpus. With a `folder`, the per-token arrays (character
        offsets and the match index) are memory-mapped `.npy` files there: pages the operating system can
        write back and evict, and which worker processes map instead of copying (see `load_index`).
        """

        def array(name: str, size: int, dtype: type) -> Any:
            if folder is None or size == 0:
                return np.zeros(size, dtype=dtype)
            path = folder / f"{name}.npy"
            mapped = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(size,))
            _reserve(path)
            return mapped

        batches, self.batches = self.batches, []
        sizes = {
            "docs": sum(len(b.token_counts) for b in batches),
            "tokens": sum(len(b.lead) for b in batches),
            "rows": sum(len(b.match_hashes) for b in batches),
            "anchors": sum(len(b.anchor_docs) for b in batches),
        }
        doc_bits = doc_bits_for(sizes["docs"])
        self.boilerplate_tokens = np.zeros(sizes["docs"], dtype=np.int64)
        token_counts = np.empty(sizes["docs"], dtype=np.int64)
        match_counts = np.empty(sizes["docs"], dtype=np.int64)
        self.doc_hashes = np.empty(sizes["docs"], dtype=np.uint64)
        self.lead = array("lead", sizes["tokens"], np.int32)
        self.trail = array("trail", sizes["tokens"], np.int32)
        template_before = array("template_before", sizes["tokens"] + 1, np.int64)
        template_before[0] = 0
        keys = array("keys", sizes["rows"], np.uint64)
        positions = array("positions", sizes["rows"], np.int32)
        self.anchor_docs = np.empty(sizes["anchors"], dtype=np.int64)
        self.anchor_hashes = np.empty(sizes["anchors"], dtype=np.uint64)
        at = dict.fromkeys(sizes, 0)
        batches.reverse()
        while batches:
            batch = batches.pop()
            docs, tokens = len(batch.token_counts), len(batch.lead)
            rows, anchors = len(batch.match_hashes), len(batch.anchor_docs)
            d, t, r, n = at["docs"], at["tokens"], at["rows"], at["anchors"]
            token_counts[d : d + docs] = batch.token_counts
            match_counts[d : d + docs] = batch.match_counts
            self.doc_hashes[d : d + docs] = batch.doc_hashes
            self.lead[t : t + tokens] = batch.lead
            self.trail[t : t + tokens] = batch.trail
            np.cumsum(batch.template, dtype=np.int64, out=template_before[t + 1 : t + tokens + 1])
            template_before[t + 1 : t + tokens + 1] += template_before[t]
            keys[r : r + rows] = MatchIndex.keys_for(batch.match_hashes, batch.match_counts, d, doc_bits)
            positions[r : r + rows] = batch.match_positions
            self.anchor_docs[n : n + anchors] = batch.anchor_docs + d
            self.anchor_hashes[n : n + anchors] = batch.anchor_hashes
            self.boilerplate_tokens[d : d + docs] = batch.boilerplate_tokens
            for doc, start, end in zip(
                batch.boilerplate_docs.tolist(),
                batch.boilerplate_starts.tolist(),
                batch.boilerplate_ends.tolist(),
                strict=True,
            ):
                self.boilerplate_spans.setdefault(d + doc, []).append((start, end))
            at = {"docs": d + docs, "tokens": t + tokens, "rows": r + rows, "anchors": n + anchors}
            del batch
        self.token_offsets = _offsets(token_counts)
        if folder is not None:
            # Plain views of the mappings: indexing a np.memmap goes through Python, and `char_span` indexes
            # these once per passage written.
            self.lead, self.trail = _reopen(self.lead).view(np.ndarray), _reopen(self.trail).view(np.ndarray)
            keys, positions = _reopen(keys), _reopen(positions)
            template_before = _reopen(template_before)
        self.template_before = template_before
        self.index = MatchIndex(keys, positions, _offsets(match_counts), token_counts, doc_bits)

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


def _reserve(path: Path) -> None:
    """Allocate a mapped file's blocks now: on a full disk that is an OSError (ENOSPC) here, not a SIGBUS when
    a page of the mapping is first written."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(descriptor, 0, os.fstat(descriptor).st_size)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
    finally:
        os.close(descriptor)


INDEX_ARRAYS = ("keys", "positions", "offsets", "token_counts")


def load_index(folder: Path) -> MatchIndex:
    """Map a match index written by `Corpus.save_index`."""
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in INDEX_ARRAYS}
    doc_bits = int((folder / "doc_bits").read_text(encoding="utf-8"))
    return MatchIndex(arrays["keys"], arrays["positions"], arrays["offsets"], arrays["token_counts"], doc_bits)
