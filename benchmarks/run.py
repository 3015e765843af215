"""Benchmark reprints against its peers on this machine, and write BENCHMARKS.md with its plots.

    python3 benchmarks/run.py --setup     # once: make benchmarks/.venv with the peers (requirements.txt)
    python3 benchmarks/run.py             # everything (about 45 minutes on 2 cores); rewrites BENCHMARKS.md
    python3 benchmarks/run.py --quick     # a subset in under 3 minutes; results in benchmarks/.work/quick/

Runs itself again under benchmarks/.venv/bin/python when that environment exists; without it (as in CI) it
benchmarks reprints and the floor only, and says the peers were skipped. Steps: quality on wirecopy-dev (and
what each tool says about the seed pair), speed on the bulk corpus (median of repeated runs; reprints with 1 and 2
workers, the floor, each peer), and reprints on generated corpora of growing size. Raw results go to
benchmarks/.work/[quick/]results.json; `report.py` turns them into markdown and plots.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import write_corpus  # noqa: E402
from measure import Measurement, measure, median_of  # noqa: E402
from report import write_report  # noqa: E402
from score import article_words, clusters_to_pairs, score  # noqa: E402

VENV = HERE / ".venv"
PEER_PYTHON = VENV / "bin" / "python"
BULK = ["reuters21578.jsonl.gz", "bbc.jsonl.gz", "20newsgroups.jsonl.gz", "wirecopy-dev/docs.jsonl"]
PEERS = {
    "datasketch": "datasketch",
    "datasketch-ensemble": "datasketch",
    "rensa": "rensa",
    "text-dedup": "text_dedup",
    "datatrove": "datatrove",
}
SPEED_BUDGET_SECONDS = 900  # per peer: fewer runs when 3 would take longer


def log(message: str) -> None:
    """Progress on stderr, timestamped."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def setup() -> None:
    """Create benchmarks/.venv and install requirements.txt into it."""
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PEER_PYTHON), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(PEER_PYTHON), "-m", "pip", "install", "-q", "-r", "requirements.txt"], check=True, cwd=HERE)


def reexec_in_venv() -> None:
    """Continue under benchmarks/.venv/bin/python when it exists and is not already running; reprints itself
    keeps running under the interpreter that started this script (`REPRINTS_PYTHON`): the peers' pins
    (datatrove[processing] needs trafilatura < 1.12) and reprints' (trafilatura 2) cannot share one
    environment."""
    if PEER_PYTHON.exists() and Path(sys.prefix).resolve() != VENV.resolve():
        os.environ.setdefault("REPRINTS_PYTHON", reprints_python())
        os.execv(str(PEER_PYTHON), [str(PEER_PYTHON), __file__, *sys.argv[1:]])


def reprints_python() -> str:
    """The interpreter that runs reprints (see `reexec_in_venv`): `REPRINTS_PYTHON`, else this one if it can
    import reprints, else the project's `.venv` (README's set-up)."""
    if "REPRINTS_PYTHON" in os.environ:
        return os.environ["REPRINTS_PYTHON"]
    project = HERE.parent / ".venv" / "bin" / "python"
    if importlib.util.find_spec("reprints") is None and project.exists():
        return str(project)
    return sys.executable


def peer_status() -> dict[str, str | None]:
    """Each peer's reason not to run (None when it can run)."""
    if not PEER_PYTHON.exists():
        return {peer: "benchmarks/.venv missing (run `run.py --setup`)" for peer in PEERS}
    status: dict[str, str | None] = {}
    for peer, module in PEERS.items():
        check = subprocess.run([str(PEER_PYTHON), "-c", f"import {module}"], capture_output=True, text=True)
        status[peer] = None if check.returncode == 0 else check.stderr.strip().splitlines()[-1]
    return status


