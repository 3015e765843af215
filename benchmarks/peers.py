"""Run one peer deduplicator on a JSON Lines corpus and write its duplicate clusters.

    benchmarks/.venv/bin/python benchmarks/peers.py PEER --input DOCS.jsonl --out DIR [--threshold 0.8] [--workers 2]

PEER is one of `datasketch`, `datasketch-ensemble`, `rensa`, `text-dedup`, `datatrove`. Every peer uses word
5-gram shingles and 128 permutations; the band split is the one each tool documents for the threshold (datasketch's
`optimal_param` for datasketch, text-dedup and datatrove; rensa needs bands dividing 128: 8 at 0.8, 32 at 0.5).
DIR/clusters.jsonl gets one `{"members": [id, ...]}` row per cluster of two or more documents (for
`datasketch-ensemble`, one row per containment hit: `[query, indexed]`, since containment does not cluster).
`datatrove` reads every `*.jsonl` file of `--input` if it is a folder (it parallelizes across files only).

This script runs in the peers' own environment (benchmarks/.venv), never in reprints' one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

NUM_PERM = 128
NGRAM = 5
SEED = 1
WORD = re.compile(r"\w+")


def read_docs(path: Path) -> Iterator[tuple[str, str]]:
    """(id, text) of every row of a JSON Lines file."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            yield str(row["id"]), row["text"]


def shingles(text: str) -> set[bytes]:
    """Word 5-grams of the lower-cased text (a document shorter than 5 words is one shingle)."""
    words = WORD.findall(text.lower())
    count = max(1, len(words) - NGRAM + 1)
    return {" ".join(words[i : i + NGRAM]).encode() for i in range(count)}


def bands_for(threshold: float) -> tuple[int, int]:
    """(bands, rows per band) minimizing false positives plus false negatives, as datasketch computes them."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, NUM_PERM, 0.5, 0.5)  # type: ignore[no-any-return]


def clusters_of(ids: list[str], pairs: Iterator[tuple[int, int]]) -> list[list[str]]:
    """Connected components (size >= 2) of the pairs, by union-find over document indices."""
    parent = list(range(len(ids)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    groups: dict[int, list[str]] = {}
    for index, doc_id in enumerate(ids):
        groups.setdefault(find(index), []).append(doc_id)
    return [members for members in groups.values() if len(members) > 1]


def run_datasketch(source: Path, threshold: float) -> list[list[str]]:
    """MinHash + MinHashLSH: insert every document, then query every document."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    ids, sketches = [], []
    for index, (doc_id, text) in enumerate(read_docs(source)):
        sketch = MinHash(num_perm=NUM_PERM, seed=SEED)
        sketch.update_batch(list(shingles(text)))
        lsh.insert(index, sketch)
        ids.append(doc_id)
        sketches.append(sketch)
    return clusters_of(ids, ((i, j) for i, s in enumerate(sketches) for j in lsh.query(s) if j != i))


def run_datasketch_ensemble(source: Path, threshold: float) -> list[list[str]]:
    """MinHash + MinHashLSHEnsemble: for every document, the documents that contain it at >= threshold."""
    from datasketch import MinHash, MinHashLSHEnsemble

    entries = []
    for doc_id, text in read_docs(source):
        grams = shingles(text)
        sketch = MinHash(num_perm=NUM_PERM, seed=SEED)
        sketch.update_batch(list(grams))
        entries.append((doc_id, sketch, len(grams)))
    ensemble = MinHashLSHEnsemble(threshold=threshold, num_perm=NUM_PERM, num_part=16)
    ensemble.index(entries)
    return [[doc_id, hit] for doc_id, sketch, size in entries for hit in ensemble.query(sketch, size) if hit != doc_id]


def run_rensa(source: Path, threshold: float) -> list[list[str]]:
    """Rust MinHash sketches in batches of 4,096 documents, RMinHashLSH insert then query."""
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(threshold=threshold, num_perm=NUM_PERM, num_bands=8 if threshold >= 0.65 else 32)
    ids, sketches, batch_ids, batch = [], [], [], []

    def flush() -> None:
        for doc_id, sketch in zip(batch_ids, RMinHash.from_token_sets(batch, NUM_PERM, SEED), strict=True):
            lsh.insert(len(ids), sketch)
            ids.append(doc_id)
            sketches.append(sketch)
        batch_ids.clear()
        batch.clear()

    for doc_id, text in read_docs(source):
        batch_ids.append(doc_id)
        batch.append([gram.decode() for gram in shingles(text)])
        if len(batch) == 4096:
            flush()
    flush()
    return clusters_of(ids, ((i, j) for i, s in enumerate(sketches) for j in lsh.query(s) if j != i))


