"""A finished `dedup` run, read back for `reprints view`: decisions, clusters, pairs, and the original texts.

The texts come from the run's inputs (listed in `summary.json`, or given again), read as `dedup` read them, checked
against the checksums of the run's reading pass (`summary.json`'s `read`: inputs changed since the run are refused,
as the outputs' offsets would point into other texts) and held in memory while the viewer runs: `reprints view` is
for looking at a run, not for serving a whole crawl.
Parquet outputs are read with PyArrow.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from reprints.config import Config
from reprints.errors import InputError
from reprints.io import expand_inputs, iter_documents
from reprints.io.verify import InputsChanged, verified
from reprints.io.writers import valid_unicode

# The fields of each output's rows that the viewer reads, and the types they must have.
FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "documents": {"id": str, "decision": str, "removed": list},
    "clusters": {"cluster": int, "canonical": str, "members": list, "contained_in": list},
    "pairs": {
        "a": str,
        "b": str,
        "relation": str,
        "coverage_a": (int, float),
        "coverage_b": (int, float),
        "spans": list,
    },
}
SUMMARY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "documents": int,
    "decisions": dict,
    "relations": dict,
    "clusters": int,
}


def _damaged(path: Path, where: str, why: str) -> InputError:
    return InputError(
        f"{path}{where} is damaged ({why}): it is not what `reprints dedup` wrote; run dedup again into this folder"
    )


def _checked(row: Any, fields: dict[str, type | tuple[type, ...]], path: Path, where: str) -> dict[str, Any]:
    """`row` if it is an object with each of `fields` of its type, else the error naming what is wrong."""
    if not isinstance(row, dict):
        raise _damaged(path, where, f"a {type(row).__name__} where an object was expected")
    for name, kind in fields.items():
        if name not in row:
            raise _damaged(path, where, f"no {name!r}")
        if not isinstance(row[name], kind) or isinstance(row[name], bool):
            raise _damaged(path, where, f"{name!r} is {json.dumps(row[name])[:40]}")
    return row


def _rows(out: Path, name: str) -> Iterator[dict[str, Any]]:
    """The rows of an output, each unpaired surrogate in them (an id JSON Lines keeps as `\\ud800`) read as U+FFFD,
    as Parquet outputs keep them and as the pages can be sent them (`valid_unicode`); a row that cannot be read, or
    lacks a field the viewer reads, is an InputError naming the file and line."""
    jsonl, parquet = out / f"{name}.jsonl", out / f"{name}.parquet"
    fields = FIELDS[name]
    if jsonl.exists():
        with jsonl.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    row = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    raise _damaged(jsonl, f" line {number}", str(exc)) from None
                yield _checked(valid_unicode(row), fields, jsonl, f" line {number}")
    elif parquet.exists():
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(parquet).to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise _damaged(parquet, "", str(exc)) from None
        for number, row in enumerate(rows, 1):
            yield _checked(row, fields, parquet, f" row {number}")
    else:
        raise InputError(f"{out} has no {name}.jsonl: is it the --out folder of a finished `reprints dedup`?")


def _summary(path: Path) -> dict[str, Any]:
    """The run's summary.json, checked as far as the viewer reads it."""
    try:
        summary = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _damaged(path, "", str(exc)) from None
    return _checked(summary, SUMMARY_FIELDS, path, "")


