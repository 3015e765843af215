"""The index on disk: documents, their anchors and their lines in one SQLite database in WAL mode.

One writer and many readers at once (SQLite's write-ahead log). Every few batches of an add (`COMMIT_BATCHES`
of about `batch_chars` characters each; one request of the service) are one transaction, durable when committed
(`synchronous=FULL`): a process killed during an add keeps the transactions committed before and nothing of the
one it was in. The format
is versioned (`FORMAT`); the matching parameters are fixed when the index is created and stored with it, so
every add and query uses the same ones.

What is kept per document:
- its text, metadata and site, exact-text hash and token count;
- for the first copy of each exact text only (as `dedup` joins only those): its anchors (winnowed shingle hashes
  of its whole text, boilerplate included), to find candidates, and its lines' keys, to find their holders, both
  as rows of sorted runs (`reprints.index.postings`, format 4; before, tables of rows, made runs when opened);
- its line hashes, tokens per line and sketch, to learn boilerplate the way `dedup` does (`reprints.index.build`),
  its row sealed (format 7: a digest of its site, exact-text hash, token count, line hashes, tokens per line and
  sketch, `packing.seal_row`, checked wherever they are read; the format and parameters in `meta` sealed too);
- its tokens (hashes and character bounds) and lines, as tokenizing made them, and which tokens are template,
  packed (`reprints.index.packing`, format 5) and sealed (format 6: a digest of them and of the document's
  line hashes, sketch, token count and exact-text hash, checked when read), so that a query aligns stored
  documents without tokenizing or marking them again. An older index is upgraded in place when opened: documents
  stored before format 2 are tokenized from their text when a query needs them; tokens stored before format 5 are
  packed again (and marked, if stored before format 3), those stored before format 6 sealed, rows and parameters
  stored before format 7 sealed.

The index's totals (documents, characters of their texts, tokens) are one row of the `totals` table, kept by
triggers on `documents` in the transaction of each insert and removal (format 8), so that `index stats` reads them
instead of every text; an upgrade counts them once.

A damaged page of the database (SQLite keeps no checksums of its own) is found where a seal or a run's digest
(`reprints.index.postings`) does not match, or where SQLite finds it: `IndexDamaged`, or sqlite3's error. The
text and metadata of a document are not sealed: neither a query, nor boilerplate learning, nor a removal (which
takes a document's anchors from its stored tokens) reads them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from reprints.config import INDEX_WAIT_SECONDS, MAX_WAIT_SECONDS, Config
from reprints.errors import ConfigError, IndexDamaged, IndexReadOnly, InputError
from reprints.fingerprint.corpus import TokenBatch, concat_token_batches, tokenize_batch
from reprints.index.packing import pack_tokens, row_unsealed, seal, seal_row, typed, unpack_fixed, unpack_tokens
from reprints.index.postings import ANCHORS, LINES, RUNS_TABLE, Postings, as_lists
from reprints.normalize.boilerplate import KnownPairs
from reprints.normalize.template import Mask, template_mask

FORMAT = 8
UPGRADABLE = (1, 2, 3, 4, 5, 6, 7)  # formats opened by adding what they lack
WRITE_CACHE_KB = 256 * 1024  # SQLite page cache of a connection while it writes
READ_CACHE_KB = 8 * 1024  # and while it reads (a server lends up to `Store.POOL` connections)
DATABASE = "index.sqlite"
REPACK_ROWS = 2000  # documents whose tokens an upgrade to format 5 packs again (or to 6 and 7 seals) at a time
# A document's columns under its row seal (`packing.seal_row`), as `checked_row` takes them.
ROW = "site, doc_hash, tokens, line_hashes, line_tokens, sketch"
JOINED_ROW = ", ".join(f"d.{column}" for column in ROW.split(", "))  # the same of `documents d` in a join

# Parameters that shape what the index stores or answers; an index keeps the values it was created with.
INDEX_PARAMETERS = (
    "shingle_size",
    "window",
    "seed",
    "boilerplate",
    "boilerplate_min_docs",
    "boilerplate_max_context",
    "site_field",
    "anchor_df_cap",
    "min_passage",
    "max_gap",
    "duplicate_coverage",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sites (number INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS documents (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    site INTEGER NOT NULL,
    doc_hash INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    line_hashes BLOB NOT NULL,
    line_tokens BLOB NOT NULL,
    sketch BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_hash ON documents (doc_hash, num);
CREATE TABLE IF NOT EXISTS boilerplate (key INTEGER PRIMARY KEY);
"""
TOKENS_TABLE = "CREATE TABLE IF NOT EXISTS tokens (num INTEGER PRIMARY KEY, arrays BLOB NOT NULL)"  # format 2 on
SCHEMA += TOKENS_TABLE + ";\n" + RUNS_TABLE + ";\n"  # format 4 on: anchors and lines as runs (`postings`)
# Format 8 on: the totals `index stats` reports, one row kept by triggers as documents are inserted and removed.
TOTALS = (
    "CREATE TABLE IF NOT EXISTS totals (documents INTEGER NOT NULL, characters INTEGER NOT NULL, "
    "tokens INTEGER NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS totals_inserted AFTER INSERT ON documents BEGIN UPDATE totals SET "
    "documents = documents + 1, characters = characters + length(NEW.text), tokens = tokens + NEW.tokens; END",
    "CREATE TRIGGER IF NOT EXISTS totals_deleted AFTER DELETE ON documents BEGIN UPDATE totals SET "
    "documents = documents - 1, characters = characters - length(OLD.text), tokens = tokens - OLD.tokens; END",
    "CREATE TRIGGER IF NOT EXISTS totals_updated AFTER UPDATE OF text, tokens ON documents BEGIN UPDATE totals SET "
    "characters = characters - length(OLD.text) + length(NEW.text), tokens = tokens - OLD.tokens + NEW.tokens; END",
)
COUNT_TOTALS = (
    "INSERT INTO totals SELECT count(*), coalesce(sum(length(text)), 0), coalesce(sum(tokens), 0) FROM documents"
)
SCHEMA += "".join(statement + ";\n" for statement in TOTALS)
# Before format 4 the holders of anchors and lines were tables of (key, num) rows; an upgrade makes them runs.
OLD_POSTINGS = {
    ANCHORS: "SELECT hash, num FROM anchors ORDER BY hash, num",
    LINES: "SELECT key, num FROM lines ORDER BY key, num",
}

