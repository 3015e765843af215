from __future__ import annotations

from reprints import compare
from reprints.report.compare import describe
from reprints.report.write import trimmed_text
from reprints.types import Removed


def test_trimmed_text_cuts_spans_and_joins_pieces() -> None:
    text = "Keep this.\n\nCUT ME OUT\n\nAnd this. CUT TOO"
    removed = [Removed(12, 22, "src", 0, 10), Removed(34, 41, "src", 0, 7)]
    assert trimmed_text(text, removed) == "Keep this.\nAnd this."


def test_trimmed_text_with_overlapping_spans() -> None:
    assert trimmed_text("abcdefghij", [Removed(2, 6, "s", 0, 4), Removed(4, 8, "t", 0, 4)]) == "ab\nij"


def test_describe_names_relation_and_passages() -> None:
    shared = " ".join(f"w{i}" for i in range(60))
    a, b = f"intro words here. {shared}", f"{shared}. outro words there"
    text = describe(compare(a, b, id_a="left", id_b="right"), a, b)
    assert text.splitlines()[0] == "relation: near_duplicate"
    assert "passage 1 of 1" in text
    assert "left" in text and "right" in text


def test_describe_unrelated() -> None:
    a, b = "one two three", "four five six"
    assert describe(compare(a, b), a, b).startswith("relation: none")
