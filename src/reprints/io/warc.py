"""WARC files (`.warc`, `.warc.gz`, one gzip member per record or one for the whole file), read with warcio.

Each `response` record (or `resource` record) holding HTML becomes one document: its id is the record's
`WARC-Record-ID` without angle brackets (`urn:uuid:...`), unique within a crawl; `url` is its
`WARC-Target-URI` and `warc_date` its `WARC-Date`. A record whose headers give no type (no HTTP `Content-Type`)
is a page when its body begins as HTML does. The HTTP body is decoded here (`reprints.io.payload`), and the page
with the charset of its HTTP `Content-Type` header first (`reprints.io.html`). Other records (requests,
metadata, revisits, images...) are not documents: one warning per file counts those that are not HTML pages.

A record that cannot be read but whose end is known (its own gzip member is whole, or its Content-Length frames
it) is one unreadable record, and the file is read on; a file that breaks off, or whose records cannot be told
apart any more, ends with one unreadable record saying where. No page is read in part. In a file of one gzip
member per record, a stretch that cannot be read (a damaged member: its compressed bytes changed, or cut out) is
one unreadable record, and the reading goes on at the next gzip member that is whole and holds a record's header
(`_next_record`): the records after the damage are not lost. Record numbers after such a stretch count it as one
record. In a plain WARC, a record whose Content-Length is wrong or whose bytes are damaged costs that record: the
reading goes on at the next whole record, found by its header and the length it declares (`_plain_record_at`).
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from reprints.io.html import charset_of_header, pending_page
from reprints.io.payload import GZIP_MAGIC, PAGE_RECORDS, Payload, page_html, read_payload
from reprints.io.records import Record, unreadable

if TYPE_CHECKING:
    from warcio.archiveiterator import ArchiveIterator

log = logging.getLogger(__name__)

PADDING = b"\0\r\n\t "  # what may follow the last record
CHUNK = 1 << 16
WARC_BEGINS = b"WARC/"  # how a record's header begins
SHOWN_TYPES = 5  # media types named in the warning counting the records skipped


@dataclass
class _Progress:
    """How far a reading of one WARC file got: the number of the last record read whole, and the counts."""

    done: int = 0
    pages: int = 0
    not_pages: Counter[str] = field(default_factory=Counter)  # responses and resources not HTML, by type
    others: Counter[str] = field(default_factory=Counter)  # requests, metadata, warcinfo...: by WARC-Type
    last: tuple[int, int] = (0, 0)  # where the last record read whole starts and ends in the file (read as it is)


class NotWarc(Exception):
    """A file that does not begin as a WARC file does."""


def read_warc(path: Path, mode: str, *, report: bool = True) -> Iterator[Record]:
    """Yield one record per HTML response in the file, and one unreadable record per record that cannot be read.

    A `.warc.gz` compressed as one gzip member (not one per record) is read all the same, as a stream. A file
    that breaks off yields every page it holds whole, then one unreadable record saying where it broke: a page
    whose record the break cuts short is that record (with its id and url), not a page read in part. With
    `report`, the records skipped (not HTML pages) are counted in one warning.
    """
    from warcio.exceptions import ArchiveLoadFailed

    progress = _Progress()
    try:
        try:
            start: int | None = 0
            while start is not None:  # each time a record is read past (one gzip member per record)
                try:
                    start = yield from _pages(path, _opened(path, start), mode, progress, start=start)
                except Exception as exc:  # (as below); read on past a damaged stretch where a whole record follows
                    if isinstance(exc, NotWarc) or "non-chunked gzip" in str(exc):
                        raise
                    start = yield from _read_on(path, progress, _break(progress.done, exc), exc)
        except ArchiveLoadFailed as exc:
            if "non-chunked gzip" not in str(exc):
                raise
            # One gzip member for the whole file: read it again as a stream, past the records already read.
            yield from _pages(path, _Inflated(path.open("rb")), mode, progress, start=None)
    except NotWarc as exc:
        yield unreadable(str(path), str(exc), str(path))
    except Exception as exc:  # warcio, gzip and zlib raise many unrelated types for a broken file
        yield _broken(path, progress, _break(progress.done, exc))
    _report(path, progress, report)


def _opened(path: Path, start: int) -> IO[bytes]:
    stream = path.open("rb")
    stream.seek(start)
    return stream


def _break(done: int, exc: Exception) -> str:
    """What an error reading a WARC after record `done` says of the file: that it breaks off (and why, in words a
    user reads: gzip's and zlib's message on its compression, or that a header is cut short), or, when what
    follows is a whole line that is no record's header, that the records after it cannot be found."""
    line = _first_line(exc)
    if line is not None and not _cut_header(line):
        return (
            f"the rest of the file cannot be read: after record {done} comes {line.strip()[:60]!r}, not the header "
            "of a record (the one before may have a wrong Content-Length)"
        )
    first_line = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, OSError | EOFError | zlib.error) and first_line:
        why = f"its compression: {first_line}"
    else:
        # warcio's own errors, and those it raises by what it did not expect (an AttributeError on a header cut
        # short), name no more than that
        why = "the next record's header is cut short or unreadable"
    return f"file breaks off after record {done} ({why})"


