"""The Spark engine against the local engine on the bulk corpus, on this machine.

    python3 benchmarks/spark_bench.py [--runs 3] [--write-report]

`reprints dedup --workers 2`, `reprints dedup --engine spark --master local[2]` and the same against a Spark
standalone cluster started here (a master and a 2-core worker from PySpark's own `spark-class`, executors in JVMs
of their own: `tests/spark_cluster.py`) on the bulk corpus (Reuters-21578, BBC, 20 Newsgroups, wirecopy-dev:
run.py's speed corpus): median wall time, peak memory of the command's process tree (the local[2] run's includes
its JVM and Python workers; the cluster's executors are the worker's, not the command's), stage timings, and
whether the four outputs are byte-identical to the local engine's. From the local[2] run it derives the cost per
document of the work done in Spark tasks (the wall time of every stage that runs tasks, times the cores: an upper
bound, as cores may wait) and of the driver's own work (the CPU seconds of the driver's Python process over the
whole run, from its summary's `main_process_cpu_seconds`: boilerplate learning and decisions, and its part of the
other stages, handing out tasks and writing what they return), and from them an estimate for one billion documents.

Results go to benchmarks/.work/spark/results.json; `--write-report` puts them in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from report import SPARK_END, SPARK_START, put_section, table  # noqa: E402
from run import log, prepare, repeat, reprints_python, reprints_source  # noqa: E402

from spark_cluster import standalone_cluster  # noqa: E402

WORK = HERE / ".work" / "spark"
OUTPUTS = ("pairs.jsonl", "documents.jsonl", "clusters.jsonl", "deduplicated.jsonl")
# Stages whose batches run as Spark tasks: "read" is the counting of the plain JSON Lines input's line breaks by
# ranges (the driver learns its size only); in "write" the tasks make the rows, which the driver writes in order.
SPARK_STAGES = ("read", "normalize", "fingerprint", "candidates", "align", "write")
DRIVER_STAGES = ("boilerplate", "decide")  # the driver's alone
CORES = 2
CORE_HOUR_USD = 0.04  # an assumed price of one vCPU-hour of on-demand cloud compute (stated in the report)


def engine_command(name: str, bulk: Path, master: str = f"local[{CORES}]") -> list[str]:
    """`reprints dedup` of the bulk corpus with one engine, into WORK/name."""
    extra = ["--workers", str(CORES)] if name == "local" else ["--engine", "spark", "--master", master]
    return [reprints_python(), "-m", "reprints", "dedup", "-q", str(bulk), "--out", str(WORK / name), *extra]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per engine (median reported)")
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared")
    parser.add_argument("--write-report", action="store_true", help="put the results in BENCHMARKS.md")
    parser.add_argument(
        "--from-results", action="store_true", help="run nothing: report the last run's results.json again"
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.from_results:
        report(json.loads((WORK / "results.json").read_text(encoding="utf-8")), args.write_report)
        return
    bulk = HERE / ".work" / "full" / "data" / "bulk.jsonl"
    if not bulk.exists():
        bulk = prepare(args.shared, WORK / "data", None)["bulk"]
    with bulk.open(encoding="utf-8") as lines:
        documents = sum(1 for _ in lines)
    results: dict[str, Any] = {"documents": documents, "source": reprints_source(None), "engines": {}}
    for name in ("local", "spark"):
        log(f"{name} engine, {args.runs} runs")
        results["engines"][name] = repeat(engine_command(name, bulk), args.runs, WORK / name, summary=True)
    log(f"standalone cluster, {args.runs} runs")
    cluster_logs = WORK / "cluster-logs"
    shutil.rmtree(cluster_logs, ignore_errors=True)
    cluster_logs.mkdir(parents=True)
    with standalone_cluster(cluster_logs, cores=CORES) as url:
        command = engine_command("cluster", bulk, url)
        results["engines"]["cluster"] = repeat(command, args.runs, WORK / "cluster", summary=True)
    results["identical"] = {
        name: (WORK / "local" / name).read_bytes() == (WORK / "spark" / name).read_bytes() for name in OUTPUTS
    }
    results["cluster_identical"] = {
        name: (WORK / "local" / name).read_bytes() == (WORK / "cluster" / name).read_bytes() for name in OUTPUTS
    }
    report(results, args.write_report)


def report(results: dict[str, Any], write: bool) -> None:
    """Derive the costs per document from the Spark run's stages, save and print the results, and (`write`)
    put them in BENCHMARKS.md."""
    stages = results["engines"]["spark"]["stages"]
    documents = results["documents"]
    results["spark_core_seconds_per_doc"] = CORES * sum(stages.get(s, 0.0) for s in SPARK_STAGES) / documents
    driver_cpu = results["engines"]["spark"].get("main_cpu", {})
    if "total" in driver_cpu:  # the driver's Python process, every stage (what it spends, not what it waits)
        results["driver_seconds_per_doc"] = driver_cpu["total"] / documents
        results["driver_measured"] = "cpu"
    else:  # (a run from before summaries held it: the driver's stages' wall time, an upper bound)
        results["driver_seconds_per_doc"] = sum(stages.get(s, 0.0) for s in DRIVER_STAGES) / documents
        results["driver_measured"] = "wall"
    (WORK / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    if write:
        put_section(HERE.parent / "BENCHMARKS.md", SPARK_START, SPARK_END, section(results))


def section(results: dict[str, Any]) -> str:
    local, spark = results["engines"]["local"], results["engines"]["spark"]
    rows = []
    labels = {
        "local": "local, `--workers 2`",
        "spark": "spark, `--master local[2]`",
        "cluster": "spark, standalone cluster (1 worker, 2 cores)",
    }
    for name, label in labels.items():
        if name not in results["engines"]:
            continue
        engine = results["engines"][name]
        runs = ", ".join(f"{wall:.1f}" for wall in engine["runs"])
        rows.append([label, f"{engine['wall']:.1f}", runs, f"{results['documents'] / engine['wall']:,.0f}"])
        rows[-1].append(f"{engine['peak_mb']:,.0f}")
    stage_names = [name for name in local["stages"] if name != "total"]
    cluster = results["engines"].get("cluster", {"stages": {}})
    driver_cpu = spark.get("main_cpu", {})
    stage_rows = [
        [
            name,
            *(f"{engine['stages'].get(name, 0.0):.1f}" for engine in (local, spark, cluster)),
            f"{driver_cpu[name]:.1f}" if name in driver_cpu else "–",
        ]
        for name in stage_names
    ]
    per_core = results["spark_core_seconds_per_doc"]
    driver = results["driver_seconds_per_doc"]
    billion = 1e9
    core_hours = billion * per_core / 3600
    driver_hours = billion * driver / 3600
    bound = (
        "on 1,000 cores the driver, not the executors, bounds a run that size today"
        if driver_hours > core_hours / 1000
        else "on 1,000 cores the executors' work, not the driver's, is the longer"
    )
    same = all(results["identical"].values())
    cluster_same = all(results.get("cluster_identical", {"missing": False}).values())
    return "\n".join(
        [
            SPARK_START,
            "## Spark engine (`benchmarks/spark_bench.py`)",
            "",
            f"Bulk corpus ({results['documents']:,} documents), {results['source']}, medians; peak memory of the "
            "command's process tree (the local[2] run's includes its JVM and Python workers; the standalone "
            "cluster's executors belong to its worker, so its row is the driver's alone). The cluster is a master "
            "and one worker started on this machine with PySpark's `spark-class` (`tests/spark_cluster.py`): a real "
            "cluster manager, executors in JVMs of their own, tasks shipped over the network, one machine.",
            "",
            table(["engine", "wall s", "runs", "docs/s", "peak MB"], [*rows]),
            "",
            f"Outputs byte-identical (pairs, documents, clusters, deduplicated): **{'yes' if same else 'NO'}** "
            f"({', '.join(f'{k}: {v}' for k, v in results['identical'].items())}); the standalone cluster's: "
            f"**{'yes' if cluster_same else 'NO'}**.",
            "",
            "Stages of the median run, wall seconds (read, normalize, fingerprint, candidates, align and write run "
            "Spark tasks, read being the count of the input's line breaks by byte ranges, the driver learning only "
            "its size, and write's tasks making the rows from the ranges they read again, which the driver writes "
            "in order; boilerplate and decide are the driver's alone), and the CPU seconds of the driver's own "
            "Python process in the local[2] run's stages (its summary's `main_process_cpu_seconds`; Spark's "
            "scheduling in the driver's JVM is not in it):",
            "",
            table(["stage", "local", "spark local[2]", "spark cluster", "driver CPU, local[2]"], stage_rows),
            "",
            f"Cost per document measured in the Spark run: **{per_core * 1e3:.3f} core-ms** in the stages that run "
            "Spark tasks (their wall time times the cores: an upper bound) and "
            f"**{driver * 1e3:.3f} ms** of the driver's CPU"
            f"{'' if results.get('driver_measured') == 'cpu' else ' (wall time of its stages)'}. For one billion "
            f"documents of this kind that is {core_hours:,.0f} core-hours of executor work (about "
            f"${core_hours * CORE_HOUR_USD:,.0f} at an assumed ${CORE_HOUR_USD} per vCPU-hour, or "
            f"{core_hours / 1000:,.1f} hours on 1,000 cores) and {driver_hours:,.0f} hours of the driver's "
            f'single process: {bound} (see README, "Running on a cluster").',
            SPARK_END,
            "",
        ]
    )


if __name__ == "__main__":
    main()
