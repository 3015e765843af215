"""Parquet files, read in record batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reprints.io.records import Fields, Record, id_text, to_record, unreadable


def read_parquet(path: Path, fields: Fields) -> Iterator[Record]:
    """Yield one record per row.

    A file that is not Parquet is one unreadable record; a file without the text column gives one
    unreadable record per row (with its id when the id column exists), so every row is accounted for.
    """
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        yield unreadable(str(path), f"not a readable Parquet file ({exc})", path.name)
        return
    names = source.schema_arrow.names
    needed, option = (fields.text, "--text-field") if fields.html is None else (fields.html, "--html-field")
    if needed not in names:
        yield from _rows_without_text(
            source, path, fields.id, f"no column {needed!r} (columns: {', '.join(names)}); set {option}"
        )
        return
    number = 0
    try:
        for batch in source.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                number += 1
                yield to_record(row, f"{path}:{number}", f"{path.name}:{number}", fields)
    except Exception as exc:  # a corrupt row group
        yield unreadable(f"{path}:{number + 1}", f"file breaks off after row {number} ({type(exc).__name__}: {exc})")


def _rows_without_text(source: object, path: Path, id_field: str, why: str) -> Iterator[Record]:
    import pyarrow.parquet as pq

    assert isinstance(source, pq.ParquetFile)
    ids: list[object] = [None] * source.metadata.num_rows
    if id_field in source.schema_arrow.names:
        ids = source.read(columns=[id_field]).column(0).to_pylist()
    for number, doc_id in enumerate(ids, start=1):
        where = f"{path}:{number}"
        yield unreadable(where, why, None if doc_id is None else id_text(doc_id))
