"""Generate a scale corpus: the real BBC and Reuters articles republished across 40 sites, with known truth.

    python benchmarks/generate.py --documents 160000 --out DIR [--seed 7] [--shared ../shared]

Writes DIR/docs.jsonl (`{"id", "text"}`) and DIR/truth.jsonl in the wirecopy format that
`../shared/tools/score_wirecopy.py` scores: one row per document, `{"id", "segments": [{"article", "start", "end",
"role", "coverage"}]}`, role `main`, `related`, `quote`, `title` or `boilerplate` (article null).

How a corpus is made (everything drawn from one seeded `random.Random`, so the same arguments give the same bytes):

- Each source article (the BBC and Reuters articles of at least 120 words, as in wirecopy-dev, less those
  sharing text with an earlier one: templated reports and re-sent wires, see `distinct_sources`; 7,530 remain)
  is republished k times, k drawn from the distribution wirecopy-dev shows (59% once, 18% twice, ... up to 10
  times): about 2 documents per article, 16k documents per pass.
- Each copy goes to one of 40 sites: the site's own header and footer lines (navigation, share buttons, newsletter,
  copyright: shared by every page of that site, so they are the corpus' most frequent passages; footers are at most
  23 words, the longest wirecopy-dev has), its typography (straight or curly quotes, dashes, paragraph breaks) and
  title case.
- A copy may be edited (typos, word substitutions, a dropped sentence: 20%), truncated (15%), be an aggregator
  page holding 1-3 other articles under "Related Articles" (8%), or quote a paragraph of another article (3%).
- Corpora larger than one pass (16k documents) add passes in which every article-derived letter goes through a
  seeded letter permutation (boilerplate does not): the same duplicate structure and token statistics, no shingle
  shared with another pass. Their article ids are `ID~pN`; `score.py` scores them with the original article's
  length. Documents of a pass are shuffled; a corpus of N documents is the first N of the sequence of passes, so
  duplicate density is the same at every size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COPIES = {1: 366, 2: 112, 3: 53, 4: 41, 5: 18, 6: 7, 7: 10, 8: 10, 9: 5, 10: 1}
SECTIONS = [
    "News",
    "Politics",
    "Business",
    "Markets",
    "Tech",
    "Science",
    "Health",
    "Sport",
    "Culture",
    "Travel",
    "Weather",
    "Opinion",
    "Video",
    "Home",
]
NAME_PARTS = [
    "Daily",
    "Morning",
    "Global",
    "Wire",
    "Star",
    "Journal",
    "Times",
    "Capital",
    "Free",
    "Online",
    "Herald",
    "Post",
    "Gazette",
    "Courier",
]
FOOTER_LINES = [
    "Share this article",
    "Facebook",
    "Twitter",
    "Email",
    "Comments",
    "Post a Comment",
    "No comments yet...",
    "Sign up for our newsletter to get the latest headlines every morning.",
    "Try Our AI Features",
    "Privacy Policy | Terms of Use | Contact",
]
SUBSTITUTES = {"said": "stated", "new": "fresh", "big": "large", "rise": "increase", "told": "informed", "also": "too"}
WORD = re.compile(r"\w+")
MAX_FOOTER_WORDS = 23  # the longest footer in wirecopy-dev: a site's footer alone is never a shared passage
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Article:
    """One source article: its id, title, body paragraphs and word count as the scorer counts it."""

    id: str
    title: str
    paragraphs: list[str]
    words: int


@dataclass(frozen=True)
class Site:
    """A publisher: its boilerplate and typography."""

    name: str
    header: list[str]
    footer: list[str]
    curly_quotes: bool
    single_quotes: bool
    paragraph_break: str
    upper_titles: bool


@dataclass
class Page:
    """A document being assembled, with the truth segments of what went in."""

    text: str = ""
    segments: list[dict[str, Any]] = field(default_factory=list)

    def add(self, piece: str, article: str | None, role: str, coverage: float | None = None, gap: str = "\n\n") -> None:
        """Append a piece, separated from the previous one by `gap`, and record its segment."""
        if self.text:
            self.text += gap
        segment: dict[str, Any] = {"article": article, "start": len(self.text), "end": len(self.text) + len(piece)}
        segment["role"] = role
        if coverage is not None:
            segment["coverage"] = round(min(coverage, 1.0), 3)
        self.text += piece
        self.segments.append(segment)


def load_articles(data: Path) -> list[Article]:
    """BBC and Reuters articles, paragraphs reflowed (Reuters wraps lines and indents paragraphs)."""
    articles = []
    for name in ("bbc.jsonl.gz", "reuters21578.jsonl.gz"):
        with gzip.open(data / name, "rt", encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                title, _, body = row["text"].strip().partition("\n")
                paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n|\n {2,}", body) if p.strip()]
                if paragraphs:
                    articles.append(Article(row["id"], title.strip(), paragraphs, len(WORD.findall(row["text"]))))
    return articles


def make_sites(rng: random.Random, count: int = 40) -> list[Site]:
    """Publishers with their own header, footer and typography."""
    sites = []
    for index in range(count):
        name = f"{rng.choice(NAME_PARTS)}{rng.choice(NAME_PARTS)}{index}"
        header = [" | ".join(rng.sample(SECTIONS, rng.randint(2, 7)))] if rng.random() < 0.7 else []
        footer = [f"Explore what {name} AI can do for you:"] if rng.random() < 0.3 else []
        footer += rng.sample(FOOTER_LINES, rng.randint(1, 3))
        if rng.random() < 0.5:
            footer.append(f"© {rng.choice((2024, 2025))} {name}. All rights reserved.")
        while len(WORD.findall(" ".join(footer))) > MAX_FOOTER_WORDS:
            footer.pop(0)
        sites.append(
            Site(
                name,
                header,
                footer,
                curly_quotes=rng.random() < 0.4,
                single_quotes=rng.random() < 0.3,
                paragraph_break=rng.choice(("\n\n", "\n")),
                upper_titles=rng.random() < 0.2,
            )
        )
    return sites


def typeset(text: str, site: Site) -> str:
    """The site's typography: quote style and dashes (one character for one, so coverage is unchanged)."""
    text = text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    if site.single_quotes:
        text = text.replace('"', "'")
    if site.curly_quotes:
        text = re.sub(r"(^|[\s(])\"", r"\1“", text).replace('"', "”")
        text = re.sub(r"(^|[\s(])'", r"\1‘", text).replace("'", "’")
    return text.replace(" - ", " – ")


