"""Links between documents (aligned pairs in token space) and the relation each one gets."""

from __future__ import annotations

from collections.abc import Sequence
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
    *,
    duplicate_coverage: float,
) -> list[Link]:
    """Links for aligned pairs (of representatives of exact groups: copies are linked at output time).

    Args:
        a, b, regions, covered_a, covered_b: Aligned pairs with their regions and covered token counts.
        token_counts: Tokens of each document.
        duplicate_coverage: Coverage from which a side counts as mostly covered.
    """
    links: list[Link] = []
    for p, (x, y) in enumerate(zip(a, b, strict=True)):
        if not regions[p]:
            continue
        coverage_x = round(covered_a[p] / token_counts[x], 4)
        coverage_y = round(covered_b[p] / token_counts[y], 4)
        relation = relation_of(coverage_x, coverage_y, exact=False, duplicate_coverage=duplicate_coverage)
        links.append(oriented(x, y, relation, coverage_x, coverage_y, regions[p]))
    return sorted(links, key=lambda link: (link.a, link.b))


def oriented(
    x: int, y: int, relation: Relation, coverage_x: float, coverage_y: float, regions: Sequence[TokenRegion]
) -> Link:
    """A link between `x` and `y` with its smaller document first."""
    if x < y:
        return Link(x, y, relation, coverage_x, coverage_y, tuple(regions))
    swapped = tuple(sorted((b0, b1, a0, a1) for a0, a1, b0, b1 in regions))
    return Link(y, x, relation, coverage_y, coverage_x, swapped)


def reseated(link: Link, seat: Sequence[int]) -> Link:
    """The link with each end moved to `seat[end]` (an exact copy standing for its group)."""
    x, y = seat[link.a], seat[link.b]
    if (x, y) == (link.a, link.b):
        return link
    return oriented(x, y, link.relation, link.coverage_a, link.coverage_b, link.regions)


@dataclass(frozen=True, slots=True)
class Relations:
    """Everything the decide and write stages need: links, exact copies, the ranking."""

    links: list[Link]  # between ranked documents only
    copies: dict[int, int]  # exact copy -> its group's canonical member
    groups: list[list[int]]  # exact groups, canonical first
    order: list[int]  # ranked documents (all but the copies), keep-first order
