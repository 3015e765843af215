"""A WARC record's payload: whether the record is whole, its HTTP headers and type, and the HTML page it holds,
its body decoded as a browser decodes it.

warcio parses no HTTP headers for a target URI whose scheme is not in lower case (and fails without one): they are
parsed here. It undoes `Transfer-Encoding: chunked` only when the header says it in lower case, and passes an
encoding it does not know (`x-gzip`, `br` without the brotli module, `zstd`) through undecoded; header values are
case-insensitive (RFC 9110), so the body is decoded here too: the transfer codings, then the content codings, each
in the reverse of the order the headers list them. A record whose headers give no type is a page when its body
begins as HTML does. A page is read whole or not at all: a record marked `WARC-Truncated`, a body that does not
end where its coding says (a gzip stream without its end, a chunked body without its last chunk) or whose coding
cannot be undone is a problem, said in words that follow "its HTTP body" or stand alone.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
PAGE_RECORDS = ("response", "resource")  # the records that may hold a page
SNIFF = 1 << 12  # bytes of an untyped, uncompressed body enough to tell an HTML page by its start
CHUNK = 1 << 16
# The most of a page's body read, as stored or once decoded: a page's text is at most --max-doc-chars (64 million
# characters by default), and a compressed body can decode to 1,000 times its size (gzip) or far more (br, zstd): a
# few megabytes of zeros in a record would otherwise take all memory (a "compression bomb").
MAX_BODY = 1 << 28
MAX_LENGTH_DIGITS = 18  # a Content-Length of more digits is past any file (and past what a read can be asked)
ZSTD_PIECE = 1 << 10  # zstd input fed at a time: at most 32 MiB of output (a 128 KiB block per 4 bytes)

WHITESPACE = b"\t\n\x0c\r "
# What a body of no declared type begins with (after white space) to be read as HTML: the WHATWG MIME sniffing
# standard's patterns for text/html, each tag followed by a space or `>`.
_HTML_START = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|h1|div|font|table|a|style|title|b|br|p)[ >\t\n\x0c\r]|<!--",
    re.IGNORECASE,
)
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]+")
UNTYPED = ("", "unknown/unknown", "application/unknown", "*/*")  # types that say nothing (WHATWG sniffs these)
STATUS_PEEK = 64  # bytes read from a response's start to tell whether an HTTP status line begins it
_INTERIM = re.compile(r"1(?!01)[0-9][0-9]")  # HTTP status codes of interim responses
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True, slots=True)
class Body:
    """A decoded body, or why it cannot be read (`problem`, words to follow "its body")."""

    data: bytes | None
    problem: str | None = None


def media_type(content_type: str | None) -> str:
    """The essence of a Content-Type value (`text/html; charset=utf-8` -> `text/html`), lower case; `""` for none."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def looks_like_html(data: bytes) -> bool:
    """Whether a body of no declared type is an HTML page by its start: white space and a byte-order mark, then
    `<!doctype html`, `<html`, `<head`, `<body` or another of the tags the WHATWG sniffing rules name."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data[2:512].decode("utf-16-le" if data[0] == 0xFF else "utf-16-be", "ignore").encode("ascii", "ignore")
    return _HTML_START.match(data.removeprefix(b"\xef\xbb\xbf").lstrip(WHITESPACE)[:64]) is not None


def _looks_like_markup(data: bytes) -> bool:
    """Whether a body begins as markup does (`<` after white space): a body stored decoded under a header that
    still names the coding the server used, as some crawlers store it."""
    return data.removeprefix(b"\xef\xbb\xbf").lstrip(WHITESPACE)[:1] == b"<"


def codings(header: str | None) -> list[str]:
    """The codings a Transfer-Encoding or Content-Encoding value lists, lower case, `identity` left out."""
    return [c for c in (part.strip().lower() for part in (header or "").split(",")) if c and c != "identity"]


def decode_body(data: bytes, transfer_encoding: str | None, content_encoding: str | None) -> Body:
    """The body of a response: `data` (the bytes after the HTTP headers) with its codings undone, last first.

    A body that is not in a coding its header names at all (chunked data that does not begin with a chunk size, a
    body beginning with markup under `Content-Encoding: gzip`) was stored decoded, and is read as it is.
    """
    for coding in reversed(codings(content_encoding) + codings(transfer_encoding)):
        if coding == "chunked":
            data, problem = _dechunked(data)
        else:
            data, problem = _uncompressed(coding, data)
        if problem is not None:
            return Body(None, problem)
    return Body(data)


def _dechunked(data: bytes) -> tuple[bytes, str | None]:
    """A chunked body's data (RFC 9112 7.1): chunks, each a hex size line and that many bytes, to a chunk of size
    0 (trailers after it are left out). A body that does not begin with a size line is not chunked."""
    out: list[bytes] = []
    at = 0
    while True:
        end = data.find(b"\n", at)
        line = data[at:end] if end >= 0 else data[at:]
        size = _CHUNK_SIZE.fullmatch(line.split(b";", 1)[0].strip(WHITESPACE))
        if at == 0 and (end < 0 or size is None):
            return data, None  # not chunked: stored decoded
        if end < 0 and not (size is not None and int(size.group(), 16) == 0):
            return b"", "is chunked and ends before its last chunk (the page would be read in part)"
        if size is None:
            return b"", f"is chunked and damaged: no chunk size at byte {at} ({bytes(line[:20])!r})"
        length = int(size.group(), 16)
        if length == 0:
            return b"".join(out), None
        start = end + 1
        if start + length > len(data):
            return b"", "is chunked and ends inside a chunk (the page would be read in part)"
        out.append(data[start : start + length])
        at = start + length
        if data.startswith(b"\r\n", at):
            at += 2
        elif data.startswith(b"\n", at):
            at += 1
        elif at < len(data):
            return b"", f"is chunked and damaged: a chunk of {length} bytes is not followed by a line end"


def _too_large(name: str) -> str:
    return f"is {name} data that decodes to more than {MAX_BODY >> 20} MiB (no page so large is read)"


def _uncompressed(coding: str, data: bytes) -> tuple[bytes, str | None]:
    """`data` decompressed in a content coding, or why it cannot be."""
    decompress = _DECOMPRESSORS.get(coding)
    if decompress is None:
        if _looks_like_markup(data):
            return data, None
        return b"", f"is in {coding!r} coding, which reprints cannot decode"
    return decompress(data)


def _gzip(data: bytes) -> tuple[bytes, str | None]:
    """A gzip body: all its members (RFC 1952: a gzip stream is a series of members; a body sent in pieces, each
    compressed on its own, is several), what follows the last one ignored if it is no member."""
    if not data.startswith(GZIP_MAGIC):
        return (data, None) if _looks_like_markup(data) else (b"", "is not gzip data, as its Content-Encoding says")
    parts: list[bytes] = []
    size, rest = 0, data
    while rest.startswith(GZIP_MAGIC):
        out, problem, rest = _zlib(rest, 31, "gzip", MAX_BODY - size)
        if problem is not None:
            return b"", problem
        parts.append(out)
        size += len(out)
    return b"".join(parts), None


def _deflate(data: bytes) -> tuple[bytes, str | None]:
    """Deflate with its zlib header, as the standard says, or without it, as some servers send it."""
    wrapped, problem, _ = _zlib(data, 15, "deflate")
    if problem is None:
        return wrapped, None
    raw, raw_problem, _ = _zlib(data, -15, "deflate")
    if raw_problem is None:
        return raw, None
    return (data, None) if _looks_like_markup(data) else (b"", problem)


def _zlib(data: bytes, wbits: int, name: str, room: int | None = None) -> tuple[bytes, str | None, bytes]:
    """The first stream of `data` decoded (at most `room` bytes, MAX_BODY by default), or why it cannot be; and the
    bytes after it."""
    room = MAX_BODY if room is None else room
    stream = zlib.decompressobj(wbits)
    try:
        out = stream.decompress(data, room + 1)
    except zlib.error as exc:
        return b"", f"is damaged {name} data ({exc})", b""
    if len(out) > room:
        return b"", _too_large(name), b""
    if not stream.eof:
        return b"", f"is {name} data that ends early (the page would be read in part)", b""
    return out, None, stream.unused_data


def _brotli(data: bytes) -> tuple[bytes, str | None]:
    try:
        import brotli
    except ImportError:
        if _looks_like_markup(data):
            return data, None
        return b"", "is compressed with Brotli (br): install the brotli module to read it (pip install brotli)"
    stream = brotli.Decompressor()
    try:
        out: bytes = stream.process(data, output_buffer_limit=MAX_BODY + 1)
    except brotli.error as exc:
        return (data, None) if _looks_like_markup(data) else (b"", f"is damaged Brotli (br) data ({exc})")
    except TypeError:  # brotli before 1.2, which cannot bound its output
        return b"", "is compressed with Brotli (br): reprints needs brotli 1.2 or later (pip install -U brotli)"
    if len(out) > MAX_BODY:
        return b"", _too_large("Brotli (br)")
    if not stream.is_finished():
        return b"", "is Brotli (br) data that ends early (the page would be read in part)"
    return out, None


def _zstd(data: bytes) -> tuple[bytes, str | None]:
    import zstandard

    if not data.startswith(ZSTD_MAGIC):
        return (data, None) if _looks_like_markup(data) else (b"", "is not zstd data, as its Content-Encoding says")
    stream = zstandard.ZstdDecompressor().decompressobj()
    out = bytearray()
    view = memoryview(data)
    try:
        for at in range(0, len(data), ZSTD_PIECE):  # (in pieces: a zstd stream says nothing of its output's size)
            out += stream.decompress(view[at : at + ZSTD_PIECE])
            if len(out) > MAX_BODY:
                return b"", _too_large("zstd")
            if stream.eof:
                break
    except zstandard.ZstdError as exc:
        return b"", f"is damaged zstd data ({exc})"
    if not stream.eof:
        return b"", "is zstd data that ends early (the page would be read in part)"
    return bytes(out), None


_DECOMPRESSORS: dict[str, Callable[[bytes], tuple[bytes, str | None]]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}


@dataclass
class Payload:
    """A record's payload as read: whether the record is whole, the page it may be and its body."""

    whole: bool
    page: bool = False  # a response or resource typed as HTML, or untyped (a page if its body is HTML)
    media: str = ""  # its media type ("" for none)
    content_type: str | None = None
    body: bytes = b""  # (a page's only)
    http: Any = None  # its HTTP headers (warcio StatusAndHeaders), if it has them
    framing: str = ""  # why the record is not whole, when its header says so
    too_large: bool = False  # a page whose body is over MAX_BODY (not read past it)
    unframed: bool = False  # no Content-Length, and more follows: the records after it cannot be found by it


