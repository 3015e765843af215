from __future__ import annotations

import datetime
import decimal
import gzip
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

import reprints
from conftest import news_texts, run_cli
from reprints.config import ReadConfig
from reprints.errors import InputError
from reprints.io import arrays, expand_inputs, iter_documents
from reprints.io.arrays import CHECKPOINT, load_arrays, save_arrays
from reprints.io.writers import RowWriter, encoded, finite

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


@pytest.mark.parametrize("suffix", [".JSONL", ".JSONL.GZ", ".Jsonl.Zst"])
def test_regression_upper_case_suffixes_are_read_as_their_kind(tmp_path: Path, suffix: str) -> None:
    """An input's kind is told by its suffix in any case: DOCS.JSONL.GZ was taken for JSON Lines but read as
    plain bytes (every line unreadable)."""
    data = write_jsonl(tmp_path, ROWS)
    if suffix.lower().endswith(".gz"):
        data = gzip.compress(data)
    elif suffix.lower().endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path = tmp_path / f"DOCS{suffix}"
    path.write_bytes(data)
    assert read([path]) == [("x1", "first text", {"site": "a"}, None), ("x2", "second text", {"site": "b"}, None)]
    summary = reprints.dedup([path], tmp_path / "out", workers=2)
    assert summary.documents == 2 and summary.unreadable == 0


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


def test_regression_symlinked_subfolders_are_read_and_loops_not_followed(tmp_path: Path) -> None:
    """A symlink to a folder inside an input folder was skipped without a word (`Path.rglob` does not follow
    one): its files, and the documents in them, were missing from the run's outputs. They are read now, in the
    folder's sorted order, through links within links. Not followed, each with a warning: a link to a folder
    that holds it (its own folder, the input folder or one above it, which would walk the file system: a
    review found `up -> ..` followed), a folder or file already found through another path (`latest -> 2024`
    read each file twice, each its own duplicate), a link that leads back to itself (a traceback before). The
    command line accounts for every document."""
    texts = news_texts()
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data / "a").mkdir(parents=True)
    (elsewhere / "deep").mkdir(parents=True)
    (data / "a" / "one.txt").write_text(texts[0], encoding="utf-8")
    (elsewhere / "deep" / "two.txt").write_text(texts[1], encoding="utf-8")
    (elsewhere / "three.txt").write_text(texts[0], encoding="utf-8")  # a copy of one.txt, found through the link
    (data / "linked").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "deep" / "loop").symlink_to(elsewhere, target_is_directory=True)  # would repeat for ever
    (data / "a" / "back").symlink_to(data, target_is_directory=True)
    (data / "up").symlink_to(tmp_path, target_is_directory=True)  # above the input folder
    (data / "zz-again").symlink_to(elsewhere, target_is_directory=True)  # found through `linked` already
    (data / "alias.txt").symlink_to(data / "a" / "one.txt")  # likewise, a file
    (data / "loop.txt").symlink_to(data / "loop.txt")
    assert [path.relative_to(data).as_posix() for path in expand_inputs([data])] == [
        "a/one.txt",
        "linked/deep/two.txt",
        "linked/three.txt",
    ]
    result = run_cli("dedup", data, "--out", tmp_path / "out", "-q")
    assert result.stderr.count("a symlink to a folder that holds it (a loop); not followed") == 3, result.stderr
    assert "data/up: a symlink to a folder that holds it" in result.stderr and "up/" not in result.stderr
    assert "zz-again: a symlink to the same folder as" in result.stderr, result.stderr
    assert "alias.txt: a symlink to" in result.stderr and "inside the input folder; read there" in result.stderr
    assert "loop.txt: a symlink that leads back to itself (a loop); skipped" in result.stderr, result.stderr
    documents = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text().splitlines()]
    assert [doc["id"] for doc in documents] == ["one.txt", "two.txt", "three.txt"]  # (a .txt file's id: its name)
    pairs = [json.loads(line) for line in (tmp_path / "out" / "pairs.jsonl").read_text().splitlines()]
    assert [(pair["a"], pair["b"], pair["relation"]) for pair in pairs] == [("one.txt", "three.txt", "exact")]
    os.link(data / "a" / "one.txt", data / "a" / "hard.txt")  # a hard link is a file of its own, as before
    assert [path.relative_to(data).as_posix() for path in expand_inputs([data])][:2] == ["a/hard.txt", "a/one.txt"]


