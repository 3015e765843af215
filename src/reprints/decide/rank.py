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
3. **Then** the `order_by` field (smaller first; missing values last; naming the id field, the ids: see
   `ids_ranked`), **then** input order.

Rule 2 orders pairs; the ranking is the order that respects every such pair (a topological order with rules 1
and 3 choosing among the documents free to come next).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from reprints.decide.links import Link, Links
from reprints.normalize.tokens import I64

PAGE_SHARE = 0.4


def sort_value(value: Any) -> tuple[int, Any]:
    """A sort key for any `order_by` value: numbers, then text, then missing (NaN, as pandas writes a missing
    number, is missing: compared with other numbers it is neither before nor after them, and sorting gave any
    order)."""
    if value is None or (isinstance(value, float) and value != value):
        return (3, "")
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


DECIMAL = re.compile(r"(-?(?:0|[1-9][0-9]{0,999})(?:\.[0-9]{1,1000})?)(?:#[0-9]+)?")


def ids_ranked(ids: Mapping[int, str]) -> dict[int, Any]:
    """Documents' ids as `order_by` values (`--order-by` naming the id field): an id written as a decimal number
    is that number (ids 9 and 10 rank so, not 10 then 9 as text), and ranks before the other ids, which rank as
    text. A repeated id renamed `ID#2` ranks as `ID` (after it: input order breaks the tie)."""
    return {index: _id_value(doc_id) for index, doc_id in ids.items()}


def _id_value(doc_id: str) -> Any:
    found = DECIMAL.fullmatch(doc_id)
    if found is None:
        return doc_id
    number = found.group(1)
    return float(number) if "." in number else int(number)


def pages(links: Sequence[Link], token_counts: Sequence[int] | I64) -> set[int]:
    """Documents that carry much other text or several stories (rule 1)."""
    table = Links.of(links)
    counts = np.asarray(token_counts, dtype=np.int64)
    rows = np.flatnonzero(table.container() >= 0)
    container = table.container()[rows]
    on_b = container == table.b[rows]
    inside = np.where(on_b, table.a[rows], table.b[rows])
    share = np.where(on_b, table.coverage_b[rows], table.coverage_a[rows])
    share = np.minimum(share, counts[inside] / np.maximum(counts[container], 1))  # counted once
    found = set(container[share < PAGE_SHARE].tolist())
    # Several stories: two of a container's extents (first start, last end of its regions) one after the other.
    start, end = table.extents(table.a == table.container())
    start, end = start[rows], end[rows]
    order = np.lexsort((end, start, container))
    container, start, end = container[order], start[order], end[order]
    apart = (container[1:] == container[:-1]) & (start[1:] >= end[:-1])
    return found | set(container[1:][apart].tolist())


def _own(covered: np.ndarray, counts: I64) -> I64:
    """Tokens of their own of documents with `counts` tokens, `covered` of them by a link's passages."""
    return counts - np.rint(covered * counts).astype(np.int64)


def _may_lead(fuller: I64, other: I64, share: np.ndarray, is_page: np.ndarray, counts: I64) -> np.ndarray:
    """Whether rule 2 may put `fuller` before `other` (its coverage `share`): always when it is not a page; when
    it is, only if the other is a page too and makes up at least PAGE_SHARE of it (an article that holds a brief
    of its lede, before its teaser), never a page that carries the other among much other text (a front page
    holding an article)."""
    share = np.minimum(share, counts[other] / np.maximum(counts[fuller], 1))  # counted once, as in `pages`
    return ~is_page[fuller] | (is_page[other] & (share >= PAGE_SHARE))


def ranking(
    size: int,
    links: Sequence[Link],
    order_values: Mapping[int, Any] | None,
    token_counts: Sequence[int] | I64,
    *,
    min_passage: int,
    members: Sequence[int] | I64 | None = None,
) -> list[int]:
    """Documents (all, or `members`) in keep-first order (see the module docstring)."""
    values = order_values or {}
    table = Links.of(links)
    counts = np.asarray(token_counts, dtype=np.int64)
    page_set = pages(table, token_counts)
    is_page = np.zeros(size, dtype=np.bool_)
    is_page[list(page_set)] = True
    docs = np.arange(size, dtype=np.int64) if members is None else np.asarray(members, dtype=np.int64)
    wanted = np.zeros(size, dtype=np.bool_)
    wanted[docs] = True
    a, b = table.a, table.b
    rows = table.is_relation("contained", "near_duplicate") & wanted[a] & wanted[b]
    own_a, own_b = _own(table.coverage_a, counts[a]), _own(table.coverage_b, counts[b])
    a_first = rows & (own_a - own_b >= min_passage) & _may_lead(a, b, table.coverage_a, is_page, counts)
    b_first = rows & ~a_first & (own_b - own_a >= min_passage) & _may_lead(b, a, table.coverage_b, is_page, counts)
    fuller = np.concatenate((a[a_first], b[b_first]))
    other = np.concatenate((b[a_first], a[b_first]))
    # In link order, as the pairs were found: `before[doc]` lists the documents `doc` goes before.
    by_link = np.argsort(np.concatenate((np.flatnonzero(a_first), np.flatnonzero(b_first))), kind="stable")
    fuller, other = fuller[by_link], other[by_link]
    by_fuller = np.argsort(fuller, kind="stable")
    after = other[by_fuller].tolist()
    bounds = np.searchsorted(fuller[by_fuller], np.arange(size + 1)).tolist()
    waiting = np.bincount(other, minlength=size).tolist()

    # Rules 1 and 3 as one number per document: its place in (page, order_by value, input order).
    if values:
        preferred = sorted(docs.tolist(), key=lambda doc: (bool(is_page[doc]), sort_value(values.get(doc)), doc))
    else:
        preferred = docs[np.lexsort((docs, is_page[docs]))].tolist()
    place = [0] * size
    for position, doc in enumerate(preferred):
        place[doc] = position
    ready = [place[doc] for doc in preferred if waiting[doc] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    placed = bytearray(size)
    next_free = 0  # documents of `preferred` before this one are placed
    while len(order) < len(preferred):
        if not ready:  # a cycle of "fuller" pairs: let the best-ranked waiting document go first
            while placed[preferred[next_free]]:
                next_free += 1
            heapq.heappush(ready, next_free)
        doc = preferred[heapq.heappop(ready)]
        if placed[doc]:
            continue
        placed[doc] = 1
        order.append(doc)
        for other_doc in after[bounds[doc] : bounds[doc + 1]]:
            waiting[other_doc] -= 1
            if waiting[other_doc] == 0 and not placed[other_doc]:
                heapq.heappush(ready, place[other_doc])
    return order
