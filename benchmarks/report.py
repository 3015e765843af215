"""Turn the results of `run.py` into BENCHMARKS.md and its PNG plots.

    python3 benchmarks/run.py --report-only    # re-render from benchmarks/.work/full/results.json

Every number in the markdown comes from results.json; the reading at the end is written from the same numbers,
so a rerun on another machine stays consistent. Plots need matplotlib (in benchmarks/.venv); without it the
markdown says they were not drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

TARGET_PEER_RATIO = 3.0
TARGET_FLOOR_FRACTION = 0.50  # of the compiled floor
TARGET_EXPONENT = 1.1
TARGET_MEMORY_MB = 2048  # at TARGET_MEMORY_DOCS
TARGET_MEMORY_DOCS = 640_000
TARGET_GROWTH = 1.2  # peak memory from a quarter of TARGET_MEMORY_DOCS to TARGET_MEMORY_DOCS


WEB_START, WEB_END = "<!-- webpages.py -->", "<!-- /webpages.py -->"
INDEX_START, INDEX_END = "<!-- index_bench.py -->", "<!-- /index_bench.py -->"
SPARK_START, SPARK_END = "<!-- spark:start -->", "<!-- spark:end -->"  # written by spark_bench.py
# Sections other scripts write into BENCHMARKS.md, kept when run.py rewrites it.
KEPT = [(WEB_START, WEB_END), (INDEX_START, INDEX_END), (SPARK_START, SPARK_END)]


WHAT_STAGES_DO = {  # what the heaviest stage does beyond the floor (`reading`)
    "read": "the floor reads the same file, but keeps no ids, metadata or checksums and never sends a text to a worker",
    "normalize": "it does the floor's work (tokenizing and hashing) plus every token's character span and the lines",
    "fingerprint": "it does the floor's shingling plus winnowing, the match table and the template marks",
    "align": "the floor does none of it: every candidate pair's shared passages, token by token",
    "write": "the floor writes nothing: every pair's spans, every decision and the deduplicated texts, as JSON",
    "boilerplate": "the floor does none of it: learning which lines recur across documents of a site",
    "decide": "the floor does none of it: crediting passages and deciding keep, trim or drop",
}


def first_run_sentence(speed: dict[str, Any]) -> str:
    """The one-off cost of the first run after installing (numba compiling the kernels), if measured."""
    first = speed.get("first_run")
    if not first:
        return ""
    return (
        f"\nThe first run after installing compiles reprints' numba kernels into numba's cache: "
        f"{first['cold_wall']:.1f} s with an empty cache against {first['warm_wall']:.1f} s once it is filled "
        "(2 workers, one run each); every run timed above finds its kernels cached, and its modules compiled to "
        "bytecode, as `pip install` leaves them (`run.py` compiles them first: this checkout's editable install, on "
        "a machine that sets PYTHONDONTWRITEBYTECODE, would compile them from source in every process)."
    )


def put_section(path: Path, start: str, end: str, section: str) -> None:
    """Replace the section between the markers `start` and `end` in `path` (append it if there is none)."""
    text = path.read_text(encoding="utf-8")
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) + 1 :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def fit_exponent(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) against log(x)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mean_x, mean_y = sum(lx) / len(lx), sum(ly) / len(ly)
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(lx, ly, strict=True))
    return num / sum((x - mean_x) ** 2 for x in lx)


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: numbers rounded, missing values as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(fmt(cell) if not isinstance(cell, str) else cell for cell in row) + " |" for row in rows
    ]
    return "\n".join(lines)


def speed_rows(speed: dict[str, Any]) -> tuple[list[list[Any]], dict[str, float], str | None]:
    """Rows of the speed table, docs/s per tool, and the fastest peer's name."""
    documents, megabytes = speed["documents"], speed["megabytes"]
    rates = {name: documents / m["wall"] for name, m in speed["tools"].items() if "wall" in m}
    peers = {name: rate for name, rate in rates.items() if not name.startswith(("reprints", "floor"))}
    fastest = max(peers, key=peers.__getitem__) if peers else None
    rows = []
    for name, m in speed["tools"].items():
        if "error" in m:
            rows.append([name, "failed: " + m["error"], "", "", "", "", "", ""])
            continue
        ratio = f"{rates[name] / peers[fastest]:.2f}×" if fastest else "–"
        runs = f"{len(m['runs'])} ({', '.join(f'{w:.1f}' for w in m['runs'])})"
        row = [name, runs, f"{m['wall']:.1f}", f"{rates[name]:,.0f}", f"{megabytes / m['wall']:.2f}"]
        rows.append([*row, f"{m['peak_mb']:,.0f}", f"{m['cpu']:.1f}", ratio])
    return rows, rates, fastest


