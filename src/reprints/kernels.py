"""Which batches take the compiled kernels.

Tokenizing, the template marks, winnowing, the match table, alignment, boilerplate learning's rounds and the decide
stage's walk of the ranking each have a numba kernel and a twin in NumPy or Python giving identical results (tested
so). By default a batch takes the kernel only when it is large enough to repay importing numba and loading the
cached kernels (a few hundred milliseconds, once per process): `compare` of two texts never imports numba. A
long-running process that handles many small batches (a server process answering queries and adding documents)
pays that once and gains on every call: `prefer_compiled` makes every batch take the kernels and loads them at
once. (On the first start after installing, each server process compiles them, 16 s on a 2-core machine, before
it answers; once cached they load in about 0.35 s.)
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# Code points in one batch from which the compiled tokenizer is worth loading: the default of
# `reprints.normalize.tokens.COMPILED_FROM`, kept here so that the command line can decide before it imports NumPy
# (this module imports it only when it loads kernels).
TOKENIZE_COMPILED_FROM = 100_000


@functools.lru_cache(maxsize=1)
def prefer_compiled() -> None:
    """From now on, in this process, every batch however small takes the compiled kernels; they are loaded (or,
    on the first run after installing, compiled) here, not on the first call that needs them: every kernel, the
    index's included (a server process)."""
    _prefer_compiled_and(_run_every_kernel)


@functools.lru_cache(maxsize=1)
def prefer_compiled_alone() -> None:
    """`prefer_compiled` for the only process of a `dedup` run (no workers): the kernels a run calls are loaded,
    the index's are not."""
    _prefer_compiled_and(_run_dedup_kernels)


@functools.lru_cache(maxsize=1)
def prefer_compiled_worker() -> None:
    """`prefer_compiled` for a worker of a `dedup` run: the kernels its batches call are loaded (already, when the
    fork server that forked it loaded them: `load_kernels`); boilerplate learning's and the decide stage's run in
    the main process, the index's in no run."""
    _prefer_compiled_and(_compare_a_little)


def _prefer_compiled_and(load: Callable[[], object]) -> None:
    for stage in _staged():
        stage.COMPILED_FROM = 0
    load()


def load_kernels() -> None:
    """The kernels a `dedup` run's workers call (tokenizing, template marks, shingles, winnowing, the match table,
    alignment: what a `compare` calls) loaded into this process, with each stage's threshold left as it was: what
    the fork server of a run whose batches take the kernels does once, so that the workers it forks start with
    them loaded (`prefer_compiled_worker` then finds them so) and each decides for itself which batches take
    them."""
    stages = _staged()
    thresholds = [stage.COMPILED_FROM for stage in stages]
    try:
        _prefer_compiled_and(_compare_a_little)
    finally:
        for stage, threshold in zip(stages, thresholds, strict=True):
            stage.COMPILED_FROM = threshold


def _staged() -> tuple[Any, ...]:
    """The modules whose `COMPILED_FROM` decides which of their batches take the compiled kernels."""
    from reprints.align import chain
    from reprints.fingerprint import shingles
    from reprints.index import packing, postings, sieve
    from reprints.normalize import boilerplate, template, tokens

    return tokens, template, shingles, chain, boilerplate, packing, sieve, postings


def _run_every_kernel() -> None:
    """A `compare`, a little boilerplate learning, a little deciding, a stored document read back, a query's
    sieve and a lookup of holders: with every `COMPILED_FROM` at 0, each kernel is loaded (or, on the first run
    after installing, compiled)."""
    text = _compare_a_little()
    _learn_a_little()
    _decide_a_little()
    _unpack_a_little(text)
    _sieve_a_little()
    _look_up_a_little()


def _run_dedup_kernels() -> None:
    """A `compare`, a little boilerplate learning and a little deciding: the kernels a `dedup` run calls."""
    _compare_a_little()
    _learn_a_little()
    _decide_a_little()


def _compare_a_little() -> str:
    """A `compare` of a text with itself (with every `COMPILED_FROM` at 0, loads the kernels it calls); returns the
    text."""
    from reprints.pipeline import compare

    text = "a passage long enough to be aligned with itself, " * 12
    compare(text, text)
    return text


def _look_up_a_little() -> None:
    """The holders of two keys in two runs of the index's postings (`reprints.index.postings`): loads its
    kernels."""
    import numpy as np

    from reprints.index.postings import Run, holders_of

    rows = np.arange(4, dtype=np.int64)
    run = Run(rows, rows, np.ones(4, dtype=np.bool_))
    holders_of([run, run], np.array([2, 1, 2], dtype=np.int64), 1)


