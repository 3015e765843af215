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


@given(transactions, st.integers(2, 4), st.integers(1, 3))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example([([(1, 1, True)], True), ([(1, 1, False)], True), ([(1, 1, True)], False), ([(1, 2, True)], True)], 2, 1)
def test_holders_are_those_the_changes_leave(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    steps: list[tuple[list[tuple[int, int, bool]], bool]],
    tier_runs: int,
    tier_factor: int,
) -> None:
    """Property: after any sequence of transactions (each committed or rolled back) of changes to who holds what,
    every key's holders, as a writer and as another process' reader see them, are the documents whose last
    committed change holds it, ascending; merged runs (small tiers here, so that they merge often) and a
    rolled-back run change nothing, and rows that no longer hold anything leave with a merge that reaches the
    oldest run."""
    monkeypatch.setattr(postings, "TIER_RUNS", tier_runs)
    monkeypatch.setattr(postings, "TIER_FACTOR", tier_factor)
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
