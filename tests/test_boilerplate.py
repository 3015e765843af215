"""Boilerplate: learned from the corpus, kept out of matching, stripped on request, never article text."""

from __future__ import annotations

import collections
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import reprints
from conftest import DATA, SEEDS, WIRECOPY, run_cli
from reprints.fingerprint.corpus import tokenize_batch
from reprints.normalize.boilerplate import KnownPairs, learn, line_keys, site_of

ARTICLE_ROLES = ("main", "related", "quote")


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


@pytest.fixture(scope="module")
def stripped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stripped")
    run_cli("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", out, "--strip-boilerplate")
    return out


def masks(text: str, spans: list[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros(len(text), dtype=bool)
    for start, end in spans:
        mask[start:end] = True
    return mask


def test_wirecopy_boilerplate_precision_and_recall(stripped: Path) -> None:
    texts = {row["id"]: row["text"] for row in rows(WIRECOPY / "docs.jsonl")}
    truth = {row["id"]: row["segments"] for row in rows(WIRECOPY / "truth.jsonl")}
    holders = collections.Counter()
    for doc, segments in truth.items():
        holders.update({words(texts[doc][s["start"] : s["end"]]) for s in segments if s["role"] == "boilerplate"})
    found = true_positive = truth_chars = 0
    for row in rows(stripped / "documents.jsonl"):
        text = texts[row["id"]]
        visible = np.array([not ch.isspace() for ch in text], dtype=bool)
        system = masks(text, [(r[0], r[1]) for r in row["removed"] if r[2] == "boilerplate"]) & visible
        segments = [s for s in truth[row["id"]] if s["role"] == "boilerplate"]
        true = masks(text, [(s["start"], s["end"]) for s in segments]) & visible
        single = masks(
            text, [(s["start"], s["end"]) for s in segments if holders[words(text[s["start"] : s["end"]])] < 2]
        )
        in_scope = ~single
        found += int((system & in_scope).sum())
        true_positive += int((system & true & in_scope).sum())
        truth_chars += int((true & in_scope).sum())
    precision, recall = true_positive / found, true_positive / truth_chars
    assert precision >= 0.95, f"boilerplate precision {precision:.4f}"
    assert recall >= 0.90, f"boilerplate recall {recall:.4f}"


def test_stripping_never_removes_article_text(stripped: Path) -> None:
    truth = {row["id"]: row["segments"] for row in rows(WIRECOPY / "truth.jsonl")}
    for row in rows(stripped / "documents.jsonl"):
        article = [(s["start"], s["end"]) for s in truth[row["id"]] if s["role"] in ARTICLE_ROLES]
        for start, end, source, *_ in row["removed"]:
            if source == "boilerplate":
                assert not any(a < end and start < b for a, b in article), f"{row['id']} lost article text"


def test_stripping_the_seeds_keeps_the_article(tmp_path: Path) -> None:
    run_cli("dedup", "-q", SEEDS, "--out", tmp_path, "--strip-boilerplate")
    assert not any(r[2] == "boilerplate" for row in rows(tmp_path / "documents.jsonl") for r in row["removed"])


def test_stripped_lines_leave_the_deduplicated_text(stripped: Path) -> None:
    kept = {row["id"]: row["text"] for row in rows(stripped / "deduplicated.jsonl")}
    trimmed = [row for row in rows(stripped / "documents.jsonl") if row["reason"] == "boilerplate removed"]
    assert trimmed
    for row in trimmed[:50]:
        assert row["decision"] == "trim"
        assert "Share this article" not in kept[row["id"]]
        assert row["kept_chars"] == len(kept[row["id"]])


SITES = ["dailyledger.example", "morningpost.example", "cityherald.example", "wirenews.example", "valleytimes.example"]
SECTIONS = ["Home", "News", "World", "Business", "Sport", "Culture", "Science", "Opinion", "Video", "Travel"]


def cookie_notice(site: str) -> str:
    return (
        f"We use cookies and similar technologies on {site} to keep the site reliable and secure, to personalise "
        "content and advertising, to provide social media features and to analyse how our websites are used. "
        "By clicking accept you agree to our use of cookies; you can change your choices at any time by visiting "
        "the privacy settings page linked in the footer of every page."
    )


def site_page(site: int, article: str) -> str:
    name = SITES[site]
    navigation = " | ".join(SECTIONS[site:] + SECTIONS[:site])
    footer = f"© 2025 {name.split('.')[0].title()}. All rights reserved. Privacy Policy | Terms of Use | Contact Us"
    return f"{navigation}\n{cookie_notice(name)}\n\n{article}\n\n{footer}"


@pytest.fixture(scope="module")
def five_sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """500 pages from 5 sites: unrelated real articles, each in its site's cookie notice, navigation, footer."""
    folder = tmp_path_factory.mktemp("sites")
    seen: set[str] = set()
    articles = []
    with gzip.open(DATA / "bbc.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            text = json.loads(line)["text"]
            if text not in seen:
                seen.add(text)
                articles.append(text)
    bare = folder / "bare.jsonl"
    bare.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(articles[:580])))
    run_cli("dedup", "-q", bare, "--out", folder / "bare")
    related = {int(p[k]) for p in rows(folder / "bare" / "pairs.jsonl") for k in ("a", "b")}
    unrelated = [t for i, t in enumerate(articles[:580]) if i not in related][:500]
    assert len(unrelated) == 500
    pages = [
        {"id": f"p{n:03d}", "url": f"https://{SITES[n % 5]}/story/{n}", "text": site_page(n % 5, text)}
        for n, text in enumerate(unrelated)
    ]
    path = folder / "pages.jsonl"
    path.write_text("".join(json.dumps(page) + "\n" for page in pages), encoding="utf-8")
    return path


def test_site_templates_make_no_pairs(five_sites: Path, tmp_path: Path) -> None:
    run_cli("dedup", "-q", five_sites, "--out", tmp_path / "on", "--anchor-df-cap", "1000")
    assert (tmp_path / "on" / "pairs.jsonl").read_text(encoding="utf-8") == ""
    run_cli("dedup", "-q", five_sites, "--out", tmp_path / "default")
    assert (tmp_path / "default" / "pairs.jsonl").read_text(encoding="utf-8") == ""


def test_without_the_boilerplate_stage_templates_link_unrelated_pages(five_sites: Path, tmp_path: Path) -> None:
    run_cli("dedup", "-q", five_sites, "--out", tmp_path, "--no-boilerplate", "--anchor-df-cap", "1000")
    pairs = rows(tmp_path / "pairs.jsonl")
    assert len(pairs) >= 5 * 99 * 100 // 2 * 0.9, len(pairs)
    assert {p["relation"] for p in pairs} == {"partial"}


def test_boilerplate_command_lists_site_lines(five_sites: Path) -> None:
    out = run_cli("boilerplate", "--json", five_sites).stdout
    learned = [json.loads(line) for line in out.splitlines()]
    assert {line["site"] for line in learned} == set(SITES)
    assert all(line["documents"] == 100 for line in learned)
    assert {"cookie", "navigation", "footer"} <= {
        "cookie"
        if "cookies" in line["text"]
        else "navigation"
        if " | " in line["text"] and "©" not in line["text"]
        else "footer"
        for line in learned
    }
    table = run_cli("boilerplate", five_sites).stdout.splitlines()
    assert len(table) == len(learned)
    assert table[0].split()[0] == "100"


def test_learn_separates_templates_from_syndicated_paragraphs() -> None:
    template = [11, 12]  # two template lines, the same on every page
    docs, keys, counts = [], [], []
    for doc in range(10):
        story = [1000 + doc, 2000 + doc]  # each page's own article
        syndicated = [500, 501, 502] if doc < 9 else []  # one article republished on 9 pages, same neighbours
        for key in [*template, *story, *syndicated]:
            docs.append(doc)
            keys.append(key)
            counts.append(3 if key in template else 40)
    learned = learn(np.array(keys, dtype=np.uint64), np.array(docs), np.array(counts), min_docs=8, max_context=20)
    assert learned.tolist() == [11, 12]


@pytest.fixture(scope="module")
def wirecopy_lines() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keys, documents and tokens of the lines of wirecopy-dev's documents (one site), and their sketches."""
    texts = [str(row["text"]) for row in rows(WIRECOPY / "docs.jsonl")]
    batch = tokenize_batch(texts, 0)
    keys = line_keys(batch.line_hashes, np.zeros(len(batch.line_docs), dtype=np.int64))
    return keys, batch.line_docs, batch.line_token_end - batch.line_token_start, batch.doc_sketches


@settings(max_examples=12, deadline=None)
@given(partition_rows=st.integers(1, 20_000), min_docs=st.sampled_from([3, 5, 8]))
def test_learning_in_partitions_learns_what_one_partition_learns(
    wirecopy_lines: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], partition_rows: int, min_docs: int
) -> None:
    """Boilerplate lines are grouped by key in partitions of bounded size (memory bounded by the partition, not
    the corpus); the lines learned are the same whatever the partitioning (wirecopy-dev: 15k lines)."""
    keys, docs, tokens, sketches = wirecopy_lines
    options = {"min_docs": min_docs, "max_context": 20, "sketches": sketches}
    whole = learn(keys, docs, tokens, partition_rows=len(keys), **options)
    assert len(whole) > 0
    assert learn(keys, docs, tokens, partition_rows=partition_rows, **options).tolist() == whole.tolist()


