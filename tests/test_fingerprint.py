from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import news_texts
from reprints import compare
from reprints.decide.links import Link
from reprints.fingerprint.corpus import (
    CharTable,
    Corpus,
    CorpusWriter,
    concat_token_batches,
    fingerprint_batch,
    saved_progress,
    tokenize_batch,
)
from reprints.fingerprint.hashing import mix64, window_hashes
from reprints.fingerprint.shingles import (
    MAX_REPEATS,
    document_hashes,
    fingerprint,
    match_table,
    resemblance,
    shingle,
    sketches,
    winnow,
)
from reprints.io.arrays import Column, _file_of
from reprints.normalize.tokens import tokenize
from reprints.report.write import pair_of, pair_rows


def test_mix64_is_a_bijection_on_a_sample() -> None:
    values = np.arange(100_000, dtype=np.uint64)
    assert len(np.unique(mix64(values))) == len(values)


def test_window_hashes_count_and_shift_invariance() -> None:
    values = mix64(np.arange(20, dtype=np.uint64))
    hashes = window_hashes(values, 5, seed=0)
    assert len(hashes) == 16
    assert np.array_equal(window_hashes(values[3:], 5, seed=0), hashes[3:])
    assert len(window_hashes(values[:4], 5, seed=0)) == 0


def test_shingles_never_cross_documents() -> None:
    tokens = tokenize(["one two three four five six", "one two", "three four five six seven"])
    shingles, offsets = shingle(tokens, 3, seed=0)
    assert np.diff(offsets).tolist() == [4, 0, 3]
    alone = shingle(tokenize(["three four five six seven"]), 3, seed=0)[0]
    assert np.array_equal(shingles[offsets[2] : offsets[3]], alone)


def test_match_table_keeps_each_shingles_first_occurrences_sorted() -> None:
    shingles = np.array([5, 6, 5, 9, 7, 7, 8, 7], dtype=np.uint64)
    offsets = np.array([0, 4, 8])
    hashes, positions, counts = match_table(shingles, offsets, max_repeats=2)
    assert hashes.tolist() == [5, 5, 6, 9, 7, 7, 8]  # the third 7 (position 3 of the second document) left out
    assert positions.tolist() == [0, 2, 1, 3, 0, 1, 2]
    assert counts.tolist() == [4, 3]


@pytest.mark.parametrize("copies", [MAX_REPEATS + 1, 3 * MAX_REPEATS])
def test_regression_a_text_repeated_more_than_max_repeats_times_still_matches(copies: int) -> None:
    """A text pasted 9 or more times into one document matched nothing (each of its shingles occurred more than
    MAX_REPEATS times, and such a shingle was left out whole): `compare` with the text alone said 'partial' with
    no spans, and `dedup` found no copy. Its first MAX_REPEATS copies match now, with the compiled kernels and
    the NumPy code alike; the text itself is covered whole."""
    text = news_texts()[3]
    page = "\n\n".join([text] * copies)

    def spans() -> np.ndarray:
        found = compare(text, page).spans
        return np.array([[s.a_start, s.a_end, s.b_start, s.b_end] for s in found], dtype=np.int64).reshape(-1, 4)

    starts = [copy * (len(text) + 2) for copy in range(MAX_REPEATS)]
    assert _same_both_ways(spans).tolist() == [[0, len(text), start, start + len(text)] for start in starts]
    pair = compare(text, page)
    assert pair.coverage_a == 1.0 and pair.relation in ("contained", "near_duplicate"), pair


def test_short_document_gets_one_anchor() -> None:
    tokens = tokenize(["only six words in this text"])
    prints = fingerprint(tokens, shingle_size=5, window=12, seed=0)
    assert len(prints.anchor_hashes) == 1
    assert prints.anchor_hashes[0] == prints.shingles.min()


VOCABULARY = [f"w{i}" for i in range(40)]


