"""The tokenizer (`reprints.normalize.tokens`) as one compiled pass over a batch's code points (numba, cached on
disk): the NumPy code there gives the same tokens and serves small batches. Imported only when a batch is large
enough (numba's import and cache load cost a few hundred milliseconds).

One walk over the code points segments tokens, adds each word character's share of its token's hash (its folded
units' hashes, summed per character once per process) and widens each token over its glued punctuation; astral
characters (outside the tables) are looked up in a small table of the batch's own astral characters, built in
Python before the walk. The batch's lines (`reprints.normalize.lines.split_lines`) are cut in a second compiled
pass over its tokens and newlines (`compiled_lines`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from reprints.fingerprint.hashing import U64, mix64
from reprints.normalize import chars, lines
from reprints.normalize.chars import MAX_FOLD, CharTables, astral_fold, astral_lookup

I64 = npt.NDArray[np.int64]

# numba's disk cache is keyed on this file alone, and it compiles module globals in as constants: everything the
# kernel computes with is defined here, so a change elsewhere cannot leave a stale kernel behind. The character
# kinds are checked against `reprints.normalize.chars` as the module loads.
BMP, SEPARATOR, BASE, ATTACHED = 0x10000, 0, 1, 2
if (BMP, SEPARATOR, BASE, ATTACHED) != (chars.BMP, chars.SEPARATOR, chars.BASE, chars.ATTACHED):
    raise ImportError("reprints.normalize.tokens_kernel: character kinds differ from reprints.normalize.chars")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


# One byte per character of what the walk asks of it: the kind in the low two bits, then split and space.
_SPLIT_BIT, _SPACE_BIT = 4, 8


def _flags(kind: npt.NDArray[np.uint8], split: npt.NDArray[np.bool_], space: npt.NDArray[np.bool_]) -> Any:
    """The walk's byte per character (see `_SPLIT_BIT`)."""
    bits = kind.astype(np.uint8) | (split.astype(np.uint8) * np.uint8(_SPLIT_BIT))
    return (bits | (space.astype(np.uint8) * np.uint8(_SPACE_BIT))).astype(np.uint8)


def _contributions(
    fold_len: npt.NDArray[np.uint8], folds: npt.NDArray[np.uint32], char_seed: int, token_base: int
) -> U64:
    """What each character adds to its token's polynomial hash, before the power of its position: the sum over
    its fold units of `mix(unit) * token_base**slot` (mod 2**64); the walk then multiplies by the power reached
    and advances the power by `token_base**fold_len`. The same sum as unit by unit, by distributivity; built with
    the NumPy tokenizer's own `mix64`, so the two cannot drift apart."""
    mixed = mix64(folds.astype(np.uint64), char_seed)
    total = np.zeros(len(fold_len), dtype=np.uint64)
    power = np.uint64(1)
    with np.errstate(over="ignore"):
        for slot in range(folds.shape[1]):
            total += np.where(fold_len > slot, mixed[:, slot] * power, np.uint64(0))
            power *= np.uint64(token_base)
    return total


@dataclass(frozen=True, slots=True)
class _WalkTables:
    flags: npt.NDArray[np.uint8]  # kind | split bit | space bit, per BMP character
    fold_len: npt.NDArray[np.uint8]
    contribution: U64
    steps: U64  # token_base**n for n in 0..MAX_FOLD


_walk_tables: dict[tuple[int, int, int], tuple[CharTables, _WalkTables]] = {}


