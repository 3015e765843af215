"""Links between documents (aligned pairs in token space) and the relation each one gets."""

from __future__ import annotations

import struct
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from reprints.align.batch import AlignedBatch, align_batch
from reprints.align.chain import Regions
from reprints.config import Config
from reprints.fingerprint.corpus import BatchPrints, Corpus
from reprints.io.arrays import Strings, ranges
from reprints.normalize.tokens import I64
from reprints.types import RELATIONS, Relation, pickled_as_tuples

CONTENT_SHARE = 0.5  # an aligned passage is content when this share of each side is not template
TokenRegion = tuple[int, int, int, int]  # a_start, a_end, b_start, b_end (token indices, ends exclusive)


_REGION = struct.Struct("<4i")  # token indices within a document: int32, as the match positions


@pickled_as_tuples
@dataclass(frozen=True, slots=True, init=False)
class Link:
    """Two documents (by input index, `a < b`) that share aligned passages.

    The main process holds one per related pair, so the regions are kept packed (`regions` unpacks them): as
    tuples of Python ints a link took about 530 bytes, packed about half that.
    """

    a: int
    b: int
    relation: Relation
    coverage_a: float
    coverage_b: float
    packed: bytes  # the regions, four little-endian int32 each

    def __init__(
        self,
        a: int,
        b: int,
        relation: Relation,
        coverage_a: float,
        coverage_b: float,
        regions: Iterable[TokenRegion] = (),
    ) -> None:
        packed = b"".join(_REGION.pack(*region) for region in regions)
        for name, value in zip(self.__slots__, (a, b, relation, coverage_a, coverage_b, packed), strict=True):
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        fields = f"{self.a}, {self.b}, {self.relation!r}, {self.coverage_a}, {self.coverage_b}, {self.regions}"
        return f"Link({fields})"

    @property
    def regions(self) -> tuple[TokenRegion, ...]:
        """Aligned passages, in token indices: `(a_start, a_end, b_start, b_end)`, ends exclusive."""
        return tuple(_REGION.iter_unpack(self.packed))

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


def _link_of(a: int, b: int, relation: Relation, coverage_a: float, coverage_b: float, packed: bytes) -> Link:
    """A Link from its fields with the regions already packed (as `Links` holds them)."""
    link = object.__new__(Link)
    for name, value in zip(Link.__slots__, (a, b, relation, coverage_a, coverage_b, packed), strict=True):
        object.__setattr__(link, name, value)
    return link


_RELATION_CODE = {relation: code for code, relation in enumerate(RELATIONS)}
_REGION_DTYPE = np.dtype("<i4")
_CHUNK = 4096  # links made into objects at a time when a table is iterated


