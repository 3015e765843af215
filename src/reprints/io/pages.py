"""Extracting pages in workers, in input order, once per run.

Readers yield an HTML page as a pending record (`Record.page`); extraction (decoding, trafilatura or html-text)
is the slowest part of reading a page, tens of milliseconds. `Pages.resolve` sends the pending pages in chunks to
the engine's workers and puts the extracted records back in their places, so the order of records never depends
on the number of workers. The first pass over the input keeps every extracted page in a cache file; the second
pass (writing the outputs) reads them back from it instead of extracting again, and so does the first pass of a
resumed run, for the pages the interrupted run extracted (it extracts the rest).
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from reprints.io.html import finish_page
from reprints.io.records import Record

CHUNK_PAGES = 16  # pages per task: about a third of a second of work
CHUNK_RECORDS = 1024  # records per chunk at most, so a few pages among many text records do not wait long
CHUNK_CHARS = 1_000_000  # characters (text or markup) per chunk at most: what read-ahead holds per chunk

Item = TypeVar("Item")
Mapper = Callable[[Callable[[list[Record]], list[Record]], Iterable[list[Record]]], Iterator[list[Record]]]


def finish_pages(pages: list[Record]) -> list[Record]:
    """Extract each pending page of a chunk (a task run in a worker)."""
    return [finish_page(page) for page in pages]


class Pages:
    """Resolves the pending pages of a stream of records.

    Args:
        mapper: Maps a function over tasks in order (`LocalEngine.map`); None extracts in this process.
        cache: Where the extracted pages are kept. With `replay`, they are read back from it instead (a second
            pass over the same input); a missing cache is extracted again.
        resume: The cache was kept by an interrupted first pass over the same input (a resumed run): the pages it
            holds are read back from it, the rest extracted and added to it.
    """

    def __init__(
        self, mapper: Mapper | None = None, cache: Path | None = None, *, replay: bool = False, resume: bool = False
    ) -> None:
        self.mapper = mapper
        self.cache = cache
        self.replay = replay and cache is not None and cache.exists()
        self.resume = resume and not self.replay and cache is not None and cache.exists()

    def resolve(self, items: Iterable[tuple[Item, Record | None]]) -> Iterator[tuple[Item, Record | None]]:
        """The items with every pending page extracted (`None` records pass through)."""
        if self.replay:
            assert self.cache is not None
            with self.cache.open(encoding="utf-8") as stream:
                yield from _replayed(items, stream)
            return
        if self.cache is None:
            for item, record, _ in self._extracted(items):
                yield item, record
            return
        if self.resume:
            items = yield from self._kept_before(items)
        with self.cache.open("a" if self.resume else "w", encoding="utf-8") as stream:
            for item, record, pending in self._extracted(items):
                if pending is not None and record is not None:
                    stream.write(json.dumps(_kept(pending, record)) + "\n")
                yield item, record

    def _kept_before(
        self, items: Iterable[tuple[Item, Record | None]]
    ) -> Generator[tuple[Item, Record | None], None, Iterator[tuple[Item, Record | None]]]:
        """The items whose pages the cache holds, read back from it; the cache is cut after the last of them (a
        line the interrupted run was writing, or lines that do not match the input, are dropped), and the items
        after them are returned (the generator's value), to be extracted."""
        assert self.cache is not None
        rest = iter(items)
        kept = 0  # bytes of the cache's lines used
        with self.cache.open("rb") as stream:
            for item, record in rest:
                if record is None or record.page is None:
                    yield item, record
                    continue
                line = stream.readline()
                page = _page_of(record, line) if line.endswith(b"\n") else None
                if page is None:
                    rest = itertools.chain([(item, record)], rest)
                    break
                kept += len(line)
                yield item, page
        with self.cache.open("r+b") as stream:
            stream.truncate(kept)
        return rest

    def _extracted(
        self, items: Iterable[tuple[Item, Record | None]]
    ) -> Iterator[tuple[Item, Record | None, Record | None]]:
        """(item, record, the pending page it was extracted from or None)."""
        held: deque[list[tuple[Item, Record | None]]] = deque()

        def tasks() -> Iterator[list[Record]]:
            for chunk in _chunks(items):
                held.append(chunk)
                yield [record for _, record in chunk if record is not None and record.page is not None]

        mapper = self.mapper or map
        for done in mapper(finish_pages, tasks()):
            extracted = iter(done)
            for item, record in held.popleft():
                if record is not None and record.page is not None:
                    yield item, next(extracted), record
                else:
                    yield item, record, None


def _chunks(items: Iterable[tuple[Item, Record | None]]) -> Iterator[list[tuple[Item, Record | None]]]:
    chunk: list[tuple[Item, Record | None]] = []
    pages = chars = 0
    for item, record in items:
        chunk.append((item, record))
        if record is not None:
            pages += record.page is not None
            chars += len(record.text or "") + (len(record.page.html) if record.page is not None else 0)
        if pages >= CHUNK_PAGES or len(chunk) >= CHUNK_RECORDS or chars >= CHUNK_CHARS:
            yield chunk
            chunk, pages, chars = [], 0, 0
    if chunk:
        yield chunk


def _kept(pending: Record, done: Record) -> dict[str, Any]:
    """What the cache keeps of an extracted page: all but the fields its reader gave it (read again)."""
    return {
        "id": done.id,
        "where": done.where,
        "text": done.text,
        "error": done.error,
        "warning": done.warning,
        "fields": list(done.metadata),
        "found": {k: v for k, v in done.metadata.items() if k not in pending.metadata},
    }


def _replayed(items: Iterable[tuple[Item, Record | None]], stream: IO[str]) -> Iterator[tuple[Item, Record | None]]:
    for item, record in items:
        if record is None or record.page is None:
            yield item, record
            continue
        line = stream.readline()
        if not line.endswith("\n"):  # the first pass stopped before this page
            yield item, finish_page(record)
            continue
        page = _page_of(record, line)
        if page is None:
            raise RuntimeError(f"{record.where}: the extracted pages kept by the first pass do not match the input")
        yield item, page


def _page_of(pending: Record, line: str | bytes) -> Record | None:
    """The extracted page the cache's `line` keeps for the `pending` one, or None if it is another page's (or the
    line is damaged)."""
    try:
        kept = json.loads(line)
        if (kept["id"], kept["where"]) != (pending.id, pending.where):
            return None
        own = pending.metadata
        fields = {name: own[name] if name in own else kept["found"][name] for name in kept["fields"]}
        return Record(pending.id, kept["text"], fields, pending.where, kept["error"], kept["warning"])
    except (ValueError, KeyError, TypeError):
        return None
