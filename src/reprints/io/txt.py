"""Plain-text files: one document per file, its id the file name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reprints.io.records import Record


def read_txt(path: Path) -> Iterator[Record]:
    """Yield the file as one record; undecodable bytes make it an unreadable record."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Record(path.name, None, {}, f"unreadable: {path}: not UTF-8 ({exc.reason} at byte {exc.start})")
        return
    except OSError as exc:
        yield Record(path.name, None, {}, f"unreadable: {path}: {exc.strerror or exc}")
        return
    yield Record(path.name, text, {}, None)
