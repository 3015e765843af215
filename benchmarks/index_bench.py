"""The index and the service under load: indexing speed, query latency with concurrent clients, server memory.

    python3 benchmarks/index_bench.py [--clients 8] [--queries 800] [--server-workers 1,2] [--rounds 3] [--write-report]

1. `reprints index add` of the bulk corpus (Reuters-21578, BBC, 20 Newsgroups, wirecopy-dev: the corpus of
   run.py's speed table) into a fresh index: documents per second, peak memory of the process tree.
2. `reprints serve --workers N` on that index, for each N of `--server-workers`; another process drives
   `--clients` concurrent clients (threads with keep-alive connections) posting `--queries` queries, each a
   different article of about 1,000 words (900 to 1,100) from the corpus: latency percentiles measured by the
   clients, end to end.
3. The server's peak resident memory after the load: the sum of its processes' peaks (VmHWM).
4. The same load again for each N of `--mapped-workers` (2), the server reading its index through a mapping of the
   file (`--mapped-mb 1024`), beside the default (nothing mapped).

Each measure runs `--rounds` times (3: the machine is shared and noisy) and its median is reported, with each
run's indexing time and p50. `--baseline SRC --label COMMIT` measures another source tree of reprints the same
way (saved apart); the report then compares with it, since absolute figures move with the machine's load.

Results go to benchmarks/.work/index/results.json; `--write-report` puts them in BENCHMARKS.md (a section that
run.py keeps). Targets (issue "An index that remembers"): at least 5,000 documents/s indexed; p50 at most 20 ms
and p99 at most 100 ms; server memory at most 500 MB.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WORD = re.compile(r"\w+")
MAPPED_MB = 1024  # what the rows measured with the index file mapped map (`reprints serve --mapped-mb`)


def client(url: str, texts_path: Path, clients: int, queries: int) -> None:
    """Run in its own process: `clients` threads post the queries; prints the latencies (seconds) as JSON."""
    texts = json.loads(texts_path.read_text(encoding="utf-8"))
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(queries))

    def work() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        for number in counter:
            body = json.dumps({"text": texts[number % len(texts)]})
            began = time.perf_counter()
            connection.request("POST", "/query", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
                if response.status != 200 or not json.loads(payload)["matches"]:
                    errors.append(f"{response.status}: {payload[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    print(json.dumps({"latencies": latencies, "errors": errors, "wall": wall}))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tree_files(pid: int, name: str) -> Iterator[str]:
    """The text of /proc/PID/`name` of a process and of each of its children (those still there)."""
    from measure import process_tree

    for member in process_tree(pid):
        try:
            yield Path(f"/proc/{member}/{name}").read_text()
        except OSError:
            continue


def peak_rss_mb(pid: int) -> float:
    """The sum of the peak resident memory (VmHWM) of a process and its children (the server processes)."""
    return sum(
        int(line.split()[1]) / 1024
        for status in _tree_files(pid, "status")
        for line in status.splitlines()
        if line.startswith("VmHWM:")
    )


def resident_without_mb(pid: int, mapped: Path) -> float:
    """The sum of the resident memory of a process and its children, less the pages of the file `mapped` they
    map (an index file mapped by `reprints serve`: pages of the OS file cache, shared)."""
    total = 0.0
    for smaps in _tree_files(pid, "smaps"):
        current = ""
        for line in smaps.splitlines():
            if line.startswith("Rss:"):
                if current != str(mapped):
                    total += int(line.split()[1]) / 1024
            elif not line[:1].isupper():  # a mapping's header: address range, permissions, ..., path
                parts = line.split(None, 5)
                current = parts[5] if len(parts) == 6 else ""
    return total


class ResidentPeak:
    """Samples `resident_without_mb(pid, mapped)` every `every` seconds on a thread while in its block; `.peak` is
    the largest."""

    def __init__(self, pid: int, mapped: Path, every: float = 0.5) -> None:
        self.pid, self.mapped, self.every, self.peak = pid, mapped, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, resident_without_mb(self.pid, self.mapped))
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> ResidentPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(
    shared: Path,
    clients: int,
    queries: int,
    server_workers: list[int],
    rounds: int = 3,
    mapped: list[int] | None = None,
) -> dict[str, Any]:
    from measure import measure
    from run import prepare, read_rows, reprints_python

    work = HERE / ".work" / "index"
    work.mkdir(parents=True, exist_ok=True)
    bulk = prepare(shared, work / "data", None)["bulk"]
    rows = read_rows(bulk)
    python = reprints_python()
    index = work / "bulk-index"
    shutil.rmtree(index, ignore_errors=True)
    adds = []
    for round_ in range(rounds):  # the machine is shared: the median of a few runs
        print(f"indexing {len(rows):,} documents ({round_ + 1}/{rounds})", file=sys.stderr, flush=True)
        shutil.rmtree(index, ignore_errors=True)
        adds.append(measure([python, "-m", "reprints", "index", "add", "-q", "--index", str(index), str(bulk)]))
    added = sorted(adds, key=lambda run: run.wall)[len(adds) // 2]
    size = sum(path.stat().st_size for path in index.iterdir())
    articles = [row["text"] for row in rows if 900 <= len(WORD.findall(row["text"])) <= 1100]
    texts_path = work / "queries.json"
    texts_path.write_text(json.dumps(articles[:400]), encoding="utf-8")
    serving = [
        serve_and_load(python, index, texts_path, clients, queries, workers, rounds) for workers in server_workers
    ] + [
        serve_and_load(python, index, texts_path, clients, queries, workers, rounds, mapped_mb=MAPPED_MB)
        for workers in mapped or []
    ]
    return {
        "documents": len(rows),
        "megabytes": bulk.stat().st_size / 1e6,
        "rounds": rounds,
        "index_seconds_runs": [run.wall for run in adds],
        "index_seconds": added.wall,
        "index_docs_per_second": len(rows) / added.wall,
        "index_peak_mb": added.peak_mb,
        "index_cpu": added.cpu,
        "index_bytes": size,
        "query_words": "900-1,100",
        "query_texts": min(len(articles), 400),
        "clients": clients,
        "serving": serving,
        "machine": f"{os.cpu_count()} cores",
    }


def serve_and_load(
    python: str,
    index: Path,
    texts_path: Path,
    clients: int,
    queries: int,
    workers: int,
    rounds: int,
    mapped_mb: int | None = None,
) -> dict[str, Any]:
    """`reprints serve --workers N` on the index (with `--mapped-mb` when given), warmed, then `rounds` times: one
    client alone, then `clients` at once. Each figure is the median of the rounds' figures."""
    port = free_port()
    mapping = [] if mapped_mb is None else ["--mapped-mb", str(mapped_mb)]
    server = subprocess.Popen(
        [
            python,
            "-m",
            "reprints",
            "serve",
            "--index",
            str(index),
            "--port",
            str(port),
            "--workers",
            str(workers),
            *mapping,
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        time.sleep(1)  # every server process started
        idle_mb = peak_rss_mb(server.pid)
        warm = [sys.executable, __file__, "--client", url, "--texts", str(texts_path), "--clients", str(2 * workers)]
        subprocess.run([*warm, "--queries", "50"], check=True, capture_output=True)
        alone = [sys.executable, __file__, "--client", url, "--texts", str(texts_path), "--clients", "1"]
        command = [sys.executable, __file__, "--client", url, "--texts", str(texts_path), "--clients", str(clients)]
        figures: list[dict[str, float]] = []
        errors: list[str] = []
        with ResidentPeak(server.pid, (index / "index.sqlite").resolve()) as without:  # through the load runs
            for _ in range(rounds):
                alone_run = subprocess.run([*alone, "--queries", "200"], check=True, capture_output=True)
                single = json.loads(alone_run.stdout)
                result = subprocess.run(
                    [*command, "--queries", str(queries)], check=True, capture_output=True, text=True
                )
                load = json.loads(result.stdout)
                latencies = load["latencies"]
                errors += load["errors"]
                figures.append(
                    {
                        "queries": len(latencies),
                        "single_client_p50_ms": 1000 * statistics.median(single["latencies"]),
                        "single_client_p99_ms": 1000 * percentile(single["latencies"], 0.99),
                        "p50_ms": 1000 * statistics.median(latencies),
                        "p90_ms": 1000 * percentile(latencies, 0.90),
                        "p99_ms": 1000 * percentile(latencies, 0.99),
                        "max_ms": 1000 * max(latencies),
                        "queries_per_second": len(latencies) / load["wall"],
                    }
                )
        server_mb = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    return {
        "workers": workers,
        "mapped_mb": mapped_mb,
        **{name: statistics.median(f[name] for f in figures) for name in figures[0]},
        "p50_ms_runs": [f["p50_ms"] for f in figures],
        "errors": errors[:5],
        "server_idle_mb": idle_mb,
        "server_peak_mb": server_mb,
        "server_unmapped_peak_mb": without.peak,
    }


def _unmapped(serving: dict[str, Any]) -> str:
    """A serving row's peak resident memory without the mapped index file (not measured before it was added)."""
    value = serving.get("server_unmapped_peak_mb")
    return "not measured" if value is None else f"{value:,.0f} MB"


def _runs(values: list[float], unit: str) -> str:
    return ", ".join(f"{value:.1f}" for value in values) + f" {unit}" if values else "one run"


def _default_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The serving rows measured as the server serves by default (no `--mapped-mb` given)."""
    return [s for s in result["serving"] if s.get("mapped_mb") is None]


def _processes(serving: dict[str, Any]) -> str:
    mapped = serving.get("mapped_mb")
    return f"{serving['workers']}" + ("" if mapped is None else f" (`--mapped-mb {mapped}`)")


def _mapped_lines(result: dict[str, Any]) -> list[str]:
    """The fastest row measured with the index file mapped (`--mapped-mb`), beside the default's."""
    rows = [s for s in result["serving"] if s.get("mapped_mb")]
    if not rows:
        return []
    best = min(rows, key=lambda s: s["p50_ms"])
    default = next((s for s in _default_rows(result) if s["workers"] == best["workers"]), None)
    beside = (
        ""
        if default is None
        else f" (by default, nothing mapped: p50 {default['p50_ms']:.1f} ms, "
        f"{default['queries_per_second']:,.0f} queries/s, {default['server_peak_mb']:,.0f} MB)"
    )
    return [
        f"With {best['mapped_mb']:,} MB of the index file mapped (`reprints serve --mapped-mb {best['mapped_mb']}`, "
        f"{best['workers']} server processes), SQLite reads the file cache's pages without a system call each: "
        f"p50 {best['p50_ms']:.1f} ms, p99 {best['p99_ms']:.1f} ms, {best['queries_per_second']:,.0f} queries/s; "
        f"the mapped pages count in each process' resident set: peak {best['server_peak_mb']:,.0f} MB, "
        f"{_unmapped(best)} without them{beside}.",
        "",
    ]


def _baseline_lines(result: dict[str, Any]) -> list[str]:
    """A comparison with the baseline (`--baseline`) measured on this machine, when there is one."""
    path = HERE / ".work" / "index" / "baseline.json"
    if not path.exists():
        return []
    base = json.loads(path.read_text(encoding="utf-8"))
    best = min(_default_rows(result), key=lambda s: s["p50_ms"])
    then = next((s for s in _default_rows(base) if s["workers"] == best["workers"]), None)
    if then is None:
        return []
    unknown = "an unrecorded date"
    return [
        f"Baseline measured the same way on this machine (`--baseline`, {base['label']}, on "
        f"{base.get('measured_on', unknown)}; this tree on {result.get('measured_on', unknown)}): indexing "
        f"{base['index_docs_per_second']:,.0f} docs/s ({base['index_seconds']:.1f} s); {then['workers']} server "
        f"processes: p50 {then['p50_ms']:.1f} ms, p99 {then['p99_ms']:.1f} ms, {then['queries_per_second']:,.0f} "
        f"queries/s, one client alone p50 {then['single_client_p50_ms']:.1f} ms.",
        "",
    ]


def write_report(result: dict[str, Any]) -> None:
    from report import INDEX_END as END
    from report import INDEX_START as START
    from report import put_section

    def met(ok: bool) -> str:
        return "yes" if ok else "**no**"

    r = result
    best = min(_default_rows(r), key=lambda s: s["p50_ms"])
    section = "\n".join(
        [
            START,
            "## The index and the service",
            "",
            "Written by `python3 benchmarks/index_bench.py --write-report`. `reprints index add` of the bulk corpus "
            f"({r['documents']:,} documents, {r['megabytes']:.0f} MB) into a fresh index; then `reprints serve` on it "
            f"with `--workers N` (N server processes sharing the port) and, from another process, {r['clients']} "
            f"concurrent clients (keep-alive connections) posting {best['queries']:,} queries, each an article of "
            f"{r['query_words']} words from the corpus ({r['query_texts']} different ones). Latency is measured by "
            "the clients, end to end. Server memory: the sum of the server processes' peak resident sets; and the "
            "sum of their resident memory without the pages of the index file they map to read it, sampled every "
            "0.5 s through the load runs, at its peak (the same by default: nothing is mapped unless `--mapped-mb` "
            "asks; mapped pages are the OS file cache's, shared by the processes, counted once for each in their "
            "resident sets). Each figure is the "
            f"median of {r.get('rounds', 1)} runs (indexing: {_runs(r.get('index_seconds_runs', []), 's')}; the "
            "p50 of each load run is listed), the machine being shared. Targets are judged on the fastest row "
            f"({best['workers']} server processes on this machine's {r['machine']}) of those serving as by default; "
            f"rows marked `--mapped-mb {MAPPED_MB}` map that much of the index file.",
            "",
            "| measure | value | target | met |",
            "|---|---|---|---|",
            f"| indexing | {r['index_docs_per_second']:,.0f} docs/s ({r['index_seconds']:.1f} s, peak "
            f"{r['index_peak_mb']:,.0f} MB, index {r['index_bytes'] / 1e6:,.0f} MB on disk) | ≥ 5,000 docs/s | "
            f"{met(r['index_docs_per_second'] >= 5000)} |",
            f"| query p50 | {best['p50_ms']:.1f} ms | ≤ 20 ms | {met(best['p50_ms'] <= 20)} |",
            f"| query p99 | {best['p99_ms']:.1f} ms | ≤ 100 ms | {met(best['p99_ms'] <= 100)} |",
            f"| server memory | {best['server_peak_mb']:,.0f} MB peak resident | ≤ 500 MB | "
            f"{met(best['server_peak_mb'] <= 500)} |",
            "",
            f"| server processes | {r['clients']} clients: p50 | p50 of each run | p90 | p99 | max | queries/s | "
            "one client alone: p50 | p99 | server memory: idle | peak | peak without the mapped index file |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            *(
                f"| {_processes(s)} | {s['p50_ms']:.1f} ms | {_runs(s.get('p50_ms_runs', []), 'ms')} | "
                f"{s['p90_ms']:.1f} ms | {s['p99_ms']:.1f} ms | "
                f"{s['max_ms']:.1f} ms | {s['queries_per_second']:,.0f} | {s['single_client_p50_ms']:.1f} ms | "
                f"{s['single_client_p99_ms']:.1f} ms | {s['server_idle_mb']:,.0f} MB | {s['server_peak_mb']:,.0f} MB | "
                f"{_unmapped(s)} |"
                for s in r["serving"]
            ),
            "",
            *_mapped_lines(r),
            *_baseline_lines(r),
            END,
            "",
        ]
    )
    put_section(HERE.parent / "BENCHMARKS.md", START, END, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--queries", type=int, default=800)
    parser.add_argument("--server-workers", default="1,2", help="server process counts to measure (comma-separated)")
    parser.add_argument(
        "--mapped-workers",
        default="2",
        help=f"server process counts to measure again with the index file mapped (`--mapped-mb {MAPPED_MB}`; "
        "comma-separated, or '')",
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each measure (medians are reported)")
    parser.add_argument("--write-report", action="store_true")
    parser.add_argument(
        "--baseline",
        metavar="SRC",
        type=Path,
        help="measure the reprints source tree SRC (e.g. `git archive COMMIT src | tar -x -C /tmp/base`, then "
        "/tmp/base/src) instead, as the baseline the report compares with (saved to baseline.json)",
    )
    parser.add_argument("--label", default="", help="what the baseline is (a commit), for the report")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args.client, args.texts, args.clients, args.queries)
        return
    workers = [int(n) for n in args.server_workers.split(",")]
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.baseline is not None:  # every reprints process of the run imports this source tree
        paths = [str(args.baseline.resolve()), *filter(None, [os.environ.get("PYTHONPATH")])]
        os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    mapped = [int(n) for n in args.mapped_workers.split(",") if n.strip()]
    result = run(args.shared, args.clients, args.queries, workers, args.rounds, mapped)
    result["measured_on"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.baseline is not None:
        result["label"] = args.label or str(args.baseline)
    out = HERE / ".work" / "index" / ("baseline.json" if args.baseline is not None else "results.json")
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))
    results = HERE / ".work" / "index" / "results.json"
    if args.write_report and results.exists():  # (a baseline run reports the last measure of this tree)
        write_report(json.loads(results.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
