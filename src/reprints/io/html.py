"""HTML pages to documents: bytes decoded as a browser would, then the text extracted.

Decoding, first match wins:
1. a byte-order mark;
2. the charset an HTTP header declares (WARC response records; there `utf-16` is UTF-16, little-endian without
   a byte-order mark);
3. the charset the page declares (`<meta charset>`, `<meta http-equiv="Content-Type">` or an XML declaration,
   in its first 8 KiB, else a meta tag before `</head>` in its first 64 KiB; there `utf-16` means UTF-8, the
   WHATWG rule: the declaration was read as ASCII);
4. UTF-8, then the encoding charset-normalizer detects, as for every other input (`reprints.io.decode`).
Labels are those of the WHATWG Encoding Standard, read as browsers read them (`reprints.io.charsets`):
`iso-8859-1`, `latin1` and `us-ascii` mean Windows-1252, `gb2312` means GBK, `shift_jis` Windows-932, `euc-kr`
Windows-949; any other name (`hex`, `utf-7`) is an unknown charset, passed over with a warning, and a page
labelled with one of the `replacement` encoding's labels (`iso-2022-kr`, `hz-gb-2312`) reads as one U+FFFD, as in
a browser. A page declared UTF-8, or declaring nothing, is read as UTF-8 with its invalid sequences replaced by
U+FFFD, as browsers do (pages that are UTF-8 but for a pasted Windows-1252 quote are common), unless they outnumber
its valid multi-byte characters (it is then in a legacy encoding: see `_read_in`). A page in another declared
charset has its few invalid bytes replaced too; a declared charset that more than a tenth of the non-ASCII text
would not decode falls through to the next step, and so does a declared single-byte charset when the bytes are
valid UTF-8 holding multi-byte characters (pages that say ISO-8859-1 and are UTF-8 are common; Windows-1252 text
that happens to be valid UTF-8 is not), and a declared UTF-16 when the bytes are valid UTF-8 without a NUL byte.
A warning says what was done. Only when nothing else decodes is the declared charset used with replacement
characters throughout.

Extraction (`extract`):
- `main`: the main text as trafilatura finds it (article body, tables; no comments, navigation, footers), with the
  page's metadata (`url`, `title`, `date`, `author`, `sitename`, `description` when found). A page with no main
  text becomes an empty document, with a warning (`page` reads all its visible text).
- `page`: all visible text, one line per block element (html-text), with the same metadata.
Character spans in the outputs index the extracted text.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprints.config import EXTRACT_MODES
from reprints.io.charsets import REPLACEMENT, SINGLE_BYTE, UTF16, codec_for, decode_as
from reprints.io.decode import Decoded, detect_legacy, mostly_utf8, strip_bom, utf8_error
from reprints.io.records import Page, Record, unreadable

SNIFF_BYTES = 8192
HEAD_BYTES = 65536  # a page declaring nothing in its first SNIFF_BYTES is searched up to `</head>`, this far at most
MAX_INVALID = 0.1  # a page is read in a legacy charset when at most this share of its non-ASCII characters is invalid
PAGE_VALID_PER_INVALID = 1  # a page is UTF-8 (invalid sequences replaced) unless they outnumber its multi-byte ones
METADATA = ("url", "title", "date", "author", "sitename", "description")

_META = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:\-]+)", re.IGNORECASE)
_XML = re.compile(rb"^\s*<\?xml\b[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:\-]+)", re.IGNORECASE)
_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)
_HEADER = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9._:\-]+)", re.IGNORECASE)


def charset_of_header(content_type: str | None) -> str | None:
    """The charset an HTTP Content-Type header names, or None."""
    if not content_type:
        return None
    found = _HEADER.search(content_type)
    return found.group(1) if found else None


def declared_charset(data: bytes) -> str | None:
    """The charset a page declares in its first 8 KiB (meta tag or XML declaration), else in a meta tag of its
    head (before `</head>`, in its first 64 KiB: pages with inline styles and scripts declare late), or None."""
    head = data[:SNIFF_BYTES]
    found = _META.search(head) or _XML.search(head)
    if found is None and len(data) > SNIFF_BYTES:
        end = _HEAD_END.search(data, 0, HEAD_BYTES)
        found = _META.search(data, 0, end.start() if end else HEAD_BYTES)
    return found.group(1).decode("ascii") if found else None


def decode_html(data: bytes, header_charset: str | None = None) -> Decoded:
    """Decode an HTML page: byte-order mark, HTTP header charset, meta charset, then UTF-8 and detection.

    Returns a `Decoded` whose `warning` says when the page was not read in the charset it declared (or declared
    none and is not UTF-8); `text` is None only for empty input that no step can read.
    """
    body, marked = strip_bom(data)
    if marked is not None:
        try:
            return Decoded(body.decode(marked), marked)
        except UnicodeDecodeError:
            pass
    notes: list[str] = []
    failure = _utf8_failure(body)  # (None: the page is valid UTF-8)
    labels = (("HTTP header", header_charset), ("page", declared_charset(body)))
    declared = [
        (source, label, codec_for(label, in_page=source == "page")) for source, label in labels if label is not None
    ]
    for source, label, codec in declared:
        if codec is None:
            notes.append(f"{source} declares unknown charset {label!r}")
            continue
        if codec == REPLACEMENT:
            notes.append(f"{source} declares {label}, which browsers do not decode: the page reads as one U+FFFD")
            return Decoded(decode_as(body, codec), codec, warning="; ".join(notes))
        if _utf8_instead(body, codec, failure):
            notes.append(f"{source} declares {label} but the page is UTF-8")
            break
        read = _read_in(body, codec, label, failure)
        if read is not None:
            return _noted(read, codec, notes)
        notes.append(f"{source} declares {label} but the page is not {label}")
    read = _read_in(body, "utf-8", "UTF-8", failure)
    if read is not None:
        return _noted(read, "utf-8", notes)
    why = failure or "not UTF-8"  # (it is not: read leniently above, it failed)
    detected = detect_legacy(body, why if notes else f"no charset declared, {why}")
    if detected.text is not None:
        warning = "; ".join([*notes, detected.warning or ""]) if notes else detected.warning
        return Decoded(detected.text, detected.encoding, warning=warning)
    fallback = next((codec for _, _, codec in declared if codec is not None), "cp1252")
    text = decode_as(body, fallback, errors="replace")
    return Decoded(text, fallback, warning="; ".join([*notes, f"read as {fallback} with replacement characters"]))


def _utf8_instead(body: bytes, codec: str, failure: str | None) -> bool:
    """Whether a page declared in `codec` is UTF-8 instead: for a single-byte charset, valid UTF-8 holding
    multi-byte characters (Windows-1252 text that happens to be valid UTF-8 is not); for UTF-16, valid UTF-8
    without a NUL byte (in UTF-16 every ASCII character of the markup has one). `failure`: `_utf8_failure(body)`."""
    if codec in SINGLE_BYTE:
        return not body.isascii() and failure is None
    if codec in UTF16:
        return bool(body) and 0 not in body and failure is None
    return False


def _read_in(body: bytes, codec: str, label: str, failure: str | None) -> tuple[str, str | None] | None:
    """The page read in `codec`, its invalid bytes replaced by U+FFFD as browsers do (with a note saying so), or
    None when the page is not in `codec`: in UTF-8, when its invalid sequences outnumber its valid multi-byte
    characters (text in a legacy encoding read as UTF-8 has two to a thousand times more invalid sequences than
    valid ones; a UTF-8 page with pasted Windows-1252 quotes has few); in another charset, when more than
    `MAX_INVALID` of its non-ASCII characters would be replaced. `failure`: `_utf8_failure(body)`."""
    if codec == "utf-8":
        if failure is None:
            return body.decode("utf-8"), None
        mended = mostly_utf8(body, failure, valid_per_invalid=PAGE_VALID_PER_INVALID)
        return None if mended is None or mended.text is None else (mended.text, mended.warning)
    try:
        return decode_as(body, codec), None
    except UnicodeDecodeError:
        pass
    text = decode_as(body, codec, errors="replace")
    bad = text.count("\ufffd")
    if bad > MAX_INVALID * sum(1 for char in text if ord(char) > 127):
        return None
    return text, f"{bad} bytes are not {label}, replaced"


def _noted(read: tuple[str, str | None], codec: str, notes: list[str]) -> Decoded:
    """A page's text read in `codec`, with a warning of what was noted on the way (None if nothing was)."""
    text, note = read
    noted = [*notes, note] if note else notes
    return Decoded(text, codec, warning="; ".join(noted) + f"; decoded as {codec}" if noted else None)


