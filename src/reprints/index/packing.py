"""A stored document's tokens as bytes: what a query reads of each candidate instead of tokenizing its text.

Per document (`pack_tokens`, index format 5): a header of one byte per position field (`POSITIONS`) naming how that
field is stored; the tokens' 64-bit hashes (little-endian, 8 bytes each); each position field; the tokens' template
marks, a bit per token (`numpy.packbits`); from format 6, a seal: an xxh3-64 (8 bytes) of all that and of what a
query reads of the document with it (token count, exact-text hash, line hashes, sketch), checked when read, so that
a damaged page of the database is an error, not spans past a text's end (`SEAL`). The position fields are each
token's lead and trail and each line's token and character bounds: non-decreasing numbers, stored as their
differences from the one before (the first from 0) in the narrowest unsigned width that holds them all (1, 2 or 4
bytes; at least the field's least width), or as themselves in 8 signed bytes (code 8) when a difference is negative
or needs more. On news text a token's differences fit one byte: 10 bytes a token instead of 16, and an index ~25%
smaller on disk, which is what an add spends its time writing. A query reads each field of its candidates at once
(one running sum).

Before format 6 there was no seal (`seal` adds it, once, in the upgrade); before format 5 the fields were
fixed-width (`unpack_fixed`, read once by the upgrade), and before format 3 without the marks.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import xxhash

from reprints.errors import IndexDamaged
from reprints.fingerprint.corpus import TokenBatch
from reprints.fingerprint.shingles import SKETCH_SIZE
from reprints.io.arrays import offsets_of, ranges
from reprints.normalize.template import Mask, template_mask

TOKENS, LINES = "tokens", "lines"
# Each field, what it has a value of, its type in a TokenBatch (as `tokenize_batch` makes it) and the narrowest
# width it is packed in: lines' character bounds take at least 2 bytes, as most documents have a line of 256
# characters or more, so that a query's candidates mostly share each field's width (read at once, not apart).
POSITIONS = (
    ("lead", TOKENS, np.int32, 1),
    ("trail", TOKENS, np.int32, 1),
    ("line_token_start", LINES, np.int64, 1),
    ("line_token_end", LINES, np.int64, 1),
    ("line_char_start", LINES, np.int64, 2),
    ("line_char_end", LINES, np.int64, 2),
)
WIDTHS: dict[int, np.dtype[Any]] = {
    1: np.dtype("<u1"),
    2: np.dtype("<u2"),
    4: np.dtype("<u4"),
    8: np.dtype("<i8"),
}  # code: how stored
HEADER = len(POSITIONS)
PER_TOKEN = tuple(rows == TOKENS for _, rows, _, _ in POSITIONS)
CODES = bytes(WIDTHS)
HASH = np.dtype("<u8")
COMPILED_FROM = 20_000  # tokens in one batch from which `unpack_tokens` takes the compiled pass (`reprints.kernels`)
SEAL = 8  # bytes of the seal that ends each document's packed tokens (format 6 on)
# The numbers each seal begins with, as little-endian 64-bit integers (packed by `struct`: a NumPy array of them
# cost each row read a few microseconds).
SEALED_NUMBERS = struct.Struct("<4q")
ROW_NUMBERS = struct.Struct("<6q")

# Before format 5: per token its hash, lead and trail; per line its token and character bounds; fixed widths.
FIXED_TOKEN_FIELDS = (("hashes", "<u8"), ("lead", "<i4"), ("trail", "<i4"))
FIXED_LINE_FIELDS = (
    ("line_token_start", "<i8"),
    ("line_token_end", "<i8"),
    ("line_char_start", "<i8"),
    ("line_char_end", "<i8"),
)

# One stored document as `unpack_tokens` takes it: its token count, exact-text hash, packed tokens, line hashes
# and sketch (the last two columns of `documents`).
StoredTokens = tuple[int, int, bytes, bytes, bytes]


def _narrowed(values: np.ndarray, offsets: np.ndarray, least: int) -> tuple[list[int], dict[int, np.ndarray]]:
    """Each document's part of `values` (`values[offsets[d]:offsets[d + 1]]`) as it is stored: the code of each
    document (see the module's docstring), and for each code used the whole field in that code's form (from which
    each document with that code takes its part)."""
    values = np.asarray(values, dtype=np.int64)
    deltas = np.diff(values, prepend=np.int64(0))
    starts = offsets[:-1]
    filled = offsets[1:] > starts
    deltas[starts[filled]] = values[starts[filled]]  # each document's first from 0
    low = np.zeros(len(starts), dtype=np.int64)
    high = np.zeros(len(starts), dtype=np.int64)
    if filled.any():  # an empty document holds nothing: its successor's part starts where its own would
        low[filled] = np.minimum.reduceat(deltas, starts[filled])
        high[filled] = np.maximum.reduceat(deltas, starts[filled])
    codes = np.where((low < 0) | (high >= 1 << 32), 8, np.where(high >= 1 << 16, 4, np.where(high >= 1 << 8, 2, 1)))
    codes = np.maximum(codes, least)
    forms = {
        int(code): values.astype(WIDTHS[8]) if code == 8 else deltas.astype(WIDTHS[int(code)])
        for code in np.unique(codes).tolist()
    }
    return codes.tolist(), forms


def pack_tokens(batch: TokenBatch, template: Mask) -> list[bytes]:
    """Each document of a tokenized batch, with its template marks (`template`: the batch's), packed for the
    `tokens` table (see the module's docstring)."""
    documents = len(batch.token_counts)
    token_at = offsets_of(batch.token_counts)
    line_at = np.searchsorted(batch.line_docs, np.arange(documents + 1)).astype(np.int64)
    at = {TOKENS: token_at.tolist(), LINES: line_at.tolist()}
    fields = [
        (at[rows], *_narrowed(getattr(batch, name), token_at if rows == TOKENS else line_at, least))
        for name, rows, _, least in POSITIONS
    ]
    hashes = batch.hashes.astype(HASH)
    line_hashes = batch.line_hashes.astype(HASH)
    doc_hashes = batch.doc_hashes.astype(np.uint64).view(np.int64).tolist()
    sketches = batch.doc_sketches.astype(HASH)
    tokens, lines = at[TOKENS], at[LINES]
    out = []
    for doc in range(documents):
        codes = [field_codes[doc] for _, field_codes, _ in fields]
        body = b"".join(
            [
                bytes(codes),
                hashes[tokens[doc] : tokens[doc + 1]].tobytes(),
                *(
                    forms[code][bounds[doc] : bounds[doc + 1]].tobytes()
                    for (bounds, _, forms), code in zip(fields, codes, strict=True)
                ),
                np.packbits(template[tokens[doc] : tokens[doc + 1]]).tobytes(),
            ]
        )
        row = (
            tokens[doc + 1] - tokens[doc],
            doc_hashes[doc],
            body,
            line_hashes[lines[doc] : lines[doc + 1]].tobytes(),
            sketches[doc].tobytes(),
        )
        out.append(body + _seal_of(row))
    return out


def _seal_of(row: tuple[int, int, bytes | memoryview, bytes, bytes]) -> bytes:
    """The seal of a stored document (`StoredTokens`, its packed tokens without their seal)."""
    tokens, doc_hash, body, line_hashes, sketch = row
    digest = xxhash.xxh3_64(SEALED_NUMBERS.pack(tokens, doc_hash, len(body), len(line_hashes)))
    for part in (body, line_hashes, sketch):
        digest.update(part)
    return digest.digest()


def seal(documents: Sequence[StoredTokens]) -> list[bytes]:
    """The packed tokens of documents stored before format 6, sealed (the upgrade to format 6)."""
    return [bytes(row[2]) + _seal_of(row) for row in documents]


def typed(numbers: Sequence[object], blobs: Sequence[object]) -> bool:
    """Whether stored values have the types reprints stores them as (SQLite lets a damaged page change them)."""
    return all([type(value) is int for value in numbers]) and all([type(value) is bytes for value in blobs])


def _unsealed(row: StoredTokens) -> memoryview:
    """A stored document's packed tokens without their seal (a view: not copied), once the seal is found to
    match."""
    if not typed(row[:2], row[2:]):
        raise IndexDamaged("a stored document's tokens hold a value of another type: the index is damaged")
    arrays = row[2]
    body = memoryview(arrays)[:-SEAL]
    if len(arrays) < SEAL or _seal_of((row[0], row[1], body, row[3], row[4])) != arrays[-SEAL:]:
        raise IndexDamaged("a stored document's tokens do not match their seal: the index is damaged")
    return body


def seal_row(site: int, doc_hash: int, tokens: int, line_hashes: bytes, line_tokens: bytes, sketch: bytes) -> bytes:
    """A document's tokens per line (`line_tokens`) followed by the seal of its row (format 7): an xxh3-64 of its
    site, exact-text hash, token count, line hashes, tokens per line and sketch, what boilerplate learning, a
    removal and a query read of the row. The packed tokens' seal covers all but the site and the tokens per line,
    and boilerplate learning does not read the packed tokens."""
    return bytes(line_tokens) + _row_seal_of(site, doc_hash, tokens, line_hashes, line_tokens, sketch)


def _row_seal_of(site: int, doc_hash: int, tokens: int, line_hashes: bytes, line_tokens: bytes, sketch: bytes) -> bytes:
    digest = xxhash.xxh3_64(ROW_NUMBERS.pack(site, doc_hash, tokens, len(line_hashes), len(line_tokens), len(sketch)))
    for part in (line_hashes, line_tokens, sketch):
        digest.update(part)
    return digest.digest()


def row_unsealed(site: int, doc_hash: int, tokens: int, line_hashes: bytes, sealed: bytes, sketch: bytes) -> bytes:
    """A stored document's tokens per line without their row seal (`seal_row`), once the seal is found to match,
    so that its site, exact-text hash, token count, line hashes and sketch can be taken as stored."""
    if not typed((site, doc_hash, tokens), (line_hashes, sealed, sketch)):
        raise IndexDamaged("a stored document's row holds a value of another type: the index is damaged")
    line_tokens = sealed[:-SEAL]
    if len(sealed) < SEAL or _row_seal_of(site, doc_hash, tokens, line_hashes, line_tokens, sketch) != sealed[-SEAL:]:
        raise IndexDamaged("a stored document's row does not match its seal: the index is damaged")
    return line_tokens


def token_hashes(documents: Sequence[StoredTokens]) -> np.ndarray:
    """The stored documents' token hashes (uint64), one document after another, their seals checked: what
    `reprints.index.sieve` reads of a candidate, without its position fields."""
    views = [_unsealed(row) for row in documents]
    layout = [[HEADER, HEADER + row[0] * HASH.itemsize] for row in documents]
    for view, (_, end) in zip(views, layout, strict=True):
        if len(view) < end:
            raise _damaged(view, end)
    return _hashes(views, layout)


def _damaged(arrays: bytes | memoryview, expected: int) -> IndexDamaged:
    return IndexDamaged(f"a stored document's tokens are {len(arrays)} bytes, not {expected}: the index is damaged")


def unpack_tokens(documents: Sequence[StoredTokens]) -> tuple[TokenBatch, Mask]:
    """A TokenBatch of stored documents (`StoredTokens`, packed by `pack_tokens`), in the order given, and the
    template marks of their tokens. Each field is gathered from every document's bytes and read at once (a batch
    per document, concatenated, cost a query a millisecond); a batch of `COMPILED_FROM` tokens or more is read in
    one compiled pass (`reprints.index.packing_kernel`, the same arrays)."""
    token_counts = [row[0] for row in documents]
    line_counts = [len(row[3]) // 8 for row in documents]
    views: list[memoryview] = []
    headers: list[bytes] = []
    layout: list[list[int]] = []  # of each document: where its hashes, each field and its marks begin
    for tokens, lines, row in zip(token_counts, line_counts, documents, strict=True):
        arrays = _unsealed(row)
        header = bytes(arrays[:HEADER])
        if len(header) < HEADER:
            raise _damaged(arrays, HEADER)
        if header.strip(CODES):  # a byte naming no width
            raise IndexDamaged(f"a stored document's tokens name widths {list(header)}: the index is damaged")
        at = HEADER + tokens * HASH.itemsize
        where = [HEADER, at]
        for field, code in enumerate(header):
            at += code * (tokens if PER_TOKEN[field] else lines)
            where.append(at)
        if len(arrays) != at + (tokens + 7) // 8:
            raise _damaged(arrays, at + (tokens + 7) // 8)
        views.append(arrays)
        headers.append(header)
        layout.append(where)
    counts = {TOKENS: np.array(token_counts, dtype=np.int64), LINES: np.array(line_counts, dtype=np.int64)}
    read = _fields_compiled if documents and sum(token_counts) >= COMPILED_FROM else _fields_apart
    fields = read(views, headers, layout, counts)
    values = {name: _narrowed_to(name, kind, fields[field]) for field, (name, _, kind, _) in enumerate(POSITIONS)}
    hashes, template = _hashes(views, layout), _marks(views, layout, counts[TOKENS])
    return _batch(documents, counts[TOKENS], counts[LINES], hashes=hashes, **values), template


def _fields_apart(
    views: list[memoryview], headers: list[bytes], layout: list[list[int]], counts: dict[str, np.ndarray]
) -> list[np.ndarray]:
    """Each position field of the documents (int64), read with NumPy a field at a time."""
    return [
        _widened(
            [header[field] for header in headers],
            [view[where[field + 1] : where[field + 2]] for view, where in zip(views, layout, strict=True)],
            counts[rows],
        )
        for field, (_, rows, _, _) in enumerate(POSITIONS)
    ]


def _fields_compiled(
    views: list[memoryview], headers: list[bytes], layout: list[list[int]], counts: dict[str, np.ndarray]
) -> list[np.ndarray]:
    """`_fields_apart` in one compiled pass over the documents' bytes."""
    from reprints.index.packing_kernel import position_fields

    starts = offsets_of(np.array([len(view) for view in views], dtype=np.int64))[:-1, None]
    fields = position_fields(
        np.frombuffer(b"".join(views), dtype=np.uint8),
        np.array(layout, dtype=np.int64)[:, 1:-1] + starts,
        np.frombuffer(b"".join(headers), dtype=np.uint8).reshape(-1, HEADER).astype(np.int64),
        np.array(PER_TOKEN, dtype=np.bool_),
        counts[TOKENS],
        counts[LINES],
    )
    total = {name: int(values.sum()) for name, values in counts.items()}
    return [fields[field, : total[rows]] for field, (_, rows, _, _) in enumerate(POSITIONS)]


def _hashes(views: list[memoryview], layout: list[list[int]]) -> np.ndarray:
    """The documents' token hashes, one after another."""
    read = b"".join(view[where[0] : where[1]] for view, where in zip(views, layout, strict=True))
    return np.frombuffer(read, dtype=HASH).astype(np.uint64)


def _marks(views: list[memoryview], layout: list[list[int]], tokens: np.ndarray) -> Mask:
    """The documents' template marks, one after another."""
    marks = b"".join(view[where[-1] :] for view, where in zip(views, layout, strict=True))
    template = np.unpackbits(np.frombuffer(marks, dtype=np.uint8)).view(np.bool_)
    padding = 8 * ((tokens + 7) // 8) - tokens  # each document's marks end on a whole byte
    if padding.any():
        kept = np.ones(len(template), dtype=np.bool_)
        kept[ranges(offsets_of(tokens + padding)[1:] - padding, padding)] = False
        template = template[kept]
    return template


def _narrowed_to(name: str, kind: Any, values: np.ndarray) -> np.ndarray:
    """A position field read back (int64) as its type in a TokenBatch, refused as damaged if a value does not fit
    it (a lead or trail past 32 bits is a damaged difference summed in, never one a document has)."""
    limits = np.iinfo(kind)
    if limits.bits == 64:  # (read as int64: nothing to check)
        return values
    if len(values) and (int(values.min()) < limits.min or int(values.max()) > limits.max):
        raise IndexDamaged(f"a stored document's {name} values do not fit {np.dtype(kind).name}: the index is damaged")
    return values.astype(kind, copy=False)


def _batch(
    documents: Sequence[StoredTokens], tokens: np.ndarray, lines: np.ndarray, **fields: np.ndarray
) -> TokenBatch:
    """The TokenBatch of stored documents: their token and line counts, the columns of `documents` they come with
    (exact-text hash, line hashes, sketch) and the token and line `fields` read from their packed tokens."""
    return TokenBatch(
        token_counts=tokens,
        doc_hashes=np.array([row[1] for row in documents], dtype=np.int64).view(np.uint64),
        doc_sketches=np.frombuffer(b"".join(row[4] for row in documents), dtype=np.uint64)
        .reshape(-1, SKETCH_SIZE)
        .copy(),
        line_docs=np.repeat(np.arange(len(documents), dtype=np.int64), lines),
        line_hashes=np.frombuffer(b"".join(row[3] for row in documents), dtype=np.uint64).copy(),
        **fields,
    )


def _widened(codes: list[int], parts: list[memoryview], counts: np.ndarray) -> np.ndarray:
    """One position field of documents (each its code and bytes; `counts` values each) as int64 values."""
    if len(set(codes)) <= 1:  # one width for all (the usual case)
        code = codes[0] if codes else 1
        read = np.frombuffer(b"".join(parts), dtype=WIDTHS[code])
        return read.astype(np.int64) if code == 8 else _summed(read, counts)
    chosen_codes = np.array(codes, dtype=np.int64)
    starts = offsets_of(counts)[:-1]
    deltas = np.zeros(int(counts.sum()), dtype=np.int64)
    direct = []
    for code in np.unique(chosen_codes).tolist():
        chosen = chosen_codes == code
        read = np.frombuffer(b"".join(b for c, b in zip(codes, parts, strict=True) if c == code), dtype=WIDTHS[code])
        where = ranges(starts[chosen], counts[chosen])
        if code == 8:
            direct.append((where, read.astype(np.int64)))  # values themselves: placed after the sums
        else:
            deltas[where] = read
    values = _summed(deltas, counts)
    for where, read in direct:
        values[where] = read
    return values


def _summed(deltas: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each document's differences (`counts` each, one after another) summed from 0: its values. One running sum
    over all, each document's first difference lessened by the last value of the document before it."""
    values = deltas.astype(np.int64)
    starts = (np.cumsum(counts) - counts)[counts > 0]
    if len(starts) > 1:
        sums = np.add.reduceat(values, starts)
        values[starts[1:]] -= sums[:-1]
    return np.cumsum(values, out=values)


def unpack_fixed(documents: Sequence[StoredTokens], seed: int) -> tuple[TokenBatch, Mask]:
    """`unpack_tokens` of documents packed before format 5 (fixed widths; before format 3, without marks: those
    are marked now, together)."""
    fields = [*FIXED_TOKEN_FIELDS, *FIXED_LINE_FIELDS]
    pieces: dict[str, list[memoryview]] = {name: [] for name, _ in fields}
    line_counts: list[int] = []
    marks: list[Mask | None] = []
    for tokens, _, arrays, line_hashes, _ in documents:
        lines = len(line_hashes) // 8
        line_counts.append(lines)
        view = memoryview(arrays)
        at = 0
        for name, kind in fields:
            size = (tokens if (name, kind) in FIXED_TOKEN_FIELDS else lines) * np.dtype(kind).itemsize
            pieces[name].append(view[at : at + size])
            at += size
        if len(arrays) == at + (tokens + 7) // 8:
            marks.append(np.unpackbits(np.frombuffer(view[at:], dtype=np.uint8), count=tokens).view(np.bool_))
        elif len(arrays) == at:
            marks.append(None)  # stored before format 3
        else:
            raise _damaged(arrays, at)
    values = {
        name: np.frombuffer(b"".join(pieces[name]), dtype=kind).astype(np.dtype(kind).newbyteorder("="))
        for name, kind in fields
    }
    batch = _batch(
        documents,
        np.array([row[0] for row in documents], dtype=np.int64),
        np.array(line_counts, dtype=np.int64),
        **values,
    )
    offsets = offsets_of(batch.token_counts)
    unmarked = [doc for doc, mark in enumerate(marks) if mark is None]
    if unmarked:  # marked together, as a batch of their own
        counts = batch.token_counts[unmarked]
        made_at = offsets_of(counts)
        made = template_mask(batch.hashes[ranges(offsets[unmarked], counts)], made_at, seed)
        for doc, start, end in zip(unmarked, made_at[:-1].tolist(), made_at[1:].tolist(), strict=True):
            marks[doc] = made[start:end]
    found = [mark for mark in marks if mark is not None]
    return batch, np.concatenate(found) if found else np.zeros(0, dtype=np.bool_)
