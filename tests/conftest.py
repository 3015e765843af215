"""Shared fixtures: where the shared data lives, a helper to run the real CLI, and tokens packed as index formats
before 5 stored them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from reprints.fingerprint.corpus import TokenBatch
from reprints.index.packing import FIXED_LINE_FIELDS, FIXED_TOKEN_FIELDS

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("REPRINTS_SHARED", ROOT.parent / "shared"))
SEEDS = SHARED / "seeds"
SEED_A = SEEDS / "000_e2f354f9623a9739.txt"
SEED_B = SEEDS / "001_d325479854c835f8.txt"
DATA = SHARED / "data"
WIRECOPY = DATA / "wirecopy-dev"
GOLDEN = Path(__file__).parent / "golden"
EXAMPLE_NEWS = ROOT / "examples" / "news" / "docs.jsonl"  # 300 real articles and copies, shipped with the project


def news_texts() -> list[str]:
    """The texts of the shipped news examples (`EXAMPLE_NEWS`), in file order: real text for generated corpora."""
    return [json.loads(line)["text"] for line in EXAMPLE_NEWS.read_text(encoding="utf-8").splitlines()]


SHARED_PRESENT = SEED_A.exists() and WIRECOPY.exists()
SKIP_REASON = f"needs the shared data at {SHARED} (check out ../shared beside the project or set REPRINTS_SHARED)"
requires_shared = pytest.mark.skipif(not SHARED_PRESENT, reason=SKIP_REASON)
# Test modules that use only data they generate themselves run everywhere; the others need ../shared.
SELF_CONTAINED = {
    "test_align",
    "test_candidates",
    "test_decide",
    "test_fingerprint",
    "test_index",
    "test_normalize",
    "test_report",
    "test_service",
    "test_sieve",
    "test_browser",
    "test_web",
    "test_spark",  # its tests of shared data skip by themselves
    "test_write_workers",  # likewise
}


@pytest.fixture(autouse=True)
def _kernel_thresholds_restored() -> Iterator[None]:
    """Each test starts from the library's own thresholds for taking the compiled kernels. `prefer_compiled`
    (what a server process, or an in-process one-worker run of a large input, calls) lasts for the process by
    design; in a test process it changed which path every later test's small batches took, and two engine tests
    failed after such a run. Restored after each test, with the loaders' memory of having run."""
    from reprints import kernels
    from reprints.decide import keep

    modules = (*kernels._staged(), keep)
    saved = [(module, module.COMPILED_FROM) for module in modules]
    yield
    for module, threshold in saved:
        module.COMPILED_FROM = threshold
    for loader in (kernels.prefer_compiled, kernels.prefer_compiled_alone, kernels.prefer_compiled_worker):
        loader.cache_clear()
    kernels.load_main_process.cache_clear()


# A longer hunt: every property test tries this many times its own number of examples (`REPRINTS_HUNT=10`).
HUNT = float(os.environ.get("REPRINTS_HUNT", "1"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HUNT != 1:
        for item in items:
            _hunt_longer(item, HUNT)
    if SHARED_PRESENT:
        return
    for item in items:
        if item.module is not None and item.module.__name__ not in SELF_CONTAINED:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def _hunt_longer(item: pytest.Item, scale: float) -> None:
    """A property test of `item` set to try `scale` times its examples (its other settings kept)."""
    test = getattr(item, "obj", None)
    current = getattr(test, "_hypothesis_internal_use_settings", None)
    if test is None or current is None or not hasattr(test, "hypothesis"):
        return
    test._hypothesis_internal_use_settings = settings(
        parent=current, max_examples=max(1, round(current.max_examples * scale))
    )


def run_cli(*args: str | Path, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m reprints ARGS` in a subprocess, as a user would (`input_text` on its stdin)."""
    result = subprocess.run(
        [sys.executable, "-m", "reprints", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        input=input_text,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"reprints {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def _namespace_or_skip(folder: Path) -> None:
    """Skip the test where this machine allows no user and mount namespace (`unshare -rm`) with a mount in it."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$0"', str(folder)]
    try:
        possible = subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except OSError:
        possible = False
    if not possible:
        pytest.skip("needs `unshare -rm` and a mount in a user namespace (not allowed on this machine)")


def small_disk(folder: Path, megabytes: int) -> list[str]:
    """The start of a command line that runs its command with a disk of `megabytes` (tmpfs) mounted at `folder`,
    in a user and mount namespace of its own (no root needed; the mount goes with the command). The test is
    skipped where this machine allows no such namespace. Its shell's `$0` is `folder`: append `sh -c SCRIPT`'s
    script, which may remount it (`mount -o remount,ro "$0"`)."""
    _namespace_or_skip(folder)
    return ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size={megabytes}m tmpfs "$0" && exec "$@"', str(folder)]


def read_only(folder: Path) -> list[str]:
    """The start of a command line that runs its command with `folder` (and what it holds) read-only, as on a
    read-only disk, for that command alone (a read-only bind mount in a user and mount namespace; skipped as
    `small_disk`). Append the command."""
    _namespace_or_skip(folder.parent / f".{folder.name}.probe")
    remount = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'
    return ["unshare", "-rm", "sh", "-c", remount, str(folder)]


def fixed_widths(batch: TokenBatch, template: np.ndarray, *, marked: bool = True) -> list[bytes]:
    """The documents of `batch` packed as before format 5 (fixed widths; before format 3, without marks)."""
    tokens = np.concatenate(([0], np.cumsum(batch.token_counts)))
    lines = np.searchsorted(batch.line_docs, np.arange(len(batch.token_counts) + 1))
    return [
        b"".join(
            [
                getattr(batch, name)[tokens[doc] : tokens[doc + 1]].astype(kind).tobytes()
                for name, kind in FIXED_TOKEN_FIELDS
            ]
            + [
                getattr(batch, name)[lines[doc] : lines[doc + 1]].astype(kind).tobytes()
                for name, kind in FIXED_LINE_FIELDS
            ]
            + ([np.packbits(template[tokens[doc] : tokens[doc + 1]]).tobytes()] if marked else [])
        )
        for doc in range(len(batch.token_counts))
    ]
