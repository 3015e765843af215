"""Score pairs against a truth file with ../shared/tools/score_wirecopy.py, and turn peers' clusters into pairs.

The shared scorer is imported, not copied, so its definition of a true pair is the one used everywhere. Article ids
of generated passes beyond the first (`reuters/12~p3`) are given the length of their source article.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any


def scorer(shared: Path) -> ModuleType:
    """The shared scorer module."""
    spec = importlib.util.spec_from_file_location("score_wirecopy", shared / "tools" / "score_wirecopy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def article_words(shared: Path, truth: Path) -> dict[str, int]:
    """Words per article as the scorer counts them, for the original and the generated article ids."""
    words: dict[str, int] = scorer(shared).article_lengths(str(shared / "data"))
    with open(truth, encoding="utf-8") as rows:
        for row in rows:
            for segment in json.loads(row)["segments"]:
                article = segment["article"]
                if article and article not in words:
                    words[article] = words.get(article.split("~")[0], 0)
    return words


def score(shared: Path, truth: Path, pairs: Path, words: dict[str, int] | None = None) -> dict[str, Any]:
    """Precision, recall per kind, F1 and span F1 of a pairs.jsonl file."""
    lengths = words if words is not None else article_words(shared, truth)
    result: dict[str, Any] = scorer(shared).score(str(truth), str(pairs), lengths)
    return result


def clusters_to_pairs(clusters: Path, pairs: Path) -> int:
    """Write every pair inside every cluster as a near_duplicate row without spans; return the pair count."""
    count = 0
    with open(clusters, encoding="utf-8") as rows, open(pairs, "w", encoding="utf-8") as out:
        for row in rows:
            members = json.loads(row)["members"]
            for a, b in itertools.combinations(members, 2):
                out.write(json.dumps({"a": a, "b": b, "relation": "near_duplicate", "spans": []}) + "\n")
                count += 1
    return count
