"""A stored document's tokens as bytes (`reprints.index.packing`): what is packed is what is read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import fixed_widths
from reprints.errors import IndexDamaged
from reprints.fingerprint.corpus import TokenBatch, concat_token_batches, tokenize_batch
from reprints.index import packing
from reprints.index.packing import SEAL, pack_tokens, row_unsealed, seal, seal_row, unpack_fixed, unpack_tokens
from reprints.normalize.template import template_mask

NEWS = Path(__file__).resolve().parents[1] / "examples" / "news" / "docs.jsonl"
TEXTS = [json.loads(line)["text"] for line in NEWS.read_text(encoding="utf-8").splitlines()][:60]
SEED = 7
FIELDS = [
    "token_counts",
    "hashes",
    "lead",
    "trail",
    "doc_hashes",
    "doc_sketches",
    "line_docs",
    "line_hashes",
    "line_token_start",
    "line_token_end",
    "line_char_start",
    "line_char_end",
]


@pytest.fixture(scope="module", autouse=True, params=["numpy", "compiled"])
def _reading(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test reads stored documents both ways: with NumPy, and with the compiled pass (which a batch of
    `packing.COMPILED_FROM` tokens or more takes: here every batch), the same arrays and the same refusals."""
    default = packing.COMPILED_FROM
    packing.COMPILED_FROM = 0 if request.param == "compiled" else 1 << 62
    yield
    packing.COMPILED_FROM = default


def _stored(batch: TokenBatch, packed: list[bytes]) -> list[tuple[int, int, bytes, bytes, bytes]]:
    """The rows a query reads of each document of `batch` (`StoredTokens`), its tokens packed as given."""
    lines = np.searchsorted(batch.line_docs, np.arange(len(packed) + 1))
    return [
        (
            int(batch.token_counts[doc]),
            int(batch.doc_hashes[doc].view(np.int64)),
            blob,
            batch.line_hashes[lines[doc] : lines[doc + 1]].astype(np.uint64).tobytes(),
            batch.doc_sketches[doc].astype(np.uint64).tobytes(),
        )
        for doc, blob in enumerate(packed)
    ]


def _assert_same(got: tuple[TokenBatch, np.ndarray], batch: TokenBatch, template: np.ndarray) -> None:
    for name in FIELDS:
        mine, theirs = getattr(got[0], name), getattr(batch, name)
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), name
    assert np.array_equal(got[1], template)


# A document: a piece of a real article, with runs of spaces or a long unbroken word put between its words (gaps
# and tokens wider than one and two bytes can hold), or nothing at all.
pieces = st.tuples(
    st.integers(0, len(TEXTS) - 1),
    st.integers(0, 2000),
    st.integers(0, 3000),
    st.lists(
        st.tuples(st.integers(0, 400), st.sampled_from([" " * 300, " " * 70_000, "x" * 300, "\n\n" * 200])), max_size=2
    ),
)


def _text(piece: tuple[int, int, int, list[tuple[int, str]]]) -> str:
    number, start, length, inserts = piece
    text = TEXTS[number][start : start + length]
    for at, insert in inserts:
        text = text[:at] + insert + text[at:]
    return text


@settings(max_examples=60, deadline=None)
@given(st.lists(pieces, min_size=1, max_size=8), st.lists(st.integers(1, 8), min_size=1, max_size=4))
def test_packed_tokens_read_back_as_tokenizing_made_them(
    documents: list[tuple[int, int, int, list[tuple[int, str]]]], groups: list[int]
) -> None:
    """Over documents cut from real articles (empty ones, one-token ones, gaps and tokens wider than a byte and
    two bytes hold, lines thousands of characters long), packed in batches of any size and read back in any
    grouping: every field of the batch and every template mark is what tokenizing and marking made."""
    texts = [_text(piece) for piece in documents]
    batch = tokenize_batch(texts, SEED)
    offsets = np.concatenate(([0], np.cumsum(batch.token_counts))).astype(np.int64)
    template = template_mask(batch.hashes, offsets, SEED)
    packed = pack_tokens(batch, template)
    stored = _stored(batch, packed)
    _assert_same(unpack_tokens(stored), batch, template)
    parts, marks, at = [], [], 0
    for size in groups * len(stored):  # read back in groups of other sizes, concatenated
        if at >= len(stored):
            break
        got = unpack_tokens(stored[at : at + size])
        parts.append(got[0])
        marks.append(got[1])
        at += size
    _assert_same((concat_token_batches(*parts), np.concatenate(marks)), batch, template)
    _assert_same(unpack_fixed(_stored(batch, fixed_widths(batch, template)), SEED), batch, template)
    _assert_same(unpack_fixed(_stored(batch, fixed_widths(batch, template, marked=False)), SEED), batch, template)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(-(2**62), 2**62), max_size=5), min_size=1, max_size=6))
