"""The Spark engine (`--engine spark`) against the local engine: the same bytes out, whatever the partitioning.

Runs in a real Spark session (`local[2]`), started once for the module; the runs below use it (an active session
is reused, and settings given with `spark_conf` are applied to it). Skipped where PySpark or Java is missing.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reprints
import reprints.io.sources
from conftest import SEEDS, SHARED_PRESENT, SKIP_REASON, WIRECOPY, run_cli
from reprints.allocator import libc_function
from reprints.candidates.join import join_anchors
from reprints.decide.clusters import components
from reprints.decide.links import Link
from reprints.errors import ConfigError, InputError
from reprints.io.jsonl import raw_jsonl
from spark_cluster import standalone_cluster
from test_invariants import TRANSFORMS, articles, build, write

SPARK_MISSING = importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("pandas") is None
if not SPARK_MISSING:
    from reprints.engines.spark import SparkEngine, java_available

    JAVA_MISSING = not java_available()
else:
    JAVA_MISSING = True

pytestmark = [
    pytest.mark.skipif(SPARK_MISSING, reason="needs PySpark and pandas (pip install -e '.[spark]')"),
    pytest.mark.skipif(JAVA_MISSING, reason="needs a Java runtime for Spark (Debian: openjdk-17-jre-headless)"),
]
requires_shared = pytest.mark.skipif(not SHARED_PRESENT, reason=SKIP_REASON)
OUTPUTS = ("pairs.jsonl", "documents.jsonl", "clusters.jsonl", "deduplicated.jsonl")
NEWS = Path(__file__).resolve().parents[1] / "examples" / "news" / "docs.jsonl"  # shipped: 300 news pages
__all__ = ["articles"]  # the fixture, shared with test_invariants


@pytest.fixture(scope="module", autouse=True)
def spark() -> Iterator[Any]:
    """One local[2] session for the module, stopped at its end."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def news_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local engine's outputs for the shipped news corpus (the Spark runs from the command line compare with
    them; outputs do not depend on batch sizes, `test_properties`)."""
    out = tmp_path_factory.mktemp("news") / "local"
    reprints.dedup([NEWS], out)
    return out


def both(inputs: list[Path], folder: Path, **options: Any) -> tuple[Path, Path]:
    """Runs of the local and the Spark engine on the same inputs; their output folders."""
    spark_options = {key: options.pop(key) for key in ("spark_conf",) if key in options}
    local, spark = folder / "local", folder / "spark"
    reprints.dedup(inputs, local, workers=1, **options)
    reprints.dedup(inputs, spark, engine="spark", **options, **spark_options)
    return local, spark


def assert_same_outputs(local: Path, spark: Path, names: tuple[str, ...] = OUTPUTS) -> None:
    for name in names:
        assert (spark / name).read_bytes() == (local / name).read_bytes(), name


def test_seeds_byte_identical_and_contained(tmp_path: Path) -> None:
    if not SEEDS.exists():
        pytest.skip(SKIP_REASON)
    local, spark = both([SEEDS], tmp_path)
    assert_same_outputs(local, spark)
    (pair,) = [json.loads(line) for line in (spark / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert pair["relation"] == "contained" and pair["container"] == pair["b"]
    assert pair["spans"]


@requires_shared
def test_wirecopy_byte_identical(tmp_path: Path) -> None:
    local, spark = both([WIRECOPY / "docs.jsonl"], tmp_path, spark_conf=["spark.sql.shuffle.partitions=7"])
    assert_same_outputs(local, spark)
    summary = json.loads((spark / "summary.json").read_text(encoding="utf-8"))
    assert summary["documents"] == sum(1 for _ in (WIRECOPY / "docs.jsonl").open(encoding="utf-8"))


@requires_shared
@given(seed=st.integers(0, 100_000), plan=st.lists(st.sampled_from(TRANSFORMS), min_size=4, max_size=10))
@settings(
    max_examples=int(os.environ.get("REPRINTS_SPARK_EXAMPLES", "3")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_generated_corpus_in_small_partitions_byte_identical(
    articles: list[str], tmp_path_factory: pytest.TempPathFactory, seed: int, plan: list[str]
) -> None:
    """Smallest batches (a Spark task per few documents), many shuffle partitions, Parquet output too."""
    folder = tmp_path_factory.mktemp("spark")
    source = write(build(articles, seed, plan), folder)
    local, spark = both(
        [source],
        folder,
        site_field="site",
        anchor_df_cap=4,
        batch_chars=1000,
        batch_pairs=3,
        spark_conf=["spark.sql.shuffle.partitions=11"],
    )
    assert_same_outputs(local, spark)
    assert not (spark / ".work").exists()  # the work directory is gone with a finished run


@requires_shared
def test_parquet_outputs_byte_identical(tmp_path: Path) -> None:
    local, spark = both([SEEDS, WIRECOPY / "docs.jsonl"], tmp_path, output_format="parquet", batch_chars=200_000)
    names = tuple(name.replace(".jsonl", ".parquet") for name in OUTPUTS)
    assert_same_outputs(local, spark, names)


def test_bad_input_accounted_for_as_locally(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    good = [{"id": f"d{n}", "text": f"An article of its own number {n} with a few more words in it."} for n in range(5)]
    lines = [json.dumps(row) for row in good[:2]] + ["{not json", json.dumps({"id": "no text"})]
    lines += [json.dumps(row) for row in good[2:]]
    source.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "latin", "text": "caf\xe9"}\n')
    local, spark = both([source], tmp_path / "skip")
    assert_same_outputs(local, spark)
    reasons = [json.loads(line)["reason"] for line in (spark / "documents.jsonl").read_text().splitlines()]
    assert sum(reason.startswith("unreadable") for reason in reasons) >= 2
    with pytest.raises(InputError) as from_local:
        reprints.dedup([source], tmp_path / "fail-local", on_error="fail")
    with pytest.raises(InputError) as from_spark:
        reprints.dedup([source], tmp_path / "fail-spark", on_error="fail", engine="spark")
    assert str(from_spark.value) == str(from_local.value)


def test_executors_read_plain_json_lines_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver cuts a plain JSON Lines input into byte ranges and never reads its lines (reading them in this
    process fails the run): the executors count, read and parse them, on both passes, and the outputs are the
    local engine's. A gzip input beside it is read by the driver, as before."""
    example = Path(__file__).parent.parent / "examples" / "news" / "docs.jsonl"
    lines = example.read_bytes().splitlines()
    plain, packed = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    plain.write_bytes(b"\n".join(lines[100:] + lines[:30]) + b"\n")
    with gzip.open(packed, "wb") as handle:
        handle.write(b"\n".join(lines[:100]) + b"\n")
    local = tmp_path / "local"
    reprints.dedup([plain, packed], local, workers=1, batch_chars=30_000)
    read_here: list[str] = []

    def refused(item: Any) -> Any:
        read_here.append(str(item))
        raise AssertionError("the driver read a plain JSON Lines input")

    def only_compressed(path: Path) -> Any:
        return refused(path) if path.name.endswith(".jsonl") else raw_jsonl(path)

    with monkeypatch.context() as patch:
        patch.setattr(reprints.io.sources, "lines_of", refused)
        patch.setattr(reprints.io.sources, "raw_jsonl", only_compressed)
        reprints.dedup([plain, packed], tmp_path / "spark", engine="spark", batch_chars=30_000)
    assert not read_here
    assert_same_outputs(local, tmp_path / "spark")


