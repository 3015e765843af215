"""Links between documents (aligned pairs in token space) and the relation each one gets."""

from __future__ import annotations

from dataclasses import dataclass

from reprints.types import Relation

TokenRegion = tuple[int, int, int, int]  # a_start, a_end, b_start, b_end (token indices, ends exclusive)


@dataclass(frozen=True, slots=True)
class Link:
    """Two documents (by input index, `a < b`) that share aligned passages."""

    a: int
    b: int
    relation: Relation
    coverage_a: float
    coverage_b: float
    regions: tuple[TokenRegion, ...]

    @property
    def container(self) -> int | None:
        """The bigger document of a `contained` link, None for other relations."""
        if self.relation != "contained":
            return None
        return self.b if self.coverage_a >= self.coverage_b else self.a

    def other(self, doc: int) -> int:
        """The document at the other end of the link."""
        return self.b if doc == self.a else self.a

    def regions_from(self, doc: int) -> list[TokenRegion]:
        """The regions with `doc`'s side first."""
        if doc == self.a:
            return list(self.regions)
        return [(b0, b1, a0, a1) for a0, a1, b0, b1 in self.regions]


def relation_of(coverage_a: float, coverage_b: float, *, exact: bool, duplicate_coverage: float) -> Relation:
    """Classify a pair by how much of each side the aligned passages cover.

    `exact` when the normalized texts are equal; `near_duplicate` when both sides are covered at least
    `duplicate_coverage`; `contained` when only one is; `partial` otherwise.
    """
    if exact:
        return "exact"
    if coverage_a >= duplicate_coverage and coverage_b >= duplicate_coverage:
        return "near_duplicate"
    if coverage_a >= duplicate_coverage or coverage_b >= duplicate_coverage:
        return "contained"
    return "partial"


def links_from_alignment(
    a: list[int],
    b: list[int],
    regions: list[list[TokenRegion]],
    covered_a: list[int],
    covered_b: list[int],
    token_counts: list[int],
    groups: dict[int, list[int]],
    *,
    duplicate_coverage: float,
    max_exact_group: int,
) -> list[Link]:
    """Links for aligned representative pairs, spread to every exact copy of either side, and exact links.

    Args:
        a, b, regions, covered_a, covered_b: Aligned pairs of representatives with their regions and
            covered token counts.
        token_counts: Tokens of each document.
        groups: Members of each exact group, keyed by representative.
        duplicate_coverage: Coverage from which a side counts as mostly covered.
        max_exact_group: Exact groups larger than this link each member to the representative only.
    """
    links: list[Link] = []
    for rep, members in groups.items():
        whole = ((0, token_counts[rep], 0, token_counts[rep]),)
        if len(members) <= max_exact_group:
            pairs = [(x, y) for i, x in enumerate(members) for y in members[i + 1 :]]
        else:
            pairs = [(rep, y) for y in members if y != rep]
        links.extend(Link(x, y, "exact", 1.0, 1.0, whole) for x, y in pairs)
    for p, (x, y) in enumerate(zip(a, b, strict=True)):
        if not regions[p]:
            continue
        coverage_x = round(covered_a[p] / token_counts[x], 4)
        coverage_y = round(covered_b[p] / token_counts[y], 4)
        relation = relation_of(coverage_x, coverage_y, exact=False, duplicate_coverage=duplicate_coverage)
        for u in groups.get(x, [x]):
            for v in groups.get(y, [y]):
                if u < v:
                    links.append(Link(u, v, relation, coverage_x, coverage_y, tuple(regions[p])))
                else:
                    swapped = tuple((b0, b1, a0, a1) for a0, a1, b0, b1 in regions[p])
                    links.append(Link(v, u, relation, coverage_y, coverage_x, tuple(sorted(swapped))))
    return sorted(links, key=lambda link: (link.a, link.b))
