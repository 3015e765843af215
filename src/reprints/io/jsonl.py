"""JSON Lines, plain or compressed with gzip (`.gz`) or Zstandard (`.zst`), read line by line as bytes.

Each line is decoded on its own, so one bad line (invalid UTF-8, not JSON) costs one record, not the file.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson

from reprints.io.decode import decode
from reprints.io.records import Fields, Record, to_record, unreadable

CHUNK = 1 << 20


def _zstd_lines(path: Path) -> Iterator[bytes]:
    """Lines of a Zstandard file (one frame or several); raises EOFError if the file ends inside a frame."""
    import zstandard

    decompressor = zstandard.ZstdDecompressor().decompressobj()
    pending = b""
    with path.open("rb") as compressed:
        while chunk := compressed.read(CHUNK):
            while chunk:
                if decompressor.eof:
                    decompressor = zstandard.ZstdDecompressor().decompressobj()
                pending += decompressor.decompress(chunk)
                chunk = decompressor.unused_data if decompressor.eof else b""
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line + b"\n"
    if not decompressor.eof:
        raise EOFError("Zstandard stream ends inside a frame")
    if pending:
        yield pending


def _lines(path: Path) -> Iterator[bytes]:
    name = path.name.lower()  # as the input's kind is told (`reprints.io.sources`): DOCS.JSONL.GZ is gzip
    if name.endswith(".zst"):
        yield from _zstd_lines(path)
        return
    if name.endswith(".gz"):
        with gzip.open(path, "rb") as lines:
            yield from lines
        return
    with path.open("rb") as lines:
        yield from lines


def read_jsonl(path: Path, fields: Fields) -> Iterator[Record]:
    """Yield one record per non-blank line.

    A line that is not UTF-8 or not a JSON object becomes an unreadable record. A compressed file that
    breaks off yields what it held, then one unreadable record saying where it broke.
    """
    name = path.name
    for item in raw_jsonl(path):
        if isinstance(item, Record):
            yield item
        else:
            raw, number = item
            yield _parse(raw, f"{path}:{number}", f"{name}:{number}", fields)


def raw_jsonl(path: Path) -> Iterator[tuple[bytes, int] | Record]:
    """What `read_jsonl` reads, not yet parsed: each non-blank line and its number (`parse_line` makes it the
    record `read_jsonl` yields), and the unreadable record of a file that breaks off."""
    number = 0
    try:
        for number, raw in enumerate(_lines(path), start=1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if raw.strip():
                yield raw, number
    except Exception as exc:  # gzip, zstandard and the OS raise many unrelated types for a broken file
        why = f"file breaks off after line {number} ({type(exc).__name__}: {exc})"
        yield unreadable(f"{path}:{number + 1}", why, f"{path.name}:{number + 1}")


def parse_line(path: str, raw: bytes, number: int, fields: Fields) -> Record:
    """The record of line `number` of the JSON Lines file `path` (a line `raw_jsonl` yields)."""
    return _parse(raw, f"{path}:{number}", f"{os.path.basename(path)}:{number}", fields)


def _has_huge_float(value: object) -> bool:
    """Whether a parsed value holds a whole float of 2**63 or more (perhaps an integer orjson could not keep)."""
    if isinstance(value, float):
        return value.is_integer() and abs(value) >= 2.0**63
    if isinstance(value, dict):
        return any(_has_huge_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_huge_float(item) for item in value)
    return False


def _parse(raw: bytes, where: str, fallback_id: str, fields: Fields) -> Record:
    # The common case, fast: a UTF-8 line orjson reads. orjson reads what `json` reads, except that it refuses
    # some lines (NaN, lone surrogate escapes, invalid UTF-8...) and reads integers beyond 64 bits as floats: a
    # line it refuses, or holding such a float, takes the careful path (which also explains what is wrong).
    try:
        fast = orjson.loads(raw)
    except orjson.JSONDecodeError:
        fast = None
    if isinstance(fast, dict) and not _has_huge_float(fast):
        return to_record(fast, where, fallback_id, fields)
    decoded = decode(raw)
    if decoded.text is None:
        return unreadable(where, f"{decoded.error} in the line", fallback_id)
    line = decoded.text
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return unreadable(where, f"not JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})", fallback_id)
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, nesting past Python's stack
        return unreadable(where, f"JSON that cannot be read ({type(exc).__name__}: {exc})", fallback_id)
    if not isinstance(row, dict):
        return unreadable(where, f"not a JSON object (a {type(row).__name__})", fallback_id)
    record = to_record(row, where, fallback_id, fields)
    if decoded.warning is None:
        return record
    return replace(record, warning=f"line is {decoded.warning}")
