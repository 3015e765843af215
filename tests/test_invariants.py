"""Rules, not examples: hypothesis builds corpora from real articles with every way copies differ, and each run
must obey conservation, crediting, span validity, ranking and cluster rules (see `rules.py`)."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import reprints
from conftest import DATA, requires_shared
from rules import check_all, rows, words

pytestmark = requires_shared

TRANSFORMS = (
    "copy",
    "retyped",
    "repeat",
    "repeated_paragraph",
    "teaser",
    "chain",
    "brief",
    "mass",
    "flood",
    "boilerplate_line",
    "page",
    "decomposed",
    "crlf",
    "cjk_quote",
    "template",
)
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def site_template(rng: random.Random) -> tuple[str, str]:
    """The head and foot of a generated site's whole-page dump: a menu, an archive list, a calendar, a comment
    form and share buttons (widget texts as vendors ship them)."""
    menu = "\n".join(rng.sample(["Home", "World", "Business", "Sport", "Culture", "Opinion", "Video", "Travel"], 6))
    archive = " ".join(f"{MONTHS[m % 12]} {2020 - m // 12}" for m in range(rng.randrange(12, 30)))
    calendar = "\n".join(" ".join(str(d) for d in range(w, min(w + 7, 32))) for w in range(1, 32, 7))
    form = (
        "Leave a Reply Cancel reply\nYour email address will not be published. Required fields are marked *\n"
        "Save my name, email, and website in this browser for the next time I comment.\n"
        "This site uses Akismet to reduce spam. Learn how your comment data is processed."
    )
    share = "Share this:\n" + "\n".join(
        f"Click to share on {name} (Opens in new window)" for name in ("Twitter", "Facebook", "LinkedIn", "Reddit")
    )
    return menu + "\n" + archive, "\n".join([share, form, calendar, menu])


class Articles(list[str]):
    """Real articles (a short repr, for hypothesis' reports)."""

    def __repr__(self) -> str:
        return f"<{len(self)} articles>"


@pytest.fixture(scope="module")
def articles() -> list[str]:
    texts = Articles()
    for name in ("bbc.jsonl.gz", "reuters21578.jsonl.gz"):
        with gzip.open(DATA / name, "rt", encoding="utf-8") as lines:
            for _, line in zip(range(400), lines, strict=False):
                text = json.loads(line)["text"]
                if len(text.split()) >= 150:
                    texts.append(text)
    return texts


def _edit(text: str, rng: random.Random, share: float) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * share))):
        words[rng.randrange(len(words))] = rng.choice(["indeed", "reportedly", "however", "meanwhile"])
    return " ".join(words)


CJK = "据新华社报道，今年以来全国经济运行总体平稳，主要指标保持在合理区间，就业形势基本稳定，居民收入继续增长。"


def build(articles: list[str], seed: int, plan: list[str]) -> list[tuple[str, str, dict[str, str]]]:
    """`(id, text, metadata)` rows: real articles, each transform adding the copies it describes."""
    rng = random.Random(seed)
    out: list[tuple[str, str, dict[str, str]]] = []

    def add(text: str, site: str = "") -> None:
        out.append((f"d{len(out)}", text, {"site": site} if site else {}))

    for step in plan:
        article = rng.choice(articles)
        paragraphs = [p for p in article.split("\n") if p.strip()]
        if step == "copy":
            add(article)
            add(article)
        elif step == "retyped":
            add(article)
            add(article.replace('"', "“").replace("'", "’").upper())
        elif step == "repeat":
            add(article)
            add(article + "\n\nPrint version\n\n" + article)
        elif step == "repeated_paragraph" and len(paragraphs) > 3:
            add("\n".join(paragraphs[:3] + paragraphs[2:]))
            add(article)
        elif step == "teaser" and len(paragraphs) > 3:  # the first half of the article, listed first
            cut = 1
            while len(" ".join(paragraphs[:cut]).split()) < len(article.split()) / 2:
                cut += 1
            if cut < len(paragraphs):
                add("\n".join(paragraphs[:cut]))
            add(article)
        elif step == "chain":
            text = article
            for _ in range(4):
                text = _edit(text, rng, 0.12)
                add(text)
        elif step == "brief":
            brief = " ".join(article.split()[:25])
            for number in range(rng.randrange(3, 12)):
                add(brief if number % 2 else _edit(brief, rng, 0.05))
        elif step == "mass":
            for _ in range(rng.randrange(6, 14)):
                add(_edit(article, rng, 0.02))
        elif step == "flood":
            for _ in range(rng.randrange(5, 25)):
                add(article)
        elif step == "boilerplate_line":
            for _ in range(9):
                add(rng.choice(articles) + "\nSubscribe to our daily newsletter", site="a.example")
            add("Subscribe to our daily newsletter\n" + article, site="b.example")
            add("Subscribe to our daily newsletter\n" + article, site="a.example")
        elif step == "page":  # an aggregator page: the article is under a third of it
            related = []
            while sum(len(text.split()) for text in related) < 2 * len(article.split()):
                related.append(rng.choice(articles))
            add(article)
            add("Home | World | Business\n" + article + "\nRelated Articles\n" + "\n".join(related))
        elif step == "decomposed":
            add(article)
            add(unicodedata.normalize("NFD", article.replace("e", "é")))
        elif step == "crlf":
            add(article)
            add(article.replace("\n", "\r\n"))
        elif step == "template":  # two unrelated articles in one site's page template, a third quoting the first
            head, foot = site_template(rng)
            other, third = rng.choice(articles), rng.choice(articles)
            quote = " ".join(article.split()[:60])
            add(f"{head}\n{article}\n{foot}")
            add(f"{head}\n{other}\n{foot}")
            add(f"{head}\n{third}\nAs was reported: {quote}\n{foot}")
        elif step == "cjk_quote":
            add(CJK * 2)
            add(article + "\n" + CJK * 2 + "\n" + rng.choice(articles))
        else:
            add(article)
    return out


