from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from conftest import news_texts
from reprints import compare
from reprints.align.chain import MatchIndex, Regions, _union_length, chain
from reprints.types import Pair

WORDS = [f"word{i}" for i in range(500)]
NEWS_TEXTS = news_texts()[:80]


def text_of(seed: int, count: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), size=count))


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=25, max_value=400))
@settings(max_examples=60, deadline=None)
def test_text_aligned_with_itself_covers_all(seed: int, count: int) -> None:
    text = text_of(seed, count)
    pair = compare(text, text)
    assert pair.relation == "exact"
    assert pair.coverage_a == pair.coverage_b == 1.0


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=60, max_value=300))
@settings(max_examples=40, deadline=None)
def test_copy_with_typography_changes_is_a_near_duplicate(seed: int, count: int) -> None:
    text = text_of(seed, count)
    retyped = text.replace(" ", "  ").upper() + " — the end"
    pair = compare(text, retyped, min_passage=25)
    assert pair.coverage_a == 1.0
    assert pair.relation == "near_duplicate"


def test_article_inside_page_is_contained_with_its_span() -> None:
    article = text_of(1, 200)
    page = text_of(2, 150) + "\n\n" + article + "\n\n" + text_of(3, 300)
    pair = compare(article, page)
    assert pair.relation == "contained"
    assert pair.container == "b"
    [span] = pair.spans
    assert page[span.b_start : span.b_end] == article
    assert (span.a_start, span.a_end) == (0, len(article))


def test_small_edits_are_bridged() -> None:
    words = text_of(4, 300).split()
    edited = words.copy()
    edited[100] = "changed"
    edited.insert(200, "inserted")
    del edited[250]
    pair = compare(" ".join(words), " ".join(edited))
    assert len(pair.spans) == 1
    assert pair.coverage_a > 0.99


def test_quoted_paragraph_is_partial() -> None:
    quote = text_of(5, 40)
    a = text_of(6, 300) + " " + quote + " " + text_of(7, 300)
    b = text_of(8, 200) + " '" + quote + "' " + text_of(9, 200)
    pair = compare(a, b)
    assert pair.relation == "partial"
    [span] = pair.spans
    assert quote in a[span.a_start : span.a_end]


PUNCTUATION = st.sampled_from([" ", ", ", ". ", " “", "” ", " — ", "\n\n", " (", ") ", "'s "])


@given(st.integers(min_value=0, max_value=10_000), st.lists(PUNCTUATION, min_size=40, max_size=40))
@settings(max_examples=60, deadline=None)
def test_spans_start_and_end_between_words(seed: int, separators: list[str]) -> None:
    words = text_of(seed, 40).split()
    passage = "".join(w + sep for w, sep in zip(words, separators, strict=True)).strip()
    a = text_of(seed + 1, 50) + "“" + passage + "” " + text_of(seed + 2, 50)
    b = text_of(seed + 3, 30) + " " + passage.upper() + "." + text_of(seed + 4, 30)
    pair = compare(a, b)
    assert pair.spans
    for span in pair.spans:
        for text, start, end in ((a, span.a_start, span.a_end), (b, span.b_start, span.b_end)):
            assert 0 <= start < end <= len(text)
            assert start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
            assert end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
            assert not text[start].isspace() and not text[end - 1].isspace()


def test_unrelated_texts_share_nothing() -> None:
    pair = compare(text_of(10, 300), text_of(11, 300))
    assert pair.spans == ()
    assert pair.coverage_a == 0.0


def test_passage_shorter_than_min_passage_is_not_reported() -> None:
    shared = text_of(12, 20)
    pair = compare(text_of(13, 100) + " " + shared, shared + " " + text_of(14, 100), min_passage=25)
    assert pair.spans == ()


def test_chain_joins_consecutive_runs_only() -> None:
    parts = Regions(
        np.array([0, 0, 0]),
        np.array([0, 20, 300]),
        np.array([15, 40, 320]),
        np.array([0, 22, 5]),
        np.array([15, 42, 25]),
    )
    regions, region_of_part = chain(parts, max_gap=12)
    assert regions.a_start.tolist() == [0, 300]
    assert regions.a_end.tolist() == [40, 320]
    assert region_of_part.tolist() == [0, 0, 1]


