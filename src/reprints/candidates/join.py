"""Candidate pairs: documents that share anchors, found by grouping anchors by hash.

An anchor held by at most `anchor_df_cap` documents pairs all of them. An anchor held by more is a stock phrase,
or a story republished many times: it pairs each holder with the group's first `HUBS` holders only (linear,
never quadratic), and such pairs count only when they share at least `MIN_HUB_ANCHORS` of these anchors (a
copied passage leaves several; a stock phrase one). Copies of one story found through hubs are then gathered
around their canonical member by the clusters stage.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from reprints.fingerprint.hashing import PARTITION_ROWS, U64, partition_bits, partitions
from reprints.io.arrays import Column, drop_pages, is_mapped, mapped_copy, release_free_memory
from reprints.normalize.tokens import I64


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate pairs `(a[i], b[i])` with `a[i] < b[i]`, sorted, and how many anchors each pair shares."""

    a: I64
    b: I64
    shared: I64
    capped_anchors: int


HUBS = 2
MIN_HUB_ANCHORS = 2
MIN_PIECE = 1 << 16  # rows gathered, and pairs merged, at once at least (however small the partitions)


def join_anchors(
    docs: I64,
    hashes: U64,
    *,
    anchor_df_cap: int,
    keep: npt.NDArray[np.bool_] | None = None,
    partition_rows: int = PARTITION_ROWS,
    folder: Path | None = None,
) -> Candidates:
    """Pairs of documents that share at least one anchor held by at most `anchor_df_cap` documents.

    The anchors are joined in partitions of about `partition_rows` rows by hash range (an anchor's holders all
    fall in one partition); each partition's pairs are counted there, in pieces of about `partition_rows` pair
    occurrences, and merged into the running counts, so the join holds one partition, one piece and the distinct
    pairs at a time, and the result does not depend on the number of partitions or pieces.

    Args:
        docs: Document number of each anchor row (any order; repeated rows are ignored).
        hashes: Anchor hash of each row.
        anchor_df_cap: Anchors held by more documents than this are ignored.
        keep: The rows to join (all when None).
        partition_rows: Rows per partition (about).
        folder: Where to keep the partition of each row while joining (a mapped file, deleted at the end: it
            grows with the corpus); in memory when None.
    """
    count = len(hashes) if keep is None else int(np.count_nonzero(keep))
    drop_pages(keep)
    bits = partition_bits(count, partition_rows)
    column = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        column = Column(folder, "partition_of_row", np.uint16)
    try:
        part_of = partitions(hashes, bits, partition_rows, column)
        return _joined(docs, hashes, keep, bits, part_of, anchor_df_cap, partition_rows, folder)
    finally:
        if column is not None and column.path is not None:
            column.path.unlink(missing_ok=True)


