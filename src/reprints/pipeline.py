"""The dedup pipeline: read -> normalize -> fingerprint -> candidates -> align -> decide -> write."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from reprints.candidates.exact import exact_groups
from reprints.candidates.join import Candidates
from reprints.config import Config
from reprints.decide.clusters import number_clusters, star_clusters
from reprints.decide.keep import decide
from reprints.decide.links import Link, Links, first_with_others, relation_of
from reprints.engines import collector
from reprints.engines.base import Engine, open_engine
from reprints.engines.local_stages import (
    align_candidates,
    find_candidates,
    fingerprint_corpus,
    learn_boilerplate,
    mapped_candidates,
    raw_again,
    raw_plan,
    read_and_tokenize,
    relate,
    text_batches,
)
from reprints.engines.stopping import critical
from reprints.engines.workdir import WorkDir, input_manifest
from reprints.errors import OutputError
from reprints.fingerprint.corpus import TokenBatch, fingerprint_batch
from reprints.io import expand_inputs, iter_documents
from reprints.io.arrays import batch_file, drop_pages, load_dataclass, release_free_memory, save_dataclass
from reprints.io.folders import STAGING, Lock, publish, staging_folder
from reprints.io.pages import Pages
from reprints.io.slices import Slice
from reprints.io.sources import Raw, raw_readable
from reprints.io.verify import Batch, batches_again, check_files, verified
from reprints.io.writers import prepare_folder, write_json
from reprints.kernels import load_in_background, load_main_process, prefer_compiled_alone, worth_loading
from reprints.normalize.boilerplate import line_keys
from reprints.report.summary import summarize
from reprints.report.timing import StageTimer
from reprints.report.write import pair_of, write_outputs
from reprints.types import BoilerplateLine, Document, Pair, Summary

log = logging.getLogger(__name__)


def dedup(inputs: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], **options: Any) -> Summary:
    """Find every copy of every passage in the inputs, deduplicate keep-first, and write the outputs.

    Args:
        inputs: `.txt` files, folders, JSON Lines (`.jsonl`, `.jsonl.gz`, `.jsonl.zst`) or Parquet files.
        out_dir: Folder for `pairs`, `documents`, `clusters`, `deduplicated` and `summary.json`.
        **options: Any parameter of `reprints.config` by name, e.g. `shingle_size=5, workers=2,
            text_field="body", order_by="date", output_format="parquet", progress=True`.

    Returns:
        Counts per decision and relation, timings per stage and the parameters used.

    Raises:
        ConfigError: an option is unknown or out of range.
        InputError: an input is missing or of an unsupported format.
        OutputError: the output folder cannot be written.

    Example:
        >>> summary = reprints.dedup(["../shared/seeds"], "out/")  # doctest: +SKIP
        >>> summary.decisions
        {'keep': 1, 'trim': 1, 'drop': 0}
    """
    config = Config.from_options(**options)
    out = Path(out_dir)
    work_path = Path(config.run.work_dir) if config.run.work_dir else out / ".work"
    inputs = list(inputs)
    uris = [str(given) for given in inputs if _is_uri(given)]
    if uris and config.run.engine != "spark":
        open_engine(config.run).stage_inputs(uris, out / STAGED_INPUTS)  # says which engine reads them
    _refuse_overlap(out, work_path)
    for given in inputs:
        if not _is_uri(given) and Path(given).is_dir() and Path(given).resolve() == out.resolve():
            raise OutputError(f"--out {out} is an input folder: its outputs would hide its documents; use another")
        _refuse_input_inside(given, out, "--out")
        _refuse_input_inside(given, work_path, "--work-dir")
    if not uris:
        files = _input_files(inputs, [], out, work_path, config.read.on_error)
        config = _with_workers(config, files)
    prepare_folder(out)
    out_lock = Lock(out, "--out folder")
    try:
        with contextlib.ExitStack() as held:
            engine = None
            if uris:  # copied here through the engine's file systems first, then read as local files
                engine = held.enter_context(open_engine(config.run, work_path / "results"))
                staged = engine.stage_inputs(uris, out / STAGED_INPUTS)
                files = _input_files(inputs, staged, out, work_path, config.read.on_error)
                config = _with_workers(config, files)
            manifest = input_manifest(files, _checkpointed_parameters(config))
            work = WorkDir(work_path, manifest, resume=config.run.resume)
            try:
                staging = staging_folder(out)
                try:
                    with collector.settled():
                        summary = _run(files, out, staging, work, config, manifest, engine)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
                with critical():  # published means done: a stop signal now waits until the work directory is gone
                    publish(staging, out)
                    if not config.run.keep_work:
                        work.remove()
                        shutil.rmtree(out / STAGED_INPUTS, ignore_errors=True)
            finally:
                work.release()
    finally:
        out_lock.release()
    return summary


STAGED_INPUTS = ".inputs"  # in the output folder: inputs given as URIs, copied there (kept for --resume)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _input_files(
    inputs: list[str | os.PathLike[str]], staged: list[Path], out: Path, work_path: Path, on_error: str
) -> list[Path]:
    """The files to read, in the order given: each URI replaced by its copy (`staged`, in order; read whole), each
    local input expanded without the run's own output and work folders."""
    copies = iter(staged)
    local = [next(copies) if _is_uri(given) else Path(given) for given in inputs]
    if not staged:
        return expand_inputs(local, on_error, exclude=(out, work_path))
    return [
        file
        for given, path in zip(inputs, local, strict=True)
        for file in expand_inputs([path], on_error, exclude=() if _is_uri(given) else (out, work_path))
    ]


