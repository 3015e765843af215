"""The bulk corpus once and four times (three more copies of every record under new ids): does repetition change
anything? It must not: the same boilerplate lines, each original's decision identical, each repeat an exact
duplicate of its original (or of the original's canonical member when the original is itself a copy).

    python3 benchmarks/repeated.py                # the whole bulk corpus (41,328 records, about 5 minutes)
    python3 benchmarks/repeated.py --limit 5000   # its first 5,000 records

Prints what differs (nothing, when the rule holds) and exits 1 if anything does. Work goes to
benchmarks/.work/repeated/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from run import BULK, read_rows  # noqa: E402

import reprints  # noqa: E402

COPIES = 3


def write(rows: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def decisions(folder: Path) -> dict[str, dict[str, Any]]:
    with (folder / "documents.jsonl").open(encoding="utf-8") as lines:
        return {row["id"]: row for row in map(json.loads, lines)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared")
    parser.add_argument("--limit", type=int, default=None, help="use the first N records of the bulk corpus")
    args = parser.parse_args()
    work = HERE / ".work" / "repeated"
    work.mkdir(parents=True, exist_ok=True)
    rows = [row for name in BULK for row in read_rows(args.shared / "data" / name)][: args.limit]
    once = write(rows, work / "once.jsonl")
    copies = [{**row, "id": f"{row['id']}~copy{n}"} for n in range(1, COPIES + 1) for row in rows]
    four = write(rows + copies, work / "four.jsonl")
    print(f"{len(rows):,} records once, {len(rows) * (COPIES + 1):,} four times")

    learned: dict[str, list[tuple[str, str]]] = {}
    for name, path in (("once", once), ("four", four)):
        began = time.perf_counter()
        learned[name] = [(line.site, line.text) for line in reprints.boilerplate_lines([path])]
        print(f"{name}: {len(learned[name]):,} boilerplate lines ({time.perf_counter() - began:.0f} s)")
    problems = []
    if learned["once"] != learned["four"]:
        only_once = sorted(set(learned["once"]) - set(learned["four"]))
        only_four = sorted(set(learned["four"]) - set(learned["once"]))
        problems.append(f"boilerplate differs: {len(only_once)} lines only once, {len(only_four)} only four times")
        problems += [f"  only four times: {text[:100]!r}" for _, text in only_four[:10]]

    results = {}
    for name, path in (("once", once), ("four", four)):
        began = time.perf_counter()
        summary = reprints.dedup([path], work / f"out-{name}", workers=2)
        print(f"{name}: {dict(summary.decisions)} ({time.perf_counter() - began:.0f} s)")
        results[name] = decisions(work / f"out-{name}")
    first, repeated = results["once"], results["four"]
    changed = [doc for doc, row in first.items() if _core(repeated[doc]) != _core(row)]
    problems += [f"{len(changed)} originals decided differently"] if changed else []
    problems += [f"  {doc}: {_core(first[doc])} -> {_core(repeated[doc])}" for doc in changed[:10]]
    wrong = []
    for row in rows:
        original = repeated[row["id"]]
        canonical = row["id"] if original["duplicate_of"] is None or original["decision"] != "drop" else None
        for n in range(1, COPIES + 1):
            copy = repeated[f"{row['id']}~copy{n}"]
            expected = canonical or original["duplicate_of"]
            if copy["decision"] != "drop" or copy["duplicate_of"] not in (expected, row["id"]):
                wrong.append((copy["id"], copy["decision"], copy["duplicate_of"]))
    problems += [f"{len(wrong)} repeats not dropped as a duplicate of their original"] if wrong else []
    problems += [f"  {item}" for item in wrong[:10]]
    print("\n".join(problems) if problems else "identical: repetition changes nothing")
    return 1 if problems else 0


def _core(row: dict[str, Any]) -> tuple[Any, ...]:
    """A decision, its reason (a unique document that gained copies is their "first copy") and what it lost."""
    reason = "first copy" if row["reason"] == "unique" else row["reason"]
    return (row["decision"], reason, row["duplicate_of"], row["removed"])


if __name__ == "__main__":
    sys.exit(main())