def _joined(
    docs: I64,
    hashes: U64,
    keep: npt.NDArray[np.bool_] | None,
    bits: int,
    part_of: npt.NDArray[np.uint16],
    anchor_df_cap: int,
    partition_rows: int,
    folder: Path | None,
) -> Candidates:
    """`join_anchors` once each row's partition is known: each partition's distinct pairs with their counts (a
    run, in a file of `folder` when there is one), then the runs merged."""
    drop_pages(hashes)
    empty = np.empty(0, dtype=np.int64)
    runs: list[tuple[I64, I64]] = []  # with a folder: each partition's pairs, in files
    pairs: tuple[I64, I64] = (empty, empty)  # without: the pairs merged so far
    hubs, capped = (empty, empty), 0
    for part in range(1 << bits):
        part_docs, part_hashes = _partition_rows(docs, hashes, part_of, part, keep, max(partition_rows, MIN_PIECE))
        keys, counts, hub_keys, part_capped = join_partition(part_docs, part_hashes, anchor_df_cap, partition_rows)
        del part_docs, part_hashes
        if folder is None:
            pairs = _merged(pairs, (keys, counts))
        elif len(keys):
            name = f"run{part:05d}"
            runs.append((mapped_copy(folder, f"{name}_keys", keys), mapped_copy(folder, f"{name}_counts", counts)))
        del keys, counts
        hubs = _merged(hubs, np.unique(hub_keys, return_counts=True))
        capped += part_capped
        release_free_memory()  # a partition's temporaries: otherwise glibc keeps them, and the next adds more
    hub_keys, hub_counts = hubs
    kept = hub_counts >= MIN_HUB_ANCHORS  # a pair found through hubs shares several capped anchors
    hub_run = (hub_keys[kept], hub_counts[kept])
    if folder is None:
        pair_keys, shared = _merged(pairs, hub_run)
        return Candidates(pair_keys // 2**32, pair_keys % 2**32, shared, capped)
    if len(hub_run[0]) or not runs:
        runs.append(hub_run)
    try:
        return _merged_runs(runs, capped, max(partition_rows, MIN_PIECE), folder)
    finally:
        for part in range(1 << bits):
            for name in ("keys", "counts"):
                (folder / f"run{part:05d}_{name}.npy").unlink(missing_ok=True)


def _merged_runs(runs: list[tuple[I64, I64]], capped: int, piece: int, folder: Path) -> Candidates:
    """The runs (each with sorted, distinct keys) merged into the candidates, one range of keys at a time, into
    mapped files of `folder`: the distinct pairs of a corpus grow with it, and held in memory they were the
    largest thing the join kept (16 bytes a pair, twice that while merged)."""
    total = sum(len(keys) for keys, _ in runs)
    largest = max(runs, key=lambda run: len(run[0]))[0]
    chunks = max(1, -(-total // piece))
    cuts = np.unique(np.asarray(largest[(np.arange(1, chunks) * len(largest)) // chunks], dtype=np.int64))
    bounds = [None, *cuts.tolist(), None]
    columns = [Column(folder, name, np.int64) for name in ("a", "b", "shared")]
    for low, high in itertools.pairwise(bounds):
        keys_parts, count_parts = [], []
        for keys, counts in runs:
            start = 0 if low is None else int(np.searchsorted(keys, low))
            stop = len(keys) if high is None else int(np.searchsorted(keys, high))
            keys_parts.append(np.asarray(keys[start:stop]))
            count_parts.append(np.asarray(counts[start:stop]))
            drop_pages(keys, counts)
        chunk_keys, chunk_counts = np.concatenate(keys_parts), np.concatenate(count_parts)
        if len(chunk_keys) == 0:
            continue
        order = np.argsort(chunk_keys, kind="stable")
        chunk_keys, chunk_counts = chunk_keys[order], chunk_counts[order]
        first = np.flatnonzero(np.concatenate(([True], chunk_keys[1:] != chunk_keys[:-1])))
        distinct = chunk_keys[first]
        shared = np.add.reduceat(chunk_counts, first)
        for column, values in zip(columns, (distinct // 2**32, distinct % 2**32, shared), strict=True):
            column.append(values)
    a, b, shared = (column.close() for column in columns)
    return Candidates(a, b, shared, capped)


def _partition_rows(
    docs: I64, hashes: U64, part_of: npt.NDArray[np.uint16], part: int, keep: npt.NDArray[np.bool_] | None, piece: int
) -> tuple[I64, U64]:
    """The anchor rows of one partition (those `keep` selects), gathered in pieces of `piece` rows: mapped anchors
    are read piece by piece and their pages let go after each, so the join never holds the whole files."""
    found_docs, found_hashes = [], []
    mapped = [array for array in (docs, hashes, part_of, keep) if is_mapped(array)]
    for start in range(0, len(hashes), piece):
        span = slice(start, start + piece)
        chosen = part_of[span] == part
        if keep is not None:
            chosen &= keep[span]
        rows = np.flatnonzero(chosen)
        found_docs.append(np.asarray(docs[span])[rows])
        found_hashes.append(np.asarray(hashes[span])[rows])
        if mapped:
            drop_pages(*mapped)
    if not found_docs:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
    return np.concatenate(found_docs), np.concatenate(found_hashes)


def _merged(one: tuple[I64, I64], other: tuple[I64, I64]) -> tuple[I64, I64]:
    """The keys of two (keys, counts), each with its keys sorted and distinct, with their counts summed.

    Merged in place of sorting again: the running counts of a corpus's distinct pairs grow with it, and a sort of
    them with its permutation and inverse took about 50 bytes per pair at each merge (32 here).
    """
    keys, counts = np.asarray(one[0], dtype=np.int64), np.array(one[1], dtype=np.int64)
    new_keys, new_counts = np.asarray(other[0], dtype=np.int64), np.asarray(other[1], dtype=np.int64)
    if len(new_keys) == 0:
        return keys, counts
    if len(keys) == 0:
        return new_keys, new_counts.copy()
    at = np.searchsorted(keys, new_keys)
    found = at < len(keys)
    found[found] = keys[at[found]] == new_keys[found]
    counts[at[found]] += new_counts[found]  # keys are distinct: each place once
    added = ~found
    return np.insert(keys, at[added], new_keys[added]), np.insert(counts, at[added], new_counts[added])


def join_partition(docs: I64, hashes: U64, anchor_df_cap: int, flush_keys: int) -> tuple[I64, I64, I64, int]:
    """One partition's distinct pair keys `a * 2**32 + b` with how many anchors each pair shares there, the hub
    pair keys (once per capped anchor), and the number of capped anchors. Pair keys are counted in pieces of
    about `flush_keys` (a near-duplicate pair comes once per shared anchor before counting)."""
    order = np.lexsort((docs, hashes))
    docs, hashes = docs[order], hashes[order]
    distinct = np.ones(len(docs), dtype=np.bool_)
    distinct[1:] = (docs[1:] != docs[:-1]) | (hashes[1:] != hashes[:-1])
    docs, hashes = docs[distinct], hashes[distinct]
    group_start = np.ones(len(hashes), dtype=np.bool_)
    group_start[1:] = hashes[1:] != hashes[:-1]
    group_id = np.cumsum(group_start) - 1
    sizes = np.bincount(group_id) if len(group_id) else np.empty(0, dtype=np.int64)
    row_size = sizes[group_id]
    usable = (row_size >= 2) & (row_size <= anchor_df_cap)
    capped = int(np.count_nonzero(sizes > anchor_df_cap))
    hub_keys = _hub_pairs(docs, group_id, row_size > anchor_df_cap)
    docs, group_id = docs[usable], group_id[usable]
    empty = np.empty(0, dtype=np.int64)
    counted: tuple[I64, I64] = (empty, empty)
    pending: list[I64] = []
    held = 0
    for step in range(1, int(row_size[usable].max(initial=1))):
        same = np.flatnonzero(group_id[step:] == group_id[:-step])
        pending.append(docs[same] * np.int64(2**32) + docs[same + step])
        held += len(same)
        if held >= flush_keys:
            counted = _merged(counted, np.unique(np.concatenate(pending), return_counts=True))
            pending, held = [], 0
    if pending:
        counted = _merged(counted, np.unique(np.concatenate(pending), return_counts=True))
    return counted[0], counted[1], hub_keys, capped


def _hub_pairs(docs: I64, group_id: I64, capped: np.ndarray) -> I64:
    """Pair keys `a * 2**32 + b` of each holder of a capped anchor with the group's first HUBS holders (a pair
    once per capped anchor it shares this way)."""
    docs, group_id = docs[capped], group_id[capped]
    if len(docs) == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], group_id[1:] != group_id[:-1])))
    sizes = np.diff(np.append(starts, len(docs)))
    keys = []
    earlier_hub = np.zeros(len(docs), dtype=np.bool_)
    for hub in range(HUBS):
        hub_doc = np.repeat(docs[starts + hub], sizes)  # groups hold more than anchor_df_cap >= 2 documents
        other = (docs != hub_doc) & ~earlier_hub
        earlier_hub |= docs == hub_doc
        low, high = np.minimum(hub_doc, docs)[other], np.maximum(hub_doc, docs)[other]
        keys.append(low * np.int64(2**32) + high)
    return np.concatenate(keys)