def run_text_dedup(source: Path, threshold: float, work: Path, workers: int) -> list[list[str]]:
    """`python -m text_dedup.minhash` offline with --debug; clusters read from its saved union-find."""
    import pickle

    output = work / "text-dedup"
    command = [sys.executable, "-m", "text_dedup.minhash", "--path", "json", "--data_files", str(source)]
    command += ["--split", "train", "--column", "text", "--idx_column", "id", "--num_proc", str(workers)]
    command += ["--threshold", str(threshold), "--num_perm", str(NUM_PERM), "--ngram", str(NGRAM)]
    command += ["--output", str(output), "--cache_dir", str(work / "hf-cache"), "--debug"]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(work / "hf-home")}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(output / "uf.pkl", "rb") as stored:
        union_find = pickle.load(stored)
    groups: dict[str, list[str]] = {}
    for doc_id in list(union_find.parent):
        groups.setdefault(str(union_find.find(doc_id)), []).append(str(doc_id))
    return [sorted(members) for members in groups.values() if len(members) > 1]


def run_datatrove(source: Path, threshold: float, work: Path, workers: int) -> list[list[str]]:
    """The four MinHash stages (signatures, buckets, clusters, filter) on the local executor, fork start."""
    import struct

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    bands, rows = bands_for(threshold)
    config = MinhashConfig(n_grams=NGRAM, num_buckets=bands, hashes_per_bucket=rows)
    files = sorted(source.glob("*.jsonl")) if source.is_dir() else [source]
    folder = source if source.is_dir() else source.parent
    pattern = "*.jsonl" if source.is_dir() else source.name

    def reader() -> JsonlReader:
        return JsonlReader(str(folder), glob_pattern=pattern, add_file_path=False)

    def executor(pipeline: list[object], tasks: int, name: str) -> LocalPipelineExecutor:
        return LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=min(workers, tasks),
            logging_dir=str(work / "logs" / name),
            start_method="fork",
        )

    stages = [
        ([reader(), MinhashDedupSignature(output_folder=str(work / "sigs"), config=config)], len(files), "sigs"),
        ([MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=config)], bands, "buckets"),
        (
            [MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=config, save_cluster_id=True)],
            1,
            "c",
        ),
        (
            [reader(), MinhashDedupFilter(str(work / "remove")), JsonlWriter(str(work / "deduplicated"))],
            len(files),
            "filter",
        ),
    ]
    for pipeline, tasks, name in stages:
        executor(pipeline, tasks, name).run()
    groups: dict[int, list[str]] = {}
    for rank, path in enumerate(files):
        ids = [doc_id for doc_id, _ in read_docs(path)]
        clusters = work / "remove" / f"{rank:06d}.clusters"
        data = clusters.read_bytes() if clusters.exists() else b""
        for doc, cluster in struct.iter_unpack("<II", data):
            groups.setdefault(cluster, []).append(ids[doc])
    return [members for members in groups.values() if len(members) > 1]


PEERS = ("datasketch", "datasketch-ensemble", "rensa", "text-dedup", "datatrove")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("peer", choices=PEERS)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "work"
    if args.peer == "datasketch":
        clusters = run_datasketch(args.input, args.threshold)
    elif args.peer == "datasketch-ensemble":
        clusters = run_datasketch_ensemble(args.input, args.threshold)
    elif args.peer == "rensa":
        clusters = run_rensa(args.input, args.threshold)
    elif args.peer == "text-dedup":
        clusters = run_text_dedup(args.input, args.threshold, work, args.workers)
    else:
        clusters = run_datatrove(args.input, args.threshold, work, args.workers)
    with open(args.out / "clusters.jsonl", "w", encoding="utf-8") as out:
        for members in clusters:
            out.write(json.dumps({"members": members}) + "\n")


if __name__ == "__main__":
    main()