def quality_section(quality: dict[str, Any]) -> str:
    """The wirecopy-dev table and the seed pair."""
    header = ["tool", "pairs", "precision", "recall dup.", "recall contained", "recall partial", "recall", "F1"]
    rows = []
    for name, s in quality["wirecopy"].items():
        if "error" in s:
            rows.append([name, "failed: " + s["error"], "", "", "", "", "", "", ""])
            continue
        cells = [s["reported_pairs"], s["precision"], s["recall_duplicate"], s["recall_contained"]]
        rows.append([name, *cells, s["recall_partial"], s["recall"], s["f1"], s.get("span_f1")])
    seed = quality["seed"]
    verdicts = [f"{name}: {'paired' if paired else 'not paired'}" for name, paired in seed.items() if "@" in name]
    r = seed["reprints"]
    return "\n".join(
        [
            table([*header, "span F1"], rows),
            "",
            f"A peer's pairs are all pairs inside its duplicate clusters (no spans, so no span F1). "
            f"True pairs: {next(iter(quality['wirecopy'].values())).get('true_pairs', '–')}.",
            "",
            "**The seed pair** (`000` is an opinion piece, `001` the same piece on an aggregator page with three other "
            f"stories): Jaccard of their word 5-gram sets {seed['jaccard']:.3f}, containment of `000` in `001` "
            f"{seed['containment_a_in_b']:.3f}. reprints: **{r['relation']}**, coverage {r['coverage_a']:.3f} / "
            f"{r['coverage_b']:.3f}. " + ("Peers: " + "; ".join(verdicts) + "." if verdicts else "No peer ran."),
        ]
    )


def stages_of(speed: dict[str, Any]) -> str:
    """Which run the stage timings come from (results written before this was recorded hold the last run's)."""
    first = next((m for name, m in speed["tools"].items() if name.startswith("reprints")), {})
    return str(first.get("stages_of", "last run"))


def profile_section(speed: dict[str, Any]) -> str:
    """Per-stage seconds of reprints' median runs against the floor."""
    tools = speed["tools"]
    names = [name for name in tools if name.startswith("reprints") and "stages" in tools[name]]
    stages = [stage for stage in tools[names[0]]["stages"] if stage != "total"] if names else []
    rows = []
    for stage in [*stages, "total"]:
        cells = []
        for name in names:
            seconds = tools[name]["stages"][stage]
            cells.append(f"{seconds:.1f} s ({100 * seconds / tools[name]['stages']['total']:.0f}%)")
        rows.append([stage, *cells])
    if "floor" in tools and "wall" in tools["floor"]:
        rows.append(
            ["*floor: read + tokenize + hash (whole process)*", *[f"{tools['floor']['wall']:.1f} s"] * len(names)]
        )
    return table(["stage", *names], rows)


def scale_section(rows: list[dict[str, Any]]) -> tuple[str, float, float]:
    """The scale table and the fitted exponents of time and memory (of the rows measured in this run: a row kept
    from an earlier run says where it was measured, `measured_at`, and is left out of the fit)."""
    fitted = [row for row in rows if "measured_at" not in row]
    docs = [row["documents"] for row in fitted]
    time_exponent = fit_exponent(docs, [row["wall"] for row in fitted])
    memory_exponent = fit_exponent(docs, [row["peak_mb"] for row in fitted])
    header = ["documents", "MB", "wall s", "docs/s", "peak MB", "CPU s", "candidate pairs", "precision", "recall", "F1"]
    cells = []
    for row in rows:
        q = row.get("quality", {})
        cells.append(
            [
                f"{row['documents']:,}" + (f" (at {row['measured_at']})" if "measured_at" in row else ""),
                f"{row['megabytes']:.0f}",
                f"{row['wall']:.1f}",
                f"{row['documents'] / row['wall']:,.0f}",
                f"{row['peak_mb']:,.0f}",
                f"{row['cpu']:.0f}",
                f"{row['candidate_pairs']:,}",
                q.get("precision"),
                q.get("recall"),
                q.get("f1"),
            ]
        )
    return table(header, cells), time_exponent, memory_exponent


