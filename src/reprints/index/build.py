"""Adding documents to the index and removing them, boilerplate learned as the index grows.

Documents are tokenized and fingerprinted in batches (in the engine's workers); each batch is stored in one
transaction together with what it changes in the learned boilerplate, so a reader never sees documents without
their boilerplate or the reverse.

Boilerplate is learned incrementally, with the rule of `reprints.normalize.boilerplate`: after a batch, each line
the batch brought (or took away) that now recurs in at least `boilerplate_min_docs` documents of its site is
judged again over the lines of its first holders (as many as `learn` examines), with the number of holders in
the whole index. So an add costs what the added documents touch, not the size of the index.
"""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from reprints.config import ReadConfig
from reprints.fingerprint.corpus import TokenBatch, tokenize_batch
from reprints.fingerprint.shingles import SKETCH_SIZE, shingle, winnow
from reprints.index.packing import pack_tokens, seal_row
from reprints.index.postings import ANCHORS, LINES
from reprints.index.store import ROW, Store, Stored, checked_row, pieces, signed
from reprints.io.arrays import offsets_of, ranges
from reprints.io.records import Fields
from reprints.io.slices import Slice
from reprints.io.sources import Names, Raw, checked, expand_slices, parse_raw
from reprints.io.writers import dumps, valid_unicode
from reprints.normalize.boilerplate import LONG_LINE_FACTOR, MAX_PAIRS, learn, line_keys, site_line_keys, site_of
from reprints.normalize.template import template_mask
from reprints.normalize.tokens import Tokens
from reprints.types import Document

