"""Text to word tokens, each with its character span in the original text and a stable 64-bit hash.

A token is a maximal run of letters, digits and combining marks; everything else (white space, punctuation,
quotes, dashes, symbols) separates tokens, so typography never changes the tokens. Each character is
mapped through Unicode NFKC and case folding before hashing, so `Café`, `CAFÉ` and `ｃａｆé` are one token.

The work is done on whole batches of documents as NumPy arrays of code points: no Python loop runs per
token or per character.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reprints.fingerprint.hashing import U64, mix64, powers

I64 = npt.NDArray[np.int64]
MAX_FOLD = 4  # code points kept of one character's NFKC + case-fold expansion
_BMP = 0x10000
_TOKEN_BASE = 0x1000193  # odd
_CHAR_SEED = 0x5EED


@dataclass(frozen=True, slots=True)
class Tokens:
    """Tokens of a batch of documents, laid end to end.

    Document `d` owns tokens `offsets[d]:offsets[d + 1]`; `starts`/`ends` are offsets into that document's
    own text (Python `str` indices), `hashes` the tokens' 64-bit hashes. `lead`/`trail` widen a token over
    the punctuation glued to it (an opening quote before, a full stop or closing quote after): a passage
    reported from token `s` to token `e` runs from `lead[s]` to `trail[e]`.
    """

    starts: I64
    ends: I64
    hashes: U64
    offsets: I64
    lead: I64
    trail: I64

    def of(self, doc: int) -> Tokens:
        """The tokens of one document of the batch."""
        lo, hi = int(self.offsets[doc]), int(self.offsets[doc + 1])
        return Tokens(
            self.starts[lo:hi],
            self.ends[lo:hi],
            self.hashes[lo:hi],
            np.array([0, hi - lo], dtype=np.int64),
            self.lead[lo:hi],
            self.trail[lo:hi],
        )


def keep_tokens(tokens: Tokens, keep: npt.NDArray[np.bool_]) -> Tokens:
    """The tokens where `keep` is true, with per-document offsets recounted."""
    counts = np.diff(tokens.offsets)
    doc_of_token = np.repeat(np.arange(len(counts)), counts)
    kept = np.bincount(doc_of_token[keep], minlength=len(counts))
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(kept, out=offsets[1:])
    return Tokens(
        tokens.starts[keep], tokens.ends[keep], tokens.hashes[keep], offsets, tokens.lead[keep], tokens.trail[keep]
    )


@dataclass(frozen=True, slots=True)
class _Tables:
    is_word: npt.NDArray[np.bool_]
    is_space: npt.NDArray[np.bool_]
    fold_len: npt.NDArray[np.uint8]
    fold: npt.NDArray[np.uint32]


def _fold(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", ch).casefold())
    kept = "".join(c for c in folded if c.isalnum() or unicodedata.category(c)[0] == "M")
    return (kept or ch)[:MAX_FOLD]


def _is_word(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch)[0] == "M"


@functools.lru_cache(maxsize=1)
def _tables() -> _Tables:
    """Per-code-point lookup tables for the Basic Multilingual Plane (built once, about 0.2 s)."""
    is_word = np.zeros(_BMP, dtype=np.bool_)
    is_space = np.array([chr(cp).isspace() for cp in range(_BMP)], dtype=np.bool_)
    fold_len = np.ones(_BMP, dtype=np.uint8)
    fold = np.zeros((_BMP, MAX_FOLD), dtype=np.uint32)
    fold[:, 0] = np.arange(_BMP, dtype=np.uint32)
    for cp in range(_BMP):
        ch = chr(cp)
        if 0xD800 <= cp < 0xE000 or not _is_word(ch):
            continue
        is_word[cp] = True
        folded = _fold(ch)
        fold_len[cp] = len(folded)
        fold[cp, : len(folded)] = [ord(c) for c in folded]
    return _Tables(is_word, is_space, fold_len, fold)


def _code_points(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint32], I64]:
    """All texts as one code-point array, separated by a newline, and where each text starts in it."""
    joined = "\n".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    text_starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1], out=text_starts[1:])
    return cps, text_starts


def _word_mask(cps: npt.NDArray[np.uint32], tables: _Tables) -> npt.NDArray[np.bool_]:
    in_bmp = cps < _BMP
    mask = tables.is_word[np.where(in_bmp, cps, 0)]
    if not in_bmp.all():
        astral = np.flatnonzero(~in_bmp)
        distinct, inverse = np.unique(cps[astral], return_inverse=True)
        wordy = np.array([_is_word(chr(int(c))) for c in distinct], dtype=np.bool_)
        mask[astral] = wordy[inverse]
    return mask


def _folded_units(cps: npt.NDArray[np.uint32], tables: _Tables) -> tuple[npt.NDArray[np.uint32], I64]:
    """Folded code points of the given word characters and how many each character expands to."""
    in_bmp = cps < _BMP
    safe = np.where(in_bmp, cps, 0)
    lens = np.where(in_bmp, tables.fold_len[safe], 1).astype(np.int64)
    if (lens == 1).all():
        return np.where(in_bmp, tables.fold[safe, 0], cps), lens
    source = np.repeat(np.arange(len(cps)), lens)
    first = np.repeat(np.cumsum(lens) - lens, lens)
    slot = np.arange(len(source)) - first
    units = tables.fold[safe[source], slot]
    astral = ~in_bmp[source]
    units[astral] = cps[source[astral]]
    return units, lens


PIECE_CHARS = 2_000_000  # texts are tokenized in pieces of about this size, cut at white space


def _pieces(texts: Sequence[str]) -> list[tuple[int, int, str]]:
    """`(text number, offset, piece)`: each text cut at white space into pieces of at most PIECE_CHARS."""
    out = []
    for number, text in enumerate(texts):
        start = 0
        while len(text) - start > PIECE_CHARS:
            limit = start + PIECE_CHARS
            cut = max(text.rfind(space, start, limit) for space in (" ", "\n", "\t", "\r")) + 1
            cut = cut if cut > start else limit
            out.append((number, start, text[start:cut]))
            start = cut
        out.append((number, start, text[start:]))
    return out


def tokenize(texts: Sequence[str], seed: int = 0) -> Tokens:
    """Tokenize texts, in pieces of about PIECE_CHARS characters so that memory stays bounded.

    A text longer than that is cut at white space (where no token can span the cut), so the result is the
    same as tokenizing it whole.

    Args:
        texts: The documents' original texts.
        seed: Seed of the token hash; the same seed gives the same hashes on every run and platform.

    Returns:
        The tokens of all texts, end to end, with per-document offsets.

    Example:
        >>> toks = tokenize(["“Don’t”—stop", '"don\\'t" - STOP'])
        >>> bool((toks.of(0).hashes == toks.of(1).hashes).all())
        True
    """
    if sum(map(len, texts)) <= PIECE_CHARS:
        return _tokenize_joined(texts, seed)
    pieces = _pieces(texts)
    groups: list[list[tuple[int, int, str]]] = [[]]
    size = 0
    for piece in pieces:
        if size + len(piece[2]) > PIECE_CHARS and groups[-1]:
            groups.append([])
            size = 0
        groups[-1].append(piece)
        size += len(piece[2])
    parts: list[Tokens] = []
    owners: list[int] = []
    for group in groups:
        tokens = _tokenize_joined([piece for _, _, piece in group], seed)
        shift = np.repeat(np.array([offset for _, offset, _ in group], dtype=np.int64), np.diff(tokens.offsets))
        parts.append(
            Tokens(
                tokens.starts + shift,
                tokens.ends + shift,
                tokens.hashes,
                tokens.offsets,
                tokens.lead + shift,
                tokens.trail + shift,
            )
        )
        owners.extend(number for number, _, _ in group)
    per_piece = np.concatenate([np.diff(part.offsets) for part in parts])
    per_text = np.bincount(np.array(owners, dtype=np.int64), weights=per_piece, minlength=len(texts)).astype(np.int64)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(per_text, out=offsets[1:])
    return Tokens(
        np.concatenate([p.starts for p in parts]),
        np.concatenate([p.ends for p in parts]),
        np.concatenate([p.hashes for p in parts]),
        offsets,
        np.concatenate([p.lead for p in parts]),
        np.concatenate([p.trail for p in parts]),
    )


def _tokenize_joined(texts: Sequence[str], seed: int) -> Tokens:
    """Tokenize texts joined into one code-point array (the caller bounds their total size)."""
    if not texts:
        empty = np.empty(0, dtype=np.int64)
        return Tokens(empty, empty, np.empty(0, dtype=np.uint64), np.zeros(1, dtype=np.int64), empty, empty)
    tables = _tables()
    cps, text_starts = _code_points(texts)
    mask = _word_mask(cps, tables)
    edges = np.diff(np.concatenate(([False], mask, [False])).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    word_positions = np.flatnonzero(mask)
    units, lens = _folded_units(cps[word_positions], tables)
    token_of_char = np.cumsum(edges[:-1] == 1)[word_positions] - 1
    token_of_unit = np.repeat(token_of_char, lens)
    unit_starts = np.flatnonzero(np.diff(np.concatenate(([-1], token_of_unit))) != 0)
    token_units = np.diff(np.append(unit_starts, len(units)))
    position = np.arange(len(units)) - np.repeat(unit_starts, token_units)
    contrib = (
        mix64(units.astype(np.uint64), _CHAR_SEED) * powers(_TOKEN_BASE, int(token_units.max(initial=1)))[position]
    )
    sums = np.add.reduceat(contrib, unit_starts) if len(units) else np.empty(0, dtype=np.uint64)
    hashes = mix64(sums + token_units.astype(np.uint64), seed)
    doc_of_token = np.searchsorted(text_starts, starts, side="right") - 1
    offsets = np.searchsorted(doc_of_token, np.arange(len(texts) + 1), side="left").astype(np.int64)
    base = text_starts[doc_of_token]
    lead, trail = _glued_punctuation(cps, mask, starts, ends, tables)
    return Tokens(starts - base, ends - base, hashes, offsets, lead - base, trail - base)


def _glued_punctuation(
    cps: npt.NDArray[np.uint32], mask: npt.NDArray[np.bool_], starts: I64, ends: I64, tables: _Tables
) -> tuple[I64, I64]:
    """Token bounds widened over the non-space, non-word characters touching them."""
    space = tables.is_space[np.where(cps < _BMP, cps, 0)] & (cps < _BMP)
    stops = np.append(np.flatnonzero(mask | space), len(cps))
    trail = stops[np.searchsorted(stops, ends, side="left")]
    before = np.searchsorted(stops, starts, side="left") - 1
    lead = np.where(before >= 0, stops[np.maximum(before, 0)] + 1, 0)
    return lead.astype(np.int64), trail.astype(np.int64)