Packed = tuple[bytes, bytes, bytes]  # a stored document's packed tokens, line hashes and sketch (`unpack_tokens`)


def pieces(values: Sequence[Any], size: int = 500) -> Iterator[list[Any]]:
    """`values` in lists of at most `size`: the values one statement binds."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def signed(values: np.ndarray) -> list[int]:
    """64-bit unsigned hashes as SQLite integers (signed, same bits)."""
    return np.ascontiguousarray(values, dtype=np.uint64).view(np.int64).tolist()  # type: ignore[no-any-return]


def checked_row(row: Sequence[Any]) -> tuple[int, int, int, bytes, bytes, bytes]:
    """A document's columns as `ROW` selects them, its tokens per line without their seal once the seal is found
    to match (`IndexDamaged` if not)."""
    site, doc_hash, tokens, line_hashes, sealed, sketch = row
    return (
        site,
        doc_hash,
        tokens,
        line_hashes,
        row_unsealed(site, doc_hash, tokens, line_hashes, sealed, sketch),
        sketch,
    )


def sealed_meta(made_as: int, parameters: str) -> str:
    """The seal of an index's format and parameters as `meta` holds them (format 7 on): a parameter changed by a
    damaged page to another value reprints takes is found."""
    return xxhash.xxh3_64_hexdigest(f"{made_as}\n{parameters}".encode())


def unsigned(values: Sequence[int]) -> np.ndarray:
    """SQLite integers back to 64-bit unsigned hashes."""
    return np.array(values, dtype=np.int64).view(np.uint64)


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored document as a query reads it."""

    num: int
    id: str
    text: str
    metadata: dict[str, Any]
    site: int
    doc_hash: int
    tokens: int


