"""Crashes: a run killed with SIGKILL at any stage resumes to byte-identical output, redoing no finished batch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import DATA, ROOT, WIRECOPY, run_cli

INPUTS = [DATA / "bbc.jsonl.gz", WIRECOPY / "docs.jsonl"]
SMALL_BATCHES = ["--batch-chars", "150000", "--batch-pairs", "300"]
OUTPUTS = ("pairs.jsonl", "documents.jsonl", "clusters.jsonl", "deduplicated.jsonl")


def command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reprints",
        "dedup",
        "-q",
        *map(str, INPUTS),
        "--out",
        str(out),
        *SMALL_BATCHES,
        *extra,
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    subprocess.run(command(out), check=True, capture_output=True)
    return out


def _count(folder: Path) -> int:
    return len(list(folder.glob("*.arrays"))) if folder.exists() else 0


def _fingerprinted(out: Path) -> int:
    """Batches in the match index (its checkpoint record), 0 before the first."""
    try:
        return int(json.loads((out / ".work" / "index" / "progress.json").read_text(encoding="utf-8"))["batches"])
    except (OSError, ValueError):
        return 0


KILL_POINTS: dict[str, Callable[[Path], bool]] = {
    "fingerprint": lambda out: _fingerprinted(out) >= 3,
    "candidates": lambda out: (out / ".work" / "candidates.arrays").exists(),
    "align": lambda out: _count(out / ".work" / "align") >= 3,
    "write": lambda out: any((out / ".reprints-staging").glob(".*.partial")),
}


def kill_when(out: Path, ready: Callable[[Path], bool], timeout: float = 120.0) -> int:
    """Start a run, SIGKILL it as soon as `ready(out)` holds; return its exit status."""
    process = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready(out):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    return process.wait()


@pytest.mark.parametrize("stage", list(KILL_POINTS))
def test_killed_run_resumes_to_identical_output(stage: str, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    status = kill_when(out, KILL_POINTS[stage])
    assert status == -signal.SIGKILL, f"the run ended ({status}) before it could be killed at {stage}"
    assert not (out / "summary.json").exists()
    subprocess.run(command(out, "--resume"), check=True, capture_output=True)
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), f"{name} differs after resume"
    resumed = json.loads((out / "summary.json").read_text(encoding="utf-8"))["resumed"]
    assert resumed["fingerprint_batches"] >= 3
    if stage in ("candidates", "align", "write"):
        assert resumed["candidates"] is True
    if stage in ("align", "write"):
        assert resumed["align_batches"] >= 3
    assert not (out / ".work").exists()
    assert not list(out.glob(".*.partial")) and not (out / ".reprints-staging").exists()


# Runs `reprints` (the arguments after `-c`) and dies (exit 9, as SIGKILL would stop it) the moment it begins writing
# the match index's `doc_hashes` file: the array writer NumPy's `save` calls writes the file's first bytes and exits.
_DIE_WRITING_DOC_HASHES = """
import os, runpy, sys
import numpy.lib.format as npy

def die_writing(handle, *args, **kwargs):
    if "doc_hashes" in str(getattr(handle, "name", "")):
        handle.write(b"\\x93NUMPY")
        handle.flush()
        os._exit(9)
    return write_array(handle, *args, **kwargs)

write_array, npy.write_array = npy.write_array, die_writing
sys.argv = ["reprints", *sys.argv[1:]]
runpy.run_module("reprints", run_name="__main__")
"""


def test_regression_a_run_killed_writing_the_match_index_keeps_its_fingerprints(
    reference: Path, tmp_path: Path
) -> None:
    """The align stage wrote the match index's files in place, `doc_hashes.npy` among them, which is also a column of
    the fingerprint checkpoint: a run killed while it was being written (CI's SIGKILL after the candidates once
    landed there) left the column cut short, and the resumed run discarded the checkpoint and read, tokenized and
    fingerprinted every batch again. The index's files are now written beside and renamed into place."""
    out = tmp_path / "out"
    arguments = command(out)[3:]  # (after `python -m reprints`)
    killed = subprocess.run([sys.executable, "-c", _DIE_WRITING_DOC_HASHES, *arguments], capture_output=True)
    assert killed.returncode == 9, killed.stderr.decode()
    resumed_run = subprocess.run(command(out, "--resume"), check=True, capture_output=True)
    assert b"discarding damaged checkpoint" not in resumed_run.stderr, resumed_run.stderr.decode()
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), f"{name} differs after resume"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["resumed"]["fingerprint_batches"] == len(summary["read"]["batches"])
    assert summary["resumed"]["candidates"] is True


def test_resume_with_other_parameters_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_cli("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", out, "--keep-work")
    result = run_cli(
        "dedup", "-q", WIRECOPY / "docs.jsonl", "--out", out, "--resume", "--min-passage", "40", check=False
    )
    assert result.returncode == 1
    assert "cannot resume" in result.stderr and "parameters changed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_regression_a_refused_resume_names_what_changed(tmp_path: Path) -> None:
    """A refused `--resume` said only "the parameters changed" or "the inputs changed": it names each parameter
    with its two values, and the input files added, removed or changed."""
    lines = (ROOT / "examples" / "news" / "docs.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("".join(lines[:100]), encoding="utf-8")
    second.write_text("".join(lines[100:150]), encoding="utf-8")
    out = tmp_path / "out"
    run_cli("dedup", "-q", first, "--out", out, "--keep-work")

    def refusal(*args: str | Path) -> str:
        result = run_cli("dedup", "-q", *args, "--out", out, "--resume", check=False)
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        return result.stderr

    said = refusal(first, "--min-passage", "40", "--max-gap", "9")
    assert "the parameters changed (max_gap 12 -> 9, min_passage 30 -> 40)" in said, said
    said = refusal(first, second)
    assert f"the inputs changed (added: {second.resolve()})" in said, said
    first.write_text("".join(lines[:99]), encoding="utf-8")
    said = refusal(first)
    assert f"the inputs changed (changed: {first.resolve()})" in said, said


def test_resume_without_work_directory_starts_over(tmp_path: Path) -> None:
    result = run_cli("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", tmp_path / "out", "--resume")
    assert "starting from the beginning" in result.stderr
    assert (tmp_path / "out" / "pairs.jsonl").exists()


def test_regression_fingerprinted_batches_leave_no_token_checkpoints(tmp_path: Path) -> None:
    """The work directory needed ~22 KB a document at its fullest: every batch's tokens, then its fingerprints
    again beside the match index built from them. The index is now the fingerprint checkpoint and each batch's
    tokens go as it enters it, so a finished run's work directory holds the index and small per-batch files
    only (the reading pass's lines), and no copy of the fingerprints."""
    out = tmp_path / "out"
    run_cli("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", out, *SMALL_BATCHES, "--keep-work")
    work = out / ".work"
    batches = _count(work / "reading")
    assert batches >= 3
    assert _count(work / "tokens") == 0 and not (work / "fingerprint").exists()
    assert _fingerprinted(out) == batches
    index = sum(path.stat().st_size for path in (work / "index").iterdir())
    reading = sum(path.stat().st_size for path in (work / "reading").iterdir())
    assert reading < index / 4
