"""Stored documents' packed tokens read back in one compiled pass (numba, cached on disk): what
`reprints.index.packing.unpack_tokens` does with NumPy, a few calls per field, each costing more than the bytes it
reads for a query's few dozen candidates. The NumPy code gives the same arrays (tests hold them equal) and serves
small batches and processes that have not loaded the kernels. Imported only when they are wanted (numba's import
and cache load cost a few hundred milliseconds)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _read(blob: Any, at: int, width: int) -> Any:
    # An unsigned little-endian number of `width` bytes (1, 2 or 4) at `at`.
    value = np.int64(0)
    for byte in range(width):
        value |= np.int64(blob[at + byte]) << np.int64(8 * byte)
    return value


@numba.njit(cache=True, nogil=True)
def _read_signed(blob: Any, at: int) -> Any:
    # A signed little-endian 64-bit number at `at`.
    value = np.uint64(0)
    for byte in range(8):
        value |= np.uint64(blob[at + byte]) << np.uint64(8 * byte)
    return np.int64(value)


@numba.njit(cache=True, nogil=True)
def position_fields(blob: Any, field_at: Any, codes: Any, per_token: Any, token_counts: Any, line_counts: Any) -> Any:
    """Every document's position fields, in the order of `blob`: field `f` of document `d` at `field_at[d, f]` in
    width `codes[d, f]` (differences from the value before, the first from 0; 8: the values themselves, signed),
    `per_token[f]` saying whether it has a value per token or per line. Row `f` of the answer holds field `f`'s
    values of every document, one after another."""
    tokens_total = 0
    lines_total = 0
    for doc in range(len(token_counts)):
        tokens_total += token_counts[doc]
        lines_total += line_counts[doc]
    fields = np.empty((codes.shape[1], max(tokens_total, lines_total)), dtype=np.int64)
    token_base = 0
    line_base = 0
    for doc in range(len(token_counts)):
        for field in range(codes.shape[1]):
            width = codes[doc, field]
            at = field_at[doc, field]
            values = token_counts[doc] if per_token[field] else line_counts[doc]
            base = token_base if per_token[field] else line_base
            if width == 8:
                for i in range(values):
                    fields[field, base + i] = _read_signed(blob, at + 8 * i)
            elif width == 1:  # (most fields: the byte-wise loop of `_read` made the pass 1.8 times slower)
                running = np.int64(0)
                for i in range(values):
                    running += np.int64(blob[at + i])
                    fields[field, base + i] = running
            else:
                running = np.int64(0)
                for i in range(values):
                    running += _read(blob, at + width * i, width)
                    fields[field, base + i] = running
        token_base += token_counts[doc]
        line_base += line_counts[doc]
    return fields