def test_regression_learning_with_holders_survives_empty_partitions() -> None:
    """Found in review: with `holders` (the index's relearning), a hash partition that got no lines produced one
    empty group and `learn` raised IndexError. The lines of the template test above, partitions of one line."""
    template = [11, 12]
    docs, keys, counts = [], [], []
    for doc in range(10):
        for key in [*template, 1000 + doc, 2000 + doc]:
            docs.append(doc)
            keys.append(key)
            counts.append(3 if key in template else 40)
    arrays = np.array(keys, dtype=np.uint64), np.array(docs), np.array(counts)
    holders = {11: 12, 12: 12}
    whole = learn(*arrays, min_docs=8, max_context=20, holders=holders, partition_rows=len(keys))
    assert whole.tolist() == [11, 12]
    assert learn(*arrays, min_docs=8, max_context=20, holders=holders, partition_rows=1).tolist() == [11, 12]


def test_site_of_uses_field_then_url_host() -> None:
    assert site_of({"site": "a.example", "url": "https://b.example/x"}, "site") == "a.example"
    assert site_of({"url": "https://b.example/x"}, None) == "b.example"
    assert site_of({}, None) == ""


def test_boilerplate_lines_api() -> None:
    learned = reprints.boilerplate_lines([WIRECOPY / "docs.jsonl"])
    assert learned[0].documents >= learned[-1].documents
    assert any(line.text == "Share this article" for line in learned)