def test_union_length_counts_overlaps_once() -> None:
    group = np.array([0, 0, 0, 1])
    start = np.array([0, 5, 20, 3])
    end = np.array([10, 12, 25, 4])
    assert _union_length(group, start, end, 3).tolist() == [17, 1, 0]


def _index_of(texts: list[str]) -> MatchIndex:
    """The match index of texts, as a dedup run builds it (rows sorted by key within each document)."""
    from reprints.fingerprint.corpus import fingerprint_batch
    from reprints.fingerprint.hashing import doc_bits_for

    prints = fingerprint_batch(texts, 5, 12, 0)
    doc_bits = doc_bits_for(len(texts))
    keys = MatchIndex.keys_for(prints.match_hashes, prints.match_counts, 0, doc_bits)
    offsets = np.concatenate(([0], np.cumsum(prints.match_counts))).astype(np.int64)
    order = np.concatenate(
        [lo + np.argsort(keys[lo:hi], kind="stable") for lo, hi in itertools.pairwise(offsets)]
    ).astype(np.int64)
    positions = np.asarray(prints.match_positions)[order].astype(np.int32)
    return MatchIndex(
        keys[order], positions, offsets, prints.token_counts.astype(np.int64), doc_bits, prints.doc_hashes
    )


# Documents as layouts of passages (`PASSAGE`): each a list of (passage, words cut from its start).
LAYOUTS = st.lists(
    st.lists(st.tuples(st.integers(min_value=0, max_value=5), st.integers(min_value=0, max_value=12)), max_size=7),
    min_size=2,
    max_size=6,
)


def _laid_out(passages: list[tuple[int, int, int]], layouts: list[list[tuple[int, int]]]) -> list[str]:
    """Texts made of passages of real articles (article, first word, words), as the layouts place them."""
    words = [NEWS_TEXTS[number].split()[start : start + length] for number, start, length in passages]
    return [" ".join(w for k, cut in layout for w in words[k % len(words)][cut:]) for layout in layouts]


PASSAGE = st.tuples(
    st.integers(min_value=0, max_value=len(NEWS_TEXTS) - 1),
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=1, max_value=160),
)


@given(
    st.lists(PASSAGE, min_size=1, max_size=6),
    LAYOUTS,
    st.integers(min_value=0, max_value=20),
    st.sampled_from([5, 12, 30, 60]),
    st.sampled_from([1, 3, 16_384]),
    st.sampled_from([1, 40, 300, 4_000_000]),
)
@settings(max_examples=150, deadline=None)
def test_compiled_alignment_equals_numpy_alignment(
    passages: list[tuple[int, int, int]],
    layouts: list[list[tuple[int, int]]],
    max_gap: int,
    min_passage: int,
    align_chunk: int,
    chunk_rows: int,
) -> None:
    """The compiled pass from index rows to passages (large chunks) aligns every pair as the NumPy path does:
    documents made of passages of real articles, carried once, twice or not at all, in any order, some without
    their first words (so parts overlap, are set aside and chained among themselves, and stray matches split
    nothing); however its pairs fall into chunks, by count (`ALIGN_CHUNK`) or by their documents' rows
    (`CHUNK_ROWS`, down to one pair a chunk)."""
    from reprints.align import chain

    texts = _laid_out(passages, layouts)
    index = _index_of(texts)
    every = np.array(list(itertools.product(range(len(texts)), repeat=2)), dtype=np.int64)
    a, b = every[:, 0].copy(), every[:, 1].copy()
    defaults = chain.COMPILED_FROM, chain.ALIGN_CHUNK, chain.CHUNK_ROWS
    try:
        found = []
        for threshold, chunk, rows in ((0, align_chunk, chunk_rows), (10**12, defaults[1], defaults[2])):
            chain.COMPILED_FROM, chain.ALIGN_CHUNK, chain.CHUNK_ROWS = threshold, chunk, rows
            found.append(chain.align(index, a, b, shingle_size=5, min_passage=min_passage, max_gap=max_gap))
    finally:
        chain.COMPILED_FROM, chain.ALIGN_CHUNK, chain.CHUNK_ROWS = defaults
    for name in Regions.__slots__:
        assert np.array_equal(getattr(found[0], name), getattr(found[1], name)), name
        # regression (review): the NumPy path gave int32 bounds (from the index's positions), the kernel int64
        assert getattr(found[0], name).dtype == getattr(found[1], name).dtype == np.int64, name
    if index.token_counts.max() >= 2 * min_passage + 10:  # a document this long aligns with itself at least
        assert len(found[0].pair) > 0


