"""The data model: documents in, pairs and decisions out."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

Relation = Literal["exact", "near_duplicate", "contained", "partial"]
DecisionKind = Literal["keep", "trim", "drop"]
RELATIONS: tuple[Relation, ...] = ("exact", "near_duplicate", "contained", "partial")
DECISIONS: tuple[DecisionKind, ...] = ("keep", "trim", "drop")

C = TypeVar("C", bound=type)


def pickled_as_tuples(cls: C) -> C:
    """A frozen dataclass with slots (of two fields or more), pickled as the tuple of its fields' values.

    What `dataclasses` gives such a class looks its fields up for every object pickled or unpickled: the write
    stage's tasks carried one object per document and per related pair (on the bulk corpus, 41,328 verdicts and
    33,474 links cost 0.42 s of CPU to pickle and unpickle; 0.22 s so). Verdicts now travel as columns
    (`Verdicts.part`); links, and documents read from other formats than JSON Lines, still go one by one.
    """
    names = tuple(item.name for item in fields(cls))
    get = operator.attrgetter(*names)
    put = object.__setattr__

    def getstate(self: object) -> tuple[Any, ...]:
        return get(self)

    def setstate(self: object, state: tuple[Any, ...]) -> None:
        for name, value in zip(names, state, strict=True):
            put(self, name, value)

    setattr(cls, "__getstate__", getstate)  # noqa: B010 (methods replaced on the class dataclass made)
    setattr(cls, "__setstate__", setstate)  # noqa: B010
    return cls


@pickled_as_tuples
@dataclass(frozen=True, slots=True)
class Document:
    """One input document.

    Attributes:
        id: The document's id (for a `.txt` file, its file name).
        text: The original text; every offset reprints reports indexes into it.
        index: Position in the input, counting from 0 across all inputs.
        metadata: The record's other fields, written back unchanged.
        error: Why the document could not be read, or None when it was read.
    """

    id: str
    text: str
    index: int
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Span:
    """One aligned passage: `a[a_start:a_end]` is a copy of `b[b_start:b_end]`."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int

    def as_list(self) -> list[int]:
        """The span as `[a_start, a_end, b_start, b_end]`, the form `pairs.jsonl` uses."""
        return [self.a_start, self.a_end, self.b_start, self.b_end]


@dataclass(frozen=True, slots=True)
class Pair:
    """Two documents that share at least one passage, and how.

    Attributes:
        a: Id of the first document (the earlier one in the input).
        b: Id of the second document.
        relation: `exact`, `near_duplicate`, `contained` or `partial`.
        container: For `contained`, the id of the bigger document; otherwise None.
        coverage_a: Fraction of a's tokens inside aligned passages.
        coverage_b: Fraction of b's tokens inside aligned passages.
        spans: The aligned passages, in character offsets of both original texts.
    """

    a: str
    b: str
    relation: Relation
    container: str | None
    coverage_a: float
    coverage_b: float
    spans: tuple[Span, ...]

    def to_dict(self) -> dict[str, Any]:
        """The pair as a `pairs.jsonl` row."""
        row: dict[str, Any] = {"a": self.a, "b": self.b, "relation": self.relation}
        if self.container is not None:
            row["container"] = self.container
        row["coverage_a"] = self.coverage_a
        row["coverage_b"] = self.coverage_b
        row["spans"] = [s.as_list() for s in self.spans]
        return row


BOILERPLATE = "boilerplate"


@dataclass(frozen=True, slots=True)
class Removed:
    """A span taken out of a document: held by a kept document, or boilerplate.

    For boilerplate, `source_id` is `"boilerplate"` and the source offsets are None.
    """

    start: int
    end: int
    source_id: str
    source_start: int | None
    source_end: int | None

    def as_list(self) -> list[int | str | None]:
        """The span as `[start, end, source_id, source_start, source_end]`."""
        return [self.start, self.end, self.source_id, self.source_start, self.source_end]


@dataclass(frozen=True, slots=True)
class Decision:
    """What deduplication does with one document, and why."""

    id: str
    decision: DecisionKind
    reason: str
    cluster: int | None
    duplicate_of: str | None
    removed: tuple[Removed, ...]
    kept_chars: int

    def to_dict(self) -> dict[str, Any]:
        """The decision as a `documents.jsonl` row."""
        return {
            "id": self.id,
            "decision": self.decision,
            "reason": self.reason,
            "cluster": self.cluster,
            "duplicate_of": self.duplicate_of,
            "removed": [r.as_list() for r in self.removed],
            "kept_chars": self.kept_chars,
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """What a `dedup` run did: counts, timings and the parameters used."""

    documents: int
    decisions: Mapping[str, int]
    relations: Mapping[str, int]
    clusters: int
    timings: Mapping[str, float]
    parameters: Mapping[str, Any]
    candidates: Mapping[str, int]
    workers: int
    out_dir: str
    unreadable: int = 0
    resumed: Mapping[str, Any] = field(default_factory=dict)
    inputs: Sequence[str] = ()  # the input files read, absolute (`reprints view` reads the texts back from them)
    # The reading pass' batches of documents (number, first document, documents) and each one's checksum of ids and
    # texts (`reprints.io.verify`): `reprints view` checks the texts it reads back against them.
    read_batches: Sequence[Sequence[int]] = ()
    read_checksums: Sequence[int] = ()
    # This process's CPU seconds per stage (the main process's, or the Spark driver's: not its workers' or executors')
    cpu: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The summary as written to `summary.json`."""
        return {
            "documents": self.documents,
            "inputs": list(self.inputs),
            "unreadable": self.unreadable,
            "decisions": dict(self.decisions),
            "relations": dict(self.relations),
            "clusters": self.clusters,
            "candidates": dict(self.candidates),
            "parameters": dict(self.parameters),
            "timings_seconds": dict(self.timings),
            "main_process_cpu_seconds": dict(self.cpu),
            "workers": self.workers,
            "resumed": dict(self.resumed),
            "read": {"batches": [list(batch) for batch in self.read_batches], "checksums": list(self.read_checksums)},
        }


@dataclass(frozen=True, slots=True)
class BoilerplateLine:
    """A line learned as boilerplate: its site ('' for the whole corpus), how many documents hold it, its text."""

    site: str
    documents: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        """The line as a JSON object."""
        return {"site": self.site, "documents": self.documents, "text": self.text}