Mapper = Callable[[Any, Iterable[Any]], Iterator[Any]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the index stores of one document besides its text (computed in a worker)."""

    doc_hash: int
    tokens: int
    anchors: bytes  # distinct anchor hashes, as SQLite integers (int64)
    line_hashes: bytes  # uint64 per line (the site is mixed in when stored)
    line_tokens: bytes  # int64 per line
    sketch: bytes  # SKETCH_SIZE uint64
    token_arrays: bytes  # its tokens, lines and template marks (`reprints.index.packing.pack_tokens`)


@dataclass(frozen=True, slots=True)
class PrepareTask:
    """A picklable tokenize-and-fingerprint of a batch of texts."""

    shingle_size: int
    window: int
    seed: int

    def __call__(self, texts: list[str]) -> tuple[list[Any], ...]:
        """The batch's `Prepared` as columns (a list per field): one list of bytes pickles much faster than an
        object per document, and the main process unpickles every batch while it writes to SQLite."""
        prepared = prepare(texts, self.shingle_size, self.window, self.seed)
        return tuple([getattr(doc, name) for doc in prepared] for name in Prepared.__dataclass_fields__)


def _rows_of(columns: tuple[list[Any], ...]) -> list[Prepared]:
    """`PrepareTask`'s columns back into one `Prepared` per document."""
    return [Prepared(*fields) for fields in zip(*columns, strict=True)]


def prepare(texts: list[str], shingle_size: int, window: int, seed: int) -> list[Prepared]:
    """Per text: exact-text hash, tokens, anchors (whole text), lines and sketch."""
    return prepare_tokens(tokenize_batch(texts, seed), shingle_size, window, seed)


def anchors_of(batch: TokenBatch, shingle_size: int, window: int, seed: int) -> list[np.ndarray]:
    """The distinct anchors of each document of a tokenized batch (whole texts), as SQLite integers (int64)."""
    offsets = offsets_of(batch.token_counts)
    lead, trail = batch.lead.astype(np.int64), batch.trail.astype(np.int64)
    shingles, shingle_offsets = shingle(Tokens(lead, trail, batch.hashes, offsets, lead, trail), shingle_size, seed)
    anchor_docs, anchor_hashes = winnow(shingles, shingle_offsets, window)  # distinct, sorted, per document
    anchor_start = np.searchsorted(anchor_docs, np.arange(len(offsets)))
    signed_hashes = anchor_hashes.view(np.int64)
    return [signed_hashes[lo:hi] for lo, hi in itertools.pairwise(anchor_start.tolist())]


def prepare_tokens(batch: TokenBatch, shingle_size: int, window: int, seed: int) -> list[Prepared]:
    """`prepare` of an already tokenized batch."""
    texts = range(len(batch.token_counts))
    offsets = offsets_of(batch.token_counts)
    anchors = anchors_of(batch, shingle_size, window, seed)
    line_start = np.searchsorted(batch.line_docs, np.arange(len(texts) + 1))
    line_tokens = (batch.line_token_end - batch.line_token_start).astype(np.int64)
    packed = pack_tokens(batch, template_mask(batch.hashes, offsets, seed))
    out = []
    for doc in range(len(texts)):
        lo, hi = int(line_start[doc]), int(line_start[doc + 1])
        out.append(
            Prepared(
                int(np.int64(batch.doc_hashes[doc].view(np.int64))),
                int(batch.token_counts[doc]),
                anchors[doc].tobytes(),
                batch.line_hashes[lo:hi].astype(np.uint64).tobytes(),
                line_tokens[lo:hi].tobytes(),
                batch.doc_sketches[doc].astype(np.uint64).tobytes(),
                packed[doc],
            )
        )
    return out


def _batches(documents: Iterable[Document], chars: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    size = 0
    for doc in documents:
        batch.append(doc)
        size += len(doc.text)
        if size >= chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class Evidence:
    """What boilerplate learning reads of stored documents (`_relearn`), kept across the transactions of one add:
    each transaction judges the lines it touched over their first holders, mostly the same documents as the
    transaction before, which were read from SQLite again and again. Valid while the database changes only
    through this add's own transactions on one connection: anything else (another writer's commit, a removal by
    this add, another connection) empties it."""

    MAX_LINES = 4_000_000  # lines kept at most (about 100 MB); past that it starts again

    def __init__(self) -> None:
        self.documents: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, bytes]] = {}
        self.lines = 0
        self.state: tuple[int, int] | None = None  # (connection, data_version) it was filled under

    def check(self, db: sqlite3.Connection) -> None:
        """Call at the start of a transaction: forget everything if the database may have changed under it."""
        state = (id(db), int(db.execute("PRAGMA data_version").fetchone()[0]))
        if state != self.state or self.lines > self.MAX_LINES:
            self.forget()
        self.state = state

    def forget(self) -> None:
        """Forget every document (this add removed some: their numbers may be given again)."""
        self.documents.clear()
        self.lines = 0

    def keep(self, num: int, entry: tuple[np.ndarray, np.ndarray, np.ndarray, bytes]) -> None:
        self.documents[num] = entry
        self.lines += len(entry[0])


COMMIT_BATCHES = 16  # batches stored in one transaction, their boilerplate learned once (see `add_documents`)


def add_documents(
    store: Store,
    documents: Iterable[Document],
    mapper: Mapper = map,
    *,
    batch_chars: int = 1_000_000,
    progress: Callable[[int], None] | None = None,
    commit_batches: int = COMMIT_BATCHES,
) -> dict[str, int]:
    """Store documents (an id already stored is replaced); returns counts of added, replaced and unreadable.

    Documents are prepared in batches of about `batch_chars` characters; every `commit_batches` batches are
    stored in one transaction, with the boilerplate they change learned once for all of them (learning after
    every batch judged the same lines again and again, and a commit costs a flush to disk)."""
    fp = store.config.fingerprint
    task = PrepareTask(fp.shingle_size, fp.window, fp.seed)
    site_field = store.config.boilerplate.site_field
    counts = {"added": 0, "replaced": 0, "unreadable": 0}
    readable: Iterator[Document] = (doc for doc in documents if doc.error is None or _unreadable(doc, counts))
    pending: list[list[Document]] = []  # batches sent to the workers, in order

    def texts() -> Iterator[list[str]]:
        for batch in _batches(readable, batch_chars):
            pending.append(batch)
            yield [doc.text for doc in batch]

    prepared = (
        ([entry_of(doc, site_field) for doc in pending.pop(0)], _rows_of(columns)) for columns in mapper(task, texts())
    )
    return _store_all(store, prepared, counts, progress, commit_batches)


