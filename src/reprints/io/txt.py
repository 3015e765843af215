"""Plain-text files: one document per file, its id the file name."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from reprints.io.decode import read_text_file
from reprints.io.records import Record, unreadable

log = logging.getLogger(__name__)


def read_txt(path: Path) -> Iterator[Record]:
    """Yield the file as one record, decoded as `reprints.io.decode` does (BOM, UTF-8, detected encoding).

    A file that cannot be opened, or that no encoding decodes, is an unreadable record.
    """
    decoded = read_text_file(path)
    if decoded.text is None:
        yield unreadable(str(path), decoded.error or "cannot be decoded", path.name)
        return
    yield Record(path.name, decoded.text, {}, str(path), warning=decoded.warning)
