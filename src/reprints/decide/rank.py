"""The keep-first ranking: the fullest standalone copy of a story first, pages with other text after.

The rules, in order:

1. **Pages after articles.** A document is a *page* when it contains another document that makes up less than
   `PAGE_SHARE` of it (an article with much other text around it: an aggregator page, a front page), or two
   or more documents in separate places (several stories). A document counts once however often the page
   carries it (a page with an article twice is still mostly other text). Pages rank after every other document.
2. **Fuller copies first.** Between two documents that share a story (one contains the other, or they are near
   duplicates), the one with at least `min_passage` more tokens of its own (tokens the other does not hold)
   ranks first, unless it is a page: an original before its teaser, a full copy before a truncated one. Between
   two pages it applies when the other makes up at least `PAGE_SHARE` of the fuller one: an article that holds a
   news brief of its first sentences is a page by rule 1 (the brief is a small share of it), and so is its
   teaser holding the same brief; the article still comes before its teaser, while a front page that carries
   the article among much other text does not come before it.
3. **Then** the `order_by` field (smaller first; missing values last), **then** input order.

Rule 2 orders pairs; the ranking is the order that respects every such pair (a topological order with rules 1
and 3 choosing among the documents free to come next).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from reprints.decide.links import Link

PAGE_SHARE = 0.4


def sort_value(value: Any) -> tuple[int, Any]:
    """A sort key for any `order_by` value: numbers, then text, then missing."""
    if value is None:
        return (3, "")
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def pages(links: Sequence[Link], token_counts: Sequence[int]) -> set[int]:
    """Documents that carry much other text or several stories (rule 1)."""
    found: set[int] = set()
    holdings: dict[int, list[tuple[int, int]]] = {}
    for link in links:
        container = link.container
        if container is None:
            continue
        inside = link.a if container == link.b else link.b
        share = link.coverage_b if container == link.b else link.coverage_a
        share = min(share, token_counts[inside] / max(token_counts[container], 1))  # counted once
        if share < PAGE_SHARE:
            found.add(container)
        regions = link.regions_from(container)
        holdings.setdefault(container, []).append((min(r[0] for r in regions), max(r[1] for r in regions)))
    for container, extents in holdings.items():
        extents.sort()
        if any(start >= end for (_, end), (start, _) in itertools.pairwise(extents)):
            found.add(container)
    return found


def _own(link: Link, doc: int, token_counts: Sequence[int]) -> int:
    covered = link.coverage_a if doc == link.a else link.coverage_b
    return token_counts[doc] - round(covered * token_counts[doc])


def _may_lead(link: Link, fuller: int, page_set: set[int], token_counts: Sequence[int]) -> bool:
    """Whether rule 2 may put `fuller` before the other document of the link: always when it is not a page; when
    it is, only if the other is a page too and makes up at least PAGE_SHARE of it (an article that holds a brief
    of its lede, before its teaser), never a page that carries the other among much other text (a front page
    holding an article)."""
    if fuller not in page_set:
        return True
    other = link.other(fuller)
    share = link.coverage_a if fuller == link.a else link.coverage_b
    share = min(share, token_counts[other] / max(token_counts[fuller], 1))  # counted once, as in `pages`
    return other in page_set and share >= PAGE_SHARE


def ranking(
    size: int,
    links: Sequence[Link],
    order_values: Mapping[int, Any] | None,
    token_counts: Sequence[int],
    *,
    min_passage: int,
    members: Sequence[int] | None = None,
) -> list[int]:
    """Documents (all, or `members`) in keep-first order (see the module docstring)."""
    values = order_values or {}
    page_set = pages(links, token_counts)
    docs = list(range(size)) if members is None else list(members)
    wanted = set(docs)
    before: dict[int, list[int]] = {}
    waiting = dict.fromkeys(docs, 0)
    for link in links:
        if link.relation not in ("contained", "near_duplicate") or link.a not in wanted or link.b not in wanted:
            continue
        own_a, own_b = _own(link, link.a, token_counts), _own(link, link.b, token_counts)
        if own_a - own_b >= min_passage and _may_lead(link, link.a, page_set, token_counts):
            fuller, other = link.a, link.b
        elif own_b - own_a >= min_passage and _may_lead(link, link.b, page_set, token_counts):
            fuller, other = link.b, link.a
        else:
            continue
        before.setdefault(fuller, []).append(other)
        waiting[other] += 1

    def key(doc: int) -> tuple[bool, tuple[int, Any], int]:
        return (doc in page_set, sort_value(values.get(doc)), doc)

    ready = [key(doc) for doc in docs if waiting[doc] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    placed: set[int] = set()
    while len(order) < len(docs):
        if not ready:  # a cycle of "fuller" pairs: let the best-ranked waiting document go first
            heapq.heappush(ready, min(key(doc) for doc in docs if doc not in placed))
        doc = heapq.heappop(ready)[2]
        if doc in placed:
            continue
        placed.add(doc)
        order.append(doc)
        for other in before.get(doc, []):
            waiting[other] -= 1
            if waiting[other] == 0 and other not in placed:
                heapq.heappush(ready, key(other))
    return order
