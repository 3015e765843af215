"""Write a folder of malformed inputs, one file per case of bad input reprints must survive.

    python tests/data/make_malformed.py [FOLDER]      (default: tests/data/malformed, git-ignored)

Each case is named by CASES below; `expected()` says what documents.jsonl must hold for it. The texts are
real: sentences of the seed article in ../shared/seeds (or $REPRINTS_SHARED/seeds, as the tests read it).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

HERE = Path(__file__).resolve().parent
SEED = Path(os.environ.get("REPRINTS_SHARED", HERE.parents[2] / "shared")) / "seeds" / "000_e2f354f9623a9739.txt"
LARGE_BYTES = 50 * 2**20


def _lines(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")


def make(folder: Path) -> dict[str, Path]:
    """Write every case into `folder`; return the path of each case by name."""
    folder.mkdir(parents=True, exist_ok=True)
    text = SEED.read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n") if len(p) > 200]
    good = [{"id": f"good-{i}", "text": p} for i, p in enumerate(paragraphs[:3])]
    paths: dict[str, Path] = {}

    def put(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        paths[name] = path
        return path

    put(
        "invalid_utf8.jsonl",
        _lines(good[:1]) + b'{"id": "bad-bytes", "text": "caf\xe9 cr\xe8me"}\n' + _lines(good[1:2]),
    )
    put("bom.jsonl", b"\xef\xbb\xbf" + _lines(good[:2]))
    put("cp1252.txt", ("Café crème “quoted” – " + paragraphs[0]).encode("cp1252", errors="replace"))
    put("utf16.txt", ("Zürich “quoted”\r\n" + paragraphs[1]).encode("utf-16"))
    put("binary.txt", bytes(range(256)) * 8)
    put("nul.txt", ("Before the NUL\x00after it. " + paragraphs[0]).encode("utf-8"))
    put("empty.txt", b"")
    put("whitespace.jsonl", _lines([{"id": "blank-text", "text": "  \n\t  "}]))
    put("not_json.jsonl", _lines(good[:1]) + b"this line is not JSON\n")
    put("no_text.jsonl", _lines([{"id": "no-text-field", "body": "x"}, {"id": "number-text", "text": 42}]))
    put("duplicate_ids.jsonl", _lines([{"id": "twin", "text": paragraphs[0]}, {"id": "twin", "text": paragraphs[1]}]))
    whole = _lines(good * 20)
    put("truncated.jsonl.gz", gzip.compress(whole)[: len(gzip.compress(whole)) // 2])
    put(
        "truncated.jsonl.zst",
        zstandard.ZstdCompressor().compress(whole)[: len(zstandard.ZstdCompressor().compress(whole)) // 2],
    )
    pq.write_table(pa.table({"id": ["pq-1", "pq-2"], "body": ["one", "two"]}), folder / "wrong_schema.parquet")
    paths["wrong_schema.parquet"] = folder / "wrong_schema.parquet"
    (folder / "inner").mkdir(exist_ok=True)
    broken = folder / "inner" / "unreadable.txt"
    broken.unlink(missing_ok=True)
    broken.symlink_to(folder / "inner" / "target-that-does-not-exist.txt")
    paths["inner/unreadable.txt"] = broken
    repeats = LARGE_BYTES // len(text.encode("utf-8")) + 1
    put("large.jsonl", _lines([{"id": "large", "text": "\n".join([text] * repeats)}]))
    return paths


def expected() -> dict[str, list[tuple[str, str, str]]]:
    """For each case run alone: `(id, decision, reason prefix)` of each of its documents.jsonl rows."""
    return {
        "invalid_utf8.jsonl": [
            ("good-0", "keep", ""),
            ("bad-bytes", "keep", ""),
            ("good-1", "keep", ""),
        ],
        "bom.jsonl": [("good-0", "keep", ""), ("good-1", "keep", "")],
        "cp1252.txt": [("cp1252.txt", "keep", "")],
        "utf16.txt": [("utf16.txt", "keep", "")],
        "binary.txt": [("binary.txt", "drop", "unreadable: ")],
        "nul.txt": [("nul.txt", "keep", "")],
        "empty.txt": [("empty.txt", "drop", "empty")],
        "whitespace.jsonl": [("blank-text", "drop", "empty")],
        "not_json.jsonl": [("good-0", "keep", ""), ("not_json.jsonl:2", "drop", "unreadable: ")],
        "truncated.jsonl.gz": [("good-0", "keep", ""), ("truncated.jsonl.gz:2", "drop", "unreadable: ")],
        "truncated.jsonl.zst": [("truncated.jsonl.zst:1", "drop", "unreadable: ")],
        "no_text.jsonl": [("no-text-field", "drop", "unreadable: "), ("number-text", "drop", "unreadable: ")],
        "duplicate_ids.jsonl": [("twin", "keep", ""), ("twin#2", "keep", "")],
        "wrong_schema.parquet": [("pq-1", "drop", "unreadable: "), ("pq-2", "drop", "unreadable: ")],
        "inner/unreadable.txt": [("unreadable.txt", "drop", "unreadable: ")],
        "large.jsonl": [("large", "keep", "")],
    }


MESSAGES = {
    "invalid_utf8.jsonl": "invalid_utf8.jsonl:2: line is not UTF-8",
    "cp1252.txt": "cp1252.txt: not UTF-8 (invalid UTF-8 at byte 3 (invalid continuation byte)); decoded as cp1252",
    "binary.txt": "binary.txt: invalid UTF-8",
    "nul.txt": "nul.txt: text holds 1 NUL characters",
    "empty.txt": "empty.txt: empty document",
    "whitespace.jsonl": "whitespace.jsonl:1: empty document",
    "not_json.jsonl": "not_json.jsonl:2: not JSON",
    "no_text.jsonl": "no_text.jsonl:1: no 'text' field",
    "duplicate_ids.jsonl": "duplicate_ids.jsonl:2: duplicate id 'twin'",
    "truncated.jsonl.gz": "truncated.jsonl.gz:",
    "truncated.jsonl.zst": "truncated.jsonl.zst:",
    "wrong_schema.parquet": "wrong_schema.parquet:1: no column 'text'",
    "inner/unreadable.txt": "unreadable.txt: No such file or directory",
    "large.jsonl": "large.jsonl:1: large document",
}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "malformed"
    for name, path in make(target).items():
        print(f"{name}: {path.stat().st_size if path.exists() else 'dangling link'}")
