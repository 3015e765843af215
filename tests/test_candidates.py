from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprints.candidates.exact import exact_groups
from reprints.candidates.join import join_anchors, partitions
from reprints.fingerprint.corpus import fingerprint_batch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "news" / "docs.jsonl"


def test_join_counts_shared_anchors_and_orders_pairs() -> None:
    docs = np.array([0, 1, 2, 0, 2, 1, 1])
    hashes = np.array([10, 10, 10, 20, 20, 30, 30], dtype=np.uint64)
    cands = join_anchors(docs, hashes, anchor_df_cap=50)
    assert list(zip(cands.a.tolist(), cands.b.tolist(), cands.shared.tolist(), strict=True)) == [
        (0, 1, 1),
        (0, 2, 2),
        (1, 2, 1),
    ]


def test_join_drops_anchors_over_the_cap() -> None:
    docs = np.arange(10)
    hashes = np.full(10, 99, dtype=np.uint64)
    assert len(join_anchors(docs, hashes, anchor_df_cap=9).a) == 0
    capped = join_anchors(docs, hashes, anchor_df_cap=10)
    assert len(capped.a) == 45
    assert join_anchors(docs, hashes, anchor_df_cap=9).capped_anchors == 1


def test_join_with_no_anchors() -> None:
    cands = join_anchors(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64), anchor_df_cap=5)
    assert len(cands.a) == 0


@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 3000),
    st.integers(2, 40),
    st.integers(2, 12),
    st.sampled_from([1, 7, 100, 1000]),
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_join_in_partitions_gives_the_same_candidates(
    tmp_path: Path, seed: int, rows: int, per_hash: int, cap: int, partition_rows: int
) -> None:
    """The anchor join in hash-range partitions (bounded memory), of the rows `keep` selects, finds the same
    pairs, shared counts and capped anchors as in one piece on those rows: anchors of hashes held by a few to
    tens of rows (some over the cap, so hubs count) spread over many documents, hashes drawn over the whole
    64-bit range so that every partition holds some; small partitions count their pairs in many pieces. So
    does the join that writes each partition's pairs to files and merges them a range of keys at a time (as
    the local engine runs it), leaving no file of its own behind but the candidates'."""
    rng = np.random.default_rng(seed)
    distinct = max(1, rows // per_hash)  # about `per_hash` rows per hash: groups under and over the cap
    values = rng.integers(0, 2**64 - 1, size=distinct, dtype=np.uint64, endpoint=True)
    hashes = values[rng.integers(0, distinct, size=rows)]
    docs = rng.integers(0, max(2, rows // 3), size=rows).astype(np.int64)
    keep = rng.random(rows) < 0.9
    whole = join_anchors(docs[keep], hashes[keep], anchor_df_cap=cap)
    parted = join_anchors(docs, hashes, anchor_df_cap=cap, keep=keep, partition_rows=partition_rows)
    assert np.array_equal(whole.a, parted.a) and np.array_equal(whole.b, parted.b)
    assert np.array_equal(whole.shared, parted.shared)
    assert whole.capped_anchors == parted.capped_anchors
    folder = tmp_path / f"join{seed}-{rows}-{partition_rows}"
    spilled = join_anchors(docs, hashes, anchor_df_cap=cap, keep=keep, partition_rows=partition_rows, folder=folder)
    for mine, theirs in ((spilled.a, whole.a), (spilled.b, whole.b), (spilled.shared, whole.shared)):
        assert np.asarray(mine).dtype == np.int64 and np.array_equal(mine, theirs)
    assert spilled.capped_anchors == whole.capped_anchors
    left = sorted(path.name for path in folder.iterdir())
    assert left == ["a.npy", "b.npy", "shared.npy"]


def test_exact_groups_skip_empty_and_unreadable() -> None:
    hashes = np.array([7, 8, 7, 9, 9, 7], dtype=np.uint64)
    counts = np.array([3, 3, 3, 0, 0, 3])
    rep, groups = exact_groups(hashes, counts, unreadable={5})
    assert groups == [[0, 2]]
    assert rep.tolist() == [0, 1, 0, 3, 4, 5]


def test_regression_join_partitions_hold_equal_shares_of_winnowed_anchors() -> None:
    """Anchors are the smallest shingle hashes of their windows: partitioned by the hashes' top bits, the first
    of 8 partitions held most of them (and the join's peak memory at 640k documents with it). By the low bits
    each partition holds about an eighth of the anchors of real text."""
    texts = [json.loads(line)["text"] for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
    prints = fingerprint_batch(texts, shingle_size=5, window=12, seed=0)
    sizes = np.bincount(partitions(prints.anchor_hashes, bits=3), minlength=8)
    assert sizes.sum() == len(prints.anchor_hashes) > 10_000
    assert sizes.max() < 1.2 * sizes.mean(), sizes.tolist()