def write(corpus: list[tuple[str, str, dict[str, str]]], folder: Path) -> Path:
    path = folder / "docs.jsonl"
    lines = [json.dumps({"id": doc_id, "text": text, **meta}, ensure_ascii=False) for doc_id, text, meta in corpus]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@given(
    seed=st.integers(0, 100_000),
    plan=st.lists(st.sampled_from(TRANSFORMS), min_size=1, max_size=8),
    cap=st.sampled_from([4, 50]),
)
@example(seed=484, plan=["boilerplate_line", "mass", "mass", "chain", "copy", "chain", "page"], cap=4)  # article twice
@example(seed=259, plan=["cjk_quote", "decomposed"], cap=4)
@example(seed=654, plan=["brief", "copy", "copy", "copy", "copy", "copy", "boilerplate_line", "teaser"], cap=4)
@example(
    seed=103, plan=["copy", "copy", "copy", "chain", "brief", "copy", "template"], cap=4
)  # a quoted table  # a word with combining marks is one word, not three
@settings(
    max_examples=int(os.environ.get("REPRINTS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_every_run_obeys_the_rules(
    articles: list[str], tmp_path_factory: pytest.TempPathFactory, seed: int, plan: list[str], cap: int
) -> None:
    folder = tmp_path_factory.mktemp("rules")
    corpus = build(articles, seed, plan)
    source = write(corpus, folder)
    reprints.dedup([source], folder / "out", site_field="site", anchor_df_cap=cap)
    texts = {doc_id: text for doc_id, text, _ in corpus}
    learned = reprints.boilerplate_lines([source], site_field="site")
    check_all(texts, folder / "out", boilerplate={tuple(words(line.text)) for line in learned})
    decisions = {row["id"]: row for row in rows(folder / "out" / "documents.jsonl")}
    ids = [doc_id for doc_id, _, _ in corpus]
    for kind, first, second in _steps(plan, articles, seed):
        if kind == "template":  # a page template shared links nothing; a quoted passage still does
            linked = {(row["a"], row["b"]) for row in rows(folder / "out" / "pairs.jsonl")}
            linked |= {(b, a) for a, b in linked}
            page, other, quoting = ids[first], ids[second], ids[second + 1]
            if texts[page].split("\n")[8:] != texts[other].split("\n")[8:]:  # not one article drawn twice
                assert (page, other) not in linked, (page, other)
            if _reads_as_prose(texts[quoting].split("As was reported: ")[1].split("\n")[0]):
                assert (page, quoting) in linked, (page, quoting)
            # A quoted table of figures reads as a list to the template rule and links nothing: the known cost
            # in README ("Site templates"; found here with seed=103, plan [copy x3, chain, brief, copy, template]).
            continue
        if kind in ("teaser", "page"):  # the fuller standalone copy never loses text to the other
            fuller = ids[second] if kind == "teaser" else ids[first]
            other = ids[first] if kind == "teaser" else ids[second]
            assert all(r[2] != other for r in decisions[fuller]["removed"]), (kind, decisions[fuller])


ENGLISH_FUNCTION_WORDS = set(
    (Path(reprints.__file__).parent / "normalize" / "data" / "function_words.txt")
    .read_text(encoding="utf-8")
    .splitlines()[1]
    .split()
)


def _reads_as_prose(quote: str) -> bool:
    """Whether every 15 words of a quote hold function words as running English text does (at least 15%, the
    template rule's bar for a list)."""
    found = [word.lower() in ENGLISH_FUNCTION_WORDS for word in re.findall(r"\w+", quote)]
    return all(sum(found[i : i + 15]) >= 0.15 * 15 for i in range(max(1, len(found) - 14)))


def _steps(plan: list[str], articles: list[str], seed: int) -> list[tuple[str, int, int]]:
    """Where each teaser, page and template step put its first two documents (rebuilt step by step)."""
    out = []
    for length in range(1, len(plan) + 1):
        before = len(build(articles, seed, plan[: length - 1]))
        after = len(build(articles, seed, plan[:length]))
        if plan[length - 1] in ("teaser", "page") and after - before == 2:
            out.append((plan[length - 1], before, before + 1))
        if plan[length - 1] == "template":
            out.append(("template", before, before + 1))
    return out