def add_raw(
    store: Store,
    batches: Iterable[list[Raw] | list[Slice]],
    read: ReadConfig,
    mapper: Mapper = map,
    *,
    progress: Callable[[int], None] | None = None,
    commit_batches: int = COMMIT_BATCHES,
) -> dict[str, int]:
    """`add_documents` of JSON Lines not yet parsed (`reprints.engines.local_stages.raw_plan`: lines, or ranges of
    files the workers read): the workers read, parse, check and prepare them (`RawPrepareTask`); this process
    names and reports the documents as `reprints.io.iter_documents` would (`read.on_error` must be "skip"), and
    stores them. The main process of an add of plain JSON Lines thus never reads their bytes."""
    fp = store.config.fingerprint
    task = RawPrepareTask(PrepareTask(fp.shingle_size, fp.window, fp.seed), read, store.config.boilerplate.site_field)
    counts = {"added": 0, "replaced": 0, "unreadable": 0}
    names = Names(read.on_error)

    def named(results: Iterator[tuple[ParsedEntries, tuple[list[Any], ...]]]) -> Iterator[_Prepared]:
        for parsed, columns in results:
            entries = []
            readable = iter(zip(parsed.texts, parsed.metadata, parsed.sites, strict=True))
            for own_id, where, problems, error in zip(
                parsed.ids, parsed.wheres, parsed.problems, parsed.errors, strict=True
            ):
                for message in problems:
                    names.report(message)
                doc_id = names.name(own_id, where)
                if error is not None:
                    counts["unreadable"] += 1
                    continue
                entries.append(Entry(valid_unicode(doc_id), *next(readable)))  # as `entry_of` stores it
            yield entries, _rows_of(columns)

    return _store_all(store, named(mapper(task, batches)), counts, progress, commit_batches)


_Prepared = tuple[list["Entry"], list[Prepared]]  # a batch's documents and what was prepared of each


def _store_all(
    store: Store,
    batches: Iterable[_Prepared],
    counts: dict[str, int],
    progress: Callable[[int], None] | None,
    commit_batches: int,
) -> dict[str, int]:
    """Store prepared batches, `commit_batches` a transaction (see `add_documents`); `counts` as it returns."""
    group: list[_Prepared] = []
    evidence = Evidence()

    def commit() -> None:
        with store.writing() as db:
            evidence.check(db)
            changes = Changes()
            touched = Touched()
            for batch, prepared in group:
                replaced = _store_batch(store, db, batch, prepared, touched, changes)
                if replaced:  # documents removed (or an id repeated in the batch)
                    evidence.forget()
                counts["replaced"] += replaced
                counts["added"] += len(batch) - replaced
            changes.write(store, db)
            _relearn(store, db, touched, evidence)
        if progress is not None:
            progress(sum(len(batch) for batch, _ in group))
        group.clear()

    for batch in batches:
        if batch[0]:
            group.append(batch)
        if len(group) >= commit_batches:
            commit()
    if group:
        commit()
    return counts


@dataclass(frozen=True, slots=True)
class Entry:
    """A document as the index stores it besides what `prepare` makes of its text: its id, text, metadata (as
    JSON) and site name (`site_of`)."""

    id: str
    text: str
    metadata: str
    site: str


