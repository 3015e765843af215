"""The local engine: a run whose batches take the compiled kernels starts its workers at once, each loading the
kernels before its first batch, and loads its own in the background (a small run loads none); large results
come back through files."""

from __future__ import annotations

import os
import pickle
import platform
import select
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from concurrent.futures.process import _ResultItem
from dataclasses import FrozenInstanceError, fields
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reprints
from conftest import SEEDS, requires_shared
from reprints.allocator import libc_function
from reprints.decide.keep import Verdict
from reprints.decide.links import _link_of
from reprints.engines import collector
from reprints.engines.local import LocalEngine
from reprints.engines.spill import Spilling, received, spill, unspill
from reprints.kernels import worth_loading
from reprints.normalize import tokens
from reprints.types import Document


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


def _refill_faults(size: int) -> tuple[int, int]:
    """In a process: the page faults of filling `size` fresh bytes, then of filling as many again once they are
    freed."""
    import resource

    def faults_of_filling() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        filled = bytearray(size)  # (malloc, then every byte written: no calloc, no huge pages)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        del filled
        return faults

    return faults_of_filling(), faults_of_filling()


REFILL = 24 << 20  # a large batch temporary: over glibc's first mmap thresholds, under `MMAP_THRESHOLD_MAX`


@pytest.mark.skipif(libc_function("mallopt") is None, reason="needs glibc's allocator (mallopt)")
def test_regression_workers_and_the_command_line_reuse_the_memory_their_last_batch_freed() -> None:
    """glibc served a batch's large temporaries with mappings of their own and unmapped them when freed (and gave
    back the heap's top), so every batch's arrays were new pages for the kernel to fault in and zero: 560,000 page
    faults in a run over the bulk corpus, a quarter of its CPU in the kernel. reprints' workers and its command
    line now have the allocator keep freed memory (`hold_freed_memory`): refilling freed memory takes almost
    no page faults. The command line's process is checked in a new interpreter, whose allocator no test touched."""
    with LocalEngine(2) as engine:
        workers = list(engine.map(_refill_faults, [REFILL] * 4))
    pages = REFILL // os.sysconf("SC_PAGE_SIZE")
    for fresh, refilled in [*workers, _refill_faults_in_a_new_interpreter(REFILL_AFTER_MAIN)]:
        assert refilled < pages // 20, (fresh, refilled, pages)


@pytest.mark.skipif(libc_function("mallopt") is None, reason="needs glibc's allocator (mallopt)")
def test_a_run_in_the_callers_process_leaves_its_allocator_as_it_found_it() -> None:
    """Only reprints' own processes keep freed memory (`hold_freed_memory`): a one-worker run of a program that
    imports reprints runs its batches in the program's process, whose allocator it leaves alone (there, refilling
    freed memory takes new pages as glibc's defaults have it). In a new interpreter, as above."""
    fresh, refilled = _refill_faults_in_a_new_interpreter(REFILL_IN_PROCESS)
    assert refilled > REFILL // os.sysconf("SC_PAGE_SIZE") // 2, (fresh, refilled)


def _refill_faults_in_a_new_interpreter(script: str) -> tuple[int, int]:
    """`_refill_faults(REFILL)` as `script` (which prints them last) reports it from a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", script.format(size=REFILL)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    assert done.returncode == 0, done.stderr
    fresh, refilled = map(int, done.stdout.split()[-2:])
    return fresh, refilled


REFILL_IN_PROCESS = """
from reprints.engines.local import LocalEngine
from test_engine import _refill_faults

with LocalEngine(1) as engine:
    print(*next(engine.map(_refill_faults, [{size}])))
"""


AFTER_MAIN = """
from reprints import cli

try:
    cli.main(["--version"])
except SystemExit:
    pass
"""

REFILL_AFTER_MAIN = (
    AFTER_MAIN
    + """
from test_engine import _refill_faults

