"""Run a command and measure it: wall time, peak RSS of its whole process tree, CPU seconds.

Linux only and dependency-free (so `run.py --quick` works in a bare CI environment): the process tree is found by
scanning `/proc/*/stat` for parent ids every 50 ms, as psutil does. CPU time is the larger of `os.wait4`'s count (the
child and every descendant it reaped) and the sum of each tree member's own CPU time as last sampled (which catches
workers their parent never reaps, as under a forkserver; it misses at most their last 50 ms).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measurement:
    """One run of a command."""

    wall: float
    peak_mb: float
    cpu: float


def _parents() -> dict[int, int]:
    """Map every live pid to its parent pid."""
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def _rss_bytes(pid: int) -> int:
    """Resident set size of one process, 0 if it is gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def _own_cpu_ticks(pid: int) -> int:
    """User plus system clock ticks a process has used itself, 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def process_tree(root: int) -> set[int]:
    """A process and all its live descendants."""
    parents = _parents()
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return tree


def measure(command: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Measurement:
    """Run a command to completion; raise RuntimeError with its stderr tail if it fails."""
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.monotonic_ns()}.log"
    with open(log, "wb") as stderr:
        began = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=cwd)
        peak, ticks = 0, {}
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            tree = process_tree(process.pid)
            peak = max(peak, sum(_rss_bytes(member) for member in tree))
            ticks.update({member: _own_cpu_ticks(member) for member in tree})
            time.sleep(0.05)
        wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    tail = log.read_text(errors="replace")[-3000:]
    log.unlink()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{tail}")
    sampled = sum(ticks.values()) / CLOCK_TICKS
    return Measurement(wall=wall, peak_mb=peak / 2**20, cpu=max(sampled, usage.ru_utime + usage.ru_stime))


def median_of(runs: Sequence[Measurement]) -> Measurement:
    """Median wall time and CPU seconds, and the largest peak, over repeated runs."""
    return Measurement(
        wall=statistics.median(r.wall for r in runs),
        peak_mb=max(r.peak_mb for r in runs),
        cpu=statistics.median(r.cpu for r in runs),
    )
