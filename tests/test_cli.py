from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import GOLDEN, ROOT, SEED_A, SEED_B, SEEDS, WIRECOPY, news_texts, run_cli

UPDATE = os.environ.get("REPRINTS_UPDATE_GOLDEN") == "1"


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_compare_seeds_json() -> None:
    out = run_cli("compare", "--json", SEED_A, SEED_B).stdout
    row = json.loads(out)
    assert row["relation"] == "contained"
    assert row["coverage_a"] >= 0.97
    assert 0.2 <= row["coverage_b"] <= 0.45
    text_a = SEED_A.read_text(encoding="utf-8")
    text_b = SEED_B.read_text(encoding="utf-8")
    b_start = min(s[2] for s in row["spans"])
    b_end = max(s[3] for s in row["spans"])
    copied = text_b[b_start:b_end]
    assert copied.startswith("Trump has Putin trapped")
    assert copied.endswith("@Rebekah0132.")
    unmatched_a = text_a[max(s[1] for s in row["spans"]) :]
    assert unmatched_a.split() == ["Comments", "Post", "a", "Comment"]
    check_golden("seeds_compare.json", out)


def test_compare_seeds_text_shows_passages_side_by_side() -> None:
    out = run_cli("compare", SEED_A, SEED_B).stdout
    assert "relation: contained" in out
    assert "99.5%" in out
    assert "passage 1 of 1" in out
    assert out.count("Trump has Putin trapped") == 2