def read_payload(record: Any, reader: Any) -> Payload:
    """Read a warcio record (read with `no_record_parse`) to its end: its HTTP headers, and its body when it may
    be a page. `reader` is the stream the record is read from (to tell a header cut short: nothing follows it)."""
    header = record.rec_headers.get_header("Content-Length")
    length = "" if header is None else header.strip()
    framing = ""
    if header is None:
        framing = "it has no Content-Length"
    elif not (length.isascii() and length.isdigit()):  # ("²".isdigit() holds)
        framing = f"its Content-Length {length[:20]!r} is not a number"
    elif len(length.lstrip("0")) > MAX_LENGTH_DIGITS:
        framing = f"its Content-Length ({length[:20]}...) is larger than any file"
    payload = Payload(whole=False, framing=framing)
    try:
        if record.rec_type in PAGE_RECORDS and not framing:
            _read_page(record, payload)
        drained = _drain(record.raw_stream)
        # A header without its length frames nothing, unless it is cut short: then nothing follows it.
        payload.unframed = bool(framing) and bool(drained or reader.read(1))
    except Exception as exc:  # a payload cut short (gzip, zlib)
        log.debug("%s", exc)
        payload.framing = payload.framing or f"its payload cannot be read ({type(exc).__name__})"
        return payload
    missing: int = getattr(record.raw_stream, "limit", 0)  # bytes the Content-Length declares that are not there
    if not payload.framing and missing:
        payload.framing = f"its Content-Length ({length}) is more than the record holds"
    payload.whole = not payload.framing
    return payload


