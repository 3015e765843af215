"""Which stored documents hold each anchor and each line key, kept as sorted runs (format 4).

A table of rows (key, document) with a B-tree index cost an add a B-tree insert per row, all over the tree (2.5
million rows for the bulk corpus: about 2 s of the single writer's time, and most of the pages a commit
writes). Instead, each transaction that adds or removes documents writes at most one *run* per kind
(`ANCHORS`, `LINES`): its changes as arrays sorted by key, then document number, one row of the `runs` table:

- `live` is 1 where the document now holds the key, 0 where it no longer does (a removal, or a first copy
  replaced by the next);
- a key's holders are the documents whose newest row for it (the run of the highest id) is live.

Runs are never changed once written, and each is named by its id and a digest of its bytes (the id alone is not
enough: AUTOINCREMENT gives the id of a rolled-back run again; the digest is checked when a run is read, so that
a damaged one is an error, `IndexDamaged`), so a process keeps the runs it has read in memory
(`Postings`, shared by its connections) and reads only the runs it lacks; a reader sees the runs of its own
snapshot. Runs of about the same size are
merged as they accumulate (`TIER_RUNS` of them within `TIER_FACTOR` of the smallest, always the newest ones, so
the order stays that of their changes): a key is looked up in a few runs, and a row is rewritten a few times over
the index's life, not at every add. A merge that reaches the oldest run drops the rows that are not live.
"""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from reprints.errors import IndexDamaged
from reprints.io.arrays import offsets_of, ranges

ANCHORS = "anchors"
LINES = "lines"
KINDS = (ANCHORS, LINES)

RUNS_TABLE = """CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    rows INTEGER NOT NULL,
    digest BLOB NOT NULL,
    keys BLOB NOT NULL,
    nums BLOB NOT NULL,
    live BLOB NOT NULL
)"""

