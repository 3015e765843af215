"""A raw record as a reader yields it, before it becomes a Document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reprints.config import ReadConfig


@dataclass(frozen=True, slots=True)
class Record:
    """One input record: its id, its text (None if unreadable), its other fields, and where it came from.

    `where` names the file and line or row (`docs.jsonl:7`); `error` says why the record could not be read,
    `warning` what was odd about reading it (a legacy encoding). A page whose text is still to be extracted
    holds it in `page` (`reprints.io.pages` extracts it, in workers).
    """

    id: str
    text: str | None
    metadata: Mapping[str, Any]
    where: str
    error: str | None = None
    warning: str | None = None
    page: Page | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """An HTML page to extract (`reprints.io.html.finish_page`): its markup, the extraction mode, the url to
    credit it to and the charset its HTTP header declares."""

    html: bytes | str
    mode: str
    url: str | None = None
    header_charset: str | None = None


def unreadable(where: str, why: str, doc_id: str | None = None) -> Record:
    """A record that could not be read."""
    return Record(doc_id or where, None, {}, where, f"unreadable: {where}: {why}")


def too_large(record: Record, limit: int) -> Record:
    """A record whose text is over `limit` characters, reported unreadable (its text let go, its fields kept)."""
    why = (
        f"too large: {len(record.text or ''):,} characters, over --max-doc-chars {limit:,} (tokenizing takes about "
        "25 bytes of memory per character)"
    )
    return Record(record.id, None, record.metadata, record.where, f"unreadable: {record.where}: {why}")


@dataclass(frozen=True, slots=True)
class Fields:
    """Which fields of a JSON Lines or Parquet row hold the id and the text, or the HTML to extract the text
    from (`html`, with extraction mode `extract`: see `reprints.io.html`)."""

    id: str = "id"
    text: str = "text"
    html: str | None = None
    extract: str = "main"

    @classmethod
    def of(cls, config: ReadConfig) -> Fields:
        """The fields a run's reading options name."""
        return cls(config.id_field, config.text_field, config.html_field, config.extract)


def id_text(value: Any) -> str:
    """A record's id as the string every output writes: a string as it is, any other JSON value as its JSON text
    (`3`, `2.5`, `true`, `{"k": 1}`, not Python's `True` or `{'k': 1}`), another value (a Parquet date) as `str`."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), allow_nan=True)
    except (TypeError, ValueError):
        return str(value)


def to_record(row: Mapping[str, Any], where: str, fallback_id: str, fields: Fields) -> Record:
    """Turn a parsed row into a Record, reporting a missing or non-string text as an error.

    A row without an id gets `fallback_id` (`FILE:LINE`). With `fields.html` set, the text is extracted from that
    field (a string, or bytes decoded as a page is); the page's metadata joins the row's other fields, which win,
    and the HTML field itself is left out.
    """
    id_field, text_field = fields.id, fields.text
    raw_id = row.get(id_field)
    doc_id = fallback_id if raw_id is None else id_text(raw_id)
    if fields.html is not None:
        return _html_row(row, where, doc_id, fields)
    metadata = {k: v for k, v in row.items() if k not in (id_field, text_field)}
    if text_field not in row:
        return Record(doc_id, None, metadata, where, f"unreadable: {where}: no {text_field!r} field; set --text-field")
    text = row[text_field]
    if not isinstance(text, str):
        kind = type(text).__name__
        return Record(doc_id, None, metadata, where, f"unreadable: {where}: {text_field!r} is {kind}, not a string")
    return Record(doc_id, text, metadata, where)


def _html_row(row: Mapping[str, Any], where: str, doc_id: str, fields: Fields) -> Record:
    from reprints.io.html import pending_page

    assert fields.html is not None
    metadata = {k: v for k, v in row.items() if k not in (fields.id, fields.text, fields.html)}
    if fields.html not in row:
        return Record(doc_id, None, metadata, where, f"unreadable: {where}: no {fields.html!r} field; set --html-field")
    html = row[fields.html]
    if not isinstance(html, str | bytes):
        kind = type(html).__name__
        return Record(doc_id, None, metadata, where, f"unreadable: {where}: {fields.html!r} is {kind}, not HTML")
    url = metadata.get("url")
    return pending_page(
        html, doc_id, where, fields.extract, metadata=metadata, url=url if isinstance(url, str) else None
    )
