"""Plain-text files: one document per file, its id the file name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reprints.io.records import Record, unreadable


def read_txt(path: Path) -> Iterator[Record]:
    """Yield the file as one record; a file that cannot be opened or decoded is an unreadable record."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield unreadable(str(path), exc.strerror or str(exc), path.name)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield unreadable(str(path), f"invalid UTF-8 at byte {exc.start} ({exc.reason})", path.name)
        return
    yield Record(path.name, text, {}, str(path))