@given(
    seed=st.integers(0, 2**32 - 1),
    docs=st.integers(2, 60),
    distinct=st.integers(1, 40),
    cap=st.integers(2, 6),
)
@settings(max_examples=int(os.environ.get("REPRINTS_SPARK_EXAMPLES", "3")) + 2, deadline=None)
def test_spark_join_equals_the_local_join(seed: int, docs: int, distinct: int, cap: int) -> None:
    """Anchors with repeats, capped hashes (hubs) and dropped rows: the Spark shuffle join gives the local
    join's candidates, counts and capped anchors exactly."""
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 400))
    doc_of = rng.integers(0, docs, rows).astype(np.int64)
    hashes = rng.choice(rng.integers(0, 2**64, distinct, dtype=np.uint64), rows)
    keep = rng.random(rows) < 0.9
    expected = join_anchors(doc_of, hashes, anchor_df_cap=cap, keep=keep)
    with (
        tempfile.TemporaryDirectory() as folder,
        SparkEngine(None, {"spark.sql.shuffle.partitions": "5"}) as engine,
    ):
        got = engine.join(doc_of, hashes, keep, anchor_df_cap=cap, folder=Path(folder) / "join")
    for name in ("a", "b", "shared"):
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name
    assert got.capped_anchors == expected.capped_anchors