def _refuse_input_inside(given: str | os.PathLike[str], folder: Path, option: str) -> None:
    """Refuse an input file inside the run's output or work folder: publishing replaces or deletes the files
    there (an input named `deduplicated.jsonl` in `--out` would be overwritten by its own output)."""
    if _is_uri(given) or Path(given).is_dir() or not Path(given).exists():
        return
    if Path(given).resolve().is_relative_to(folder.resolve()):
        raise OutputError(
            f"{given} is inside the {option} folder {folder}, where a run replaces and deletes files: move it, "
            f"or give another {option}"
        )


def _refuse_overlap(out: Path, work: Path) -> None:
    """Refuse a work directory that is the output folder, holds it (removing it after the run would remove the
    outputs) or is a folder the run itself makes in the output folder; before anything is made."""
    out_at, work_at = out.resolve(), work.resolve()
    if work_at == out_at:
        why = "is the --out folder"
    elif out_at.is_relative_to(work_at):
        why = "holds the --out folder, which removing the work directory after the run would remove"
    elif any(work_at.is_relative_to(out_at / name) for name in (STAGING, STAGED_INPUTS)):
        why = f"is inside a folder the run makes in --out and replaces ({STAGING} or {STAGED_INPUTS})"
    else:
        return
    raise OutputError(f"--work-dir {work} {why}: give checkpoints a folder of their own (the default is OUT/.work)")


def _is_uri(given: str | os.PathLike[str]) -> bool:
    """Whether an input is a URI (`hdfs://...`, `s3a://...`, `file://...`) rather than a local path."""
    return isinstance(given, str) and _URI.match(given) is not None


