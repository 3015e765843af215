"""The compiled floor: what reprints' first stages cost when every hot loop is compiled, and nothing else is done.

    python benchmarks/floor_compiled.py CORPUS.jsonl [--processes 2] [--shingle-size 5] [--window 12]

Each process reads its own byte range of the JSON Lines file (split at line starts) and parses records with
orjson; texts are laid end to end as one array of code points per batch; one numba kernel per batch folds each
code point through a lookup table (NFKC, then case folding, first code point kept), splits tokens (letters, digits
and the marks after them) with their character offsets, hashes tokens and every run of `shingle-size` tokens to
64 bits, and winnows the shingles (`window`) into anchors. Prints documents, tokens, shingles and anchors, and the
seconds spent in-process (after compilation and table building) and wall.

It is a floor, not a second implementation: it skips what reprints must also do (separators inside scripts
written without spaces, glued punctuation, lines, boilerplate, the match table, checkpoints), so it bounds from
below what the same work can cost in compiled code. Needs numba and orjson (benchmarks/requirements.txt); the
first run compiles the kernels into numba's cache (reported as `compile_seconds`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import unicodedata
from multiprocessing import get_context
from pathlib import Path

import numpy as np

BATCH_CHARS = 4_000_000
MASK = (1 << 64) - 1


def fold_table() -> tuple[np.ndarray, np.ndarray]:
    """Per code point: its folded code point (NFKC, case fold, first character) and its kind (0 separator,
    1 letter or digit, 2 mark)."""
    folded = np.arange(0x110000, dtype=np.uint32)
    kind = np.zeros(0x110000, dtype=np.uint8)
    for code in range(0x110000):
        char = chr(code)
        category = unicodedata.category(char)
        if category[0] in "LN":
            kind[code] = 1
        elif category[0] == "M":
            kind[code] = 2
        else:
            continue
        mapped = unicodedata.normalize("NFKC", char).casefold()
        if mapped:
            folded[code] = ord(mapped[0])
    return folded, kind


def kernels():  # type: ignore[no-untyped-def]
    """The compiled batch kernel (imported lazily: numba is a benchmark-only dependency)."""
    import numba

    @numba.njit(cache=True, nogil=True)
    def batch(codes, starts, folded, kind, shingle_size, window):  # type: ignore[no-untyped-def]
        documents = len(starts) - 1
        token_total = 0
        shingle_total = 0
        anchor_total = 0
        hashes = np.empty(len(codes) // 2 + 2, dtype=np.uint64)
        offsets = np.empty(len(codes) // 2 + 2, dtype=np.int64)
        shingles = np.empty(len(codes) // 2 + 2, dtype=np.uint64)
        for doc in range(documents):
            count = 0
            current = np.uint64(0)
            inside = False
            for position in range(starts[doc], starts[doc + 1]):
                code = codes[position]
                k = kind[code]
                if k == 1 or (k == 2 and inside):
                    if not inside:
                        offsets[count] = position - starts[doc]
                        current = np.uint64(0xCBF29CE484222325)
                        inside = True
                    current = (current ^ np.uint64(folded[code])) * np.uint64(0x100000001B3)
                elif inside:
                    hashes[count] = current
                    count += 1
                    inside = False
            if inside:
                hashes[count] = current
                count += 1
            token_total += count
            runs = count - shingle_size + 1
            if runs <= 0:
                continue
            for start in range(runs):
                value = np.uint64(0)
                for offset in range(shingle_size):
                    value = (value ^ hashes[start + offset]) * np.uint64(0x9E3779B97F4A7C15)
                value ^= value >> np.uint64(31)
                shingles[start] = value
            shingle_total += runs
            last = -1
            for start in range(max(1, runs - window + 1)):
                best = start
                for index in range(start + 1, min(start + window, runs)):
                    if shingles[index] <= shingles[best]:
                        best = index
                if best != last:
                    anchor_total += 1
                    last = best
        return token_total, shingle_total, anchor_total

    return batch


def byte_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """`parts` byte ranges of the file, each starting at a line start."""
    size = path.stat().st_size
    cuts = [0]
    with path.open("rb") as handle:
        for part in range(1, parts):
            handle.seek(size * part // parts)
            handle.readline()
            cuts.append(max(handle.tell(), cuts[-1]))
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def work(args: tuple[str, int, int, int, int]) -> tuple[int, int, int, int, float]:
    """Documents, tokens, shingles, anchors and in-process seconds of one byte range."""
    import orjson

    path, start, end, shingle_size, window = args
    folded, kind = TABLES
    batch = kernels()
    began = time.perf_counter()
    totals = [0, 0, 0, 0]

    def run(texts: list[str]) -> None:
        joined = "".join(texts)
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        starts = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(text) for text in texts], out=starts[1:])
        tokens, shingles, anchors = batch(codes, starts, folded, kind, shingle_size, window)
        totals[0] += len(texts)
        totals[1] += tokens
        totals[2] += shingles
        totals[3] += anchors

    with open(path, "rb") as handle:
        handle.seek(start)
        texts: list[str] = []
        size = 0
        while handle.tell() < end:
            line = handle.readline()
            if not line.strip():
                continue
            text = orjson.loads(line)["text"]
            texts.append(text)
            size += len(text)
            if size >= BATCH_CHARS:
                run(texts)
                texts, size = [], 0
        if texts:
            run(texts)
    return totals[0], totals[1], totals[2], totals[3], time.perf_counter() - began


TABLES: tuple[np.ndarray, np.ndarray] = (np.empty(0, np.uint32), np.empty(0, np.uint8))


def _init(tables: tuple[np.ndarray, np.ndarray]) -> None:
    global TABLES
    TABLES = tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--shingle-size", type=int, default=5)
    parser.add_argument("--window", type=int, default=12)
    args = parser.parse_args()
    began = time.perf_counter()
    tables = fold_table()
    compiled = time.perf_counter()
    batch = kernels()
    batch(np.zeros(8, np.uint32), np.array([0, 8]), tables[0], tables[1], args.shingle_size, args.window)
    compile_seconds = time.perf_counter() - compiled
    ready = time.perf_counter()
    ranges = byte_ranges(args.corpus, args.processes)
    tasks = [(str(args.corpus), start, end, args.shingle_size, args.window) for start, end in ranges]
    if args.processes == 1:
        _init(tables)
        results = [work(task) for task in tasks]
    else:
        with get_context("fork").Pool(args.processes, initializer=_init, initargs=(tables,)) as pool:
            results = pool.map(work, tasks)
    wall = time.perf_counter() - ready
    totals = [sum(result[i] for result in results) for i in range(4)]
    print(
        json.dumps(
            {
                "documents": totals[0],
                "tokens": totals[1],
                "shingles": totals[2],
                "anchors": totals[3],
                "processes": args.processes,
                "in_process_seconds": round(max(result[4] for result in results), 3),
                "wall_seconds": round(wall, 3),
                "setup_seconds": round(ready - began, 3),
                "compile_seconds": round(compile_seconds, 3),
                "pid": os.getpid(),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
