"""WARC files (`.warc`, `.warc.gz`, one gzip member per record or one for the whole file), read with warcio.

Each `response` record (or `resource` record) holding HTML becomes one document: its id is the record's
`WARC-Record-ID` without angle brackets (`urn:uuid:...`), unique within a crawl; `url` is its
`WARC-Target-URI` and `warc_date` its `WARC-Date`. The page is decoded with the charset of its HTTP
`Content-Type` header first (`reprints.io.html`). Other records (requests, metadata, revisits, images...) are not
documents: their count is logged.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from reprints.io.html import charset_of_header, pending_page
from reprints.io.records import Record, unreadable

if TYPE_CHECKING:
    from warcio.archiveiterator import ArchiveIterator

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
PADDING = b"\0\r\n\t "  # what may follow the last record
CHUNK = 1 << 16


@dataclass
class _Progress:
    """How far a reading of one WARC file got: the number of the last record read whole, and the counts."""

    done: int = 0
    pages: int = 0
    skipped: int = 0


def read_warc(path: Path, mode: str) -> Iterator[Record]:
    """Yield one record per HTML response in the file.

    A `.warc.gz` compressed as one gzip member (not one per record) is read all the same, as a stream. A file
    that breaks off yields every page it holds whole, then one unreadable record saying where it broke: a page
    whose record the break cuts short is that record (with its id and url), not a page read in part.
    """
    from warcio.exceptions import ArchiveLoadFailed

    progress = _Progress()
    try:
        try:
            yield from _pages(path, path.open("rb"), mode, progress, members=True)
        except ArchiveLoadFailed as exc:
            if "non-chunked gzip" not in str(exc):
                raise
            # One gzip member for the whole file: read it again as a stream, past the records already read.
            yield from _pages(path, _Inflated(path.open("rb")), mode, progress, members=False)
    except Exception as exc:  # warcio, gzip and zlib raise many unrelated types for a broken file
        yield _broken(path, progress, f"file breaks off after record {progress.done} ({_why(exc)})")
    log.info("%s: %d HTML pages read, %d other records skipped", path, progress.pages, progress.skipped)


def _why(exc: Exception) -> str:
    """What an error reading a broken WARC says of the file, in words a user reads: gzip's and zlib's message on
    its compression, or that a header is cut short (warcio's own errors, and those it raises by what it did not
    expect, such as an AttributeError on a header cut short, name no more than that)."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, OSError | EOFError | zlib.error) and first_line:
        return f"its compression: {first_line}"
    return "the next record's header is cut short or unreadable"


def _pages(
    path: Path, stream: IO[bytes] | _Inflated, mode: str, progress: _Progress, *, members: bool
) -> Iterator[Record]:
    """Each HTML page after the `progress.done` records already read, as soon as its record is known to be whole
    (all the bytes its Content-Length declares). A record cut short ends the reading with an unreadable record.
    With `members` (the file read as it is, record offsets being file offsets), so does a file in which
    something other than padding follows the last record read whole (a header or gzip member cut short)."""
    from warcio.archiveiterator import ArchiveIterator

    skip = progress.done
    last = (0, 0)  # where the last record read whole starts and ends, in the file
    with stream:
        records = ArchiveIterator(stream)
        for number, record in enumerate(records, start=1):
            if number <= skip:
                continue
            content_type = _content_type(record)
            if record.rec_type not in ("response", "resource") or not content_type.startswith(HTML_TYPES):
                if not _whole(record):
                    yield _broken(path, progress, f"file breaks off inside record {number}")
                    return
                progress.skipped += 1
                progress.done = number
                last = _extent(records)
                continue
            headers = record.rec_headers
            record_id = (headers.get_header("WARC-Record-ID") or "").strip("<>") or f"{path.name}:{number}"
            url = headers.get_header("WARC-Target-URI")
            date = headers.get_header("WARC-Date")
            metadata = {"url": url, "warc_date": date} if date else {"url": url}
            where = f"{path}:record {number}"
            try:
                html = record.content_stream().read()
                whole = _whole(record)
            except Exception as exc:  # a chunked or compressed payload cut short
                whole = False
                log.debug("%s: %s", where, exc)
            if not whole:
                why = f"file breaks off inside record {number}"
                yield Record(record_id, None, metadata, where, f"unreadable: {where}: {why}")
                return
            progress.pages += 1
            progress.done = number
            yield pending_page(
                html, record_id, where, mode, metadata=metadata, url=url, header_charset=charset_of_header(content_type)
            )
            last = _extent(records)  # after the page: finding its end reads on, into a break that may follow
    if members and not _ends_clean(path, *last):
        yield _broken(path, progress, f"file breaks off after record {progress.done}")


