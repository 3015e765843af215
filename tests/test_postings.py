"""The holders of anchors and lines as sorted runs (`reprints.index.postings`), against a plain model."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reprints.index import postings
from reprints.index.postings import ANCHORS, LINES, RUNS_TABLE, Postings, as_lists

# A transaction: changes (key, document, holds) in order; keys from a small range so that they collide.
change = st.tuples(st.integers(-3, 12), st.integers(0, 9), st.booleans())
transactions = st.lists(st.tuples(st.lists(change, max_size=12), st.booleans()), min_size=1, max_size=14)


def _database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(RUNS_TABLE)
    return db


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
@given(transactions, st.integers(2, 4), st.integers(1, 3))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example([([(1, 1, True)], True), ([(1, 1, False)], True), ([(1, 1, True)], False), ([(1, 2, True)], True)], 2, 1)
def test_holders_are_those_the_changes_leave(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    compiled: bool,
    steps: list[tuple[list[tuple[int, int, bool]], bool]],
    tier_runs: int,
    tier_factor: int,
) -> None:
    """Property: after any sequence of transactions (each committed or rolled back) of changes to who holds what,
    every key's holders, as a writer and as another process' reader see them, are the documents whose last
    committed change holds it, ascending; merged runs (small tiers here, so that they merge often) and a
    rolled-back run change nothing, and rows that no longer hold anything leave with a merge that reaches the
    oldest run. The same with the lookup in NumPy and compiled."""
    monkeypatch.setattr(postings, "TIER_RUNS", tier_runs)
    monkeypatch.setattr(postings, "TIER_FACTOR", tier_factor)
    monkeypatch.setattr(postings, "COMPILED_FROM", 0 if compiled else 10**9)
    path = tmp_path_factory.mktemp("postings") / "index.sqlite"
    writer_db, reader_db = _database(path), _database(path)
    writer, reader = Postings(), Postings()
    model: dict[int, set[int]] = {}
    for changes, commit in steps:
        writer_db.execute("BEGIN IMMEDIATE")
        if changes:
            keys, nums, live = (np.array(column) for column in zip(*changes, strict=True))
            writer.write(writer_db, ANCHORS, keys, nums, live.astype(np.bool_))
        if not commit:
            writer_db.execute("ROLLBACK")
            continue
        writer_db.execute("COMMIT")
        for key, num, holds in changes:
            (model.setdefault(key, set()).add if holds else model.setdefault(key, set()).discard)(num)
        asked = np.array([*range(-4, 14), 5, -4], dtype=np.int64)
        expected = [sorted(model.get(key, set())) for key in asked.tolist()]
        for db, who in ((writer_db, writer), (reader_db, reader)):
            db.execute("BEGIN")
            assert as_lists(*who.holders(db, ANCHORS, asked)) == expected
            for limit in (0, 1, 2):
                assert as_lists(*who.holders(db, ANCHORS, asked, limit), limit) == [found[:limit] for found in expected]
            assert who.holders(db, LINES, asked)[0].tolist() == [0] * (len(asked) + 1)  # another kind
            assert who.count(db, ANCHORS) == sum(len(held) for held in model.values())
            db.execute("COMMIT")
    runs = writer_db.execute("SELECT count(*) FROM runs").fetchone()[0]
    if runs == 1:  # everything merged: nothing but holders left
        assert writer_db.execute("SELECT rows FROM runs").fetchone()[0] == sum(len(held) for held in model.values())


def test_regression_readers_on_older_snapshots_answer_while_runs_are_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads sharing one `Postings` read holders from their own snapshots while a writer on another connection
    adds runs that merge (every other transaction): a thread whose snapshot still lists a run another thread has
    just let go of answers from it (it took the run from the cache while it listed it; it raised KeyError), and
    every answer is the holders of some committed state."""
    import threading

    monkeypatch.setattr(postings, "TIER_RUNS", 2)
    path = tmp_path / "index.sqlite"
    writer_db = _database(path)
    shared = Postings()
    for step in range(60):  # written first, then read while more is written
        writer_db.execute("BEGIN IMMEDIATE")
        shared.write(writer_db, ANCHORS, np.array([1, 2]), np.array([step, step]), np.array([True, True]))
        writer_db.execute("COMMIT")
    states = {tuple(range(step + 1)) for step in range(60)}  # each committed state's holders of key 1
    failures: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        db = _database(path)
        try:
            while not done.is_set():
                db.execute("BEGIN")
                found = tuple(as_lists(*shared.holders(db, ANCHORS, np.array([1])))[0])
                db.execute("COMMIT")
                assert found in states, found
        except BaseException as error:  # reported below
            failures.append(error)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    for step in range(60, 160):
        states.add(tuple(range(step + 1)))  # (before it commits: a reader may see it at once)
        writer_db.execute("BEGIN IMMEDIATE")
        shared.write(writer_db, ANCHORS, np.array([1, 2]), np.array([step, step]), np.array([True, True]))
        writer_db.execute("COMMIT")
    done.set()
    for thread in readers:
        thread.join()
    assert failures == []