def _utf8_failure(data: bytes) -> str | None:
    """Where and why `data` is not UTF-8 (None when it is)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return utf8_error(exc)
    return None


@dataclass(frozen=True, slots=True)
class Extracted:
    """The text extracted from a page, its metadata, and a warning when the page had no text to extract."""

    text: str
    metadata: dict[str, str]
    warning: str | None = None


@functools.cache
def _quiet_extractors() -> None:
    """trafilatura and htmldate log every page they cannot parse well at WARNING; reprints reports per page."""
    for name in ("trafilatura", "htmldate", "courlan", "justext"):
        logging.getLogger(name).setLevel(logging.ERROR)


def extract(html: str, mode: str = "main", url: str | None = None) -> Extracted:
    """Extract a page's text (`main` or `page`, see the module docstring) and its metadata.

    Raises:
        ValueError: `mode` is not `main` or `page`.
    """
    if mode not in EXTRACT_MODES:
        raise ValueError(f"extract={mode!r} is unknown: use 'main' (the main text) or 'page' (all visible text)")
    _quiet_extractors()
    import trafilatura

    if mode == "main":
        found: Any = trafilatura.bare_extraction(
            html, url=url, include_comments=False, include_tables=True, with_metadata=True, deduplicate=False
        )
        if found is None or not getattr(found, "text", None):
            meta = _metadata(trafilatura.extract_metadata(html, default_url=url) if html.strip() else None, url)
            return Extracted("", meta, "no main text found (--extract page reads all visible text)")
        return Extracted(found.text, _metadata(found, url))
    import html_text

    text = html_text.extract_text(html) if html.strip() else ""
    meta = _metadata(trafilatura.extract_metadata(html, default_url=url) if html.strip() else None, url)
    return Extracted(text, meta, None if text.strip() else "no visible text")


def _metadata(found: object, url: str | None) -> dict[str, str]:
    """The page's metadata fields that were found; the given `url` (a WARC record's) wins over the page's own."""
    meta: dict[str, str] = {}
    for name in METADATA:
        value = getattr(found, name, None) if found is not None else None
        if isinstance(value, str) and value.strip():
            meta[name] = value
    if url:
        meta["url"] = url
    return meta


