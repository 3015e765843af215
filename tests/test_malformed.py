"""Bad input: each case gets one clear message naming file and line, and loses no document."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from conftest import run_cli


def _generator() -> ModuleType:
    path = Path(__file__).parent / "data" / "make_malformed.py"
    spec = importlib.util.spec_from_file_location("make_malformed", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MALFORMED = _generator()
EXPECTED = MALFORMED.expected()


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return MALFORMED.make(tmp_path_factory.mktemp("malformed"))


def rows(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "documents.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("case", sorted(MALFORMED.MESSAGES))
def test_reported_and_run_goes_on(case: str, cases: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("dedup", "-q", cases[case], "--out", tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert MALFORMED.MESSAGES[case] in result.stderr
    got = [(row["id"], row["decision"], row["reason"]) for row in rows(tmp_path)]
    expected = EXPECTED[case]
    assert [(doc_id, decision) for doc_id, decision, _ in got] == [(d, dec) for d, dec, _ in expected]
    for (_, _, reason), (_, _, prefix) in zip(got, expected, strict=True):
        assert str(reason).startswith(prefix)


@pytest.mark.parametrize("case", sorted(MALFORMED.MESSAGES))
def test_on_error_fail_stops_at_once(case: str, cases: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("dedup", "-q", cases[case], "--out", tmp_path, "--on-error", "fail", check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reprints: error: ")
    assert MALFORMED.MESSAGES[case] in lines[0]
    assert not (tmp_path / "documents.jsonl").exists()


def test_missing_top_level_path_is_an_error(tmp_path: Path) -> None:
    """Regression (issue 8, case 10): a missing input gave a run that read nothing and exited 0."""
    result = run_cli("dedup", "-q", tmp_path / "nowhere.jsonl", "--out", tmp_path / "out", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == f"reprints: error: {tmp_path / 'nowhere.jsonl'}: no such file or folder"
    assert not (tmp_path / "out" / "documents.jsonl").exists()


def test_whole_folder_accounts_for_every_document(cases: dict[str, Path], tmp_path: Path) -> None:
    folder = next(iter(cases.values())).parent
    result = run_cli("dedup", "-q", folder, "--out", tmp_path, check=False)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    got = rows(tmp_path)
    assert len(got) == sum(len(expected) for expected in EXPECTED.values())
    assert len({row["id"] for row in got}) == len(got)
    unreadable = [row for row in got if str(row["reason"]).startswith("unreadable: ")]
    assert len(unreadable) == sum(1 for e in EXPECTED.values() for _, _, p in e if p == "unreadable: ")
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["unreadable"] == len(unreadable)