def test_cli_runs_spark_with_task_results_through_the_work_directory(tmp_path: Path, news_local: Path) -> None:
    """A separate process with its own session (`--master local[2]`), as a user runs it: quiet on stderr, and
    Spark's result channel carries no batch data. With `spark.driver.maxResultSize` at its floor (1 MB for all the
    results of a job) and the shipped news corpus in batches of 100,000 characters (a wave of 4 fingerprint
    batches is about 3 MB), the run completes with the local engine's bytes. Tasks return the paths of the results
    they left in the work directory; the driver still reads them (one wave at a time), and collects one (node,
    root) row per linked document in the components step."""
    small = ("--batch-chars", "100000", "--batch-pairs", "500")
    spark = ("--engine", "spark", "--master", "local[2]", "--spark-conf", "spark.driver.maxResultSize=1m")
    done = run_cli("dedup", NEWS, "--out", tmp_path / "spark", "-q", *small, *spark)
    # The JVM's own notice of an incubating module it loads for Spark is the one line allowed.
    lines = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: Using incubator modules")]
    assert lines == [], done.stderr
    assert_same_outputs(news_local, tmp_path / "spark")


def test_spark_settings_without_the_spark_engine_are_refused() -> None:
    with pytest.raises(ConfigError, match="engine='spark'"):
        reprints.dedup(["x"], "y", master="local[2]")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        reprints.dedup(["x"], "y", engine="spark", spark_conf=["spark.executor.memory"])


SPARK = ("--engine", "spark")


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Some text to read.", encoding="utf-8")
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "JAVA_HOME": str(tmp_path / "no-java")}
    done = subprocess.run(
        [sys.executable, "-m", "reprints", "dedup", str(tmp_path / "a.txt"), "--out", str(tmp_path / "out"), *SPARK],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert "needs a Java runtime" in done.stderr
    assert not (tmp_path / "out" / "documents.jsonl").exists()


def test_spark_submit_runs_the_documented_command(tmp_path: Path) -> None:
    """README's spark-submit line, with PySpark's own spark-submit and `local[2]` as the master."""
    if not SEEDS.exists():
        pytest.skip(SKIP_REASON)
    from reprints.engines.submit_path import SUBMIT_SCRIPT

    bin_folder = Path(sys.executable).parent
    submit = bin_folder / "spark-submit"
    if not submit.exists():
        pytest.skip(f"no spark-submit beside {sys.executable}")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env["PATH"] = f"{bin_folder}{os.pathsep}{env.get('PATH', '')}"
    command = [str(submit), "--master", "local[2]", str(SUBMIT_SCRIPT), "dedup", "-q", str(SEEDS)]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "spark"), *SPARK],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reprints.dedup([SEEDS], tmp_path / "local")
    assert_same_outputs(tmp_path / "local", tmp_path / "spark")


