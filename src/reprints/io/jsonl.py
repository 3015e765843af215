"""JSON Lines, plain or compressed with gzip (`.gz`) or Zstandard (`.zst`)."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from reprints.io.records import Record, to_record


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="strict", newline="\n")
    if path.name.endswith(".zst"):
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(path.open("rb"))
        return io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="\n")
    return path.open("r", encoding="utf-8", errors="strict", newline="\n")


def read_jsonl(path: Path, *, id_field: str, text_field: str) -> Iterator[Record]:
    """Yield one record per non-blank line; a line that is not a JSON object becomes an unreadable record."""
    with _open_text(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Record(where, None, {}, f"unreadable: {path}:{number}: not JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                yield Record(where, None, {}, f"unreadable: {path}:{number}: not a JSON object")
                continue
            yield to_record(row, where, id_field, text_field)
