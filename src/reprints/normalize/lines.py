"""Lines: each text line's tokens and a stable hash of its normalized words, for boilerplate learning.

A line is a run of text between newlines; its hash is a hash of its token hashes, so two lines are equal
exactly when their normalized words are (typography and case do not count). Lines without a word are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reprints.fingerprint.hashing import U64, mix64, powers
from reprints.normalize import tokens as token_module
from reprints.normalize.tokens import I64, CodePoints, Tokens

_LINE_BASE = 0x9E3779B1  # odd
_LINE_SEED = 0x11E5


@dataclass(frozen=True, slots=True)
class Lines:
    """The word-bearing lines of a batch of documents, in document order then line order.

    Line `i` belongs to document `doc[i]`, holds tokens `token_start[i]:token_end[i]` of that document and
    characters `char_start[i]:char_end[i]` of its text (the whole line, without its newline).
    """

    doc: I64
    hashes: U64
    token_start: I64
    token_end: I64
    char_start: I64
    char_end: I64

    @property
    def token_counts(self) -> I64:
        """Tokens on each line."""
        return self.token_end - self.token_start


def split_lines(texts: Sequence[str], tokens: Tokens, *, code_points: CodePoints | None = None) -> Lines:
    """The lines of a tokenized batch of texts (vectorized over the whole batch; a large batch in one compiled
    pass, `reprints.normalize.tokens_kernel.compiled_lines`, with the same result). `code_points`: the texts'
    code points (`reprints.normalize.tokens.joined_code_points`), when the caller has them already."""
    if len(tokens.hashes) and sum(map(len, texts)) >= token_module.COMPILED_FROM:  # as the tokenizer decides
        from reprints.normalize.tokens_kernel import compiled_lines

        cps, text_starts = code_points if code_points is not None else token_module.joined_code_points(texts)
        return Lines(*compiled_lines(cps, text_starts, tokens.starts, tokens.hashes, tokens.offsets))
    counts = np.diff(tokens.offsets)
    doc_of_token = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    if len(doc_of_token) == 0:
        empty = np.empty(0, dtype=np.int64)
        return Lines(empty, np.empty(0, dtype=np.uint64), empty, empty, empty, empty)
    joined = "\n".join(texts)
    newlines = np.flatnonzero(np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32) == 10)
    newlines = np.append(newlines, len(joined))
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    text_start = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
    token_at = tokens.starts + text_start[doc_of_token]
    newlines_before = np.searchsorted(newlines, token_at, side="right")
    first = np.ones(len(token_at), dtype=np.bool_)
    first[1:] = newlines_before[1:] != newlines_before[:-1]
    line_first = np.flatnonzero(first)
    line_end = np.append(line_first[1:], len(token_at))
    sizes = line_end - line_first
    position = np.arange(len(token_at)) - np.repeat(line_first, sizes)
    sums = np.add.reduceat(tokens.hashes * powers(_LINE_BASE, int(sizes.max()))[position], line_first)
    doc = doc_of_token[line_first]
    before = newlines_before[line_first]
    start = np.maximum(np.where(before > 0, newlines[np.maximum(before - 1, 0)] + 1, 0), text_start[doc])
    end = np.minimum(newlines[before], text_start[doc] + lengths[doc])
    return Lines(
        doc,
        mix64(sums + sizes.astype(np.uint64), _LINE_SEED),
        line_first - tokens.offsets[doc],
        line_end - tokens.offsets[doc],
        start - text_start[doc],
        end - text_start[doc],
    )