def _first_line(exc: BaseException) -> str | None:
    """The line warcio found where a record's header should begin (with its line end if it has one), if that is
    what `exc` says."""
    from warcio.exceptions import ArchiveLoadFailed

    if not isinstance(exc, ArchiveLoadFailed):
        return None
    _, found, line = exc.msg.partition("first line: ")
    return line if found else None


def _pages(
    path: Path, stream: IO[bytes] | _Inflated, mode: str, progress: _Progress, *, start: int | None
) -> Generator[Record, None, int | None]:
    """Each HTML page of the records after the `progress.done` read already, as soon as its record is known to be
    whole (all the bytes its Content-Length declares), and an unreadable record for each that cannot be read.

    `start` is where `stream` begins in the file, a record's start (the file read as it is: record offsets are
    file offsets); None for a whole-file gzip read as a stream from the start. Returns where to read on when a
    record that cannot be read is its own gzip member, whole (the next member), or None: the end of the reading.
    A record cut short ends the reading with an unreadable record, and so does, when `start` is given, a file in
    which something other than padding follows the last record read whole (a header or gzip member cut short).
    """
    from warcio.archiveiterator import WARCIterator

    members = start is not None
    plain = members and _plain(path)
    skip = 0 if members else progress.done
    number = progress.done if members else 0
    last = (start or 0, start or 0)  # where the last record read whole starts and ends, in the file
    if members:
        progress.last = last
    with stream:
        records = WARCIterator(stream, no_record_parse=True)  # HTTP headers read here: `_http_headers`
        records.INC_RECORD = ""  # warcio writes a warning of its own on stderr for a wrong Content-Length
        while True:
            number += 1
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception as exc:
                if not members or "non-chunked gzip" in str(exc):
                    raise
                return (yield from _past_header(path, number, exc, last, progress))
            if number <= skip:
                continue
            read = read_payload(record, records.reader)
            if not read.whole:
                at = records.get_record_offset()
                return (yield from _past_record(path, number, record, read, last if members else None, at, progress))
            errors = records.err_count
            member = last[1]  # where this record's gzip member begins, in a file of one member per record
            try:
                last, failure = _extent(records), None  # (reads on into a break that may follow: raised after)
            except Exception as exc:
                failure = exc
            misframed = (
                records.err_count > errors or _more_in_member(records) or (plain and _two_in_header(path, last[0]))
            )
            if misframed and members and _damaged_member(path, member):
                # What was read of its gzip member framed wrong, and the member is damaged (it does not decompress,
                # or decompresses on into the whole records after it): it, and no more, is lost. (A damaged last
                # member that decompresses to the file's end cannot be told from a file cut short, and reads so.)
                progress.last = (last[0], member)
                return (yield from _past_damaged(path, number, record, member, progress))
            if members:
                progress.last = last
            progress.done = number
            found = _found(path, number, record, read, mode, misframed, progress)
            if found is not None:
                yield found
            if failure is not None:
                raise failure
            if misframed and members:
                if _member_at(path, last[0]):  # warcio read on inside its member: the next record is the next member
                    after = _member_end(path, last[0], last[0])
                    if after is not None and _member_at(path, after):
                        return after
                elif plain:  # a plain record whose Content-Length is wrong: the next whole record, found by its header
                    after = _next_record(path, last[0])
                    if after is not None:
                        return after
    if members and not _ends_clean(path, *last):
        return (yield from _read_on(path, progress, f"file breaks off after record {progress.done}"))
    return None


