"""Boilerplate: lines a site repeats on many pages, learned from the corpus itself.

A line that recurs in many documents *in different surroundings* is boilerplate ("Share this article",
"Comments", a cookie notice, a navigation bar); a paragraph that recurs *with the same neighbours* is
syndicated text and is not. For each line recurring in at least `min_docs` documents of a site, take pairs
of documents holding it and measure their *shared context*: the tokens of the line and of the identical lines
around it, up and down, until the two documents differ. Around a template line that is the template block
(a few words); around a syndicated paragraph it is the article. A line is boilerplate when the median shared
context is at most `max_context` tokens, or, for a long line (a cookie notice), when it recurs in three times
as many documents and the median context beyond the line itself is at most `max_context` tokens. Learning
runs in rounds: boilerplate found in one round is not shared context in the next, so a short navigation line
next to a long cookie notice is found once the notice is.

Only evidence from different documents counts. The caller passes the lines of distinct documents (one of each
group of exact copies). A pair of documents that differ by fewer than `min_own` tokens (each has fewer than that
on lines the other lacks), or that share lines holding half of either's tokens (near-copies of one story,
lightly edited, however their lines are cut: see `_Documents.distinct`) says nothing about boilerplate and is
skipped. The start or end of a document is not a
different surrounding: a line both documents begin (or end) with has the same surroundings on that side, so a
line that is a whole document in both is never boilerplate.

Sites come from a site field, or the host of a `url` field; without either the corpus is one site.
"""

from __future__ import annotations

import functools
import itertools
import statistics
from collections.abc import Hashable, Sequence
from typing import cast
from urllib.parse import urlsplit

import numpy as np

from reprints.fingerprint.hashing import PARTITION_ROWS, U64, mix64, partition_bits, partitions
from reprints.fingerprint.shingles import SKETCH_SIZE, resemblance
from reprints.normalize.tokens import I64

MAX_PAIRS = 64  # document pairs examined per line
LONG_LINE_FACTOR = 3
COPY_SHARE = 0.5  # documents sharing lines that hold this share of their tokens are near-copies, not evidence
ROUNDS = 3  # lines found in one round stop the shared context of the next, peeling template blocks
# Occurrences of recurring lines (`_recurring`'s groups) from which the compiled rounds
# (`reprints.normalize.boilerplate_kernel`) are worth loading; set to 0 by `reprints.kernels.prefer_compiled`.
# Counted over the calls of a process: one that learns again and again (an index add, batch after batch) takes
# the kernel once its Python rounds have examined that many.
COMPILED_FROM = 40_000
_learned_in_python = 0


def site_of(metadata: dict[str, object], site_field: str | None) -> str:
    """The site of a record: its site field, else the host of its `url` field, else '' (one site)."""
    if site_field is not None:
        value = metadata.get(site_field)
        return "" if value is None else str(value)
    url = metadata.get("url")
    if isinstance(url, str):
        try:
            return urlsplit(url).hostname or ""
        except ValueError:
            return ""
    return ""


def line_keys(hashes: U64, sites: I64) -> U64:
    """Keys of lines within their site: equal only for the same words on the same site."""
    return hashes ^ mix64(sites.astype(np.uint64), 0x517E)


@functools.lru_cache(maxsize=4096)
def _site_mask(site: int) -> np.uint64:
    return np.uint64(mix64(np.array([site], dtype=np.uint64), 0x517E)[0])


def site_line_keys(hashes: U64, site: int) -> U64:
    """`line_keys` of lines all on one site (one operation: the site's mask is computed once per site)."""
    return hashes ^ _site_mask(site)