@given(
    st.lists(PASSAGE, min_size=1, max_size=6),
    LAYOUTS,
    st.integers(min_value=0, max_value=20),
    st.sampled_from([5, 12, 30]),
    st.sampled_from([0, 10**12]),
)
@settings(max_examples=150, deadline=None)
def test_every_pair_aligns_as_the_mirror_of_its_swapped_pair(
    passages: list[tuple[int, int, int]],
    layouts: list[list[tuple[int, int]]],
    max_gap: int,
    min_passage: int,
    compiled_from: int,
) -> None:
    """Property: aligning `(x, y)` gives the mirror of aligning `(y, x)` (the same passages, sides swapped), for
    any two documents but exact copies, made of passages of real articles carried once, twice or not at all, in
    any order, some without their first words, by the compiled pass and by the NumPy path. Chaining follows the
    first document's order: before pairs were aligned in a canonical order, documents whose passages cross aligned
    differently each way round (found on BBC News: `compare` of two articles gave two passages one way, other
    coverages the other way, and an index query, which puts itself first, disagreed with `dedup`)."""
    from reprints.align import chain

    texts = _laid_out(passages, layouts)
    index = _index_of(texts)
    hashes = index.doc_hashes.tolist()
    # (texts of the same tokens are exact copies: `dedup` groups them and aligns none with another)
    every = [(x, y) for x, y in itertools.combinations(range(len(texts)), 2) if hashes[x] != hashes[y]]
    assume(every)
    a, b = (np.array(side, dtype=np.int64) for side in zip(*every, strict=True))
    default = chain.COMPILED_FROM
    try:
        chain.COMPILED_FROM = compiled_from
        ways = [
            chain.align(index, x, y, shingle_size=5, min_passage=min_passage, max_gap=max_gap)
            for x, y in ((a, b), (b, a))
        ]
    finally:
        chain.COMPILED_FROM = default
    one, other = ways

    def passages_of(regions: Regions, mirrored: bool) -> list[tuple[int, ...]]:
        rows = zip(*(getattr(regions, f).tolist() for f in Regions.__slots__), strict=True)
        return sorted((p, b0, b1, a0, a1) if mirrored else (p, a0, a1, b0, b1) for p, a0, a1, b0, b1 in rows)

    assert passages_of(one, mirrored=False) == passages_of(other, mirrored=True)


