"""Input paths to a stream of Documents, in a fixed order: inputs as given, folders sorted.

Every problem with the input is one message naming the file and line or row. With `on_error="skip"` (the
default) it is logged as a warning and the run goes on: a record that cannot be read still becomes a
Document (empty text, `error` set), so it is accounted for in the output. With `on_error="fail"` the first
problem raises InputError.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from reprints.config import ReadConfig
from reprints.errors import InputError
from reprints.io.html import read_html
from reprints.io.jsonl import parse_line, raw_jsonl, read_jsonl
from reprints.io.pages import Pages
from reprints.io.parquet import read_parquet
from reprints.io.records import Fields, Record, too_large, unreadable
from reprints.io.slices import Slice, lines_of
from reprints.io.txt import read_txt
from reprints.io.warc import read_warc
from reprints.io.writers import SURROGATES
from reprints.types import Document

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet", ".html", ".htm", ".warc", ".warc.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")
HTML_SUFFIXES = (".html", ".htm")
WARC_SUFFIXES = (".warc", ".warc.gz")
LARGE_DOCUMENT = 10_000_000  # characters; larger documents are processed, with a warning


def kind_of(path: Path) -> str | None:
    """The suffix of `SUFFIXES` a file's name ends with, in any case (None for none)."""
    name = path.name.lower()
    return next((suffix for suffix in SUFFIXES if name.endswith(suffix)), None)


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str]], on_error: str = "skip", exclude: Iterable[Path] = ()
) -> list[Path]:
    """The files to read: each input file, and the supported files inside each folder, sorted.

    Files inside an `exclude` folder (the run's own output and work folders) are not read, and neither is
    anything reprints writes (its hidden files and folders). Inputs that are not regular files (a FIFO, a
    device) are skipped with a warning: reading one could hang the run.

    Raises:
        InputError: no input was given, a path does not exist, or a file is of an unsupported format.
    """
    given = list(inputs)
    if not given:
        raise InputError("no input given")
    excluded = [folder.resolve() for folder in exclude]
    files: list[Path] = []
    for raw in given:
        path = Path(raw)
        if path.is_dir():
            found = []
            root = path.resolve()
            holding = frozenset(_identity(folder) for folder in (root, *root.parents))
            for candidate in sorted(_walk(path, root, holding, {})):
                if not kind_of(candidate) or _ours(candidate, path, excluded):
                    continue
                if candidate.is_file() or candidate.is_symlink():
                    found.append(candidate)
                elif candidate.exists() and not candidate.is_dir():
                    log.warning("%s: not a regular file (a FIFO or device?); skipped", candidate)
            if not found:
                _problem(f"{path}: folder holds no {', '.join(SUFFIXES)} files", on_error)
            files.extend(found)
        elif path.exists() and kind_of(path) is None:
            raise InputError(f"{path}: unsupported format; use one of {', '.join(SUFFIXES)}")
        elif not path.exists() and not path.is_symlink():
            raise InputError(f"{path}: no such file or folder")
        elif not path.exists() and _looping(path):
            continue
        elif path.exists() and not path.is_file():
            log.warning("%s: not a regular file (a FIFO or device?); skipped", path)
        else:
            files.append(path)
    return files


def _identity(folder: Path) -> tuple[int, int]:
    status = folder.stat()
    return status.st_dev, status.st_ino