def _whole(record: object) -> bool:
    """Whether a record is whole: its header says its length (a header cut short need not) and its payload holds
    every byte of it (read to its end first)."""
    length = record.rec_headers.get_header("Content-Length")  # type: ignore[attr-defined]
    raw = record.raw_stream  # type: ignore[attr-defined]
    while raw.read(CHUNK):
        pass
    return bool(length and length.strip().isdigit()) and getattr(raw, "limit", 0) == 0


def _broken(path: Path, progress: _Progress, why: str) -> Record:
    """The unreadable record standing for whatever followed the last record read whole."""
    number = progress.done + 1
    return unreadable(f"{path}:record {number}", why, f"{path.name}:record {number}")


def _extent(records: ArchiveIterator) -> tuple[int, int]:
    """Where the current record starts and ends in the file (reading it to its end)."""
    offset = records.get_record_offset()
    return offset, offset + records.get_record_length()


def _ends_clean(path: Path, start: int, end: int) -> bool:
    """Whether the last record read whole, at `start:end` in the file, is the file's last: nothing but padding
    follows it, and its gzip member, if it is compressed one member per record, ends. A record header or a gzip
    member cut short is not always an error to warcio: it may just stop."""
    with path.open("rb") as raw:
        raw.seek(start)
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(start)
            member = zlib.decompressobj(wbits=31)
            while not member.eof:
                chunk = raw.read(CHUNK)
                if not chunk:
                    return False
                try:
                    member.decompress(chunk)
                except zlib.error:
                    return False
            if member.unused_data.strip(PADDING):
                return False
        else:
            raw.seek(end)
        return all(not chunk.strip(PADDING) for chunk in iter(lambda: raw.read(CHUNK), b""))


class CutShort(Exception):
    """A gzip stream that breaks off. (gzip's own EOFError is, to warcio, the end of the file.)"""


class _Inflated:
    """A gzip file's decompressed bytes, its members one after another, for warcio to read as a plain WARC. Every
    byte the file holds is returned before a file cut short raises `CutShort`."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._member = zlib.decompressobj(wbits=31)
        self._out = b""
        self._at = 0  # how much of `_out` was read
        self._position = 0  # how many decompressed bytes were read

    def read(self, size: int = -1) -> bytes:
        while self._at == len(self._out):
            if not self._inflate():
                return b""
        stop = len(self._out) if size < 0 else min(len(self._out), self._at + size)
        data = self._out[self._at : stop]
        self._at = stop
        self._position += len(data)
        return data

    def _inflate(self) -> bool:
        """Decompress some more; False at the end of the last member."""
        if self._member.eof:
            rest = self._member.unused_data
            while not rest.strip(PADDING):  # padding, or nothing, after a member: the end, or more members
                more = self._raw.read(CHUNK)
                if not more:
                    return False
                rest += more
            self._member = zlib.decompressobj(wbits=31)
            chunk = rest.lstrip(PADDING)
        else:
            chunk = self._raw.read(CHUNK)
            if not chunk:
                raise CutShort("the gzip stream breaks off before its end")
        try:
            self._out, self._at = self._member.decompress(chunk), 0
        except zlib.error as exc:
            raise CutShort(f"the gzip stream is damaged ({exc})") from None
        return True

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _Inflated:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _content_type(record: object) -> str:
    """The media type of a record's payload: its HTTP Content-Type, else the WARC record's own."""
    http = getattr(record, "http_headers", None)
    value = http.get_header("Content-Type") if http is not None else None
    if value is None:
        value = record.rec_headers.get_header("Content-Type")  # type: ignore[attr-defined]
    return (value or "").strip().lower()
