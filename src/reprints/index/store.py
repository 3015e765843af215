"""The index on disk: documents, their anchors and their lines in one SQLite database in WAL mode.

One writer and many readers at once (SQLite's write-ahead log); each `add` is one transaction, durable when it
returns (`synchronous=FULL`), so a process killed during an add loses nothing acknowledged and leaves the index
as it was before the unfinished add. The format is versioned (`FORMAT`); the matching parameters are fixed when
the index is created and stored with it, so every add and query uses the same ones.

What is kept per document:
- its text, metadata and site, exact-text hash and token count;
- for the first copy of each exact text only (as `dedup` joins only those): its anchors (winnowed shingle hashes
  of its whole text, boilerplate included), to find candidates, and its lines' keys, to find their holders;
- its line hashes, tokens per line and sketch, to learn boilerplate the way `dedup` does (`reprints.index.build`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reprints.config import Config
from reprints.errors import ConfigError, InputError

FORMAT = 1
DATABASE = "index.sqlite"

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
CREATE TABLE IF NOT EXISTS anchors (hash INTEGER NOT NULL, num INTEGER NOT NULL, PRIMARY KEY (hash, num))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lines (key INTEGER NOT NULL, num INTEGER NOT NULL, PRIMARY KEY (key, num))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS boilerplate (key INTEGER PRIMARY KEY);
"""


def signed(values: np.ndarray) -> list[int]:
    """64-bit unsigned hashes as SQLite integers (signed, same bits)."""
    return np.ascontiguousarray(values, dtype=np.uint64).view(np.int64).tolist()  # type: ignore[no-any-return]


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
    """An open index folder. Thread-safe: each thread gets its own connection (SQLite's rule)."""

    def __init__(self, folder: str | Path, *, create: bool = False, config: Config | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DATABASE
        if not self.path.exists():
            if not create:
                raise InputError(
                    f"{self.folder} is not a reprints index (no {DATABASE}); create one with `reprints index add`"
                )
            self.folder.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.connection().executescript(SCHEMA)
        self.parameters = self._parameters(config or Config())
        self.config = Config.from_options(**self.parameters)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=OFF")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the only writer while it lasts); committed when the block ends."""
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot while writers go on."""
        db = self.connection()
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def _parameters(self, config: Config) -> dict[str, Any]:
        """The index's parameters: stored at creation, checked against `config` afterwards."""
        given = {name: value for name, value in config.parameters().items() if name in INDEX_PARAMETERS}
        db = self.connection()
        with self.writing():
            rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not rows:
                db.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
                db.execute("INSERT INTO meta VALUES ('parameters', ?)", (json.dumps(given, sort_keys=True),))
                return given
        if int(rows.get("format", "0")) != FORMAT:
            raise InputError(
                f"{self.folder} holds an index of format {rows.get('format')}; this reprints reads format {FORMAT}: "
                "rebuild it with `reprints index add` into a new folder"
            )
        stored: dict[str, Any] = json.loads(rows["parameters"])
        return stored

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
        return int(self.connection().execute("SELECT count(*) FROM documents").fetchone()[0])

    def site_number(self, db: sqlite3.Connection, name: str, *, create: bool) -> int | None:
        row = db.execute("SELECT number FROM sites WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            return None
        number = int(db.execute("SELECT count(*) FROM sites").fetchone()[0])
        db.execute("INSERT INTO sites VALUES (?, ?)", (number, name))
        return number

    def documents(self, db: sqlite3.Connection, nums: Sequence[int]) -> list[Stored]:
        """Stored documents by number, in the order given."""
        found: dict[int, Stored] = {}
        for start in range(0, len(nums), 500):
            piece = list(nums[start : start + 500])
            marks = ",".join("?" * len(piece))
            for row in db.execute(
                f"SELECT num, id, text, metadata, site, doc_hash, tokens FROM documents WHERE num IN ({marks})", piece
            ):
                found[row[0]] = Stored(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6])
        return [found[num] for num in nums if num in found]

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

    def with_copies(self, db: sqlite3.Connection, nums: Sequence[int]) -> set[int]:
        """The documents `nums` and every exact copy of them."""
        found = set(nums)
        for start in range(0, len(nums), 500):
            piece = list(nums[start : start + 500])
            marks = ",".join("?" * len(piece))
            rows = db.execute(
                "SELECT num FROM documents WHERE tokens > 0 AND doc_hash IN "
                f"(SELECT doc_hash FROM documents WHERE tokens > 0 AND num IN ({marks}))",
                piece,
            )
            found.update(int(row[0]) for row in rows)
        return found

    def holders(self, db: sqlite3.Connection, anchor: int, limit: int) -> list[int]:
        """The first `limit` documents holding an anchor (all with -1), in order of addition."""
        rows = db.execute("SELECT num FROM anchors WHERE hash = ? ORDER BY num LIMIT ?", (anchor, limit))
        return [int(row[0]) for row in rows]

    def boilerplate_keys(self, db: sqlite3.Connection) -> np.ndarray:
        """The learned boilerplate line keys, sorted; read again only when the database changed (another
        connection's commits change `data_version`, this connection's own change `total_changes`)."""
        version = (db.execute("PRAGMA data_version").fetchone()[0], db.total_changes)
        cached = getattr(self._local, "boilerplate", None)
        if cached is not None and cached[0] == version:
            return cached[1]  # type: ignore[no-any-return]
        keys = np.sort(unsigned([row[0] for row in db.execute("SELECT key FROM boilerplate")]))
        self._local.boilerplate = (version, keys)
        return keys

    def stats(self) -> dict[str, Any]:
        """Counts and sizes, for `reprints index stats`."""
        with self.reading() as db:

            def one(sql: str) -> int:
                return int(db.execute(sql).fetchone()[0])

            files = [self.path, self.path.with_name(DATABASE + "-wal")]
            return {
                "index": str(self.folder),
                "format": FORMAT,
                "documents": one("SELECT count(*) FROM documents"),
                "characters": one("SELECT coalesce(sum(length(text)), 0) FROM documents"),
                "tokens": one("SELECT coalesce(sum(tokens), 0) FROM documents"),
                "anchors": one("SELECT count(*) FROM anchors"),
                "sites": one("SELECT count(*) FROM sites"),
                "boilerplate_lines": one("SELECT count(*) FROM boilerplate"),
                "bytes_on_disk": sum(path.stat().st_size for path in files if path.exists()),
                "parameters": self.parameters,
            }
