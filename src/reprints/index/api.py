"""The index as a library: add, query, remove, stats (what `reprints index ...` and the service call)."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

from reprints.config import INDEX_WAIT_SECONDS, Config
from reprints.engines.local import LocalEngine
from reprints.engines.local_stages import raw_plan
from reprints.index.build import COMMIT_BATCHES, add_documents, add_raw, remove_documents
from reprints.index.query import Match, query
from reprints.index.store import Store
from reprints.io import expand_inputs, iter_documents
from reprints.io.pages import Pages
from reprints.io.sources import raw_readable
from reprints.kernels import prefer_compiled_learning
from reprints.report.timing import StageTimer

# Options that only say how to read or run, never what the index holds.
RUN_OPTIONS = {"workers", "batch_chars", "progress"}
COMPILED_LEARNING_FROM = 16 * 1024 * 1024  # bytes of input from which an add learns boilerplate compiled


def open_index(
    folder: str | os.PathLike[str],
    *,
    create: bool = False,
    mapped_mb: int = 0,
    wait: float = INDEX_WAIT_SECONDS,
    **options: Any,
) -> Store:
    """Open an index folder (created with these options' parameters when `create` and it does not exist yet);
    `mapped_mb`: megabytes of its database file each connection maps into memory (a server's, see
    `reprints.config.SERVE_MAPPED_MB`); `wait`: seconds to wait for another process' write lock.

    Raises:
        InputError: the folder holds no index (and `create` is false), or one of another format.
        ConfigError: an option differs from the parameters the index was created with.
    """
    config = Config.from_options(**options)
    store = Store(os.fspath(folder), create=create, config=config, mapped_mb=mapped_mb, wait=wait)
    store.check_parameters(config, options)
    return store


def add(
    index: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]],
    *,
    wait: float = INDEX_WAIT_SECONDS,
    **options: Any,
) -> dict[str, int]:
    """Add every document of the inputs to the index (created if missing); an id already stored is replaced.

    Args:
        index: The index folder.
        inputs: As for `reprints.dedup`.
        wait: Seconds to wait for another process' write lock (then "database is locked").
        **options: Read options (`text_field`, `html_field`...), `workers`, `progress`, and at creation the
            matching parameters (`shingle_size`, `min_passage`...).

    Returns:
        Counts of documents added, replaced and unreadable (left out, reported as warnings).
    """
    config = Config.from_options(**options)
    files = expand_inputs(list(inputs), config.read.on_error)
    size = sum(path.stat().st_size for path in files if path.is_file())
    workers = config.run.workers_for(size)
    if size >= COMPILED_LEARNING_FROM:
        prefer_compiled_learning()
    store = open_index(index, create=True, wait=wait, **{k: v for k, v in options.items() if k not in RUN_OPTIONS})
    with store:
        store.check_writable()  # before any input is read
        with (
            LocalEngine(workers) as engine,
            tqdm(desc="indexing", unit=" docs", disable=not config.run.progress, leave=False) as bar,
        ):

            def advance(count: int) -> None:
                bar.update(count)

            # The workers prepare the next transaction's batches while this process stores the last one's (with two
            # per worker in flight they waited idle through each commit): bulk corpus 11.4 -> 11.05 s.
            mapper = functools.partial(engine.map, ahead=2 * workers + COMMIT_BATCHES)
            if raw_readable(files, config.read) and config.read.on_error == "skip":  # the workers read the lines
                plan = raw_plan(files, config, engine, StageTimer())
                return add_raw(store, plan, config.read, mapper, progress=advance)
            documents = iter_documents(files, config.read, pages=Pages(engine.map))
            return add_documents(store, documents, mapper, batch_chars=config.run.batch_chars, progress=advance)


def remove(index: str | os.PathLike[str], ids: Iterable[str], *, wait: float = INDEX_WAIT_SECONDS) -> list[str]:
    """Remove documents by id; returns the ids the index did not hold (`wait`: as for `add`)."""
    with open_index(index, wait=wait) as store:
        store.check_writable()
        return remove_documents(store, ids)


def search(
    index: str | os.PathLike[str] | Store,
    text: str,
    *,
    doc_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    limit: int | None = None,
) -> list[Match]:
    """Every stored document sharing a passage with `text` (see `reprints.index.query.query`)."""
    if isinstance(index, Store):
        return query(index, text, doc_id=doc_id, metadata=metadata, limit=limit)
    with open_index(index) as store:
        return query(store, text, doc_id=doc_id, metadata=metadata, limit=limit)


def stats(index: str | os.PathLike[str]) -> dict[str, Any]:
    """Documents, anchors, boilerplate lines, size on disk and parameters of an index."""
    with open_index(index) as store:
        return store.stats()