def versions(status: dict[str, str | None]) -> dict[str, str]:
    """Installed versions of reprints, the peers and the main libraries (each from the interpreter that runs it)."""
    found = {"python": platform.python_version()}
    peers = str(PEER_PYTHON) if any(reason is None for reason in status.values()) else sys.executable
    script = "import importlib.metadata as m, json, sys\nout = {}\nfor n in sys.argv[1:]:\n"
    script += "    try: out[n] = m.version(n)\n    except m.PackageNotFoundError: pass\nprint(json.dumps(out))"
    for python, names in (
        (peers, ["datasketch", "rensa", "text-dedup", "datatrove", "datasets", "matplotlib"]),
        (reprints_python(), ["reprints", "numpy"]),
    ):
        result = subprocess.run([python, "-c", script, *names], capture_output=True, text=True, check=True)
        found.update(json.loads(result.stdout))
    return found


def compile_reprints() -> str:
    """Compile reprints' modules to bytecode, as `pip install` does for an installed package; returns their folder.
    An editable install (README's set-up) on a machine that sets PYTHONDONTWRITEBYTECODE, as this one does, would
    otherwise compile them from source in every process of every run: about 60 ms each in the main process and in
    the workers' fork server, both starting at once, where the peers, installed by pip, import theirs compiled."""
    script = "import os, reprints; print(os.path.dirname(reprints.__file__))"
    found = subprocess.run([reprints_python(), "-c", script], capture_output=True, text=True, check=True)
    folder = found.stdout.strip()
    subprocess.run([reprints_python(), "-m", "compileall", "-q", folder], check=True, capture_output=True)
    return folder


def reprints_source(src: Path | None) -> str:
    """Which reprints code was measured: the given folder, or this checkout's commit (and whether it was edited)."""
    if src is not None:
        return str(src)
    git = ["git", "-C", str(HERE.parent)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    edited = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True).stdout.strip()
    return f"commit {commit or 'unknown'}" + (" with uncommitted changes in src/" if edited else "")


def machine() -> dict[str, Any]:
    """Cores, memory and CPU model."""
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(total_kb / 2**20, 1),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "os": f"{platform.system()} {platform.release()}",
    }


def write_jsonl(rows: list[dict[str, str]], path: Path, parts: int = 1) -> list[Path]:
    """Write `{"id", "text"}` rows to one file, or to `parts` files in a folder (datatrove splits by file)."""
    if parts == 1:
        targets = [path]
    else:
        path.mkdir(parents=True, exist_ok=True)
        targets = [path / f"part{index:02d}.jsonl" for index in range(parts)]
    size = -(-len(rows) // parts)
    for index, target in enumerate(targets):
        with open(target, "w", encoding="utf-8") as out:
            for row in rows[index * size : (index + 1) * size]:
                out.write(json.dumps({"id": row["id"], "text": row["text"]}, ensure_ascii=False) + "\n")
    return targets


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a JSON Lines file, gzip or not."""
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def prepare(shared: Path, data: Path, limit: int | None) -> dict[str, Path]:
    """The inputs every tool reads, as plain `{"id", "text"}` JSON Lines (untimed)."""
    data.mkdir(parents=True, exist_ok=True)
    bulk = [row for name in BULK for row in read_rows(shared / "data" / name)][:limit]
    wirecopy = read_rows(shared / "data" / "wirecopy-dev" / "docs.jsonl")
    seeds = sorted((shared / "seeds").glob("*.txt"))
    seed_rows = [{"id": path.name, "text": path.read_text(encoding="utf-8")} for path in seeds]
    paths = {"bulk": data / "bulk.jsonl", "wirecopy": data / "wirecopy.jsonl", "seeds": data / "seeds.jsonl"}
    for key, rows in (("bulk", bulk), ("wirecopy", wirecopy), ("seeds", seed_rows)):
        write_jsonl(rows, paths[key])
        write_jsonl(rows, data / f"{key}-split", parts=2)
    return paths


def split_of(path: Path) -> Path:
    """The two-file copy of an input, for datatrove."""
    return path.with_name(path.stem + "-split")


def reprints_command(inputs: Path, out: Path, workers: int) -> list[str]:
    """`reprints dedup` under reprints' own interpreter (`reprints_python`)."""
    return [
        reprints_python(),
        "-m",
        "reprints",
        "dedup",
        "-q",
        str(inputs),
        "--out",
        str(out),
        "--workers",
        str(workers),
    ]


def peer_command(peer: str, inputs: Path, out: Path, threshold: float) -> list[str]:
    """peers.py under the peers' interpreter."""
    source = split_of(inputs) if peer == "datatrove" else inputs
    command = [str(PEER_PYTHON), str(HERE / "peers.py"), peer, "--input", str(source), "--out", str(out)]
    return [*command, "--threshold", str(threshold), "--workers", "2"]


def fresh(path: Path) -> Path:
    """An empty folder (datatrove skips steps whose logs say they are done)."""
    subprocess.run(["rm", "-rf", str(path)], check=True)
    path.mkdir(parents=True)
    return path


def shingle_sets(text: str) -> set[str]:
    """Word 5-grams of a lower-cased text, as the peers shingle it."""
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))}


