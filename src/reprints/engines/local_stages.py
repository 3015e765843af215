"""How the local engine runs each stage over batches: reading passes, boilerplate, fingerprints, alignment.

The stage functions themselves (tokenize, fingerprint, join, align...) know nothing of batches or processes;
this module feeds them batches, checkpoints the results in the work directory and gathers them.
"""

from __future__ import annotations

import logging
import shutil
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
from tqdm import tqdm

from reprints.align.batch import AlignedBatch, AlignTask
from reprints.candidates.exact import exact_groups
from reprints.candidates.join import Candidates
from reprints.config import Config
from reprints.decide.clusters import missing_links
from reprints.decide.links import Links, Relations, corpus_links, reseated
from reprints.decide.rank import ids_ranked, ranking, sort_value
from reprints.engines.base import Engine
from reprints.engines.workdir import WorkDir
from reprints.fingerprint.corpus import (
    Corpus,
    CorpusWriter,
    FingerprintTask,
    LineBatch,
    ParsedBatch,
    RawTokenizeTask,
    TokenizeTask,
    saved_progress,
)
from reprints.fingerprint.hashing import PARTITION_ROWS, U64
from reprints.fingerprint.shingles import SKETCH_SIZE
from reprints.io.arrays import (
    Column,
    batch_file,
    drop_pages,
    is_mapped,
    mapped_copy,
    release_free_memory,
    save_npy,
)
from reprints.io.slices import Slice, count_slices, cut, numbered, sliceable
from reprints.io.sources import Names, Raw, raw_records, report_empty_file
from reprints.io.verify import Batch, Checksum, batches_again
from reprints.normalize.boilerplate import learn, line_keys, site_of
from reprints.normalize.tokens import I64
from reprints.report.timing import StageTimer
from reprints.types import Document

log = logging.getLogger(__name__)


def text_batches(
    documents: Iterator[Document], config: Config, timer: StageTimer, visit: Callable[[Document], None]
) -> Iterator[tuple[int, list[str], int, int]]:
    """Numbered batches of texts of about `batch_chars` characters, with the index of each batch's first
    document and the checksum of its documents (`reprints.io.verify`); `visit` sees every document as it is
    read."""
    number, first = 0, 0
    texts: list[str] = []
    size = 0
    checksum = Checksum()
    began = timer.clock()
    for doc in documents:
        visit(doc)
        checksum.add(doc)
        texts.append(doc.text)
        size += len(doc.text)
        if size >= config.run.batch_chars:
            timer.add_since("read", began)
            yield number, texts, first, checksum.value()
            began = timer.clock()
            first += len(texts)
            texts, size, number, checksum = [], 0, number + 1, Checksum()
    timer.add_since("read", began)
    if texts:
        yield number, texts, first, checksum.value()


COUNT_TASKS_PER_WORKER = 4  # line-counting tasks a worker gets (the ranges counted by one task: at most 256 MB)


