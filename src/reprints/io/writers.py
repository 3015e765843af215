"""Output files, written atomically: rows go to a hidden temporary file renamed into place on success."""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from reprints.errors import OutputError

PARQUET_CHUNK = 10_000


SURROGATES = re.compile("[\ud800-\udfff]")


def json_value(value: Any) -> Any:
    """A value JSON has no form for, as JSON (what Parquet input's columns can hold): dates and times as ISO
    8601 text, decimals as their exact digits, bytes as base64 text, durations as seconds; anything else as its
    text."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return str(value)


def finite(value: Any) -> Any:
    """`value` with each NaN or infinity (JSON has no form for them; JSON Lines input may hold `NaN` or `1e400`,
    Parquet input any float) as the text `"NaN"`, `"Infinity"` or `"-Infinity"`, which is how they are read."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


# what json.dumps(row, ensure_ascii=False, default=json_value, allow_nan=False) builds on every call
_UTF8 = json.JSONEncoder(ensure_ascii=False, default=json_value, allow_nan=False)


def _utf8_encoder() -> Callable[[Any], str]:
    """`_UTF8.encode`, or the same C encoder made once: `JSONEncoder.encode` makes a new one for every value (and a
    dictionary to watch for circular references, which rows never have), a third of the cost of a short row."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without json's C accelerator
        return _UTF8.encode
    chunks = make(None, json_value, json.encoder.encode_basestring, None, ": ", ", ", False, False, False)
    return lambda value: "".join(chunks(value, 0))


_utf8 = _utf8_encoder()


LONG_TEXT = 256  # characters from which a row's string is encoded by orjson (`dumps`)


def dumps(row: Any) -> str:
    """One JSON value in the form every output file uses: `json.dumps(row, ensure_ascii=False)`, byte for byte,
    with values JSON has no form for written as `json_value` and `finite` say.

    Text is written as UTF-8 except when it holds unpaired surrogates (possible in JSON input, not in UTF-8):
    then the row is written with `\\uXXXX` escapes, which is still valid JSON and loses nothing.

    A row holding a long string (a document's text) has its strings encoded by orjson, several times faster and
    escaping exactly as `json` does; its other values, and every other row, by `json` (orjson writes no spaces
    after separators and some floats differently).
    """
    try:
        return _encode(row)
    except ValueError:  # a NaN or an infinity, which JSON lacks (`json` would write a bare NaN, not JSON)
        return _encode(finite(row))


def _encode(row: Any) -> str:
    """`dumps` of a row (raises ValueError if it holds a NaN or an infinity)."""
    if type(row) is dict and any(type(value) is str and len(value) >= LONG_TEXT for value in row.values()):
        fast = _dumps_long(row)
        if fast is not None:
            return fast
    text = _utf8(row)
    if not text.isascii() and SURROGATES.search(text):
        return json.dumps(row, default=json_value, allow_nan=False)
    return text


def _dumps_long(row: dict[Any, Any]) -> str | None:
    """`dumps` of a dictionary with its string keys and values encoded by orjson (None: a key that is not a
    string, or a string with an unpaired surrogate, which orjson refuses)."""
    parts = []
    try:
        for key, value in row.items():
            if type(key) is not str:
                return None
            encoded_value = orjson.dumps(value).decode() if type(value) is str else _utf8(value)
            if not encoded_value.isascii() and type(value) is not str and SURROGATES.search(encoded_value):
                return None
            parts.append(f"{orjson.dumps(key).decode()}: {encoded_value}")
    except orjson.JSONEncodeError:
        return None
    return "{" + ", ".join(parts) + "}"


Encoded = str | list[dict[str, Any]]  # rows as JSON Lines text, or as rows (for Parquet)


def encoded(rows: list[dict[str, Any]], output_format: str) -> Encoded:
    """Rows ready for `RowWriter.write_encoded`: for JSON Lines, their text (made where the rows are, such as in
    a worker: encoding is most of the cost of writing); for Parquet, the rows themselves."""
    if output_format == "jsonl":
        return "".join([dumps(row) + "\n" for row in rows])
    return rows


def valid_unicode(value: Any) -> Any:
    """Strings with each unpaired surrogate replaced by U+FFFD (same length, so offsets hold), for Parquet and
    the index's SQLite text (UTF-8 both)."""
    if isinstance(value, str):
        return value if value.isascii() else SURROGATES.sub("\ufffd", value)
    if isinstance(value, dict):
        return {key: valid_unicode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [valid_unicode(item) for item in value]
    return value


def _schemas() -> dict[str, Any]:
    import pyarrow as pa

    removed = pa.struct(
        [
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("source_id", pa.string()),
            ("source_start", pa.int64()),
            ("source_end", pa.int64()),
        ]
    )
    return {
        "pairs": pa.schema(
            [
                ("a", pa.string()),
                ("b", pa.string()),
                ("relation", pa.string()),
                ("container", pa.string()),
                ("coverage_a", pa.float64()),
                ("coverage_b", pa.float64()),
                ("spans", pa.list_(pa.list_(pa.int64()))),
            ]
        ),
        "documents": pa.schema(
            [
                ("id", pa.string()),
                ("decision", pa.string()),
                ("reason", pa.string()),
                ("cluster", pa.int64()),
                ("duplicate_of", pa.string()),
                ("removed", pa.list_(removed)),
                ("kept_chars", pa.int64()),
            ]
        ),
        "clusters": pa.schema(
            [
                ("cluster", pa.int64()),
                ("canonical", pa.string()),
                ("members", pa.list_(pa.string())),
                ("contained_in", pa.list_(pa.string())),
            ]
        ),
    }


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


_SPILL = json.JSONEncoder(default=json_value)  # rows kept aside for a Parquet file, read back by `json.loads`


def _column(values: list[Any], as_text: bool) -> Any:
    """A Parquet column of `values` (a pyarrow array): of the type pyarrow gives them, or, `as_text` or when they
    have no Parquet type, as JSON text (`dumps`; None stays null)."""
    import pyarrow as pa

    if not as_text:
        try:
            array = pa.array(values)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            pass
        else:
            if _parquet_holds(array.type):
                return array
    return pa.array([None if value is None else dumps(value) for value in values], pa.string())


def _parquet_holds(kind: Any) -> bool:
    """Whether Parquet can hold an Arrow type: every struct in it has a field."""
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return kind.num_fields > 0 and all(_parquet_holds(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return bool(_parquet_holds(kind.value_type))
    return True


class _Fields:
    """Field names in order of first appearance, and the kinds of value each holds."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.kinds: dict[str, set[str]] = {}

    def update(self, kinds: dict[str, str]) -> None:
        for name, kind in kinds.items():
            if name not in self.kinds:
                self.order.append(name)
                self.kinds[name] = set()
            self.kinds[name].add(kind)


def _field_kinds(row: dict[str, Any]) -> dict[str, str]:
    return {name: _kind(value) for name, value in row.items()}


class RowWriter:
    """Writes rows (dicts) to `folder/name.jsonl` or `folder/name.parquet`, atomically."""

    def __init__(self, folder: Path, name: str, output_format: str) -> None:
        self.format = output_format
        self.path = folder / f"{name}.{output_format}"
        self.temporary = folder / f".{name}.{output_format}.partial"
        self.name = name
        self._rows: list[dict[str, Any]] = []
        self._parquet: Any = None
        self._text: IO[str] | None = None
        self._spilled: IO[str] | None = None
        self._fields = _Fields()
        try:
            if output_format == "jsonl":
                self._text = self.temporary.open("w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise OutputError(f"cannot write {self.temporary}: {exc.strerror or exc}") from exc

    def write(self, row: dict[str, Any]) -> None:
        """Append one row."""
        if self._text is not None:
            self._text.write(dumps(row) + "\n")
            return
        if self.name == "documents":
            row = {
                **row,
                "removed": [
                    dict(zip(("start", "end", "source_id", "source_start", "source_end"), r, strict=True))
                    for r in row["removed"]
                ],
            }
        row = valid_unicode(row)
        if self.name not in _schemas():
            self._spill(row)
            return
        self._rows.append(row)
        if len(self._rows) >= PARQUET_CHUNK:
            self._flush()

    def write_encoded(self, rows: Encoded) -> None:
        """Append rows made by `encoded` (with this file's format)."""
        if isinstance(rows, str):
            assert self._text is not None, "JSON Lines text for a Parquet file"
            self._text.write(rows)
            return
        for row in rows:
            self.write(row)

    def _spill(self, row: dict[str, Any]) -> None:
        """Rows of a file whose schema is the records' own: kept aside as JSON Lines until every record has
        been seen, so the schema is the union of all of them (a field null in the first rows, a field only
        some records have)."""
        if self._spilled is None:
            self._spilled = self.temporary.with_name(f"{self.temporary.name}.rows").open("w+", encoding="utf-8")
        self._spilled.write(_SPILL.encode(row) + "\n")  # NaN and infinities kept: Parquet holds them
        self._fields.update(_field_kinds(row))

    def _flush(self, schema: Any = None) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = schema or _schemas().get(self.name)
        table = pa.Table.from_pylist(self._rows, schema=schema)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.temporary, table.schema)
        self._parquet.write_table(table.cast(self._parquet.schema))
        self._rows = []

    def _write_spilled(self) -> None:
        """Write the spilled rows under the union of their fields. A field is written as JSON text when its values
        have no one Parquet type: values of different kinds in different records, an integer past 64 bits, a
        list mixing kinds, an empty object (a struct without fields, which Parquet cannot hold)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._spilled is None:
            self._rows = []
            self._flush(pa.schema([]))
            return
        self._spilled.seek(0)
        rows = [json.loads(line) for line in self._spilled]
        mixed = {name for name, kinds in self._fields.kinds.items() if len(kinds - {"null"}) > 1}
        table = pa.table({name: _column([row.get(name) for row in rows], name in mixed) for name in self._fields.order})
        del rows
        self._parquet = pq.ParquetWriter(self.temporary, table.schema)
        for start in range(0, table.num_rows, PARQUET_CHUNK):
            self._parquet.write_table(table.slice(start, PARQUET_CHUNK))

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._text is not None:
            self._text.close()
        else:
            if self.name not in _schemas():
                self._write_spilled()
            elif self._rows or self._parquet is None:
                self._flush()
            self._parquet.close()
        self._discard_spill()
        os.replace(self.temporary, self.path)

    def _discard_spill(self) -> None:
        if self._spilled is not None:
            self._spilled.close()
            Path(self._spilled.name).unlink(missing_ok=True)
            self._spilled = None

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
            return
        if self._text is not None:
            self._text.close()
        self._discard_spill()
        self.temporary.unlink(missing_ok=True)


def write_json(path: Path, value: Any) -> None:
    """Write one JSON document atomically."""
    temporary = path.with_name(f".{path.name}.partial")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def prepare_folder(path: Path) -> Path:
    """Create the output folder and check it is writable.

    Raises:
        OutputError: it cannot be created or written.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".reprints-write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {path}: {exc.strerror or exc}") from exc
    return path
