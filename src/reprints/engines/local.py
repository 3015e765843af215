"""The local engine: runs a stage's batches in this process or in a pool of worker processes.

Results always come back in submission order, so the output never depends on the number of workers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy.typing as npt

from reprints.allocator import hold_freed_memory
from reprints.candidates.join import Candidates, join_anchors
from reprints.decide.clusters import components
from reprints.decide.links import Link
from reprints.engines import collector, server
from reprints.engines.spill import Spilled, Spilling, received
from reprints.engines.stopping import critical
from reprints.errors import InputError
from reprints.fingerprint.hashing import U64
from reprints.io.arrays import release_free_memory
from reprints.normalize.tokens import I64

Task = TypeVar("Task")
Result = TypeVar("Result")


class _Trimming(Generic[Task, Result]):
    """A picklable wrapper that releases free memory after each call. In a process of reprints' own (`worker`: a
    local worker, a Spark executor's Python worker; not the caller's process, which may be a program that imports
    reprints), freed memory is kept for the next calls until then (`hold_freed_memory`)."""

    def __init__(self, function: Callable[[Task], Result], *, worker: bool) -> None:
        self.function = function
        self.worker = worker

    def __call__(self, task: Task) -> Result:
        if self.worker:
            hold_freed_memory()
        try:
            return self.function(task)
        finally:
            release_free_memory()


PARENT_CHECK_SECONDS = 0.5


def _gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie not yet reaped by its own parent counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # a process of another user took the number: ours is gone
            return True
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def _watch_parent(parent: int) -> None:
    """In a worker: exit as soon as the process that started the run is gone (killed, even by SIGKILL), so no
    worker outlives its run. Workers also ignore SIGINT: Ctrl-C reaches the whole process group, and the parent
    alone decides how the run stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch() -> None:
        while not _gone(parent):
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="reprints-parent-watch", daemon=True).start()


def _start_worker(parent: int, warm: bool) -> None:
    """A worker's start: watch the parent (`_watch_parent`) and, for a run whose batches take the compiled
    kernels, load them now (`reprints.kernels.prefer_compiled_worker`), before its first batch arrives."""
    _watch_parent(parent)
    if warm:
        from reprints.kernels import load_ahead, prefer_compiled_worker

        load_ahead(prefer_compiled_worker)
    collector.settle()


def _started() -> None:
    """A task that does nothing: submitted once per worker when the pool opens, so the workers start (and load
    their kernels) while this process is still planning the first stage."""


def _discard_result(folder: Path, future: Future[Any]) -> None:
    """A result no one will take, of a map stopped early: its file deleted, then the map's folder if that leaves it
    empty. (A task still running when the map removed its folder could write its file there while the folder was
    being removed, which then stayed, with the file.)"""
    # (Cancelled or failed: no file. Not raised here, which would add these frames to the failure's traceback.)
    if not future.cancelled() and future.exception() is None:
        result = future.result()
        if isinstance(result, Spilled):  # (a small result came through the pipe: no file)
            result.path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


OWN_RESULTS = "reprints-results-"  # name of an engine's own results folder, before its process id
ORPHANED_AFTER = 600.0  # seconds without a change after which a folder whose process is gone is removed


def remove_orphaned_results() -> None:
    """Remove the results folders that engines of processes no longer running left in the temporary folder: an
    engine removes its own as it ends, unless its process is killed outright (SIGKILL). A folder whose process
    id is in use again, by any process, is left, and so is one changed in the last `ORPHANED_AFTER` seconds
    (the temporary folder may be shared with processes this one cannot see, such as another container's)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{OWN_RESULTS}*-*"):
        pid = folder.name.removeprefix(OWN_RESULTS).partition("-")[0]
        if pid.isdigit() and not _running(int(pid)) and time.time() - _last_change(folder) > ORPHANED_AFTER:
            shutil.rmtree(folder, ignore_errors=True)


def _last_change(folder: Path) -> float:
    """When the folder, or one of its maps' folders (where results are written), last changed."""
    try:
        return max([folder.stat().st_mtime, *(child.stat().st_mtime for child in folder.iterdir())])
    except OSError:  # (removed meanwhile, or not ours to read)
        return time.time()