@example([[0, 255, 511], [0, 256], [], [7, 7 + 65535], [0, 65536, 65536 + 2**32 - 1], [0, 2**32], [2**32, 2**33]])
@example([[255], [256], [65535], [65536], [2**32 - 1], [2**32], [-1]])
def test_position_fields_of_any_values_read_back(values: list[list[int]]) -> None:
    """Position fields are packed as differences when they do not decrease and fit: any numbers at all (falling,
    negative, more than 32 bits apart) still read back as themselves."""
    batch = tokenize_batch(["" for _ in values], SEED)
    counts = np.array([len(v) for v in values], dtype=np.int64)
    flat = np.array([x for v in values for x in v], dtype=np.int64)
    rng = np.random.default_rng(len(flat))
    batch = TokenBatch(
        token_counts=counts,
        hashes=rng.integers(0, 2**63, len(flat)).astype(np.uint64),
        lead=(flat >> 32).astype(np.int32),
        trail=flat[::-1].astype(np.int32),
        doc_hashes=batch.doc_hashes,
        doc_sketches=batch.doc_sketches,
        line_docs=np.repeat(np.arange(len(values), dtype=np.int64), counts),
        line_hashes=rng.integers(0, 2**63, len(flat)).astype(np.uint64),
        line_token_start=np.sort(flat),
        line_token_end=flat + 1,
        line_char_start=np.abs(flat),
        line_char_end=flat // 3,
    )
    template = rng.integers(0, 2, len(flat)).astype(np.bool_)
    _assert_same(unpack_tokens(_stored(batch, pack_tokens(batch, template))), batch, template)


def _resealed(row: tuple[int, int, bytes, bytes, bytes], body: bytes) -> tuple[int, int, bytes, bytes, bytes]:
    """A stored document whose packed tokens (without their seal) are `body`, sealed again: damage the seal does
    not see, to reach the checks behind it."""
    return (row[0], row[1], seal([(row[0], row[1], body, row[3], row[4])])[0], row[3], row[4])


