"""The run's summary: counts per decision and relation, timings, parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from reprints.config import Config
from reprints.report.timing import StageTimer
from reprints.types import RELATIONS, Summary


def summarize(
    out: Path,
    documents: int,
    decisions: dict[str, int],
    relations: Mapping[str, int],
    clusters: Sequence[int | None],
    timer: StageTimer,
    config: Config,
    candidates: dict[str, int],
    unreadable: int,
) -> Summary:
    """Gather what a run did into a Summary (`candidates`: the number of candidate pairs and capped anchors)."""
    numbers = {number for number in clusters if number is not None}
    return Summary(
        documents=documents,
        decisions=decisions,
        relations={relation: relations.get(relation, 0) for relation in RELATIONS},
        clusters=len(numbers),
        timings=timer.rounded(),
        cpu=timer.cpu_rounded(),
        parameters=config.parameters(),
        candidates=candidates,
        workers=config.run.workers,
        unreadable=unreadable,
        out_dir=str(out),
    )