def _read_on(
    path: Path, progress: _Progress, why: str, exc: Exception | None = None
) -> Generator[Record, None, int | None]:
    """What follows the last record read whole cannot be read (`why`): one unreadable record, and where to read
    on, the next whole record (`_next_record`), if there is one; else the end of the reading, or `exc` raised when
    it is given (the caller says what it means)."""
    after = _next_record(path, progress.last[0])
    begins = progress.last[1]  # (in a file of one gzip member per record, where the next member begins)
    if after is not None and _plain(path) and (after <= begins or not _holds_field(path, begins, after)):
        # In a plain WARC: the last record read ran on into the next whole record (its header's blank line or its
        # Content-Length damaged), or the bytes between them hold no record's header field (the damaged end of the
        # record before, its blank lines). No record is lost there.
        if begins < after:
            log.warning("%s: bytes %s to %s, after record %d, belong to no record", path, begins, after, progress.done)
        return after
    damaged = _damaged_member(path, begins) and (begins > progress.last[0] or progress.done == 0)
    if damaged:
        why = _damaged(begins)
    elif after is not None:
        why = f"bytes {begins:,} to {after:,} hold no record that can be read"
    if after is None:
        if exc is not None and not damaged:
            raise exc
        yield _broken(path, progress, f"{why}, and no whole record follows it" if damaged else why)
        return None
    yield _broken(path, progress, f"{why}; {_read_on_at(after)}")
    progress.done += 1
    return after


def _two_in_header(path: Path, start: int) -> bool:
    """Whether the header of the plain record at `start` holds a second record's first line: a `WARC/1.` that no
    header field's name comes before on its line (the blank line that ended the header was damaged, and the next
    record's header was read as part of it). A field's value naming `WARC/1.0` is no record's first line."""
    with path.open("rb") as raw:
        head, _ = _plain_header(raw, start)
    at = head.find(PLAIN_BEGINS, 1)
    while at >= 0:
        if b":" not in head[head.rfind(b"\n", 0, at) + 1 : at]:
            return True
        at = head.find(PLAIN_BEGINS, at + 1)
    return False


def _holds_field(path: Path, start: int, stop: int) -> bool:
    """Whether bytes `start:stop` of the file hold a WARC header field's name (`WARC-`): what is left of a record
    whose first line is damaged."""
    with path.open("rb") as raw:
        raw.seek(start)
        left, tail = stop - start, b""
        while left > 0:
            chunk = tail + raw.read(min(left, CHUNK))
            if b"WARC-" in chunk:
                return True
            left -= len(chunk) - len(tail)
            tail = chunk[-4:]
            if len(chunk) == len(tail):  # (the file ends)
                return False
    return False


def _past_damaged(
    path: Path, number: int, record: Any, member: int, progress: _Progress
) -> Generator[Record, None, int | None]:
    """Record `number`, whose gzip member (at `member` in the file) is damaged: an unreadable row when it may be a
    page (else counted), and where the next whole record begins, if one does."""
    resumed = _next_record(path, member)
    where = f"; {_read_on_at(resumed)}" if resumed is not None else ", and no whole record follows it"
    progress.done = number
    if record.rec_type in PAGE_RECORDS:
        yield _unreadable(path, number, record, _damaged(member) + where)
    else:
        progress.others[record.rec_type or "untyped"] += 1
    return resumed


