"""The index query's sieve (`reprints.index.sieve`): it leaves out only candidates that align no passage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLE_NEWS, news_texts
from reprints.config import Config
from reprints.fingerprint.corpus import tokenize_batch
from reprints.fingerprint.hashing import POLY_BASE, powers
from reprints.fingerprint.kernels import compiled_sieve
from reprints.index import query as query_module
from reprints.index import sieve
from reprints.index.api import open_index
from reprints.index.build import add_documents
from reprints.index.query import query
from reprints.io import iter_documents
from reprints.normalize.tokens import tokenize
from reprints.types import Document

NEWS_TEXTS = news_texts()[:60]
# A copy's pick for `_sparse_copy`: start word, length in words, words kept in a block, words replaced after it,
# where in the other article it is set.
PICK = st.tuples(st.integers(0, 300), st.integers(4, 80), st.integers(1, 12), st.integers(0, 16), st.integers(0, 200))
SITE_LINE = "Sign up for our newsletter and follow us for the latest headlines every morning"


def _answers(store: Any, texts: list[str], *, sieved: bool) -> list[list[dict[str, Any]]]:
    """Each text's query answer, with the sieve or with every candidate kept."""
    if sieved:
        return [[match.to_dict() for match in query(store, text)] for text in texts]
    keep_all = mock.patch.object(query_module, "alignable", lambda *args: np.ones(len(args[2]), dtype=np.bool_))
    with keep_all:
        return [[match.to_dict() for match in query(store, text)] for text in texts]


def _sparse_copy(words: list[str], other: list[str], pick: tuple[int, int, int, int, int], site_line: bool) -> str:
    """`length` words of `words` from `start`, in blocks of `kept` words each followed by `replaced` words of
    `other` (so that the copy's shared shingles come that far apart), set inside `other`'s text at word `at`,
    with the site's line (`SITE_LINE`, its own line) in the middle of the copied words when `site_line`."""
    start, length, kept, replaced, at = pick
    part = words[start % max(1, len(words) - 4) :][:length]
    if replaced:
        part = [other[(i * 7) % len(other)] if i % (kept + replaced) >= kept else word for i, word in enumerate(part)]
    middle = len(part) // 2
    copied = [" ".join(part[:middle]), SITE_LINE, " ".join(part[middle:])] if site_line else [" ".join(part)]
    cut = at % (len(other) + 1)
    return "\n".join([" ".join(other[:cut]), *copied, " ".join(other[cut:])])


@given(
    st.integers(0, len(NEWS_TEXTS) - 1),
    st.lists(PICK, min_size=1, max_size=8),
    st.booleans(),
)
@example(0, [(0, 40, 40, 0, 0), (10, 60, 5, 12, 5), (50, 60, 5, 13, 90), (0, 12, 12, 0, 0)], True)
@example(3, [(20, 80, 6, 12, 30), (20, 80, 5, 12, 30), (20, 40, 40, 0, 30)], True)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_sieve_never_changes_a_query_answer(tmp_path: Path, source: int, picks: Any, site_lines: bool) -> None:
    """Property: an index query answers the same with the sieve as with every candidate aligned, over copies of
    real text cut to every length around the shortest passage, their shared words in blocks broken by other
    words (so that their shared shingles come as far apart as alignment bridges, and just farther), set inside
    other articles, with or without a boilerplate line of their site in the middle of the copy (the sieve must
    leave out the tokens `fingerprint_tokens` leaves out, or the copy's chain breaks where alignment's does not)."""
    words = NEWS_TEXTS[source].split()
    docs = []
    for number, pick in enumerate(picks):
        other = NEWS_TEXTS[(source + 1 + number) % len(NEWS_TEXTS)].split()
        text = _sparse_copy(words, other, pick, site_lines)
        docs.append(Document(f"c{number}", text, number, {"site": "example.org"}))
    for number in range(8 if site_lines else 0):  # the site's line recurs in enough documents to be learned
        filler = NEWS_TEXTS[(source + 20 + number) % len(NEWS_TEXTS)]
        docs.append(Document(f"f{number}", f"{SITE_LINE}\n{filler}", len(docs), {"site": "example.org"}))
    queries = [NEWS_TEXTS[source], " ".join(words[:60])]
    folder = tmp_path / f"index{time.monotonic_ns()}"
    with open_index(folder, create=True, site_field="site", boilerplate_min_docs=8) as store:
        add_documents(store, docs)
        assert _answers(store, queries, sieved=True) == _answers(store, queries, sieved=False)


