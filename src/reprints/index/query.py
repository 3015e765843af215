"""Querying the index: every stored document sharing a passage with a text, with relation, coverages and spans.

The answer for a stored document is what `dedup` reports for that pair: the same candidate rule (anchors held by
more than `anchor_df_cap` documents count only through their first holders, `reprints.candidates.join`), the
same boilerplate lines left out of both texts (learned from the index's documents), the same alignment,
template rule and relation; exact copies count once toward the anchor cap, as `dedup` joins one copy of each
text, and a link reaches every copy. Where they can differ: the query's own lines do not teach boilerplate (it is
not stored), boilerplate is learned per line from its first holders (`reprints.index.build`), `dedup` also
aligns pairs its clusters need that share no anchor under the cap, and stored anchors are those of whole texts
(boilerplate included: what is boilerplate changes as documents arrive) where `dedup` joins anchors of texts
without their boilerplate.

Candidates that can align no passage with the query (most of them: they share an anchor and little more) are left
out before their tokens are unpacked, fingerprinted and aligned (`reprints.index.sieve`); the answer is the same.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from reprints.candidates.join import HUBS, MIN_HUB_ANCHORS
from reprints.decide.links import Link, first_with_others
from reprints.fingerprint.corpus import Corpus, TokenBatch, concat_token_batches, fingerprint_tokens, tokenize_batch
from reprints.index.build import anchors_of
from reprints.index.sieve import alignable
from reprints.index.store import Packed, Store, Stored
from reprints.normalize.boilerplate import site_of
from reprints.normalize.template import Mask, template_mask
from reprints.report.write import pair_of


@dataclass(frozen=True, slots=True)
class Match:
    """A stored document sharing passages with the query."""

    id: str
    relation: str
    container: str | None  # "query", "stored" or None
    coverage_query: float
    coverage_stored: float
    spans: tuple[tuple[int, int, int, int], ...]  # query_start, query_end, stored_start, stored_end (characters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "relation": self.relation,
            "container": self.container,
            "coverage_query": self.coverage_query,
            "coverage_stored": self.coverage_stored,
            "spans": [list(span) for span in self.spans],
        }


def query(
    store: Store,
    text: str,
    *,
    doc_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    limit: int | None = None,
) -> list[Match]:
    """The stored documents sharing a passage with `text`, by coverage of the query, then of the stored document.

    Args:
        store: The index.
        text: The query text.
        doc_id: The query's id: a stored document with this id is left out (it is the query itself).
        metadata: The query's fields (its site comes from them, as in `dedup`).
        limit: At most this many matches.
    """
    config = store.config
    fp, cap = config.fingerprint, config.candidates.anchor_df_cap
    tokens = tokenize_batch([text], fp.seed)
    anchors: list[int] = anchors_of(tokens, fp.shingle_size, fp.window, fp.seed)[0].tolist()
    doc_hash, token_count = int(tokens.doc_hashes.view(np.int64)[0]), int(tokens.token_counts[0])
    with store.reading() as db:
        own = store.by_id(db, doc_id) if doc_id is not None else None
        skip = own.num if own is not None else None
        exact: set[int] = set()
        if token_count > 0:
            rows = db.execute("SELECT num FROM documents WHERE doc_hash = ? AND tokens > 0", (doc_hash,))
            exact = {int(row[0]) for row in rows} - {skip}
        # `dedup` joins one copy of each exact text, its first: an exact copy of stored text has the
        # candidates of that first copy, whose anchors are stored.
        me = min(exact | {skip}) if exact and skip is not None else min(exact) if exact else skip
        candidates: set[int] = set()
        hubs: Counter[int] = Counter()
        for anchor, first in zip(anchors, store.first_holders(db, anchors, cap + 2), strict=True):
            holders = [num for num in first if num != me]
            if len(holders) + 1 <= cap:  # the query's group is one more holder
                candidates.update(holders)
            elif me is not None and me in first[:HUBS]:
                # The query's group is one of the anchor's first holders, a hub: `dedup` pairs it with every
                # other holder.
                hubs.update(num for num in store.holders(db, anchor, -1) if num != me)
            else:
                hubs.update(holders[:HUBS])  # the query meets the first holders
        candidates.update(num for num, shared in hubs.items() if shared >= MIN_HUB_ANCHORS)
        read = store.with_tokens(db, candidates)
        # `dedup` spreads a link to every exact copy; a stored document's site for boilerplate is its first
        # copy's (as in `dedup`, which joins that copy only).
        texts = store.same_texts(
            db,
            [*(doc.doc_hash for doc, *_ in read.values() if doc.tokens > 0), *([doc_hash] if token_count > 0 else [])],
            (doc for doc, *_ in read.values()),
        )
        candidates.update(num for doc, *_ in read.values() if doc.tokens > 0 for num, _ in texts[doc.doc_hash])
        candidates.discard(skip)
        if len(exact) + 1 > cap:
            # A group of more than `anchor_df_cap` copies is reported, as in `dedup`, as each copy's pair with
            # its first (canonical) member only.
            canonical = min(exact | ({skip} if skip is not None else set()))
            if canonical != skip:
                candidates -= exact - {canonical}
                exact = {canonical}
        candidates |= exact
        read.update(store.with_tokens(db, candidates - read.keys()))
        stored = [read[num][0] for num in sorted(candidates) if num in read]
        sites = [int(texts[doc.doc_hash][0][1]) if doc.tokens > 0 else int(doc.site) for doc in stored]
        if own is not None and metadata is None:
            query_site = _sites(store, db, [own])[0]
        else:
            first_site = next((site for doc, site in zip(stored, sites, strict=True) if doc.num in exact), None)
            site = store.site_number(db, site_of(dict(metadata or {}), config.boilerplate.site_field))
            query_site = first_site if first_site is not None else (site if site is not None else -1)
        boilerplate = store.boilerplate_keys(db) if config.boilerplate.boilerplate else None
        stored, sites = _sieved(store, tokens, query_site, stored, sites, read, exact, boilerplate)
        stored_tokens = store.tokenized(db, stored, {doc.num: read[doc.num][1] for doc in stored})
    query_tokens = (tokens, template_mask(tokens.hashes, np.array([0, len(tokens.hashes)], dtype=np.int64), fp.seed))
    matches = _aligned(store, query_tokens, stored_tokens, query_site, stored, sites, exact, boilerplate)
    matches.sort(key=lambda m: (-m.coverage_query, -m.coverage_stored, m.id))
    return matches[:limit] if limit is not None else matches


def pair(store: Store, id_a: str, id_b: str) -> Match | None:
    """How two stored documents relate, as `dedup` would report them (None: no shared passage, or an id that
    is not stored). The Match's "query" side is `id_a`."""
    config = store.config
    with store.reading() as db:
        one, other = store.by_id(db, id_a), store.by_id(db, id_b)
        if one is None or other is None:
            return None
        site_a, site_b = _sites(store, db, [one, other])
        boilerplate = store.boilerplate_keys(db) if config.boilerplate.boilerplate else None
        tokens, other_tokens = store.tokenized(db, [one]), store.tokenized(db, [other])
    exact = {other.num} if one.tokens > 0 and one.doc_hash == other.doc_hash else set()
    found = _aligned(store, tokens, other_tokens, site_a, [other], [site_b], exact, boilerplate)
    return found[0] if found else None