def entry_of(doc: Document, site_field: str | None) -> Entry:
    """The document as stored. SQLite holds UTF-8 text, which cannot carry an unpaired surrogate (JSON input
    can): one in the text, id or site is stored as U+FFFD (one character for one, so offsets hold). The metadata
    is stored as JSON written as the outputs write it (`reprints.io.writers.dumps`: a surrogate as a `\\uXXXX`
    escape, a NaN or infinity as text, a date as ISO 8601...)."""
    metadata = dict(doc.metadata)
    encoded = dumps(metadata)  # as the outputs write it
    site = site_of(metadata, site_field)
    return Entry(valid_unicode(doc.id), valid_unicode(doc.text), encoded, valid_unicode(site))


@dataclass(frozen=True, slots=True)
class ParsedEntries:
    """A batch of JSON Lines as a worker parsed it (`RawPrepareTask`), in input order: of every record, its own id,
    where it was read, the problems to report and its error (None: readable); of the readable ones only, in
    order, their texts, metadata (JSON) and site names."""

    ids: list[str]
    wheres: list[str]
    problems: list[list[str]]
    errors: list[str | None]
    texts: list[str]
    metadata: list[str]
    sites: list[str]


@dataclass(frozen=True, slots=True)
class RawPrepareTask:
    """A `PrepareTask` over JSON Lines not yet parsed (lines, or ranges of files read here): the records are parsed
    and checked as `reprints.io.iter_documents` checks them, and the readable ones prepared."""

    prepare: PrepareTask
    read: ReadConfig
    site_field: str | None

    def __call__(self, items: list[Raw] | list[Slice]) -> tuple[ParsedEntries, tuple[list[Any], ...]]:
        fields = Fields.of(self.read)
        records = [checked(parse_raw(item, fields), self.read) for item in expand_slices(items)]
        readable = [
            entry_of(Document(record.id, record.text or "", 0, record.metadata), self.site_field)
            for record, _ in records
            if record.error is None
        ]
        parsed = ParsedEntries(
            [record.id for record, _ in records],
            [record.where for record, _ in records],
            [problems for _, problems in records],
            [record.error for record, _ in records],
            [entry.text for entry in readable],
            [entry.metadata for entry in readable],
            [entry.site for entry in readable],
        )
        return parsed, self.prepare([entry.text for entry in readable])


def _unreadable(doc: Document, counts: dict[str, int]) -> bool:
    counts["unreadable"] += 1
    return False


def _store_batch(
    store: Store,
    db: sqlite3.Connection,
    batch: list[Entry],
    prepared: list[Prepared],
    touched: Touched,
    changes: Changes,
) -> int:
    """Insert a batch (replacing stored ids; of an id repeated in the batch the last one counts); returns how
    many documents replaced one already stored. Statements are issued per batch, not per document."""
    last = {doc.id: position for position, doc in enumerate(batch)}
    stored: set[str] = set()
    for piece in pieces(list(last)):
        rows = db.execute(f"SELECT id FROM documents WHERE id IN ({','.join('?' * len(piece))})", piece)
        stored.update(row[0] for row in rows)
    for doc_id in sorted(stored):
        _remove(store, db, doc_id, touched, changes)
    replaced = len(batch) - len(last) + len(stored)
    sites = {name: number for number, name in db.execute("SELECT number, name FROM sites")}
    # exact-text hash -> (first document, its site)
    firsts = store.first_copies(db, (prep.doc_hash for prep in prepared if prep.tokens > 0))
    first_copies: list[tuple[Prepared, int, int]] = []  # with their site and number
    for position, (doc, prep) in enumerate(zip(batch, prepared, strict=True)):
        if last[doc.id] != position:
            continue
        name = doc.site
        if name not in sites:
            sites[name] = len(sites)
            db.execute("INSERT INTO sites VALUES (?, ?)", (sites[name], name))
        site = sites[name]
        first = firsts.get(prep.doc_hash) if prep.tokens > 0 else None
        cursor = db.execute(
            "INSERT INTO documents (id, text, metadata, site, doc_hash, tokens, line_hashes, line_tokens, sketch) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc.id,
                doc.text,
                doc.metadata,
                site,
                prep.doc_hash,
                prep.tokens,
                prep.line_hashes,
                seal_row(site, prep.doc_hash, prep.tokens, prep.line_hashes, prep.line_tokens, prep.sketch),
                prep.sketch,
            ),
        )
        num = int(cursor.lastrowid or 0)
        db.execute("INSERT INTO tokens VALUES (?, ?)", (num, prep.token_arrays))
        if first is None:  # the first copy of its text: joined for candidates, evidence for boilerplate
            if prep.tokens > 0:
                firsts[prep.doc_hash] = (num, site)
            first_copies.append((prep, site, num))
    line_values, line_nums = _line_rows([(prep.line_hashes, site, num) for prep, site, num in first_copies])
    touched.append(*np.unique(line_values, return_counts=True))
    anchors = [np.frombuffer(prep.anchors, dtype=np.int64) for prep, _, _ in first_copies]
    nums = np.array([num for _, _, num in first_copies], dtype=np.int64)
    changes.add(ANCHORS, _joined(anchors), np.repeat(nums, [len(a) for a in anchors]), live=True)
    changes.add(LINES, line_values, line_nums, live=True)
    return replaced


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)