@given(
    st.lists(st.sampled_from(VOCABULARY), min_size=16, max_size=40),
    st.lists(st.sampled_from(VOCABULARY), max_size=30),
    st.lists(st.sampled_from(VOCABULARY), max_size=30),
    st.integers(min_value=1, max_value=12),
)
@settings(max_examples=200, deadline=None)
def test_shared_passage_of_guaranteed_length_leaves_common_anchor(
    passage: list[str], before: list[str], after: list[str], window: int
) -> None:
    shingle_size = 5
    passage = passage[: window + shingle_size - 1]
    if len(passage) < window + shingle_size - 1:
        return
    text_a = " ".join(["x1", *before, *passage, "x2"])
    text_b = " ".join(["y1", *after, *passage, *before, "y2"])
    prints = fingerprint(tokenize([text_a, text_b]), shingle_size=shingle_size, window=window, seed=7)
    docs, hashes = prints.anchor_docs, prints.anchor_hashes
    assert set(hashes[docs == 0].tolist()) & set(hashes[docs == 1].tolist())


def test_winnow_density_is_about_two_over_window_plus_one() -> None:
    rng = np.random.default_rng(0)
    shingles = rng.integers(0, 2**63, size=100_000, dtype=np.uint64)
    docs, _ = winnow(shingles, np.array([0, len(shingles)]), 12)
    assert 0.12 < len(docs) / len(shingles) < 0.19


def test_document_hash_ignores_typography() -> None:
    doc_hashes = document_hashes(tokenize(["He said “yes” — twice.", 'he said "YES" - twice', "he said no"]), seed=0)
    assert doc_hashes[0] == doc_hashes[1] != doc_hashes[2]


def test_sketches_tell_lightly_edited_copies_from_different_texts() -> None:
    story = " ".join(f"w{i % 97} x{i % 13} y{i}" for i in range(300))  # one long paragraph
    edited = story.replace("y10 ", "indeed ").replace("y150 ", "reportedly ").replace("y290 ", "however ")
    other = " ".join(f"v{i % 89} x{i % 13} z{i}" for i in range(300))
    sketch = sketches(tokenize([story, edited, other, "", "too short"]), seed=0)
    assert sketch.shape == (5, 16)
    assert resemblance(sketch[0], sketch[0]) == 1.0
    assert resemblance(sketch[0], sketch[1]) > 0.8
    assert resemblance(sketch[0], sketch[2]) < 0.1
    assert resemblance(sketch[3], sketch[4]) == 0.0