def _past_header(
    path: Path, number: int, exc: Exception, last: tuple[int, int], progress: _Progress
) -> Generator[Record, None, int]:
    """Record `number`, whose header warcio could not read (`exc`), after the record at `last` in the file: an
    unreadable record, and where the next one begins, when it is its own gzip member, whole.

    Raises:
        NotWarc: it is the file's first record, no WARC record's header, and nothing follows it.
        Exception: `exc`, when the record cannot be read past (the file breaks off there, or is not one gzip
            member per record).
    """
    after = _member_end(path, *last)
    if number == 1 and (after is None or not _member_at(path, after)) and _next_record(path, 0) is None:
        _check_warc(exc)  # (a first record followed by others is a WARC's, damaged)
    if after is None:
        raise exc
    line = _first_line(exc)
    why = f"not a WARC record (it begins {line.strip()[:60]!r})" if line else "its header cannot be read"
    yield unreadable(f"{path}:record {number}", why, f"{path.name}:record {number}")
    progress.done = number
    return after


def _past_record(
    path: Path, number: int, record: Any, read: Payload, last: tuple[int, int] | None, at: int, progress: _Progress
) -> Generator[Record, None, int | None]:
    """Record `number`, at `at` and not whole (`read.framing` says why), after the record at `last` in the file
    (None for a stream): an unreadable record, and where the next one begins when it is its own gzip member, whole,
    or the next whole record after it; else the end of the reading, said (the records after it cannot be found, or
    the file breaks off in it)."""
    after = _member_end(path, *last) if last is not None else None
    kept = record if record.rec_type in PAGE_RECORDS else None  # (what may be a page is named)
    if after is not None:  # its own gzip member, whole: the next record is found all the same
        progress.done = number
        if kept is None:
            progress.others[record.rec_type or "untyped"] += 1
        else:
            yield _unreadable(path, number, kept, read.framing)
        return after
    # (After this record: a record warcio could not read may still look whole to the scan, and would be counted again.)
    resumed = _next_record(path, at) if last is not None else None
    begins = last[1] if last is not None else -1  # where its gzip member begins, one member per record
    damaged = begins >= 0 and _damaged_member(path, begins)
    why = _damaged(begins) if damaged else read.framing
    if resumed is not None:  # a damaged stretch: read on at the next whole record
        progress.done = number
        if kept is None:
            progress.others[record.rec_type or "untyped"] += 1
        else:
            yield _unreadable(path, number, kept, f"{why}; {_read_on_at(resumed)}")
        return resumed
    if damaged:
        yield _unreadable(path, number, kept, f"{why}, and no whole record follows it")
    elif read.unframed:
        yield _unreadable(path, number, kept, f"{read.framing}; the records after it cannot be found")
    elif read.page:  # (a page cut short is its record; anything else is the rest of the file)
        yield _unreadable(path, number, record, f"file breaks off inside record {number}")
    else:
        yield _broken(path, progress, f"file breaks off inside record {number}")
    return None


def _more_in_member(records: Any) -> bool:
    """Whether something other than a record's header follows the record just read inside its gzip member: its
    Content-Length ends before the record does (warcio notices it only when no blank line comes first)."""
    line = records.next_line
    return bool(line) and records.reader.decompressor is not None and not line.startswith(b"WARC/")


def _cut_header(line: str) -> bool:
    """Whether the line warcio found where a record's header begins may be that header's first line, cut short
    (the file ends in it): a header that is not cut short is not a record's header."""
    return not line.endswith("\n") and (line.startswith("WARC/") or "WARC/1.".startswith(line))


def _check_warc(exc: Exception) -> None:
    """Raise NotWarc when the file's first record fails for its first line being a whole line that does not
    begin as a WARC does (a file cut inside that first line breaks off instead)."""
    line = _first_line(exc)
    if line is None or _cut_header(line):
        return
    raise NotWarc(f"not a WARC file (it begins {line.strip()[:60]!r}, where a WARC file begins 'WARC/1.0')")


