"""Plain JSON Lines read by ranges in the workers (`reprints.io.slices`): the ranges of a file hold each of its
lines once, with its number, whatever their size, and the main process never reads those lines itself."""

from __future__ import annotations

import builtins
import io
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reprints
import reprints.io.sources
import reprints.pipeline
from reprints.config import Config
from reprints.engines.local import LocalEngine
from reprints.engines.local_stages import raw_plan
from reprints.errors import InputError
from reprints.io.jsonl import raw_jsonl
from reprints.io.slices import Slice, count_slices, cut, lines_of, numbered
from reprints.report.timing import StageTimer

EXAMPLE = Path(__file__).parent.parent / "examples" / "news" / "docs.jsonl"
OUTPUTS = ("pairs.jsonl", "documents.jsonl", "clusters.jsonl", "deduplicated.jsonl")


def _example_lines() -> list[bytes]:
    return EXAMPLE.read_bytes().splitlines()


LINES = _example_lines()

# What a line of a JSON Lines file may be: a real record, a blank or whitespace-only line, a line that is not
# JSON, one with a carriage return, one longer than many ranges (several records' text in one).
LINE = st.one_of(
    st.sampled_from(LINES),
    st.sampled_from([b"", b"   ", b"\t", b"\r", b" \x0b\x0c ", b'{"id": "broken", "text": ', b"\xff\xfe not utf-8"]),
    st.builds(lambda line: line + b"\r", st.sampled_from(LINES)),
    st.builds(
        lambda picks: json.dumps({"text": " ".join(picks)}).encode(),
        st.lists(st.sampled_from([json.loads(line)["text"] for line in LINES[:20]]), min_size=2, max_size=4),
    ),
)


def _ranged(path: Path, size: int) -> list[tuple[str, bytes, int]]:
    pieces = cut(path, size)
    counted = count_slices(pieces)
    return [line for piece in numbered(pieces, counted) for line in lines_of(piece)]


@settings(
    max_examples=int(os.environ.get("REPRINTS_EXAMPLES", "60")),  # (150 took 29 s of the default run)
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lines=st.lists(LINE, max_size=12),
    bom=st.booleans(),
    trailing=st.booleans(),
    size=st.integers(1, 40_000),
)
def test_ranges_hold_every_line_once_with_its_number(
    tmp_path: Path, lines: list[bytes], bom: bool, trailing: bool, size: int
) -> None:
    """Whatever the range size (one byte, a line's middle, past the end), the lines of a file's ranges, in
    order, are the lines `raw_jsonl` reads of the whole file, bytes and numbers alike; and every range is blank
    exactly when the file holds no record."""
    path = tmp_path / "docs.jsonl"
    data = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines) + (b"\n" if trailing and lines else b"")
    path.write_bytes(data)
    whole = [(str(path), raw, number) for raw, number in raw_jsonl(path)]  # type: ignore[misc]
    assert _ranged(path, size) == whole
    assert all(count.blank for count in count_slices(cut(path, size))) == (not whole)


def test_regression_a_range_read_before_its_line_breaks_are_counted_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(EXAMPLE.read_bytes()[:5_000])
    with pytest.raises(ValueError, match="counted"):
        lines_of(Slice(str(path), 0, 100))


