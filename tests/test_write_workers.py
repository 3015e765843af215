"""The write pass in workers: the rows are made in the engine's workers and, for JSON Lines inputs, the workers
parse the lines read again themselves (`reprints.io.sources.raw_records`) and check them against the first pass.
Both ways of reading again must write the same bytes, and a changed input must still be caught."""

from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reprints
import reprints.pipeline
from conftest import DATA, requires_shared
from reprints.config import ReadConfig
from reprints.errors import InputError
from reprints.io.sources import iter_documents, raw_documents, raw_records
from reprints.io.verify import Checksum, batches_again, check_batch

OUTPUTS = ("pairs.jsonl", "documents.jsonl", "clusters.jsonl", "deduplicated.jsonl")


@pytest.fixture(scope="module")
def articles() -> list[str]:
    with gzip.open(DATA / "bbc.jsonl.gz", "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for _, line in zip(range(40), lines, strict=False)]


def _lines(rng: random.Random, articles: list[str], count: int) -> list[str]:
    """JSON Lines of copies, cuts and bundles of real articles, with the oddities a reader meets, each at least
    once: repeated ids, a missing id, a blank line, an unreadable line, a text over the size limit of 3,000
    characters (`max_doc_chars` below), metadata of several kinds, non-ASCII text."""
    lines = []
    for _ in range(count):
        kind = rng.random()
        first = rng.choice(articles)
        if kind < 0.3:
            text = first
        elif kind < 0.55:
            words = first.split(" ")
            cut = rng.randrange(1, len(words))
            text = " ".join(words[:cut] if rng.random() < 0.5 else words[cut:])
        elif kind < 0.75:
            text = "\n\n".join(rng.sample(articles, 2)) + "\n« Partagez » — ends here ✓"
        else:
            text = rng.choice(articles)[: rng.randrange(1, 400)]
        row: dict[str, object] = {"id": f"d{rng.randrange(count)}", "text": text}
        if rng.random() < 0.4:  # a footer every site carries: boilerplate only on a site with two copies
            row["site"] = rng.choice(["a.example", "b.example", "c.example", "d.example", None])
            row["text"] = f"{text}\nFollow this site for more stories every day."
        if rng.random() < 0.2:
            row["tags"] = [rng.randrange(100), {"k": "v"}]
        lines.append(json.dumps(row, ensure_ascii=rng.random() < 0.5))
    oddities = [
        "",
        '{"id": "broken", "text": ',
        json.dumps({"text": rng.choice(articles)[:300], "site": "a.example"}),
        json.dumps({"id": "huge", "text": " ".join(articles[:3])}),
        json.dumps({"id": "huge", "text": rng.choice(articles)[:500]}),
    ]
    for line in oddities:
        lines.insert(rng.randrange(len(lines) + 1), line)
    return lines


def _write_inputs(folder: Path, lines: list[str], split: int, bom: bool) -> list[Path]:
    """The lines in two files: plain JSON Lines (perhaps with a byte-order mark) and gzip."""
    folder.mkdir(parents=True, exist_ok=True)
    plain, packed = folder / "a.jsonl", folder / "b.jsonl.gz"
    plain.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "".join(f"{line}\n" for line in lines[:split]).encode())
    with gzip.open(packed, "wt", encoding="utf-8") as handle:
        handle.write("".join(f"{line}\n" for line in lines[split:]))
    return [plain, packed]


def _outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def _problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "reprints.io.sources"]