def _sieve_a_little() -> None:
    """An index query's sieve over one short document (`reprints.index.sieve`): loads its kernel."""
    import numpy as np

    from reprints.fingerprint.hashing import POLY_BASE, powers
    from reprints.fingerprint.kernels import compiled_sieve

    hashes = np.arange(8, dtype=np.uint64)
    compiled_sieve(hashes, hashes, np.array([0, 8]), powers(POLY_BASE, 5), 0, 32, 17, np.array([5]))


def _unpack_a_little(text: str) -> None:
    """A document's packed tokens read back as an index query reads its candidates' (loads that kernel when
    `COMPILED_FROM` is 0)."""
    import numpy as np

    from reprints.fingerprint.corpus import tokenize_batch
    from reprints.index.packing import pack_tokens, unpack_tokens
    from reprints.normalize.template import template_mask

    batch = tokenize_batch([text], 0)
    template = template_mask(batch.hashes, np.array([0, len(batch.hashes)], dtype=np.int64), 0)
    packed = pack_tokens(batch, template)[0]
    unpack_tokens(
        [
            (
                int(batch.token_counts[0]),
                int(batch.doc_hashes.view("i8")[0]),
                packed,
                batch.line_hashes.tobytes(),
                batch.doc_sketches.tobytes(),
            )
        ]
    )


def _learn_a_little() -> None:
    """Boilerplate learning over four lines: loads its kernel when `COMPILED_FROM` is 0."""
    import numpy as np

    from reprints.normalize import boilerplate

    lines = np.array([1, 2, 1, 2], dtype=np.uint64)
    boilerplate.learn(lines, np.array([0, 0, 1, 1]), np.array([3, 30, 3, 30]), min_docs=2, max_context=20)


def _decide_a_little() -> None:
    """The decide stage's walk over two linked documents, compiled (loads its kernel)."""
    import numpy as np

    from reprints.decide.keep_kernel import credit_walk

    two, no = np.array([0, 1], dtype=np.int64), np.zeros(2, dtype=np.bool_)
    link = np.zeros(1, dtype=np.int64)
    credit_walk(
        two, two, np.array([40, 40], dtype=np.int64), np.array([0, 1, 2], dtype=np.int64), np.zeros(2, np.int64),
        two[::-1].copy(), two[::-1].copy(), link, np.array([0, 1], dtype=np.int64),
        np.array([[0, 40, 0, 40]], dtype=np.int32), no, no, 30,
    )  # fmt: skip


def prefer_compiled_learning() -> None:
    """From now on, in this process, boilerplate learning's rounds take the compiled kernel however few lines
    a call examines: what an add of a large input does (it learns after every few batches, each call alone too
    small to repay loading the kernel, all of them together much more than that)."""
    from reprints.normalize import boilerplate

    boilerplate.COMPILED_FROM = 0


@functools.lru_cache(maxsize=1)
def load_main_process() -> None:
    """The kernels the main process of a run with workers calls itself (boilerplate learning's, with
    `prefer_compiled_learning`, and the decide stage's), loaded here rather than on the first call that needs
    them."""
    prefer_compiled_learning()
    _learn_a_little()
    _decide_a_little()


def worth_loading(input_chars: int, batch_chars: int) -> bool:
    """Whether a run over about `input_chars` characters, in batches of `batch_chars`, takes the compiled
    kernels anyway: its batches are long enough for the compiled tokenizer (`tokens.COMPILED_FROM`), and so are
    its other stages'. Such a run loads them as it starts, in the background (`load_in_background`).

    The threshold is `tokens.COMPILED_FROM` as this process has it; while that module is not imported (the command
    line asks before importing NumPy, to start the workers' fork server sooner), its default."""
    tokens = sys.modules.get("reprints.normalize.tokens")
    threshold = TOKENIZE_COMPILED_FROM if tokens is None else tokens.COMPILED_FROM
    return min(input_chars, batch_chars) >= threshold


def load_ahead(load: Callable[[], None]) -> None:
    """`load` (`prefer_compiled` or a variant, `load_main_process`) ahead of need: should it fail, the first batch
    that needs a kernel loads it again and says why it cannot."""
    try:
        load()
    except Exception as exc:  # reported where a batch needs the kernel
        log.debug("loading the compiled kernels ahead failed: %s", exc)


def load_in_background(load: Callable[[], None]) -> threading.Thread:
    """Run `load` (`prefer_compiled` or a variant, `load_main_process`) in a thread of its own (`load_ahead`), so
    that this process loads its kernels while it waits on its workers (or reads its input) instead of when it first
    needs them."""
    thread = threading.Thread(target=load_ahead, args=(load,), name="reprints-kernels", daemon=True)
    thread.start()
    return thread