def _aligned(
    store: Store,
    tokens: tuple[TokenBatch, Mask],
    stored_tokens: tuple[TokenBatch, Mask],
    query_site: int,
    stored: list[Stored],
    sites: list[int],
    exact: set[int],
    boilerplate: np.ndarray | None,
) -> list[Match]:
    """The query (`tokens`, with its template marks) aligned with each stored candidate (`stored_tokens`, in
    order, with theirs): the matches holding content, in candidate order."""
    if not stored:
        return []
    config = store.config
    fp = config.fingerprint
    both = concat_token_batches(tokens[0], stored_tokens[0])
    template = np.concatenate([tokens[1], stored_tokens[1]])
    site_array = np.array([query_site, *sites], dtype=np.int64)
    prints = fingerprint_tokens(
        both, fp.shingle_size, fp.window, fp.seed, boilerplate, site_array, focus=True, template=template
    )
    others = {i for i, doc in enumerate(stored, start=1) if doc.num in exact}
    corpus, links = first_with_others(prints, ["query", *(doc.id for doc in stored)], config, others)
    return [_match(links[i], corpus) for i in sorted(links)]


def _sieved(
    store: Store,
    tokens: TokenBatch,
    query_site: int,
    stored: list[Stored],
    sites: list[int],
    read: dict[int, tuple[Stored, Packed | None, bytes]],
    exact: set[int],
    boilerplate: np.ndarray | None,
) -> tuple[list[Stored], list[int]]:
    """The candidates (and their sites) that can align a passage with the query (`reprints.index.sieve`): exact
    copies and documents stored without their tokens are kept as they are."""
    sieved = [
        i for i, doc in enumerate(stored) if doc.num not in exact and doc.tokens > 0 and read[doc.num][1] is not None
    ]
    if not sieved:
        return stored, sites
    rows = [read[stored[i].num] for i in sieved]
    keep = np.ones(len(stored), dtype=np.bool_)
    keep[sieved] = alignable(
        tokens,
        query_site,
        [(doc.tokens, doc.doc_hash, *packed) for doc, packed, _ in rows if packed is not None],
        [line_tokens for _, _, line_tokens in rows],
        [sites[i] for i in sieved],
        boilerplate,
        store.config,
    )
    kept = np.flatnonzero(keep).tolist()
    return [stored[i] for i in kept], [sites[i] for i in kept]


def _sites(store: Store, db: Any, docs: list[Stored]) -> list[int]:
    """Stored documents' sites for boilerplate: each one's first exact copy's (as in `dedup`), read at once."""
    firsts = store.first_copies(db, (doc.doc_hash for doc in docs if doc.tokens > 0))
    return [int(firsts[doc.doc_hash][1]) if doc.tokens > 0 else int(doc.site) for doc in docs]


def _match(link: Link, corpus: Corpus) -> Match:
    pair = pair_of(link, corpus.ids, corpus)
    container = None if pair.container is None else ("query" if link.container == 0 else "stored")
    return Match(
        pair.b,
        pair.relation,
        container,
        pair.coverage_a,
        pair.coverage_b,
        tuple((s.a_start, s.a_end, s.b_start, s.b_end) for s in pair.spans),
    )
