"""The tokenizer (`reprints.normalize.tokens`) as one compiled pass over a batch's code points (numba, cached on
disk): the NumPy code there gives the same tokens and serves small batches. Imported only when a batch is large
enough (numba's import and cache load cost a few hundred milliseconds).

One walk over the code points segments tokens, folds each word character through the tables, hashes the folded
units and widens each token over its glued punctuation; astral characters (outside the tables) are looked up in a
small table of the batch's own astral characters, built in Python before the walk.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from reprints.fingerprint.hashing import U64
from reprints.normalize import chars
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
    kind_table: Any,
    split_table: Any,
    space_table: Any,
    fold_len_table: Any,
    fold_table: Any,
    astral_cps: Any,
    astral_kind: Any,
    astral_split: Any,
    astral_fold_len: Any,
    astral_folds: Any,
    char_seed: Any,
    token_base: Any,
    seed: Any,
    starts: Any,
    ends: Any,
    hashes: Any,
    lead: Any,
    trail: Any,
) -> int:
    n = len(cps)
    count = 0
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
        astral_row = -1
        if cp < BMP:
            k = kind_table[cp]
            s = split_table[cp]
            space = space_table[cp]
        else:
            lo, hi = 0, len(astral_cps)
            while lo < hi:
                middle = (lo + hi) >> 1
                if astral_cps[middle] < cp:
                    lo = middle + 1
                else:
                    hi = middle
            astral_row = lo
            k = astral_kind[lo]
            s = astral_split[lo]
            space = False
        if k != ATTACHED:
            base_kind = k
            base_split = s
        in_word = k == BASE or (k == ATTACHED and base_kind == BASE)
        split_token = base_kind >= 0 and base_split
        starts_here = k == BASE and (not previous_in_word or s or previous_split)
        if open_token and (starts_here or not in_word):
            hashes[count] = _mix(acc + np.uint64(units), seed)
            pending = count
            count += 1
            open_token = False
        if pending >= 0 and (in_word or space):
            trail[pending] = p
            pending = -1
        if starts_here:
            starts[count] = p
            lead[count] = last_stop + 1
            open_token = True
            acc = np.uint64(0)
            units = 0
            power = np.uint64(1)
        if in_word:
            if astral_row < 0:
                for slot in range(fold_len_table[cp]):
                    acc += _mix(np.uint64(fold_table[cp, slot]), char_seed) * power
                    power *= token_base
                    units += 1
            else:
                for slot in range(astral_fold_len[astral_row]):
                    acc += _mix(np.uint64(astral_folds[astral_row, slot]), char_seed) * power
                    power *= token_base
                    units += 1
            ends[count] = p + 1
        if in_word or space:
            last_stop = p
        previous_in_word = in_word
        previous_split = split_token
    if open_token:
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
    astral = np.unique(cps[cps >= BMP]) if (cps >= BMP).any() else np.empty(0, dtype=np.uint32)
    if len(astral):
        astral_kind, astral_split = astral_lookup(astral)
        folds = [astral_fold(int(cp)) for cp in astral]
    else:
        astral_kind, astral_split, folds = np.empty(0, np.uint8), np.empty(0, np.bool_), []
    astral_fold_len = np.array([len(units) for units in folds], dtype=np.uint8)
    astral_folds = np.zeros((len(folds), MAX_FOLD), dtype=np.uint32)
    for row, units in enumerate(folds):
        astral_folds[row, : len(units)] = units
    n = len(cps)
    starts, ends, lead, trail = (np.empty(n, dtype=np.int64) for _ in range(4))
    hashes = np.empty(n, dtype=np.uint64)
    count = _walk(
        cps,
        table.kind,
        table.split,
        table.is_space,
        table.fold_len,
        table.fold,
        astral.astype(np.uint32),
        astral_kind,
        astral_split,
        astral_fold_len,
        astral_folds,
        np.uint64(char_seed),
        np.uint64(token_base),
        np.uint64(seed),
        starts,
        ends,
        hashes,
        lead,
        trail,
    )
    return starts[:count].copy(), ends[:count].copy(), hashes[:count].copy(), lead[:count].copy(), trail[:count].copy()