class FinishedRun:
    """Everything `reprints view` shows, loaded from an output folder."""

    def __init__(self, out: str | Path, inputs: Sequence[str | Path] = ()) -> None:
        self.out = Path(out)
        summary_path = self.out / "summary.json"
        if not summary_path.exists():
            raise InputError(f"{self.out} has no summary.json: is it the --out folder of a finished `reprints dedup`?")
        self.summary = _summary(summary_path)
        sources = [Path(path) for path in (inputs or self.summary.get("inputs", []))]
        if not sources:
            raise InputError(f"{summary_path} does not list the run's inputs: give them (reprints view OUT INPUT...)")
        missing = [str(path) for path in sources if not path.exists()]
        if missing and inputs:
            raise InputError(f"input {missing[0]} does not exist")
        if missing:
            raise InputError(
                f"the run's input {missing[0]} is gone; give the inputs where they are now (reprints view OUT INPUT...)"
            )
        parameters = self.summary.get("parameters", {})
        read_options = {
            key: parameters[key]
            for key in ("id_field", "text_field", "html_field", "extract", "max_doc_chars")
            if key in parameters
        }
        config = Config.from_options(**read_options)
        files = expand_inputs(sources, "skip", exclude=(self.out,))
        self.texts: dict[str, str] = {}
        self.ids: list[str] = []
        documents = iter_documents(files, config.read, report=False)
        read = self.summary.get("read") or {}
        if read.get("batches"):  # (a run of an earlier reprints did not record them)
            documents = verified(documents, [tuple(batch) for batch in read["batches"]], read["checksums"])
        try:
            for doc in documents:  # keyed as the outputs' rows are (`_rows`); one character for one, offsets hold
                doc_id = valid_unicode(doc.id)
                if doc_id in self.texts:  # (dedup names a repeated id ID#2: these differ in invalid Unicode only)
                    raise InputError(
                        f"two documents' ids read {doc_id!r} once each unpaired surrogate (not Unicode) is replaced: "
                        "view cannot show them apart; give the documents ids of valid Unicode and run dedup again"
                    )
                self.ids.append(doc_id)
                self.texts[doc_id] = valid_unicode(doc.text)
        except InputsChanged as exc:
            recorded = [Path(path) for path in self.summary.get("inputs", [])]
            names = [path.name for path in recorded]
            shown = names if len(set(names)) == len(names) else [str(path) for path in recorded]
            if _reordered(sources, recorded, Path.resolve) or _reordered(sources, recorded, lambda path: path.name):
                raise InputError(
                    f"the inputs are given in another order than the run in {self.out} read them ({exc.how}): give "
                    f"them in its order: {' '.join(shown)}"
                ) from None
            raise InputError(
                f"the inputs are not what the run in {self.out} read ({exc.how}): its offsets would point into other "
                "texts; give the inputs it read (reprints view OUT INPUT...), or run dedup again"
            ) from None
        self.documents = {row["id"]: _as_json_row(row) for row in _rows(self.out, "documents")}
        self.clusters = list(_rows(self.out, "clusters"))
        self.pairs: dict[tuple[str, str], dict[str, Any]] = {}
        self.pairs_of: dict[str, list[dict[str, Any]]] = {}
        for row in _rows(self.out, "pairs"):
            self.pairs[(row["a"], row["b"])] = row
            for side, other in (("a", "b"), ("b", "a")):
                self.pairs_of.setdefault(row[side], []).append(
                    {
                        "id": row[other],
                        "relation": row["relation"],
                        "container": row.get("container"),
                        "coverage": row[f"coverage_{side}"],
                        "coverage_other": row[f"coverage_{other}"],
                    }
                )

    def overview(self) -> dict[str, Any]:
        """The summary and the clusters."""
        keys = ("documents", "unreadable", "decisions", "relations", "clusters")
        return {"summary": {key: self.summary.get(key) for key in keys}, "clusters": self.clusters}

    def decisions(self, offset: int, limit: int) -> dict[str, Any]:
        """Decision rows in input order, from `offset`."""
        rows = [self.documents[doc_id] for doc_id in self.ids[offset : offset + limit] if doc_id in self.documents]
        return {"total": len(self.ids), "offset": offset, "documents": rows}

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """A document's text, decision and related documents."""
        if doc_id not in self.texts:
            return None
        return {
            "id": doc_id,
            "text": self.texts[doc_id],
            "decision": self.documents.get(doc_id),
            "related": self.pairs_of.get(doc_id, []),
        }

    def pair(self, id_a: str, id_b: str) -> dict[str, Any] | None:
        """Two documents' texts and their row of pairs.jsonl (spans oriented a, b as asked); None for an unknown id."""
        if id_a not in self.texts or id_b not in self.texts:
            return None
        row = self.pairs.get((id_a, id_b))
        found: dict[str, Any] | None = None
        if row is not None:
            found = {
                "relation": row["relation"],
                "coverage_a": row["coverage_a"],
                "coverage_b": row["coverage_b"],
                "container": _side(row, id_a, id_b),
                "spans": row["spans"],
            }
        elif (row := self.pairs.get((id_b, id_a))) is not None:
            found = {
                "relation": row["relation"],
                "coverage_a": row["coverage_b"],
                "coverage_b": row["coverage_a"],
                "container": _side(row, id_a, id_b),
                "spans": [[s[2], s[3], s[0], s[1]] for s in row["spans"]],
            }
        return {"a": {"id": id_a, "text": self.texts[id_a]}, "b": {"id": id_b, "text": self.texts[id_b]}, "pair": found}


def _reordered(given: Sequence[Path], recorded: Sequence[Path], key: Callable[[Path], Any]) -> bool:
    """Whether the inputs given are the run's recorded ones (each named by `key`) in another order."""
    ours, theirs = [key(path) for path in given], [key(path) for path in recorded]
    return sorted(ours) == sorted(theirs) and ours != theirs


def _side(row: dict[str, Any], id_a: str, id_b: str) -> str | None:
    container = row.get("container")
    return "a" if container == id_a else "b" if container == id_b else None


REMOVED_FIELDS = ("start", "end", "source_id", "source_start", "source_end")


def _as_json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A documents row as `documents.jsonl` has it (Parquet keeps each removed span as a struct)."""
    removed = row.get("removed") or []
    row["removed"] = [[span[name] for name in REMOVED_FIELDS] if isinstance(span, dict) else span for span in removed]
    return row