@settings(max_examples=6, deadline=None)
@given(
    starts=st.lists(st.integers(0, 300), min_size=2, max_size=4),
    size=st.integers(80, 400),
    limit=st.sampled_from([50, 1_000_000]),
)
@example(starts=[0, 1, 2, 3], size=200, limit=1_000_000)  # verdicts taken by local numbers learn otherwise here
@example(starts=[300, 0, 200], size=400, limit=1_000_000)
def test_remembered_pair_verdicts_learn_what_fresh_verdicts_learn(
    wirecopy_lines: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], starts: list[int], size: int, limit: int
) -> None:
    """The index learns again after every transaction, over the first holders of the lines it touched (numbered
    afresh each time), and remembers its verdicts on pairs of documents (near-copies or not) by the documents'
    names: learning over overlapping windows of documents with the verdicts remembered (and forgotten when
    there are more than `limit`) learns what learning afresh learns each time."""
    from reprints.normalize import boilerplate

    keys, docs, tokens, sketches = wirecopy_lines
    known = KnownPairs(limit)
    default = boilerplate.COMPILED_FROM
    boilerplate.COMPILED_FROM = 10**12  # the Python rounds remember verdicts (the compiled ones need not)
    try:
        _learn_in_windows(keys, docs, tokens, sketches, starts, size, known)
    finally:
        boilerplate.COMPILED_FROM = default
    assert known.verdicts


def _learn_in_windows(
    keys: np.ndarray,
    docs: np.ndarray,
    tokens: np.ndarray,
    sketches: np.ndarray,
    starts: list[int],
    size: int,
    known: KnownPairs,
) -> None:
    for start in starts:
        rows = (docs >= start) & (docs < start + size)
        local = docs[rows] - start
        options = {"min_docs": 3, "max_context": 20, "sketches": sketches[start : start + size]}
        fresh = learn(keys[rows], local, tokens[rows], **options)
        names = [f"document {start + doc}" for doc in range(int(local[-1]) + 1)]
        remembered = learn(keys[rows], local, tokens[rows], known=known, names=names, **options)
        assert remembered.tolist() == fresh.tolist()


NEWS = Path(__file__).resolve().parents[1] / "examples" / "news" / "docs.jsonl"
NEWS_LINES = [
    line.strip()
    for row in rows(NEWS)
    for line in str(row["text"]).split("\n")
    if line.strip() and len(line.split()) > 6
][:1500]
SHORT_LINES = sorted(
    {line.strip() for row in rows(NEWS) for line in str(row["text"]).split("\n") if 0 < len(line.split()) <= 6}
)[:60]