def test_standalone_cluster_byte_identical(tmp_path: Path, news_local: Path) -> None:
    """A real cluster manager: a Spark standalone master and worker (separate JVMs, executors launched by the
    worker, tasks shipped over its RPC), `--master spark://...` from the command line as README's cluster run
    does, the work directory on the file system the executors share. The shipped example corpus (300 news
    pages) gives the local engine's bytes."""
    with standalone_cluster(tmp_path) as url:
        run_cli("dedup", NEWS, "--out", tmp_path / "spark", "-q", "--engine", "spark", "--master", url)
    assert_same_outputs(news_local, tmp_path / "spark")
    assert "Registering app" in (tmp_path / "master.log").read_text(errors="replace")  # the run was the cluster's


@given(
    size=st.integers(2, 80),
    edges=st.lists(st.tuples(st.integers(0, 79), st.integers(0, 79)), max_size=120),
    relations=st.lists(st.sampled_from(["exact", "near_duplicate", "contained", "partial"]), min_size=120),
)
@settings(max_examples=int(os.environ.get("REPRINTS_SPARK_EXAMPLES", "3")) + 3, deadline=None)
def test_spark_components_equal_union_find(size: int, edges: list[tuple[int, int]], relations: list[str]) -> None:
    """Large-star/small-star in DataFrames gives the union-find components (only merging links count): long
    chains, stars, cycles and self-links included."""
    links = [
        Link(min(a, b) % size, max(a, b) % size, relation, 1.0, 1.0, ())
        for (a, b), relation in zip(edges, relations, strict=False)
    ]
    chain = [Link(doc, doc + 1, "near_duplicate", 1.0, 1.0, ()) for doc in range(size // 2, size - 1)]
    links += chain  # a long path: the case that needs many rounds
    with SparkEngine(None, {}) as engine:
        assert engine.components(size, links) == components(size, links)


def test_regression_failed_spark_jobs_leave_no_result_files(tmp_path: Path) -> None:
    """Noticed in review: a wave whose job failed left the results its finished tasks had written in the work
    directory (kept for --resume), as did a map its reader stopped early and a run killed mid-map. Each map's
    results are now in a folder of their own, removed when the map ends however it ends, and the results folder
    is cleared when the engine starts."""
    from reprints.errors import EngineError

    results = tmp_path / "results"
    (results / "left-by-a-killed-run").mkdir(parents=True)
    (results / "left-by-a-killed-run" / "x.pickle").write_bytes(b"stale")

    def fails_on_seven(number: int) -> list[int]:
        if number == 7:
            raise ValueError("task seven fails")
        return [number] * 1000

    def files() -> list[Path]:
        return [path for path in results.rglob("*") if path.is_file()]

    with SparkEngine(None, {}, results) as engine:
        assert files() == []
        assert [len(batch) for batch in engine.map(fails_on_seven, range(5))] == [1000] * 5
        assert files() == []
        with pytest.raises(EngineError, match="task seven fails"):
            list(engine.map(fails_on_seven, range(12)))
        assert files() == []
        reading = engine.map(fails_on_seven, range(6))
        assert next(reading) == [0] * 1000
        reading.close()  # the reader stops: the waves already run are not read
        assert files() == []


@pytest.mark.skipif(libc_function("mallopt") is None, reason="needs glibc's allocator (mallopt)")
def test_regression_spark_tasks_reuse_the_memory_their_last_batch_freed() -> None:
    """As the local workers (`test_engine`): a Spark executor's Python worker running reprints' tasks has the
    allocator keep freed memory, so refilling what a task freed takes almost no page faults."""
    size = 24 << 20

    def refill_faults(_: int) -> tuple[int, int]:  # (defined here: Spark's workers import no test module)
        import resource

        def faults_of_filling() -> int:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            filled = bytearray(size)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
            del filled
            return faults

        return faults_of_filling(), faults_of_filling()

    with SparkEngine(None, {}) as engine:
        found = list(engine.map(refill_faults, range(4)))
    for fresh, refilled in found:
        assert refilled < size // os.sysconf("SC_PAGE_SIZE") // 20, (fresh, refilled)


def test_inputs_given_as_uris_are_read_through_spark_file_systems(tmp_path: Path) -> None:
    """Inputs given as URIs (here `file://`, through Hadoop's own FileSystem API as `hdfs://` or `s3a://` would
    be) are copied into the output folder with Spark's Hadoop configuration and read as local files: a folder URI
    of text files, a JSON Lines file URI and a local path together give the bytes of the local engine on the local
    paths, document ids included. The copies go when the run succeeds; a missing URI or one of a file system that
    cannot be reached is a clear error, and the local engine says it reads no URIs."""
    news = Path(__file__).resolve().parents[1] / "examples" / "news" / "docs.jsonl"
    pages = tmp_path / "pages"
    pages.mkdir()
    for number, line in enumerate(news.read_text(encoding="utf-8").splitlines()[:40]):
        (pages / f"page{number:02d}.txt").write_text(json.loads(line)["text"], encoding="utf-8")
    (pages / "nested").mkdir()
    (pages / "nested" / "extra.txt").write_text(json.loads(line)["text"] + "\nMore.", encoding="utf-8")
    local_inputs = [pages, news, SEEDS if SEEDS.exists() else news]
    given = [pages.as_uri(), news.as_uri(), str(local_inputs[2])]
    reprints.dedup(local_inputs, tmp_path / "local", workers=1)
    summary = reprints.dedup(given, tmp_path / "spark", engine="spark")
    assert_same_outputs(tmp_path / "local", tmp_path / "spark")
    assert summary.documents > 300
    assert not (tmp_path / "spark" / ".inputs").exists()
    with pytest.raises(InputError, match=r"no-such-file\.jsonl: no such file or folder"):
        reprints.dedup([(tmp_path / "no-such-file.jsonl").as_uri()], tmp_path / "missing", engine="spark")
    with pytest.raises(InputError, match="cannot read it through Spark's file systems"):
        reprints.dedup(["hdfs://127.0.0.1:9/corpus.jsonl"], tmp_path / "unreachable", engine="spark")
    with pytest.raises(InputError, match="run with --engine spark"):
        reprints.dedup([news.as_uri()], tmp_path / "local-uri")


def test_uri_inputs_are_copied_once_for_a_resumed_run(tmp_path: Path) -> None:
    """A copy keeps its source's size and modification time: a resumed run (here after a finished one whose work
    was kept) finds its copies current, copies nothing again and resumes from the checkpoints; a source changed
    since is copied again, and the run says the inputs changed."""
    news = tmp_path / "news.jsonl"
    source = Path(__file__).resolve().parents[1] / "examples" / "news" / "docs.jsonl"
    news.write_bytes(source.read_bytes())
    out = tmp_path / "out"
    reprints.dedup([news.as_uri()], out, engine="spark", keep_work=True)
    copy = out / ".inputs" / "000" / "news.jsonl"
    milliseconds = news.stat().st_mtime_ns // 1_000_000  # what Hadoop's FileStatus holds
    assert copy.stat().st_mtime_ns == milliseconds * 1_000_000 and copy.read_bytes() == news.read_bytes()
    before = copy.stat().st_ino
    again = reprints.dedup([news.as_uri()], out, engine="spark", keep_work=True, resume=True)
    assert copy.stat().st_ino == before  # not copied again
    assert again.resumed and again.resumed.get("candidates")
    news.write_text(news.read_text(encoding="utf-8").replace("the", "The"), encoding="utf-8")
    from reprints.engines.workdir import ResumeError

    with pytest.raises(ResumeError, match="inputs"):
        reprints.dedup([news.as_uri()], out, engine="spark", keep_work=True, resume=True)
    assert copy.read_bytes() == news.read_bytes()
