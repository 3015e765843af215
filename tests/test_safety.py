"""Runs that cannot hurt the user's files, through the real CLI: each case of "Runs that cannot hurt the user's
files" asserts the message, the exit status, that no user file is touched and that no process of the run is left.
The fault-injection test kills a two-worker run at random moments and resumes it to byte-identical output."""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import DATA, WIRECOPY, run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process checks read /proc (Linux)")

OUTPUTS = ("pairs.jsonl", "documents.jsonl", "clusters.jsonl", "deduplicated.jsonl")
SMALL_BATCHES = ["--batch-chars", "150000", "--batch-pairs", "300"]


def reprints(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "reprints", *map(str, args)]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with a hash of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def descendants(pid: int) -> set[int]:
    """Processes started by `pid`, directly or not (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def workers_of(pid: int) -> set[int]:
    """The worker processes of a run: started by its fork server, not by the run itself."""
    children = descendants(pid)
    direct = {child for child in children if _parent(child) == pid}
    return children - direct


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (zombies count as gone)."""
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.startswith("reprints: error")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


def corpus(folder: Path, documents: int = 400) -> Path:
    """A folder of real articles as .txt files."""
    folder.mkdir(parents=True)
    with (WIRECOPY / "docs.jsonl").open(encoding="utf-8") as lines:
        for number, line in zip(range(documents), lines, strict=False):
            (folder / f"{number:04d}.txt").write_text(json.loads(line)["text"], encoding="utf-8")
    return folder


class Run:
    """A background run of the CLI, and every process it started."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.seen: set[int] = set()

    def watch(self) -> None:
        self.seen |= descendants(self.process.pid)

    def until(self, ready: Callable[[], bool], timeout: float = 120.0) -> bool:
        """Poll until `ready()` or the run ends; True if ready while running."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self.watch()
            if ready():
                return True
            time.sleep(0.005)
        return False

    def finish(self) -> tuple[int, str]:
        _, stderr = self.process.communicate(timeout=300)
        return self.process.returncode, stderr

    def left_behind(self, grace: float = 5.0) -> set[int]:
        """Processes of the run still alive `grace` seconds after it ended."""
        deadline = time.monotonic() + grace
        while alive(self.seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        return alive(self.seen)


# 1. --work-dir never deletes a folder reprints did not make


@pytest.mark.parametrize("target", ["input", "earlier_results", "thesis"])
def test_case1_work_dir_without_marker_is_refused(tmp_path: Path, target: str) -> None:
    docs = corpus(tmp_path / "corp", 20)
    if target == "input":
        work = docs
    elif target == "earlier_results":
        run_cli("dedup", "-q", docs, "--out", tmp_path / "results")
        work = tmp_path / "results"
    else:
        work = tmp_path / "thesis"
        work.mkdir()
        (work / "chapter1.tex").write_text("\\chapter{Introduction}\n", encoding="utf-8")
    before = snapshot(work)
    result = run_cli("dedup", "-q", docs, "--out", tmp_path / "out", "--work-dir", work, check=False)
    assert result.returncode == 1
    assert "was not made by reprints" in one_error_line(result.stderr)
    assert snapshot(work) == before
    assert not (tmp_path / "out" / "summary.json").exists()


def test_case1_work_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    docs = corpus(tmp_path / "corp", 5)
    work = tmp_path / "notes.txt"
    work.write_text("mine\n", encoding="utf-8")
    result = run_cli("dedup", "-q", docs, "--out", tmp_path / "out", "--work-dir", work, check=False)
    assert result.returncode == 1 and "not a folder" in one_error_line(result.stderr)
    assert work.read_text(encoding="utf-8") == "mine\n"


def test_case1_work_dir_made_by_reprints_is_removed_and_an_empty_one_kept(tmp_path: Path) -> None:
    docs = corpus(tmp_path / "corp", 5)
    made = tmp_path / "work-new"
    run_cli("dedup", "-q", docs, "--out", tmp_path / "out", "--work-dir", made)
    assert not made.exists()
    empty = tmp_path / "work-empty"
    empty.mkdir()
    run_cli("dedup", "-q", docs, "--out", tmp_path / "out2", "--work-dir", empty)
    assert empty.is_dir() and not any(empty.iterdir())


# 2. an input that changes during the run is an error, and nothing is published


def test_case2_input_changed_during_the_run_publishes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    shutil.copy(WIRECOPY / "docs.jsonl", source)
    out = tmp_path / "out"
    run = Run(reprints("dedup", "-q", source, "--out", out, *SMALL_BATCHES))
    assert run.until(lambda: any((out / ".reprints-staging").glob(".*.partial"))), "the run ended too soon"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    source.write_text("".join(lines[::-1]), encoding="utf-8")  # same size, other order
    status, stderr = run.finish()
    assert status == 1
    assert "changed while reprints was running" in one_error_line(stderr)
    assert not any((out / name).exists() for name in (*OUTPUTS, "summary.json"))
    assert not run.left_behind()


def test_case2_input_changed_before_resume_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    shutil.copy(WIRECOPY / "docs.jsonl", source)
    out = tmp_path / "out"
    run = Run(reprints("dedup", "-q", source, "--out", out, *SMALL_BATCHES))
    assert run.until(lambda: (out / ".work" / "candidates.arrays").exists())
    run.process.kill()
    run.finish()
    with source.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "late", "text": "A record added after the run stopped."}) + "\n")
    result = run_cli("dedup", "-q", source, "--out", out, *SMALL_BATCHES, "--resume", check=False)
    assert result.returncode == 1 and "the inputs changed" in one_error_line(result.stderr)


