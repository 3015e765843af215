"""WARC files (`.warc`, `.warc.gz`, one gzip member per record or one for the whole file), read with warcio.

Each `response` record (or `resource` record) holding HTML becomes one document: its id is the record's
`WARC-Record-ID` without angle brackets (`urn:uuid:...`), unique within a crawl; `url` is its
`WARC-Target-URI` and `warc_date` its `WARC-Date`. The page is decoded with the charset of its HTTP
`Content-Type` header first (`reprints.io.html`). Other records (requests, metadata, revisits, images...) are not
documents: their count is logged.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from reprints.io.html import charset_of_header, pending_page
from reprints.io.records import Record, unreadable

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")


def read_warc(path: Path, mode: str) -> Iterator[Record]:
    """Yield one record per HTML response in the file.

    A `.warc.gz` compressed as one gzip member (not one per record) is read all the same, as a stream. A file
    that breaks off yields what it held, then one unreadable record saying where it broke; a page whose record
    the break cuts short is that unreadable record (with its id and url), not a page read in part.
    """
    from warcio.exceptions import ArchiveLoadFailed

    counts = {"pages": 0, "skipped": 0}
    done = 0  # the number of the last record yielded
    try:
        try:
            for number, record in _pages(path, path.open("rb"), mode, counts, skip=0, members=True):
                done = number
                yield record
        except ArchiveLoadFailed as exc:
            if "non-chunked gzip" not in str(exc):
                raise
            counts = {"pages": 0, "skipped": 0}
            with gzip.open(path, "rb") as stream:  # one gzip member for the whole file: read it as a stream
                for number, record in _pages(path, stream, mode, counts, skip=done, members=False):
                    done = number
                    yield record
    except Exception as exc:  # warcio, gzip and zlib raise many unrelated types for a broken file
        why = f"file breaks off after record {done} ({type(exc).__name__}: {str(exc).strip().splitlines()[0]})"
        yield unreadable(f"{path}:record {done + 1}", why, f"{path.name}:record {done + 1}")
    log.info("%s: %d HTML pages read, %d other records skipped", path, counts["pages"], counts["skipped"])


def _pages(
    path: Path, stream: IO[bytes] | gzip.GzipFile, mode: str, counts: dict[str, int], *, skip: int, members: bool
) -> Iterator[tuple[int, Record]]:
    """(record number, page) for each HTML page after the first `skip` records. With `members` (the file read
    as it is, record offsets being file offsets), the last page is held back until its gzip member is known to
    be complete."""
    from warcio.archiveiterator import ArchiveIterator

    held: tuple[int, Record, int] | None = None
    with stream:
        records = ArchiveIterator(stream)
        for number, record in enumerate(records, start=1):
            if number <= skip:
                continue
            content_type = _content_type(record)
            if record.rec_type not in ("response", "resource") or not content_type.startswith(HTML_TYPES):
                counts["skipped"] += 1
                continue
            counts["pages"] += 1
            if held is not None:
                yield held[0], held[1]
            headers = record.rec_headers
            record_id = (headers.get_header("WARC-Record-ID") or "").strip("<>") or f"{path.name}:{number}"
            url = headers.get_header("WARC-Target-URI")
            date = headers.get_header("WARC-Date")
            page = pending_page(
                record.content_stream().read(),
                record_id,
                f"{path}:record {number}",
                mode,
                metadata={"url": url, "warc_date": date} if date else {"url": url},
                url=url,
                header_charset=charset_of_header(content_type),
            )
            held = (number, page, records.get_record_offset())
    if held is None:
        return
    number, page, offset = held
    if members and not _member_complete(path, offset):
        why = f"file breaks off inside record {number}"
        yield number, Record(page.id, None, page.metadata, page.where, f"unreadable: {page.where}: {why}")
        return
    yield number, page


def _member_complete(path: Path, offset: int) -> bool:
    """Whether the gzip member starting at `offset` ends before the file does (True for an uncompressed file)."""
    with path.open("rb") as raw:
        raw.seek(offset)
        data = raw.read()
    if not data.startswith(b"\x1f\x8b"):
        return True
    decompressor = zlib.decompressobj(wbits=31)
    try:
        decompressor.decompress(data)
    except zlib.error:
        return False
    return decompressor.eof


def _content_type(record: object) -> str:
    """The media type of a record's payload: its HTTP Content-Type, else the WARC record's own."""
    http = getattr(record, "http_headers", None)
    value = http.get_header("Content-Type") if http is not None else None
    if value is None:
        value = record.rec_headers.get_header("Content-Type")  # type: ignore[attr-defined]
    return (value or "").strip().lower()
