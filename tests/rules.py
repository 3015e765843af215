"""The rules every dedup run obeys, checked on its output files against the input texts.

Independent of reprints' internals: words are found with a regular expression, texts are compared as strings.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# A word: a letter or digit, then letters, digits and the combining marks attached to them (so `the\u0301` is
# one word, as it is one token).
MARKS = "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u064b-\u065f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
WORD = re.compile(rf"\w[\w{MARKS}]*")


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def words(text: str) -> list[str]:
    return [w.casefold() for w in WORD.findall(text)]


def check_spans(texts: Mapping[str, str], out: Path) -> None:
    """Every span of pairs.jsonl and documents.jsonl lies inside both texts, start before end."""
    for pair in rows(out / "pairs.jsonl"):
        for a0, a1, b0, b1 in pair["spans"]:
            assert 0 <= a0 < a1 <= len(texts[pair["a"]]), pair
            assert 0 <= b0 < b1 <= len(texts[pair["b"]]), pair
    for row in rows(out / "documents.jsonl"):
        for start, end, source, s0, s1 in row["removed"]:
            assert 0 <= start < end <= len(texts[row["id"]]), row
            if source != "boilerplate":
                assert 0 <= s0 < s1 <= len(texts[source]), row


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)


def _boilerplate_words(text: str, boilerplate: set[tuple[str, ...]]) -> set[int]:
    """Start offsets of the words on the text's boilerplate lines (lines whose words are a learned line's)."""
    starts: set[int] = set()
    offset = 0
    for line in text.split("\n"):
        if tuple(words(line)) in boilerplate:
            starts.update(offset + m.start() for m in WORD.finditer(line))
        offset += len(line) + 1
    return starts


def check_conservation(
    texts: Mapping[str, str], out: Path, min_passage: int, boilerplate: set[tuple[str, ...]] | None = None
) -> None:
    """Every word is kept by its document or by the source its removed span names, and that source keeps it.

    A removed span names a kept or trimmed document, and the words of the source span are outside the source's
    own removed spans (the source keeps them). A dropped document loses fewer than `min_passage` words of its
    own (words in no removed span).
    """
    decisions = {row["id"]: row for row in rows(out / "documents.jsonl")}
    kept_text = {row["id"]: row["text"] for row in rows(out / "deduplicated.jsonl")}
    removed_of = {doc: [(start, end) for start, end, *_ in row["removed"]] for doc, row in decisions.items()}
    for doc, row in decisions.items():
        if row["reason"].startswith("unreadable"):
            continue
        assert (row["decision"] == "drop") == (doc not in kept_text), row
        for start, end, source, s0, s1 in row["removed"]:
            if source == "boilerplate":
                continue
            assert decisions[source]["decision"] in ("keep", "trim"), f"{doc} credits dropped {source}"
            source_words = [m.start() for m in WORD.finditer(texts[source], s0, s1)]
            inner = source_words[1:-1]  # the edge words may carry a token of mapping slack
            outside = [p for p in inner if _inside(p, removed_of[source])]
            assert not outside, f"{doc}[{start}:{end}] credited to {source}[{s0}:{s1}], which {source} lost"
            assert texts[source][s0:s1].strip(), row
        if row["decision"] == "drop":
            exempt = _boilerplate_words(texts[doc], boilerplate or set())
            lost = [
                m
                for m in WORD.finditer(texts[doc])
                if not _inside(m.start(), removed_of[doc]) and m.start() not in exempt
            ]
            assert len(lost) < min_passage, f"dropped {doc} loses {len(lost)} words of its own"
        if row["decision"] == "trim":
            for piece in kept_text[doc].split("\n"):
                assert piece in texts[doc], f"trimmed text of {doc} is not from its text"


def check_clusters(texts: Mapping[str, str], out: Path) -> None:
    """Every member of a cluster is an exact copy or near duplicate of its canonical (reported, and by words), and
    the canonical is the member ranked first: it loses no text to another member of its cluster (it can lose
    text to a document outside it, a page holding it, and so be trimmed or dropped)."""
    relation = {}
    for pair in rows(out / "pairs.jsonl"):
        relation[(pair["a"], pair["b"])] = relation[(pair["b"], pair["a"])] = pair["relation"]
    removed = {row["id"]: row["removed"] for row in rows(out / "documents.jsonl")}
    for cluster in rows(out / "clusters.jsonl"):
        canonical = cluster["canonical"]
        assert canonical in cluster["members"], cluster
        sources = {entry[2] for entry in removed[canonical]}
        assert not sources & set(cluster["members"]), (cluster, sorted(sources))
        for member in cluster["members"]:
            if member == canonical:
                continue
            assert relation.get((member, canonical)) in ("exact", "near_duplicate"), (cluster, member)
            mine, theirs = Counter(words(texts[member])), Counter(words(texts[canonical]))
            shared = sum((mine & theirs).values())
            assert shared >= 0.6 * min(sum(mine.values()), sum(theirs.values())), (cluster, member)


def check_all(
    texts: Mapping[str, str], out: Path, min_passage: int = 30, boilerplate: set[tuple[str, ...]] | None = None
) -> None:
    """Every rule above, and one documents.jsonl row per input document, in input order.

    `boilerplate`: the words of each learned boilerplate line (exempt from conservation).
    """
    assert [row["id"] for row in rows(out / "documents.jsonl")] == list(texts), "documents.jsonl rows"
    check_spans(texts, out)
    check_conservation(texts, out, min_passage, boilerplate)
    check_clusters(texts, out)