@given(
    st.lists(st.integers(min_value=0, max_value=80), min_size=1, max_size=40),
    st.integers(min_value=1, max_value=40),
    st.sampled_from([2, 5, 2**64 - 1]),
    st.integers(min_value=0, max_value=2**32),
)
@settings(max_examples=150, deadline=None)
def test_compiled_winnowing_equals_numpy_winnowing(counts: list[int], window: int, high: int, seed: int) -> None:
    """The compiled winnowing chooses the anchors the NumPy code does, for any window (its queue is a ring of a
    power of two slots above the window: a window of 2**k shingles with ties, which the queue keeps, fills it)
    and any number of ties."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    hashes = rng.integers(0, high, int(offsets[-1]), dtype=np.uint64)
    _same_both_ways(lambda: winnow(hashes, offsets, window))


def _same_both_ways(call: Callable[[], Any]) -> Any:
    """`call()` with the fingerprinting kernels compiled and with the NumPy code: asserts their arrays are equal
    and returns them."""
    from reprints.fingerprint import shingles as module

    default = module.COMPILED_FROM
    try:
        module.COMPILED_FROM = 0
        compiled = call()
        module.COMPILED_FROM = 10**12
        plain = call()
    finally:
        module.COMPILED_FROM = default
    for left, right in zip(compiled, plain, strict=True):
        assert left.tolist() == right.tolist()
    return plain


@given(
    st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=9),
    st.sampled_from([0, 1, 12345, 2**63 + 17, 2**64 - 1]),
    st.integers(min_value=0, max_value=2**32),
)
@settings(max_examples=120, deadline=None)
def test_compiled_shingles_equal_numpy_shingles(counts: list[int], size: int, seed: int, draw: int) -> None:
    """The compiled shingles (large batches, every batch of a server) are the NumPy code's, hash for hash and
    offset for offset: documents shorter than a shingle, empty ones, any shingle size and seed, hashes over the
    whole 64 bits (the sums wrap)."""
    from reprints.fingerprint import shingles as module
    from reprints.normalize.tokens import Tokens

    rng = np.random.default_rng(draw)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    hashes = rng.integers(0, 2**64 - 1, int(offsets[-1]), dtype=np.uint64, endpoint=True)
    spans = np.zeros(len(hashes), dtype=np.int64)
    tokens = Tokens(spans, spans, hashes, offsets, spans, spans)
    _same_both_ways(lambda: module.shingle(tokens, size, seed))


@given(
    st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=40),
    st.sampled_from([2, 5, 40, 2**64 - 1]),
    st.integers(min_value=0, max_value=2**32),
)
@settings(max_examples=120, deadline=None)
def test_compiled_sketches_equal_numpy_sketches(counts: list[int], vocabulary: int, draw: int) -> None:
    """Sketches by the compiled bottom-k (large batches) are those of the one sort of the whole batch: documents
    with fewer distinct 3-grams than a sketch holds, empty ones, 3-grams repeated within a document."""
    from reprints.fingerprint import shingles as module
    from reprints.normalize.tokens import Tokens

    rng = np.random.default_rng(draw)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    hashes = rng.integers(0, vocabulary - 1, int(offsets[-1]), dtype=np.uint64, endpoint=True)
    spans = np.zeros(len(hashes), dtype=np.int64)
    tokens = Tokens(spans, spans, hashes, offsets, spans, spans)
    _same_both_ways(lambda: module.sketches(tokens, draw))


@given(
    st.lists(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=40), min_size=1, max_size=20),
    st.integers(min_value=0, max_value=2**32),
)
@settings(max_examples=120, deadline=None)
def test_compiled_bottom_k_keeps_distinct_top_bits(documents: list[list[int]], draw: int) -> None:
    """The compiled bottom-k counts values equal in their top bits once (they differ only in the bits that
    number a batch's documents), as the NumPy sketch's distinct keys do."""
    from reprints.fingerprint.kernels import compiled_sketches
    from reprints.fingerprint.shingles import NO_HASH, SKETCH_DOC_BITS, SKETCH_SIZE

    rng = np.random.default_rng(draw)
    doc_bits = int(rng.integers(1, SKETCH_DOC_BITS + 1))
    # Every third value followed by a twin sharing its top bits: its low doc_bits bits redrawn.
    values = [
        [w for k, v in enumerate(d) for w in ([v] if k % 3 else [v, v ^ int(rng.integers(0, 2**doc_bits))])]
        for d in documents
    ]
    offsets = np.cumsum([0] + [len(d) for d in values]).astype(np.int64)
    flat = np.array([v for d in values for v in d], dtype=np.uint64)
    out = np.full((len(values), SKETCH_SIZE), NO_HASH, dtype=np.uint64)
    compiled_sketches(flat, offsets, doc_bits, SKETCH_DOC_BITS, out)
    for row, doc in zip(out.tolist(), values, strict=True):
        kept = sorted({v >> doc_bits for v in doc})[:SKETCH_SIZE]
        expected = [v >> (SKETCH_DOC_BITS - doc_bits) for v in kept]
        assert row == expected + [int(NO_HASH)] * (SKETCH_SIZE - len(expected))


# Match tables to compare: document sizes, hash range, low bits (hashes equal in their top bits), repeats, seed.
_TABLES = given(
    st.lists(st.integers(min_value=0, max_value=80), min_size=1, max_size=60),
    st.sampled_from([3, 40, 2**64 - 1]),
    st.sampled_from([0, 40, 62]),
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=0, max_value=2**32),
)


@_TABLES
@settings(max_examples=120, deadline=None)
def test_compiled_match_table_equals_numpy_match_table(
    counts: list[int], high: int, low_bits: int, max_repeats: int, seed: int
) -> None:
    """The compiled match table (large batches) holds the rows the NumPy sort gives, in the same order: many
    repeats or hardly any, and hashes differing only in their low bits (equal top bits: positions break ties,
    and equal hashes must still be grouped as the sort leaves them)."""

    rng = np.random.default_rng(seed)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    hashes = rng.integers(0, high, int(offsets[-1]), dtype=np.uint64, endpoint=high < 2**64 - 1)
    hashes = (hashes << np.uint64(low_bits)) | rng.integers(0, 2, len(hashes), dtype=np.uint64)
    _same_both_ways(lambda: match_table(hashes, offsets, max_repeats))


@given(
    st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=63),
    st.sampled_from([2, 50, 2**20, 2**64 - 1]),
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=0, max_value=2**32),
)
@settings(max_examples=150, deadline=None)
def test_compiled_match_table_kernel_orders_by_any_number_of_top_bits(
    counts: list[int], shift: int, high: int, max_repeats: int, seed: int
) -> None:
    """The match table kernel orders each document's rows as a stable sort of `hash >> shift` does, whatever the
    shift (its bucket sort must never tell apart hashes that shift makes equal) and however the hashes crowd
    (few distinct values fill a bucket past insertion sort's share), and keeps each run of equal hashes' first
    `max_repeats` rows."""
    from reprints.fingerprint.kernels import compiled_match_table

    rng = np.random.default_rng(seed)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    spread = np.uint64(64 - max(1, (high - 1).bit_length()))
    hashes = rng.integers(0, high, int(offsets[-1]), dtype=np.uint64, endpoint=high < 2**64 - 1) << spread
    hashes |= rng.integers(0, 4, len(hashes), dtype=np.uint64)  # equal top bits, different hashes
    expected: tuple[list[int], list[int], list[int]] = ([], [], [])
    for lo, hi in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        order = np.argsort(hashes[lo:hi] >> np.uint64(shift), kind="stable").tolist()
        kept = [
            k for k, at in enumerate(order) if k < max_repeats or any(
                hashes[lo + order[k - j]] != hashes[lo + at] for j in range(1, max_repeats + 1)
            )
        ]  # fmt: skip
        runs = [order[k] for k in kept]
        expected[0].extend(int(hashes[lo + at]) for at in runs)
        expected[1].extend(runs)
        expected[2].append(len(runs))
    table = compiled_match_table(hashes, offsets, shift, max_repeats)
    assert (table[0].tolist(), table[1].tolist(), table[2].tolist()) == expected


_NEWS = Path(__file__).resolve().parents[1] / "examples" / "news" / "docs.jsonl"
_TEXTS = [json.loads(line)["text"] for line in _NEWS.read_text(encoding="utf-8").splitlines()][:40]


@_TABLES
@settings(max_examples=120, deadline=None)
def test_focused_match_table_is_the_whole_table_where_the_first_document_can_match(
    counts: list[int], high: int, low_bits: int, max_repeats: int, seed: int
) -> None:
    """Property: the focused match table (an index query) holds every row of the first document and, of every
    other document, exactly the rows of the whole table whose hash shares its top bits with a shingle of the
    first: same hashes, positions, order and repeats rule (runs of equal top bits kept whole), over batches
    with many repeats, hashes differing only in low bits, and documents sharing shingles with the first."""
    from reprints.fingerprint.hashing import doc_bits_for
    from reprints.fingerprint.shingles import focused_match_table

    rng = np.random.default_rng(seed)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    hashes = rng.integers(0, high, int(offsets[-1]), dtype=np.uint64, endpoint=high < 2**64 - 1)
    hashes = (hashes << np.uint64(low_bits)) | rng.integers(0, 2, len(hashes), dtype=np.uint64)
    first = hashes[offsets[0] : offsets[1]]
    if len(first) and len(hashes) > len(first):  # others take some of the first document's shingles
        shared = rng.random(len(hashes) - len(first)) < 0.3
        hashes[len(first) :][shared] = rng.choice(first, int(shared.sum()))
    whole = match_table(hashes, offsets, max_repeats)
    focused = _same_both_ways(lambda: focused_match_table(hashes, offsets, max_repeats))  # a server's every query
    shift = np.uint64(doc_bits_for(len(counts)))
    tops = set((first >> shift).tolist())
    docs = np.repeat(np.arange(len(counts)), whole[2])
    keep = np.array([doc == 0 or int(value >> shift) in tops for doc, value in zip(docs, whole[0], strict=True)])
    keep = keep.astype(np.bool_) if len(keep) else np.zeros(0, dtype=np.bool_)
    assert focused[0].tolist() == whole[0][keep].tolist()
    assert focused[1].tolist() == whole[1][keep].tolist()
    assert focused[2].tolist() == np.bincount(docs[keep], minlength=len(counts)).tolist()


_CUT = st.tuples(st.integers(0, 8), st.integers(0, 12))  # first paragraph, paragraphs


def _cut(text: str, cut: tuple[int, int]) -> str:
    paragraphs = text.split("\n")
    return "\n".join(paragraphs[cut[0] : cut[0] + cut[1]])


@given(
    st.integers(0, len(_TEXTS) - 1),
    st.lists(st.tuples(st.integers(0, len(_TEXTS) - 1), _CUT, _CUT, st.booleans()), max_size=8),
)
@settings(max_examples=40, deadline=None)
def test_first_with_others_finds_the_same_links_focused(
    query: int, others: list[tuple[int, tuple[int, int], tuple[int, int], bool]]
) -> None:
    """Property: aligning the first document with each other one gives the same links (relation, coverages,
    spans) whether the batch is fingerprinted whole or focused on the first document, over real articles and
    documents made of a cut of another article and a cut of the query's text (either may be empty, in either
    order): what a stored page holding part of the queried article looks like."""
    from reprints.config import Config
    from reprints.decide.links import first_with_others
    from reprints.fingerprint.corpus import fingerprint_tokens

    texts = [_TEXTS[query]]
    for which, own, shared, shared_first in others:
        parts = [_cut(_TEXTS[which], own), _cut(_TEXTS[query], shared)]
        texts.append("\n".join(reversed(parts) if shared_first else parts))
    config = Config()
    fp = config.fingerprint
    batch = tokenize_batch(texts, fp.seed)
    ids = [f"d{i}" for i in range(len(texts))]
    found = []
    for focus in (False, True):
        prints = fingerprint_tokens(batch, fp.shingle_size, fp.window, fp.seed, focus=focus)
        found.append(first_with_others(prints, ids, config)[1])
    assert found[0] == found[1]
    if any(len(_cut(_TEXTS[query], shared).split()) >= 60 for _, _, shared, _ in others):
        assert found[0]  # a long cut of the query's own text shares a passage with it


@given(st.lists(st.integers(0, len(_TEXTS) - 1), min_size=1, max_size=6), st.integers(0, 6))
@settings(max_examples=60, deadline=None)
def test_token_batches_concatenate_as_if_tokenized_together(chosen: list[int], cut: int) -> None:
    """The index tokenizes a query once and appends its candidates' tokens: the result equals tokenizing all
    the texts together (including an empty text, and texts cut at odd places)."""
    texts = [_TEXTS[i][: len(_TEXTS[i]) // (1 + n % 3)] for n, i in enumerate(chosen)] + [""]
    split = min(cut, len(texts))
    together = tokenize_batch(texts, 0)
    joined = concat_token_batches(tokenize_batch(texts[:split], 0), tokenize_batch(texts[split:], 0))
    for name in type(together).__dataclass_fields__:
        assert np.array_equal(getattr(together, name), getattr(joined, name)), name


def test_regression_sketches_compare_across_batches_of_any_size() -> None:
    """A document's sketch kept its hashes' top 64 - b bits, b depending on the number of documents in its batch:
    a story sketched in a batch of 2 and its copy in a batch of 600 shared no value, and looked like different
    documents to boilerplate learning (a batch's size is set by --batch-chars, the last one is smaller)."""
    text = _TEXTS[0]
    alone = tokenize_batch([text, _TEXTS[1]], 0).doc_sketches[0]
    crowd = tokenize_batch([*(_TEXTS * 15), text], 0).doc_sketches[-1]
    assert np.array_equal(alone, crowd)
    assert resemblance(alone.tolist(), crowd.tolist()) == 1.0


@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=200),
    st.lists(st.integers(0, 2**64 - 1), max_size=200),
    st.integers(0, 60),
    st.booleans(),
)
@settings(max_examples=80, deadline=None)
def test_boilerplate_membership_is_that_of_isin(keys: list[int], values: list[int], shared: int, ordered: bool) -> None:
    """The boilerplate lines of a batch are found in the learned keys (a bitmap of their low bits, then binary
    search): the same lines as `np.isin`, keys in order or not, values found or not, values sharing a key's low
    bits but not the key, duplicates, the largest keys."""
    from reprints.fingerprint.corpus import members as _members

    key_array = np.array(keys, dtype=np.uint64)
    near = [key ^ (1 << (40 + key % 24)) for key in keys[:shared]]  # a key's low bits, another value
    value_array = np.array(values + keys[:shared] + near, dtype=np.uint64)
    if ordered:
        key_array = np.unique(key_array)
    assert np.array_equal(_members(value_array, key_array), np.isin(value_array, key_array))