def learn(
    keys: U64,
    docs: I64,
    token_counts: I64,
    *,
    min_docs: int,
    max_context: int,
    min_own: int = 30,
    sketches: U64 | None = None,
    holders: dict[int, int] | None = None,
    partition_rows: int = PARTITION_ROWS,
    known: KnownPairs | None = None,
    names: Sequence[Hashable] | None = None,
) -> U64:
    """The keys of boilerplate lines.

    Args:
        keys: Key of every line (see `line_keys`), lines in document order, then line order.
        docs: Document of every line.
        token_counts: Tokens on every line.
        min_docs: A line must recur in at least this many documents.
        max_context: Largest median shared context, in tokens, of a boilerplate line.
        min_own: Two documents are evidence only if each has at least this many tokens on lines the other
            lacks.
        sketches: Bottom-k sketch of every document (rows by document number): two documents whose estimated
            resemblance is at least COPY_SHARE are near-copies, not evidence, however their lines are cut.
        holders: Documents holding each key in the whole corpus, when the lines given are those of only some of
            its documents (the index learns from the first holders of the lines a new document brings).
        partition_rows: Lines grouped by key at once (see `_recurring`): memory is bounded by this, not the corpus.
        known: Verdicts on pairs of documents (near-copies or not) remembered from earlier calls, with `names`:
            what names each document's lines and sketch (the index learns again after every batch, mostly over
            the same documents).

    Returns:
        The boilerplate keys, sorted.
    """
    if len(keys) == 0:
        return np.empty(0, dtype=np.uint64)
    groups = _recurring(keys, docs, min_docs=min_docs, holders=holders, partition_rows=partition_rows)
    doc_start = np.searchsorted(docs, np.arange(int(docs[-1]) + 2))
    global _learned_in_python
    occurrences = sum(len(lines) for lines, _ in groups)
    if occurrences + _learned_in_python < COMPILED_FROM:
        _learned_in_python += occurrences
    else:
        from reprints.normalize.boilerplate_kernel import compiled_learn

        return compiled_learn(
            keys,
            docs,
            token_counts,
            doc_start,
            groups,
            sketches,
            min_docs=min_docs,
            max_context=max_context,
            min_own=min_own,
            long_line_factor=LONG_LINE_FACTOR,
            rounds=ROUNDS,
            sketch_size=SKETCH_SIZE,
        )
    # Lines are read through memoryviews (Python ints on access): a list costs about 40 bytes per line, for every
    # line of the corpus. The arrays may be mapped files: only the lines examined are read.
    key_list = cast("list[int]", np.ascontiguousarray(keys, dtype=np.uint64).data)
    doc_list = cast("list[int]", np.ascontiguousarray(docs, dtype=np.int64).data)
    count_list = cast("list[int]", np.ascontiguousarray(token_counts, dtype=np.int64).data)
    documents = _Documents(key_list, count_list, doc_start, sketches, min_own)
    if known is not None and names is not None:
        documents.remember(known, names)
    flagged: set[int] = set()
    for _ in range(ROUNDS):
        found = set()
        for lines, size in groups:
            if key_list[lines[0]] in flagged:
                continue
            own, beyond = [], []
            for line_a, line_b in itertools.pairwise(lines):
                shared = _shared_context(
                    line_a, line_b, key_list, doc_list, count_list, doc_start, max_context + 1, flagged
                )
                if shared <= max_context and not documents.distinct(doc_list[line_a], doc_list[line_b]):
                    continue
                beyond.append(shared)
                own.append(shared + count_list[line_a])
            if not own:
                continue
            if statistics.median(own) <= max_context or (
                size >= LONG_LINE_FACTOR * min_docs and statistics.median(beyond) <= max_context
            ):
                found.add(key_list[lines[0]])
        if not found:
            break
        flagged |= found
    return np.unique(np.array(sorted(flagged), dtype=np.uint64))


def _recurring(
    keys: U64, docs: I64, *, min_docs: int, holders: dict[int, int] | None, partition_rows: int
) -> list[tuple[list[int], int]]:
    """The lines to examine for each key held by at least `min_docs` documents, by key: the first line of the key
    in each of its first MAX_PAIRS + 1 documents (document order), with the number of documents holding it
    (`holders`' count when given).

    Lines are grouped in partitions of about `partition_rows` by the keys' low bits (all lines of a key fall in one
    partition), so the sorting holds one partition at a time; the groups do not depend on the partitioning.
    """
    bits = partition_bits(len(keys), partition_rows)
    part_of = partitions(keys, bits, partition_rows)
    found: list[tuple[int, list[int], int]] = []
    for part in range(1 << bits):
        rows = np.flatnonzero(part_of == part)
        if len(rows) == 0:
            continue
        part_keys, part_docs = np.asarray(keys[rows]), np.asarray(docs[rows])
        order = np.lexsort((rows, part_docs, part_keys))
        part_keys, part_docs = part_keys[order], part_docs[order]
        first = np.ones(len(order), dtype=np.bool_)
        first[1:] = (part_keys[1:] != part_keys[:-1]) | (part_docs[1:] != part_docs[:-1])
        firsts, first_keys = rows[order[first]], part_keys[first]
        del rows, part_keys, part_docs, order, first
        group_start = np.flatnonzero(np.concatenate(([True], first_keys[1:] != first_keys[:-1])))
        sizes = np.diff(np.append(group_start, len(firsts)))
        if holders is not None:
            starting = first_keys[group_start].tolist()  # Python ints: indexing arrays item by item cost 10x
            sizes = np.array(
                [holders.get(key, size) for key, size in zip(starting, sizes.tolist(), strict=True)], dtype=np.int64
            )
        for group in np.flatnonzero(sizes >= min_docs).tolist():
            start, size = int(group_start[group]), int(sizes[group])
            found.append((int(first_keys[start]), firsts[start : start + min(size, MAX_PAIRS + 1)].tolist(), size))
    found.sort(key=lambda group: group[0])
    return [(lines, size) for _, lines, size in found]