# 3. two runs into one --out


def test_case3_second_run_on_the_same_out_fails_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = Run(reprints("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", out, *SMALL_BATCHES))
    assert first.until(lambda: (out / ".work" / "manifest.json").exists())
    began = time.monotonic()
    second = run_cli("dedup", "-q", DATA / "bbc.jsonl.gz", "--out", out, check=False)
    assert time.monotonic() - began < 30
    assert second.returncode == 1
    assert "in use by another reprints run" in one_error_line(second.stderr)
    assert f"process {first.process.pid}" in second.stderr
    status, stderr = first.finish()
    assert status == 0, stderr
    ids = {json.loads(line)["id"] for line in (WIRECOPY / "docs.jsonl").read_text(encoding="utf-8").splitlines()}
    written = [json.loads(line) for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {row["id"] for row in written} == ids


# 4. an interrupted run leaves no complete-looking folder; an --out inside the input folder is not read


def test_case4_killed_run_keeps_the_earlier_complete_set(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_cli("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", out)
    before = {name: digest for name, digest in snapshot(out).items() if not name.startswith(".")}
    run = Run(reprints("dedup", "-q", DATA / "bbc.jsonl.gz", "--out", out, *SMALL_BATCHES))
    assert run.until(lambda: any((out / ".reprints-staging").glob(".*.partial")))
    run.process.kill()
    run.finish()
    assert {name: digest for name, digest in snapshot(out).items() if not name.startswith(".")} == before


def test_case4_out_inside_the_input_folder_is_not_read(tmp_path: Path) -> None:
    docs = corpus(tmp_path / "corp", 30)
    for _ in range(2):
        run_cli("dedup", "-q", docs, "--out", docs / "out")
        summary = json.loads((docs / "out" / "summary.json").read_text(encoding="utf-8"))
        assert summary["documents"] == 30


# 5. operating-system failures are one line with what to do


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_case5_full_disk_is_one_line_and_resumable(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        reprints("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", out, *SMALL_BATCHES),
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size(400_000),
        timeout=600,
    )
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "free some space" in line and "--resume" in line
    assert not (out / "summary.json").exists()
    resumed = run_cli("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", out, *SMALL_BATCHES, "--resume")
    assert resumed.returncode == 0 and (out / "summary.json").exists()


@pytest.fixture(scope="module")
def kept_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of wirecopy-dev that kept its work directory (its outputs are those of any run)."""
    reference = tmp_path_factory.mktemp("kept") / "out"
    run_cli("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", reference, *SMALL_BATCHES, "--keep-work")
    return reference


@pytest.mark.parametrize("damage", ["truncated", "empty", "flipped"])
def test_case5_damaged_checkpoint_is_recomputed_on_resume(tmp_path: Path, damage: str, kept_work: Path) -> None:
    reference = kept_work
    out = tmp_path / "out"
    shutil.copytree(kept_work, out)
    # A batch's lines, the fingerprint pass's record of the batches in the match index, an aligned batch (a bit
    # flipped: in the checkpoints of arrays, whose digest knows; the record is JSON without one).
    stages = ("reading", "index", "align") if damage != "flipped" else ("reading", "align")
    for stage in stages:
        checkpoint = sorted((out / ".work" / stage).glob("*.arrays" if stage != "index" else "progress.json"))[0]
        data = checkpoint.read_bytes()
        middle = len(data) // 2
        if damage == "flipped":
            checkpoint.write_bytes(data[:middle] + bytes([data[middle] ^ 4]) + data[middle + 1 :])
        else:
            checkpoint.write_bytes(data[:middle] if damage == "truncated" else b"")
    (out / "summary.json").unlink()
    result = run_cli("dedup", "-q", WIRECOPY / "docs.jsonl", "--out", out, *SMALL_BATCHES, "--resume")
    assert result.stderr.count("discarding damaged checkpoint") == len(stages), result.stderr
    assert "aborted" not in result.stderr
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_case5_killed_worker_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Two corpora, so that the workers still have batches to do when one is killed (a worker killed after the
    # last batch, the run complete, is no failure: with the BBC corpus alone, on a busy machine, it happened).
    inputs = [DATA / "bbc.jsonl.gz", DATA / "reuters21578.jsonl.gz"]
    run = Run(reprints("dedup", "-q", *inputs, "--out", out, "--workers", "2", *SMALL_BATCHES))
    assert run.until(lambda: len(workers_of(run.process.pid)) >= 2)
    time.sleep(0.3)
    os.kill(max(workers_of(run.process.pid)), signal.SIGKILL)
    status, stderr = run.finish()
    assert status == 1, stderr
    assert "a worker process died" in one_error_line(stderr)
    assert not run.left_behind()


# 6. workers end with their parent


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_case6_stopping_the_run_stops_every_process(tmp_path: Path, how: signal.Signals) -> None:
    out = tmp_path / "out"
    run = Run(reprints("dedup", "-q", DATA / "bbc.jsonl.gz", "--out", out, "--workers", "2", *SMALL_BATCHES))
    assert run.until(lambda: len(descendants(run.process.pid)) >= 3)
    run.process.send_signal(how)
    status, stderr = run.finish()
    assert not run.left_behind(), "processes of the run are still alive 5 s after it was stopped"
    assert "leaked semaphore" not in stderr and "Traceback" not in stderr
    if how == signal.SIGKILL:
        assert status == -signal.SIGKILL
    else:
        assert status == (130 if how == signal.SIGINT else 128 + signal.SIGTERM)
        assert "--resume" in stderr.strip().splitlines()[-1]


# 7. inputs that are not regular files, empty compressed files, huge documents


def test_case7_fifo_is_skipped_not_read(tmp_path: Path) -> None:
    docs = corpus(tmp_path / "corp", 10)
    os.mkfifo(docs / "pipe.txt")
    result = run_cli("dedup", "-q", docs, "--out", tmp_path / "out")
    assert "not a regular file" in result.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))["documents"] == 10


def test_case7_empty_compressed_file_is_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl.gz"
    empty.write_bytes(b"")
    result = run_cli("dedup", "-q", empty, WIRECOPY / "docs.jsonl", "--out", tmp_path / "out")
    assert "empty.jsonl.gz: holds no records" in result.stderr


def test_case7_huge_document_is_bounded(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    huge = "word " * 400_000
    source.write_text(
        json.dumps({"id": "huge", "text": huge}) + "\n" + json.dumps({"id": "small", "text": "a short note"}) + "\n",
        encoding="utf-8",
    )
    run_cli("dedup", "-q", source, "--out", tmp_path / "out", "--max-doc-chars", "1000000")
    rows = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text().splitlines()]
    assert rows[0]["id"] == "huge" and "too large" in rows[0]["reason"] and rows[0]["decision"] == "drop"
    assert rows[1]["decision"] == "keep"


# Fault injection: kill a two-worker run at random moments, resume, compare bytes


def test_fault_injection_kills_and_resumes_to_identical_bytes(tmp_path: Path) -> None:
    inputs = [DATA / "bbc.jsonl.gz", WIRECOPY / "docs.jsonl"]
    reference = tmp_path / "reference"
    began = time.monotonic()
    run_cli("dedup", "-q", *inputs, "--out", reference, "--workers", "2", *SMALL_BATCHES)
    duration = time.monotonic() - began
    out = tmp_path / "out"
    rng = random.Random(9)
    kills = 0
    # Rounds until 10 runs were killed (at least 12 rounds): a resumed run that finishes before its moment (more
    # likely on a loaded machine, where the reference run's duration is long) is not a kill.
    for round_number in range(40):
        if kills >= 10 and round_number >= 12:
            break
        how = signal.SIGKILL if round_number % 2 == 0 else signal.SIGTERM
        run = Run(reprints("dedup", "-q", *inputs, "--out", out, "--workers", "2", *SMALL_BATCHES, "--resume"))
        moment = time.monotonic() + rng.uniform(0.3, max(0.6, duration * 0.9))
        run.until(lambda moment=moment: time.monotonic() >= moment)  # type: ignore[misc]
        if run.process.poll() is None:
            run.process.send_signal(how)
            kills += 1
        status, stderr = run.finish()
        assert "Traceback" not in stderr and "leaked semaphore" not in stderr, stderr
        # -SIGTERM: the signal came before the CLI had started (nothing to clean up yet)
        assert status in (0, -signal.SIGKILL, -signal.SIGTERM, 128 + signal.SIGTERM), stderr
        assert not run.left_behind(), f"round {round_number}: processes alive 5 s after the kill"
    assert kills >= 10
    run_cli("dedup", "-q", *inputs, "--out", out, "--workers", "2", *SMALL_BATCHES, "--resume")
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), f"{name} differs"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders: run as a normal user")
def test_case5_read_only_work_dir_is_one_line(tmp_path: Path) -> None:
    docs = corpus(tmp_path / "corp", 5)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = run_cli("dedup", "-q", docs, "--out", tmp_path / "out", "--work-dir", locked / "work", check=False)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 1 and "--work-dir" in one_error_line(result.stderr)


def test_case4_out_that_is_the_input_folder_is_refused(tmp_path: Path) -> None:
    docs = corpus(tmp_path / "corp", 5)
    before = snapshot(docs)
    result = run_cli("dedup", "-q", docs, "--out", docs, check=False)
    assert result.returncode == 1 and "is an input folder" in one_error_line(result.stderr)
    assert snapshot(docs) == before


def test_regression_an_input_file_inside_out_is_refused_not_overwritten(tmp_path: Path) -> None:
    """An input file inside `--out` named as an output (`deduplicated.jsonl`, or `.parquet`, which a JSON Lines
    run deletes as the other format's) was read and then replaced or deleted by the run's own outputs; a file
    inside `--work-dir` could be emptied with it. Both are refused, with the file untouched."""
    with (WIRECOPY / "docs.jsonl").open(encoding="utf-8") as lines:
        rows = [line for _, line in zip(range(6), lines, strict=False)]
    out = tmp_path / "out"
    out.mkdir()
    (out / "deduplicated.jsonl").write_text(rows[0] + rows[0] + "".join(rows), encoding="utf-8")
    (out / "deduplicated.parquet").write_bytes(b"PAR1 not ours")
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.symlink_to(out / "deduplicated.jsonl")
    work = tmp_path / "work"
    work.mkdir()
    (work / "docs.jsonl").write_text("".join(rows), encoding="utf-8")
    before = snapshot(tmp_path)
    for given, extra, option in (
        (out / "deduplicated.jsonl", [], "--out"),
        (out / "deduplicated.parquet", [], "--out"),
        (elsewhere, [], "--out"),
        (work / "docs.jsonl", ["--work-dir", str(work)], "--work-dir"),
    ):
        result = run_cli("dedup", "-q", given, "--out", out, *extra, check=False)
        assert result.returncode == 1, result.stderr
        assert f"inside the {option} folder" in one_error_line(result.stderr)
        assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("work", "why"),
    [
        ("out", "is the --out folder"),
        (".", "holds the --out folder"),
        ("out/.reprints-staging", "inside a folder the run makes in --out"),
        ("out/.inputs/work", "inside a folder the run makes in --out"),
    ],
)
def test_regression_a_work_dir_overlapping_out_is_refused_before_anything_is_made(
    tmp_path: Path, work: str, why: str
) -> None:
    """`--work-dir` equal to `--out` was refused as "not made by reprints" after the output folder was made (and
    left behind); one holding `--out` likewise (removing it after a run would remove the outputs); one at the
    output folder's staging folder failed halfway, advising a `--resume` that could only fail again. Each is
    refused with one error line before any folder is made."""
    source = tmp_path / "docs.jsonl"
    source.write_text('{"id": "a", "text": "one story"}\n{"id": "b", "text": "one story"}\n', encoding="utf-8")
    before = snapshot(tmp_path)
    result = run_cli("dedup", "-q", source, "--out", tmp_path / "out", "--work-dir", tmp_path / work, check=False)
    assert result.returncode == 1 and why in one_error_line(result.stderr)
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["docs.jsonl"]


def test_regression_every_error_class_survives_the_trip_from_a_worker() -> None:
    """An error raised in a worker process reaches the main process pickled. `InputsChanged` (an input changed
    under the run, with the difference kept apart for `reprints view`) took two arguments but pickled one, so its
    unpickling failed and the run said "a worker process died" instead of naming the change. Every error class
    reprints raises must come back equal in kind and message."""
    import pickle

    from reprints import errors
    from reprints.io.verify import InputsChanged

    made: list[Exception] = [InputsChanged(Path("docs.jsonl"), "documents 0 to 9 differ"), InputsChanged(None, "x")]
    made += [
        kind("a message") for kind in vars(errors).values() if isinstance(kind, type) and issubclass(kind, Exception)
    ]
    for error in made:
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error)
    assert pickle.loads(pickle.dumps(made[0])).how == "documents 0 to 9 differ"