def _corpus_arrays(corpus: Corpus) -> dict[str, np.ndarray]:
    assert corpus.index is not None
    names = ("token_offsets", "lead", "trail", "doc_hashes", "anchor_docs", "anchor_hashes", "boilerplate_tokens")
    arrays = {name: np.asarray(getattr(corpus, name)) for name in names}
    arrays["template_before"] = np.asarray(corpus.template_before)
    for name in ("keys", "positions", "offsets", "token_counts"):
        arrays[f"index_{name}"] = np.asarray(getattr(corpus.index, name))
    return arrays


@given(
    st.lists(st.integers(0, len(_TEXTS) - 1), min_size=1, max_size=5),
    st.lists(st.integers(0, len(_TEXTS) - 1), min_size=1, max_size=5),
    st.lists(st.integers(0, len(_TEXTS) - 1), min_size=0, max_size=5),
    st.integers(1, 3),
    st.booleans(),
)
@settings(max_examples=25, deadline=None)
def test_corpus_writer_resumed_after_a_checkpoint_equals_one_written_at_once(
    first: list[int], second: list[int], third: list[int], stop: int, junk: bool
) -> None:
    """The match index is the fingerprint pass's checkpoint: a run killed after `stop` checkpointed batches
    (and possibly halfway through writing the next) continues from the record and lays out the same corpus as
    a run never stopped."""
    batches = [fingerprint_batch([_TEXTS[i] for i in chosen], 5, 8, 0) for chosen in (first, second, third)]
    documents = sum(len(batch.token_counts) for batch in batches)
    with tempfile.TemporaryDirectory() as name:
        whole, stopped = Path(name) / "whole", Path(name) / "stopped"
        whole.mkdir(), stopped.mkdir()
        at_once = Corpus()
        writer = CorpusWriter(at_once, whole, documents)
        for batch in batches:
            writer.add(batch)
        writer.finish()
        killed = CorpusWriter(Corpus(), stopped, documents)
        for batch in batches[:stop]:
            killed.add(batch)
            killed.checkpoint()
        if junk and stop < len(batches):
            killed.add(batches[stop])  # written, never recorded: cut off on resume
            for column in killed.columns.values():
                column.flush()
        del killed
        progress = saved_progress(stopped)
        assert progress is not None and progress["batches"] == stop
        resumed = Corpus()
        writer = CorpusWriter(resumed, stopped, documents, resume=progress)
        for batch in batches[stop:]:
            writer.add(batch)
        writer.finish()
        expected, got = _corpus_arrays(at_once), _corpus_arrays(resumed)
        for key, value in expected.items():
            assert np.array_equal(value, got[key]), key