def _running(pid: int) -> bool:
    """Whether a process with this id exists (another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # (PermissionError: it exists; anything else: assume it does)
        pass
    return True


class LocalEngine:
    """Maps stage functions over batches with `workers` processes (1: in this process).

    Workers end with the run: on an error or interruption in the parent, queued batches are cancelled and the
    workers stop once their running batch is done; if the parent dies outright, each exits by itself within a
    second.
    """

    def __init__(self, workers: int, *, warm: bool = False, results: Path | None = None) -> None:
        """`warm`: the run's batches are large enough to take the compiled kernels (see `reprints.kernels`), so
        the workers start at once, before their first batch, with the kernels loaded: the fork server loads them
        once (`reprints.engines.worker_warm`) and each worker it forks has them. (A process starts one fork server,
        with the modules of the first engine that starts it: after a cold engine, a warm one's workers load the
        kernels themselves.) `results`: a folder (in the run's work directory) through whose files workers hand
        over all but short results (`reprints.engines.spill`); without one, a temporary folder of the engine's
        own, removed when it ends (or, if its process is killed, by the next engine that makes one:
        `remove_orphaned_results`)."""
        self.workers = workers
        self.warm = warm
        self.results = results
        self._pool: ProcessPoolExecutor | None = None
        self._own_results: Path | None = None

    def __enter__(self) -> LocalEngine:
        if self.workers > 1:
            if self.results is None:
                remove_orphaned_results()
                self._own_results = Path(tempfile.mkdtemp(prefix=f"{OWN_RESULTS}{os.getpid()}-"))
            server.preload(self.warm)  # (no effect if the command line started the server already: `start_early`)
            with critical():
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=server.context(),
                    initializer=_start_worker,
                    initargs=(os.getpid(), self.warm),
                )
                if self.warm:
                    for _ in range(self.workers):  # each submission starts one more worker, up to `workers`
                        self._pool.submit(_started)
        return self

    def __exit__(self, *exc: object) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # Queued batches are cancelled; running ones (at most two per worker, seconds each) finish.
            with critical():
                pool.shutdown(wait=True, cancel_futures=True)
        if self._own_results is not None:
            shutil.rmtree(self._own_results, ignore_errors=True)
            self._own_results = None

    def map(
        self, function: Callable[[Task], Result], tasks: Iterable[Task], *, ahead: int | None = None
    ) -> Iterator[Result]:
        """`function(task)` for each task, in order; at most `ahead` tasks (default: two per worker) are in flight,
        done or not, before the caller takes the oldest result."""
        if self._pool is None:
            yield from map(_Trimming(function, worker=False), tasks)
            return
        # Each map's results (all but short ones: `reprints.engines.spill`) in a folder of their own, removed when the
        # map ends however it ends.
        results = self.results or self._own_results
        assert results is not None  # (a pool has a folder for its results: `__enter__`)
        folder = results / uuid.uuid4().hex
        trimming = _Trimming(Spilling(function, folder), worker=True)
        folder.mkdir(parents=True)
        limit = max(1, ahead if ahead is not None else 2 * self.workers)
        pending: deque[Future[Result]] = deque()
        try:
            for task in tasks:
                with critical():
                    pending.append(self._pool.submit(trimming, task))
                if len(pending) >= limit:
                    yield received(pending.popleft().result())
            while pending:
                yield received(pending.popleft().result())
        finally:
            for future in pending:  # the caller stopped taking results (an error, an interruption)
                if not future.cancel():  # done, or running: its result file goes when it ends
                    future.add_done_callback(functools.partial(_discard_result, folder))
            # Results not taken are deleted with it (the work directory is kept for --resume).
            shutil.rmtree(folder, ignore_errors=True)

    def join(self, docs: I64, hashes: U64, keep: npt.NDArray[Any], *, anchor_df_cap: int, folder: Path) -> Candidates:
        """The candidate join in this process, partition by partition (`join_anchors`)."""
        return join_anchors(docs, hashes, anchor_df_cap=anchor_df_cap, keep=keep, folder=folder)

    def stage_inputs(self, uris: Sequence[str], folder: Path) -> list[Path]:
        """Inputs given as URIs are read through Spark's file systems only.

        Raises:
            InputError: always, naming the first URI.
        """
        raise InputError(
            f"{uris[0]}: inputs given as URIs (hdfs://, s3a://, file://...) are read through Spark's file systems: "
            "run with --engine spark, or give a local path"
        )

    def components(self, size: int, links: Sequence[Link]) -> list[list[int]]:
        """Union-find components in this process (`reprints.decide.clusters.components`)."""
        return components(size, links)