def draw_plots(results: dict[str, Any], plots: Path, rates: dict[str, float]) -> str | None:
    """speed.png and scale.png; the reason if they could not be drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed here (it is in benchmarks/.venv)"
    plots.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6.4, 3.2), dpi=90)
    names = sorted(rates, key=rates.__getitem__)
    axis.barh(names, [rates[name] for name in names], color=["#c44" if "reprints" in n else "#888" for n in names])
    axis.set_xscale("log")
    axis.set_xlabel("documents per second, bulk corpus (log scale)")
    figure.tight_layout()
    figure.savefig(plots / "speed.png")
    plt.close(figure)
    rows = [row for row in results["scale"] if "measured_at" not in row]  # this run's rows only
    docs = [row["documents"] for row in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.0), dpi=90)
    for axis, key, label in ((left, "wall", "wall time (s)"), (right, "peak_mb", "peak RSS (MB)")):
        values = [row[key] for row in rows]
        axis.loglog(docs, values, "o-", color="#c44")
        axis.loglog(docs, [values[0] * d / docs[0] for d in docs], ":", color="#888", label="linear")
        axis.set_xlabel("documents")
        axis.set_ylabel(label)
        axis.legend()
    figure.tight_layout()
    figure.savefig(plots / "scale.png")
    plt.close(figure)
    return None


def targets_section(results: dict[str, Any], rates: dict[str, float], fastest: str | None, exponents: Any) -> str:
    """Each target of the issue with the measured value and whether it is met."""
    best = max((rate for name, rate in rates.items() if name.startswith("reprints")), default=0.0)
    floor = rates.get("floor (compiled)")
    largest = results["scale"][-1]
    rows = []
    if fastest:
        ratio = best / rates[fastest]
        rows.append(
            [f"docs/s ≥ {TARGET_PEER_RATIO:g}× fastest peer ({fastest})", f"{ratio:.2f}×", ratio >= TARGET_PEER_RATIO]
        )
    if floor:
        fraction = best / floor
        rows.append(
            [
                f"≥ {TARGET_FLOOR_FRACTION:.0%} of the compiled floor's throughput",
                f"{fraction:.1%}",
                fraction >= TARGET_FLOOR_FRACTION,
            ]
        )
    rows.append([f"time exponent ≤ {TARGET_EXPONENT}", f"{exponents[0]:.2f}", exponents[0] <= TARGET_EXPONENT])
    at = {row["documents"]: row for row in results["scale"]}
    target = at.get(TARGET_MEMORY_DOCS, largest)
    memory = f"{target['peak_mb']:,.0f} MB at {target['documents']:,} documents"
    rows.append(["peak memory ≤ 2 GB at 640k documents", memory, target["peak_mb"] <= TARGET_MEMORY_MB])
    quarter = at.get(TARGET_MEMORY_DOCS // 4)
    if quarter is not None and TARGET_MEMORY_DOCS in at:
        growth = at[TARGET_MEMORY_DOCS]["peak_mb"] / quarter["peak_mb"]
        rows.append(
            [
                f"peak memory from {TARGET_MEMORY_DOCS // 4:,} to {TARGET_MEMORY_DOCS:,} documents grows ≤ "
                f"{TARGET_GROWTH - 1:.0%}",
                f"{growth - 1:+.0%} ({quarter['peak_mb']:,.0f} → {at[TARGET_MEMORY_DOCS]['peak_mb']:,.0f} MB)",
                growth <= TARGET_GROWTH,
            ]
        )
    if largest["documents"] > TARGET_MEMORY_DOCS:
        rows.append(
            [
                f"a run of {largest['documents']:,} documents completes",
                f"{largest['wall']:,.0f} s, peak {largest['peak_mb']:,.0f} MB"
                + (f" (measured at {largest['measured_at']})" if "measured_at" in largest else ""),
                True,
            ]
        )
    return table(["target", "measured", "met"], [[a, b, "yes" if ok else "**no**"] for a, b, ok in rows])


def reading(results: dict[str, Any], rates: dict[str, float], fastest: str | None, time_exponent: float) -> str:
    """A short reading of the results, written from the numbers."""
    quality = results["quality"]["wirecopy"]
    tools = results["speed"]["tools"]
    lines = []
    peers = {name: s for name, s in quality.items() if name != "reprints" and "f1" in s}
    if peers and "f1" in quality.get("reprints", {}):
        best = max(peers, key=lambda name: peers[name]["f1"])
        lines.append(
            f"- **Quality.** reprints' F1 on wirecopy-dev is {quality['reprints']['f1']:.3f} against "
            f"{peers[best]['f1']:.3f} for the best peer setting ({best}). Whole-document MinHash finds the duplicates "
            "it is built for, with high precision, but a page that contains an article (an aggregator page) or quotes "
            "one is far below any Jaccard threshold; only the containment index (MinHashLSHEnsemble) pairs some "
            "contained copies, and no peer says where the shared text is."
        )
    best_reprints = max((name for name in rates if name.startswith("reprints")), key=rates.__getitem__, default=None)
    if best_reprints and fastest:
        lines.append(
            f"- **Speed.** The fastest peer is {fastest} ({rates[fastest]:,.0f} docs/s, sketches only). "
            f"reprints at its best ({best_reprints}) does {rates[best_reprints]:,.0f} docs/s, "
            f"{rates[best_reprints] / rates[fastest]:.2f}× of it, while also aligning every candidate pair and "
            "deciding keep/trim/drop."
        )
    if best_reprints and "floor" in rates:
        stages = tools[best_reprints].get("stages", {})
        heaviest = max((k for k in stages if k != "total"), key=stages.__getitem__, default=None)
        if heaviest:
            lines.append(
                f"- **Floor.** reprints reaches {rates[best_reprints] / rates['floor']:.0%} of the floor's throughput. "
                f"Its heaviest stage is `{heaviest}` ({stages[heaviest]:.1f} s of {stages['total']:.1f} s); "
                f"{WHAT_STAGES_DO.get(heaviest, 'the floor does none of it')}."
            )
    largest = [row for row in results["scale"] if "measured_at" not in row][-1]
    lines.append(
        f"- **Scale.** Wall time grows as documents^{time_exponent:.2f} over "
        f"{results['scale'][0]['documents']:,}–{largest['documents']:,} documents; peak memory at "
        f"{largest['documents']:,} documents is {largest['peak_mb']:,.0f} MB. Generated corpora have a constant "
        "duplicate density, so this is the growth of the method, not of the number of true pairs per document."
    )
    lines.append(
        "- **Memory.** Per-token arrays (character offsets, template counts, the match index) and the anchors are "
        "written to memory-mapped files batch by batch and their pages let go as they are read, and so are the "
        "reading's lines until boilerplate is learned; the anchor join and boilerplate learning work in hash "
        "partitions of bounded size. What still grows with the corpus is kept per document or per related pair in "
        "the main process: ids, the links between related documents (about 280 bytes each), the decisions and the "
        "clusters. The README's memory model lists each part."
    )
    scored = [row for row in results["scale"] if row.get("precision") is not None]
    if scored:
        last = scored[-1]
        lines.append(
            f"- **Quality at scale.** On the generated corpus of {last['documents']:,} documents reprints scores "
            f"precision {last['precision']:.3f} and recall {last['recall']:.3f}. The generator republishes only "
            "source articles of at least 120 words that share no text with one another (Reuters-21578 holds "
            "templated reports and re-sent wires under different ids), so its truth knows every shared passage."
        )
    return "\n".join(lines)


def write_report(results: dict[str, Any], markdown: Path, plots: Path) -> None:
    """Write the markdown report and its plots."""
    rows, rates, fastest = speed_rows(results["speed"])
    scale_table, time_exponent, memory_exponent = scale_section(results["scale"])
    missing_plots = draw_plots(results, plots, rates)
    relative = Path(*Path(plots).parts[-2:]) if markdown.parent == plots.parent.parent else plots
    m, speed = results["machine"], results["speed"]
    skipped = results["peers_skipped"]
    parts = [
        "# Benchmarks",
        "",
        f"Written by `python3 benchmarks/run.py{' --quick' if results['mode'] == 'quick' else ''}` "
        f"({results['elapsed_seconds'] / 60:.0f} minutes). Rerun it to replace every number and plot below; "
        "`python3 benchmarks/run.py --setup` first makes the peers' environment (`benchmarks/.venv`).",
        "",
        "## Machine and versions",
        "",
        f"{m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB memory, {m['os']}. Other work may have shared the "
        f"machine: times are medians. reprints measured: {results.get('reprints_source', 'this checkout')}.",
        "",
        ", ".join(f"{name} {version}" for name, version in results["versions"].items()) + ".",
        "",
        "Peers not run: " + ("; ".join(f"{p}: {reason}" for p, reason in skipped.items()) if skipped else "none") + ".",
        "",
        "## Quality on wirecopy-dev",
        "",
        quality_section(results["quality"]),
        "",
        "## Speed on the bulk corpus",
        "",
        f"{speed['documents']:,} documents, {speed['megabytes']:.0f} MB of JSON Lines (Reuters-21578, BBC, 20 "
        f"Newsgroups, wirecopy-dev). Median of up to {results['runs']} runs (a slow peer gets fewer: the runs are "
        "listed); peak RSS of the whole process tree, CPU seconds of the process and its workers. The last column is "
        f"throughput relative to the fastest peer{f' ({fastest})' if fastest else ''}. Peers run at threshold 0.8.",
        first_run_sentence(speed),
        "",
        table(["tool", "runs (s)", "wall s", "docs/s", "MB/s", "peak MB", "CPU s", "vs fastest peer"], rows),
        "",
        "![speed](" + str(relative / "speed.png") + ")" if not missing_plots else f"(No plot: {missing_plots}.)",
        "",
        "## The floor and where reprints' time goes",
        "",
        "The floor (`benchmarks/floor.py`) reads the same file, NFKC-normalizes and case-folds, tokenizes and hashes "
        "every word 5-gram into a 64-bit shingle hash, all vectorized in NumPy, and does nothing else. Per-stage "
        f"seconds of one reprints run, the {stages_of(speed)} (from its `summary.json`):",
        "",
        profile_section(speed),
        "",
        "## Scale",
        "",
        "reprints (2 workers, one run per size) on corpora made by `benchmarks/generate.py`: the real BBC and Reuters "
        "articles republished by 40 sites with their own boilerplate and typography, edited, truncated, bundled into "
        "aggregator pages and quoted, with a truth file the shared scorer reads. Quality is scored up to "
        f"{max(r['documents'] for r in results['scale'] if 'quality' in r):,} documents.",
        "",
        scale_table,
        "",
        f"Fitted exponent (log-log least squares): wall time ∝ documents^{time_exponent:.2f}, "
        f"peak memory ∝ documents^{memory_exponent:.2f}.",
        "",
        "![scale](" + str(relative / "scale.png") + ")" if not missing_plots else "",
        "",
        "## Targets",
        "",
        targets_section(results, rates, fastest, (time_exponent, memory_exponent)),
        "",
        "## Reading",
        "",
        reading(results, rates, fastest, time_exponent),
        "",
    ]
    kept = ""  # sections written by webpages.py, index_bench.py and spark_bench.py survive a rerun of run.py
    if markdown.exists():
        old = markdown.read_text(encoding="utf-8")
        for start, end in KEPT:
            if start in old and end in old:
                kept += "\n" + old[old.index(start) : old.index(end) + len(end)] + "\n"
    markdown.write_text("\n".join(parts) + kept, encoding="utf-8")
