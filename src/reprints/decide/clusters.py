"""Clusters: each document with its exact copies and near duplicates, around one canonical member.

Walking the keep-first ranking, each document not yet in a cluster starts one as its canonical member and takes
in every document not yet clustered that is its exact copy or near duplicate (a direct link). So every member
is a copy or near duplicate of the canonical itself: no chains, where A is like B, B like C, and A nothing like
C. Union-find components of the merging links tell which documents to check against each canonical
(`missing_links`), so a story copied hundreds of times, found through a few hubs, still forms one cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from reprints.decide.links import Link, Links
from reprints.types import Relation

MERGING: tuple[Relation, ...] = ("exact", "near_duplicate")


class UnionFind:
    """Disjoint sets over `0..size-1`, with path halving; the root of a set is its smallest member."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        """The root of the set holding `item`."""
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, x: int, y: int) -> None:
        """Merge the sets of `x` and `y`."""
        root_x, root_y = self.find(x), self.find(y)
        if root_x != root_y:
            low, high = sorted((root_x, root_y))
            self.parent[high] = low


def components(size: int, links: Iterable[Link]) -> list[list[int]]:
    """Groups of two or more documents joined by merging links, each sorted, ordered by first member."""
    sets = UnionFind(size)
    for a, b in merging_edges(links):
        sets.union(a, b)
    groups: dict[int, list[int]] = {}
    for doc in range(size):
        groups.setdefault(sets.find(doc), []).append(doc)
    return [members for _, members in sorted(groups.items()) if len(members) > 1]


def merging_edges(links: Iterable[Link]) -> list[tuple[int, int]]:
    """The `(a, b)` of each merging link (exact or near duplicate), in the links' order."""
    table = Links.of(links)
    merging = table.is_relation(*MERGING)
    return list(zip(table.a[merging].tolist(), table.b[merging].tolist(), strict=True))


def missing_links(
    size: int,
    links: Sequence[Link],
    order: Sequence[int],
    components_of: Callable[[int, Sequence[Link]], list[list[int]]] = components,
) -> list[tuple[int, int]]:
    """Pairs to align so that the best-ranked member of each merging component is linked to every other member.

    `components_of` finds the components (`components`, or an engine's: the same groups in the same order).
    Returns `(a, b)` pairs with `a < b`, sorted.
    """
    table = Links.of(links)
    rank = np.full(size, -1, dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    linked = np.unique(table.a * size + table.b)  # each linked pair as one number
    wanted: list[tuple[int, int]] = []
    for members in components_of(size, table):
        ranked = [doc for doc in members if rank[doc] >= 0]
        if len(ranked) < 3:
            continue
        best = min(ranked, key=lambda doc: int(rank[doc]))
        wanted.extend((min(best, doc), max(best, doc)) for doc in ranked if doc != best)
    if not wanted:
        return []
    pairs = np.unique(np.array(wanted, dtype=np.int64).reshape(-1, 2), axis=0)
    known = np.isin(pairs[:, 0] * size + pairs[:, 1], linked)
    return [(x, y) for x, y in pairs[~known].tolist()]


def star_clusters(links: Sequence[Link], order: Sequence[int], copies: Mapping[int, int]) -> list[list[int]]:
    """Clusters of two or more documents, each listed canonical first, then members in input order.

    Args:
        links: Links between ranked documents (not exact copies).
        order: Ranked documents in keep-first order.
        copies: Each exact copy and the canonical member of its group; a copy joins its canonical's cluster.
    """
    table = Links.of(links)
    merging = table.is_relation(*MERGING)
    # Each document's near duplicates and exact copies among the links, in link order.
    ends = np.stack((table.a[merging], table.b[merging]), axis=1).reshape(-1)
    others = np.stack((table.b[merging], table.a[merging]), axis=1).reshape(-1)
    by_end = np.argsort(ends, kind="stable")
    near = others[by_end].tolist()
    top = int(ends.max()) + 1 if len(ends) else 0
    bounds = np.searchsorted(ends[by_end], np.arange(top + 1)).tolist()  # doc's neighbours: bounds[doc]:[doc + 1]
    copies_of: dict[int, list[int]] = {}
    for copy, canonical in copies.items():
        copies_of.setdefault(canonical, []).append(copy)
    assigned: set[int] = set()
    clusters: list[list[int]] = []
    for doc in order:
        if doc in assigned:
            continue
        assigned.add(doc)
        mine = near[bounds[doc] : bounds[doc + 1]] if doc < top else []
        members = [other for other in mine if other not in assigned]
        assigned.update(members)
        everyone = [*members, *copies_of.get(doc, [])]
        for member in members:
            everyone.extend(copies_of.get(member, []))
        if everyone:
            clusters.append([doc, *sorted(everyone)])
    return clusters


def number_clusters(clusters: Sequence[Sequence[int]], contained: Iterable[int], size: int) -> list[int | None]:
    """Cluster number of each document, or None if it is in none.

    Every cluster counts, and so does each contained document outside any cluster (its cluster records the
    pages containing it). Clusters are numbered in the order of their first member in the input.
    """
    grouped = {doc for members in clusters for doc in members}
    singles = [[doc] for doc in sorted(set(contained) - grouped)]
    cluster: list[int | None] = [None] * size
    for number, members in enumerate(sorted([sorted(members) for members in clusters] + singles)):
        for doc in members:
            cluster[doc] = number
    return cluster