def test_the_sieve_leaves_out_candidates_of_news_queries_and_changes_no_answer(tmp_path: Path) -> None:
    """On the shipped news examples (real articles and their copies) queried against themselves, the sieve
    leaves candidates out (the test is not vacuous) and every answer is the one without it."""
    docs = list(iter_documents([EXAMPLE_NEWS], Config().read))
    counted = {"candidates": 0, "kept": 0}
    alignable = sieve.alignable

    def counting(*args: Any) -> Any:
        kept = alignable(*args)
        counted["candidates"] += len(kept)
        counted["kept"] += int(kept.sum())
        return kept

    with open_index(tmp_path / "index", create=True) as store:
        add_documents(store, docs)
        texts = [doc.text for doc in docs[::3]]
        with mock.patch.object(query_module, "alignable", counting):
            answers = _answers(store, texts, sieved=True)
        assert answers == _answers(store, texts, sieved=False)
    assert sum(map(len, answers)) > 0
    assert counted["kept"] < counted["candidates"], counted


def test_a_copy_as_long_as_the_shortest_passage_is_kept_and_one_token_shorter_is_left_out(tmp_path: Path) -> None:
    """The sieve's bound is tight: a copy of exactly `min_passage` tokens of a real article aligns and is kept; a
    copy of one token fewer aligns nothing and is left out (each set, on its own line, inside another article)."""
    article, other = NEWS_TEXTS[0], NEWS_TEXTS[5]
    tokens = tokenize([article], Config().fingerprint.seed)
    shortest = Config().align.min_passage
    docs = []
    for number, size in enumerate((shortest, shortest - 1)):
        copied = article[int(tokens.starts[40]) : int(tokens.ends[40 + size - 1])]
        docs.append(Document(f"copy{size}", f"{other[:300]}\n{copied}\n{other[300:]}", number))
    decided: list[list[bool]] = []
    alignable = sieve.alignable

    def recording(*args: Any) -> Any:
        kept = alignable(*args)
        decided.append(kept.tolist())
        return kept

    with open_index(tmp_path / "index", create=True) as store:
        add_documents(store, docs)
        with mock.patch.object(query_module, "alignable", recording):
            found = [match.id for match in query(store, article)]
        unsieved = _answers(store, [article], sieved=False)[0]
    assert found == [match["id"] for match in unsieved] == [f"copy{shortest}"]
    assert decided == [[True, False]]


@given(
    st.integers(0, len(NEWS_TEXTS) - 1),
    st.lists(PICK, min_size=1, max_size=6),
    st.lists(st.integers(-1, 1), min_size=1, max_size=6),
    st.integers(8, 20),
)
@settings(max_examples=40, deadline=None)
def test_the_compiled_sieve_decides_as_the_numpy_one(source: int, picks: Any, deltas: list[int], reach: int) -> None:
    """Property: the kernel keeps exactly the documents whose longest chain (found with NumPy) spans their need,
    for needs at, just under and just over that span, over copies whose shared shingles come in runs as far
    apart as the reach and just farther."""
    config = Config()
    k, seed = config.fingerprint.shingle_size, config.fingerprint.seed
    words = NEWS_TEXTS[source].split()
    texts = [
        _sparse_copy(words, NEWS_TEXTS[(source + 1 + number) % len(NEWS_TEXTS)].split(), pick, False)
        for number, pick in enumerate(picks)
    ]
    query_batch, batch = tokenize_batch([NEWS_TEXTS[source]], seed), tokenize_batch(texts, seed)
    offsets = np.concatenate([[0], np.cumsum(batch.token_counts)]).astype(np.int64)
    longest = sieve._chained(query_batch.hashes, batch.hashes, offsets, k, reach - k, seed)
    need = np.maximum(longest + np.array([deltas[i % len(deltas)] for i in range(len(longest))]), 1)
    kept = compiled_sieve(query_batch.hashes, batch.hashes, offsets, powers(POLY_BASE, k), seed, 32, reach, need)
    assert kept.tolist() == (longest >= need).tolist()