print(*_refill_faults({size}))
"""
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="counts threads in /proc (Linux)")
def test_regression_the_command_line_starts_no_blas_threads() -> None:
    """NumPy's OpenBLAS started a thread per core when NumPy was imported, and they spun for about 0.1 s of CPU in
    the command line's process and in the workers' fork server, both starting on the same cores; reprints does no
    linear algebra. The command line now limits OpenBLAS to its calling thread, unless the user chose otherwise."""
    # The premise, that OpenBLAS starts threads when the user lets it, holds for NumPy's own wheels on a machine of
    # several cores; another build may use another library.
    starts_threads = (os.cpu_count() or 1) > 1 and "openblas" in np.__config__.CONFIG["Build Dependencies"]["blas"][
        "name"
    ]
    for chosen, threads in [(None, 1), ("2", 2)]:
        env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
        env.update({} if chosen is None else {"OPENBLAS_NUM_THREADS": chosen})
        done = subprocess.run([sys.executable, "-c", THREADS_AFTER_MAIN], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        if chosen is None or starts_threads:
            assert done.stdout.split()[-1] == str(threads), done.stdout


THREADS_AFTER_MAIN = (
    AFTER_MAIN
    + """
import numpy
print(open("/proc/self/status").read().split("Threads:")[1].split()[0])
"""
)


def _collector(_: int) -> tuple[int, int]:
    """In a worker: the garbage collector's youngest threshold and how many objects it holds frozen."""
    import gc

    return gc.get_threshold()[0], gc.get_freeze_count()


@pytest.mark.parametrize("warm", [True, False])
def test_workers_freeze_what_they_imported_and_collect_young_objects_less_often(warm: bool) -> None:
    with LocalEngine(2, warm=warm) as engine:
        states = list(engine.map(_collector, range(4)))
    assert all(young == collector.YOUNG and frozen > 10_000 for young, frozen in states)


def test_a_run_in_the_callers_process_leaves_its_collector_as_it_found_it(tmp_path: Path) -> None:
    import gc

    before = gc.get_threshold()
    inside: list[tuple[int, int]] = []
    with collector.settled():
        inside.append((gc.get_threshold()[0], gc.get_freeze_count()))
    assert inside[0][0] == collector.YOUNG and inside[0][1] > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    gc.freeze()  # a caller that froze objects of its own is left as it is
    try:
        frozen = gc.get_freeze_count()
        with collector.settled():
            assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    reprints.dedup([SEEDS], tmp_path / "out")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def server_maps_numba(_: int) -> bool:
    """In a worker: whether the process that forked it (the fork server) has numba's compiler library loaded."""
    return "llvmlite" in Path(f"/proc/{os.getppid()}/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("warm", [True, False])
def test_regression_a_warm_engine_loads_the_kernels_once_in_its_fork_server(warm: bool) -> None:
    """Each worker of a warm engine used to load the kernels itself (0.4 s of CPU each on the bulk corpus, every
    run): the fork server loads them once and forks its workers with them loaded. A cold engine's fork server
    never loads numba (a small run does not pay for it). In a new interpreter: the fork server is started once
    per process, with the modules of the first engine that starts it."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from reprints.engines.local import LocalEngine; from test_engine import server_maps_numba; "
        f"engine = LocalEngine(2, warm={warm}); engine.__enter__(); "
        "print(set(engine.map(server_maps_numba, range(4)))); engine.__exit__()"
    )
    tests = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, "-c", code, tests], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str({warm})


KERNEL_MODULES = (
    "reprints.normalize.tokens_kernel",
    "reprints.normalize.template_kernel",
    "reprints.fingerprint.table_kernel",
    "reprints.align.kernels",
    "reprints.normalize.boilerplate_kernel",
    "reprints.decide.keep_kernel",
    "reprints.index.packing_kernel",
    "reprints.index.postings_kernel",
)


def kernel_modules(_: int) -> list[str]:
    """In a worker: which of the kernel modules it has imported."""
    return [name for name in KERNEL_MODULES if name in sys.modules]


def test_a_warm_engine_loads_only_the_kernels_its_workers_call() -> None:
    """A `dedup` run's workers tokenize, fingerprint and align; boilerplate learning and deciding run in the main
    process and the index's kernels in no run. The fork server and the workers used to load every kernel (about
    50 ms before the first batch could start); now the workers' own. In a new interpreter (a fresh fork server)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from reprints.engines.local import LocalEngine; from test_engine import kernel_modules; "
        "engine = LocalEngine(2, warm=True); engine.__enter__(); "
        "print(sorted({name for names in engine.map(kernel_modules, range(4)) for name in names})); "
        "engine.__exit__()"
    )
    tests = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, "-c", code, tests], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted(KERNEL_MODULES[:4]))


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_importing_the_command_line_imports_neither_the_pipeline_nor_numpy() -> None:
    """`reprints.cli` (and the package) import the pipeline only when a command needs it, so that `dedup` can
    start its workers' fork server first (`reprints.engines.server`); nor what only some commands or failures
    need (the output encoder, SQLite, the process pool's errors: 40 ms of every start). In a new interpreter."""
    later = {"reprints.pipeline", "numpy", "reprints.io.writers", "sqlite3", "concurrent.futures.process"}
    code = f"import sys, reprints.cli; print(sorted(set({sorted(later)!r}) & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("given", ["file", "folder"])