def _found(
    path: Path, number: int, record: Any, read: Payload, mode: str, misframed: bool, progress: _Progress
) -> Record | None:
    """What a whole record is: a page, an unreadable page, or None (skipped, and counted)."""
    if record.rec_type not in PAGE_RECORDS:
        progress.others[record.rec_type or "untyped"] += 1
        return None
    html, why = page_html(read, misframed, record.rec_headers)
    if why is not None:
        return _unreadable(path, number, record, why)
    if html is None:
        progress.not_pages[read.media or "no Content-Type"] += 1
        return None
    record_id, metadata = _identity(path, number, record)
    progress.pages += 1
    charset = charset_of_header(read.content_type)
    return pending_page(
        html, record_id, f"{path}:record {number}", mode, metadata=metadata, url=metadata["url"], header_charset=charset
    )


def _identity(path: Path, number: int, record: Any) -> tuple[str, dict[str, Any]]:
    """A record's document id and metadata (`url`, `warc_date`)."""
    headers = record.rec_headers
    record_id = (headers.get_header("WARC-Record-ID") or "").strip("<>") or f"{path.name}:{number}"
    url = headers.get_header("WARC-Target-URI")
    date = headers.get_header("WARC-Date")
    return record_id, ({"url": url, "warc_date": date} if date else {"url": url})


def _unreadable(path: Path, number: int, record: Any, why: str) -> Record:
    """Record `number` as unreadable: with its id and url when it is a page (`record`), else named by the file."""
    where = f"{path}:record {number}"
    if record is None:
        return unreadable(where, why, f"{path.name}:record {number}")
    record_id, metadata = _identity(path, number, record)
    return Record(record_id, None, metadata, where, f"unreadable: {where}: {why}")


def _broken(path: Path, progress: _Progress, why: str) -> Record:
    """The unreadable record standing for whatever followed the last record read whole."""
    number = progress.done + 1
    return unreadable(f"{path}:record {number}", why, f"{path.name}:record {number}")


def _report(path: Path, progress: _Progress, report: bool) -> None:
    """With `report`, one warning for a file that skipped responses or resources that are not HTML pages (their
    types named, most frequent first), the other records skipped counted in it; a file that skipped only
    requests, metadata and the like is logged at INFO, as is everything without `report` (read again)."""
    others = _by_count(progress.others)
    total = sum(count for _, count in others)
    other = f"{total} {'/'.join(kind for kind, _ in others)} record{'s' * (total != 1)} skipped" if others else ""
    pages = f"{path}: {progress.pages} HTML page{'s' * (progress.pages != 1)} read"
    kinds = _by_count(progress.not_pages)
    skipped = sum(count for _, count in kinds)
    listed = [f"{count} {kind}" for kind, count in kinds[:SHOWN_TYPES]]
    if len(kinds) > SHOWN_TYPES:
        listed.append(f"{sum(count for _, count in kinds[SHOWN_TYPES:])} of other types")
    are = "records not HTML pages" if skipped != 1 else "record not an HTML page"
    not_pages = f"{skipped} {are} skipped ({', '.join(listed)})" if skipped else ""
    message = "; ".join(part for part in (pages, not_pages, other) if part)
    log.log(logging.WARNING if report and skipped else logging.INFO, "%s", message)


def _by_count(counts: Counter[str]) -> list[tuple[str, int]]:
    """Counted kinds, most frequent first, then by name; each as it can be shown on a terminal (a damaged header's
    control characters escaped: an escape sequence would act on the terminal, not be read)."""
    shown = [(kind if kind.isprintable() else ascii(kind)[1:-1], count) for kind, count in counts.items()]
    return sorted(shown, key=lambda item: (-item[1], item[0]))


def _extent(records: ArchiveIterator) -> tuple[int, int]:
    """Where the current record starts and ends in the file (reading it to its end)."""
    offset = records.get_record_offset()
    return offset, offset + records.get_record_length()


