from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from reprints.config import ReadConfig
from reprints.errors import InputError
from reprints.io import expand_inputs, iter_documents

ROWS = [{"id": "x1", "text": "first text", "site": "a"}, {"id": "x2", "text": "second text", "site": "b"}]


def read(paths: list[Path], **fields: str) -> list[tuple[str, str, dict[str, object], str | None]]:
    docs = iter_documents(expand_inputs(paths), ReadConfig(**fields))
    return [(d.id, d.text, dict(d.metadata), d.error) for d in docs]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> bytes:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    return data


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_jsonl_formats(tmp_path: Path, suffix: str) -> None:
    data = write_jsonl(tmp_path, ROWS)
    path = tmp_path / f"docs{suffix}"
    if suffix.endswith(".gz"):
        data = gzip.compress(data)
    elif suffix.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    assert read([path]) == [("x1", "first text", {"site": "a"}, None), ("x2", "second text", {"site": "b"}, None)]


def test_parquet_with_custom_fields(tmp_path: Path) -> None:
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"key": ["p1", "p2"], "body": ["one", "two"], "n": [1, 2]}), path)
    assert read([path], id_field="key", text_field="body") == [
        ("p1", "one", {"n": 1}, None),
        ("p2", "two", {"n": 2}, None),
    ]


def test_folder_of_txt_files_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("bee", encoding="utf-8")
    (tmp_path / "sub" / "a.txt").write_text("ay", encoding="utf-8")
    (tmp_path / "ignored.csv").write_text("x", encoding="utf-8")
    assert [d[0] for d in read([tmp_path])] == ["b.txt", "a.txt"]


def test_bad_rows_become_unreadable_documents(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": "ok", "text": "fine"}\nnot json\n{"id": "n", "text": 5}\n{"id": "m"}\n\n[1]\n', encoding="utf-8"
    )
    docs = read([path])
    assert [d[0] for d in docs] == ["ok", "bad.jsonl:2", "n", "m", "bad.jsonl:6"]
    assert docs[0][3] is None
    assert all(d[3] and d[3].startswith("unreadable: ") for d in docs[1:])
    assert "bad.jsonl:2" in (docs[1][3] or "")


def test_invalid_utf8_txt_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9")
    [(doc_id, _, _, error)] = read([tmp_path / "bad.txt"])
    assert doc_id == "bad.txt"
    assert error is not None and "invalid UTF-8" in error


def test_missing_path_is_kept_in_skip_mode_and_fails_in_fail_mode(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    assert expand_inputs([missing]) == [missing]
    with pytest.raises(InputError, match="no such file or folder"):
        expand_inputs([missing], on_error="fail")
    [(_, _, _, error)] = read([missing])
    assert error is not None and error.startswith("unreadable: ")


def test_unsupported_format_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(InputError, match="unsupported format"):
        expand_inputs([tmp_path / "data.csv"])


def test_long_text_tokenized_in_pieces_equals_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from reprints.normalize import tokens

    text = " ".join(f"word{i % 97}, “quoted” — dash" for i in range(5000))
    whole = tokens.tokenize([text, "tail words"])
    monkeypatch.setattr(tokens, "PIECE_CHARS", 1000)
    pieces = tokens.tokenize([text, "tail words"])
    for name in ("starts", "ends", "hashes", "offsets", "lead", "trail"):
        assert getattr(whole, name).tolist() == getattr(pieces, name).tolist(), name