# Keys spread over the whole 64-bit range, and crowded where the directory's top bits change, with many rows of one.
_edge = [
    -(2**63),
    -(2**63) + 1,
    -1,
    0,
    1,
    2**63 - 1,
    *(sign * 2**bits for bits in (40, 47, 48, 60) for sign in (1, -1)),
]
wide_key = st.one_of(st.sampled_from(_edge), st.integers(-(2**63), 2**63 - 1), st.integers(-3, 3))
wide_run = st.lists(st.tuples(wide_key, st.integers(0, 40), st.booleans()), max_size=80)


@given(st.lists(wide_run, min_size=1, max_size=5), st.lists(wide_key, max_size=30), st.integers(1, 6))
@settings(max_examples=200, deadline=None)
def test_the_compiled_lookup_finds_the_holders_the_numpy_one_finds(
    changes: list[list[tuple[int, int, bool]]], asked: list[int], rows_per_value: int
) -> None:
    """Property: over any runs (oldest first; removals or not), keys anywhere in the 64-bit range (the ends, the
    directory's bucket edges) and any limit, the compiled lookup (each run's directory of top bits, then a merge of
    the runs) answers as `holders_of`'s NumPy code: each asked key's holders, in the order asked, at least the
    first `limit`. Directories of 1 to 6 rows a value, so that keys share buckets and buckets stand empty."""
    runs = [
        postings.newest(
            np.array([key for key, _, _ in rows], dtype=np.int64),
            np.array([num for _, num, _ in rows], dtype=np.int64),
            np.array([live for _, _, live in rows], dtype=np.bool_),
        )
        for rows in changes
    ]
    for run in runs:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(postings, "DIRECTORY_ROWS", rows_per_value)
            run.directory()
    wanted = np.array(asked + [key for key, _, _ in changes[0][:5]], dtype=np.int64)
    for limit in (-1, 0, 1, 2, 5):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(postings, "COMPILED_FROM", 10**9)
            expected = as_lists(*postings.holders_of(runs, wanted, limit), limit)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(postings, "COMPILED_FROM", 0)
            assert as_lists(*postings.holders_of(runs, wanted, limit), limit) == expected


def test_a_run_s_directory_bounds_the_rows_of_each_value_of_the_keys_top_bits() -> None:
    """Each value of a run's directory begins where the first key with those top bits is, or would be: the rows of
    each key lie between its value's bounds, and a key absent falls in a value whose rows hold other keys."""
    keys = np.sort(np.random.default_rng(5).integers(-(2**63), 2**63 - 1, 5000, dtype=np.int64))
    run = postings.Run(keys, np.arange(len(keys), dtype=np.int64), np.ones(len(keys), dtype=np.bool_))
    bounds, shift = run.directory()
    assert len(bounds) == 2 ** (64 - shift) + 1 and 2 <= len(keys) / (len(bounds) - 1) <= postings.DIRECTORY_ROWS
    bucket = (keys >> shift) + 2 ** (63 - shift)
    rows = np.arange(len(keys))
    assert np.all(bounds[bucket] <= rows) and np.all(rows < bounds[bucket + 1])
