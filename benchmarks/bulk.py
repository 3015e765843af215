"""Time `reprints dedup` on the bulk corpus: median wall time of N runs, peak memory of the process tree.

    python benchmarks/bulk.py [--runs 3] [--workers 1 2] [--shared ../shared]

Prints one row per worker count: median wall seconds, documents/s, MB/s, peak RSS (main process plus
workers, sampled every 50 ms), CPU seconds, and the per-stage timings of the median run (from summary.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

BULK = ["reuters21578.jsonl.gz", "bbc.jsonl.gz", "20newsgroups.jsonl.gz", "wirecopy-dev/docs.jsonl"]


def bulk_inputs(shared: Path) -> list[Path]:
    """The four corpora of the bulk benchmark."""
    return [shared / "data" / name for name in BULK]


def measure(command: list[str]) -> dict[str, float]:
    """Run a command; return wall seconds, peak RSS of its process tree (MB) and CPU seconds."""
    began = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, cpu = 0, {}
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
            for p in tree:
                times = p.cpu_times()
                cpu[p.pid] = times.user + times.system
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - began
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode() if process.stderr else ''}")
    return {"wall": wall, "peak_mb": peak / 2**20, "cpu": sum(cpu.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    inputs = bulk_inputs(args.shared)
    megabytes = sum(p.stat().st_size for p in inputs) / 1e6
    print(f"bulk corpus: {megabytes:.1f} MB on disk, {args.runs} runs each")
    print(f"{'workers':>7} {'wall s':>8} {'docs/s':>8} {'MB/s':>6} {'peak MB':>8} {'CPU s':>6}  stages (median run)")
    for workers in args.workers:
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as out:
                command = [
                    sys.executable,
                    "-m",
                    "reprints",
                    "dedup",
                    "-q",
                    *map(str, inputs),
                    "--out",
                    out,
                    "--workers",
                    str(workers),
                ]
                result = measure(command)
                summary = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
                result["documents"] = summary["documents"]
                result["stages"] = summary["timings_seconds"]
                runs.append(result)
        median = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
        wall = statistics.median(r["wall"] for r in runs)
        peak = max(r["peak_mb"] for r in runs)
        stages = ", ".join(f"{k} {v:.1f}" for k, v in median["stages"].items() if k != "total")
        print(
            f"{workers:>7} {wall:>8.1f} {median['documents'] / wall:>8.0f} {megabytes / wall:>6.2f} {peak:>8.0f} "
            f"{median['cpu']:>6.1f}  {stages}"
        )


if __name__ == "__main__":
    main()