def pending_page(
    html: bytes | str,
    doc_id: str,
    where: str,
    mode: str,
    *,
    metadata: Mapping[str, Any] | None = None,
    url: str | None = None,
    header_charset: str | None = None,
) -> Record:
    """One page as a Record whose text is still to be extracted (`finish_page`)."""
    return Record(doc_id, None, dict(metadata or {}), where, page=Page(html, mode, url, header_charset))


def finish_page(record: Record) -> Record:
    """A pending page (`pending_page`) decoded (if bytes) and extracted, its metadata added to the record's (whose
    own fields win). An extraction that fails is an unreadable record."""
    page = record.page
    if page is None:
        return record
    warnings = [record.warning] if record.warning else []  # the reader's own (a line not in UTF-8)
    html = page.html
    if isinstance(html, bytes):
        decoded = decode_html(html, page.header_charset)
        if decoded.warning:
            warnings.append(decoded.warning)
        html = decoded.text or ""
    where = record.where
    try:
        extracted = extract(html, page.mode, page.url)
    except Exception as exc:  # lxml and trafilatura raise many types for pathological markup
        return Record(record.id, None, record.metadata, where, f"unreadable: {where}: HTML not extracted ({exc})")
    if extracted.warning:
        warnings.append(extracted.warning)
    fields = {**extracted.metadata, **record.metadata}
    return Record(record.id, extracted.text, fields, where, warning="; ".join(warnings) or None)


def read_html(path: Path, mode: str) -> Iterator[Record]:
    """Yield an HTML file as one record (to extract: `finish_page`), its id the file name."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield unreadable(str(path), exc.strerror or str(exc), path.name)
        return
    yield pending_page(data, path.name, str(path), mode)