DIRECTORY_ROWS = 4  # rows of a run per value of its directory (`Run.directory`): an int32 for 4 rows of 17 bytes
# Keys looked up times runs from which the compiled lookup is worth loading (`reprints.kernels`).
COMPILED_FROM = 20_000
TIER_RUNS = 8  # runs of about the same size merged into one
TIER_FACTOR = 4  # "about the same size": within this factor of the smallest

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Run:
    """One run's rows, sorted by key, then number (each (key, number) once)."""

    keys: I64
    nums: I64
    live: Bools
    removals: int = field(init=False)  # rows that are not live (counted once: lookups ask it every time)
    _directory: list[tuple[np.ndarray, int]] = field(init=False, default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "removals", int(len(self.live) - np.count_nonzero(self.live)))

    def directory(self) -> tuple[np.ndarray, int]:
        """Where the keys of each value of their top bits begin, and the shift that leaves those bits: key `k`'s
        rows lie between `directory[b]` and `directory[b + 1]`, where `b = (k >> shift) + 2 ** (63 - shift)`.
        About `DIRECTORY_ROWS` rows a value; made on first use (by the compiled lookup) and kept with the run."""
        if not self._directory:  # (two threads making it at once make the same one)
            bits = min(max(len(self.keys) // DIRECTORY_ROWS, 1).bit_length(), 28)
            shift = 64 - bits
            top = (self.keys >> shift) + (1 << (bits - 1))
            kind = np.int32 if len(self.keys) < 2**31 else np.int64
            bounds = np.searchsorted(top, np.arange((1 << bits) + 1, dtype=np.int64)).astype(kind)
            self._directory[:] = [(bounds, shift)]
        return self._directory[0]


def _digest(keys: I64, nums: I64, live: Bools) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for part in (keys, nums, live):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part.tobytes())
    return digest.digest()


def _decode(keys: bytes, nums: bytes, live: bytes) -> Run:
    return Run(
        np.frombuffer(keys, dtype="<i8").astype(np.int64),
        np.frombuffer(nums, dtype="<i8").astype(np.int64),
        np.frombuffer(live, dtype=np.uint8).astype(np.bool_),
    )


def _checked(run_id: int, kind: str, digest: bytes, keys: bytes, nums: bytes, live: bytes) -> Run:
    """A run read from the database, refused as damaged unless its arrays are whole and match its digest."""
    if len(keys) % 8 or len(keys) != len(nums) or len(live) * 8 != len(keys):
        raise IndexDamaged(
            f"run {run_id} of {kind} has arrays of {len(keys)}, {len(nums)} and {len(live)} bytes: the index is damaged"
        )
    run = _decode(keys, nums, live)
    if _digest(run.keys, run.nums, run.live) != digest:
        raise IndexDamaged(f"run {run_id} of {kind} does not match its digest: the index is damaged")
    return run


def newest(keys: I64, nums: I64, live: Bools) -> Run:
    """The rows (key, number, live), given oldest first, with only the last of each (key, number) kept, sorted by
    key, then number. A stable sort by key keeps the age order within a key and is fast on rows that are sorted
    runs one after another (a merge); only the rows of keys held more than once are sorted by number too, when
    they are not in order already."""
    order = np.argsort(keys, kind="stable")
    keys, nums, live = keys[order], nums[order], live[order]
    same = keys[1:] == keys[:-1]
    if np.any(same & (nums[1:] < nums[:-1])):  # (rows added in order of number, as an add makes them, are not)
        shared = np.zeros(len(keys), dtype=np.bool_)
        shared[1:] |= same
        shared[:-1] |= same
        rows = np.flatnonzero(shared)
        by = np.lexsort((nums[rows], keys[rows]))  # stable: a (key, number)'s rows stay oldest first
        nums[rows], live[rows] = nums[rows][by], live[rows][by]
    last = np.ones(len(keys), dtype=np.bool_)
    last[:-1] = (keys[1:] != keys[:-1]) | (nums[1:] != nums[:-1])
    return Run(keys[last], nums[last], live[last])


def _live(run: Run) -> Run:
    """The run's live rows: a row that is not live says nothing where no run is older."""
    return Run(run.keys[run.live], run.nums[run.live], run.live[run.live])


def holders_of(runs: Sequence[Run], keys: I64, limit: int = -1) -> tuple[I64, I64]:
    """The holders of each key (in the order given) over these runs (oldest first), as (offsets, numbers): the
    numbers of key `i` are `numbers[offsets[i]:offsets[i + 1]]`, ascending; with a `limit` (-1: none), at least
    its first `limit` holders (all when it has fewer). Where no run holds a removal, each run's first `limit`
    rows of a key are all that can be among its first holders, so a key held by many documents costs `limit` rows
    a run, not one per holder."""
    keys = np.asarray(keys, dtype=np.int64)
    cut = limit >= 0 and all(run.removals == 0 for run in runs)
    if runs and len(keys) * len(runs) >= COMPILED_FROM:
        return _holders_compiled(runs, keys, limit, cut)
    wanted, inverse = np.unique(keys, return_inverse=True)
    found_key, found_num, found_live = [], [], []
    for run in runs:
        start = np.searchsorted(run.keys, wanted, "left")
        counts = np.searchsorted(run.keys, wanted, "right") - start
        if cut:
            counts = np.minimum(counts, limit)
        rows = ranges(start.astype(np.int64), counts.astype(np.int64))
        found_key.append(np.repeat(np.arange(len(wanted), dtype=np.int64), counts))
        found_num.append(run.nums[rows])
        found_live.append(run.live[rows])
    if len(runs) == 1:  # one run: sorted already, each (key, number) once
        key, num, live = found_key[0], found_num[0], found_live[0]
    elif runs:
        merged = newest(np.concatenate(found_key), np.concatenate(found_num), np.concatenate(found_live))
        key, num, live = merged.keys, merged.nums, merged.live
    else:
        key, num, live = (np.empty(0, dtype=np.int64),) * 2 + (np.empty(0, dtype=np.bool_),)
    key, num = key[live], num[live]
    counts = np.bincount(key, minlength=len(wanted))
    starts = offsets_of(counts)
    # each asked key's numbers, in the order asked
    asked_counts = counts[inverse]
    return offsets_of(asked_counts), num[ranges(starts[inverse], asked_counts.astype(np.int64))]


def _holders_compiled(runs: Sequence[Run], keys: I64, limit: int, cut: bool) -> tuple[I64, I64]:
    """`holders_of` in compiled passes (`reprints.index.postings_kernel`): the same answer, cut to `limit`."""
    from reprints.index.postings_kernel import look_up, merged, unique_keys

    wanted, inverse = unique_keys(keys)
    found = [look_up(run.keys, run.nums, run.live, *run.directory(), wanted, limit if cut else -1) for run in runs]
    counts = np.stack([counts for counts, _, _ in found])
    nums = np.concatenate([nums for _, nums, _ in found])
    live = np.concatenate([live for _, _, live in found])
    return merged(counts, nums, live, inverse, limit)  # type: ignore[no-any-return]


def as_lists(offsets: I64, nums: I64, limit: int = -1) -> list[list[int]]:
    """`holders_of`'s answer as a list of numbers per key, each cut to its first `limit` (-1: all)."""
    flat: list[int] = nums.tolist()
    bounds: list[int] = offsets.tolist()
    if limit < 0:
        return [flat[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    return [flat[lo : min(hi, lo + limit)] for lo, hi in itertools.pairwise(bounds)]


class Postings:
    """The runs this process has read, by (id, digest): thread-safe, shared by every connection of a `Store`."""

    def __init__(self) -> None:
        self._runs: dict[tuple[int, bytes], Run] = {}
        self._kinds: dict[tuple[int, bytes], str] = {}
        self._lock = threading.Lock()

    def runs(self, db: sqlite3.Connection, kind: str) -> list[Run]:
        """The runs of `kind` the connection's transaction sees, oldest first (read from the database only where
        this process has not read them yet)."""
        rows = db.execute("SELECT id, kind, digest FROM runs ORDER BY id").fetchall()
        strange = sorted({str(of) for _, of, _ in rows} - set(KINDS))
        if strange:  # a damaged kind would drop its run from every lookup, silently
            raise IndexDamaged(
                f"the index has runs of kind {strange[0]!r}, which it never writes: the index is damaged"
            )
        listed = [(int(run_id), bytes(digest)) for run_id, of, digest in rows if of == kind]
        return self._read(db, kind, listed, forget=True)

    def _read(self, db: sqlite3.Connection, kind: str, names: list[tuple[int, bytes]], *, forget: bool) -> list[Run]:
        """The runs of these names, in order, read from the database where not kept yet; with `forget`, `names`
        being every run of `kind` a snapshot lists, the kept runs of that kind it does not list and that are not
        newer than it are let go (merged, or written by a transaction that was rolled back)."""
        with self._lock:  # taken here, so that another thread letting one go cannot take it from this answer
            have = {name: self._runs[name] for name in names if name in self._runs}
        for run_id, digest in [name for name in names if name not in have]:
            row = db.execute("SELECT keys, nums, live FROM runs WHERE id = ?", (run_id,)).fetchone()
            have[(run_id, digest)] = _checked(run_id, kind, digest, *row)
        with self._lock:
            for name, run in have.items():
                self._runs[name] = run
                self._kinds[name] = kind
            if forget:
                last = max((run_id for run_id, _ in names), default=0)
                listed = set(names)
                for name in [name for name, of in self._kinds.items() if of == kind]:
                    if name[0] <= last and name not in listed:
                        del self._runs[name], self._kinds[name]
        return [have[name] for name in names]

    def holders(self, db: sqlite3.Connection, kind: str, keys: I64, limit: int = -1) -> tuple[I64, I64]:
        """`holders_of` the keys over the runs the connection sees."""
        return holders_of(self.runs(db, kind), keys, limit)

    def write(self, db: sqlite3.Connection, kind: str, keys: I64, nums: I64, live: Bools) -> None:
        """Record changes (in the order they were made: the last change of a (key, number) counts) as a new run,
        then merge the newest runs where they have piled up (see the module's docstring). Call inside a write
        transaction."""
        if len(keys) == 0:
            return
        run = newest(
            np.asarray(keys, dtype=np.int64), np.asarray(nums, dtype=np.int64), np.asarray(live, dtype=np.bool_)
        )
        if db.execute("SELECT 1 FROM runs WHERE kind = ? LIMIT 1", (kind,)).fetchone() is None:
            run = _live(run)  # nothing older: a row that is not live says nothing
        self._insert(db, kind, run)
        self._merge(db, kind)

    def _insert(self, db: sqlite3.Connection, kind: str, run: Run) -> None:
        digest = _digest(run.keys, run.nums, run.live)
        cursor = db.execute(
            "INSERT INTO runs (kind, rows, digest, keys, nums, live) VALUES (?, ?, ?, ?, ?, ?)",
            (
                kind,
                len(run.keys),
                digest,
                run.keys.astype("<i8").tobytes(),
                run.nums.astype("<i8").tobytes(),
                run.live.astype(np.uint8).tobytes(),
            ),
        )
        name = (int(cursor.lastrowid or 0), digest)
        with self._lock:
            self._runs[name] = run
            self._kinds[name] = kind

    def _merge(self, db: sqlite3.Connection, kind: str) -> None:
        while True:
            sizes = [
                (int(run_id), int(rows), bytes(digest))
                for run_id, rows, digest in db.execute(
                    "SELECT id, rows, digest FROM runs WHERE kind = ? ORDER BY id", (kind,)
                )
            ]
            tier = 0
            smallest = None
            for _, rows, _ in reversed(sizes):
                smallest = rows if smallest is None else min(smallest, rows)
                if rows > TIER_FACTOR * max(smallest, 1):
                    break
                tier += 1
            if tier < TIER_RUNS:
                return
            merged_ids = [run_id for run_id, _, _ in sizes[-tier:]]
            runs = self._read(db, kind, [(run_id, digest) for run_id, _, digest in sizes[-tier:]], forget=False)
            merged = newest(
                np.concatenate([run.keys for run in runs]),
                np.concatenate([run.nums for run in runs]),
                np.concatenate([run.live for run in runs]),
            )
            if tier == len(sizes):  # nothing older
                merged = _live(merged)
            db.execute(f"DELETE FROM runs WHERE id IN ({','.join('?' * len(merged_ids))})", merged_ids)
            self._insert(db, kind, merged)

    def count(self, db: sqlite3.Connection, kind: str) -> int:
        """How many (key, document) pairs hold."""
        runs = self.runs(db, kind)
        if len(runs) <= 1:  # nothing older than the one run: each of its rows is live
            return sum(int(np.count_nonzero(run.live)) for run in runs)
        columns = (np.concatenate([getattr(run, column) for run in runs]) for column in ("keys", "nums", "live"))
        merged = newest(*columns)
        return int(np.count_nonzero(merged.live))