@given(
    st.text(
        st.one_of(
            st.sampled_from(" \n\t.,;:!?-–—“”'\"()[]…•|/\\*#@&%$€"),  # separators
            st.sampled_from("\u0301\u200d\u00ad\ufe0f\u0640\u200b"),  # attached and ignorable characters
            st.characters(),  # anything, letters and digits of every script included
        ),
        max_size=12,
    )
)
@settings(max_examples=300, deadline=None)
def test_the_empty_document_warning_is_given_exactly_when_a_text_has_no_words(text: str) -> None:
    """`index add` and `dedup` warn of a document with no words exactly when it has no tokens (what `dedup`
    drops as "empty: no words"): a text of punctuation or symbols only is warned of too."""
    from reprints.io.records import Record
    from reprints.io.sources import _warnings
    from reprints.normalize.tokens import tokenize

    warned = any("empty document" in line for line in _warnings(Record("x", text, {}, "x")))
    assert warned == (len(tokenize([text]).hashes) == 0), (text, warned)


def test_regression_a_document_of_punctuation_only_is_warned_of_as_empty(tmp_path: Path) -> None:
    """A document of punctuation only ("... !!! ---") was dropped as "empty: no words" without the warning an
    empty or blank one gets; each is warned of now, and a document with one word is not."""
    source = tmp_path / "docs.jsonl"
    texts = {"blank": "   ", "dots": "... !!! ---", "quotes": "“” – ‘’", "word": "— yes —"}
    source.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()), encoding="utf-8")
    result = run_cli("dedup", "-q", source, "--out", tmp_path / "out")
    warned = [
        line.split("docs.jsonl:")[1].split(":")[0] for line in result.stderr.splitlines() if "empty document" in line
    ]
    assert warned == ["1", "2", "3"], result.stderr
    decisions = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text().splitlines()]
    assert [row["reason"] == "empty: no words" for row in decisions] == [True, True, True, False]


def test_regression_an_id_that_is_not_a_string_is_read_as_its_json_text(tmp_path: Path) -> None:
    """An id that is not a string took Python's form (`True`, `{'k': 1}`) in every output; it is its JSON text
    (`true`, `{"k": 1}`), the same read from JSON Lines by the main process or by the workers, and from Parquet
    (whose rows without their text keep their ids too)."""
    values: list[Any] = [True, {"k": 1}, [1, "é"], 3, 2.5, "s"]
    expected = ["true", '{"k": 1}', '[1, "é"]', "3", "2.5", "s"]
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps({"id": v, "text": f"words {n}"}) + "\n" for n, v in enumerate(values)))
    assert [doc[0] for doc in read([source])] == expected
    result = run_cli("dedup", "-q", source, "--out", tmp_path / "out")  # (the workers parse the lines)
    for name in ("documents", "deduplicated"):
        rows = (tmp_path / "out" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(row)["id"] for row in rows] == expected, (name, result.stderr)
    table = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": [True, False], "text": ["one", "two"]}), table)
    assert [doc[0] for doc in read([table])] == ["true", "false"]
    pq.write_table(pa.table({"id": [True, False], "body": ["one", "two"]}), table)
    assert [doc[0] for doc in read([table])] == ["true", "false"]  # (unreadable: no text column)


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


RUSSIAN = "Привет, как дела? Это тест кодировки."


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(b"caf\xe9 cr\xe8me", "café crème", id="cp1252"),
        pytest.param(
            "Привет, как дела? Это тест кодировки.".encode("cp1251"),
            "Привет, как дела? Это тест кодировки.",
            id="cp1251",
        ),
        pytest.param("Zürich\r\nline two".encode("utf-16"), "Zürich\r\nline two", id="utf16-bom"),
        pytest.param(b"\xef\xbb\xbfwith BOM\r\n", "with BOM\r\n", id="utf8-bom"),
    ],
)
def test_txt_decoding_keeps_the_document(tmp_path: Path, data: bytes, text: str) -> None:
    """Regression (issue 8, case 10): a cp1252 or UTF-16 file was dropped as unreadable; a BOM was kept."""
    (tmp_path / "doc.txt").write_bytes(data)
    [(doc_id, got, _, error)] = read([tmp_path / "doc.txt"])
    assert (doc_id, got, error) == ("doc.txt", text, None)


