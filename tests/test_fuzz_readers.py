"""Fuzz target for the readers: any bytes in any supported format give Documents, never an exception."""

from __future__ import annotations

import codecs
import gzip
import json
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reprints.config import ReadConfig
from reprints.io import expand_inputs, iter_documents

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["id", "text", "x"]), inner, max_size=3)
    ),
    max_leaves=6,
)
LINES = st.lists(
    st.one_of(st.binary(max_size=60), JSON_VALUES.map(lambda v: json.dumps(v).encode())), min_size=0, max_size=8
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_all(path: Path) -> list[tuple[str, str | None]]:
    return [(d.id, d.error) for d in iter_documents(expand_inputs([path]), ReadConfig())]


@given(LINES, st.sampled_from(["plain", "gz", "zst"]), st.floats(0.0, 1.0))
@example(lines=[codecs.BOM_UTF8], codec="plain", cut=1.0)  # a file of a byte-order mark alone holds no record
@SETTINGS
def test_jsonl_readers_never_raise(tmp_path: Path, lines: list[bytes], codec: str, cut: float) -> None:
    data = b"\n".join(lines) + b"\n"
    if codec == "gz":
        data = gzip.compress(data)
    elif codec == "zst":
        data = zstandard.ZstdCompressor().compress(data)
    data = data[: max(0, int(len(data) * cut))] if cut < 0.95 else data
    suffix = {"plain": ".jsonl", "gz": ".jsonl.gz", "zst": ".jsonl.zst"}[codec]
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    docs = read_all(path)
    if codec == "plain":  # a record per line holding more than white space (a byte-order mark opens the file)
        assert len(docs) == sum(1 for line in data.removeprefix(codecs.BOM_UTF8).split(b"\n") if line.strip())
    assert all(error is None or error.startswith("unreadable: ") for _, error in docs)


@given(st.binary(max_size=300))
@SETTINGS
def test_txt_reader_never_raises(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    [(doc_id, _)] = read_all(path)
    assert doc_id == "fuzz.txt"


@given(st.binary(max_size=300))
@SETTINGS
def test_parquet_reader_never_raises(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.parquet"
    path.write_bytes(data)
    docs = read_all(path)
    assert docs and all(error and error.startswith("unreadable: ") for _, error in docs)


@pytest.mark.parametrize("lines", [[b"\xff\xfe"], [b'{"id": 1, "text": "\\ud800"}'], [b"[]", b"{}", b"null"]])
def test_known_awkward_lines(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "awkward.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert len(read_all(path)) == len(lines)


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
def test_unpaired_surrogate_survives_to_the_output(tmp_path: Path, output_format: str) -> None:
    import reprints

    path = tmp_path / "surrogate.jsonl"
    path.write_text('{"id": "s", "text": "bad \\ud800 surrogate"}\n{"id": "t", "text": "fine"}\n', encoding="utf-8")
    summary = reprints.dedup([path], tmp_path / "out", output_format=output_format)
    assert summary.decisions == {"keep": 2, "trim": 0, "drop": 0}
    if output_format == "jsonl":
        first = json.loads((tmp_path / "out" / "deduplicated.jsonl").read_text(encoding="utf-8").splitlines()[0])
        assert first["text"] == "bad \ud800 surrogate"