def test_damaged_token_bytes_are_refused() -> None:
    """A packed document cut short, grown, or with a header naming no width is refused as damaged, sealed again
    or not."""
    batch = tokenize_batch(TEXTS[:2], SEED)
    template = template_mask(batch.hashes, np.concatenate(([0], np.cumsum(batch.token_counts))).astype(np.int64), SEED)
    stored = _stored(batch, pack_tokens(batch, template))
    body = stored[0][2][:-SEAL]
    for damaged in (body[:-1], body + b"\0", b"\3" + body[1:], body[:3]):
        with pytest.raises(IndexDamaged, match="seal"):
            unpack_tokens([(stored[0][0], stored[0][1], damaged + stored[0][2][-SEAL:], *stored[0][3:]), stored[1]])
        with pytest.raises(IndexDamaged, match="damaged"):
            unpack_tokens([_resealed(stored[0], damaged), stored[1]])
    for short in (b"", stored[0][2][: SEAL - 1]):
        with pytest.raises(IndexDamaged, match="seal"):
            unpack_tokens([(stored[0][0], stored[0][1], short, *stored[0][3:])])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_regression_any_byte_of_a_stored_document_damaged_is_refused(data: st.DataObject) -> None:
    """A page of the index overwritten in the middle of a document's packed tokens kept their length, so nothing
    saw it: a query read positions summed from damaged differences and answered with spans past the stored text's
    end. Now any byte changed in what a query reads of a stored document (its packed tokens and their seal, line
    hashes, sketch, token count or exact-text hash) is refused as damaged."""
    batch = tokenize_batch(TEXTS[:3], SEED)
    template = template_mask(batch.hashes, np.concatenate(([0], np.cumsum(batch.token_counts))).astype(np.int64), SEED)
    stored = _stored(batch, pack_tokens(batch, template))
    doc = data.draw(st.integers(0, 2))
    row = list(stored[doc])
    field = data.draw(st.sampled_from([0, 1, 2, 3, 4]))
    if field < 2:
        row[field] += data.draw(st.sampled_from([-1, 1, 1 << 20]))
    else:
        blob = bytearray(row[field])
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] ^= data.draw(st.integers(1, 255))
        row[field] = bytes(blob)
    damaged = [tuple(row) if d == doc else stored[d] for d in range(3)]
    with pytest.raises(IndexDamaged, match="damaged"):
        unpack_tokens(damaged)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_change_to_a_sealed_row_is_refused(data: st.DataObject) -> None:
    """A document's row as sealed (`seal_row`) gives back its tokens per line unchanged; any byte changed in what
    its seal covers (site, exact-text hash, token count, line hashes, tokens per line, sketch, the seal itself)
    or the sealed bytes cut short is refused as damaged."""
    batch = tokenize_batch(TEXTS[:1], SEED)
    line_tokens = (batch.line_token_end - batch.line_token_start).astype(np.int64).tobytes()
    hashes, sketch = batch.line_hashes.astype(np.uint64).tobytes(), batch.doc_sketches[0].astype(np.uint64).tobytes()
    site = data.draw(st.integers(0, 1 << 40))
    row: list[Any] = [site, int(batch.doc_hashes.view(np.int64)[0]), int(batch.token_counts[0]), hashes]
    row += [seal_row(*row, line_tokens, sketch), sketch]
    assert row_unsealed(*row) == line_tokens
    field = data.draw(st.integers(0, 5))
    if field < 3:
        row[field] += data.draw(st.sampled_from([-1, 1, 1 << 20]))
    elif data.draw(st.booleans()) and field == 4:
        row[field] = row[field][: data.draw(st.integers(0, len(row[field]) - 1))]
    else:
        blob = bytearray(row[field])
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
        row[field] = bytes(blob)
    with pytest.raises(IndexDamaged, match="damaged"):
        row_unsealed(*row)


def test_regression_a_damaged_difference_past_32_bits_is_refused() -> None:
    """A lead or trail is stored as differences summed on reading; a damaged difference could sum past what the
    field's 32 bits hold, and was cast back silently (wrapped round to another number). Now refused as damaged."""
    base = tokenize_batch(["", ""], SEED)
    counts = np.array([2, 1], dtype=np.int64)
    lead = np.array([0, 70_000, 5], dtype=np.int32)  # a difference of 70,000: stored in 4 bytes
    batch = TokenBatch(
        token_counts=counts,
        hashes=np.arange(3, dtype=np.uint64),
        lead=lead,
        trail=lead,
        doc_hashes=base.doc_hashes,
        doc_sketches=base.doc_sketches,
        line_docs=np.array([0, 1], dtype=np.int64),
        line_hashes=np.arange(2, dtype=np.uint64),
        line_token_start=np.zeros(2, dtype=np.int64),
        line_token_end=counts.copy(),
        line_char_start=np.zeros(2, dtype=np.int64),
        line_char_end=np.array([70_010, 6], dtype=np.int64),
    )
    template = np.zeros(3, dtype=np.bool_)
    stored = _stored(batch, pack_tokens(batch, template))
    _assert_same(unpack_tokens(stored), batch, template)
    blob = bytearray(stored[0][2][:-SEAL])
    assert blob[0] == 4  # the lead field's code: 4-byte differences
    at = 6 + 2 * 8  # after the header and the two hashes: the lead's first difference
    blob[at : at + 4] = (2**32 - 1).to_bytes(4, "little")
    with pytest.raises(IndexDamaged, match="lead values do not fit int32"):  # damage sealed again, as if so written
        unpack_tokens([_resealed(stored[0], bytes(blob)), stored[1]])
