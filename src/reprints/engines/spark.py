"""The Spark engine: the local engine's stage functions run as tasks of a Spark session.

`map` hands each batch (a tokenize, fingerprint, page-extraction or alignment task) to a Spark task, one task per
batch, in waves of two tasks per core, and yields the results in the order of the batches; the next wave is
gathered on the driver while one runs. A task leaves its result in a file of the work directory and returns its
path: batch results never pass through Spark's result channel, and the driver reads them one wave at a time.
`join` is the candidate join as a Spark shuffle: anchor rows written as Parquet, repartitioned by hash (an
anchor's holders all meet in one partition), each partition joined by the same kernel as the local engine
(`join_partition`, through `mapInArrow`), the counts summed by pair (the pairs come back as Parquet files). Every
result is a function of the batches alone, never of the partitioning, so the outputs are byte for byte those of
the local engine.

This is the only module that imports pyspark (the optional extra `reprints[spark]`). Batches read and write the
run's work directory, so on a cluster `--work-dir` must be a folder every executor sees at the same path (a
shared mount); see README "Running on a cluster".
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from reprints.candidates.join import MIN_HUB_ANCHORS, Candidates, join_partition
from reprints.decide.clusters import merging_edges
from reprints.decide.links import Link
from reprints.engines.local import _Trimming
from reprints.engines.spill import spill, unspill
from reprints.engines.stopping import critical
from reprints.errors import EngineError, InputError
from reprints.fingerprint.hashing import PARTITION_ROWS, U64
from reprints.normalize.tokens import I64

log = logging.getLogger(__name__)
Task = TypeVar("Task")
Result = TypeVar("Result")

DEFAULTS = {
    "spark.app.name": "reprints",
    "spark.ui.showConsoleProgress": "false",
    "spark.python.worker.reuse": "true",
    "spark.speculation": "false",  # a batch writes its checkpoint once
}
JOB_GROUP = "reprints"
JOINED_SCHEMA = "kind int, key long, count long"
PAIR, HUB, CAPPED = 0, 1, 2
CAPPED_KEY = -1  # the key of the CAPPED rows (pair keys are never negative)


def java_available() -> bool:
    """Whether a Java runtime is there for Spark to start (JAVA_HOME's, or `java` on the PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return True
    return shutil.which("java") is not None


class SparkEngine:
    """Runs the stages' batches as tasks of a Spark session (an active one if the run is inside spark-submit or
    a notebook that made one, else a new one with `master` and `conf`, stopped at the end)."""

    def __init__(self, master: str | None, conf: dict[str, str], results: Path | None = None) -> None:
        self.master = master
        self.conf = conf
        self.results = results  # where tasks leave their results for the driver (None: through Spark)
        self.workers = 1
        self._session: Any = None
        self._owned = False

    def __enter__(self) -> SparkEngine:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise EngineError(
                "--engine spark needs PySpark and pandas: pip install 'reprints[spark]' (and a Java runtime)"
            ) from exc
        active = SparkSession.getActiveSession()
        if active is not None and self.master is None and not self.conf:
            self._session, self._owned = active, False
        else:
            self._session, self._owned = self._start(SparkSession), active is None
        # py4j logs each failed call before raising it (an interrupted call included); the raised error is enough.
        logging.getLogger("py4j").setLevel(logging.CRITICAL)
        context = self._session.sparkContext
        context.setLogLevel(self.conf.get("spark.log.level", "ERROR"))
        context.setJobGroup(JOB_GROUP, "reprints dedup", interruptOnCancel=True)
        self.workers = max(1, int(context.defaultParallelism))
        if self.results is not None:  # results an earlier run of this work directory left (killed mid-map)
            shutil.rmtree(self.results, ignore_errors=True)
        return self

    def _start(self, session_class: Any) -> Any:
        """A session with `master` (else spark-submit's, else this machine's cores) and `conf` over DEFAULTS."""
        if not java_available():
            raise EngineError(
                "--engine spark needs a Java runtime (17 or later) to start Spark: install one (Debian: "
                "apt install openjdk-17-jre-headless) or set JAVA_HOME"
            )
        submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # inside spark-submit
        # Executors started here run this interpreter, so they import this very reprints.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if (self.master is None or self.master.startswith("local")) and not submitted:
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # this machine only
        log_settings = f"-Dlog4j2.configurationFile={Path(__file__).with_name('log4j2.properties').as_uri()}"
        builder = session_class.builder
        for key, value in {**DEFAULTS, "spark.driver.extraJavaOptions": log_settings, **self.conf}.items():
            builder = builder.config(key, value)
        if self.master is not None:
            builder = builder.master(self.master)
        elif not submitted:
            builder = builder.master("local[*]")
        interrupt = signal.getsignal(signal.SIGINT)
        try:
            with critical():
                return builder.getOrCreate()
        except Exception as exc:
            raise EngineError(f"Spark did not start: {_first_line(exc)}") from exc
        finally:
            # PySpark installs its own Ctrl-C handler, which cancels the jobs from inside the interrupted call
            # and prints py4j's tracebacks; the run's handler stays, and leaving the engine cancels them.
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, interrupt)

    def __exit__(self, *exc: object) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        failed = bool(exc) and exc[0] is not None
        with critical():
            try:
                if failed:
                    session.sparkContext.cancelJobGroup(JOB_GROUP)
                if self._owned:
                    session.stop()
            except Exception as error:  # a JVM already gone (Ctrl-C reaches it too) must not hide the run's error
                if not failed:
                    raise EngineError(f"Spark did not stop cleanly: {_first_line(error)}") from error
                log.debug("stopping Spark after an error: %s", error)

    @property
    def session(self) -> Any:
        if self._session is None:
            raise RuntimeError("use the engine inside a with block")
        return self._session

    def map(self, function: Callable[[Task], Result], tasks: Iterable[Task]) -> Iterator[Result]:
        """`function(task)` for each task, one Spark task each, yielded in order. Tasks go out in waves of two per
        core, one Spark job each; two jobs run at once (one starts while the other's last tasks finish) and a
        third is gathered meanwhile."""
        # Each map's results in a folder of their own, removed when the map ends however it ends: results of a
        # failed or cancelled job, of a map its consumer stopped reading, or of a task attempt Spark ran twice are
        # never read, and would stay in the work directory (kept for --resume) otherwise.
        folder = None if self.results is None else self.results / uuid.uuid4().hex
        trimming: Callable[[Task], Any] = _Trimming(
            function if folder is None else _Spilled(function, folder), worker=True
        )
        if folder is not None:
            folder.mkdir(parents=True)
        try:
            yield from self._waves(trimming, tasks)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def _waves(self, trimming: Callable[[Task], Any], tasks: Iterable[Task]) -> Iterator[Result]:
        wave = 2 * self.workers
        with ThreadPoolExecutor(2, thread_name_prefix="reprints-spark") as runner:
            pending: deque[Future[list[Result]]] = deque()
            chunk: list[Task] = []
            try:
                for task in tasks:
                    chunk.append(task)
                    if len(chunk) >= wave:
                        pending.append(runner.submit(self._run, trimming, chunk))
                        chunk = []
                        if len(pending) >= 3:
                            yield from pending.popleft().result()
                if chunk:
                    pending.append(runner.submit(self._run, trimming, chunk))
                while pending:
                    yield from pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()
                if pending:
                    self.session.sparkContext.cancelJobGroup(JOB_GROUP)

    def _run(self, function: Callable[[Task], Any], chunk: list[Task]) -> list[Any]:
        context = self.session.sparkContext
        context.setJobGroup(JOB_GROUP, "reprints dedup", interruptOnCancel=True)  # per thread
        try:
            results: list[Any] = context.parallelize(chunk, len(chunk)).map(function).collect()
        except Exception as exc:
            raise EngineError(f"a Spark task failed: {_first_line(exc)}") from exc
        if self.results is None:
            return results
        return [unspill(Path(path)) for path in results]

    def join(self, docs: I64, hashes: U64, keep: npt.NDArray[Any], *, anchor_df_cap: int, folder: Path) -> Candidates:
        """The candidate join as a Spark shuffle by anchor hash (see the module's description)."""
        spark = self.session
        from pyspark.sql import functions as F

        if folder.exists():
            shutil.rmtree(folder)
        anchors = folder / "anchors"
        anchors.mkdir(parents=True)
        rows = _write_anchors(anchors, docs, hashes, keep)
        if rows == 0:
            empty = np.empty(0, dtype=np.int64)
            return Candidates(empty, empty, empty, 0)
        given = int(self.conf.get("spark.sql.shuffle.partitions", 1))  # set: at least that many partitions
        parts = max(self.workers, -(-rows // PARTITION_ROWS), given)
        frame = spark.read.parquet(anchors.as_uri()).repartition(parts, "hash")
        joined_path = (folder / "joined").as_uri()
        try:
            frame.mapInArrow(JoinPartition(anchor_df_cap), JOINED_SCHEMA).write.mode("overwrite").parquet(joined_path)
            # One aggregation by pair key (the rows of a key meet in one partition): the pair's shared anchors,
            # plus its hub anchors when there are several (a pair found through hubs shares several capped
            # anchors); the CAPPED rows gather under their own key.
            is_hub = (F.col("kind") == HUB).cast("long")
            summed = (
                spark.read.parquet(joined_path)
                .repartition(parts, "key")
                .groupBy("key")
                .agg(
                    F.sum(F.when(F.col("kind") != HUB, F.col("count")).otherwise(0)).alias("direct"),
                    F.sum(is_hub).alias("hubs"),
                )
                .select(
                    "key",
                    (F.col("direct") + F.when(F.col("hubs") >= MIN_HUB_ANCHORS, F.col("hubs")).otherwise(0)).alias(
                        "count"
                    ),
                )
                .where(F.col("count") > 0)
            )
            summed.write.mode("overwrite").parquet((folder / "pairs").as_uri())
        except Exception as exc:
            raise EngineError(f"the Spark candidate join failed: {_first_line(exc)}") from exc
        table = pq.read_table(folder / "pairs", columns=["key", "count"])
        keys = table.column("key").to_numpy().astype(np.int64)
        counts = table.column("count").to_numpy().astype(np.int64)
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
        shutil.rmtree(folder, ignore_errors=True)
        capped = 0
        if len(keys) and keys[0] == CAPPED_KEY:
            capped, keys, counts = int(counts[0]), keys[1:], counts[1:]
        return Candidates(keys // 2**32, keys % 2**32, counts, capped)

    def stage_inputs(self, uris: Sequence[str], folder: Path) -> list[Path]:
        """Copy inputs given as URIs of any file system Spark's Hadoop configuration reaches (`hdfs://`, `s3a://`,
        `gs://`, `abfs://`, `file://`...) into `folder` on this machine, one subfolder per URI keeping its file names
        and tree; return the local path of each. The copy is made with Hadoop's own `FileSystem` API, inside the
        JVM (the bytes never pass through Python), and takes the source's modification time: a copy whose size and
        time match its source is kept, so a resumed run copies nothing again and a run finds a changed source.

        Raises:
            InputError: a URI is malformed, names nothing, or its file system cannot be reached.
        """
        jvm = self.session.sparkContext._jvm
        conf = self.session.sparkContext._jsc.hadoopConfiguration()
        local: list[Path] = []
        for number, uri in enumerate(uris):
            try:
                source = jvm.org.apache.hadoop.fs.Path(uri)
                system = source.getFileSystem(conf)
                if not system.exists(source):
                    raise InputError(f"{uri}: no such file or folder")
                root = system.getFileStatus(source)
                base = folder / f"{number:03d}" / (source.getName() or "input")
                statuses = system.listFiles(source, True)
                while statuses.hasNext():
                    status = statuses.next()
                    relative = status.getPath().toUri().getPath()[len(root.getPath().toUri().getPath()) :].lstrip("/")
                    target = base / relative if relative else base
                    self._copy(system, status, target)
            except InputError:
                raise
            except Exception as exc:  # py4j carries the JVM's IOException (no file system for a scheme, refused...)
                raise InputError(f"{uri}: cannot read it through Spark's file systems: {_first_line(exc)}") from exc
            local.append(base)
        return local

    def _copy(self, system: Any, status: Any, target: Path) -> None:
        size, modified_ns = int(status.getLen()), int(status.getModificationTime()) * 1_000_000
        if target.is_file() and target.stat().st_size == size and target.stat().st_mtime_ns == modified_ns:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        jvm = self.session.sparkContext._jvm
        # useRawLocalFileSystem: no .crc file beside the copy
        system.copyToLocalFile(False, status.getPath(), jvm.org.apache.hadoop.fs.Path(partial.as_uri()), True)
        os.utime(partial, ns=(modified_ns, modified_ns))
        partial.replace(target)

    def components(self, size: int, links: Sequence[Link]) -> list[list[int]]:
        """Connected components of the merging links by alternating large-star and small-star steps in
        DataFrames (Kiveris et al., "Connected components in MapReduce and beyond", 2014): each step only
        re-points edges at smaller nodes, so the edge set converges to one star per component around its smallest
        member, whatever the partitioning. No GraphFrames. Collects one (node, root) row per linked document."""
        edges = np.array(merging_edges(links), dtype=np.int64).reshape(-1, 2)
        if len(edges) == 0:
            return []
        from pyspark.sql import functions as F

        spark = self.session
        table = pa.table({"u": edges[:, 0], "v": edges[:, 1]})
        current = _oriented(spark.createDataFrame(table.to_pandas()), F).localCheckpoint()
        steps = 0
        while True:
            following = _oriented(_small_star(_large_star(current, F), F), F).localCheckpoint()
            steps += 1
            changed = following.exceptAll(current).limit(1).count() + current.exceptAll(following).limit(1).count()
            current = following
            if not changed:
                break
        log.debug("components converged after %d large-star/small-star rounds", steps)
        rows = current.toArrow() if hasattr(current, "toArrow") else pa.Table.from_pandas(current.toPandas())
        nodes = rows.column("u").to_numpy().astype(np.int64)
        roots = rows.column("v").to_numpy().astype(np.int64)
        groups: dict[int, list[int]] = {}
        for node, root in sorted(zip(nodes.tolist(), roots.tolist(), strict=True)):
            groups.setdefault(root, [root]).append(node)
        return [sorted(members) for _, members in sorted(groups.items())]


class _Spilled:
    """A picklable wrapper that leaves a task's result in a file of `folder` and returns the file's path, so the
    task's output (a fingerprint batch is about 8 bytes per character) reaches the driver through the work
    directory, not through Spark's result channel (`spark.driver.maxResultSize`)."""

    def __init__(self, function: Callable[[Any], Any], folder: Path) -> None:
        self.function = function
        self.folder = folder

    def __call__(self, task: Any) -> str:
        return str(spill(self.function(task), self.folder))


def _oriented(edges: Any, F: Any) -> Any:
    """Edges as distinct (u, v) with u > v (self-loops dropped)."""
    return (
        edges.select(F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v"))
        .where(F.col("u") != F.col("v"))
        .distinct()
    )


def _large_star(edges: Any, F: Any) -> Any:
    """Each node's larger neighbours re-pointed at the smallest of the node and its neighbours."""
    both = edges.unionByName(edges.select(F.col("v").alias("u"), F.col("u").alias("v")))
    smallest = both.groupBy("u").agg(F.least(F.min("v"), F.first("u")).alias("m"))
    return both.where(F.col("v") > F.col("u")).join(smallest, "u").select(F.col("v").alias("u"), F.col("m").alias("v"))


def _small_star(edges: Any, F: Any) -> Any:
    """Each node and its smaller neighbours re-pointed at the smallest of them (edges given with u > v)."""
    smallest = edges.groupBy("u").agg(F.min("v").alias("m"))
    neighbours = edges.join(smallest, "u").select(F.col("v").alias("u"), F.col("m").alias("v"))
    return neighbours.unionByName(smallest.select("u", F.col("m").alias("v")))


def _write_anchors(folder: Path, docs: I64, hashes: U64, keep: npt.NDArray[Any]) -> int:
    """The kept anchor rows as Parquet files of at most PARTITION_ROWS rows (hashes as int64 of the same bits);
    returns how many rows."""
    rows = 0
    for number, start in enumerate(range(0, len(docs), PARTITION_ROWS)):
        chosen = keep[start : start + PARTITION_ROWS]
        part_docs = np.asarray(docs[start : start + PARTITION_ROWS])[chosen]
        part_hashes = np.asarray(hashes[start : start + PARTITION_ROWS])[chosen].view(np.int64)
        if len(part_docs) == 0:
            continue
        table = pa.table({"doc": part_docs.astype(np.int64), "hash": part_hashes})
        pq.write_table(table, folder / f"part-{number:06d}.parquet")
        rows += len(part_docs)
    return rows


class JoinPartition:
    """In a Spark task: one partition's anchors joined by `join_partition`, as rows (kind, key, count): PAIR
    rows with the pair key `a * 2**32 + b` and its shared anchors, HUB rows once per capped anchor a hub pair
    shares, and one CAPPED row with the partition's number of capped anchors."""

    def __init__(self, anchor_df_cap: int) -> None:
        self.anchor_df_cap = anchor_df_cap

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        docs_parts, hash_parts = [], []
        for batch in batches:
            docs_parts.append(batch.column("doc").to_numpy(zero_copy_only=False).astype(np.int64))
            hash_parts.append(batch.column("hash").to_numpy(zero_copy_only=False).astype(np.int64))
        if not docs_parts:
            return
        docs = np.concatenate(docs_parts)
        hashes = np.concatenate(hash_parts).view(np.uint64)
        del docs_parts, hash_parts
        keys, counts, hub_keys, capped = join_partition(docs, hashes, self.anchor_df_cap, PARTITION_ROWS)
        yield _rows(PAIR, keys, counts)
        yield _rows(HUB, hub_keys, np.ones(len(hub_keys), dtype=np.int64))
        yield _rows(CAPPED, np.full(1, CAPPED_KEY, dtype=np.int64), np.array([capped], dtype=np.int64))


def _rows(kind: int, keys: I64, counts: I64) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(np.full(len(keys), kind, dtype=np.int32)), pa.array(keys.astype(np.int64)), pa.array(counts)],
        names=["kind", "key", "count"],
    )


def _first_line(exc: BaseException) -> str:
    """The useful line of a Spark error (a Python task's own exception when there is one)."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error:" in line or "Exception:" in line:
            return line[:500]
    return (lines[0] if lines else type(exc).__name__)[:500]