def test_compiled_alignment_of_pairs_with_more_match_points_than_its_first_room() -> None:
    """The compiled pass finds a pair's match points in an array of 1,024 to begin with; a pair with more (long
    copies, a passage repeated) is looked up again in a larger one, with the NumPy path's result."""
    from reprints.align import chain

    long_text = " ".join(" ".join(text.split()[:400]) for text in NEWS_TEXTS[:6])
    repeated = " ".join(NEWS_TEXTS[0].split()[:200] * 4)
    texts = [long_text, long_text, repeated, NEWS_TEXTS[0]]
    index = _index_of(texts)
    a = np.array([0, 0, 2, 3, 2], dtype=np.int64)
    b = np.array([0, 1, 2, 2, 3], dtype=np.int64)
    default = chain.COMPILED_FROM
    try:
        found = []
        for threshold in (0, 10**12):
            chain.COMPILED_FROM = threshold
            found.append(chain.align(index, a, b, shingle_size=5, min_passage=30, max_gap=12))
    finally:
        chain.COMPILED_FROM = default
    points, _, _ = chain.match_points(index, a, b)
    assert np.bincount(points).max() > 1024
    for name in Regions.__slots__:
        assert np.array_equal(getattr(found[0], name), getattr(found[1], name)), name


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=25), st.integers(-30, 30)),
        min_size=1,
        max_size=25,
        unique_by=lambda part: part[0],
    ),
    st.integers(min_value=0, max_value=12),
    st.integers(min_value=0, max_value=8),
)
@settings(max_examples=400, deadline=None)
def test_compiled_chaining_equals_numpy_chaining(parts: list[tuple[int, int, int]], max_gap: int, overlap: int) -> None:
    """One pair's parts (runs: start in `a`, length, diagonal) chained by the compiled pass give the regions, and
    the region of each part, that `chain` gives: small coordinates, so parts touch, overlap, go back and repeat."""
    from reprints.align import kernels
    from reprints.align.chain import chain

    rows = np.array([(s, s + n, s + d + 30, s + n + d + 30) for s, n, d in parts], dtype=np.int64)
    plain, plain_of_part = chain(
        Regions(np.zeros(len(rows), dtype=np.int64), *(rows[:, k].copy() for k in range(4))),
        max_gap=max_gap,
        overlap=overlap,
    )
    compiled, compiled_of_part = kernels._chain(rows, max_gap, overlap)
    assert compiled.tolist() == np.stack([plain.a_start, plain.a_end, plain.b_start, plain.b_end], axis=1).tolist()
    assert compiled_of_part.tolist() == plain_of_part.tolist()


@given(
    st.lists(st.integers(min_value=-3, max_value=3), max_size=300),
    st.sampled_from([np.int64, np.uint64]),
    st.integers(min_value=0, max_value=61),
)
@settings(max_examples=300, deadline=None)
def test_the_kernels_merge_sort_orders_as_numpys_stable_argsort(values: list[int], dtype: type, shift: int) -> None:
    """`reprints.sorting.stable_order` (the kernels' own sort, fast to compile) gives the order of NumPy's stable
    argsort: few distinct keys, so ties everywhere, lengths on and off powers of two, both key types (signed
    ones negative when shifted into the top bit)."""
    from reprints.sorting import stable_order

    keys = np.array([(v + 3) << shift for v in values], dtype=np.uint64).astype(dtype)
    assert stable_order(keys).tolist() == np.argsort(keys, kind="stable").tolist()


def _spans(pair: Pair) -> list[tuple[int, int, int, int]]:
    return sorted((span.a_start, span.a_end, span.b_start, span.b_end) for span in pair.spans)


def _mirrored(pair: Pair) -> list[tuple[int, int, int, int]]:
    return sorted((b0, b1, a0, a1) for a0, a1, b0, b1 in _spans(pair))


