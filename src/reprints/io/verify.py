"""Inputs must not change under a run: what the first pass read is checked by every later read.

The first pass records each input file's size and modification time (the work directory's manifest) and a
checksum of each batch of records (their ids and texts). The write pass reads the inputs again; before and after
it, and at the end of every batch, it checks them against what the first pass saw. A difference is an error and
nothing is published: offsets computed on one text must never be applied to another.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import xxhash

from reprints.errors import InputError
from reprints.types import Document

Item = TypeVar("Item")


def text_digest(text: str) -> int:
    """A 64-bit hash of a text, as `Checksum` takes it (computed where the text is: perhaps in a worker)."""
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))


class Checksum:
    """A running checksum of documents (id and a hash of the text, in order)."""

    def __init__(self) -> None:
        self._hash = xxhash.xxh3_64()

    def add(self, doc: Document) -> None:
        self.add_digest(doc.id, text_digest(doc.text))

    def add_digest(self, doc_id: str, digest: int) -> None:
        """Add a document by its id and `text_digest` of its text (the same as `add`)."""
        self._hash.update(doc_id.encode("utf-8", "surrogatepass"))
        self._hash.update(b"\0")
        self._hash.update(digest.to_bytes(8, "little"))
        self._hash.update(b"\1")

    def value(self) -> int:
        return int(self._hash.intdigest())


def file_states(files: Sequence[Path]) -> list[list[Any]]:
    """Path, size and modification time (ns) of each input file (None for a missing one)."""
    states: list[list[Any]] = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            states.append([str(path.resolve()), None, None])
            continue
        states.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return states


def check_files(files: Sequence[Path], expected: Sequence[Sequence[Any]]) -> None:
    """Raise InputError naming the first input whose size or modification time changed."""
    for path, now, before in zip(files, file_states(files), expected, strict=True):
        if list(now) != list(before):
            raise InputsChanged(path, "its size or modification time differs from the first read")


def verified(
    documents: Iterator[Document], batches: Sequence[tuple[int, int, int]], checksums: Sequence[int]
) -> Iterator[Document]:
    """The documents of a later pass, checked batch by batch against the first pass' checksums.

    Args:
        documents: The documents as read again.
        batches: `(number, first document, documents)` of each batch of the first pass.
        checksums: The first pass' checksum of each batch.

    Raises:
        InputError: a batch's documents differ, or there are more or fewer documents than before.
    """
    for batch in batches_again(documents, batches, checksums):
        check_batch(batch.items, batch.checksum)
        yield from batch.items


@dataclass(frozen=True, slots=True)
class Batch(Generic[Item]):
    """The items of one batch of the first pass as read again (one per document, or ranges of files to read:
    `reprints.io.slices.Slice`), that batch's checksum and its number of documents."""

    first: int  # the batch's first document
    items: list[Item]
    checksum: int
    count: int


def batches_again(
    items: Iterable[Item], batches: Sequence[tuple[int, int, int]], checksums: Sequence[int]
) -> Iterator[Batch[Item]]:
    """A later pass' items (one per document, not yet read into documents: `reprints.io.sources.raw_records`)
    gathered in the first pass' batches, each to be checked with `check_batch` where it is read.

    Raises:
        InputError: there are more or fewer items than documents first read.
    """
    source = iter(items)
    for number, first, count in batches:
        chunk = [item for _, item in zip(range(count), source, strict=False)]
        if len(chunk) < count:
            raise InputsChanged(None, "it now holds fewer documents than first read")
        yield Batch(first, chunk, checksums[number], count)
    total = sum(count for _, _, count in batches)
    if next(source, None) is not None:
        raise InputsChanged(None, f"it now holds more than the {total:,} documents first read")


def check_batch(documents: Sequence[Document], checksum: int) -> None:
    """Check one batch of documents read again against the first pass' checksum of that batch.

    Raises:
        InputError: they differ.
    """
    running = Checksum()
    for doc in documents:
        running.add(doc)
    if documents and running.value() != checksum:
        raise InputsChanged(None, f"documents {documents[0].index:,} to {documents[-1].index:,} differ")


def check_count(first: int, expected: int, found: int) -> None:
    """Check that a batch read again (from its ranges of files) holds as many documents as first read.

    Raises:
        InputError: it does not.
    """
    if found != expected:
        how = f"the batch of documents from {first:,} on now holds {found:,} of them where {expected:,} were first read"
        raise InputsChanged(None, how)


class InputsChanged(InputError):
    """The inputs read again differ from what the first pass read (`how`: the difference found)."""

    def __init__(self, path: Path | None, how: str) -> None:
        what = f"input {path}" if path is not None else "an input"
        super().__init__(
            f"{what} changed while reprints was running ({how}); nothing was published: run again on inputs that "
            "stay put"
        )
        self.path, self.how = path, how

    def __reduce__(self) -> tuple[type[InputsChanged], tuple[Path | None, str]]:
        return InputsChanged, (self.path, self.how)  # raised in a worker, unpickled in the main process
