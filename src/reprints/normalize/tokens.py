"""Text to word tokens, each with its character span in the original text and a stable 64-bit hash.

A token is a base word character (letter or digit) followed by the base characters and attached characters
(combining marks, joiners) after it; everything else (white space, punctuation, quotes, dashes, symbols)
separates tokens, so typography never changes the tokens. In scripts written without spaces (Han, Kana, Thai...)
every character is a token of its own. Each character is folded (case folding and compatibility decomposition,
see `reprints.normalize.chars`) before hashing, so `Café`, `CAFÉ`, `Cafe\u0301` and `ｃａｆé` are one token, and
offsets always point into the original text.

The work is done on whole batches of documents as NumPy arrays of code points: no Python loop runs per
token or per character.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from reprints.fingerprint.hashing import U64, mix64, powers
from reprints.io.arrays import offsets_of
from reprints.kernels import TOKENIZE_COMPILED_FROM
from reprints.normalize.chars import ATTACHED, BASE, BMP, CharTables, astral_fold, astral_lookup, tables

I64 = npt.NDArray[np.int64]
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
    where = np.flatnonzero(keep)
    taken: dict[int, npt.NDArray[Any]] = {}  # an array given twice (starts as lead) is taken once

    def take(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if id(values) not in taken:
            taken[id(values)] = values[where]
        return taken[id(values)]

    return Tokens(
        take(tokens.starts),
        take(tokens.ends),
        take(tokens.hashes),
        np.searchsorted(where, tokens.offsets).astype(np.int64),  # kept tokens before each document's start
        take(tokens.lead),
        take(tokens.trail),
    )


CodePoints = tuple[npt.NDArray[np.uint32], I64]  # texts joined by newlines as code points, and each one's start


def joined_code_points(texts: Sequence[str]) -> CodePoints:
    """All texts as one code-point array, separated by a newline, and where each text starts in it."""
    joined = "\n".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    text_starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1], out=text_starts[1:])
    return cps, text_starts


@dataclass(frozen=True, slots=True)
class _Segments:
    """Where the tokens of a code-point array are: token starts and ends, and the word characters."""

    starts: I64
    ends: I64
    in_word: npt.NDArray[np.bool_]
    token_of_word: I64  # the token of each word character (the characters where `in_word` holds, in order)


def _segment(cps: npt.NDArray[np.uint32], table: CharTables) -> _Segments:
    """Tokens of a code-point array (see the module docstring), vectorized."""
    in_bmp = cps < BMP
    safe = np.where(in_bmp, cps, 0)
    kind = table.kind[safe]
    split = table.split[safe]
    if not in_bmp.all():
        astral = np.flatnonzero(~in_bmp)
        kind[astral], split[astral] = astral_lookup(cps[astral])
    positions = np.arange(len(cps), dtype=np.int64)
    base_at = np.maximum.accumulate(np.where(kind != ATTACHED, positions, -1))
    has_base = base_at >= 0
    base_kind = np.where(has_base, kind[np.maximum(base_at, 0)], 0)
    in_word = (kind == BASE) | ((kind == ATTACHED) & (base_kind == BASE))
    split_token = np.where(has_base, split[np.maximum(base_at, 0)], False)
    starts_here = (kind == BASE).copy()
    previous_in_word = np.concatenate(([False], in_word[:-1]))
    previous_split = np.concatenate(([False], split_token[:-1]))
    starts_here &= ~previous_in_word | split | previous_split
    word_positions = np.flatnonzero(in_word)
    token_of_word = np.cumsum(starts_here[word_positions]) - 1
    last = np.flatnonzero(np.diff(np.append(token_of_word, len(word_positions) + 1)) != 0)
    return _Segments(np.flatnonzero(starts_here), word_positions[last] + 1, in_word, token_of_word)


def _folded_units(cps: npt.NDArray[np.uint32], table: CharTables) -> tuple[npt.NDArray[np.uint32], I64]:
    """Folded code points of the given word characters and how many each character folds to (0 to 4)."""
    in_bmp = cps < BMP
    safe = np.where(in_bmp, cps, 0)
    lens = table.fold_len[safe].astype(np.int64)
    astral_folds: dict[int, list[int]] = {}
    if not in_bmp.all():
        astral_folds = {int(cp): astral_fold(int(cp)) for cp in np.unique(cps[~in_bmp])}
        lens[~in_bmp] = [len(astral_folds[int(cp)]) for cp in cps[~in_bmp]]
    if (lens == 1).all() and in_bmp.all():
        return table.fold[safe, 0], lens
    source = np.repeat(np.arange(len(cps)), lens)
    first = np.repeat(np.cumsum(lens) - lens, lens)
    slot = np.arange(len(source)) - first
    units = table.fold[safe[source], np.minimum(slot, table.fold.shape[1] - 1)]
    for row in np.flatnonzero(~in_bmp[source]).tolist():
        units[row] = astral_folds[int(cps[source[row]])][int(slot[row])]
    return units, lens


COMPILED_FROM = TOKENIZE_COMPILED_FROM  # code points in one batch from which the compiled pass is worth loading
PIECE_CHARS = 2_000_000  # texts are tokenized in pieces of about this size, cut where no token can span the cut
CUT_SEARCH = 65_536  # characters searched back from a piece's limit for a safe cut


def safe_cut(text: str, start: int, limit: int) -> int:
    """A position in `text[start:limit]` (searched back from `limit`) where no token and no glued punctuation
    spans the cut: after any white space, else between two characters of an unspaced script, else `limit`."""
    low = max(start + 1, limit - CUT_SEARCH)
    for position in range(limit, low - 1, -1):
        if text[position - 1].isspace():
            return position
    table = tables()
    for position in range(limit, low - 1, -1):
        before, after = ord(text[position - 1]), ord(text[position])
        if (
            before < BMP
            and after < BMP
            and table.split[before]
            and table.split[after]
            and table.kind[after] == BASE
            and table.kind[before] == BASE
        ):
            return position
    return limit


def _pieces(texts: Sequence[str]) -> list[tuple[int, int, str]]:
    """`(text number, offset, piece)`: each text cut into pieces of at most PIECE_CHARS at safe cuts."""
    out = []
    for number, text in enumerate(texts):
        start = 0
        while len(text) - start > PIECE_CHARS:
            cut = safe_cut(text, start, start + PIECE_CHARS)
            out.append((number, start, text[start:cut]))
            start = cut
        out.append((number, start, text[start:]))
    return out


def tokenize(texts: Sequence[str], seed: int = 0, *, code_points: CodePoints | None = None) -> Tokens:
    """Tokenize texts, in pieces of about PIECE_CHARS characters so that memory stays bounded.

    A text longer than that is cut after white space or between two characters of an unspaced script (where
    no token can span the cut), so the result is the same as tokenizing it whole.

    Args:
        texts: The documents' original texts.
        seed: Seed of the token hash; the same seed gives the same hashes on every run and platform.
        code_points: `joined_code_points(texts)`, when the caller has made them (used when the texts fit in one piece).

    Returns:
        The tokens of all texts, end to end, with per-document offsets.

    Example:
        >>> toks = tokenize(["“Don’t”—stop", '"don\\'t" - STOP'])
        >>> bool((toks.of(0).hashes == toks.of(1).hashes).all())
        True
    """
    if sum(map(len, texts)) <= PIECE_CHARS:
        return _tokenize_joined(texts, seed, code_points)
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
    offsets = offsets_of(per_text)
    return Tokens(
        np.concatenate([p.starts for p in parts]),
        np.concatenate([p.ends for p in parts]),
        np.concatenate([p.hashes for p in parts]),
        offsets,
        np.concatenate([p.lead for p in parts]),
        np.concatenate([p.trail for p in parts]),
    )


def _tokenize_joined(texts: Sequence[str], seed: int, code_points: CodePoints | None = None) -> Tokens:
    """Tokenize texts joined into one code-point array (the caller bounds their total size; `code_points`: that
    array and where each text starts in it, when the caller has them already)."""
    if not texts:
        empty = np.empty(0, dtype=np.int64)
        return Tokens(empty, empty, np.empty(0, dtype=np.uint64), np.zeros(1, dtype=np.int64), empty, empty)
    table = tables()
    cps, text_starts = code_points if code_points is not None else joined_code_points(texts)
    if len(cps) >= COMPILED_FROM:
        from reprints.normalize.tokens_kernel import compiled_tokens

        starts, ends, hashes, lead, trail = compiled_tokens(cps, table, _CHAR_SEED, _TOKEN_BASE, seed)
    else:
        starts, ends, hashes, lead, trail = _numpy_tokens(cps, table, seed)
    # A text's tokens start at or after its first character and before the next text's: each text's first token is
    # found by one search per text (not one per token), and the positions made relative to their text in place.
    offsets = np.empty(len(texts) + 1, dtype=np.int64)
    offsets[:-1] = np.searchsorted(starts, text_starts, side="left")
    offsets[-1] = len(starts)
    base = np.repeat(text_starts, np.diff(offsets))
    for positions in (starts, ends, lead, trail):
        positions -= base
    return Tokens(starts, ends, hashes, offsets, lead, trail)


def _numpy_tokens(cps: npt.NDArray[np.uint32], table: CharTables, seed: int) -> tuple[I64, I64, U64, I64, I64]:
    """Starts, ends, hashes, lead and trail of the tokens of a code-point array, vectorized (the compiled pass in
    `reprints.normalize.tokens_kernel` gives the same)."""
    segments = _segment(cps, table)
    starts, ends = segments.starts, segments.ends
    word_positions = np.flatnonzero(segments.in_word)
    units, lens = _folded_units(cps[word_positions], table)
    token_units = np.bincount(segments.token_of_word, weights=lens, minlength=len(starts)).astype(np.int64)
    unit_starts = np.cumsum(token_units) - token_units
    position = np.arange(len(units)) - np.repeat(unit_starts, token_units)
    contrib = (
        mix64(units.astype(np.uint64), _CHAR_SEED) * powers(_TOKEN_BASE, int(token_units.max(initial=1)))[position]
    )
    sums = np.add.reduceat(contrib, unit_starts) if len(units) else np.empty(0, dtype=np.uint64)
    hashes = mix64(sums + token_units.astype(np.uint64), seed)
    lead, trail = _glued_punctuation(cps, segments.in_word, starts, ends, table)
    return starts, ends, hashes, lead, trail


def _glued_punctuation(
    cps: npt.NDArray[np.uint32], mask: npt.NDArray[np.bool_], starts: I64, ends: I64, table: CharTables
) -> tuple[I64, I64]:
    """Token bounds widened over the non-space, non-word characters touching them."""
    space = table.is_space[np.where(cps < BMP, cps, 0)] & (cps < BMP)
    stops = np.append(np.flatnonzero(mask | space), len(cps))
    trail = stops[np.searchsorted(stops, ends, side="left")]
    before = np.searchsorted(stops, starts, side="left") - 1
    lead = np.where(before >= 0, stops[np.maximum(before, 0)] + 1, 0)
    return lead.astype(np.int64), trail.astype(np.int64)
