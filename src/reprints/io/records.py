"""A raw record as a reader yields it, before it becomes a Document."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Record:
    """One input record: its id, its text (None if unreadable), its other fields, and any read error."""

    id: str
    text: str | None
    metadata: Mapping[str, Any]
    error: str | None


def to_record(row: Mapping[str, Any], where: str, id_field: str, text_field: str) -> Record:
    """Turn a parsed row into a Record, reporting a missing or non-string text as an error."""
    raw_id = row.get(id_field)
    doc_id = where if raw_id is None else str(raw_id)
    metadata = {k: v for k, v in row.items() if k not in (id_field, text_field)}
    if text_field not in row:
        return Record(doc_id, None, metadata, f"unreadable: {where}: no {text_field!r} field")
    text = row[text_field]
    if not isinstance(text, str):
        kind = type(text).__name__
        return Record(doc_id, None, metadata, f"unreadable: {where}: {text_field!r} is {kind}, not a string")
    return Record(doc_id, text, metadata, None)