@given(
    st.integers(0, len(NEWS_TEXTS) - 1),
    st.integers(0, 10),
    st.integers(1, 12),
    st.integers(0, 8),
    st.integers(0, 10),
    st.booleans(),
)
@example(which=77, start=0, length=2, repeat=6, gap=0, in_original=False)  # the copy's phrase is in the original
@example(which=72, start=2, length=1, repeat=7, gap=0, in_original=True)  # the phrase is the whole copy
@settings(max_examples=100, deadline=None)
def test_alignment_is_the_same_both_ways(
    which: int, start: int, length: int, repeat: int, gap: int, in_original: bool
) -> None:
    """Property: comparing `x` with `y` reports the mirror of comparing `y` with `x` (same spans, relation and
    coverages, sides swapped), for real articles and copies cut from them (paragraphs `start:start + length`);
    with `repeat`, the copy's last `repeat` words come again `gap` words after the copied paragraphs, in the
    original or in the copy. And when the phrase is repeated in the original only, no passage of the copy runs
    from the copied paragraphs into the repeat: it does not stretch a passage over text the copy does not have.
    (Repeated in the copy, it may rightly match the original after them: CI found an article whose next paragraph
    says "2.3 pct in 1988" again right after a headline ending "2.3 PCT IN 1988 - MINISTRY". And a repeat that is
    the whole copy is a second copy of it: CI found a one-line paragraph, "Oper net loss 154,000 vs loss
    1,301,000", repeated whole, and both copies rightly aligned.)"""
    paragraphs = NEWS_TEXTS[which].split("\n")
    start %= len(paragraphs)
    copied = paragraphs[start : start + length]
    filler = " ".join(NEWS_TEXTS[which - 1].split()[:gap])
    phrase = " ".join(" ".join(copied).split()[-repeat:]) if repeat else ""
    echo = [f"{filler} {phrase}".strip()] if repeat else []
    end = start + len(copied)
    original = "\n".join(paragraphs[:end] + (echo if in_original else []) + paragraphs[end:])
    copy = "\n".join(copied + ([] if in_original else echo))
    one, other = compare(original, copy), compare(copy, original)
    assert (one.relation, one.coverage_a, one.coverage_b) == (other.relation, other.coverage_b, other.coverage_a)
    assert _spans(one) == _mirrored(other)
    if in_original:  # the copy lacks the repeated phrase: no passage may stretch past the copied paragraphs
        copied_end = len("\n".join(paragraphs[:end]))
        assert all(a_end <= copied_end or a_start >= copied_end for a_start, a_end, _, _ in _spans(one)), (
            copied_end,
            _spans(one),
        )


def test_regression_a_phrase_repeated_after_a_copied_passage_does_not_stretch_it() -> None:
    """Found by the index/dedup agreement property: a copy ending with "at the end of 1986." inside an article
    that says "at the end of 1986" again one sentence later. Aligned article-first, the repeated phrase joined the
    passage and stretched it over the next sentence (coverage 0.4342 instead of 0.4145); aligned copy-first, not."""
    article = next(text for text in NEWS_TEXTS if "FUJIOKA SAYS STALEMATE" in text[:40])
    copy = "\n".join(article.split("\n")[3:11])
    one, other = compare(article, copy), compare(copy, article)
    assert _spans(one) == _mirrored(other) == [(395, 1467, 0, 1072)]


def test_regression_an_insertion_repeating_a_passages_tail_does_not_cut_it() -> None:
    """Review of the fix above: a part that ends no further on than the one before it was made a region of its own,
    so an insertion in one text that repeats the last five words of the passage before it cut that passage off
    the rest, and a short passage (25 words, under `min_passage`) was lost. Such parts are now set aside before
    chaining: the passage before the insertion and the one after it are one region, in both directions."""
    x, z = [f"x{i}" for i in range(25)], [f"z{i}" for i in range(60)]
    pre_a, pre_b = [f"pa{i}" for i in range(40)], [f"pb{i}" for i in range(40)]
    a = " ".join([*pre_a, *x, "g0", "g1", "g2", *x[-5:], "h0", "h1", *z])
    b = " ".join([*pre_b, *x, *z])
    x_in_b = len(" ".join(pre_b)) + 1
    for one, other in ((a, b), (b, a)):
        pair = compare(one, other)
        b_side = [(s.b_start, s.b_end) if one is a else (s.a_start, s.a_end) for s in pair.spans]
        assert b_side == [(x_in_b, len(b))], pair