def _member_end(path: Path, previous: int, start: int) -> int | None:
    """Where the gzip member at `start` in the file ends, when it is whole and followed by another member or by
    nothing but padding, and the record before it, at `previous`, was a gzip member ending there (a file of one
    gzip member per record: a record in it can be read past); else None."""
    with path.open("rb") as raw:
        if previous != start and _whole_member(raw, previous) != start:
            return None
        end = _whole_member(raw, start)
        if end is None:
            return None
        raw.seek(end)
        if raw.read(2) in (GZIP_MAGIC, b""):
            return end
        raw.seek(end)
        return end if _only_padding(raw) else None


def _next_record(path: Path, after: int) -> int | None:
    """Where the first whole record after offset `after` begins, in the file read as it is (a damaged stretch is
    read past to there); None if there is none.

    In a gzip file (named `.gz`, or beginning as gzip does), one gzip member per record: the first member that is
    whole and holds the beginning of a WARC record (a gzip header found by chance inside compressed data is not
    whole, or holds no record's header). In a plain WARC: the first `WARC/1.` whose header is whole and whose
    Content-Length ends the record where the blank lines that end a record are (`_plain_record_at`); a gzip file
    inside a plain WARC's payload is not looked into.
    """
    with path.open("rb") as raw:
        if _plain(path):
            return _scan(raw, after, PLAIN_BEGINS, lambda at: _plain_record_at(raw, at))

        def whole(at: int) -> bool:
            end, _, head = _inflate(raw, at)
            return end is not None and head.startswith(WARC_BEGINS)

        return _scan(raw, after, GZIP_MAGIC + b"\x08", whole)


def _scan(raw: IO[bytes], after: int, begins: bytes, whole: Callable[[int], bool]) -> int | None:
    """The first offset after `after` where `begins` is found and `whole(offset)` holds, or None."""
    at = after + 1
    while True:
        raw.seek(at)
        chunk = raw.read(CHUNK)
        if len(chunk) < len(begins):
            return None
        found = chunk.find(begins)
        if found < 0:
            at += len(chunk) - len(begins) + 1
            continue
        at += found
        if whole(at):
            return at
        at += 1


PLAIN_BEGINS = b"WARC/1."  # how a plain record's first line begins (the line end before it may be what is damaged)
MAX_HEADER = 1 << 20  # bytes a plain record's WARC header is looked for in (a header is a few hundred)
HEADER_READ = 4096  # bytes of a plain record read first for its header (read once per record: `_two_in_header`)


def _plain(path: Path) -> bool:
    """Whether the file is a plain WARC: not named `.gz`, and not beginning as gzip does."""
    if path.name.lower().endswith(".gz"):
        return False
    with path.open("rb") as raw:
        return raw.read(2) != GZIP_MAGIC


def _plain_header(raw: IO[bytes], at: int) -> tuple[bytes, bool]:
    """The header of the plain record at `at` (up to its blank line), and whether that blank line was found (else
    all that was read): a few kilobytes read first, up to MAX_HEADER if the header is longer."""
    raw.seek(at)
    head = raw.read(HEADER_READ)
    end = head.find(b"\r\n\r\n")
    if end < 0:
        head += raw.read(MAX_HEADER - HEADER_READ)
        end = head.find(b"\r\n\r\n")
    return (head, False) if end < 0 else (head[:end], True)


def _plain_record_at(raw: IO[bytes], at: int) -> bool:
    """Whether a whole record begins at `at` in a plain WARC: a `WARC/1.x` line, header lines up to a blank line,
    one Content-Length among them, and that many bytes after the header the two line ends that end a record. (A
    record's payload that happens to hold such a record, a WARC archived in a WARC, is taken for one; the line
    end before it is not asked for, since it may be among the damaged bytes.)"""
    head, ended = _plain_header(raw, at)
    if not ended:
        return False
    lines = head.split(b"\r\n")
    if not (lines[0].startswith(PLAIN_BEGINS) and lines[0][len(PLAIN_BEGINS) :].isdigit()):
        return False
    lengths = [line.partition(b":")[2].strip() for line in lines[1:] if line.lower().startswith(b"content-length:")]
    if len(lengths) != 1 or not lengths[0].isdigit():
        return False
    raw.seek(at + len(head) + 4 + int(lengths[0]))
    return raw.read(4) == b"\r\n\r\n"