def _read_page(record: Any, payload: Payload) -> None:
    """The HTTP headers and type of a response or resource, and its body unless its type is not HTML."""
    payload.http = _http_headers(record)
    declared = payload.http.get_header("Content-Type") if payload.http is not None else None
    if declared is None:
        declared = record.rec_headers.get_header("Content-Type")
    content_type = (declared or "").strip().lower()
    payload.media = media_type(content_type)
    if payload.media.startswith("application/http"):
        payload.media = ""  # an HTTP message's type says nothing of its body
    if content_type.startswith(HTML_TYPES):
        payload.page, payload.content_type = True, content_type
    elif payload.media in UNTYPED:
        plain = payload.http is None or not _codings(payload.http)
        head = record.raw_stream.read(SNIFF) if plain else b""
        payload.page = not plain or looks_like_html(head)
        payload.body = head
    if payload.page:
        payload.body += record.raw_stream.read(MAX_BODY + 1 - len(payload.body))
        payload.too_large = len(payload.body) > MAX_BODY
        if payload.too_large:
            payload.body = b""  # (the rest is drained, not kept)


def _codings(http: Any) -> list[str]:
    """The transfer and content codings of a response, as its HTTP headers list them."""
    return codings(http.get_header("Transfer-Encoding")) + codings(http.get_header("Content-Encoding"))