def test_dedup_on_files_starts_the_fork_server_before_importing_the_pipeline(tmp_path: Path, given: str) -> None:
    """The fork server of a run with workers took about 0.7 s to import and load the kernels, while the run
    waited: on files (whose size tells the pipeline's choices) `dedup` starts it before it imports the pipeline,
    or NumPy (60 ms more, to decide whether the run loads the kernels: `worth_loading` needs no NumPy), for a warm
    run here (a 2-worker run over more than one batch's worth of kernels), and the engine uses that
    server rather than starting another. On a folder the engine starts it, as before. In a new interpreter (one
    fork server per process)."""
    source = EXAMPLES / "news" / "docs.jsonl"
    inputs = str(source if given == "file" else source.parent)
    args = ["dedup", inputs, "--out", str(tmp_path / "out"), "--workers", "2"]
    code = f"""
import sys
import threading
import time
import tracemalloc
import multiprocessing.forkserver as forkserver
from reprints import cli
from reprints.engines import server
calls = []
start_early = server.start_early
def recording(warm):
    numpy = "numpy" in sys.modules
    start_early(warm)
    calls.append((warm, numpy, "reprints.pipeline" in sys.modules, forkserver._forkserver._forkserver_pid))
server.start_early = recording
cli.cli.main({[*args, "-q"]!r}, standalone_mode=False)
print(calls == [(True, False, False, forkserver._forkserver._forkserver_pid)] if calls else "none")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("True" if given == "file" else "none")
    assert (tmp_path / "out" / "summary.json").exists()


@pytest.mark.parametrize(
    ("failure", "says", "status"),
    [
        ("sqlite3.DatabaseError('file is not a database')", "database cannot be read (file is not a database)", 1),
        ("BrokenProcessPool('gone')", "a worker process died (killed, or out of memory", 1),
        ("MemoryError()", "out of memory; try a smaller --batch-chars; run the same command again with --resume", 1),
        ("OSError(errno.ENOSPC, 'No space left on device', 'out/x')", "No space left on device: out/x; free some", 1),
        ("ValueError('a defect')", "Traceback", 1),
    ],
)
def test_failures_the_command_line_knows_end_in_one_line_and_others_show_their_traceback(
    failure: str, says: str, status: int
) -> None:
    """`main` turns a damaged index, a dead worker, no memory and a system error into one line (their kinds are
    imported only when one happens: `reprints.cli._fail`); any other exception is a defect and keeps its
    traceback. In a new interpreter, with the command raising the failure."""
    code = f"""
import errno, sqlite3, sys
from concurrent.futures.process import BrokenProcessPool
from unittest import mock
from reprints import cli
with mock.patch.object(cli.cli, "main", side_effect={failure}):
    cli.main(["dedup", "in.jsonl", "--out", "out"])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == status
    assert says in done.stderr
    if "Traceback" not in says:
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("reprints: error: "), done.stderr


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


def _result(task: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, str, dict[str, int]]:
    """In a worker: a result of arrays of several dtypes (one not contiguous), text and numbers, as large as
    asked."""
    size, seed = task
    values = np.random.default_rng(seed).integers(0, 2**62, size=size, dtype=np.int64)
    return values, values.astype(np.uint8)[::3], "é" * (size // 7), {"seed": seed}


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 10, 50_000, 400_000]), st.integers(0, 1000)), max_size=6))
def test_results_handed_over_through_files_equal_those_sent_through_the_pipe(
    tmp_path_factory: pytest.TempPathFactory, tasks: list[tuple[int, int]]
) -> None:
    """Large results come back through files (`reprints.engines.spill`), small ones through the pipe: either way
    equal to the task's own result, in order, arrays writable and aligned; no file is left behind."""
    folder = tmp_path_factory.mktemp("results")
    with LocalEngine(2, results=folder) as engine:
        got = list(engine.map(_result, tasks))
    assert len(got) == len(tasks)
    for (values, bytes_, text, numbers), task in zip(got, tasks, strict=True):
        expected = _result(task)
        assert np.array_equal(values, expected[0]) and values.dtype == expected[0].dtype
        assert np.array_equal(bytes_, expected[1]) and text == expected[2] and numbers == expected[3]
        assert values.flags.writeable and values.flags.aligned
    assert list(folder.iterdir()) == []


