"""The floor: read a JSON Lines corpus, tokenize and hash every word 5-gram shingle, and nothing else.

    python benchmarks/floor.py CORPUS.jsonl [--shingle-size 5]

Does what reprints must do before it can find anything, as fast as this author could write it in Python: parse
each line (orjson when installed), NFKC + case-fold texts in batches of about 4 M characters, then, on NumPy arrays
of code points, split into tokens (runs of alphanumeric characters), hash every token with a 64-bit polynomial
(prefix sums, no Python loop per token) and every run of `shingle-size` tokens into one 64-bit shingle hash. Prints
the number of documents, tokens and shingles. Shingles may span two documents of a batch (a few per document);
that only adds work.
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

BATCH_CHARS = 4_000_000
PRIME = np.uint64(0x100000001B3)
MIX = np.uint64(0xFF51AFD7ED558CCD)
with np.errstate(over="ignore"):
    SHINGLE_FACTORS = [np.uint64(0x9E3779B97F4A7C15) * np.uint64(2 * i + 1) for i in range(16)]


def json_loader() -> Callable[[bytes], Any]:
    """orjson.loads if available, json.loads otherwise."""
    try:
        import orjson

        return orjson.loads  # type: ignore[no-any-return]
    except ImportError:
        return json.loads


def text_batches(path: Path) -> Iterator[tuple[int, str]]:
    """(documents, joined text) batches of about BATCH_CHARS characters."""
    loads = json_loader()
    texts: list[str] = []
    size = 0
    with open(path, "rb") as lines:
        for line in lines:
            text = loads(line)["text"]
            texts.append(text)
            size += len(text)
            if size >= BATCH_CHARS:
                yield len(texts), "\n".join(texts)
                texts, size = [], 0
    if texts:
        yield len(texts), "\n".join(texts)


def alphanumeric_table() -> np.ndarray:
    """True for every code point that is a letter, digit or combining mark."""
    table = np.zeros(0x110000, dtype=bool)
    for code in range(0x110000):
        char = chr(code)
        if char.isalnum() or unicodedata.category(char)[0] == "M":
            table[code] = True
    return table


def prime_powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """PRIME**i and its inverse modulo 2**64, for i in [0, length]."""
    inverse = pow(int(PRIME), -1, 2**64)
    powers = np.full(length + 1, PRIME, dtype=np.uint64)
    inverses = np.full(length + 1, np.uint64(inverse), dtype=np.uint64)
    powers[0] = inverses[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(powers, dtype=np.uint64), np.cumprod(inverses, dtype=np.uint64)


def shingle_hashes(text: str, table: np.ndarray, shingle_size: int) -> tuple[int, np.ndarray]:
    """(tokens, shingle hashes) of a normalized text."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    word = table[codes]
    edges = np.flatnonzero(np.diff(word.view(np.int8), prepend=0, append=0))
    starts, ends = edges[0::2], edges[1::2]
    powers, inverses = prime_powers(len(codes))
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
        np.cumsum(codes.astype(np.uint64) * powers[:-1], out=prefix[1:])
        tokens = (prefix[ends] - prefix[starts]) * inverses[starts]
        count = len(tokens) - shingle_size + 1
        if count <= 0:
            return len(tokens), np.zeros(0, dtype=np.uint64)
        shingles = np.zeros(count, dtype=np.uint64)
        for offset in range(shingle_size):
            shingles += tokens[offset : offset + count] * SHINGLE_FACTORS[offset]
        shingles ^= shingles >> np.uint64(33)
        shingles *= MIX
    return len(tokens), shingles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--shingle-size", type=int, default=5)
    args = parser.parse_args()
    table = alphanumeric_table()
    documents = tokens = shingles = 0
    for count, text in text_batches(args.corpus):
        batch_tokens, hashes = shingle_hashes(unicodedata.normalize("NFKC", text).casefold(), table, args.shingle_size)
        documents, tokens, shingles = documents + count, tokens + batch_tokens, shingles + len(hashes)
    print(json.dumps({"documents": documents, "tokens": tokens, "shingles": shingles}))


if __name__ == "__main__":
    main()
