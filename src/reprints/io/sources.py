"""Input paths to a stream of Documents, in a fixed order: inputs as given, folders sorted."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from reprints.config import ReadConfig
from reprints.errors import InputError
from reprints.io.jsonl import read_jsonl
from reprints.io.parquet import read_parquet
from reprints.io.records import Record
from reprints.io.txt import read_txt
from reprints.types import Document

SUFFIXES = (".txt", ".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    return next((suffix for suffix in SUFFIXES if name.endswith(suffix)), None)


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files to read: each input file, and the supported files inside each folder, sorted.

    Raises:
        InputError: an input does not exist, or a file is of an unsupported format.
    """
    files: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _kind(p))
            if not found:
                raise InputError(f"{path}: folder holds no {', '.join(SUFFIXES)} files")
            files.extend(found)
        elif path.is_file():
            if _kind(path) is None:
                raise InputError(f"{path}: unsupported format; use one of {', '.join(SUFFIXES)}")
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    if not files:
        raise InputError("no input given")
    return files


def _records(path: Path, config: ReadConfig) -> Iterator[Record]:
    kind = _kind(path)
    if kind == ".txt":
        return read_txt(path)
    if kind == ".parquet":
        return read_parquet(path, id_field=config.id_field, text_field=config.text_field)
    return read_jsonl(path, id_field=config.id_field, text_field=config.text_field)


def iter_documents(files: Iterable[Path], config: ReadConfig) -> Iterator[Document]:
    """Every record of every file as a Document, numbered in input order.

    A record that cannot be read still yields a Document, with empty text and its `error` set. A file that
    breaks off part-way (a truncated archive) yields what it could read, then one unreadable Document.
    """
    index = 0
    for path in files:
        try:
            for record in _records(path, config):
                yield Document(record.id, record.text or "", index, record.metadata, record.error)
                index += 1
        except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
            reason = f"unreadable: {path}: read failed after {index} documents ({type(exc).__name__}: {exc})"
            yield Document(f"{path.name}:error", "", index, {}, reason)
            index += 1


def count_hint(files: Iterable[Path]) -> int:
    """Total size in bytes of the input files (for a progress bar)."""
    return sum(path.stat().st_size for path in files)