def test_a_map_stopped_early_leaves_no_result_file(tmp_path: Path) -> None:
    with LocalEngine(2, results=tmp_path) as engine:
        results = engine.map(_result, [(400_000, seed) for seed in range(8)])
        first = next(results)
        results.close()  # the caller stops taking results: those done or under way are not kept
    assert len(first[0]) == 400_000
    assert list(tmp_path.iterdir()) == []


def test_regression_maps_stopped_early_leave_no_result_file_from_a_task_still_running(tmp_path: Path) -> None:
    """A task still running when its map was stopped could write its result file while the map removed its folder
    (about one run in sixteen of the test above): the folder stayed, with the file. A running task's file is now
    deleted when it ends, and the folder with it. Many maps, so that the timing comes up."""
    with LocalEngine(2, results=tmp_path) as engine:
        for round_ in range(24):
            results = engine.map(_result, [(200_000 + 1000 * round_, seed) for seed in range(6)])
            next(results)
            results.close()
    assert list(tmp_path.iterdir()) == []


def test_spilled_values_read_back_equal(tmp_path: Path) -> None:
    value = _result((123_457, 3))
    path = spill(value, tmp_path)
    back = unspill(path)
    assert not path.exists()
    assert all(np.array_equal(a, b) for a, b in zip(back[:2], value[:2], strict=True)) and back[2:] == value[2:]
    cut = spill(value, tmp_path)
    cut.write_bytes(cut.read_bytes()[:-1000])
    with pytest.raises(OSError, match="shorter than it says"):
        unspill(cut)
    assert not cut.exists()