def _damaged_member(path: Path, start: int) -> bool:
    """Whether a gzip member begins at `start` whose bytes do not decompress (changed, or some cut out): not one
    that is whole, nor one the file's end cuts short (a file that breaks off). A member whose decompression runs
    on to the file's end without an error is cut short only if no whole record follows it: damaged bytes may
    decompress on through the members after them."""
    if start < 0 or not _member_at(path, start):
        return False
    with path.open("rb") as raw:
        end, damaged, _ = _inflate(raw, start)
    return end is None and (damaged or _next_record(path, start) is not None)


def _damaged(begins: int) -> str:
    """Why a record whose gzip member, at `begins` in the file, is damaged cannot be read."""
    return f"its gzip member, from byte {begins:,}, is damaged (it does not decompress)"


def _read_on_at(after: int) -> str:
    """Where the reading goes on past a stretch that cannot be read."""
    return f"read on from byte {after:,}, where the next whole record begins"


def _member_at(path: Path, offset: int) -> bool:
    """Whether a gzip member begins at `offset` in the file."""
    with path.open("rb") as raw:
        raw.seek(offset)
        return raw.read(2) == GZIP_MAGIC


def _ends_clean(path: Path, start: int, end: int) -> bool:
    """Whether the last record read whole, at `start:end` in the file, is the file's last: nothing but padding
    follows it, and its gzip member, if it is compressed one member per record, ends. A record header or a gzip
    member cut short is not always an error to warcio: it may just stop."""
    with path.open("rb") as raw:
        raw.seek(start)
        if raw.read(2) == GZIP_MAGIC:
            member_end = _whole_member(raw, start)
            if member_end is None:
                return False
            end = member_end
        raw.seek(end)
        return _only_padding(raw)


def _inflate(raw: IO[bytes], start: int, *, blank: bool = False) -> tuple[int | None, bool, bytes]:
    """The gzip member at `start` decompressed: where it ends if it is whole (None if it is cut short or damaged,
    or if no gzip member begins there; with `blank`, also if it holds anything but padding), whether its bytes
    failed to decompress (damaged, not cut short), and the first bytes it holds (as many as `WARC_BEGINS`)."""
    raw.seek(max(start, 0))
    if start < 0 or raw.read(2) != GZIP_MAGIC:
        return None, False, b""
    raw.seek(start)
    member = zlib.decompressobj(wbits=31)
    read = 0
    head = b""
    while not member.eof:
        chunk = raw.read(CHUNK)
        if not chunk:
            return None, False, head
        read += len(chunk)
        try:
            out = member.decompress(chunk, CHUNK if blank else 0)
        except zlib.error:
            return None, True, head
        head += out[: len(WARC_BEGINS) - len(head)]
        if blank and (out.strip(PADDING) or member.unconsumed_tail):
            return None, False, head  # something else, or more than a chunk of padding: not a flush
    return start + read - len(member.unused_data), False, head


def _whole_member(raw: IO[bytes], start: int, *, blank: bool = False) -> int | None:
    """Where the gzip member at `start` ends, if it is whole (None if it is cut short or damaged, or if no gzip
    member begins there); with `blank`, only if it holds nothing but padding, too."""
    return _inflate(raw, start, blank=blank)[0]


def _only_padding(raw: IO[bytes]) -> bool:
    """Whether nothing but padding follows in the file: white space, and gzip members holding nothing else (some
    writers end a file, or flush, with an empty member)."""
    while True:
        at = raw.tell()
        if raw.read(2) != GZIP_MAGIC:
            raw.seek(at)
            return all(not chunk.strip(PADDING) for chunk in iter(lambda: raw.read(CHUNK), b""))
        end = _whole_member(raw, at, blank=True)
        if end is None:
            return False
        raw.seek(end)


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