def _http_headers(record: Any) -> Any:
    """A response's HTTP headers, parsed as warcio parses them (it does not for a target URI whose scheme is not
    in lower case, nor without one, where it fails): None for a resource, or a record of no HTTP message."""
    from warcio.recordloader import ArcWarcRecordLoader
    from warcio.statusandheaders import StatusAndHeadersParser

    if record.rec_type != "response" or record.length == 0:
        return None
    uri = (record.rec_headers.get_header("WARC-Target-URI") or "").lower()
    declared = media_type(record.rec_headers.get_header("Content-Type"))
    if not uri.startswith(("http:", "https:")) and declared != "application/http":
        return None
    head = record.raw_stream.read(STATUS_PEEK)
    record.raw_stream = _Prefixed(head, record.raw_stream)
    if not head.lstrip().upper().startswith(b"HTTP/"):
        # The body alone, with no status line or headers (an HTTP/0.9 answer, or a writer that stored the body):
        # its first lines, read as headers up to a blank line, would be lost.
        return None
    parser = StatusAndHeadersParser(ArcWarcRecordLoader.HTTP_TYPES, verify=False)
    try:
        headers = parser.parse(record.raw_stream)
        # Interim responses (100 Continue, 103 Early Hints) come before the response itself, in the same record;
        # a browser reads past them (101 Switching Protocols is the last HTTP response on its connection).
        while _INTERIM.fullmatch(headers.get_statuscode()):
            headers = parser.parse(record.raw_stream)
    except EOFError:
        return None
    return headers


class _Prefixed:
    """A record's payload stream with the bytes read from its start (`head`) put back in front of the rest: what
    warcio's parser and the body's reading read from. `limit` is the rest's (bytes the record lacks, at its end)."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self.head, self.rest = head, rest

    @property
    def limit(self) -> int:
        return int(getattr(self.rest, "limit", 0))

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            rest: bytes = self.rest.read()
            data, self.head = self.head + rest, b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        more: bytes = self.rest.read(size - len(data)) if len(data) < size else b""
        return data + more

    def readline(self, size: int | None = -1) -> bytes:
        end = self.head.find(b"\n")
        if end >= 0 and (size is None or size < 0 or end < size):
            line, self.head = self.head[: end + 1], self.head[end + 1 :]
            return line
        if size is not None and 0 <= size <= len(self.head):
            line, self.head = self.head[:size], self.head[size:]
            return line
        line, self.head = self.head, b""
        # (warcio's LimitReader reads past its limit when given a negative size: given none, it stops there)
        rest: bytes = self.rest.readline() if size is None or size < 0 else self.rest.readline(size - len(line))
        return line + rest


def _drain(raw: Any) -> int:
    """Read a payload to its end; the number of bytes it had left."""
    drained = 0
    while chunk := raw.read(CHUNK):
        drained += len(chunk)
    return drained


def page_html(read: Payload, misframed: bool, headers: Any) -> tuple[bytes | None, str | None]:
    """A page's HTML, or why it cannot be read (a page is read whole or not at all); (None, None) for a record
    that is not an HTML page (an untyped body that is not HTML, or that cannot be decoded to tell). A record whose
    Content-Length does not match it is a page unless its headers say another type: the part its length frames
    (perhaps ending inside its HTTP headers) cannot tell."""
    if not read.page and not (misframed and read.media == ""):
        return None, None
    if misframed:
        length = headers.get_header("Content-Length")
        why = "what follows it is not the blank lines that end a record"
        return None, f"its Content-Length ({length}) does not match the record: {why}"
    truncated = headers.get_header("WARC-Truncated")
    if truncated is not None:
        return (
            None,
            f"the crawler stored it cut short (WARC-Truncated: {truncated.strip()[:40]}); no page is read in part",
        )
    if read.too_large:
        return None, f"its body is over {MAX_BODY >> 20} MiB (no page so large is read)"
    if read.http is None:
        return read.body, None
    body = decode_body(read.body, read.http.get_header("Transfer-Encoding"), read.http.get_header("Content-Encoding"))
    typed = read.content_type is not None
    if body.data is None:
        return None, f"its HTTP body {body.problem}" if typed else None
    if not typed and not looks_like_html(body.data):
        return None, None
    return body.data, None
