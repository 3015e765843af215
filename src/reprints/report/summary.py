"""The run's summary: counts per decision and relation, timings, parameters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from reprints.candidates.join import Candidates
from reprints.config import Config
from reprints.decide.links import Link
from reprints.report.timing import StageTimer
from reprints.types import RELATIONS, Summary


def summarize(
    out: Path,
    documents: int,
    decisions: dict[str, int],
    links: Sequence[Link],
    clusters: Sequence[int | None],
    timer: StageTimer,
    config: Config,
    candidates: Candidates,
    unreadable: int,
) -> Summary:
    """Gather what a run did into a Summary."""
    relations = Counter(link.relation for link in links)
    numbers = {number for number in clusters if number is not None}
    return Summary(
        documents=documents,
        decisions=decisions,
        relations={relation: relations.get(relation, 0) for relation in RELATIONS},
        clusters=len(numbers),
        timings=timer.rounded(),
        parameters=config.parameters(),
        candidates={"pairs": len(candidates.a), "capped_anchors": candidates.capped_anchors},
        workers=config.run.workers,
        unreadable=unreadable,
        out_dir=str(out),
    )