def edit(paragraphs: list[str], rng: random.Random) -> list[str]:
    """Typos, word substitutions and one dropped sentence, as copy editors and OCR leave them."""
    edited = list(paragraphs)
    for _ in range(rng.randint(1, 4)):
        index = rng.randrange(len(edited))
        words = edited[index].split(" ")
        position = rng.randrange(len(words))
        word = words[position]
        if len(word) > 4:
            cut = rng.randrange(1, len(word) - 2)
            words[position] = word[:cut] + word[cut + 1] + word[cut] + word[cut + 2 :]
        elif word in SUBSTITUTES:
            words[position] = SUBSTITUTES[word]
        edited[index] = " ".join(words)
    longest = max(range(len(edited)), key=lambda i: len(edited[i]))
    sentences = SENTENCE_END.split(edited[longest])
    if len(sentences) > 2:
        del sentences[rng.randrange(1, len(sentences))]
        edited[longest] = " ".join(sentences)
    return edited


def truncate(paragraphs: list[str], rng: random.Random) -> list[str]:
    """The first 20-90% of the words, cut at a sentence end."""
    words = sum(len(p.split()) for p in paragraphs)
    budget = int(words * rng.uniform(0.2, 0.9))
    kept: list[str] = []
    for paragraph in paragraphs:
        if budget <= 0:
            break
        size = len(paragraph.split())
        if size > budget:
            sentences = SENTENCE_END.split(paragraph)
            paragraph = " ".join(sentences[: max(1, len(sentences) * budget // size)])
        kept.append(paragraph)
        budget -= size
    return kept


class Generator:
    """Seeded republication of the articles; `pages(pass_number)` yields one pass of (text, segments)."""

    def __init__(self, articles: list[Article], seed: int) -> None:
        self.articles = articles
        self.seed = seed
        self.sites = make_sites(random.Random(seed))

    def pages(self, pass_number: int) -> list[Page]:
        """Every republished copy of every article, shuffled, for one pass."""
        rng = random.Random(self.seed * 1_000_003 + pass_number)
        letters = list(string.ascii_lowercase)
        rng.shuffle(letters)
        cipher = str.maketrans(
            string.ascii_lowercase + string.ascii_uppercase, "".join(letters) + "".join(letters).upper()
        )
        translate = (lambda text: text) if pass_number == 0 else (lambda text: text.translate(cipher))
        suffix = "" if pass_number == 0 else f"~p{pass_number}"
        counts, weights = list(COPIES), list(COPIES.values())
        pages = []
        for article in self.articles:
            for _ in range(rng.choices(counts, weights)[0]):
                pages.append(self.page(article, rng, translate, suffix))
        rng.shuffle(pages)
        return pages

    def page(self, article: Article, rng: random.Random, translate: Any, suffix: str) -> Page:
        """One copy of an article on a random site."""
        site = rng.choice(self.sites)
        page = Page()
        for line in site.header:
            page.add(line, None, "boilerplate")
        body = article.paragraphs
        if rng.random() < 0.2:
            body = edit(body, rng)
        if rng.random() < 0.15:
            body = truncate(body, rng)
        title = article.title.upper() if site.upper_titles else article.title
        page.add(typeset(translate(title), site), article.id + suffix, "title", 0.0)
        self.add_body(page, article, body, site, rng, translate, suffix)
        if rng.random() < 0.08:
            page.add("Related Articles", None, "boilerplate")
            for other in rng.sample(self.articles, rng.randint(1, 3)):
                related = other.paragraphs if rng.random() < 0.6 else other.paragraphs[:2]
                page.add(typeset(translate(other.title), site), other.id + suffix, "title", 0.0)
                text = site.paragraph_break.join(typeset(translate(p), site) for p in related)
                page.add(text, other.id + suffix, "related", self.coverage(other, related))
        for line in site.footer:
            page.add(line, None, "boilerplate")
        return page

    def add_body(
        self, page: Page, article: Article, body: list[str], site: Site, rng: random.Random, translate: Any, suffix: str
    ) -> None:
        """The main story, with (3% of the time) a quoted paragraph of another article in its middle."""
        source = rng.choice(self.articles)
        quote = max(source.paragraphs, key=len)
        quoting = rng.random() < 0.03 and len(body) > 1 and len(quote.split()) >= 45 and source.id != article.id
        parts = [body[: len(body) // 2], body[len(body) // 2 :]] if quoting else [body]
        for number, part in enumerate(parts):
            text = site.paragraph_break.join(typeset(translate(p), site) for p in part)
            page.add(text, article.id + suffix, "main", self.coverage(article, part))
            if quoting and number == 0:
                lead = "As reported elsewhere: "
                page.add(lead + typeset(translate(quote), site), source.id + suffix, "quote", 0.0)
                segment = page.segments[-1]
                segment["start"] += len(lead)
                segment["coverage"] = round(self.coverage(source, [quote]), 3)

    @staticmethod
    def coverage(article: Article, paragraphs: list[str]) -> float:
        """Fraction of the article's words these paragraphs hold."""
        return min(1.0, sum(len(WORD.findall(p)) for p in paragraphs) / max(1, article.words))


SHARED_NGRAM = 8
SHARED_LIMIT = 3
MIN_WORDS = 120  # as in wirecopy-dev: shorter articles cannot reach the scorer's 40 shared words when cut


def distinct_sources(articles: list[Article]) -> list[Article]:
    """The articles of at least MIN_WORDS words whose text is their own: an article sharing SHARED_LIMIT or more
    word 8-grams with an article kept before it is left out.

    Reuters-21578 holds templated reports ("U.K. MONEY MARKET GIVEN FURTHER 168 MLN STG HELP ...") and re-sent
    wires under different ids; copies of two such articles share text the truth would not know about. This plain
    set check, independent of reprints, keeps the truth honest: sources share no passage.
    """
    seen: set[tuple[str, ...]] = set()
    kept = []
    for article in articles:
        if article.words < MIN_WORDS:
            continue
        words = WORD.findall(" ".join([article.title, *article.paragraphs]).lower())
        grams = {tuple(words[i : i + SHARED_NGRAM]) for i in range(len(words) - SHARED_NGRAM + 1)}
        if len(grams & seen) < SHARED_LIMIT:
            kept.append(article)
            seen |= grams
    return kept


def generate(data: Path, documents: int, seed: int) -> Iterator[tuple[str, Page]]:
    """(id, page) for the first `documents` documents of the seeded sequence of passes."""
    generator = Generator(distinct_sources(load_articles(data)), seed)
    produced, pass_number = 0, 0
    while produced < documents:
        for page in generator.pages(pass_number)[: documents - produced]:
            yield f"g{produced:07d}", page
            produced += 1
        pass_number += 1


def write_corpus(data: Path, documents: int, seed: int, out: Path) -> None:
    """Write out/docs.jsonl and out/truth.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "docs.jsonl", "w", encoding="utf-8") as docs, open(out / "truth.jsonl", "w") as truth:
        for doc_id, page in generate(data, documents, seed):
            docs.write(json.dumps({"id": doc_id, "text": page.text}, ensure_ascii=False) + "\n")
            truth.write(json.dumps({"id": doc_id, "segments": page.segments}, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    write_corpus(args.shared / "data", args.documents, args.seed, args.out)


if __name__ == "__main__":
    main()
