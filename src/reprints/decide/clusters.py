"""Clusters: connected components of `exact` and `near_duplicate` links (union-find)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reprints.decide.links import Link

MERGING = ("exact", "near_duplicate")


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
    for link in links:
        if link.relation in MERGING:
            sets.union(link.a, link.b)
    groups: dict[int, list[int]] = {}
    for doc in range(size):
        groups.setdefault(sets.find(doc), []).append(doc)
    return [members for _, members in sorted(groups.items()) if len(members) > 1]


def number_clusters(groups: Sequence[Sequence[int]], contained: Iterable[int], size: int) -> list[int | None]:
    """Cluster number of each document, or None if it is in none.

    Every group is a cluster, and so is each contained document outside any group (its cluster records
    the pages containing it). Clusters are numbered in the order of their first member.
    """
    grouped = {doc for members in groups for doc in members}
    singles = [[doc] for doc in sorted(set(contained) - grouped)]
    cluster: list[int | None] = [None] * size
    for number, members in enumerate(sorted([*map(list, groups), *singles])):
        for doc in members:
            cluster[doc] = number
    return cluster
