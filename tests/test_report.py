from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reprints import compare
from reprints.io.writers import dumps, finite
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


def test_regression_describe_unrelated_names_the_relation_json_gives() -> None:
    """`compare` printed `relation: none` for texts sharing nothing, where `--json` and the API say `partial`."""
    a, b = "one two three", "four five six"
    pair = compare(a, b)
    assert describe(pair, a, b).splitlines()[0] == f"relation: {pair.relation} (no shared passage)"
    assert pair.relation == "partial" and not pair.spans


# Values of output rows: text from the whole of Unicode (unpaired surrogates included, which JSON input can
# carry), long enough to take `dumps`' orjson path or not, beside numbers, lists and nested records.
_TEXT = st.text(st.characters(codec=None), max_size=40) | st.text(st.characters(codec=None), min_size=250, max_size=300)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


_LONG = st.text(st.characters(codec=None), min_size=256, max_size=400)
_ROWS = st.builds(
    lambda head, text, tail: {**head, "text": text, **tail},
    st.dictionaries(_TEXT, _VALUES, max_size=3),
    _LONG,
    st.dictionaries(_TEXT, _VALUES, max_size=3),
)  # a document's row: its text among other fields


@given(_ROWS | st.dictionaries(_TEXT, _VALUES, max_size=6) | st.lists(_VALUES, max_size=3))
@settings(max_examples=300, deadline=None)
def test_dumps_writes_what_json_writes(row: Any) -> None:
    """Output rows are `json.dumps(row, ensure_ascii=False)` byte for byte whichever encoder writes them, or, for
    rows with an unpaired surrogate, `json.dumps(row)`: valid JSON that reads back equal. A NaN or infinity, which
    JSON lacks, is written as its text (`finite`)."""
    try:
        expected = json.dumps(finite(row), ensure_ascii=False, allow_nan=False)
        expected.encode("utf-8")
    except UnicodeEncodeError:
        expected = json.dumps(finite(row), allow_nan=False)
    assert dumps(row) == expected