@st.composite
def site_corpora(draw: st.DrawFn) -> list[tuple[str, int]]:
    """Pages of real news lines on one or two sites: each page some template lines (short real lines, above and
    below its text, a few sites share), a run of its own lines, sometimes a run of syndicated lines that several
    pages carry with the same neighbours, and sometimes a near-copy of an earlier page with one line changed."""
    count = draw(st.integers(6, 40))
    templates = draw(st.lists(st.integers(0, len(SHORT_LINES) - 1), min_size=1, max_size=6, unique=True))
    syndicated = draw(st.integers(0, len(NEWS_LINES) - 8))
    pages: list[tuple[str, int]] = []
    for page in range(count):
        site = draw(st.integers(0, 1))
        if pages and draw(st.integers(0, 5)) == 0:  # a near-copy of an earlier page, one line changed
            text, site = pages[draw(st.integers(0, len(pages) - 1))]
            lines = text.split("\n")
            lines[draw(st.integers(0, len(lines) - 1))] = NEWS_LINES[draw(st.integers(0, len(NEWS_LINES) - 1))]
            pages.append(("\n".join(lines), site))
            continue
        top = [SHORT_LINES[k] for k in templates if draw(st.booleans())]
        bottom = [SHORT_LINES[k] for k in templates if draw(st.integers(0, 3)) == 0]
        own_start = draw(st.integers(0, len(NEWS_LINES) - 12))
        own = NEWS_LINES[own_start : own_start + draw(st.integers(1, 10))]
        carried = NEWS_LINES[syndicated : syndicated + draw(st.integers(1, 6))] if draw(st.booleans()) else []
        middle = [*own, *carried] if draw(st.booleans()) else [*carried, *own]
        pages.append(("\n".join([*top, *middle, *bottom]), page % 2 if site else 0))
    return pages


@settings(max_examples=60, deadline=None)
@given(
    pages=site_corpora(),
    min_docs=st.sampled_from([2, 3, 5]),
    max_context=st.sampled_from([2, 3, 4, 5, 6, 20]),
    use_sketches=st.booleans(),
    extra_holders=st.one_of(st.none(), st.integers(0, 80)),
)
def test_compiled_learning_learns_what_python_learning_learns(
    pages: list[tuple[str, int]],
    min_docs: int,
    max_context: int,
    use_sketches: bool,
    extra_holders: int | None,
) -> None:
    """The compiled rounds (many recurring lines) flag the keys the Python rounds flag: pages of real news lines
    with site templates, syndicated runs and near-copies, with and without sketches, with `holders` (the index's
    counts of the whole corpus) larger than the lines given."""
    from reprints.normalize import boilerplate

    batch = tokenize_batch([text for text, _ in pages], 0)
    sites = np.array([site for _, site in pages], dtype=np.int64)
    keys = line_keys(batch.line_hashes, sites[batch.line_docs])
    tokens = batch.line_token_end - batch.line_token_start
    options: dict[str, object] = {"min_docs": min_docs, "max_context": max_context, "min_own": 30}
    if use_sketches:
        options["sketches"] = batch.doc_sketches
    if extra_holders is not None:
        held = collections.Counter(zip(keys.tolist(), batch.line_docs.tolist(), strict=True))
        per_key = collections.Counter(key for key, _ in held)
        options["holders"] = {key: count + extra_holders for key, count in per_key.items()}
    found = []
    default = boilerplate.COMPILED_FROM
    try:
        for threshold in (0, 10**12):
            boilerplate.COMPILED_FROM = threshold
            found.append(learn(keys, batch.line_docs, tokens, **options))  # type: ignore[arg-type]
    finally:
        boilerplate.COMPILED_FROM = default
    assert found[0].dtype == found[1].dtype == np.uint64
    assert found[0].tolist() == found[1].tolist()


def test_compiled_learning_on_wirecopy(
    monkeypatch: pytest.MonkeyPatch, wirecopy_lines: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
) -> None:
    """wirecopy-dev's lines (its template lines, syndicated articles and near-copies) learn the same keys through
    the compiled rounds as through the Python rounds, with and without sketches, and some are learned."""
    from reprints.normalize import boilerplate

    keys, docs, tokens, sketches = wirecopy_lines
    for chosen in (sketches, None):
        found = []
        for threshold in (0, 10**12):
            monkeypatch.setattr(boilerplate, "COMPILED_FROM", threshold)
            found.append(learn(keys, docs, tokens, min_docs=8, max_context=20, sketches=chosen).tolist())
        assert found[0] == found[1]
        assert len(found[0]) > 10


@given(
    hashes=st.lists(st.integers(0, 2**64 - 1), max_size=30),
    site=st.integers(0, 2**40),
)
def test_line_keys_of_one_site_equal_line_keys(hashes: list[int], site: int) -> None:
    """The index computes a document's line keys with its site's mask once (`site_line_keys`): the keys `dedup`
    computes line by line (`line_keys`), bit for bit."""
    from reprints.normalize.boilerplate import site_line_keys

    values = np.array(hashes, dtype=np.uint64)
    expected = line_keys(values, np.full(len(values), site, dtype=np.int64))
    got = site_line_keys(values, site)
    assert got.dtype == np.uint64 and got.tolist() == expected.tolist()