def quality(paths: dict[str, Path], shared: Path, work: Path, thresholds: list[float], status: dict[str, Any]) -> Any:
    """Scores on wirecopy-dev, and each tool's verdict on the seed pair."""
    truth = shared / "data" / "wirecopy-dev" / "truth.jsonl"
    words = article_words(shared, truth)
    results: dict[str, Any] = {}
    out = fresh(work / "quality" / "reprints")
    subprocess.run(reprints_command(paths["wirecopy"], out, 2), check=True)
    results["reprints"] = score(shared, truth, out / "pairs.jsonl", words)
    compare = [reprints_python(), "-m", "reprints", "compare", "--json"]
    seeds = sorted((shared / "seeds").glob("*.txt"))
    verdict = json.loads(subprocess.run([*compare, *map(str, seeds)], capture_output=True, check=True).stdout)
    texts = [path.read_text(encoding="utf-8") for path in seeds]
    grams_a, grams_b = shingle_sets(texts[0]), shingle_sets(texts[1])
    seed: dict[str, Any] = {
        "jaccard": len(grams_a & grams_b) / len(grams_a | grams_b),
        "containment_a_in_b": len(grams_a & grams_b) / len(grams_a),
        "reprints": {key: verdict[key] for key in ("relation", "coverage_a", "coverage_b")},
    }
    for peer, reason in status.items():
        if reason is not None:
            continue
        for threshold in thresholds:
            name = f"{peer}@{threshold}"
            log(f"quality: {name}")
            out = fresh(work / "quality" / name)
            try:
                subprocess.run(peer_command(peer, paths["wirecopy"], out, threshold), check=True, capture_output=True)
                clusters_to_pairs(out / "clusters.jsonl", out / "pairs.jsonl")
                results[name] = score(shared, truth, out / "pairs.jsonl", words)
                seed_out = fresh(work / "seed" / name)
                subprocess.run(peer_command(peer, paths["seeds"], seed_out, threshold), check=True, capture_output=True)
                seed[name] = (seed_out / "clusters.jsonl").read_text().strip() != ""
            except subprocess.CalledProcessError as error:
                results[name] = {"error": error.stderr.decode(errors="replace").strip().splitlines()[-1]}
    return {"wirecopy": results, "seed": seed}


