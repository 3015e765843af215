"""The template rules (`reprints.normalize.template`) as one compiled pass over a batch (numba, cached on disk):
the NumPy code there gives the same marks and serves small batches. Imported only when a batch is large enough
(numba's import and cache load cost a few hundred milliseconds)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from reprints.fingerprint.hashing import U64
from reprints.normalize.tokens import I64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
FUNCTION, NOTICE, WIDGET_FIRST = 1, 2, 4  # kind bits of a word (`kind_table`)


@numba.njit(cache=True, nogil=True)
def _slot_of(table: Any, value: Any) -> Any:
    # Open addressing with linear probing (`lookup_table`): the slot holding `value`, or -1. Slot 0 of the table
    # is the value 0's flag (its slot when it is there).
    if value == 0:
        return 0 if table[0] == 1 else -1
    size = np.uint64(len(table) - 1)
    slot = value & (size - np.uint64(1))
    while True:
        found = table[slot + np.uint64(1)]
        if found == value:
            return np.int64(slot) + 1
        if found == 0:
            return -1
        slot = (slot + np.uint64(1)) & (size - np.uint64(1))


@numba.njit(cache=True, nogil=True)
def _member(table: Any, value: Any) -> Any:
    return _slot_of(table, value) >= 0


@numba.njit(cache=True, nogil=True)
def _mix(x: Any, seed: Any) -> Any:
    x = x + seed + _GOLDEN
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


@numba.njit(cache=True, nogil=True)
def _marks(
    hashes: Any,
    offsets: Any,
    words: Any,
    kinds: Any,
    grams: Any,
    window: int,
    low_density: float,
    gate_window: int,
    gate_density: float,
    notice_words: int,
    gram: int,
    gap: int,
    gram_seed: Any,
    mask: Any,
) -> None:
    # `words`: one table of the function words, notice words and first words of widget grams, `kinds` the
    # kind bits of each of its slots (`kind_table`): one probe a token tells all three.
    half = window // 2
    longest = 0
    for doc in range(len(offsets) - 1):
        longest = max(longest, offsets[doc + 1] - offsets[doc])
    before = np.zeros(longest + 1, dtype=np.int64)
    said = np.zeros(longest + 1, dtype=np.int64)
    kind_of = np.zeros(longest, dtype=np.uint8)
    for doc in range(len(offsets) - 1):
        start, end = offsets[doc], offsets[doc + 1]
        count = end - start
        if count == 0:
            continue
        for i in range(count):
            slot = _slot_of(words, hashes[start + i])
            kind = kinds[slot] if slot >= 0 else np.uint8(0)
            kind_of[i] = kind
            before[i + 1] = before[i] + (kind & FUNCTION)
            said[i + 1] = said[i] + ((kind & NOTICE) >> 1)
        densest = 0.0
        for i in range(count):
            reach = min(i + gate_window, count)
            if reach - i == gate_window or i == 0:
                density = (before[reach] - before[i]) / max(reach - i, 1)
                densest = max(densest, density)
        if densest >= gate_density:
            for i in range(count):
                low, high = max(i - half, 0), min(i + half + 1, count)
                if before[high] - before[low] < low_density * (high - low):
                    mask[start + i] = True
        # Notices: every window of `window` tokens holding `notice_words` of them.
        for i in range(count):
            if said[min(i + window, count)] - said[i] >= notice_words:
                for j in range(i, min(i + window, count)):
                    mask[start + j] = True
        # Widgets: every run of `gram` tokens that a widget text holds.
        for i in range(count - gram + 1):
            if not kind_of[i] & WIDGET_FIRST:
                continue
            value = hashes[start + i]
            for j in range(1, gram):
                value = _mix(value, gram_seed) ^ hashes[start + i + j]
            if _member(grams, value):
                for j in range(gram):
                    mask[start + i + j] = True
        # Gaps: fewer than `gap` content tokens with template on both sides.
        i = 0
        while i < count:
            if mask[start + i]:
                i += 1
                continue
            run = i
            while i < count and not mask[start + i]:
                i += 1
            if run > 0 and i < count and i - run < gap:
                for j in range(run, i):
                    mask[start + j] = True


def lookup_table(values: U64) -> U64:
    """The values in an open-addressing table for `member`: one flag slot (is 0 a value?), then a power of two
    slots at least four times the values, each value in the first free slot from `value mod size`."""
    size = 1 << max(4, int(4 * max(len(values), 1) - 1).bit_length())
    table = np.zeros(size + 1, dtype=np.uint64)
    for value in (int(v) for v in values):
        if value == 0:
            table[0] = 1
            continue
        slot = value & (size - 1)
        while table[slot + 1] not in (0, value):
            slot = (slot + 1) & (size - 1)
        table[slot + 1] = value
    return table


def kind_table(function: U64, notice: U64, widget_first: U64) -> tuple[U64, npt.NDArray[np.uint8]]:
    """The words of the three sets in one `lookup_table`, and beside it each slot's kind bits (FUNCTION, NOTICE,
    WIDGET_FIRST: a word can be of several)."""
    words = np.unique(np.concatenate((function, notice, widget_first)))
    table = lookup_table(words)
    kinds = np.zeros(len(table), dtype=np.uint8)
    for values, bit in ((function, FUNCTION), (notice, NOTICE), (widget_first, WIDGET_FIRST)):
        for value in (int(v) for v in values):
            kinds[_slot_of(table, np.uint64(value))] |= bit
    return table, kinds


def compiled_marks(
    hashes: U64, offsets: I64, words: U64, kinds: npt.NDArray[np.uint8], grams: U64, parameters: tuple[Any, ...]
) -> npt.NDArray[np.bool_]:
    """The template marks of a batch (the words of the rules and their kinds as `kind_table` makes them, the widget
    grams as a `lookup_table`; the parameters in the order of `_marks`)."""
    mask = np.zeros(len(hashes), dtype=np.bool_)
    _marks(hashes, offsets.astype(np.int64), words, kinds, grams, *parameters, mask)  # type: ignore[call-arg]
    return mask