@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=300),
    st.integers(min_value=1, max_value=64),
    st.integers(min_value=0, max_value=400),
)
@settings(max_examples=60, deadline=None)
def test_chunks_cover_every_pair_once_and_read_at_most_chunk_rows(
    seed: int, pair_count: int, most: int, rows: int
) -> None:
    """Property: the alignment's chunks (`_chunks`) take the pairs in order, each exactly once, at most `most` a
    chunk, with their documents (sorted, distinct), whose rows number at most CHUNK_ROWS unless the chunk is one
    pair: what bounds the memory of one read of the index however long the documents are."""
    from reprints.align import chain

    rng = np.random.default_rng(seed)
    docs = 50
    counts = rng.integers(0, 80, docs)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    index = MatchIndex(
        np.empty(0, np.uint64), np.empty(0, np.int32), offsets, counts, 8, np.arange(docs, dtype=np.uint64)
    )
    a, b = rng.integers(0, docs, pair_count), rng.integers(0, docs, pair_count)
    default, chain.CHUNK_ROWS = chain.CHUNK_ROWS, rows
    try:
        chunks = list(chain._chunks(index, a, b, most))
    finally:
        chain.CHUNK_ROWS = default
    assert [start for start, _, _ in chunks] == [0] + [stop for _, stop, _ in chunks[:-1]]
    assert chunks[-1][1] == pair_count
    for start, stop, chunk_docs in chunks:
        assert 0 < stop - start <= most
        assert np.array_equal(chunk_docs, np.unique(np.concatenate((a[start:stop], b[start:stop]))))
        assert stop - start == 1 or int(counts[chunk_docs].sum()) <= rows


@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=700),
    st.sampled_from([1, 7, 256, 4096]),
    st.sampled_from([1, 100, 4_000_000]),
)
@settings(max_examples=15, deadline=None)
def test_match_points_read_from_a_saved_index_are_every_shared_shingle(
    tmp_path_factory: pytest.TempPathFactory, seed: int, pair_count: int, chunk: int, chunk_rows: int
) -> None:
    """Regression (memory): the alignment workers read their documents' rows from the saved index instead of
    mapping it (mapped, a batch made most of the index resident). The points are those of the index in memory,
    and every shingle two documents share, however the pairs fall into chunks (by count, or by their documents'
    rows)."""
    from reprints.align import chain

    rng = np.random.default_rng(seed)
    docs, doc_bits = 120, 8
    counts = rng.integers(0, 60, docs)
    counts[rng.integers(0, docs, 10)] = 0  # documents without shingles
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    hashes = rng.integers(0, 200, int(counts.sum()), dtype=np.uint64) << np.uint64(30)  # shared often
    order = np.concatenate([offsets[d] + np.argsort(hashes[offsets[d] : offsets[d + 1]]) for d in range(docs)])
    hashes = hashes[order.astype(np.int64)]
    positions = np.concatenate([rng.permutation(int(n)) for n in counts]).astype(np.int32)
    keys = MatchIndex.keys_for(hashes, counts, 0, doc_bits)
    doc_hashes = np.arange(docs, dtype=np.uint64)
    in_memory = MatchIndex(keys, positions, offsets, counts.astype(np.int64), doc_bits, doc_hashes)
    folder = tmp_path_factory.mktemp("index")
    for name in ("keys", "positions", "offsets", "token_counts", "doc_hashes"):
        np.save(folder / f"{name}.npy", getattr(in_memory, name))
    mapped = MatchIndex(
        *(np.load(folder / f"{n}.npy", mmap_mode="r") for n in ("keys", "positions", "offsets", "token_counts")),
        doc_bits,
        np.load(folder / "doc_hashes.npy", mmap_mode="r"),
    )
    a = rng.integers(0, docs, pair_count)
    b = rng.integers(0, docs, pair_count)
    a, b = np.minimum(a, b), np.maximum(a, b)

    def points(index: MatchIndex) -> list[tuple[int, int, int]]:
        return sorted(zip(*(part.tolist() for part in chain.match_points(index, a, b)), strict=True))

    defaults = chain.MATCH_CHUNK, chain.CHUNK_ROWS
    chain.MATCH_CHUNK, chain.CHUNK_ROWS = chunk, chunk_rows  # pairs split into chunks of every size
    try:
        found = points(mapped), points(in_memory)
    finally:
        chain.MATCH_CHUNK, chain.CHUNK_ROWS = defaults

    expected = sorted(
        (p, int(positions[i]), int(positions[j]))
        for p, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True))
        for i in range(offsets[x], offsets[x + 1])
        for j in range(offsets[y], offsets[y + 1])
        if hashes[i] == hashes[j]
    )
    assert found[0] == found[1] == expected
