"""Properties over generated corpora: every document accounted for once, results independent of sharding."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reprints
from conftest import DATA

OUTPUTS = ("pairs.jsonl", "documents.jsonl", "clusters.jsonl", "deduplicated.jsonl")


@pytest.fixture(scope="module")
def articles() -> list[str]:
    with gzip.open(DATA / "bbc.jsonl.gz", "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for _, line in zip(range(300), lines, strict=False)]


def corpus(articles: list[str], seed: int, size: int) -> list[dict[str, str]]:
    """Real articles, some republished with the changes copies carry: retyped quotes, cuts, wrappers."""
    rng = random.Random(seed)
    rows = []
    for number in range(size):
        text = rng.choice(articles)
        change = rng.randrange(5)
        if change == 1:
            text = text.replace("'", "’").replace('"', "“")
        elif change == 2:
            paragraphs = text.split("\n")
            text = "\n".join(paragraphs[: max(1, len(paragraphs) * 2 // 3)])
        elif change == 3:
            text = "Share this article\nFacebook\n" + text + "\n\nRelated Articles\n" + rng.choice(articles)[:1500]
        elif change == 4:
            text = rng.choice(articles)[:800] + "\n" + " ".join(text.split()[:60])
        rows.append({"id": f"doc{number}" if rng.random() > 0.05 else "dup-id", "text": text})
    return rows


def write(rows: list[dict[str, str]], path: Path) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@given(seed=st.integers(0, 10_000), size=st.integers(1, 60), chars=st.integers(1_000, 40_000), pairs=st.integers(1, 50))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_outputs_independent_of_shard_size(
    articles: list[str], tmp_path_factory: pytest.TempPathFactory, seed: int, size: int, chars: int, pairs: int
) -> None:
    folder = tmp_path_factory.mktemp("corpus")
    source = write(corpus(articles, seed, size), folder / "docs.jsonl")
    reprints.dedup([source], folder / "default")
    reprints.dedup([source], folder / "sharded", batch_chars=chars, batch_pairs=pairs)
    for name in OUTPUTS:
        assert (folder / "default" / name).read_bytes() == (folder / "sharded" / name).read_bytes(), name
    documents = [json.loads(line) for line in (folder / "default" / "documents.jsonl").read_text().splitlines()]
    assert len(documents) == size
    assert len({d["id"] for d in documents}) == size


@given(seed=st.integers(0, 10_000))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_outputs_independent_of_workers(
    articles: list[str], tmp_path_factory: pytest.TempPathFactory, seed: int
) -> None:
    folder = tmp_path_factory.mktemp("corpus")
    source = write(corpus(articles, seed, 80), folder / "docs.jsonl")
    reprints.dedup([source], folder / "one", workers=1, batch_chars=20_000, batch_pairs=20)
    reprints.dedup([source], folder / "two", workers=2, batch_chars=20_000, batch_pairs=20)
    for name in OUTPUTS:
        assert (folder / "one" / name).read_bytes() == (folder / "two" / name).read_bytes(), name


def test_folder_order_is_sorted_whatever_the_creation_order(articles: list[str], tmp_path: Path) -> None:
    rows = corpus(articles, 7, 30)
    outs = []
    for attempt, order in enumerate([[0, 1, 2], [2, 0, 1]]):
        folder = tmp_path / f"in{attempt}"
        folder.mkdir()
        for part in order:
            write(rows[part * 10 : part * 10 + 10], folder / f"part{part}.jsonl")
        reprints.dedup([folder], tmp_path / f"out{attempt}")
        outs.append(tmp_path / f"out{attempt}")
    for name in OUTPUTS:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