def repeat(
    command: list[str], runs: int, out: Path, budget: float = SPEED_BUDGET_SECONDS, summary: bool = False
) -> dict[str, Any]:
    """Median of up to `runs` runs; stops early when the next runs would exceed the budget.

    With `summary`, also the stage timings and candidate counts of the median run (from its summary.json).
    """
    done: list[tuple[Measurement, dict[str, Any]]] = []
    for _ in range(runs):
        fresh(out)
        measured = measure(command)
        done.append((measured, json.loads((out / "summary.json").read_text()) if summary else {}))
        if sum(m.wall for m, _ in done) + measured.wall > budget:
            break
    median = median_of([m for m, _ in done])
    result = {"wall": median.wall, "peak_mb": median.peak_mb, "cpu": median.cpu, "runs": [m.wall for m, _ in done]}
    if summary:
        middle = sorted(done, key=lambda run: run[0].wall)[len(done) // 2][1]
        result.update(
            stages=middle["timings_seconds"],
            main_cpu=middle.get("main_process_cpu_seconds", {}),
            candidates=middle["candidates"],
            stages_of="median run",
        )
    return result


def first_run(bulk: Path, work: Path) -> dict[str, float]:
    """What the first run after installing costs: reprints (2 workers) with an empty numba cache (it compiles its
    kernels), then again with the cache it filled. The timed runs after it find their kernels cached."""
    cache = work / "speed" / "numba-cache"
    shutil.rmtree(cache, ignore_errors=True)
    out = work / "speed" / "reprints-first"
    command = reprints_command(bulk, out, 2)
    walls = []
    for _ in range(2):
        fresh(out)
        walls.append(measure(command, env={**os.environ, "NUMBA_CACHE_DIR": str(cache)}).wall)
    fresh(out)
    measure(command)  # fills the default cache, which the timed runs use
    log(f"speed: first run {walls[0]:.1f} s with an empty numba cache, {walls[1]:.1f} s after")
    return {"cold_wall": walls[0], "warm_wall": walls[1]}


def speed(paths: dict[str, Path], work: Path, runs: int, status: dict[str, Any]) -> dict[str, Any]:
    """Bulk corpus: reprints with 1 and 2 workers, the floor, and each peer at its default threshold."""
    bulk = paths["bulk"]
    with open(bulk, encoding="utf-8") as lines:
        documents = sum(1 for _ in lines)
    results: dict[str, Any] = {"documents": documents, "megabytes": bulk.stat().st_size / 1e6, "tools": {}}
    tools = results["tools"]
    results["first_run"] = first_run(bulk, work)
    for workers in (1, 2):
        log(f"speed: reprints, {workers} worker(s)")
        out = work / "speed" / f"reprints-{workers}"
        name = f"reprints ({workers} worker{'s' if workers > 1 else ''})"
        tools[name] = repeat(reprints_command(bulk, out, workers), runs, out, summary=True)
    log("speed: floor")
    floor_command = [sys.executable, str(HERE / "floor.py"), str(bulk)]
    tools["floor"] = repeat(floor_command, runs, work / "speed" / "floor")
    if importlib.util.find_spec("numba") and importlib.util.find_spec("orjson"):
        log("speed: compiled floor (2 processes)")
        compiled = [sys.executable, str(HERE / "floor_compiled.py"), str(bulk), "--processes", "2"]
        subprocess.run(compiled, check=True, capture_output=True)  # compile once into numba's cache
        tools["floor (compiled)"] = repeat(compiled, runs, work / "speed" / "floor-compiled")
    else:
        log("speed: compiled floor skipped (needs numba and orjson: python3 benchmarks/run.py --setup)")
    for peer, reason in status.items():
        if reason is None:
            log(f"speed: {peer}")
            out = work / "speed" / peer
            try:
                tools[peer] = repeat(peer_command(peer, bulk, out, 0.8), runs, out)
            except RuntimeError as error:
                tools[peer] = {"error": str(error).strip().splitlines()[-1]}
    return results


def scale(shared: Path, work: Path, sizes: list[int], scored: int, seed: int) -> list[dict[str, Any]]:
    """reprints (2 workers) on generated corpora; scored against their truth up to `scored` documents."""
    rows = []
    for size in sizes:
        corpus = work / "scale" / str(size)
        stamp = corpus / "stamp.json"
        key = {"documents": size, "seed": seed, "generator": (HERE / "generate.py").read_text()}
        if not stamp.exists() or json.loads(stamp.read_text()) != key:
            log(f"scale: generating {size:,} documents")
            began = time.perf_counter()
            write_corpus(shared / "data", size, seed, corpus)
            stamp.write_text(json.dumps(key))
            log(f"scale: generated in {time.perf_counter() - began:.0f} s")
        log(f"scale: reprints on {size:,} documents")
        out = work / "scale-out" / str(size)
        row: dict[str, Any] = {"documents": size, "megabytes": (corpus / "docs.jsonl").stat().st_size / 1e6}
        row.update(repeat(reprints_command(corpus / "docs.jsonl", out, 2), 1, out, summary=True))
        row["candidate_pairs"] = row["candidates"]["pairs"]
        if size <= scored:
            row["quality"] = score(shared, corpus / "truth.jsonl", out / "pairs.jsonl")
        rows.append(row)
        subprocess.run(["rm", "-rf", str(out)], check=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", action="store_true", help="create benchmarks/.venv with the peers, then stop")
    parser.add_argument("--quick", action="store_true", help="a subset in under 3 minutes; writes .work/quick/")
    parser.add_argument("--write-report", action="store_true", help="in --quick mode, rewrite BENCHMARKS.md too")
    parser.add_argument("--report-only", action="store_true", help="rewrite BENCHMARKS.md from saved results")
    parser.add_argument("--no-peers", action="store_true", help="benchmark reprints and the floor only")
    parser.add_argument("--runs", type=int, help="runs per speed measurement (default 3, 1 with --quick)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the scale generator")
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared")
    parser.add_argument("--large", type=int, help="also run reprints on a generated corpus of this many documents")
    parser.add_argument(
        "--only-large",
        type=int,
        help="run only the scale row of this many documents, added to the saved results, and rewrite the report",
    )
    parser.add_argument("--reprints-src", type=Path, help="benchmark the reprints package in this src/ folder instead")
    args = parser.parse_args()
    if args.setup:
        setup()
        return
    reexec_in_venv()
    if args.reprints_src:
        os.environ["PYTHONPATH"] = str(args.reprints_src.resolve())
    work = HERE / ".work" / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        write_report(json.loads((work / "results.json").read_text()), HERE.parent / "BENCHMARKS.md", HERE / "plots")
        return
    if args.only_large:
        saved = json.loads((work / "results.json").read_text())
        rows = [row for row in saved["scale"] if row["documents"] != args.only_large]
        rows += scale(args.shared, work, [args.only_large], 0, args.seed)
        saved["scale"] = sorted(rows, key=lambda row: row["documents"])
        (work / "results.json").write_text(json.dumps(saved, indent=1))
        write_report(saved, HERE.parent / "BENCHMARKS.md", HERE / "plots")
        return
    began = time.perf_counter()
    status = {peer: "--no-peers" for peer in PEERS} if args.no_peers else peer_status()
    skipped = {peer: reason for peer, reason in status.items() if reason}
    if skipped:
        log(f"peers skipped: {skipped}")
    runs = args.runs or (1 if args.quick else 3)
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "versions": versions(status),
        "reprints_source": reprints_source(args.reprints_src),
        "peers_skipped": skipped,
        "runs": runs,
    }
    partial = work / "partial.json"  # each section as it ends: a run that fails late keeps what it measured

    def save() -> None:
        partial.write_text(json.dumps(results, indent=1))

    paths = prepare(args.shared, work / "data", 6000 if args.quick else None)
    log(f"reprints' modules compiled to bytecode in {compile_reprints()}")
    log("quality on wirecopy-dev")
    results["quality"] = quality(paths, args.shared, work, [0.8] if args.quick else [0.8, 0.5], status)
    save()
    results["speed"] = speed(paths, work, runs, status)
    save()
    sizes = [2500, 5000, 10000] if args.quick else [10_000, 40_000, 160_000, 640_000]
    if args.large:
        sizes.append(args.large)
    results["scale"] = scale(args.shared, work, sizes, 10_000 if args.quick else 160_000, args.seed)
    results["elapsed_seconds"] = time.perf_counter() - began
    (work / "results.json").write_text(json.dumps(results, indent=1))
    if args.quick and not args.write_report:
        write_report(results, work / "BENCHMARKS.md", work / "plots")
    else:
        write_report(results, HERE.parent / "BENCHMARKS.md", HERE / "plots")
    log(f"done in {results['elapsed_seconds']:.0f} s")


if __name__ == "__main__":
    main()