def test_dedup_seeds_keeps_article_and_trims_page(tmp_path: Path) -> None:
    run_cli("dedup", "-q", SEEDS, "--out", tmp_path)
    docs = [json.loads(line) for line in (tmp_path / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(d["id"], d["decision"]) for d in docs] == [(SEED_A.name, "keep"), (SEED_B.name, "trim")]
    [removed] = docs[1]["removed"]
    assert removed[2] == SEED_A.name
    text_b = SEED_B.read_text(encoding="utf-8")
    assert text_b[removed[0] : removed[1]].startswith("Trump has Putin trapped")
    assert text_b[removed[0] : removed[1]].endswith("@Rebekah0132.")
    kept = {
        json.loads(line)["id"]: json.loads(line)["text"]
        for line in (tmp_path / "deduplicated.jsonl").read_text(encoding="utf-8").splitlines()
    }
    assert "Trump has Putin trapped" not in kept[SEED_B.name]
    assert "Related Articles" in kept[SEED_B.name]
    assert docs[1]["kept_chars"] == len(kept[SEED_B.name])
    for name in ("documents.jsonl", "pairs.jsonl", "clusters.jsonl"):
        check_golden(f"seeds_{name}", (tmp_path / name).read_text(encoding="utf-8"))
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["decisions"] == {"keep": 1, "trim": 1, "drop": 0}
    assert set(summary["timings_seconds"]) >= {
        "read",
        "normalize",
        "boilerplate",
        "fingerprint",
        "candidates",
        "align",
        "decide",
        "write",
    }
    assert set(summary["main_process_cpu_seconds"]) == set(summary["timings_seconds"])


def test_summary_counts_the_main_process_cpu_of_each_stage(tmp_path: Path) -> None:
    """`main_process_cpu_seconds` is the run's own process's CPU per stage (the Spark benchmark's estimate of the
    driver's work reads it): in a run with no workers, every stage's work is that process's, so its CPU is most of
    the wall time, stage by stage as in total."""
    run_cli("dedup", "-q", ROOT / "examples" / "news", "--out", tmp_path / "out", "--workers", "1")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    wall, cpu = summary["timings_seconds"], summary["main_process_cpu_seconds"]
    assert set(cpu) == set(wall) and all(seconds >= 0 for seconds in cpu.values()), cpu
    assert cpu["total"] >= 0.5 * wall["total"], (cpu, wall)
    assert cpu["normalize"] > 0 and cpu["align"] > 0, cpu


def test_dedup_parquet_output(tmp_path: Path) -> None:
    run_cli("dedup", "-q", SEEDS, "--out", tmp_path, "--format", "parquet")
    for name in ("pairs", "documents", "clusters", "deduplicated"):
        assert (tmp_path / f"{name}.parquet").exists()
    docs = pq.read_table(tmp_path / "documents.parquet").to_pylist()
    assert [d["decision"] for d in docs] == ["keep", "trim"]
    assert docs[1]["removed"][0]["source_id"] == SEED_A.name
    pairs = pq.read_table(tmp_path / "pairs.parquet").to_pylist()
    assert pairs[0]["relation"] == "contained"


def test_progress_bar_on_stderr_and_quiet(tmp_path: Path) -> None:
    loud = run_cli("dedup", SEEDS, "--out", tmp_path / "loud")
    assert "documents:" in loud.stderr and loud.stdout == ""
    quiet = run_cli("dedup", "--quiet", SEEDS, "--out", tmp_path / "quiet")
    assert quiet.stderr == "" and quiet.stdout == ""


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        pytest.param(
            ["dedup", "nowhere.jsonl", "--out", "{tmp}/o", "--on-error", "fail"],
            "nowhere.jsonl: no such file or folder",
            1,
            id="missing-input",
        ),
        pytest.param(
            ["dedup", str(SEEDS), "--out", "{tmp}/o", "--shingle-size", "0"],
            "shingle_size=0 is out of range",
            1,
            id="bad-shingle",
        ),
        pytest.param(
            ["dedup", str(SEEDS), "--out", "{tmp}/o", "--duplicate-coverage", "1.5"],
            "duplicate_coverage=1.5",
            1,
            id="bad-coverage",
        ),
        pytest.param(
            ["dedup", str(SEEDS), "--out", "{tmp}/o", "--min-passage", "3"],
            "min_passage=3 is shorter",
            1,
            id="passage-below-shingle",
        ),
        pytest.param(
            ["dedup", str(SEEDS), "--out", "{tmp}/o", "--workers", "x"],
            "'x' is not a valid integer",
            2,
            id="not-an-integer",
        ),
        pytest.param(["dedup", str(SEEDS)], "Missing option '--out'", 2, id="no-out"),
        pytest.param(
            ["dedup", str(SEEDS), "--out", "/proc/reprints-out"],
            "cannot write to output folder",
            1,
            id="unwritable-out",
        ),
        pytest.param(["compare", "nowhere.txt", str(SEED_A)], "nowhere.txt: no such file", 1, id="compare-missing"),
        pytest.param(["frobnicate"], "No such command", 2, id="unknown-command"),
    ],
)
def test_bad_arguments_give_one_line(tmp_path: Path, args: list[str], message: str, status: int) -> None:
    result = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args], check=False)
    assert result.returncode == status
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reprints: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_python_dash_m_and_version() -> None:
    assert run_cli("--version").stdout.startswith("reprints, version ")