def _traced(command: list[str], env: dict[str, str] | None = None) -> str:
    """What a command prints (both streams) with numba tracing its disk cache (`NUMBA_DEBUG_CACHE`)."""
    env = {**os.environ, **(env or {}), "NUMBA_DEBUG_CACHE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=600)
    return done.stdout + done.stderr


def _assert_compiled_nothing(output: str) -> None:
    """A process traced by `_traced` loaded kernels from the cache and saved none (it compiled nothing)."""
    assert "data loaded" in output
    assert "saved" not in output, [line for line in output.splitlines() if "saved" in line]


def test_regression_every_kernel_loads_from_the_disk_cache_in_a_new_process() -> None:
    """Regression: a kernel that called another kernel held in a closure (the match table, once it called the
    kernels' shared merge sort) missed numba's disk cache in every new process, so each worker compiled it again
    on every run (1.5 s of each worker's start, unseen by the results). Once a process has loaded (or compiled)
    every kernel, another process loads every one of them and compiles none."""
    script = (
        "import numpy as np\n"
        "from reprints import kernels\n"
        "from reprints.fingerprint.shingles import focused_match_table\n"
        "kernels.prefer_compiled()\n"
        "kernels.load_main_process()\n"
        "focused_match_table(np.arange(40, dtype=np.uint64), np.array([0, 20, 40]), 3)\n"
    )
    _traced([sys.executable, "-c", script])  # loads, or compiles and saves, every kernel
    _assert_compiled_nothing(_traced([sys.executable, "-c", script]))


def test_regression_a_short_first_run_leaves_every_kernel_cached(tmp_path: Path) -> None:
    """Regression: a run large enough to load the kernels loads them in a background thread; on the first run
    after installing that thread compiles them, and a run shorter than the compilation ended before the thread
    had written them to numba's cache, so every later run began compiling again in the background (the shipped
    examples took 1.9 s instead of 1.3). The run now waits for the thread: after one run, a second compiles
    nothing."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def run(out: str) -> str:
        return _traced([sys.executable, "-m", "reprints", "dedup", str(examples), "--out", str(tmp_path / out)], env)

    assert "saved" in run("first")  # an empty cache: the kernels are compiled and written
    _assert_compiled_nothing(run("again"))


_values = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=20))


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(st.sampled_from(["keep", "trim", "drop"]), st.text(max_size=30), st.none() | st.integers(0, 2**40)),
    st.lists(st.tuples(*[st.integers(0, 2**31)] * 5).map(tuple), max_size=4).map(tuple),
    st.tuples(st.integers(0, 2**40), st.integers(0, 2**40), st.floats(0, 1), st.floats(0, 1), st.binary(max_size=64)),
    st.tuples(st.text(max_size=20), st.text(max_size=200), st.integers(0, 2**40)),
    st.dictionaries(st.text(max_size=8), _values, max_size=4),
    st.none() | st.text(max_size=30),
)
def test_what_tasks_carry_to_workers_pickles_to_equal_objects(
    verdict: tuple[Any, ...],
    removed: tuple[Any, ...],
    link: tuple[Any, ...],
    document: tuple[Any, ...],
    metadata: dict[str, Any],
    error: str | None,
) -> None:
    """Verdicts, links and documents (pickled as tuples of their fields: `reprints.types.pickled_as_tuples`) come
    back from pickling equal, of their own class, every field in its place, and still frozen."""
    objects = [
        Verdict(*verdict, removed),
        _link_of(link[0], link[1], "partial", *link[2:]),
        Document(*document, metadata, error),
    ]
    for item in objects:
        back = pickle.loads(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        assert type(back) is type(item) and back == item
        assert [getattr(back, f.name) for f in fields(item)] == [getattr(item, f.name) for f in fields(item)]
        with pytest.raises(FrozenInstanceError):
            setattr(back, fields(item)[0].name, None)


_WRITE = {"x86_64": 1, "aarch64": 64}.get(platform.machine())  # the write() system call's number


def _killed_while_handing_over(size: int) -> bytes:
    """In a worker: a result of `size` bytes, handed over while a thread of the worker watches the main thread and
    kills the worker (SIGKILL) the moment it is seen inside a write() (`/proc/self/task/ID/syscall`: the system
    call a blocked thread is in, its number first). A write to a pipe is seen when it waits for the reader: a
    result longer than the pipe holds always is."""
    main = threading.get_native_id()

    def kill_when_writing() -> None:
        while Path(f"/proc/self/task/{main}/syscall").read_text(encoding="ascii").split()[0] != str(_WRITE):
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=kill_when_writing, daemon=True).start()
    return bytes(size)


_KILLED_WHILE_HANDING_OVER = """
import sys
sys.path.insert(0, {tests!r})
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from reprints.engines import collector
from reprints.engines.local import LocalEngine
from test_engine import _killed_while_handing_over
results = None if {folder!r} is None else Path({folder!r})
with LocalEngine(2, results=results) as engine:
    try:
        print(*map(len, engine.map(_killed_while_handing_over, [{size}])))
    except BrokenProcessPool:
        print("broken")
"""


@pytest.mark.skipif(_WRITE is None, reason="the write() system call's number is known for x86_64 and aarch64 only")
@pytest.mark.parametrize("size", [900 << 10, 8 << 20])
@pytest.mark.parametrize("files", [True, False])
def test_regression_a_worker_killed_while_handing_over_its_result_breaks_the_pool_instead_of_hanging_it(
    tmp_path: Path, size: int, files: bool
) -> None:
    """Regression: a worker killed while writing its result to the pool's pipe left part of a message there, and
    the pool's reader waited for the rest forever: the run hung instead of ending with "a worker process died"
    (`test_case5_killed_worker_is_one_line` hung in about one run in eight). Every message a worker writes to the
    pipe is now short enough to be written whole by one write (`reprints.engines.spill.SPILL_FROM`), larger
    results going through files, also for an engine given no folder for them. A worker killed the moment it is
    seen writing, with results of 900 KB (through the pipe before, even with a folder) and 8 MB (through a file
    with a folder), in a new interpreter: the map ends with the pool broken, or with the result if the worker
    was never seen writing (the file written, and the pipe's short message, without waiting)."""
    code = _KILLED_WHILE_HANDING_OVER.format(
        tests=str(Path(__file__).parent), folder=str(tmp_path) if files else None, size=size
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the map hung after its worker was killed")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("broken", str(size))
    if files:
        assert list(tmp_path.iterdir()) == []


class _Unpicklable(Exception):
    """An exception that cannot be pickled (it holds a lock)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def _outcome(task: tuple[str, int]) -> Any:
    """A task's outcome as asked: a result of `size` bytes, or a failure whose message is that long."""
    kind, size = task
    if kind == "bytes":
        return bytes(size)
    if kind == "array":
        return np.arange(size // 8, dtype=np.int64)
    if kind == "unpicklable":
        raise _Unpicklable("é" * size)
    raise ValueError("é" * size)


@settings(max_examples=60, deadline=None)
@given(st.tuples(st.sampled_from(["bytes", "array", "error", "unpicklable"]), st.integers(0, 20_000)))
def test_what_a_worker_writes_to_the_pipe_is_written_whole_by_one_write(
    tmp_path_factory: pytest.TempPathFactory, task: tuple[str, int]
) -> None:
    """The rule behind the regression above: whatever a task returns or raises, what a worker sends through the
    pool's pipe for it, wrapped as the pool wraps it, is at most PIPE_BUF bytes (a pipe write that long is never
    cut in half), and `received` gives back the result, or raises the failure with its traceback in the worker as
    its cause."""
    folder = tmp_path_factory.mktemp("results")
    handed = Spilling(_outcome, folder)(task)
    assert len(ForkingPickler.dumps(_ResultItem(2**62, result=handed))) <= select.PIPE_BUF
    kind, size = task
    if kind in ("bytes", "array"):
        back = received(handed)
        assert len(back) == size if kind == "bytes" else np.array_equal(back, _outcome(task))
    else:
        with pytest.raises(ValueError if kind == "error" else RuntimeError) as raised:
            received(handed)
        assert ("é" * size) in str(raised.value)
        assert "_outcome" in str(raised.value.__cause__)  # the worker's traceback
    assert list(folder.iterdir()) == []


def test_regression_an_array_kept_from_a_result_keeps_only_its_own_bytes(tmp_path: Path) -> None:
    """Regression: arrays read back from a result file were views of one buffer holding the whole result, so an
    array the caller kept (the reading pass keeps each batch's per-document hashes and token counts) kept all of
    it: once every result went through a file, the main process grew 227 -> 904 MB in the first stage of the
    640,000-document run (peak 1,245 MB against 1,011). Each array now has a buffer of its own."""
    large, small = np.arange(2_000_000, dtype=np.int64), np.arange(100, dtype=np.uint64)
    path = spill({"large": large, "small": small, "text": "é" * 1000}, tmp_path)
    tracemalloc.start()
    try:
        value = unspill(path)
        kept = value["small"]
        del value
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(kept, small) and kept.flags.writeable
    assert retained < 1 << 20, f"{retained:,} bytes kept for an array of {kept.nbytes:,}"


_KILLED_WITH_ITS_OWN_FOLDER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from reprints.engines import collector
from reprints.engines.local import LocalEngine
from test_engine import _result
engine = LocalEngine(2).__enter__()
print(len(list(engine.map(_result, [(400_000, 1)]))[0][0]), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_regression_a_results_folder_left_by_a_killed_process_is_removed_by_the_next_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: an engine given no folder for its results (`index add` with workers) makes one in the temporary
    folder and removes it as it ends; a process killed outright (SIGKILL) left it there for good. The next engine
    that makes a folder of its own removes those of processes no longer running, once unchanged for a while, and
    leaves the others (a live process's; a recent one's)."""
    from reprints.engines.local import ORPHANED_AFTER, OWN_RESULTS

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    code = _KILLED_WITH_ITS_OWN_FOLDER.format(tests=str(Path(__file__).parent))
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL and killed.stdout.strip() == "400000", killed.stderr
    left = [path for path in tmp_path.iterdir() if path.name.startswith(OWN_RESULTS)]
    assert len(left) == 1
    with LocalEngine(2):  # changed a moment ago: perhaps a process this one cannot see, left for now
        assert left[0].is_dir()
    live = tmp_path / f"{OWN_RESULTS}{os.getpid()}-kept"
    live.mkdir()
    long_ago = time.time() - ORPHANED_AFTER - 60
    for path in (left[0], *left[0].iterdir(), live):
        os.utime(path, (long_ago, long_ago))
    with LocalEngine(2) as engine:
        assert [len(result[0]) for result in engine.map(_result, [(10, 2)])] == [10]
        assert not left[0].exists() and live.is_dir()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(OWN_RESULTS)] == [live.name]