def _tables_for(table: CharTables, char_seed: int, token_base: int) -> _WalkTables:
    """The walk's tables for one set of character tables and seeds, built once per process (a few ms)."""
    key = (id(table), char_seed, token_base)
    kept = _walk_tables.get(key)
    if kept is None or kept[0] is not table:
        flags = _flags(table.kind, table.split, table.is_space)
        steps = np.ones(MAX_FOLD + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for n in range(1, MAX_FOLD + 1):
                steps[n] = steps[n - 1] * np.uint64(token_base)
        walk = _WalkTables(
            flags, table.fold_len, _contributions(table.fold_len, table.fold, char_seed, token_base), steps
        )
        kept = _walk_tables[key] = (table, walk)
    return kept[1]


@numba.njit(cache=True, nogil=True)
def _mix(x: Any, seed: Any) -> Any:
    # `reprints.fingerprint.hashing.mix64` of one value (tests hold the kernel equal to the NumPy tokenizer)
    x = x + seed + _GOLDEN
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


@numba.njit(cache=True, nogil=True)
def _walk(
    cps: Any,
    flags: Any,
    fold_len_table: Any,
    contribution: Any,
    steps: Any,
    astral_cps: Any,
    astral_flags: Any,
    astral_fold_len: Any,
    astral_contribution: Any,
    seed: Any,
    starts: Any,
    ends: Any,
    hashes: Any,
    lead: Any,
    trail: Any,
) -> int:
    # The token count, or -1 when the arrays have no room for every token.
    n = len(cps)
    capacity = len(starts)
    count = 0
    word_end = 0
    base_kind = -1  # kind of the last character that is not attached (-1: none yet)
    base_split = False
    previous_in_word = False
    previous_split = False
    open_token = False
    pending = -1  # a closed token still looking for the end of its glued punctuation
    last_stop = -1  # the last word or space character before the current position
    acc = np.uint64(0)
    units = 0
    power = np.uint64(1)
    for p in range(n):
        cp = cps[p]
        if cp < BMP:
            f = flags[cp]
            row = cp
            length = fold_len_table[cp]
        else:
            lo, hi = 0, len(astral_cps)
            while lo < hi:
                middle = (lo + hi) >> 1
                if astral_cps[middle] < cp:
                    lo = middle + 1
                else:
                    hi = middle
            f = astral_flags[lo]
            row = -1 - lo
            length = astral_fold_len[lo]
        k = f & 3
        s = (f & _SPLIT_BIT) != 0
        space = (f & _SPACE_BIT) != 0
        if k != ATTACHED:
            base_kind = k
            base_split = s
        in_word = k == BASE or (k == ATTACHED and base_kind == BASE)
        split_token = base_kind >= 0 and base_split
        starts_here = k == BASE and (not previous_in_word or s or previous_split)
        if open_token and (starts_here or not in_word):
            ends[count] = word_end
            hashes[count] = _mix(acc + np.uint64(units), seed)
            pending = count
            count += 1
            open_token = False
        if pending >= 0 and (in_word or space):
            trail[pending] = p
            pending = -1
        if starts_here:
            if count == capacity:
                return -1
            starts[count] = p
            lead[count] = last_stop + 1
            open_token = True
            acc = np.uint64(0)
            units = 0
            power = np.uint64(1)
        if in_word:
            if row >= 0:
                acc += contribution[row] * power
            else:
                acc += astral_contribution[-1 - row] * power
            power *= steps[length]
            units += length
            word_end = p + 1
        if in_word or space:
            last_stop = p
        previous_in_word = in_word
        previous_split = split_token
    if open_token:
        ends[count] = word_end
        hashes[count] = _mix(acc + np.uint64(units), seed)
        pending = count
        count += 1
    if pending >= 0:
        trail[pending] = n
    return count


def compiled_tokens(
    cps: npt.NDArray[np.uint32], table: CharTables, char_seed: int, token_base: int, seed: int
) -> tuple[I64, I64, U64, I64, I64]:
    """Starts, ends, hashes, lead and trail of the tokens of a code-point array (positions in the array)."""
    walk = _tables_for(table, char_seed, token_base)
    astral = np.unique(cps[cps >= BMP]) if (cps >= BMP).any() else np.empty(0, dtype=np.uint32)
    if len(astral):
        astral_kind, astral_split = astral_lookup(astral)
        folds = [astral_fold(int(cp)) for cp in astral]
    else:
        astral_kind, astral_split, folds = np.empty(0, np.uint8), np.empty(0, np.bool_), []
    astral_flags = _flags(astral_kind, astral_split, np.zeros(len(astral), dtype=np.bool_))  # none is a space
    astral_fold_len = np.array([len(units) for units in folds], dtype=np.uint8)
    astral_folds = np.zeros((len(folds), MAX_FOLD), dtype=np.uint32)
    for row, units in enumerate(folds):
        astral_folds[row, : len(units)] = units
    astral_contribution = _contributions(astral_fold_len, astral_folds, char_seed, token_base)
    # Room for a token per four characters first (news text has one per six; arrays of one slot per character
    # would be mostly untouched memory, faulted in batch after batch), every character if that is not enough.
    for capacity in (len(cps) // 4 + 64, len(cps)):
        starts, ends, lead, trail = (np.empty(capacity, dtype=np.int64) for _ in range(4))
        hashes = np.empty(capacity, dtype=np.uint64)
        count = _walk(
            cps,
            walk.flags,
            walk.fold_len,
            walk.contribution,
            walk.steps,
            astral.astype(np.uint32),
            astral_flags,
            astral_fold_len,
            astral_contribution,
            np.uint64(seed),
            starts,
            ends,
            hashes,
            lead,
            trail,
        )
        if count >= 0:
            break
    # Views of arrays with some room to spare: callers shift the positions into new arrays.
    return starts[:count], ends[:count], hashes[:count].copy(), lead[:count], trail[:count]


_LINE_BASE = np.uint64(0x9E3779B1)
_LINE_SEED = np.uint64(0x11E5)
if (int(_LINE_BASE), int(_LINE_SEED)) != (lines._LINE_BASE, lines._LINE_SEED):
    raise ImportError("reprints.normalize.tokens_kernel: the line hash differs from reprints.normalize.lines")


@numba.njit(cache=True, nogil=True)
def _lines(newlines: Any, text_starts: Any, starts: Any, hashes: Any, offsets: Any, line_hashes: Any, rows: Any) -> int:
    # Per document, its tokens and the newlines before each: a token after a newline opens a line. `newlines`:
    # positions in the joined texts, ending with one past the end. `rows`: document, token start, token count,
    # char start, char end (`reprints.normalize.lines.split_lines`).
    count = 0
    nl = 0
    for doc in range(len(offsets) - 1):
        first, last = offsets[doc], offsets[doc + 1]
        base = text_starts[doc]
        while newlines[nl] < base:
            nl += 1
        if first == last:
            continue
        line_start = 0  # after the last newline before the current token
        newline_after = -1  # the first newline after the last token
        acc = np.uint64(0)
        power = np.uint64(1)
        for token in range(first, last):
            at = base + starts[token]
            while newlines[nl] < at:
                if newline_after < 0:
                    newline_after = newlines[nl] - base
                nl += 1
                line_start = newlines[nl - 1] + 1 - base
            if token == first or newline_after >= 0:
                if token != first:
                    line_hashes[count - 1] = _mix(acc + np.uint64(rows[count - 1, 2]), _LINE_SEED)
                    rows[count - 1, 4] = newline_after
                rows[count, 0] = doc
                rows[count, 1] = token - first
                rows[count, 2] = 0
                rows[count, 3] = line_start
                count += 1
                acc = np.uint64(0)
                power = np.uint64(1)
            acc += hashes[token] * power
            power *= _LINE_BASE
            rows[count - 1, 2] += 1
            newline_after = -1
        line_hashes[count - 1] = _mix(acc + np.uint64(rows[count - 1, 2]), _LINE_SEED)
        rows[count - 1, 4] = newlines[nl] - base  # a newline in the text, or the one after it
    return count


def compiled_lines(
    cps: npt.NDArray[np.uint32], text_starts: I64, starts: I64, hashes: U64, offsets: I64
) -> tuple[I64, U64, I64, I64, I64, I64]:
    """`reprints.normalize.lines.split_lines` in one pass over the tokens and the newlines of the texts' code
    points (`joined_code_points`): each line's document, hash, token start and end, character start and end."""
    newlines = np.append(np.flatnonzero(cps == 10), len(cps)).astype(np.int64)
    line_hashes = np.empty(len(hashes), dtype=np.uint64)
    rows = np.empty((len(hashes), 5), dtype=np.int64)
    count = _lines(newlines, text_starts, starts, hashes, offsets, line_hashes, rows)
    rows = rows[:count]
    return (
        rows[:, 0].copy(),
        line_hashes[:count].copy(),
        rows[:, 1].copy(),
        rows[:, 1] + rows[:, 2],
        rows[:, 3].copy(),
        rows[:, 4].copy(),
    )
