from __future__ import annotations

import numpy as np

from reprints.candidates.exact import exact_groups
from reprints.candidates.join import join_anchors


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


def test_exact_groups_skip_empty_and_unreadable() -> None:
    hashes = np.array([7, 8, 7, 9, 9, 7], dtype=np.uint64)
    counts = np.array([3, 3, 3, 0, 0, 3])
    rep, groups = exact_groups(hashes, counts, unreadable={5})
    assert groups == [[0, 2]]
    assert rep.tolist() == [0, 1, 0, 3, 4, 5]