def raw_plan(
    files: Sequence[Path], config: Config, engine: Engine, timer: StageTimer
) -> Iterator[list[Raw] | list[Slice]]:
    """The reading pass' batches of JSON Lines not yet parsed, in input order, of about `batch_chars` bytes:
    ranges of plain files (`reprints.io.slices`: the workers count their line breaks first, then read them;
    this process never reads their bytes), and lines of compressed files, read here (they cannot be read from the
    middle). A batch holds ranges or lines, never both. An input holding no records is reported (logged)."""
    began = timer.clock()
    size = config.run.batch_chars
    plain = [sliceable(path) for path in files]
    cuts = [cut(path, size) if whole else [] for path, whole in zip(files, plain, strict=True)]
    slices = [piece for pieces in cuts for piece in pieces]
    total = sum(piece.end - piece.start for piece in slices)
    per_task = min(256 << 20, max(size, -(-total // (COUNT_TASKS_PER_WORKER * engine.workers))))
    counted = iter([count for counts in engine.map(count_slices, _grouped(slices, per_task)) for count in counts])
    ranges = []  # each file's (a file given twice is read twice, as it would be line by line)
    for number, (path, pieces) in enumerate(zip(files, cuts, strict=True)):
        counts = [next(counted) for _ in pieces]
        ranges.append(numbered(pieces, counts))
        if any(count.error is not None for count in counts):  # read line by line: it becomes what it holds, then
            plain[number] = False  # an unreadable record saying where it broke off
        elif plain[number] and all(count.blank for count in counts):
            report_empty_file(path)
    timer.add_since("read", began)
    lines: list[Path] = []  # files in a row read here, line by line
    ranged: list[Slice] = []  # ranges of plain files in a row (a batch may hold several small files)
    for path, whole, numbered_ranges in zip(files, plain, ranges, strict=True):
        if whole:
            if lines:
                yield from _line_batches(raw_records(lines, report_empty=True), size, timer)
                lines = []
            ranged.extend(numbered_ranges)
            continue
        if ranged:
            yield from _grouped(ranged, size)
            ranged = []
        lines.append(path)
    if lines:
        yield from _line_batches(raw_records(lines, report_empty=True), size, timer)
    if ranged:
        yield from _grouped(ranged, size)


def raw_again(files: Sequence[Path], reading: Reading) -> Iterator[Batch[Raw | Slice]]:
    """The reading pass' batches of JSON Lines for a later pass, each to be read and checked where it is used:
    the same ranges of plain files (the workers read them again), lines of the other files read here again
    (`reprints.io.verify.batches_again`).

    Raises:
        InputError: the lines read here are more or fewer than first read.
    """
    ranged = {piece.path for pieces in reading.slices.values() for piece in pieces}
    lines = raw_records([path for path in files if str(path) not in ranged])
    again: Iterator[Batch[Raw]] = batches_again(
        lines, [batch for batch in reading.batches if batch[0] not in reading.slices], reading.checksums
    )
    for number, first, count in reading.batches:
        pieces = reading.slices.get(number)
        if pieces is None:
            yield cast(Batch[Raw | Slice], next(again))
        else:
            yield Batch(first, cast(list[Raw | Slice], pieces), reading.checksums[number], count)
    for _ in again:  # its end checks that no line is left over
        pass


def _grouped(slices: Iterable[Slice], size: int) -> Iterator[list[Slice]]:
    """Ranges gathered in order into lists of at least `size` bytes (the last one perhaps fewer)."""
    group: list[Slice] = []
    total = 0
    for piece in slices:
        group.append(piece)
        total += piece.end - piece.start
        if total >= size:
            yield group
            group, total = [], 0
    if group:
        yield group


def _line_batches(items: Iterator[Raw], size: int, timer: StageTimer) -> Iterator[list[Raw]]:
    """Lines read here (`reprints.io.sources.raw_records`) gathered into batches of about `size` bytes."""
    batch: list[Raw] = []
    total = 0
    began = timer.clock()
    for item in items:
        batch.append(item)
        total += len(item[1]) if isinstance(item, tuple) else 1
        if total >= size:
            timer.add_since("read", began)
            yield batch
            began = timer.clock()
            batch, total = [], 0
    timer.add_since("read", began)
    if batch:
        yield batch


class Sites:
    """Numbers sites in order of first appearance (the same numbers on every pass over the input)."""

    def __init__(self, site_field: str | None) -> None:
        self.site_field = site_field
        self.numbers: dict[str, int] = {}
        self.of_doc = array("q")  # 8 bytes a document (a list of ints takes several times that)

    def visit(self, doc: Document) -> None:
        self.add(site_of(dict(doc.metadata), self.site_field))

    def add(self, name: str) -> None:
        """Number the next document's site (`site_of` its record)."""
        self.of_doc.append(self.numbers.setdefault(name, len(self.numbers)))


@dataclass(frozen=True, slots=True)
class Reading:
    """What the reading pass leaves: the corpus' documents (ids, errors...), sites, batches and lines."""

    corpus: Corpus
    sites: Sites
    batches: list[tuple[int, int, int]]  # batch number, first document, documents
    checksums: list[int]  # of each batch's documents, to verify later reads (`reprints.io.verify`)
    line_docs: I64
    line_hashes: U64
    line_tokens: I64
    first_copy: I64  # each document's first exact copy (itself if none before): see `exact_groups`
    sketches: U64  # each document's bottom-k sketch (`reprints.fingerprint.shingles.sketches`)
    lines_folder: Path | None = None  # where the line arrays and sketches are mapped from (None: in memory)
    index_progress: dict[str, Any] | None = None  # how far an interrupted run fingerprinted (`saved_progress`)
    slices: dict[int, list[Slice]] = field(default_factory=dict)  # the ranges of files of each batch of ranges

    def lines_released(self) -> Reading:
        """This reading without its line arrays and sketches (boilerplate learning is done with them), their
        files deleted."""
        if self.lines_folder is not None:
            shutil.rmtree(self.lines_folder, ignore_errors=True)
        empty = np.empty(0, dtype=np.int64)
        return replace(
            self,
            line_docs=empty,
            line_hashes=empty.astype(np.uint64),
            line_tokens=empty,
            sketches=np.empty((0, SKETCH_SIZE), dtype=np.uint64),
            lines_folder=None,
        )


def read_and_tokenize(
    documents: Iterator[Document] | Iterator[list[Raw] | list[Slice]],
    config: Config,
    engine: Engine,
    timer: StageTimer,
    work: WorkDir,
    resumed: dict[str, Any],
    *,
    raw: bool = False,
) -> Reading:
    """The reading pass: every document read once, tokenized and split into lines in checkpointed batches.

    With `raw`, `documents` are batches of JSON Lines not yet parsed (`raw_plan`: lines, or ranges of files):
    the workers read, parse and check them (`RawTokenizeTask`), and this process names, reports and counts the
    documents as `iter_documents` would, learning how many each batch holds from its result."""
    corpus = Corpus()
    sites = Sites(config.boilerplate.site_field)
    order_by = config.decide.order_by
    by_id = order_by == config.read.id_field  # ranked by the documents' ids (not in their metadata)

    def visit(doc: Document) -> None:
        corpus.ids.append(doc.id)
        if doc.error is not None:
            corpus.errors[doc.index] = doc.error
        if order_by is not None:
            corpus.order_values[doc.index] = doc.id if by_id else doc.metadata.get(order_by)
        sites.visit(doc)

    batches: list[tuple[int, int, int]] = []
    checksums: list[int] = []
    names = Names(config.read.on_error)

    def parsed(first: int, batch: ParsedBatch) -> None:
        """Name, report and record the documents of a batch the workers parsed, in order."""
        checksum = Checksum()
        for offset, (own_id, where, problems) in enumerate(zip(batch.ids, batch.wheres, batch.problems, strict=True)):
            for message in problems:
                names.report(message)
            doc_id = names.name(own_id, where)
            corpus.ids.append(doc_id)
            error = batch.errors[offset]
            if error is not None:
                corpus.errors[first + offset] = error
            if order_by is not None:
                corpus.order_values[first + offset] = doc_id if by_id else batch.order_values[offset]
            sites.add(batch.sites[offset])
            checksum.add_digest(doc_id, batch.digests[offset])
        checksums.append(checksum.value())

    sliced: dict[int, list[Slice]] = {}  # the ranges of files each batch of ranges read

    def tasks() -> Iterator[tuple[int, list[str]] | tuple[int, list[Raw] | list[Slice]]]:
        if raw:
            for number, items in enumerate(cast(Iterator[list[Raw] | list[Slice]], documents)):
                batches.append((number, -1, -1))  # its documents are known from its result
                if items and isinstance(items[0], Slice):
                    sliced[number] = items
                yield number, items
            return
        for number, texts, first, checksum in text_batches(cast(Iterator[Document], documents), config, timer, visit):
            batches.append((number, first, len(texts)))
            checksums.append(checksum)
            yield number, texts

    # Batches an interrupted run put in the match index need no tokens (theirs were deleted).
    progress = saved_progress(work.index) if work.resumed else None
    fingerprinted = progress["batches"] if progress else 0
    tokenize = TokenizeTask(work.path / "tokens", work.path / "reading", config.fingerprint.seed, fingerprinted)
    task: Callable[[Any], tuple[LineBatch, bool] | tuple[LineBatch, bool, ParsedBatch]] = tokenize
    if raw:
        # (ranked by id: the ids are named here, not read from the metadata in the workers)
        task = RawTokenizeTask(tokenize, config.read, config.boilerplate.site_field, None if by_id else order_by)
    # The lines go to files (mapped by boilerplate learning, then deleted): they grow with the corpus, and only
    # per-document arrays stay in memory.
    folder = work.path / "lines"
    folder.mkdir(exist_ok=True)
    line_columns = [
        Column(folder, name, dtype) for name, dtype in (("docs", np.int64), ("hashes", np.uint64), ("tokens", np.int64))
    ]
    sketch_column = Column(folder, "sketches", np.uint64)
    doc_hashes, doc_tokens = [], []
    began, read_before = timer.clock(), (timer.seconds.get("read", 0.0), timer.cpu.get("read", 0.0))
    with tqdm(desc="reading", unit=" docs", disable=not config.run.progress, leave=False) as bar:
        read = 0
        for number, result in enumerate(engine.map(task, tasks())):
            lines, loaded = result[0], result[1]
            if len(result) == 3:
                first, count = read, len(result[2].ids)
                batches[number] = (number, first, count)
                parsed(first, result[2])
            else:
                _, first, count = batches[number]
            read += count
            for column, values in zip(
                line_columns, (lines.docs + first, lines.hashes, lines.token_counts), strict=True
            ):
                column.append(values)
            sketch_column.append(lines.doc_sketches.reshape(-1))
            doc_hashes.append(lines.doc_hashes)
            doc_tokens.append(lines.doc_tokens)
            resumed["token_batches"] += loaded
            bar.update(count)
    wall, cpu = timer.clock()  # (the reading's own time, counted as it went, is not the normalizing's)
    read_wall, read_cpu = timer.seconds.get("read", 0.0) - read_before[0], timer.cpu.get("read", 0.0) - read_before[1]
    timer.add("normalize", wall - began[0] - read_wall, cpu - began[1] - read_cpu)
    if by_id:
        corpus.order_values = ids_ranked(corpus.order_values)
    elif order_by is not None and read and all(value is None for value in corpus.order_values.values()):
        log.warning("--order-by %s: no document has this field; documents are ranked in input order", order_by)
    empty = np.empty(0, dtype=np.int64)
    all_hashes = np.concatenate(doc_hashes) if doc_hashes else np.empty(0, dtype=np.uint64)
    first_copy, _ = exact_groups(all_hashes, np.concatenate(doc_tokens) if doc_tokens else empty, corpus.errors)
    work.check_checksums(checksums)
    line_docs, line_hashes, line_tokens = (column.close() for column in line_columns)
    return Reading(
        corpus,
        sites,
        batches,
        checksums,
        line_docs,
        line_hashes,
        line_tokens,
        first_copy,
        sketch_column.close().reshape(-1, SKETCH_SIZE),
        folder,
        progress,
        sliced,
    )


def learn_boilerplate(reading: Reading, config: Config, work: WorkDir, resumed: dict[str, Any]) -> Path | None:
    """Learn boilerplate lines from the reading pass's lines; returns the file of their keys (None if off)."""
    settings = config.boilerplate
    if not settings.boilerplate:
        return None
    learned = work.path / "boilerplate.npy"
    if learned.exists():
        resumed["boilerplate"] = True
        return learned
    site_array = np.array(reading.sites.of_doc, dtype=np.int64)
    # One document of each group of exact copies, written in pieces: no corpus-wide temporary of lines.
    assert reading.lines_folder is not None
    kept = [
        Column(reading.lines_folder, f"distinct_{name}", dtype)
        for name, dtype in (("keys", np.uint64), ("docs", np.int64), ("tokens", np.int64))
    ]
    for start in range(0, len(reading.line_docs), PARTITION_ROWS):
        docs = np.asarray(reading.line_docs[start : start + PARTITION_ROWS])
        distinct = reading.first_copy[docs] == docs
        docs = docs[distinct]
        kept[0].append(
            line_keys(np.asarray(reading.line_hashes[start : start + PARTITION_ROWS])[distinct], site_array[docs])
        )
        kept[1].append(docs)
        kept[2].append(np.asarray(reading.line_tokens[start : start + PARTITION_ROWS])[distinct])
        drop_pages(reading.line_docs, reading.line_hashes, reading.line_tokens)
    keys, docs, tokens = (column.close() for column in kept)
    flagged = learn(
        keys,
        docs,
        tokens,
        min_docs=settings.boilerplate_min_docs,
        max_context=settings.boilerplate_max_context,
        min_own=config.align.min_passage,
        sketches=reading.sketches,
    )
    save_npy(learned, flagged)
    log.info("learned %d boilerplate lines", len(flagged))
    return learned


def fingerprint_corpus(
    reading: Reading,
    config: Config,
    engine: Engine,
    work: WorkDir,
    resumed: dict[str, Any],
    boilerplate: Path | None,
) -> Corpus:
    """The fingerprint pass, from the token checkpoints: no input is read again. The match index it writes is
    its checkpoint (every CHECKPOINT_BATCHES batches): each batch's tokens are deleted once a checkpoint holds
    the batch, and a resumed run continues after the batches an interrupted one checkpointed."""
    fp = config.fingerprint
    tokens = work.path / "tokens"
    task = FingerprintTask(tokens, fp.shingle_size, fp.window, fp.seed, boilerplate)
    # Exact copies take the site of their first copy, so every copy loses the same boilerplate tokens and
    # their token sequences stay identical.
    sites = np.array(reading.sites.of_doc, dtype=np.int64)[reading.first_copy]
    corpus = reading.corpus
    writer = CorpusWriter(corpus, work.index, len(corpus), resume=reading.index_progress)
    done = writer.batches
    resumed["fingerprint_batches"] = done
    for number, _, _ in reading.batches[:done]:  # left by a run killed between a checkpoint and its deletion
        batch_file(tokens, number).unlink(missing_ok=True)
    left = reading.batches[done:]
    tasks = ((number, sites[first : first + count]) for number, first, count in left)
    pending: list[int] = []  # batches in the index since the last checkpoint (their tokens are kept until then)
    for (number, _, _), prints in zip(left, engine.map(task, tasks), strict=True):
        writer.add(prints)
        pending.append(number)
        if len(pending) == CHECKPOINT_BATCHES:
            _checkpoint(writer, tokens, pending)
    if pending:
        _checkpoint(writer, tokens, pending)
    writer.finish()
    release_free_memory()
    log.info("fingerprinted %d documents, %d tokens", len(corpus), int(corpus.token_offsets[-1]))
    return corpus


CHECKPOINT_BATCHES = 8  # batches put in the match index between two checkpoints (each flushes every column file)


def _checkpoint(writer: CorpusWriter, tokens: Path, pending: list[int]) -> None:
    """Make the batches in the index durable, then delete their token checkpoints."""
    writer.checkpoint()
    for number in pending:
        batch_file(tokens, number).unlink()
    pending.clear()


def find_candidates(
    corpus: Corpus, representative: np.ndarray, config: Config, engine: Engine, folder: Path
) -> Candidates:
    """Candidate pairs among representatives of exact groups (an exact copy adds nothing to align), joined by
    the engine (`folder` for its temporary files)."""
    docs = corpus.anchor_docs
    # Whether each anchor row is a representative's, in a mapped file (it grows with the corpus), in pieces.
    column = Column(folder.parent, "representative_rows", np.bool_)
    for start in range(0, len(docs), PARTITION_ROWS):
        piece = np.asarray(docs[start : start + PARTITION_ROWS])
        column.append(representative[piece] == piece)
        drop_pages(docs)
    try:
        return engine.join(
            docs, corpus.anchor_hashes, column.close(), anchor_df_cap=config.candidates.anchor_df_cap, folder=folder
        )
    finally:
        assert column.path is not None
        column.path.unlink(missing_ok=True)


def mapped_candidates(candidates: Candidates, folder: Path) -> Candidates:
    """The candidates with their columns in files of `folder`, mapped (they grow with the corpus, and the align
    stage reads them a batch at a time); as they are when the join left them in files already."""
    if all(is_mapped(values) or len(values) == 0 for values in (candidates.a, candidates.b, candidates.shared)):
        return candidates
    folder.mkdir(parents=True, exist_ok=True)
    a, b, shared = (
        mapped_copy(folder, name, np.asarray(values, dtype=np.int64))
        for name, values in (("a", candidates.a), ("b", candidates.b), ("shared", candidates.shared))
    )
    return Candidates(a, b, shared, candidates.capped_anchors)


def _pair_batches(candidates: Candidates, size: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    for number, start in enumerate(range(0, len(candidates.a), size)):
        a, b = np.array(candidates.a[start : start + size]), np.array(candidates.b[start : start + size])
        drop_pages(candidates.a, candidates.b)
        yield number, a, b


def align_candidates(
    candidates: Candidates,
    config: Config,
    engine: Engine,
    work: WorkDir,
    resumed: dict[str, Any],
    stage: str = "align",
) -> Iterator[AlignedBatch]:
    """Align every candidate pair, in batches checkpointed in the work directory's `stage` folder, yielded as
    they come (never held together)."""
    task = AlignTask(
        work.index, work.path / stage, config.fingerprint.shingle_size, config.align.min_passage, config.align.max_gap
    )
    with tqdm(
        total=len(candidates.a), desc="aligning", unit=" pairs", disable=not config.run.progress, leave=False
    ) as bar:
        for batch, loaded in engine.map(task, _pair_batches(candidates, config.run.batch_pairs)):
            resumed[f"{stage}_batches"] = resumed.get(f"{stage}_batches", 0) + loaded
            bar.update(len(batch.a))
            yield batch


def make_links(aligned: Iterable[AlignedBatch], corpus: Corpus, config: Config) -> Links:
    """Links between documents from the aligned batches, batch by batch (only the links are kept, as a table),
    sorted by their documents."""
    tables: list[Links] = []
    for batch in aligned:
        tables.append(corpus_links(batch, corpus, config))
        corpus.release_pages()
        release_free_memory()
    return Links.joined(tables).sorted_unique()


def relate(
    aligned: Iterable[AlignedBatch],
    groups: list[list[int]],
    corpus: Corpus,
    config: Config,
    engine: Engine,
    work: WorkDir,
    resumed: dict[str, Any],
) -> Relations:
    """Links from the aligned candidates, exact groups seated on their canonical member, the ranking, and the
    links each cluster's canonical member still needs (aligned here)."""
    order_values = corpus.order_values
    seat = np.arange(len(corpus), dtype=np.int64)
    copies: dict[int, int] = {}
    seated_groups = []
    for members in groups:
        canonical = min(members, key=lambda doc: (sort_value(order_values.get(doc)), doc))
        seated_groups.append([canonical, *(doc for doc in members if doc != canonical)])
        seat[members] = canonical
        for doc in members:
            if doc != canonical:
                copies[doc] = canonical
    links = _reseated(make_links(aligned, corpus, config), seat)
    ranked = np.ones(len(corpus), dtype=np.bool_)
    ranked[list(copies)] = False
    ranked_docs = np.flatnonzero(ranked)
    min_passage = config.align.min_passage

    def rank(links: Links) -> list[int]:
        return ranking(
            len(corpus), links, order_values, corpus.token_counts, min_passage=min_passage, members=ranked_docs
        )

    order = rank(links)
    missing = missing_links(len(corpus), links, order, engine.components)
    if missing:
        pairs = np.array(missing, dtype=np.int64).reshape(-1, 2)
        extra = Candidates(pairs[:, 0], pairs[:, 1], np.ones(len(pairs), dtype=np.int64), 0)
        found = make_links(align_candidates(extra, config, engine, work, resumed, "verify"), corpus, config)
        links = Links.joined([links, found]).sorted_unique()
        order = rank(links)
    return Relations(links, copies, seated_groups, order)


def _reseated(links: Links, seat: I64) -> Links:
    """The links with each end moved to its seat (an exact copy standing for its group), sorted again."""
    moved = np.flatnonzero((seat[links.a] != links.a) | (seat[links.b] != links.b))
    if not len(moved):
        return links
    kept = np.setdiff1d(np.arange(len(links)), moved)
    seats = seat.tolist()
    again = Links.of(reseated(links[row], seats) for row in moved.tolist())
    return Links.joined([links.take(kept), again]).sorted_unique()
