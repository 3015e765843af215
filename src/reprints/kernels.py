"""Which batches take the compiled kernels.

Tokenizing, the template marks, winnowing, the match table and alignment each have a numba kernel and a NumPy
twin giving identical results (tested so). By default a batch takes the kernel only when it is large enough to
repay importing numba and loading the cached kernels (a few hundred milliseconds, once per process): `compare`
of two texts never imports numba. A long-running process that handles many small batches (a server process
answering queries) pays that once and gains on every call: `prefer_compiled` makes every batch take the kernels
and loads them at once. (On the first start after installing, each server process compiles them, 9.4 s on a
2-core machine, before it answers; once cached they load in 0.4 s.)
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def prefer_compiled() -> None:
    """From now on, in this process, every batch however small takes the compiled kernels; they are loaded (or,
    on the first run after installing, compiled) here, not on the first call that needs them."""
    from reprints.align import chain
    from reprints.fingerprint import shingles
    from reprints.normalize import template, tokens

    tokens.COMPILED_FROM = template.COMPILED_FROM = shingles.COMPILED_FROM = chain.COMPILED_FROM = 0
    from reprints.pipeline import compare

    text = "a passage long enough to be aligned with itself, " * 12
    compare(text, text)