def test_regression_damaged_index_record_or_column_is_not_resumed(tmp_path: Path) -> None:
    """A checkpoint record that cannot be read, or a column shorter than recorded (a disk fault), means
    fingerprinting again from the first batch, never continuing a corpus with holes."""
    batch = fingerprint_batch(_TEXTS[:6], 5, 8, 0)
    writer = CorpusWriter(Corpus(), tmp_path, 6)
    writer.add(batch)
    writer.checkpoint()
    assert saved_progress(tmp_path) is not None
    keys = tmp_path / "keys.npy"
    keys.write_bytes(keys.read_bytes()[:-8])
    assert saved_progress(tmp_path) is None
    (tmp_path / "progress.json").write_text("{", encoding="utf-8")
    assert saved_progress(tmp_path) is None


@pytest.mark.parametrize("column", ["lead", "keys", "doc_token_counts"])
def test_regression_a_column_changed_in_place_is_not_resumed(
    tmp_path: Path, column: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A column of the match index changed in place (one value, its length kept: a disk fault, a stray write)
    passed the length check, and `--resume` continued with it: wrong character offsets, wrong spans, silently.
    The checkpoint records a digest of each column's values; a column that differs means fingerprinting again.
    A column continued after a checkpoint keeps its digest, so the next checkpoint verifies too."""
    batches = [fingerprint_batch(_TEXTS[:4], 5, 8, 0), fingerprint_batch(_TEXTS[4:8], 5, 8, 0)]
    writer = CorpusWriter(Corpus(), tmp_path, 8)
    writer.add(batches[0])
    writer.checkpoint()
    del writer
    progress = saved_progress(tmp_path)
    assert progress is not None
    resumed = CorpusWriter(Corpus(), tmp_path, 8, resume=progress)
    resumed.add(batches[1])
    resumed.checkpoint()
    del resumed
    assert saved_progress(tmp_path) is not None
    path = tmp_path / f"{column}.npy"
    data = bytearray(path.read_bytes())
    data[Column.HEADER + 3] ^= 0x10  # one bit of the first value
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert saved_progress(tmp_path) is None
    assert f"{column}.npy differs from what was written" in caplog.text


@given(
    st.lists(st.integers(0, len(_TEXTS) - 1), min_size=1, max_size=8),
    st.lists(st.tuples(st.integers(0, 7), st.integers(-3, 400), st.integers(-3, 400)), min_size=1, max_size=30),
    st.booleans(),
    st.sampled_from([CharTable.WHOLE_TOKENS, 60]),
)
@settings(max_examples=40, deadline=None)
def test_char_table_answers_as_the_corpus_does(
    chosen: list[int], lookups: list[tuple[int, int, int]], mapped: bool, whole: int
) -> None:
    """Writing reads the character bounds of a chunk's documents at once (`Corpus.char_table`, positioned reads
    of the mapped files) instead of looking each passage up in the mappings: every lookup, inside a document or
    not, answers the same (texts of real news, some empty); so do documents too long to read whole (`whole`)."""
    texts = [_TEXTS[i] if n % 3 else _TEXTS[i][: n * 40] for n, i in enumerate(chosen)]
    batch = fingerprint_batch(texts, 5, 8, 0)
    with tempfile.TemporaryDirectory() as name:
        corpus = Corpus()
        writer = CorpusWriter(corpus, Path(name) if mapped else None, len(texts))
        writer.add(batch)
        writer.finish()
        if mapped and len(corpus.lead):  # the plain view of the mapping is read from its file, not through it
            assert _file_of(corpus.lead) is not None and _file_of(corpus.lead[1:]) is None
        with mock.patch.object(CharTable, "WHOLE_TOKENS", whole):
            table = corpus.char_table(doc % len(texts) for doc, _, _ in lookups)
        total = int(corpus.token_offsets[-1])
        asked = []
        for doc, start, end in lookups:
            doc %= len(texts)
            base = int(corpus.token_offsets[doc])
            if not (0 <= base + start < total and 0 <= base + end - 1 < total):
                continue  # outside the corpus-wide arrays too: no answer to compare
            assert table.char_span(doc, start, end) == corpus.char_span(doc, start, end)
            asked.append((doc, start, end))
        columns = np.array(asked, dtype=np.int64).reshape(-1, 3)
        first, last = table.char_spans(columns[:, 0], columns[:, 1], columns[:, 2])  # all at once: the same answers
        assert list(zip(first.tolist(), last.tolist(), strict=True)) == [corpus.char_span(*ask) for ask in asked]


@given(
    st.lists(st.integers(0, len(_TEXTS) - 1), min_size=2, max_size=8),
    st.lists(
        st.tuples(
            st.integers(0, 7),
            st.integers(0, 7),
            st.sampled_from(["exact", "near_duplicate", "contained", "partial"]),
            st.lists(st.tuples(*[st.integers(-2, 400)] * 4), max_size=6),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([CharTable.WHOLE_TOKENS, 60]),
)
@settings(max_examples=40, deadline=None)
def test_pair_rows_are_the_pairs_of_their_links(
    chosen: list[int], drawn: list[tuple[int, int, str, list[tuple[int, int, int, int]]]], whole: int
) -> None:
    """The write stage makes a chunk's `pairs` rows at once (`pair_rows`: every passage's character bounds looked
    up together): each row is what `pair_of(...).to_dict()` makes of its link, including passages empty on a side
    (left out), containers, and documents too long to read whole (`whole`)."""
    texts = [_TEXTS[i][: 80 * n] if n % 3 == 2 else _TEXTS[i] for n, i in enumerate(chosen)]
    batch = fingerprint_batch(texts, 5, 8, 0)
    corpus = Corpus()
    writer = CorpusWriter(corpus, None, len(texts))
    writer.add(batch)
    writer.finish()
    counts = np.diff(corpus.token_offsets)
    links = []
    for x, y, relation, regions in drawn:
        a, b = sorted((x % len(texts), (x + 1 + y % (len(texts) - 1)) % len(texts)))
        if not counts[a] or not counts[b]:
            continue
        inside = [
            (a0 % counts[a], a1 % (counts[a] + 1), b0 % counts[b], b1 % (counts[b] + 1)) for a0, a1, b0, b1 in regions
        ]
        links.append(Link(a, b, relation, 0.25 * (len(links) % 5), 1 / (1 + len(inside)), inside))  # type: ignore[arg-type]
    ids = [f"doc-{doc}" for doc in range(len(texts))]
    with mock.patch.object(CharTable, "WHOLE_TOKENS", whole):
        table = corpus.char_table(doc for link in links for doc in (link.a, link.b))
    assert pair_rows(links, ids, table) == [pair_of(link, ids, corpus).to_dict() for link in links]


def test_regression_a_missing_empty_column_is_resumed(tmp_path: Path) -> None:
    """Found in review: a column recorded with no values (no boilerplate removed yet) whose file is missing passed
    the check (0 values held, 0 recorded) and then could not be reopened, so every --resume failed the same way.
    It is made again, empty."""
    batch = fingerprint_batch(_TEXTS[:4], 5, 8, 0)
    writer = CorpusWriter(Corpus(), tmp_path, 8)
    writer.add(batch)
    writer.checkpoint()
    assert writer.columns["boilerplate_docs"].count == 0
    del writer
    (tmp_path / "boilerplate_docs.npy").unlink()
    progress = saved_progress(tmp_path)
    assert progress is not None
    resumed = Corpus()
    writer = CorpusWriter(resumed, tmp_path, 8, resume=progress)
    writer.add(batch)
    writer.finish()
    assert len(resumed.token_counts) == 8 and len(resumed.boilerplate_docs) == 0