def _run(
    files: list[Path],
    out: Path,
    staging: Path,
    work: WorkDir,
    config: Config,
    manifest: dict[str, Any],
    engine: Engine | None = None,
) -> Summary:
    """Every stage, outputs written to `staging` (published by the caller); with the caller's `engine` if it
    opened one, else with one opened here for the stages that need it."""
    resumed: dict[str, Any] = {
        "token_batches": 0,
        "boilerplate": False,
        "fingerprint_batches": 0,
        "candidates": False,
        "align_batches": 0,
    }
    timer = StageTimer()
    # A run whose batches take the compiled kernels loads them as it starts: its workers before their first batch,
    # this process in the background while it waits on them (or, alone, while it reads).
    local = engine is None and config.run.engine == "local"
    warm = local and worth_loading(_input_bytes(files), config.run.batch_chars)
    loading = (
        load_in_background(prefer_compiled_alone if config.run.workers == 1 else load_main_process) if warm else None
    )
    opened = (
        contextlib.nullcontext(engine)
        if engine is not None
        else open_engine(config.run, work.path / "results", warm=warm)
    )
    with opened as engine:
        if raw_readable(files, config.read) and config.read.on_error == "skip":  # the workers parse the lines
            reading = read_and_tokenize(
                raw_plan(files, config, engine, timer), config, engine, timer, work, resumed, raw=True
            )
        else:
            documents = iter_documents(files, config.read, pages=Pages(engine.map, work.pages, resume=work.resumed))
            reading = read_and_tokenize(documents, config, engine, timer, work, resumed)
        with timer("boilerplate"):
            boilerplate = learn_boilerplate(reading, config, work, resumed)
            reading = reading.lines_released()
            release_free_memory()
        with timer("fingerprint"):
            corpus = fingerprint_corpus(reading, config, engine, work, resumed, boilerplate)
        with timer("candidates"):
            representative, groups = exact_groups(corpus.doc_hashes, corpus.total_tokens, corpus.errors)
            candidates = load_dataclass(work.candidates, Candidates)
            resumed["candidates"] = candidates is not None
            if candidates is None:
                candidates = find_candidates(corpus, representative, config, engine, work.path / "join")
                save_dataclass(work.candidates, candidates)
            candidates = mapped_candidates(candidates, work.path / "pairs")
            drop_pages(candidates.a, candidates.b, candidates.shared)  # read whole by the checkpoint
            corpus.release_anchors()
            release_free_memory()
        with timer("align"):
            corpus.save_index(work.index)
            aligned = align_candidates(candidates, config, engine, work, resumed)
            relations = relate(aligned, groups, corpus, config, engine, work, resumed)
            found = {"pairs": len(candidates.a), "capped_anchors": candidates.capped_anchors}
            del aligned, candidates  # their arrays grow with the corpus; only the counts are reported
            release_free_memory()
        with timer("decide"):
            verdicts = decide(
                corpus.token_counts,
                corpus.errors,
                relations.links,
                relations.order,
                min_passage=config.align.min_passage,
                copies=relations.copies,
                boilerplate_only=set(np.flatnonzero(corpus.boilerplate_tokens).tolist()),
                strip_boilerplate=config.boilerplate.strip_boilerplate,
            )
            clusters = star_clusters(relations.links, relations.order, relations.copies)
            numbers = number_clusters(clusters, _contained(relations.links), len(corpus))
        with timer("write"):
            check_files(files, manifest["inputs"])
            # The first pass' batches read again, checked by the workers that write them; JSON Lines unparsed (the
            # workers parse them too).
            read_again: Iterator[Batch[Document]] | Iterator[Batch[Raw]] | Iterator[Batch[Raw | Slice]]
            if raw_readable(files, config.read):
                read_again = raw_again(files, reading)
            else:
                again = iter_documents(files, config.read, report=False, pages=Pages(cache=work.pages, replay=True))
                read_again = batches_again(again, reading.batches, reading.checksums)
            counts, relation_counts = write_outputs(
                staging,
                read_again,
                corpus,
                relations,
                verdicts,
                clusters,
                numbers,
                config,
                folder=work.index,
                mapper=engine.map,
            )
            check_files(files, manifest["inputs"])
    if loading is not None:
        # On the first run after installing, the loading thread compiles the kernels and writes them to numba's
        # cache. A short run could end before it did: the thread died with the process and every later run began
        # compiling again in the background, its CPU taken from the run's own work. Waiting here makes the first
        # run pay for it once; once cached, the thread ended long before.
        loading.join()
    summary = summarize(out, len(corpus), counts, relation_counts, numbers, timer, config, found, len(corpus.errors))
    summary = replace(
        summary,
        resumed=resumed,
        inputs=[str(path.resolve()) for path in files],
        read_batches=reading.batches,
        read_checksums=reading.checksums,
    )
    write_json(staging / "summary.json", summary.to_dict())
    return summary


def _with_workers(config: Config, files: list[Path]) -> Config:
    """The configuration with the number of workers the inputs call for (see `RunConfig.workers_for`)."""
    workers = config.run.workers_for(_input_bytes(files))
    return replace(config, run=replace(config.run, workers=workers))


def _input_bytes(files: list[Path]) -> int:
    """The size of the input files (what is left of them: a file gone is reported by the reading)."""
    return sum(path.stat().st_size for path in files if path.is_file())


def _checkpointed_parameters(config: Config) -> dict[str, Any]:
    """Everything the checkpoints depend on: the result parameters and the batch sizes."""
    return {**config.parameters(), "batch_chars": config.run.batch_chars, "batch_pairs": config.run.batch_pairs}


def _contained(links: Links) -> list[int]:
    """The contained document of each `contained` link."""
    container = links.container()
    rows = container >= 0
    contained: list[int] = np.where(container[rows] == links.a[rows], links.b[rows], links.a[rows]).tolist()
    return contained


