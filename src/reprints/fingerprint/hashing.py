"""Stable 64-bit hashing on NumPy arrays.

Every hash reprints computes is plain unsigned 64-bit arithmetic (wrapping multiply, add, xor, shift), so the
same input and seed give the same value on every platform, Python and NumPy version.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reprints.io.arrays import Column, drop_pages

U64 = npt.NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
POLY_BASE = 0x100000001B3  # odd: powers never vanish modulo 2**64


def mix64(values: npt.NDArray[np.unsignedinteger] | U64, seed: int = 0) -> U64:
    """splitmix64 finalizer applied element-wise: a bijective, well-mixed map of uint64 values."""
    x = values.astype(np.uint64, copy=True)
    x += np.uint64(seed)
    x += _GOLDEN
    x ^= x >> _S30
    x *= _MIX1
    x ^= x >> _S27
    x *= _MIX2
    x ^= x >> _S31
    return x


def powers(base: int, count: int) -> U64:
    """`base**i mod 2**64` for i in 0..count-1."""
    out = np.full(max(count, 1), base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)[:count]


def window_hashes(values: U64, size: int, seed: int) -> U64:
    """Hash of every run of `size` consecutive values: `mix(sum(values[i + j] * base**j))`.

    Returns an array of `len(values) - size + 1` hashes (empty if there are fewer values than `size`).
    """
    count = len(values) - size + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    acc = values[:count].copy()
    for j, factor in enumerate(powers(POLY_BASE, size)[1:], start=1):
        acc += values[j : j + count] * factor
    return mix64(acc, seed)


def doc_bits_for(documents: int) -> int:
    """Bits that number `documents` documents (at least 1)."""
    return max(1, (documents - 1).bit_length())


def doc_keys(hashes: U64, counts: npt.NDArray[np.int64], first_doc: int, doc_bits: int) -> U64:
    """One sortable key per hash: `counts[i]` hashes belong to document `first_doc + i`, whose number fills the
    top `doc_bits` bits, the hash's top bits the rest. Sorting the keys orders the hashes by document, then hash."""
    keys = np.repeat(np.arange(first_doc, first_doc + len(counts), dtype=np.uint64), counts)
    keys <<= np.uint64(64 - doc_bits)
    keys |= hashes >> np.uint64(doc_bits)
    return keys


PARTITION_ROWS = 4_000_000  # rows a partitioned pass (the anchor join, boilerplate lines) handles at once


def partition_bits(rows: int, partition_rows: int = PARTITION_ROWS) -> int:
    """Bits of hash that split `rows` rows into partitions of at most about `partition_rows` each."""
    return min(16, (max(1, -(-rows // partition_rows)) - 1).bit_length())  # partitions are numbered in 16 bits


def partitions(
    hashes: U64, bits: int, piece: int = PARTITION_ROWS, column: Column | None = None
) -> npt.NDArray[np.uint16]:
    """The partition (of 2**bits) of each row: its hash's low bits, computed in pieces of `piece` rows.

    Low bits, not top bits: anchors are the smallest hashes of their windows, so their top bits are far from
    uniform (by the top bits, the first of 8 partitions held most of the anchors of 640k documents, and the
    join's memory with it).

    With a `column` (of dtype uint16), the partitions are written to it and come back mapped from its file.
    """
    mask = np.uint64((1 << bits) - 1)
    if column is not None:
        for start in range(0, len(hashes), piece):
            column.append(np.asarray(hashes[start : start + piece]) & mask)
            drop_pages(hashes)
        mapped: npt.NDArray[np.uint16] = column.close()
        return mapped
    part_of = np.zeros(len(hashes), dtype=np.uint16)
    if bits:
        for start in range(0, len(hashes), piece):
            part_of[start : start + piece] = hashes[start : start + piece] & mask
    return part_of