def test_parquet_input_gives_the_same_pairs_as_jsonl(tmp_path: Path) -> None:

    rows = [json.loads(line) for line in (WIRECOPY / "docs.jsonl").read_text(encoding="utf-8").splitlines()[:300]]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    table = pa.table({"key": [r["id"] for r in rows], "body": [r["text"] for r in rows]})
    pq.write_table(table, tmp_path / "docs.parquet")
    run_cli("dedup", "-q", tmp_path / "docs.jsonl", "--out", tmp_path / "from_jsonl")
    run_cli(
        "dedup",
        "-q",
        tmp_path / "docs.parquet",
        "--out",
        tmp_path / "from_parquet",
        "--id-field",
        "key",
        "--text-field",
        "body",
    )
    jsonl_pairs = (tmp_path / "from_jsonl" / "pairs.jsonl").read_text(encoding="utf-8")
    assert jsonl_pairs
    assert jsonl_pairs == (tmp_path / "from_parquet" / "pairs.jsonl").read_text(encoding="utf-8")
    first = json.loads((tmp_path / "from_parquet" / "deduplicated.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"key", "body"}


def test_order_by_field_decides_which_copy_is_kept(tmp_path: Path) -> None:
    text = SEED_A.read_text(encoding="utf-8")
    rows = [
        {"id": "late", "text": text, "date": "2025-07-02"},
        {"id": "early", "text": text.upper(), "date": "2025-06-30"},
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run_cli("dedup", "-q", path, "--out", tmp_path / "input_order")
    run_cli("dedup", "-q", path, "--out", tmp_path / "by_date", "--order-by", "date")

    def decisions(folder: str) -> dict[str, tuple[str, str | None]]:
        lines = (tmp_path / folder / "documents.jsonl").read_text(encoding="utf-8").splitlines()
        return {d["id"]: (d["decision"], d["duplicate_of"]) for d in map(json.loads, lines)}

    assert decisions("input_order") == {"late": ("keep", None), "early": ("drop", "late")}
    assert decisions("by_date") == {"late": ("drop", "early"), "early": ("keep", None)}
    pairs = (tmp_path / "by_date" / "pairs.jsonl").read_text(encoding="utf-8")
    assert json.loads(pairs)["relation"] == "exact"


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
def test_regression_the_unreadable_warning_names_the_file_written(tmp_path: Path, output_format: str) -> None:
    """With `--format parquet` the warning about unreadable documents sent the user to `documents.jsonl`, a file
    the run did not write."""
    source = tmp_path / "docs.jsonl"
    source.write_text('{"id": "a", "text": "a readable text"}\n{"id": "b", "text": 7}\n', encoding="utf-8")
    result = run_cli("dedup", "-q", source, "--out", tmp_path / "out", "--format", output_format)
    named = f"{tmp_path / 'out'}/documents.{output_format} with reason 'unreadable: ...'"
    assert "1 documents could not be read" in result.stderr and named in result.stderr
    assert (tmp_path / "out" / f"documents.{output_format}").exists()


def test_regression_a_group_without_a_command_prints_its_help() -> None:
    """`reprints index` (or `reprints`) without a command printed the group's whole help as a many-line
    'reprints: error: Usage: ...' on stderr, exit 2. It prints the help `--help` prints, exit 0."""
    for group in ([], ["index"]):
        result = run_cli(*group, check=False)
        helped = run_cli(*group, "--help")
        assert result.returncode == 0 and "error" not in result.stderr, result.stderr
        assert result.stdout == helped.stdout and "Commands:" in result.stdout


def test_regression_a_nan_order_by_value_ranks_as_missing(tmp_path: Path) -> None:
    """An adversarial test found `--order-by ts` over values 5, NaN, 3, 1 keeping the copy of 5: NaN compares
    neither before nor after a number, and the sort it was in gave any order. NaN (what pandas writes for a missing
    number) ranks as a missing value, last; the copy of 1 is kept."""
    text = (Path(__file__).resolve().parents[1] / "examples" / "000_e2f354f9623a9739.txt").read_text(encoding="utf-8")
    forms = [f"{text}\nFiled by desk {desk}." for desk in "ABCD"]  # near-duplicates, ranked by --order-by
    values = [5, math.nan, 3, 1]
    rows = [{"id": f"ts{value}", "text": form, "ts": value} for value, form in zip(values, forms, strict=True)]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    run_cli("dedup", "-q", path, "--out", tmp_path / "out", "--order-by", "ts")
    lines = (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    kept = [row["id"] for row in map(json.loads, lines) if row["decision"] == "keep"]
    assert kept == ["ts1"]


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])  # (read by the workers, and by the main process)
@pytest.mark.parametrize(("ids", "expected"), [([10, 9, 2, 30], 2), (["b", "c", "a", "d"], "a")])
def test_regression_order_by_the_id_field_ranks_by_the_ids(
    tmp_path: Path, kind: str, ids: list[Any], expected: Any
) -> None:
    """`--order-by id` was ignored with a false "no document has this field" warning (the id is not in the
    metadata the ranking read): near-duplicates were kept in input order. The ids rank, those written as numbers
    as numbers (10, 9, 2, 30 keeps 2, not 10 as text would), before the others, as text; an unrelated repeated
    id (renamed `30#2`) or a record without one (`FILE:LINE`) does not turn the numbers into text (a review
    found it did); `--order-by` naming the text field is a clear error."""

    text = (ROOT / "examples" / "000_e2f354f9623a9739.txt").read_text(encoding="utf-8")
    rows = [{"key": key, "body": f"{text}\nFiled by desk {desk}."} for key, desk in zip(ids, "ABCD", strict=True)]
    others = [{"key": ids[-1], "body": news_texts()[0]}, {"key": None, "body": news_texts()[1]}]
    path = tmp_path / f"docs.{kind}"
    if kind == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows + others), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows + others), path)
    fields = ["--id-field", "key", "--text-field", "body"]
    result = run_cli("dedup", "-q", path, "--out", tmp_path / "out", *fields, "--order-by", "key")
    assert "no document has this field" not in result.stderr, result.stderr
    lines = (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    kept = [row["id"] for row in map(json.loads, lines) if row["decision"] == "keep"]
    assert kept[0] == str(expected) and len(kept) == 3, kept
    refused = run_cli("dedup", "-q", path, "--out", tmp_path / "no", *fields, "--order-by", "body", check=False)
    assert refused.returncode != 0 and "is the text field" in refused.stderr, refused.stderr


EXAMPLE_TEXTS = [
    json.loads(line)["text"] for line in (ROOT / "examples" / "news" / "docs.jsonl").open(encoding="utf-8")
][:2]


def test_regression_an_order_by_field_no_document_has_is_a_warning(tmp_path: Path) -> None:
    """`dedup --order-by FIELD` with a field no document has (a typo) ranked every document in input order and
    said nothing. It warns, naming the field; a field some documents have does not warn."""
    rows = [json.loads(line) for line in (ROOT / "examples" / "news" / "docs.jsonl").read_text().splitlines()][:20]
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(row | {"rank": n} if n % 2 else row) + "\n" for n, row in enumerate(rows)))
    missing = run_cli("dedup", "-q", source, "--out", tmp_path / "a", "--order-by", "rnak")
    assert "--order-by rnak: no document has this field" in missing.stderr, missing.stderr
    present = run_cli("dedup", "-q", source, "--out", tmp_path / "b", "--order-by", "rank")
    assert "warning" not in present.stderr, present.stderr


@pytest.mark.parametrize("inputs", ["examples/news/docs.jsonl", "examples/000_e2f354f9623a9739.txt"])
def test_a_command_that_loaded_the_kernels_ends_without_the_interpreters_teardown(tmp_path: Path, inputs: str) -> None:
    """After a run that loaded the compiled kernels the interpreter's teardown took 0.15-0.2 s (numba's and
    LLVM's finalizers): the command line ends such a run at once, its output flushed first (every line of the
    summary is there). A run too small to load them ends as usual. In a new interpreter whose exit handler
    says whether the teardown ran."""
    import subprocess
    import sys

    code = (
        "import atexit, sys; atexit.register(lambda: print('teardown ran', file=sys.stderr)); "
        "from reprints.cli import main; main(sys.argv[1:])"
    )
    args = ["dedup", str(ROOT / inputs), "--out", str(tmp_path / "out"), "--workers", "2"]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert f"{summary['documents']} documents: " in done.stderr and "wrote " in done.stderr  # flushed
    loaded = inputs.endswith(".jsonl")  # 630 KB with 2 workers: the kernels are worth loading; one text is not
    assert ("teardown ran" in done.stderr) is not loaded
