"""Bytes to text, the same way for every reader: BOM, then UTF-8 (with a few invalid bytes replaced, when the rest is
UTF-8), then a detected legacy encoding.

Line endings are kept as they are in the file (no newline translation), and a byte-order mark is removed, so
offsets index the decoded text exactly as `compare`, `dedup` and the index read it.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
NUL_SHARE = 0.1  # UTF-8 text with this share of NUL bytes is more likely UTF-16 without a BOM


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded text, the encoding used, and a warning when it was not UTF-8 (None if nothing decodes)."""

    text: str | None
    encoding: str | None
    warning: str | None = None
    error: str | None = None


def strip_bom(data: bytes) -> tuple[bytes, str | None]:
    """The bytes without a leading byte-order mark, and the encoding the mark names (None if no mark)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :], encoding
    return data, None


def decode(data: bytes) -> Decoded:
    """Decode bytes: a byte-order mark's encoding, else UTF-8, else the encoding charset-normalizer detects.

    Returns a `Decoded` whose `text` is None (and `error` says why) only when nothing decodes.
    """
    body, marked = strip_bom(data)
    if marked is not None:
        try:
            return Decoded(body.decode(marked), marked)
        except UnicodeDecodeError as exc:
            return Decoded(None, None, error=f"invalid {marked} after its byte-order mark at byte {exc.start}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        failure = utf8_error(exc)
        if body.count(0) < NUL_SHARE * len(body):
            mended = mostly_utf8(body, failure)
            if mended is not None:
                return mended
    else:
        if not body or body.count(0) < NUL_SHARE * len(body):
            return Decoded(text, "utf-8")
        failure = "UTF-8 with many NUL bytes"
    return detect_legacy(body, failure)


def utf8_error(exc: UnicodeDecodeError) -> str:
    """Where and why bytes are not UTF-8, as warnings and errors say it."""
    return f"invalid UTF-8 at byte {exc.start} ({exc.reason})"


MOSTLY_UTF8 = 4  # valid multi-byte characters per invalid sequence from which a text is UTF-8 with a few bad bytes


def mostly_utf8(body: bytes, failure: str, valid_per_invalid: float = MOSTLY_UTF8) -> Decoded | None:
    """UTF-8 with its few invalid bytes replaced by U+FFFD, when its valid multi-byte characters are at least
    `valid_per_invalid` times its invalid sequences (None otherwise): a stray byte, or a character cut at the end,
    in a UTF-8 text. A text in a legacy encoding has few valid UTF-8 sequences (its accented letters are invalid
    UTF-8 bytes; in Chinese, Japanese or Thai text, one per two to four invalid ones), and is detected as before;
    decoded whole in another encoding, a UTF-8 text turns every accented letter into mojibake."""
    text = body.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd") - body.count("\ufffd".encode())
    multibyte = len(text) - len(text.encode("ascii", "ignore")) - replaced
    if multibyte < valid_per_invalid * replaced:
        return None
    what = "an invalid sequence" if replaced == 1 else f"{replaced} invalid sequences"
    return Decoded(text, "utf-8", warning=f"{failure}: {what} replaced by U+FFFD")


def detect_legacy(body: bytes, failure: str) -> Decoded:
    """The legacy encoding that reads `body` with the least mess: charset-normalizer's best guesses, with
    Windows-1252 (what browsers read Latin-1 pages as) preferred when it reads the bytes as cleanly."""
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    wide_allowed = body.count(0) >= NUL_SHARE * len(body)
    guesses = [
        match
        for match in from_bytes(body)
        if match.encoding and (wide_allowed or not match.encoding.startswith(("utf_16", "utf_32")))
    ]
    least = min((match.chaos for match in guesses), default=1.0)
    encoding: str | None = guesses[0].encoding if guesses else None
    try:
        western = body.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and not wide_allowed and mess_ratio(western, 1.0) <= least:
        encoding = "cp1252"
    if encoding is None:
        return Decoded(None, None, error=f"{failure}, and no other encoding fits")
    encoding = codecs.lookup(encoding).name
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return Decoded(None, None, error=f"{failure}, and no other encoding fits")
    return Decoded(text, encoding, warning=f"not UTF-8 ({failure}); decoded as {encoding}")


def read_text_file(path: Path) -> Decoded:
    """Read and decode a whole file; an OS error is returned as `error`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Decoded(None, None, error=exc.strerror or str(exc))
    return decode(data)