def compare(text_a: str, text_b: str, *, id_a: str = "a", id_b: str = "b", **options: Any) -> Pair:
    """Align two texts and say how they relate.

    Args:
        text_a: The first text.
        text_b: The second text.
        id_a: Name of the first text in the returned Pair.
        id_b: Name of the second text.
        **options: Fingerprint, align and decide parameters by name (see `reprints.config`).

    Returns:
        The relation, both coverages and the aligned spans (character offsets into both texts). Texts
        sharing no passage of `min_passage` tokens come back as `partial` with no spans and zero coverage.

    Example:
        >>> pair = reprints.compare(article, page)  # doctest: +SKIP
        >>> pair.relation, pair.coverage_a, pair.spans[0]
        ('contained', 0.9953, Span(a_start=0, a_end=5401, b_start=1, b_end=5402))
    """
    config = Config.from_options(**options)
    fp = config.fingerprint
    prints = fingerprint_batch([text_a, text_b], fp.shingle_size, fp.window, fp.seed)
    exact = prints.token_counts[0] > 0 and bool(prints.doc_hashes[0] == prints.doc_hashes[1])
    corpus, links = first_with_others(prints, [id_a, id_b], config, {1} if exact else ())
    # A pair sharing no passage, or mostly template text (not linked by `dedup`), is `partial` with nothing shared.
    nothing = Link(
        0, 1, relation_of(0.0, 0.0, exact=False, duplicate_coverage=config.decide.duplicate_coverage), 0.0, 0.0, ()
    )
    return pair_of(links.get(1, nothing), corpus.ids, corpus)


def boilerplate_lines(inputs: Iterable[str | os.PathLike[str]], **options: Any) -> list[BoilerplateLine]:
    """The boilerplate lines reprints learns from the inputs, most frequent first.

    Args:
        inputs: As for `dedup`.
        **options: `boilerplate_min_docs`, `boilerplate_max_context`, `site_field`, read and run options.

    Returns:
        Each learned line with its site, the number of documents holding it, and its text as first seen.

    Example:
        >>> [(line.documents, line.text) for line in reprints.boilerplate_lines(["docs.jsonl"])][:2]  # doctest: +SKIP
        [(525, 'Comments'), (333, 'Email')]
    """
    config = Config.from_options(**options)
    files = expand_inputs(inputs, config.read.on_error)
    config = _with_workers(config, files)
    with (
        tempfile.TemporaryDirectory(prefix="reprints-") as folder,
        open_engine(config.run, Path(folder) / "results") as engine,
        contextlib.closing(WorkDir(Path(folder), {}, resume=False)) as work,
    ):
        resumed: dict[str, Any] = {"token_batches": 0}
        documents = iter_documents(files, config.read, pages=Pages(engine.map, work.pages, resume=work.resumed))
        reading = read_and_tokenize(documents, config, engine, StageTimer(), work, resumed)
        learned_path = learn_boilerplate(reading, config, work, {})
        learned = np.load(learned_path) if learned_path is not None else np.empty(0, np.uint64)
        site_names = {number: name for name, number in reading.sites.numbers.items()}
        site_array = np.array(reading.sites.of_doc, dtype=np.int64)
        holders: dict[int, set[int]] = {}
        found: dict[int, BoilerplateLine] = {}
        again = iter_documents(files, config.read, report=False, pages=Pages(cache=work.pages, replay=True))
        documents = verified(again, reading.batches, reading.checksums)
        for number, texts, first, _ in text_batches(documents, config, StageTimer(), lambda doc: None):
            batch = load_dataclass(batch_file(work.path / "tokens", number), TokenBatch)
            assert batch is not None
            keys = line_keys(batch.line_hashes, site_array[batch.line_docs + first])
            for row in np.flatnonzero(np.isin(keys, learned)).tolist():
                key, doc = int(keys[row]), int(batch.line_docs[row])
                holders.setdefault(key, set()).add(first + doc)
                if key not in found:
                    text = texts[doc][int(batch.line_char_start[row]) : int(batch.line_char_end[row])].strip()
                    found[key] = BoilerplateLine(site_names[int(site_array[first + doc])], 0, text)
    lines = [replace(line, documents=len(holders[key])) for key, line in found.items()]
    return sorted(lines, key=lambda line: (-line.documents, line.site, line.text))
