"""Which batches take the compiled kernels.

Tokenizing, the template marks, winnowing, the match table, alignment and boilerplate learning's rounds each have
a numba kernel and a twin in NumPy or Python giving identical results (tested so). By default a batch takes the
kernel only when it is large enough to repay importing numba and loading the cached kernels (a few hundred
milliseconds, once per process): `compare` of two texts never imports numba. A long-running process that handles
many small batches (a server process answering queries and adding documents) pays that once and gains on every
call: `prefer_compiled` makes every batch take the kernels and loads them at once. (On the first start after
installing, each server process compiles them, 12.6 s on a 2-core machine, before it answers; once cached they load
in 0.36 s.)
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def prefer_compiled() -> None:
    """From now on, in this process, every batch however small takes the compiled kernels; they are loaded (or,
    on the first run after installing, compiled) here, not on the first call that needs them."""
    from reprints.align import chain
    from reprints.fingerprint import shingles
    from reprints.normalize import boilerplate, template, tokens

    tokens.COMPILED_FROM = template.COMPILED_FROM = shingles.COMPILED_FROM = chain.COMPILED_FROM = 0
    boilerplate.COMPILED_FROM = 0
    from reprints.pipeline import compare

    text = "a passage long enough to be aligned with itself, " * 12
    compare(text, text)
    lines = np.array([1, 2, 1, 2], dtype=np.uint64)
    boilerplate.learn(lines, np.array([0, 0, 1, 1]), np.array([3, 30, 3, 30]), min_docs=2, max_context=20)


def prefer_compiled_learning() -> None:
    """From now on, in this process, boilerplate learning's rounds take the compiled kernel however few lines
    a call examines: what an add of a large input does (it learns after every few batches, each call alone too
    small to repay loading the kernel, all of them together much more than that)."""
    from reprints.normalize import boilerplate

    boilerplate.COMPILED_FROM = 0