def _shared_context(
    line_a: int,
    line_b: int,
    keys: list[int],
    docs: list[int],
    counts: list[int],
    doc_start: I64,
    cap: int,
    boilerplate: set[int],
) -> int:
    """Tokens of the identical lines around two occurrences of a line (not the line itself), up to `cap`.

    The extension stops at a line already known to be boilerplate. Where both documents reach their start
    (or end) together, that side is the same in both; when both sides are, the surroundings are identical
    and the context is `cap`.
    """
    shared = 0
    same_sides = 0
    for step in (-1, 1):
        a, b = line_a + step, line_b + step
        lo_a, hi_a = int(doc_start[docs[line_a]]), int(doc_start[docs[line_a] + 1])
        lo_b, hi_b = int(doc_start[docs[line_b]]), int(doc_start[docs[line_b] + 1])
        while lo_a <= a < hi_a and lo_b <= b < hi_b and keys[a] == keys[b] and keys[a] not in boilerplate:
            if shared >= cap:
                break
            shared += counts[a]
            a, b = a + step, b + step
        same_sides += not (lo_a <= a < hi_a) and not (lo_b <= b < hi_b)
    return cap if same_sides == 2 else shared


class KnownPairs:
    """Verdicts of whether two documents are different documents (`_Documents.distinct`), kept from one call of
    `learn` to the next under names of the documents' contents, so a verdict is only ever reused for the same
    two documents. At most `limit` are kept (then they are forgotten and found again)."""

    def __init__(self, limit: int = 200_000) -> None:  # about 40 MB
        self.limit = limit
        self.verdicts: dict[tuple[Hashable, Hashable], bool] = {}

    def get(self, key: tuple[Hashable, Hashable]) -> bool | None:
        return self.verdicts.get(key)

    def put(self, key: tuple[Hashable, Hashable], verdict: bool) -> None:
        if len(self.verdicts) >= self.limit:
            self.verdicts.clear()
        self.verdicts[key] = verdict


class _Documents:
    """Line keys of each document, to tell different documents from near-copies of one."""

    def __init__(self, keys: list[int], counts: list[int], doc_start: I64, sketches: U64 | None, min_own: int) -> None:
        self.keys, self.counts, self.doc_start, self.sketches, self.min_own = keys, counts, doc_start, sketches, min_own
        self._sketches: dict[int, list[int]] = {}
        self._tokens: dict[int, dict[int, int]] = {}
        self._totals: dict[int, int] = {}
        self._verdicts: dict[tuple[int, int], bool] = {}
        self._known: KnownPairs | None = None
        self._names: Sequence[Hashable] = ()

    def remember(self, known: KnownPairs, names: Sequence[Hashable]) -> None:
        """Look verdicts up in, and add them to, `known`, under the documents' `names`."""
        self._known, self._names = known, names

    def _line_tokens(self, doc: int) -> dict[int, int]:
        """Tokens of each line key of `doc` (summed over repeats)."""
        found = self._tokens.get(doc)
        if found is None:
            found = {}
            for line in range(int(self.doc_start[doc]), int(self.doc_start[doc + 1])):
                found[self.keys[line]] = found.get(self.keys[line], 0) + self.counts[line]
            self._tokens[doc] = found
        return found

    def _sketch(self, doc: int) -> list[int]:
        assert self.sketches is not None
        found = self._sketches.get(doc)
        if found is None:
            found = self._sketches[doc] = self.sketches[doc].tolist()
        return found

    def own_tokens(self, doc: int, other: int) -> int:
        """Tokens of `doc` on lines `other` does not have."""
        mine, theirs = self._line_tokens(doc), self._line_tokens(other)
        return self._total(doc) - sum(mine[key] for key in mine.keys() & theirs.keys())

    def _total(self, doc: int) -> int:
        found = self._totals.get(doc)
        if found is None:
            found = self._totals[doc] = sum(self._line_tokens(doc).values())
        return found

    def distinct(self, doc_a: int, doc_b: int) -> bool:
        """Whether two documents are different documents, not near-copies of one: each has at least `min_own`
        tokens on lines the other lacks, they share lines holding under COPY_SHARE of either's tokens, and (with
        sketches) their estimated resemblance is under COPY_SHARE: a story whose one long paragraph was lightly
        edited shares few lines with its copy, but most of its words. (Remembered per pair: the same two
        documents meet over each line they share.)"""
        key = (min(doc_a, doc_b), max(doc_a, doc_b))
        verdict = self._verdicts.get(key)
        if verdict is None and self._known is not None:
            name_a, name_b = self._names[key[0]], self._names[key[1]]
            named = (name_a, name_b) if hash(name_a) <= hash(name_b) else (name_b, name_a)
            verdict = self._known.get(named)
            if verdict is None:
                verdict = self._distinct(*key)
                self._known.put(named, verdict)
            self._verdicts[key] = verdict
        elif verdict is None:
            verdict = self._verdicts[key] = self._distinct(*key)
        return verdict

    def _distinct(self, doc_a: int, doc_b: int) -> bool:
        own_a, own_b = self.own_tokens(doc_a, doc_b), self.own_tokens(doc_b, doc_a)
        if min(own_a, own_b) < self.min_own:
            return False
        if self.sketches is not None and resemblance(self._sketch(doc_a), self._sketch(doc_b)) >= COPY_SHARE:
            return False
        total_a, total_b = self._total(doc_a), self._total(doc_b)
        return total_a - own_a < COPY_SHARE * total_a and total_b - own_b < COPY_SHARE * total_b