def test_regression_a_utf8_text_with_a_stray_byte_is_read_as_utf8(tmp_path: Path) -> None:
    """An adversarial test found one invalid byte in a UTF-8 text losing the document: a Russian text with a stray
    byte at its end was dropped ("no other encoding fits"), a French one read as cp932 (every accented letter
    mojibake, its copy no longer found), a Chinese text cut inside its last character dropped, and a JSON Lines
    record so damaged lost its id too. Each is now UTF-8 with the bad sequence replaced by U+FFFD, and says so."""
    russian = "Комитет весь день обсуждал годовой бюджет, и никто не заметил, как прошло время. " * 3
    french = "Le comité a discuté du budget annuel en détail et personne n'a remarqué le château. " * 3
    chinese = "东京都今天宣布了一项新的计划，市民们对此表示欢迎。"
    mended = french.encode()[:50].decode() + "\ufffd" + french.encode()[50:].decode()
    cases = {
        "ru.txt": (russian.encode() + b"\xff", russian + "\ufffd"),
        "fr.txt": (french.encode()[:50] + b"\x80" + french.encode()[50:], mended),
        "zh.txt": (chinese.encode()[:-1], chinese[:-1] + "\ufffd"),
    }
    for name, (data, _) in cases.items():
        (tmp_path / name).write_bytes(data)
    found = {doc_id: (text, error) for doc_id, text, _, error in read([tmp_path / name for name in cases])}
    assert found == {name: (text, None) for name, (_, text) in cases.items()}
    line = b'{"id": "kept", "text": "' + french.encode()[:50] + b"\x80" + french.encode()[50:] + b'"}\n'
    (tmp_path / "lines.jsonl").write_bytes(line)
    assert read([tmp_path / "lines.jsonl"]) == [("kept", mended, {}, None)]
    result = run_cli("dedup", tmp_path / "ru.txt", "--out", tmp_path / "out")
    assert "an invalid sequence replaced by U+FFFD" in result.stderr, result.stderr


RICH_TEXTS = [text for text in news_texts() if len(text.encode()) - len(text) >= 40]  # many multi-byte characters


@given(st.sampled_from(RICH_TEXTS), st.integers(0, 10**6), st.sampled_from([b"\x80", b"\xff", b"\xc3", b"\xe2\x80"]))
@settings(max_examples=200, deadline=None)
def test_a_few_bad_bytes_in_utf8_cost_only_the_characters_they_break(text: str, at: int, bad: bytes) -> None:
    """Property: a real UTF-8 text with invalid bytes put anywhere in it (between characters or inside one) reads as
    UTF-8: every character but the one the bytes break is kept, in order, and the damage reads U+FFFD (a text of
    real articles, not mojibake of a legacy encoding, and not a dropped document)."""
    from reprints.io.decode import decode

    data = text.encode()
    at %= len(data) + 1
    decoded = decode(data[:at] + bad + data[at:])
    assert decoded.encoding == "utf-8" and decoded.warning is not None and "\ufffd" in (decoded.text or "")
    kept = (decoded.text or "").replace("\ufffd", "")
    broken = len(data[:at].decode("utf-8", errors="ignore"))  # the character the bytes went into, if any
    # (bytes put inside a character may make another valid one with its first bytes: it stands in its place)
    assert kept == text or (
        kept.startswith(text[:broken]) and kept.endswith(text[broken + 1 :]) and len(kept) - len(text) in (-1, 0)
    )


def test_undecodable_txt_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_bytes(bytes(range(256)) * 4)
    [(doc_id, _, _, error)] = read([tmp_path / "bad.txt"])
    assert doc_id == "bad.txt"
    assert error is not None and "invalid UTF-8" in error


def test_missing_top_level_path_is_an_error(tmp_path: Path) -> None:
    """Regression (issue 8, case 10): a missing input ran, read nothing and exited 0."""
    missing = tmp_path / "missing.jsonl"
    for on_error in ("skip", "fail"):
        with pytest.raises(InputError, match="no such file or folder"):
            expand_inputs([missing], on_error=on_error)