@requires_shared
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(10, 50), bom=st.booleans(), strip=st.booleans())
def test_reading_and_writing_in_workers_is_what_the_main_process_would_do(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    articles: list[str],
    seed: int,
    count: int,
    bom: bool,
    strip: bool,
) -> None:
    """JSON Lines parsed by the workers (two of them) on both passes give byte for byte the outputs of documents
    read in this process and written by it (one worker), and the same problems reported in the same order
    (an empty file's may come earlier): ids renamed across files, unreadable and too large records,
    boilerplate stripped or not, batches cut by bytes instead of characters."""
    rng = random.Random(seed)
    folder = tmp_path_factory.mktemp("write")
    lines = _lines(rng, articles, count)
    files = _write_inputs(folder / "in", lines, rng.randrange(len(lines) + 1), bom)
    files.insert(rng.randrange(3), folder / "in" / "empty.jsonl")
    files[files.index(folder / "in" / "empty.jsonl")].write_bytes(b"")
    options = {
        "batch_chars": 2_000,
        "max_doc_chars": 3_000,
        "strip_boilerplate": strip,
        "boilerplate_min_docs": 2,
        "site_field": "site",
        "order_by": "site",
    }
    caplog.clear()
    with caplog.at_level("WARNING"):
        reprints.dedup(files, folder / "workers", workers=2, **options)
    in_workers = _problems(caplog)
    caplog.clear()
    with monkeypatch.context() as patch, caplog.at_level("WARNING"):
        patch.setattr(reprints.pipeline, "raw_readable", lambda *_: False)
        reprints.dedup(files, folder / "here", workers=1, **options)
    here = _problems(caplog)
    assert _outputs(folder / "workers") == _outputs(folder / "here")
    assert sorted(in_workers) == sorted(here)
    assert [m for m in in_workers if "holds no records" not in m] == [m for m in here if "holds no records" not in m]
    assert any("duplicate id 'huge'" in message for message in here)


def _first_pass(files: list[Path], config: ReadConfig, size: int) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Batches of `size` documents and their checksums, as the reading pass records them."""
    documents = list(iter_documents(files, config, report=False))
    batches, checksums = [], []
    for number, first in enumerate(range(0, len(documents), size)):
        chunk = documents[first : first + size]
        checksum = Checksum()
        for doc in chunk:
            checksum.add(doc)
        batches.append((number, first, len(chunk)))
        checksums.append(checksum.value())
    return batches, checksums


def _read_again(
    files: list[Path], config: ReadConfig, batches: list[tuple[int, int, int]], checksums: list[int]
) -> list[str]:
    ids = [doc.id for doc in iter_documents(files, config, report=False)]
    texts = []
    for batch in batches_again(raw_records(files), batches, checksums):
        documents = raw_documents(batch.items, batch.first, ids[batch.first : batch.first + len(batch.items)], config)
        check_batch(documents, batch.checksum)
        texts.extend(doc.text for doc in documents)
    return texts


def _stories(source: Path, count: int) -> list[dict[str, str]]:
    rows = [{"id": f"d{i}", "text": f"Story number {i} about the harbour and the fleet."} for i in range(count)]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return rows


def test_text_changed_in_place_is_caught_by_the_workers_check(tmp_path: Path) -> None:
    """Same size, same modification time, one letter swapped: the batch's checksum differs."""
    source = tmp_path / "docs.jsonl"
    _stories(source, 9)
    config = ReadConfig()
    batches, checksums = _first_pass([source], config, 4)
    assert len(_read_again([source], config, batches, checksums)) == 9
    stat = source.stat()
    source.write_text(source.read_text(encoding="utf-8").replace("number 5 about", "number 5 abuot"), encoding="utf-8")
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(InputError, match=r"changed while reprints was running \(documents 4 to 7 differ\)"):
        _read_again([source], config, batches, checksums)


def test_records_added_or_removed_are_caught(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    rows = _stories(source, 6)
    config = ReadConfig()
    batches, checksums = _first_pass([source], config, 4)
    with source.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "late", "text": "Added later."}) + "\n")
    with pytest.raises(InputError, match="more than the 6 documents first read"):
        _read_again([source], config, batches, checksums)
    source.write_text("".join(json.dumps(row) + "\n" for row in rows[:5]), encoding="utf-8")
    with pytest.raises(InputError, match="fewer documents than first read"):
        _read_again([source], config, batches, checksums)


def test_an_id_changed_under_the_same_text_is_caught(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text(json.dumps({"id": "first", "text": "One story."}) + "\n", encoding="utf-8")
    (item,) = list(raw_records([source]))
    assert raw_documents([item], 0, ["first"], ReadConfig())[0].text == "One story."
    assert raw_documents([item], 0, ["first#2"], ReadConfig())[0].id == "first#2"  # renamed as a repeated id
    with pytest.raises(InputError, match="its id is now 'first', was 'other'"):
        raw_documents([item], 0, ["other"], ReadConfig())
