"""The fingerprints of a whole corpus, gathered batch by batch, laid out as flat arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reprints.align.chain import MatchIndex
from reprints.fingerprint.hashing import U64
from reprints.fingerprint.shingles import fingerprint
from reprints.normalize.tokens import I64, tokenize

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


def fingerprint_batch(texts: list[str], shingle_size: int, window: int, seed: int) -> BatchPrints:
    """Tokenize and fingerprint a batch of texts."""
    tokens = tokenize(texts, seed)
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
        prints.doc_hashes,
    )


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

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def token_counts(self) -> I64:
        """Tokens of each document."""
        return np.diff(self.token_offsets)

    def seal(self) -> None:
        """Concatenate the batches into corpus-wide arrays (call once, after the last batch)."""
        batches, self.batches = self.batches, []
        if not batches:
            return
        doc_base = _offsets(np.array([len(b.token_counts) for b in batches], dtype=np.int64))
        self.token_offsets = _offsets(np.concatenate([b.token_counts for b in batches]))
        self.lead = np.concatenate([b.lead for b in batches])
        self.trail = np.concatenate([b.trail for b in batches])
        self.doc_hashes = np.concatenate([b.doc_hashes for b in batches])
        self.anchor_docs = np.concatenate([b.anchor_docs + base for b, base in zip(batches, doc_base, strict=False)])
        self.anchor_hashes = np.concatenate([b.anchor_hashes for b in batches])
        self.index = MatchIndex.build(
            np.concatenate([b.match_hashes for b in batches]),
            np.concatenate([b.match_positions for b in batches]),
            np.concatenate([b.match_counts for b in batches]),
            self.token_counts,
        )

    def char_span(self, doc: int, start: int, end: int) -> tuple[int, int]:
        """Characters of tokens `start:end` of a document, widened over glued punctuation."""
        base = int(self.token_offsets[doc])
        return int(self.lead[base + start]), int(self.trail[base + end - 1])

    def save_index(self, folder: Path) -> None:
        """Write the match index as `.npy` files, for worker processes to map."""
        assert self.index is not None
        for name in INDEX_ARRAYS:
            np.save(folder / f"{name}.npy", getattr(self.index, name))
        (folder / "doc_bits").write_text(str(self.index.doc_bits), encoding="utf-8")


INDEX_ARRAYS = ("keys", "positions", "offsets", "token_counts")


def load_index(folder: Path) -> MatchIndex:
    """Map a match index written by `Corpus.save_index`."""
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in INDEX_ARRAYS}
    doc_bits = int((folder / "doc_bits").read_text(encoding="utf-8"))
    return MatchIndex(arrays["keys"], arrays["positions"], arrays["offsets"], arrays["token_counts"], doc_bits)