def _line_rows(documents: list[tuple[bytes, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The rows (line key, document number) of documents given as (packed line hashes, site, number): each
    document's distinct keys (SQLite integers), sorted by key, then number."""
    counts = [len(packed) // 8 for packed, _, _ in documents]
    hashes = np.frombuffer(b"".join(packed for packed, _, _ in documents), dtype=np.uint64)
    sites = np.repeat(np.array([site for _, site, _ in documents], dtype=np.int64), counts)
    nums = np.repeat(np.array([num for _, _, num in documents], dtype=np.int64), counts)
    return _sorted_pairs(line_keys(hashes, sites).view(np.int64), nums)


def _sorted_pairs(values: np.ndarray, nums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows (value, num), sorted by value, then num: inserts in key order touch each B-tree page
    once (sorted as arrays, where sorting a list of tuples cost a second)."""
    order = np.lexsort((nums, values))
    values, nums = values[order], nums[order]
    distinct = np.ones(len(values), dtype=np.bool_)
    distinct[1:] = (values[1:] != values[:-1]) | (nums[1:] != nums[:-1])
    return values[distinct], nums[distinct]


class Touched:
    """The line keys a transaction changed the holders of, as arrays: those it appended holders to (with how many)
    and those a removal changed (whose first holders may have changed: never settled, see `_relearn`)."""

    def __init__(self) -> None:
        self.reshuffled: list[np.ndarray] = []
        self.appended: list[tuple[np.ndarray, np.ndarray]] = []

    def reshuffle(self, keys: np.ndarray) -> None:
        """A removal changed the holders of `keys` (those of the document removed, or of the copy taking its
        place as the first copy of its text)."""
        self.reshuffled.append(np.asarray(keys, dtype=np.int64))

    def append(self, keys: np.ndarray, holders: np.ndarray) -> None:
        """Distinct `keys` have `holders` more holders each."""
        self.appended.append((np.asarray(keys, dtype=np.int64), np.asarray(holders, dtype=np.int64)))

    def keys(self) -> np.ndarray:
        """Every key touched, distinct and sorted."""
        return np.unique(_joined([*self.reshuffled, *(keys for keys, _ in self.appended)]))

    def only_appended(self) -> tuple[np.ndarray, np.ndarray]:
        """The keys only appended to (no removal changed them), sorted, and how many holders were appended."""
        keys = _joined([keys for keys, _ in self.appended])
        distinct, where = np.unique(keys, return_inverse=True)
        counts = np.bincount(where, weights=_joined([holders for _, holders in self.appended]), minlength=len(distinct))
        kept = ~np.isin(distinct, _joined(self.reshuffled))
        return distinct[kept], counts[kept].astype(np.int64)


class Changes:
    """What one transaction changes in the holders of anchors and lines, in order: written as one run of each
    (`reprints.index.postings`) before boilerplate is learned again, which reads the lines' holders."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {ANCHORS: [], LINES: []}

    def add(self, kind: str, keys: np.ndarray, nums: np.ndarray, *, live: bool) -> None:
        """Documents `nums[i]` now hold (`live`) or no longer hold keys `keys[i]`."""
        keys = np.asarray(keys, dtype=np.int64)
        self.parts[kind].append((keys, np.asarray(nums, dtype=np.int64), np.full(len(keys), live, dtype=np.bool_)))

    def write(self, store: Store, db: sqlite3.Connection) -> None:
        for kind, parts in self.parts.items():
            if parts:
                columns = [np.concatenate(column) for column in zip(*parts, strict=True)]
                store.postings.write(db, kind, *columns)
                parts.clear()


def _remove(store: Store, db: sqlite3.Connection, doc_id: str, touched: Touched, changes: Changes) -> bool:
    """Remove a stored document (its anchors, lines and text); False if no document has this id. When it was
    the first copy of its text, the next copy takes its place in the join and as boilerplate evidence."""
    row = db.execute("SELECT num FROM documents WHERE id = ?", (doc_id,)).fetchone()
    if row is None:
        return False
    doc = store.documents(db, [int(row[0])])[0]
    first = store.first_copy(db, doc.doc_hash, doc.tokens)
    if first is None or first == doc.num:  # a first copy (or an empty text): it has anchors and lines
        _holds(store, db, changes, touched, doc, live=False)
    db.execute("DELETE FROM documents WHERE num = ?", (doc.num,))
    db.execute("DELETE FROM tokens WHERE num = ?", (doc.num,))
    successor = store.first_copy(db, doc.doc_hash, doc.tokens) if first == doc.num else None
    if successor is not None:
        _holds(store, db, changes, touched, store.documents(db, [successor])[0], live=True)
    return True


def _holds(
    store: Store, db: sqlite3.Connection, changes: Changes, touched: Touched, doc: Stored, *, live: bool
) -> None:
    """Record that a stored document now holds (`live`) or no longer holds its anchors and distinct line keys,
    both made from its stored tokens (sealed; its text is not); its keys are touched."""
    fp = store.config.fingerprint
    batch = store.tokenized(db, [doc])[0]
    anchors = anchors_of(batch, fp.shingle_size, fp.window, fp.seed)[0]
    changes.add(ANCHORS, anchors, np.full(len(anchors), doc.num), live=live)
    keys = _line_rows([(batch.line_hashes.astype(np.uint64).tobytes(), doc.site, doc.num)])[0]
    changes.add(LINES, keys, np.full(len(keys), doc.num), live=live)
    touched.reshuffle(keys)


def remove_documents(store: Store, ids: Iterable[str]) -> list[str]:
    """Remove documents by id, in one transaction; returns the ids that were not stored. An id holding an unpaired
    surrogate (a file name not in UTF-8, as Python reads it) names the document stored with U+FFFD in its place
    (`entry_of`)."""
    missing = []
    with store.writing() as db:
        touched = Touched()
        changes = Changes()
        for doc_id in map(valid_unicode, ids):
            if not _remove(store, db, doc_id, touched, changes):
                missing.append(doc_id)
        changes.write(store, db)
        _relearn(store, db, touched)
    return missing


def _relearn(store: Store, db: sqlite3.Connection, touched: Touched, evidence: Evidence | None = None) -> None:
    """Judge again the line keys a transaction touched (see the module's docstring). A key it only appended
    holders to is left as it was when it already had `learn`'s first holders and enough for its long-line rule:
    its verdict rests on those first holders and that threshold, which later documents do not change."""
    settings = store.config.boilerplate
    asked = touched.keys()
    if not settings.boilerplate or not len(asked):
        return
    offsets, nums_held = store.postings.holders(db, LINES, asked)
    held = np.diff(offsets)
    appended_keys, appended = touched.only_appended()
    appended_to = np.zeros(len(asked), dtype=np.int64)
    appended_to[np.searchsorted(asked, appended_keys)] = appended
    enough = max(MAX_PAIRS + 1, LONG_LINE_FACTOR * settings.boilerplate_min_docs)
    settled = (appended_to > 0) & (held - appended_to >= enough)
    judging = (held >= settings.boilerplate_min_docs) & ~settled
    # A key under `boilerplate_min_docs` holders is not boilerplate. One an add only appended holders to had fewer
    # before, so it was not boilerplate then either: only keys that lost holders can hold a verdict to delete.
    rare = asked[(held < settings.boilerplate_min_docs) & (appended_to == 0)].tolist()
    for piece in pieces(rare):
        db.execute(f"DELETE FROM boilerplate WHERE key IN ({','.join('?' * len(piece))})", piece)
    if not judging.any():
        return
    firsts = np.minimum(held, MAX_PAIRS + 1)[judging]  # the first MAX_PAIRS + 1 holders of each key
    nums: list[int] = np.unique(nums_held[ranges(offsets[:-1][judging], firsts)]).tolist()
    known = evidence.documents if evidence is not None else {}
    unread = [num for num in nums if num not in known]
    read: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, bytes]] = {}
    for piece in pieces(unread):
        rows = db.execute(f"SELECT num, {ROW} FROM documents WHERE num IN ({','.join('?' * len(piece))})", piece)
        for num, *row in rows:
            site, _, _, packed_hashes, packed_tokens, sketch = checked_row(row)
            read[int(num)] = (
                site_line_keys(np.frombuffer(packed_hashes, dtype=np.uint64), site),
                np.frombuffer(packed_tokens, dtype=np.int64),
                np.frombuffer(sketch, dtype=np.uint64),
                _content_name(packed_hashes, site, packed_tokens, sketch),
            )
    if evidence is not None:
        for num, entry in read.items():
            evidence.keep(num, entry)
    entries = [known[num] if num in known else read[num] for num in nums]
    line_keys_of, tokens_of, sketches, names = (list(column) for column in zip(*entries, strict=True))
    line_docs = np.repeat(np.arange(len(nums), dtype=np.int64), [len(k) for k in line_keys_of])
    judged_keys = asked[judging]
    wanted = dict(zip(judged_keys.view(np.uint64).tolist(), held[judging].tolist(), strict=True))
    flagged = learn(
        np.concatenate(line_keys_of),
        line_docs,
        np.concatenate(tokens_of),
        min_docs=settings.boilerplate_min_docs,
        max_context=settings.boilerplate_max_context,
        min_own=store.config.align.min_passage,
        sketches=np.stack(sketches).reshape(-1, SKETCH_SIZE),
        holders=wanted,
        known=store.known_pairs,
        names=names,
    )
    learned = set(signed(flagged))
    judged = judged_keys.tolist()
    were: set[int] = set()
    for piece in pieces(judged):
        rows = db.execute(f"SELECT key FROM boilerplate WHERE key IN ({','.join('?' * len(piece))})", piece)
        were.update(row[0] for row in rows)
    db.executemany(
        "DELETE FROM boilerplate WHERE key = ?", ((key,) for key in judged if key not in learned and key in were)
    )
    db.executemany(
        "INSERT INTO boilerplate VALUES (?)", ((key,) for key in judged if key in learned and key not in were)
    )


def _content_name(line_hashes: bytes, site: int, line_tokens: bytes, sketch: bytes) -> bytes:
    """A name of what boilerplate learning reads of a document (its lines on its site and its sketch): equal
    names, equal documents to `learn`, whatever their numbers (which SQLite may reuse after a removal)."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (line_hashes, site.to_bytes(8, "little", signed=True), line_tokens, sketch):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.digest()
