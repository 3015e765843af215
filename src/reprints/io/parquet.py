"""Parquet files, read in record batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reprints.errors import InputError
from reprints.io.records import Record, to_record


def read_parquet(path: Path, *, id_field: str, text_field: str) -> Iterator[Record]:
    """Yield one record per row."""
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    names = source.schema_arrow.names
    if text_field not in names:
        raise InputError(f"{path}: no column {text_field!r} (columns: {', '.join(names)}); set --text-field")
    number = 0
    for batch in source.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            yield to_record(row, f"{path.name}:{number}", id_field, text_field)