def _walk(
    folder: Path, root: Path, holding: frozenset[tuple[int, int]], seen: dict[tuple[int, int], Path]
) -> Iterator[Path]:
    """Every file and non-folder inside `folder`, recursively, in sorted order, through symlinks to files and
    folders too (`Path.rglob` does not follow a link to a folder, and skipped what it held without a word).
    Not followed, each with a warning: a symlink to a folder that holds it (one of `holding`, the folders it is
    inside up to the root of the file system: a loop, or a walk of everything around the input), a symlink to
    something inside the input folder `root` (resolved; read through its own path: `latest -> 2024` read each
    file twice), or to something outside it already found through another link (`seen`). Hard links stay files
    of their own. A folder that cannot be listed is skipped with a warning; hidden files and folders (reprints'
    own) are not entered."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        log.warning("%s: cannot list this folder (%s); skipped", folder, exc.strerror or exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if not entry.is_symlink():
            if entry.is_dir():
                yield from _walk(entry, root, holding | {_identity(entry)}, seen)
            else:
                yield entry
            continue
        if not entry.exists():  # a broken link: reported unreadable if it names a file reprints reads
            if not _looping(entry):
                yield entry
            continue
        try:
            target, identity = entry.resolve(), _identity(entry)
        except OSError as exc:
            log.warning("%s: cannot read (%s); skipped", entry, exc.strerror or exc)
            continue
        is_dir = target.is_dir()
        if identity in holding:
            log.warning("%s: a symlink to a folder that holds it (a loop); not followed", entry)
        elif target.is_relative_to(root) and not any(part.startswith(".") for part in target.relative_to(root).parts):
            log.warning("%s: a symlink to %s, inside the input folder; read there, not twice", entry, target)
        elif identity in seen:
            log.warning(
                "%s: a symlink to the same %s as %s; read once", entry, "folder" if is_dir else "file", seen[identity]
            )
        else:
            seen[identity] = entry
            if is_dir:
                yield from _walk(entry, root, holding | {identity}, seen)
            else:
                yield entry


def _looping(path: Path) -> bool:
    """Whether `path` is a symlink that leads back to itself (it names no file; skipped with a warning)."""
    try:
        path.resolve()
    except RuntimeError:  # (Python 3.13 raises OSError for it, with `strict` only)
        log.warning("%s: a symlink that leads back to itself (a loop); skipped", path)
        return True
    except OSError:
        pass
    return False


def _ours(path: Path, root: Path, excluded: list[Path]) -> bool:
    """Whether a file found in an input folder belongs to a reprints run: inside its output or work folder, or
    in a hidden file or folder (staging, checkpoints, partial outputs)."""
    if any(part.startswith(".") for part in path.relative_to(root).parts):
        return True
    resolved = path.resolve()
    return any(resolved.is_relative_to(folder) for folder in excluded)


def _problem(message: str, on_error: str, report: bool = True) -> None:
    if not report:
        return
    if on_error == "fail":
        raise InputError(message)
    log.warning("%s", message)


def _records(path: Path, config: ReadConfig, report: bool = True) -> Iterator[Record]:
    if not path.exists() and not path.is_symlink():
        return iter([unreadable(str(path), "no such file or folder", str(path))])
    kind = kind_of(path)
    if kind == ".txt":
        return read_txt(path)
    if kind in HTML_SUFFIXES:
        return read_html(path, config.extract)
    if kind in WARC_SUFFIXES:
        return read_warc(path, config.extract, report=report)
    fields = Fields.of(config)
    if kind == ".parquet":
        return read_parquet(path, fields)
    if kind is None:
        return iter([unreadable(str(path), f"unsupported format; use one of {', '.join(SUFFIXES)}", str(path))])
    return read_jsonl(path, fields)


def _warnings(record: Record) -> list[str]:
    """What is odd about a readable record: it is still processed."""
    text = record.text or ""
    out = []
    if not any(char.isalnum() for char in text):  # (the tokenizer's word characters; stops at the first)
        out.append(f"{record.where}: empty document (no words: nothing to match; dedup drops it, an index keeps it)")
    if "\x00" in text:
        out.append(f"{record.where}: text holds {text.count(chr(0))} NUL characters (read as separators)")
    if not text.isascii() and SURROGATES.search(text):  # an ASCII text has none: skip the scan
        out.append(
            f"{record.where}: text holds unpaired surrogates (not valid Unicode): kept as \\u escapes in JSON Lines "
            "output, each replaced by U+FFFD in Parquet output and in an index"
        )
    if len(text) > LARGE_DOCUMENT:
        out.append(f"{record.where}: large document ({len(text):,} characters), processed in pieces")
    return out


def iter_documents(
    files: Iterable[Path], config: ReadConfig, *, report: bool = True, pages: Pages | None = None
) -> Iterator[Document]:
    """Every record of every file as a Document, numbered in input order.

    A later document reusing an id is renamed `ID#2`, `ID#3`... so that every output row names one document.
    With `report=False` (a second pass over the same input) problems are not reported again. HTML pages are
    extracted by `pages` (in workers, or read back from the first pass: `reprints.io.pages`), in this process
    when it is None.

    Raises:
        InputError: with `config.on_error == "fail"`, at the first problem.
    """
    names = Names(config.on_error, report)
    index = 0
    records = 0
    for path, record in (pages or Pages()).resolve(_file_records(files, config, report)):
        if record is None:  # the end of a file
            if records == 0 and kind_of(path) not in (".txt", *HTML_SUFFIXES):
                _problem(_empty(path), config.on_error, report)
            records = 0
            continue
        records += 1
        record, problems = checked(record, config)
        for message in problems:
            _problem(message, config.on_error, report)
        doc_id = names.name(record.id, record.where)
        yield Document(doc_id, record.text or "", index, record.metadata, record.error)
        index += 1


def checked(record: Record, config: ReadConfig) -> tuple[Record, list[str]]:
    """A record as it becomes a document (a text over `max_doc_chars` makes it unreadable), and the problems to
    report about it, in order. Needs nothing but the record: workers can check the records they parse."""
    if record.error is None and len(record.text or "") > config.max_doc_chars:
        record = too_large(record, config.max_doc_chars)
    if record.error is not None:
        return record, [record.error.removeprefix("unreadable: ")]
    problems = [f"{record.where}: {record.warning}"] if record.warning is not None else []
    return record, problems + _warnings(record)


class Names:
    """Each document's id, in input order: a later document reusing an id is renamed `ID#2`, `ID#3`... (a
    problem, reported unless `report` is False)."""

    def __init__(self, on_error: str, report: bool = True) -> None:
        self.on_error = on_error
        self.report_problems = report
        self.seen: dict[str, str] = {}  # id -> where its document was read

    def report(self, message: str) -> None:
        """Report a problem with the input (or raise it: `on_error="fail"`)."""
        _problem(message, self.on_error, self.report_problems)

    def name(self, doc_id: str, where: str) -> str:
        """The id of the next document, whose record has id `doc_id` and was read at `where`."""
        seen = self.seen
        if doc_id in seen:
            copy = 2
            while f"{doc_id}#{copy}" in seen:
                copy += 1
            renamed = f"{doc_id}#{copy}"
            message = f"{where}: duplicate id {doc_id!r} (first at {seen[doc_id]}); reported as {renamed!r}"
            self.report(message)
            doc_id = renamed
        seen[doc_id] = where
        return doc_id


def _file_records(files: Iterable[Path], config: ReadConfig, report: bool) -> Iterator[tuple[Path, Record | None]]:
    """(file, record) for every record of every file, and (file, None) at the end of each file (a reader's own
    notes on a file, such as a WARC's skipped records, are logged with `report`)."""
    for path in files:
        for record in _records(path, config, report):
            yield path, record
        yield path, None


def _empty(path: Path) -> str:
    if kind_of(path) in WARC_SUFFIXES:
        return f"{path}: holds no HTML pages (no response or resource record with an HTML payload)"
    return f"{path}: holds no records (an empty file)"


# A record as read again, not yet parsed: a JSON Lines file's line (file, line, line number), or an unreadable
# record (a missing file, a compressed file breaking off).
Raw = tuple[str, bytes, int] | Record


def raw_readable(files: Sequence[Path], config: ReadConfig) -> bool:
    """Whether every input is JSON Lines with its texts in a field (no page to extract): a pass reading them again
    can then hand the lines to workers unparsed (`raw_records`, `raw_documents`)."""
    return config.html_field is None and all(kind_of(path) in JSONL_SUFFIXES for path in files)


def raw_records(files: Iterable[Path], *, report_empty: bool = False) -> Iterator[Raw]:
    """One item per document `iter_documents` makes of `files` (all JSON Lines: `raw_readable`), unparsed; an
    empty file is reported (logged) with `report_empty`, as `iter_documents` would."""
    for path in files:
        if not path.exists() and not path.is_symlink():
            yield unreadable(str(path), "no such file or folder", str(path))
            continue
        name = str(path)
        records = 0
        for item in raw_jsonl(path):
            records += 1
            yield item if isinstance(item, Record) else (name, *item)
        if records == 0 and report_empty:
            report_empty_file(path)


def expand_slices(items: Sequence[Raw | Slice]) -> list[Raw]:
    """The items with each range of a file (`reprints.io.slices.Slice`) replaced by its lines, read here."""
    out: list[Raw] = []
    for item in items:
        if isinstance(item, Slice):
            out.extend(lines_of(item))
        else:
            out.append(item)
    return out


def report_empty_file(path: Path) -> None:
    """Report (log) that an input holds no records, as `iter_documents` does."""
    _problem(_empty(path), "skip", True)


def parse_raw(item: Raw, fields: Fields) -> Record:
    """The record an item of `raw_records` holds."""
    return item if isinstance(item, Record) else parse_line(*item, fields)


def raw_documents(items: Sequence[Raw], first: int, ids: Sequence[str], config: ReadConfig) -> list[Document]:
    """The documents `first`, `first + 1`... that `iter_documents` made of these items, under the ids it gave
    them (`ids`, in order: duplicates were renamed across the whole input).

    Raises:
        InputError: an item's own id is not the one first read there (the input changed).
    """
    fields = Fields.of(config)
    documents = []
    for index, (item, doc_id) in enumerate(zip(items, ids, strict=True), start=first):
        record, _ = checked(parse_raw(item, fields), config)
        if doc_id != record.id and not doc_id.startswith(f"{record.id}#"):
            raise InputError(
                f"{record.where}: the input changed while reprints was running (its id is now {record.id!r}, "
                f"was {doc_id!r}); nothing was published: run again on inputs that stay put"
            )
        documents.append(Document(doc_id, record.text or "", index, record.metadata, record.error))
    return documents