def test_unsupported_format_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(InputError, match="unsupported format"):
        expand_inputs([tmp_path / "data.csv"])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(" ".join(f"word{i % 97}, “quoted” — dash" for i in range(5000)), id="ascii-spaces"),
        pytest.param("\u3000".join(f"wört{i % 97}«zitat»" for i in range(5000)), id="ideographic-space"),
        pytest.param("\u00a0".join(f"mot{i % 97}" for i in range(9000)), id="no-break-space"),
        pytest.param("我们在北京看到了新的报告，" * 800, id="han-without-spaces"),
    ],
)
def test_long_text_tokenized_in_pieces_equals_whole(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Regression (issue 8, case 9): long texts were cut at ASCII white space only."""
    from reprints.normalize import tokens

    whole = tokens.tokenize([text, "tail words"])
    monkeypatch.setattr(tokens, "PIECE_CHARS", 1000)
    pieces = tokens.tokenize([text, "tail words"])
    for name in ("starts", "ends", "hashes", "offsets", "lead", "trail"):
        assert getattr(whole, name).tolist() == getattr(pieces, name).tolist(), name


def test_jsonl_lines_orjson_rejects_are_read_as_json_reads_them(tmp_path: Path) -> None:
    """The fast parser must never change what a line means: what it refuses, `json` reads as before."""
    lines = [
        '{"id": "nan", "text": "a score of NaN", "score": NaN}',
        '{"id": "big", "text": "a huge number", "n": 123456789012345678901234567890}',
        '{"id": "lone", "text": "half a pair \\ud800 here"}',
        '{"id": "plain", "text": "caf\\u00e9 and more", "tags": ["a", "b"], "x": 1.5e-7}',
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    docs = list(iter_documents([path], ReadConfig()))
    expected = [json.loads(line) for line in lines]
    assert [doc.text for doc in docs] == [row["text"] for row in expected]
    assert docs[1].metadata["n"] == 123456789012345678901234567890
    assert docs[0].metadata["score"] != docs[0].metadata["score"]  # NaN
    assert dict(docs[3].metadata) == {"tags": ["a", "b"], "x": 1.5e-7}


@given(
    st.integers(min_value=0, max_value=3_000),
    st.lists(st.tuples(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=40)), max_size=60),
    st.sampled_from(["uint64", "int32", "int64"]),
)
@settings(max_examples=60, deadline=None)
def test_rows_read_from_a_saved_array_are_its_slices(
    tmp_path_factory: pytest.TempPathFactory, size: int, steps: list[tuple[int, int]], dtype: str
) -> None:
    """`read_rows` of an array mapped from a file reads the rows instead of mapping them; the rows are those of
    the slices, adjacent ranges included, whatever the array's header length."""
    import numpy as np

    from reprints.io.arrays import read_rows

    values = np.arange(size, dtype=dtype) * 7 + 3
    starts, stops, at = [], [], 0
    for gap, length in steps:
        start = min(at + gap, size)
        stop = min(start + length, size)
        starts.append(start)
        stops.append(stop)
        at = stop
    path = tmp_path_factory.mktemp("rows") / "values.npy"
    np.save(path, values)
    mapped = np.load(path, mmap_mode="r")
    expected = np.concatenate([values[s:e] for s, e in zip(starts, stops, strict=True)] + [values[:0]])
    begin, end = np.array(starts, dtype=np.int64), np.array(stops, dtype=np.int64)
    for source in (mapped, values):
        got = read_rows(source, begin, end)
        assert got.dtype == values.dtype and np.array_equal(got, expected)


_DTYPES = [np.int64, np.int32, np.uint64, np.uint16, np.bool_, np.float64, np.uint8]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_DTYPES), st.lists(st.integers(0, 255), max_size=300), st.booleans(), st.integers(1, 4)
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(-(2**40), 2**40),
)
def test_checkpointed_arrays_read_back_equal(
    tmp_path_factory: pytest.TempPathFactory, columns: list[tuple[type, list[int], bool, int]], number: int
) -> None:
    """Arrays of any dtype, length (empty too) and shape, numbers among them, read back equal, each writable and
    aligned as its dtype needs (numba compiles unaligned arrays apart)."""
    path = tmp_path_factory.mktemp("arrays") / f"x{CHECKPOINT}"
    arrays: dict[str, object] = {}
    for position, (dtype, values, square, width) in enumerate(columns):
        array = np.array(values, dtype=np.uint8).astype(dtype)
        if square and len(array) >= width:
            array = array[: len(array) // width * width].reshape(-1, width)
        arrays[f"a{position}"] = array
    arrays["number"] = number
    save_arrays(path, arrays)
    loaded = load_arrays(path)
    assert loaded is not None and list(loaded) == list(arrays)
    for name, array in arrays.items():
        expected = np.asarray(array)
        assert loaded[name].dtype == expected.dtype and loaded[name].shape == expected.shape
        assert np.array_equal(loaded[name], expected)
        assert loaded[name].flags.writeable and loaded[name].flags.aligned


def test_regression_a_checkpoint_damaged_anywhere_is_discarded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint cut short, grown, emptied, zeroed, or with any one byte changed (its header, its arrays, its
    padding, its digest) is discarded with a warning: none is read back as other arrays."""
    path = tmp_path / f"x{CHECKPOINT}"
    save_arrays(path, {"a": np.arange(40, dtype=np.int64), "b": np.array([True, False]), "n": 7})
    whole = path.read_bytes()
    # (what a crash of the machine can leave of a file written without syncing: cut short, or blocks zeroed)
    damaged = [whole[:-1], whole + b"\0", b"", whole[:10], bytes(len(whole)), whole[:64] + bytes(len(whole) - 64)]
    damaged += [whole[:at] + bytes([whole[at] ^ 1]) + whole[at + 1 :] for at in range(len(whole))]
    for data in damaged:
        path.write_bytes(data)
        with caplog.at_level("WARNING"):
            caplog.clear()
            assert load_arrays(path) is None
        assert "discarding damaged checkpoint" in caplog.text
        assert not path.exists()
    assert load_arrays(path) is None  # no checkpoint at all: nothing to say


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
def test_regression_parquet_metadata_json_has_no_form_for_is_written(tmp_path: Path, output_format: str) -> None:
    """Parquet input with a timestamp, date, binary, decimal or duration column stopped the run at the write
    stage with a traceback (`Object of type datetime is not JSON serializable`), every output lost. Such values
    are written as ISO 8601 text, exact decimal digits, base64 text and seconds, in either output format."""
    source = tmp_path / "docs.parquet"
    text = "the same story about the harbour and the ships that sailed out at dawn with forty men aboard"
    pq.write_table(
        pa.table(
            {
                "id": ["a", "b"],
                "text": [text, "another text altogether"],
                "published": pa.array([datetime.datetime(2020, 1, 1, 12, 30), None]),
                "day": pa.array([datetime.date(2020, 1, 2), None]),
                "raw": pa.array([b"\x00\x01", None]),
                "price": pa.array([decimal.Decimal("1.25"), None]),
                "wait": pa.array([datetime.timedelta(seconds=90), None]),
            }
        ),
        source,
    )
    result = run_cli("dedup", "-q", source, "--out", tmp_path / "out", "--format", output_format, check=False)
    assert result.returncode == 0, result.stderr
    if output_format == "jsonl":
        kept = [json.loads(line) for line in (tmp_path / "out" / "deduplicated.jsonl").read_text().splitlines()]
    else:
        kept = pq.read_table(tmp_path / "out" / "deduplicated.parquet").to_pylist()
    assert kept[0] == {
        "id": "a",
        "text": text,
        "published": "2020-01-01T12:30:00",
        "day": "2020-01-02",
        "raw": "AAE=",
        "price": "1.25",
        "wait": 90.0,
    }
    assert [row["id"] for row in kept] == ["a", "b"]


def strict_json(line: str | bytes) -> Any:
    """JSON as the standard has it: `NaN`, `Infinity` and `-Infinity` are not JSON (Python's `json` reads them)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(line, parse_constant=refuse)


def _plain(value: object) -> object:
    """A value as compared across output formats: NaN and infinities as the text JSON output gives them, keys
    holding null left out (a Parquet struct has every key of its column), tuples as lists."""
    value = finite(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    fields=st.lists(st.dictionaries(st.sampled_from(["x", "y", "z"]), JSON_VALUES, max_size=3), min_size=1, max_size=5)
)
def test_every_field_value_is_written_in_either_format(
    tmp_path_factory: pytest.TempPathFactory, fields: list[dict[str, object]]
) -> None:
    """The deduplicated file holds each record's fields, whatever JSON held them: in JSON Lines as strict JSON (a
    NaN or infinity as text), in Parquet natively or, in a field with no one Parquet type, as JSON text."""
    rows = [{"id": str(n), "text": f"text {n}", **extra} for n, extra in enumerate(fields)]
    folder = tmp_path_factory.mktemp("rows")
    for output_format in ("jsonl", "parquet"):
        with RowWriter(folder, "deduplicated", output_format) as writer:
            writer.write_encoded(encoded(rows, output_format))
        if output_format == "jsonl":
            lines = (folder / "deduplicated.jsonl").read_bytes().splitlines()
            back = [strict_json(line) for line in lines]
            assert back == [finite(row) for row in rows]
            continue
        table = pq.read_table(folder / "deduplicated.parquet")
        assert table.column_names == ["id", "text", *dict.fromkeys(k for extra in fields for k in extra)]
        for name in table.column_names:
            values = table.column(name).to_pylist()
            given_values = [row.get(name) for row in rows]
            as_text = pa.types.is_string(table.schema.field(name).type) and any(
                value is not None and not isinstance(value, str) for value in given_values
            )
            for value, original in zip(values, given_values, strict=True):
                if as_text and value is not None:
                    value = json.loads(value)
                assert _plain(value) == _plain(original), (name, value, original)


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
def test_regression_fields_json_and_parquet_have_no_form_for(tmp_path: Path, output_format: str) -> None:
    """`NaN` and `1e400` in JSON Lines input were written as bare `NaN` and `Infinity` (not JSON: strict readers
    refuse the whole line); with `--format parquet`, a field holding `{}` stopped the run (ArrowNotImplementedError:
    a struct without fields) and an integer past 64 bits too (OverflowError), every output lost. An index stored
    NaN as `"nan"` and dates unlike the outputs."""
    source = tmp_path / "docs.jsonl"
    text = "the same story about the harbour and the ships that sailed out at dawn with forty men aboard"
    source.write_text(
        '{"id": "a", "text": "' + text + '", "score": NaN, "big": 12345678901234567890123, "f": 1e400, '
        '"nothing": {}, "deep": {"inner": {}}, "low": -1e400}\n'
        '{"id": "b", "text": "another text altogether", "score": 0.5}\n',
        encoding="utf-8",
    )
    result = run_cli("dedup", "-q", source, "--out", tmp_path / "out", "--format", output_format, check=False)
    assert result.returncode == 0, result.stderr
    if output_format == "jsonl":
        kept = [strict_json(line) for line in (tmp_path / "out" / "deduplicated.jsonl").read_bytes().splitlines()]
        assert kept[0]["score"] == "NaN" and kept[0]["f"] == "Infinity" and kept[0]["low"] == "-Infinity"
    else:
        kept = pq.read_table(tmp_path / "out" / "deduplicated.parquet").to_pylist()
        assert kept[0]["score"] != kept[0]["score"] and kept[1]["score"] == 0.5  # NaN, a float column still
        assert kept[0]["f"] == float("inf") and kept[0]["low"] == float("-inf")
        assert json.loads(kept[0]["nothing"]) == {} and json.loads(kept[0]["deep"]) == {"inner": {}}
        kept[0].update(nothing={}, deep={"inner": {}}, big=int(kept[0]["big"]))
    assert kept[0]["big"] == 12345678901234567890123
    assert kept[0]["nothing"] == {} and kept[0]["deep"] == {"inner": {}}
    # The index stores the fields as the outputs write them.
    index = tmp_path / "index"
    assert run_cli("index", "add", "-q", "--index", index, source, check=False).returncode == 0
    with sqlite3.connect(index / "index.sqlite") as db:
        (stored,) = db.execute("SELECT metadata FROM documents WHERE id = 'a'").fetchone()
    assert strict_json(stored)["score"] == "NaN" and strict_json(stored)["f"] == "Infinity"


def test_regression_json_nested_too_deep_or_an_integer_too_long_is_one_unreadable_record(tmp_path: Path) -> None:
    """A line holding an integer of more than 4,300 digits, or nesting deeper than Python's stack, is valid JSON
    that Python's parser refuses with ValueError or RecursionError, which stopped `dedup` and `index add` with a
    traceback, nothing written. Each is one unreadable record; the other lines are read."""
    source = tmp_path / "docs.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "the first readable document of this file"}),
        '{"id": "long", "text": "x", "n": ' + "9" * 5000 + "}",
        '{"id": "deep", "text": "x", "n": ' + "[" * 100_000 + "]" * 100_000 + "}",
        json.dumps({"id": "b", "text": "the last readable document of this file"}),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("dedup", "-q", source, "--out", tmp_path / "out", check=False)
    assert result.returncode == 0, result.stderr
    documents = {row["id"]: row for row in map(json.loads, (tmp_path / "out" / "documents.jsonl").open())}
    assert sorted(documents) == ["a", "b", "docs.jsonl:2", "docs.jsonl:3"]
    assert "ValueError" in documents["docs.jsonl:2"]["reason"]
    assert "RecursionError" in documents["docs.jsonl:3"]["reason"]
    added = run_cli("index", "add", "--index", tmp_path / "index", source, check=False)
    assert added.returncode == 0 and "2 added, 0 replaced, 2 unreadable" in added.stderr


def test_regression_a_json_line_with_a_control_character_is_reported_in_plain_words(tmp_path: Path) -> None:
    """Python's message for a raw control character in a string ends in 'at', and the reason read 'Invalid control
    character at at column 25'."""
    source = tmp_path / "docs.jsonl"
    source.write_text('{"id": "a", "text": "one\ttwo"}\n{"id": "b", "text": "fine"}\n', encoding="utf-8")
    docs = list(iter_documents([source], ReadConfig(), report=False))
    assert [doc.id for doc in docs][1] == "b" and docs[0].error is not None
    assert "(Invalid control character at column 25)" in docs[0].error, docs[0].error


@pytest.mark.skipif(
    arrays._malloc_trim() is None or arrays.resident_bytes() is None, reason="needs glibc and /proc (Linux)"
)
def test_regression_freed_memory_is_kept_for_the_next_batch_up_to_a_budget() -> None:
    """After every batch, each process handed all its freed memory back to the OS (`malloc_trim(0)`), so the next
    batch's arrays were new pages for the kernel to fault in and zero: tokenizing the bulk corpus took 1.8 times as
    long as with the memory kept, and the workers of a run spent about 1 s more CPU. Freed memory now stays until
    the resident set has grown by `KEEP_FREE_BYTES` since the last hand-back; then it is handed back, so memory
    stays bounded. In a new interpreter: the allocator's state in this one depends on the tests run before."""
    done = subprocess.run([sys.executable, "-c", FREED_MEMORY], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


FREED_MEMORY = """
import numpy as np
from reprints.io import arrays

size = 16 << 20  # under glibc's largest mmap threshold: once a larger one is freed, these come from the heap
pins = []

def churn(count):
    # Resident bytes after `count` arrays of `size` are filled, then freed (an array allocated after them keeps
    # them from being the heap's top, which `free` gives back by itself).
    held = [np.ones(size // 8, dtype=np.int64) for _ in range(count)]
    pins.append(np.ones(1 << 17, dtype=np.int64))
    del held
    return arrays.resident_bytes()

larger = np.ones((size + (8 << 20)) // 8)
del larger  # freed, it raises glibc's mmap threshold above `size`
churn(1)
arrays.release_free_memory()  # a hand-back: the budget counts from here
before = arrays.resident_bytes()
freed = churn(2)
assert freed >= before + size, (before, freed)  # the freed arrays are still resident: the premise
arrays.release_free_memory()
kept = arrays.resident_bytes()
assert kept >= freed - size // 2, (freed, kept)  # a batch's worth kept: the next batch reuses it
freed = churn(arrays.KEEP_FREE_BYTES // size + 4)
arrays.release_free_memory()
handed_back = arrays.resident_bytes()
assert handed_back <= freed - arrays.KEEP_FREE_BYTES, (freed, handed_back)  # beyond the budget: handed back
print("ok")
"""


def test_work_directory_checkpoints_are_not_synced_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checkpoints of a run (token and line batches, aligned batches, the match index's columns) are handed
    to the operating system but not synced: syncing them cost about 6% of a run on the bulk corpus, and what a
    crash of the machine can leave of them fails their digest (above) and is computed again."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    examples = Path(__file__).resolve().parents[1] / "examples"
    options: dict[str, Any] = {"batch_chars": 20_000, "batch_pairs": 50, "workers": 1, "keep_work": True}
    monkeypatch.setattr(os, "fsync", recording_fsync)
    reprints.dedup([examples], tmp_path / "out", **options)
    monkeypatch.undo()
    work = tmp_path / "out" / ".work"
    written = [p for p in work.rglob("*") if p.suffix in (CHECKPOINT, ".npy")]
    assert {p.parent.name for p in written} >= {"reading", "align", "index"}, written  # checkpoints were written
    assert not [path for path in synced if path.endswith((CHECKPOINT, f"{CHECKPOINT}.partial", ".npy"))], synced
    assert any("summary.json" in path for path in synced)  # the run's records still are
