"""The local engine's start: a run whose batches take the compiled kernels starts its workers at once, each
loading the kernels before its first batch, and loads its own in the background; a small run loads none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import SEEDS, requires_shared
from reprints.engines.local import LocalEngine
from reprints.kernels import worth_loading
from reprints.normalize import tokens


def _state(_: int) -> tuple[bool, int, int]:
    """In a worker: whether numba is loaded, the tokenizer's threshold for its kernel, and the worker."""
    from reprints.normalize import tokens

    return "numba" in sys.modules, tokens.COMPILED_FROM, os.getpid()


def test_a_warm_engine_starts_its_workers_with_the_kernels_loaded() -> None:
    with LocalEngine(2, warm=True) as engine:
        states = list(engine.map(_state, range(8)))
    assert all(loaded and threshold == 0 for loaded, threshold, _ in states)


def test_a_cold_engine_leaves_its_workers_to_load_the_kernels_when_a_batch_needs_them() -> None:
    with LocalEngine(2) as engine:
        states = list(engine.map(_state, range(8)))
    assert all(threshold == tokens.COMPILED_FROM for _, threshold, _ in states)


def test_a_run_loads_the_kernels_only_when_its_batches_are_long_enough_for_them() -> None:
    assert worth_loading(50_000_000, 1_000_000)
    assert not worth_loading(20_000, 1_000_000)  # a small input: one short batch
    assert not worth_loading(50_000_000, 10_000)  # many short batches: each tokenized without numba


@requires_shared
def test_a_small_run_never_imports_numba(tmp_path: Path) -> None:
    """The seeds (22 KB) are deduplicated without loading a kernel: what starting numba costs (a few hundred
    milliseconds; on the first run after installing, compiling) is paid only by runs it repays."""
    code = (
        "import sys, reprints; "
        f"reprints.dedup([{str(SEEDS)!r}], {str(tmp_path / 'out')!r}, workers=2); "
        "print('numba' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.strip() == "False"
