"""A sort for numba kernels that compiles fast: numba's own `np.argsort` takes about a second of compilation per
kind and key type, paid in every process on the first run after installing; this plain merge sort takes a
fraction of that. Imported only by kernel modules (it imports numba)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def stable_order(keys: Any) -> Any:
    """The positions of `keys` in the order a stable sort gives them (`np.argsort(keys, kind="stable")`): a
    bottom-up merge sort."""
    order = np.empty(len(keys), dtype=np.int64)
    for k in range(len(keys)):
        order[k] = k
    other = np.empty(len(keys), dtype=np.int64)
    width = 1
    while width < len(keys):
        for lo in range(0, len(keys), 2 * width):
            middle, hi = min(lo + width, len(keys)), min(lo + 2 * width, len(keys))
            i, j = lo, middle
            for k in range(lo, hi):
                if j < hi and (i == middle or keys[order[j]] < keys[order[i]]):
                    other[k] = order[j]
                    j += 1
                else:
                    other[k] = order[i]
                    i += 1
        order, other = other, order
        width *= 2
    return order
