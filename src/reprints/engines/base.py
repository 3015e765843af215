"""What an engine is: the part of a run that decides where the stages' batches are computed.

The pipeline (`reprints.pipeline`) drives the stages in order and owns the work directory; an engine only maps
pure stage functions over batches (`map`, results in submission order), joins the anchors into candidate pairs
(`join`) and finds the connected components of the merging links (`components`). Two engines exist: `local`
(this process or a pool of worker processes) and `spark` (tasks of a Spark session). Another (Ray, Dask) would be
one module implementing this protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy.typing as npt

from reprints.candidates.join import Candidates
from reprints.config import RunConfig
from reprints.decide.links import Link
from reprints.fingerprint.hashing import U64
from reprints.normalize.tokens import I64

Task = TypeVar("Task")
Result = TypeVar("Result")


class Engine(Protocol):
    """Maps stage functions over batches and joins anchors; a context manager that holds its workers."""

    workers: int

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...

    def map(self, function: Callable[[Task], Result], tasks: Iterable[Task]) -> Iterator[Result]:
        """`function(task)` for each task, yielded in the order of the tasks."""
        ...

    def join(
        self,
        docs: I64,
        hashes: U64,
        keep: npt.NDArray[Any],
        *,
        anchor_df_cap: int,
        folder: Path,
    ) -> Candidates:
        """`reprints.candidates.join.join_anchors` of the kept anchor rows; `folder` is the engine's to use for
        temporary files (inside the run's work directory)."""
        ...

    def stage_inputs(self, uris: Sequence[str], folder: Path) -> list[Path]:
        """Inputs given as URIs copied into `folder` on this machine; the local path of each (see
        `reprints.engines.spark.SparkEngine.stage_inputs`)."""
        ...

    def components(self, size: int, links: Sequence[Link]) -> list[list[int]]:
        """`reprints.decide.clusters.components`: the groups of two or more documents that merging links join,
        each sorted, ordered by first member."""
        ...


ENGINES = ("local", "spark")


def open_engine(run: RunConfig, folder: Path | None = None, *, warm: bool = False) -> Engine:
    """The engine `run.engine` names, not yet entered; `folder` (in the run's work directory) is the engine's to
    pass task results through (the Spark engine's tasks leave them there rather than send them to the driver; the
    local engine's workers leave the large ones there rather than send them through a pipe);
    `warm`: the run's batches will take the compiled kernels, so the local engine's workers load them as they
    start."""
    if run.engine == "spark":
        from reprints.engines.spark import SparkEngine  # pyspark is an optional extra

        return SparkEngine(run.master, dict(run.spark_options()), folder)
    from reprints.engines.local import LocalEngine

    return LocalEngine(run.workers, warm=warm, results=folder)