class Store:
    """An open index folder. Thread-safe: each read or write transaction borrows a connection from a small pool
    (one connection is never used by two threads at once, and none is left behind by a thread that ends)."""

    POOL = 16  # connections kept open for reuse

    def __init__(
        self,
        folder: str | Path,
        *,
        create: bool = False,
        config: Config | None = None,
        mapped_mb: int = 0,
        wait: float = INDEX_WAIT_SECONDS,
    ) -> None:
        """Open (or, with `create`, make) the index in `folder`; `mapped_mb`: how many megabytes of the database
        file each connection maps into memory (0: none; see `reprints.config.SERVE_MAPPED_MB`). A mapped file must
        not shrink while it is open (reprints never shrinks it: no VACUUM), or reading it faults. `wait`: seconds
        a connection waits for another process' write lock before "database is locked"."""
        if not 0 <= wait <= MAX_WAIT_SECONDS:  # (NaN too)
            raise ConfigError(f"wait={wait} is not between 0 and {MAX_WAIT_SECONDS:,.0f} seconds")
        self.folder = Path(folder)
        self.mapped_mb = mapped_mb
        self.wait = wait
        self.path = self.folder / DATABASE
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(
                f"{self.folder} is a file; an index is a folder (it holds {DATABASE}): give --index a folder, a new "
                "one to make an index"
            )
        if not self.path.exists():
            if not create:
                raise InputError(
                    f"{self.folder} is not a reprints index (no {DATABASE}); create one with `reprints index add`"
                )
            self.folder.mkdir(parents=True, exist_ok=True)
        # An index on a read-only disk or folder (a published copy, a read-only mount) is opened read-only: it
        # answers queries and stats; a change says why it cannot be made.
        self.read_only = self.path.exists() and not (os.access(self.folder, os.W_OK) and os.access(self.path, os.W_OK))
        if self.path.exists():
            self._refuse_foreign(create)
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._boilerplate: dict[int, tuple[tuple[int, int], np.ndarray]] = {}  # per connection (`boilerplate_keys`)
        self.known_pairs = KnownPairs()  # boilerplate learning's verdicts on document pairs (`_relearn`)
        self.postings = Postings()  # the runs of anchors and lines read so far
        self.parameters = self._parameters(config or Config())
        self.config = Config.from_options(**self.parameters)

    def _refuse_foreign(self, create: bool) -> None:
        """Refuse a database file that is not an index, read-only (a connection of the index's own would switch
        it to WAL): another program's database, or an empty file where no index was to be made."""
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder, not an index's database; give --index the folder holding it")
        with contextlib.closing(sqlite3.connect(self._read_only_uri(), uri=True, timeout=self.wait)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" in tables or (create and not tables):
            return
        what = f"a SQLite database of tables {', '.join(sorted(tables)[:5])}" if tables else "an empty file"
        raise InputError(
            f"{self.path} is not a reprints index ({what}); it is left untouched: give --index a folder of its own"
        )

    def _read_only_uri(self) -> str:
        """The URI that opens the database without writing anything. On a disk or folder this process cannot
        write, SQLite reads a WAL-mode database only when its -wal and -shm files are there (a writer has it open,
        or one stopped without a checkpoint); otherwise no writer has it open, and nothing can start writing it
        through this folder: it is opened as immutable (no locks, no -shm)."""
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        if not self.read_only:
            return uri
        wal, shm = (self.path.with_name(self.path.name + suffix) for suffix in ("-wal", "-shm"))
        if not wal.exists() or wal.stat().st_size == 0:
            return uri + "&immutable=1"
        if not shm.exists():
            raise IndexReadOnly(
                f"{self.folder} is on a read-only disk or folder and holds writes not yet folded into {DATABASE} "
                f"({wal.name} without {shm.name}): open it once where it can be written (`reprints index stats` "
                "does it), then it reads anywhere"
            )
        return uri

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            uri = self._read_only_uri()
            db = sqlite3.connect(uri, uri=True, timeout=self.wait, isolation_level=None, check_same_thread=False)
        else:
            db = sqlite3.connect(self.path, timeout=self.wait, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA cache_size = -{READ_CACHE_KB}")
        if self.mapped_mb:
            db.execute(f"PRAGMA mmap_size = {self.mapped_mb * 1024 * 1024}")
        return db

    @contextmanager
    def borrowed(self) -> Iterator[sqlite3.Connection]:
        """A connection for this block only, back to the pool after it."""
        with self._lock:
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = self._connect()
        try:
            yield db
        finally:
            if db.in_transaction:  # a block that could not finish its own transaction
                db.rollback()
            with self._lock:
                if len(self._idle) < self.POOL:
                    self._idle.append(db)
                    db = None
            if db is not None:
                self._boilerplate.pop(id(db), None)
                db.close()

    def close(self) -> None:
        with self._lock:
            for db in self._idle:
                db.close()
            self._idle.clear()
            self._boilerplate.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_writable(self) -> None:
        """Raise IndexReadOnly if the index cannot be changed (see `writing`), before any work toward a change."""
        if self.read_only:
            raise IndexReadOnly(
                f"{self.folder} is on a read-only disk or folder (or its files' permissions forbid writing): it "
                "answers queries, but cannot be changed; copy it somewhere writable to change it"
            )

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the only writer while it lasts); committed when the block ends, rolled back if
        the block or the commit fails.

        Raises:
            IndexReadOnly: the index is on a disk or in a folder this process cannot write.
        """
        self.check_writable()
        with self.borrowed() as db:
            db.execute(f"PRAGMA cache_size = -{WRITE_CACHE_KB}")  # an add writes tens of megabytes a transaction
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                db.execute(f"PRAGMA cache_size = -{READ_CACHE_KB}")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot while writers go on."""
        with self.borrowed() as db:
            db.execute("BEGIN")
            try:
                yield db
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")

    def _parameters(self, config: Config) -> dict[str, Any]:
        """The index's parameters: stored at creation (with the schema), read afterwards without writing."""
        given = {name: value for name, value in config.parameters().items() if name in INDEX_PARAMETERS}
        with self.borrowed() as db:
            made = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is not None
            rows = dict(db.execute("SELECT key, value FROM meta").fetchall()) if made else {}
            if not rows:
                db.executescript(SCHEMA)
        if not rows:
            with self.writing() as db:
                rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
                if not rows:  # nobody created it meanwhile
                    parameters = json.dumps(given, sort_keys=True)
                    db.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
                    db.execute("INSERT INTO meta VALUES ('parameters', ?)", (parameters,))
                    db.execute("INSERT INTO meta VALUES ('seal', ?)", (sealed_meta(FORMAT, parameters),))
                    db.execute(COUNT_TOTALS)
                    return given
        made_as, stored = self._meta(rows)
        if made_as in UPGRADABLE:
            if self.read_only:
                raise IndexReadOnly(
                    f"{self.folder} holds an index of format {made_as}, which this reprints upgrades in place to "
                    f"format {FORMAT} before reading it; it is on a read-only disk or folder: open it once where it "
                    "can be written (`reprints index stats` does it)"
                )
            self._upgrade(Config.from_options(**stored).fingerprint.seed)
            made_as = FORMAT
        if made_as != FORMAT:
            raise InputError(
                f"{self.folder} holds an index of format {made_as}; this reprints reads format {FORMAT}: "
                "rebuild it with `reprints index add` into a new folder"
            )
        return stored

    def _meta(self, rows: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The index's format and parameters as its `meta` table holds them, refused as damaged unless they read
        as a format number and parameters reprints takes."""
        try:
            made_as = int(rows.get("format", "0"))
            stored = json.loads(rows["parameters"])
            if not isinstance(stored, dict):
                raise TypeError("not an object")
            Config.from_options(**stored)
            sealed = made_as <= FORMAT and ("seal" in rows or made_as >= 7)  # a later format is refused as such
            if sealed and rows.get("seal") != sealed_meta(made_as, rows["parameters"]):
                raise ValueError("they do not match their seal")
        except (KeyError, ValueError, TypeError, RecursionError) as exc:
            raise IndexDamaged(
                f"{self.folder}'s format and parameters cannot be read ({type(exc).__name__}: {exc}): the index is "
                "damaged"
            ) from None
        return made_as, stored

    def _upgrade(self, seed: int) -> None:
        """Upgrade an index of an older format (`UPGRADABLE`) in place, in one transaction. The format is read
        again inside it: another process opening the index at the same time may have upgraded it meanwhile (an
        upgrade done twice would read packed tokens as fixed-width ones)."""
        with self.writing() as db:
            now = int(db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()[0])
            if now not in UPGRADABLE:
                return
            db.execute(TOKENS_TABLE)
            db.execute(RUNS_TABLE)
            self._postings_as_runs(db)
            if now < 6:
                self._repack_tokens(db, seed, now)
            if now < 7:
                self._seal_rows(db)
            for statement in TOTALS:  # format 8: the totals, counted once and kept from now on
                db.execute(statement)
            db.execute("DELETE FROM totals")
            db.execute(COUNT_TOTALS)
            parameters = db.execute("SELECT value FROM meta WHERE key = 'parameters'").fetchone()[0]
            db.execute("UPDATE meta SET value = ? WHERE key = 'format'", (str(FORMAT),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('seal', ?)", (sealed_meta(FORMAT, parameters),))

    def _postings_as_runs(self, db: sqlite3.Connection) -> None:
        """Upgrade to format 4: the tables of anchors' and lines' holders become one run each."""
        for kind, select in OLD_POSTINGS.items():
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (kind,)).fetchone() is None:
                continue
            rows = np.array(db.execute(select).fetchall(), dtype=np.int64).reshape(-1, 2)
            self.postings.write(db, kind, rows[:, 0], rows[:, 1], np.ones(len(rows), dtype=np.bool_))
            db.execute(f"DROP TABLE {kind}")

    @staticmethod
    def _repack_tokens(db: sqlite3.Connection, seed: int, now: int) -> None:
        """Upgrade to format 6 from format `now`: the stored tokens are sealed (see `reprints.index.packing`),
        `REPACK_ROWS` documents at a time; before format 5 (fixed widths) they are packed again, and those stored
        without template marks (before format 3) are marked."""
        last, rows = -1, REPACK_ROWS
        while True:
            found = db.execute(
                "SELECT t.num, d.tokens, d.doc_hash, t.arrays, d.line_hashes, d.sketch FROM tokens t "
                "JOIN documents d ON d.num = t.num WHERE t.num > ? ORDER BY t.num LIMIT ?",
                (last, rows),
            ).fetchall()
            if not found:
                return
            stored = [row[1:] for row in found]
            packed = seal(stored) if now == 5 else pack_tokens(*unpack_fixed(stored, seed))
            db.executemany(
                "UPDATE tokens SET arrays = ? WHERE num = ?", zip(packed, [row[0] for row in found], strict=True)
            )
            last = found[-1][0]

    @staticmethod
    def _seal_rows(db: sqlite3.Connection) -> None:
        """Upgrade to format 7: each document's row is sealed (`packing.seal_row`), `REPACK_ROWS` at a time."""
        last = -1
        while True:
            found = db.execute(
                f"SELECT num, {ROW} FROM documents WHERE num > ? ORDER BY num LIMIT ?", (last, REPACK_ROWS)
            ).fetchall()
            if not found:
                return
            for row in found:  # a format-6 row has 8 bytes of tokens per line, as of line hashes: not sealed yet
                if not typed(row[1:4], row[4:]) or len(row[4]) != len(row[5]):
                    raise IndexDamaged(
                        "a document's row is not as format 6 stores it (sealed already, or changed): "
                        "the index is damaged"
                    )
            db.executemany(
                "UPDATE documents SET line_tokens = ? WHERE num = ?", ((seal_row(*row[1:]), row[0]) for row in found)
            )
            last = found[-1][0]

    def check_parameters(self, config: Config, given: Iterable[str]) -> None:
        """Refuse options that differ from the index's own parameters (an index answers with one set)."""
        values = config.parameters()
        for name in given:
            if name in self.parameters and values.get(name) != self.parameters[name]:
                raise ConfigError(
                    f"{name}={values.get(name)!r} differs from this index's {name}={self.parameters[name]!r} "
                    "(set when it was created); build another index to use other parameters"
                )

    # Reading ---------------------------------------------------------------------------------------------

    def count(self) -> int:
        with self.reading() as db:
            return int(db.execute("SELECT count(*) FROM documents").fetchone()[0])

    def site_number(self, db: sqlite3.Connection, name: str) -> int | None:
        """The number of a site the index has seen (None for a new one)."""
        row = db.execute("SELECT number FROM sites WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def fetch(self, *ids: str) -> list[Stored | None]:
        """Stored documents by id (None for an id not stored), read in one snapshot."""
        with self.reading() as db:
            return [self.by_id(db, doc_id) for doc_id in ids]

    def documents(self, db: sqlite3.Connection, nums: Sequence[int]) -> list[Stored]:
        """Stored documents by number, in the order given."""
        found: dict[int, Stored] = {}
        for piece in pieces(nums):
            for row in db.execute(
                f"SELECT num, id, text, metadata, {ROW} FROM documents WHERE num IN ({','.join('?' * len(piece))})",
                piece,
            ):
                site, doc_hash, tokens = checked_row(row[4:])[:3]
                found[row[0]] = Stored(row[0], row[1], row[2], json.loads(row[3]), site, doc_hash, tokens)
        return [found[num] for num in nums if num in found]

    def with_tokens(
        self, db: sqlite3.Connection, nums: Iterable[int]
    ) -> dict[int, tuple[Stored, Packed | None, bytes]]:
        """Stored documents by number, without their text and metadata (left empty), each with its packed tokens
        (`tokenized` reads them; None for a document stored without them) and its tokens per line (int64 each),
        in one statement: what a query needs of its candidates."""
        found: dict[int, tuple[Stored, Packed | None, bytes]] = {}
        for piece in pieces(sorted(nums)):
            rows = db.execute(
                f"SELECT d.num, d.id, t.arrays, {JOINED_ROW} "
                f"FROM documents d LEFT JOIN tokens t ON t.num = d.num WHERE d.num IN ({','.join('?' * len(piece))})",
                piece,
            )
            for num, doc_id, arrays, *row in rows:
                site, doc_hash, tokens, lines, line_tokens, sketch = checked_row(row)
                packed = None if arrays is None else (arrays, lines, sketch)
                found[num] = (Stored(num, doc_id, "", {}, site, doc_hash, tokens), packed, line_tokens)
        return found

    def same_texts(
        self, db: sqlite3.Connection, hashes: Iterable[int], known: Iterable[Stored] = ()
    ) -> dict[int, list[tuple[int, int]]]:
        """Of each exact-text hash, every stored document (number, site) with that text, by number (empty texts,
        never grouped, left out): its copies, and its first copy first. `known`: documents read already in this
        transaction (`with_tokens`), whose rows are not read again: the copies are found in the index of hashes
        alone, and only the rows of the others read (most texts have no copy but the candidate itself)."""
        rows_of = {doc.num: (doc.site, doc.doc_hash, doc.tokens) for doc in known}
        holders: list[int] = []
        for piece in pieces(sorted(set(hashes))):
            holders += (
                num
                for (num,) in db.execute(
                    f"SELECT num FROM documents WHERE doc_hash IN ({','.join('?' * len(piece))})", piece
                )
            )
        unread = [num for num in holders if num not in rows_of]
        for piece in pieces(sorted(set(unread))):
            for num, *row in db.execute(
                f"SELECT num, {ROW} FROM documents WHERE num IN ({','.join('?' * len(piece))})", piece
            ):
                rows_of[num] = checked_row(row)[:3]
        found: dict[int, list[tuple[int, int]]] = {}
        for num in sorted(set(holders)):
            site, doc_hash, tokens = rows_of[num]
            if tokens > 0:
                found.setdefault(doc_hash, []).append((num, site))
        return found

    def tokenized(
        self, db: sqlite3.Connection, docs: Sequence[Stored], packed: dict[int, Packed | None] | None = None
    ) -> tuple[TokenBatch, Mask]:
        """The stored documents' tokens and lines, in the order given, as `tokenize_batch` of their texts gives
        them, and their template marks (`template_mask`): read from the `tokens` table (or taken from `packed`,
        read with them by `with_tokens`), or made from the text for a document stored without them."""
        found: dict[int, Packed] = {num: rows for num, rows in (packed or {}).items() if rows is not None}
        for piece in pieces([doc.num for doc in docs if doc.num not in found]):
            rows = db.execute(
                f"SELECT d.num, t.arrays, d.line_hashes, d.sketch FROM documents d JOIN tokens t ON t.num = d.num "
                f"WHERE d.num IN ({','.join('?' * len(piece))})",
                piece,
            )
            found.update((num, (arrays, lines, sketch)) for num, arrays, lines, sketch in rows)
        seed = self.config.fingerprint.seed
        if all(doc.num in found for doc in docs):
            return unpack_tokens([(doc.tokens, doc.doc_hash, *found[doc.num]) for doc in docs])
        parts: list[TokenBatch] = []
        marks: list[Mask] = []
        for doc in docs:
            if doc.num in found:
                batch, template = unpack_tokens([(doc.tokens, doc.doc_hash, *found[doc.num])])
            else:  # stored before format 2
                text = doc.text or db.execute("SELECT text FROM documents WHERE num = ?", (doc.num,)).fetchone()[0]
                batch = tokenize_batch([text], seed)
                template = template_mask(batch.hashes, np.array([0, len(batch.hashes)], dtype=np.int64), seed)
            parts.append(batch)
            marks.append(template)
        return concat_token_batches(*parts), np.concatenate(marks)

    def by_id(self, db: sqlite3.Connection, doc_id: str) -> Stored | None:
        row = db.execute("SELECT num FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else self.documents(db, [int(row[0])])[0]

    def first_copy(self, db: sqlite3.Connection, doc_hash: int, tokens: int) -> int | None:
        """The first stored document with this exact text (None for an empty text, never grouped)."""
        if tokens == 0:
            return None
        row = db.execute(
            "SELECT num FROM documents WHERE doc_hash = ? AND tokens > 0 ORDER BY num LIMIT 1", (doc_hash,)
        ).fetchone()
        return None if row is None else int(row[0])

    def first_copies(self, db: sqlite3.Connection, hashes: Iterable[int]) -> dict[int, tuple[int, int]]:
        """The first stored document (number, site) of each exact-text hash that has one (`first_copy` of many,
        one statement for up to 400 hashes, each a search of `documents_by_hash`)."""
        wanted = sorted(set(hashes))
        found: dict[int, tuple[int, int]] = {}
        for piece in pieces(wanted, 400):
            rows = db.execute(
                f"SELECT d.num, {JOINED_ROW} FROM (VALUES "
                f"{','.join(['(?)'] * len(piece))}) q JOIN documents d ON d.num = (SELECT num FROM documents "
                "WHERE doc_hash = q.column1 AND tokens > 0 ORDER BY num LIMIT 1)",
                piece,
            )
            for num, *row in rows:
                site, doc_hash = checked_row(row)[:2]
                found[doc_hash] = (num, site)
        return found

    def holders(self, db: sqlite3.Connection, anchor: int, limit: int) -> list[int]:
        """The first `limit` documents holding an anchor (all with -1), in order of addition."""
        return self.first_holders(db, [anchor], limit)[0]

    def first_holders(self, db: sqlite3.Connection, anchors: Sequence[int], limit: int) -> list[list[int]]:
        """`holders(db, anchor, limit)` of each anchor, in the order given (looked up in the runs of anchors)."""
        offsets, nums = self.postings.holders(db, ANCHORS, np.array(anchors, dtype=np.int64), limit)
        return as_lists(offsets, nums, limit)

    def boilerplate_keys(self, db: sqlite3.Connection) -> np.ndarray:
        """The learned boilerplate line keys, sorted; read again only when the database changed (another
        connection's commits change `data_version`, this connection's own change `total_changes`)."""
        version = (db.execute("PRAGMA data_version").fetchone()[0], db.total_changes)
        cached = self._boilerplate.get(id(db))
        if cached is not None and cached[0] == version:
            return cached[1]
        keys = np.sort(unsigned([row[0] for row in db.execute("SELECT key FROM boilerplate")]))
        self._boilerplate[id(db)] = (version, keys)
        return keys

    @staticmethod
    def totals(db: sqlite3.Connection) -> tuple[int, int, int]:
        """The documents stored, the characters of their texts and their tokens, as the `totals` row keeps them
        (refused as damaged unless it is one row of counts that can be)."""
        rows = db.execute("SELECT documents, characters, tokens FROM totals").fetchall()
        if len(rows) != 1 or not typed(rows[0], ()) or min(rows[0]) < 0:
            raise IndexDamaged(f"the index's totals read {rows[:2]}, which no index holds: the index is damaged")
        documents, characters, tokens = rows[0]
        return documents, characters, tokens

    def stats(self) -> dict[str, Any]:
        """Counts and sizes, for `reprints index stats`."""
        with self.reading() as db:

            def one(sql: str) -> int:
                return int(db.execute(sql).fetchone()[0])

            files = [self.path, self.path.with_name(DATABASE + "-wal")]
            documents, characters, tokens = self.totals(db)
            return {
                "index": str(self.folder),
                "format": FORMAT,
                "documents": documents,
                "characters": characters,
                "tokens": tokens,
                "anchors": self.postings.count(db, ANCHORS),
                "sites": one("SELECT count(*) FROM sites"),
                "boilerplate_lines": one("SELECT count(*) FROM boilerplate"),
                "bytes_on_disk": sum(path.stat().st_size for path in files if path.exists()),
                "parameters": self.parameters,
            }