def test_a_file_shortened_or_gone_after_it_was_counted_is_an_input_change(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(EXAMPLE.read_bytes()[:50_000])
    pieces = cut(path, 10_000)
    ranges = numbered(pieces, count_slices(pieces))
    path.write_bytes(EXAMPLE.read_bytes()[:15_000])
    with pytest.raises(InputError, match=r"docs.jsonl changed while reprints was running \(it is shorter"):
        lines_of(ranges[3])
    with pytest.raises(InputError, match="it is shorter"):
        count_slices(pieces[2:])
    path.unlink()
    with pytest.raises(InputError, match=r"cannot be read here .* every executor sees"):
        lines_of(ranges[0])


def test_regression_the_main_process_never_reads_plain_json_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With workers, the lines of a plain JSON Lines input are read by the workers only, on both passes (the
    main process learns its size and the number of its documents): reading them here fails this run, which
    still writes the bytes of a run in one process."""
    rng = random.Random(7)
    lines = _example_lines()
    rng.shuffle(lines)
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(b"\n".join(lines[:200] + lines[:40]) + b"\n")
    here = tmp_path / "here"
    reprints.dedup([plain, EXAMPLE], here, workers=1, batch_chars=20_000)

    def refused(*_: object) -> None:
        raise AssertionError("the main process read a plain JSON Lines input")

    with monkeypatch.context() as patch:
        patch.setattr(reprints.io.sources, "lines_of", refused)
        patch.setattr(reprints.io.sources, "raw_jsonl", refused)
        summary = reprints.dedup([plain, EXAMPLE], tmp_path / "workers", workers=2, batch_chars=20_000)
    assert summary.documents == 540
    for name in OUTPUTS:
        assert (tmp_path / "workers" / name).read_bytes() == (here / name).read_bytes(), name


def test_regression_a_file_given_twice_or_blank_is_read_as_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain file given twice is read twice, its lines numbered from 1 each time (the second copy's ids are
    renamed), and a file of blank lines is a batch of no documents: the outputs are those of documents read in
    this process, and the problems the same."""
    plain, blank = tmp_path / "a.jsonl", tmp_path / "blank.jsonl"
    plain.write_bytes(b"\n".join(_example_lines()[:60]) + b"\n")
    blank.write_bytes(b"\n \n\t\n" * 3000)
    inputs = [plain, blank, plain]
    reprints.dedup(inputs, tmp_path / "ranges", workers=2, batch_chars=5_000)
    with monkeypatch.context() as patch:
        patch.setattr(reprints.pipeline, "raw_readable", lambda *_: False)
        reprints.dedup(inputs, tmp_path / "here", workers=1, batch_chars=5_000)
    for name in OUTPUTS:
        assert (tmp_path / "ranges" / name).read_bytes() == (tmp_path / "here" / name).read_bytes(), name


def test_regression_ranges_of_a_path_given_relative_open_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker may run in another folder (a Spark executor on a cluster does): a range opens its file by its
    absolute path, and still names its lines by the path as given."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "docs.jsonl").write_bytes(b"\n".join(_example_lines()[:5]) + b"\n")
    monkeypatch.chdir(tmp_path)
    pieces = cut(Path("in/docs.jsonl"), 700)
    ranges = numbered(pieces, count_slices(pieces))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    lines = [line for piece in ranges for line in lines_of(piece)]
    assert [(path, number) for path, _, number in lines] == [("in/docs.jsonl", number) for number in range(1, 6)]


def test_regression_small_plain_files_share_a_batch(tmp_path: Path) -> None:
    """Ranges of plain files in a row are gathered into batches of `batch_chars` bytes, as lines were: a folder
    of many small files is not a batch (a task, two checkpoints) per file."""
    files = []
    for number in range(5):
        path = tmp_path / f"{number}.jsonl"
        path.write_bytes(b"\n".join(_example_lines()[number * 3 : number * 3 + 3]) + b"\n")
        files.append(path)
    config = Config.from_options(batch_chars=1_000_000)
    with LocalEngine(1) as engine:
        batches = list(raw_plan(files, config, engine, StageTimer()))
    assert len(batches) == 1
    assert [piece.path for piece in batches[0]] == [str(path) for path in files]  # type: ignore[union-attr]


def test_regression_a_plain_file_that_cannot_be_opened_is_one_unreadable_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain file the workers cannot open is read line by line instead, which makes it one unreadable record
    saying why (as it was before ranges, and as for a compressed file that breaks off): the run goes on."""
    good, locked = tmp_path / "a.jsonl", tmp_path / "locked.jsonl"
    good.write_bytes(b"\n".join(_example_lines()[:20]) + b"\n")
    locked.write_bytes(b"\n".join(_example_lines()[20:30]) + b"\n")
    opened = builtins.open

    def refusing(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file).endswith("locked.jsonl"):
            raise PermissionError(13, "Permission denied", str(file))
        return opened(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing)
    monkeypatch.setattr(io, "open", refusing)  # pathlib's
    summary = reprints.dedup([good, locked], tmp_path / "out", workers=1)
    rows = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text().splitlines()]
    assert summary.documents == 21 and summary.unreadable == 1
    assert "PermissionError" in rows[-1]["reason"] and rows[-1]["reason"].startswith("unreadable")