class Links(Sequence[Link]):
    """Links held as columns: what the main process keeps of every related pair of a corpus.

    About 60 bytes a link (with one region) instead of about 250 as Python objects; indexing or iterating gives
    `Link` objects made on demand, so code written for a list of links reads a table the same way, and the
    stages that walk all links (ranking, decisions, clusters) read the columns.

    Attributes:
        a, b: The two documents of each link (`a < b`).
        relation: Index of each link's relation in `reprints.types.RELATIONS`.
        coverage_a, coverage_b: The coverages.
        starts: Link `i`'s regions are rows `starts[i]:starts[i + 1]` of `regions`.
        regions: `(a_start, a_end, b_start, b_end)` rows, int32 token indices.
    """

    __slots__ = ("a", "b", "coverage_a", "coverage_b", "regions", "relation", "starts")

    def __init__(
        self, a: I64, b: I64, relation: np.ndarray, coverage_a: np.ndarray, coverage_b: np.ndarray,
        starts: I64, regions: np.ndarray,
    ) -> None:  # fmt: skip
        self.a, self.b, self.relation = a, b, relation
        self.coverage_a, self.coverage_b = coverage_a, coverage_b
        self.starts, self.regions = starts, regions

    @classmethod
    def of(cls, links: Iterable[Link]) -> Links:
        """A table of these links, in their order (a table is returned as it is)."""
        if isinstance(links, Links):
            return links
        listed = list(links)
        packed = b"".join(link.packed for link in listed)
        sizes = np.fromiter((len(link.packed) // _REGION.size for link in listed), np.int64, len(listed))
        return cls(
            np.fromiter((link.a for link in listed), np.int64, len(listed)),
            np.fromiter((link.b for link in listed), np.int64, len(listed)),
            np.fromiter((_RELATION_CODE[link.relation] for link in listed), np.int8, len(listed)),
            np.fromiter((link.coverage_a for link in listed), np.float64, len(listed)),
            np.fromiter((link.coverage_b for link in listed), np.float64, len(listed)),
            np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
            np.frombuffer(packed, dtype=_REGION_DTYPE).reshape(-1, 4).copy(),
        )

    @classmethod
    def joined(cls, tables: Sequence[Links]) -> Links:
        """The tables one after the other."""
        if not tables:
            return cls.of(())
        offsets = np.cumsum([0, *(len(table.regions) for table in tables[:-1])])
        starts = [table.starts[:-1] + offset for table, offset in zip(tables, offsets, strict=True)]
        return cls(
            np.concatenate([table.a for table in tables]),
            np.concatenate([table.b for table in tables]),
            np.concatenate([table.relation for table in tables]),
            np.concatenate([table.coverage_a for table in tables]),
            np.concatenate([table.coverage_b for table in tables]),
            np.concatenate([*starts, [offsets[-1] + len(tables[-1].regions)]]).astype(np.int64),
            np.concatenate([table.regions for table in tables]),
        )

    def take(self, rows: I64) -> Links:
        """The links of `rows`, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        sizes = self.starts[rows + 1] - self.starts[rows]
        starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        return Links(
            self.a[rows], self.b[rows], self.relation[rows], self.coverage_a[rows], self.coverage_b[rows],
            starts, self.regions[ranges(self.starts[rows], sizes)],
        )  # fmt: skip

    def sorted_unique(self) -> Links:
        """The table sorted by `(a, b)` (stable), each link equal to an earlier one left out."""
        table = self.take(np.lexsort((self.b, self.a)))
        if len(table) < 2:
            return table
        same = np.flatnonzero((table.a[1:] == table.a[:-1]) & (table.b[1:] == table.b[:-1])) + 1
        if not len(same):
            return table
        keep = np.ones(len(table), dtype=np.bool_)
        later = set(same.tolist())
        run: list[Link] = []
        for row in sorted(later | {row - 1 for row in later}):  # rare: the same pair twice
            if row not in later:
                run = []
            link = table[row]
            keep[row] = link not in run
            run.append(link)
        return table.take(np.flatnonzero(keep))

    def __len__(self) -> int:
        return len(self.a)

    @overload
    def __getitem__(self, index: int) -> Link: ...

    @overload
    def __getitem__(self, index: slice) -> Links: ...

    def __getitem__(self, index: int | slice) -> Link | Links:
        if isinstance(index, slice):
            return self.take(np.arange(len(self))[index])
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return _link_of(
            int(self.a[index]),
            int(self.b[index]),
            RELATIONS[self.relation[index]],
            float(self.coverage_a[index]),
            float(self.coverage_b[index]),
            self.regions[self.starts[index] : self.starts[index + 1]].tobytes(),
        )

    def __iter__(self) -> Iterator[Link]:
        size = _REGION.size
        for first in range(0, len(self), _CHUNK):  # in chunks: no list of every link's fields at once
            end = min(first + _CHUNK, len(self))
            a, b, relation = self.a[first:end].tolist(), self.b[first:end].tolist(), self.relation[first:end].tolist()
            coverage_a, coverage_b = self.coverage_a[first:end].tolist(), self.coverage_b[first:end].tolist()
            starts = (self.starts[first : end + 1] - self.starts[first]).tolist()
            packed = self.regions[self.starts[first] : self.starts[end]].tobytes()
            for i in range(end - first):
                regions = packed[starts[i] * size : starts[i + 1] * size]
                yield _link_of(a[i], b[i], RELATIONS[relation[i]], coverage_a[i], coverage_b[i], regions)

    def container(self) -> I64:
        """The container of each link (`Link.container`), -1 where the relation is not `contained`."""
        bigger = np.where(self.coverage_a >= self.coverage_b, self.b, self.a)
        return np.where(self.relation == _RELATION_CODE["contained"], bigger, -1)

    def is_relation(self, *relations: Relation) -> np.ndarray:
        """Whether each link has one of these relations."""
        return np.isin(self.relation, [_RELATION_CODE[relation] for relation in relations])

    def extents(self, side_a: np.ndarray) -> tuple[I64, I64]:
        """Per link, the first start and the last end of its regions in document a (where `side_a`) or b; 0, 0
        for a link without regions."""
        lo, hi = np.zeros(len(self), np.int64), np.zeros(len(self), np.int64)
        filled = np.flatnonzero(self.starts[1:] > self.starts[:-1])
        if len(filled):
            # Between two links with regions only empty ones lie: each segment is one link's regions.
            firsts = self.starts[filled]
            side = np.asarray(side_a, dtype=np.bool_)[filled]
            for column, out, reduce in ((0, lo, np.minimum), (1, hi, np.maximum)):
                on_a = reduce.reduceat(self.regions[:, column], firsts)
                on_b = reduce.reduceat(self.regions[:, column + 2], firsts)
                out[filled] = np.where(side, on_a, on_b)
        return lo, hi


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


def shared_content(regions: Regions, a: I64, b: I64, token_offsets: I64, template_before: I64) -> tuple[I64, I64]:
    """Per pair, the content tokens (not template: `reprints.normalize.template`) each side shares in passages
    that are content: an aligned passage counts when at least half of each side of it is content, so a menu or
    a widget aligned between two pages adds nothing, whatever article text sits next to it.

    Args:
        regions: Aligned passages of the pairs `(a[p], b[p])`, in token indices.
        token_offsets: First token of each document in the corpus-wide token arrays.
        template_before: Template tokens before each corpus-wide token (`Corpus.template_before`).
    """
    base_a = token_offsets[a[regions.pair]]
    base_b = token_offsets[b[regions.pair]]
    length_a = regions.a_end - regions.a_start
    length_b = regions.b_end - regions.b_start
    content_a = length_a - (template_before[base_a + regions.a_end] - template_before[base_a + regions.a_start])
    content_b = length_b - (template_before[base_b + regions.b_end] - template_before[base_b + regions.b_start])
    content = (content_a >= CONTENT_SHARE * length_a) & (content_b >= CONTENT_SHARE * length_b)
    pair = regions.pair[content]
    return (
        np.bincount(pair, weights=content_a[content], minlength=len(a)).astype(np.int64),
        np.bincount(pair, weights=content_b[content], minlength=len(a)).astype(np.int64),
    )


def links_from_alignment(
    batch: AlignedBatch,
    content: tuple[I64, I64],
    token_counts: I64,
    *,
    duplicate_coverage: float,
    min_passage: int,
) -> Links:
    """Links for aligned pairs (of representatives of exact groups: copies are linked at output time), as a table
    sorted by their documents (stable: pairs of one pair of documents keep their order).

    Each link is `oriented`: its smaller document first, a swapped pair's regions sorted. A pair's coverages are
    the shares of each side its regions cover (`batch.covered_a`, `covered_b`), rounded to 4 places as Python's
    `round` does; its relation is `relation_of` them. A partial pair stands only when each side shares
    `min_passage` tokens of content passages (`shared_content`): passages made mostly of menus, lists and widgets
    link nothing. Near-duplicates and contained copies (one side mostly covered by the other) always stand: a table
    of figures republished inside a page is a copy, however few sentences it has.

    Args:
        batch: Aligned pairs with their regions (sorted by pair) and covered tokens.
        content: Content tokens of each side, per pair (`shared_content`): a partial pair sharing less than
            `min_passage` is not linked.
        token_counts: Tokens of each document.
        duplicate_coverage: Coverage from which a side counts as mostly covered.
        min_passage: Content tokens a partial link needs.
    """
    r = batch.regions
    held = np.bincount(r.pair, minlength=len(batch.a))
    pairs = np.flatnonzero(held > 0)
    x, y = batch.a[pairs], batch.b[pairs]
    # Python's round of Python's division (both exact as specified: numpy's round differs near halves).
    coverage_x = np.array(
        [round(c / t, 4) for c, t in zip(batch.covered_a[pairs].tolist(), token_counts[x].tolist(), strict=True)],
        dtype=np.float64,
    )
    coverage_y = np.array(
        [round(c / t, 4) for c, t in zip(batch.covered_b[pairs].tolist(), token_counts[y].tolist(), strict=True)],
        dtype=np.float64,
    )
    mostly_x, mostly_y = coverage_x >= duplicate_coverage, coverage_y >= duplicate_coverage
    relation = np.where(
        mostly_x & mostly_y,
        _RELATION_CODE["near_duplicate"],
        np.where(mostly_x | mostly_y, _RELATION_CODE["contained"], _RELATION_CODE["partial"]),
    ).astype(np.int8)
    content_x, content_y = content[0][pairs], content[1][pairs]
    stands = (relation != _RELATION_CODE["partial"]) | ((content_x >= min_passage) & (content_y >= min_passage))
    pairs, x, y, relation = pairs[stands], x[stands], y[stands], relation[stands]
    coverage_x, coverage_y = coverage_x[stands], coverage_y[stands]
    swap = x > y
    # The regions of the links, in link order; a swapped link's with its sides exchanged, sorted.
    linked = np.zeros(len(batch.a), dtype=np.bool_)
    linked[pairs] = True
    swapped = np.zeros(len(batch.a), dtype=np.bool_)
    swapped[pairs[swap]] = True
    rows = np.flatnonzero(linked[r.pair])
    pair = r.pair[rows]
    columns = np.stack((r.a_start[rows], r.a_end[rows], r.b_start[rows], r.b_end[rows]), axis=1)
    turn = swapped[pair]
    columns[turn] = columns[turn][:, [2, 3, 0, 1]]
    keys = np.where(turn[:, None], columns, 0)  # a pair's regions in their order, a swapped pair's sorted
    columns = columns[np.lexsort((np.arange(len(pair)), keys[:, 3], keys[:, 2], keys[:, 1], keys[:, 0], pair))]
    sizes = held[pairs]
    table = Links(
        np.where(swap, y, x).astype(np.int64),
        np.where(swap, x, y).astype(np.int64),
        relation,
        np.where(swap, coverage_y, coverage_x),
        np.where(swap, coverage_x, coverage_y),
        np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
        columns.astype(_REGION_DTYPE),
    )
    return table.take(np.lexsort((table.b, table.a)))


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

    links: Links  # between ranked documents only
    copies: dict[int, int]  # exact copy -> its group's canonical member
    groups: list[list[int]]  # exact groups, canonical first
    order: list[int]  # ranked documents (all but the copies), keep-first order


def links_of_batch(
    batch: AlignedBatch,
    token_offsets: I64,
    template_before: I64,
    token_counts: I64,
    *,
    duplicate_coverage: float,
    min_passage: int,
) -> Links:
    """The links of one aligned batch: `links_from_alignment` with the content its pairs share."""
    content = shared_content(batch.regions, batch.a, batch.b, token_offsets, template_before)
    return links_from_alignment(
        batch, content, token_counts, duplicate_coverage=duplicate_coverage, min_passage=min_passage
    )


def corpus_links(batch: AlignedBatch, corpus: Corpus, config: Config) -> Links:
    """`links_of_batch` for an aligned batch of a corpus, with the run's parameters."""
    return links_of_batch(
        batch,
        corpus.token_offsets,
        corpus.template_before,
        corpus.token_counts,
        duplicate_coverage=config.decide.duplicate_coverage,
        min_passage=config.align.min_passage,
    )


def first_with_others(
    prints: BatchPrints, ids: list[str], config: Config, exact: Container[int] = ()
) -> tuple[Corpus, dict[int, Link]]:
    """The first document of a fingerprinted batch aligned with each of the others, as `dedup` links pairs:
    the sealed corpus and, by the other document's number, the links that hold content; a document in `exact`
    (equal normalized text) gets one passage over the whole of both. What `compare` and an index query do."""
    corpus = Corpus(ids=Strings(ids), batches=[prints])
    corpus.seal()
    assert corpus.index is not None
    n = len(ids) - 1
    batch = align_batch(
        corpus.index,
        np.zeros(n, dtype=np.int64),
        np.arange(1, n + 1, dtype=np.int64),
        shingle_size=config.fingerprint.shingle_size,
        min_passage=config.align.min_passage,
        max_gap=config.align.max_gap,
    )
    counts = corpus.token_counts.tolist()
    links = {link.b: link for link in corpus_links(batch, corpus, config)}
    for other in range(1, n + 1):
        if other in exact:
            whole = ((0, counts[0], 0, counts[other]),) if counts[0] and counts[other] else ()
            links[other] = Link(0, other, "exact", 1.0, 1.0, whole)
    return corpus, links
