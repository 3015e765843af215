"""Site templates on few pages: real web pages, each as its main text and as whole-page text dumps.

From `../shared/data/webpages.tar.gz` (1,032 real pages from hundreds of sites, raw HTML in their own
encodings; `evaldata.json` lists 990 of them): each page is decoded as reprints decodes HTML, and becomes
- its main text (trafilatura, as `reprints --extract main` finds it), and
- one or two whole-page text dumps made by other extractors: html-text (a line per block) and inscriptis
  (a layout with indents and bullets); `--dumps` picks others, among them `flat` (all text on one line, as
  BeautifulSoup's `get_text(" ")` gives).
Pages whose main text has fewer than 50 words are left out (too short for any pair to be expected).

Truth, independent of reprints: the texts of one page must pair; texts of different pages must not, unless
their main texts share a run of at least 25 words (casefolded `\\w+` words), in which case a pair between them is
allowed but not required (not counted either way). Precision counts the reported pairs between texts of one page
against those between pages with no shared run; recall the pairs of one page reported.

    python3 benchmarks/webpages.py                  # build (once, ~1 min), run reprints with its defaults, score
    python3 benchmarks/webpages.py --show 10        # also print 10 false pairs with what they share
    python3 benchmarks/webpages.py --json           # the scores as one JSON object

Work goes to benchmarks/.work/webpages/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tarfile
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from multiprocessing import Pool
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import reprints  # noqa: E402
from reprints.io.html import decode_html, extract  # noqa: E402

MIN_MAIN_WORDS = 50
SHARED_RUN = 25
DUMPS = ("html_text", "inscriptis", "flat")
DEFAULT_DUMPS = ("html_text", "inscriptis")
WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def runs(text: str, size: int = SHARED_RUN) -> set[bytes]:
    """Digests of every run of `size` consecutive words."""
    found = words(text)
    return {
        hashlib.blake2b(" ".join(found[i : i + size]).encode(), digest_size=8).digest()
        for i in range(len(found) - size + 1)
    }


def dump(html: str, kind: str) -> str:
    """A whole-page text dump of the page by one of three extractors."""
    if kind == "html_text":
        import html_text

        return str(html_text.extract_text(html))
    if kind == "inscriptis":
        import inscriptis

        return str(inscriptis.get_text(html))
    if kind == "flat":
        import lxml.html

        tree = lxml.html.fromstring(html)
        for hidden in tree.xpath("//script|//style|//noscript|//template"):
            hidden.drop_tree()
        return " ".join(" ".join(tree.itertext()).split())
    raise ValueError(kind)


def _page(task: tuple[str, bytes]) -> dict[str, Any]:
    name, data = task
    decoded = decode_html(data)
    html = decoded.text or ""
    page: dict[str, Any] = {"file": name, "encoding": decoded.encoding}
    try:
        page["main"] = extract(html, "main").text
    except Exception as exc:  # a page trafilatura cannot parse is reported and left out
        page["error"] = f"{type(exc).__name__}: {exc}"
        return page
    for kind in DUMPS:
        try:
            page[kind] = dump(html, kind)
        except Exception as exc:
            page["error"] = f"{kind}: {type(exc).__name__}: {exc}"
    return page


def _members(archive: Path) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("evaldata.json"))  # type: ignore[arg-type]
        files = {Path(m.name).name: m for m in tar.getmembers() if m.isfile() and m.name.endswith(".html")}
        for entry in sorted(index.values(), key=lambda e: e["file"]):
            member = files.get(entry["file"])
            if member is not None:
                yield entry["file"], tar.extractfile(member).read()  # type: ignore[union-attr]


def build(shared: Path, work: Path) -> list[dict[str, Any]]:
    """Extract every page once (cached in work/pages.jsonl)."""
    cache = work / "pages.jsonl"
    if cache.exists():
        with cache.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines]
    began = time.perf_counter()
    with Pool(2) as pool:
        pages = pool.map(_page, list(_members(shared / "data" / "webpages.tar.gz")), chunksize=8)
    work.mkdir(parents=True, exist_ok=True)
    with cache.open("w", encoding="utf-8") as out:
        for page in pages:
            out.write(json.dumps(page, ensure_ascii=False) + "\n")
    print(f"extracted {len(pages)} pages in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return pages


def corpus(pages: list[dict[str, Any]], dumps: tuple[str, ...], path: Path) -> dict[str, Any]:
    """Write the benchmark's documents; return the truth: each document's page, and the allowed page pairs."""
    used = [p for p in pages if "error" not in p and len(words(p["main"])) >= MIN_MAIN_WORDS]
    page_of: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as out:
        for number, page in enumerate(used):
            for kind in ("main", *dumps):
                doc_id = f"{page['file']}|{kind}"
                page_of[doc_id] = number
                out.write(json.dumps({"id": doc_id, "text": page[kind]}, ensure_ascii=False) + "\n")
    holders: dict[bytes, set[int]] = defaultdict(set)
    for number, page in enumerate(used):
        for run in runs(page["main"]):
            holders[run].add(number)
    allowed = {(a, b) for held in holders.values() for a in held for b in held if a < b}
    return {"pages": len(used), "left_out": len(pages) - len(used), "page_of": page_of, "allowed": allowed}


def score(pairs_path: Path, truth: dict[str, Any], dumps: tuple[str, ...]) -> dict[str, Any]:
    page_of, allowed = truth["page_of"], truth["allowed"]
    true_pairs = truth["pages"] * (len(dumps) + 1) * len(dumps) // 2
    found, false, neutral = set(), [], 0
    with pairs_path.open(encoding="utf-8") as lines:
        for row in map(json.loads, lines):
            a, b = page_of[row["a"]], page_of[row["b"]]
            if a == b:
                found.add(tuple(sorted((row["a"], row["b"]))))
            elif (min(a, b), max(a, b)) in allowed:
                neutral += 1
            else:
                false.append(row)
    precision = len(found) / (len(found) + len(false)) if found or false else 1.0
    missed = [
        (f"{page}|{x}", f"{page}|{y}")
        for page in sorted({doc.split("|")[0] for doc in page_of})
        for i, x in enumerate(("main", *dumps))
        for y in ("main", *dumps)[i + 1 :]
        if tuple(sorted((f"{page}|{x}", f"{page}|{y}"))) not in found
    ]
    return {
        "pages": truth["pages"],
        "left_out": truth["left_out"],
        "documents": len(page_of),
        "true_pairs": true_pairs,
        "found": len(found),
        "false": len(false),
        "allowed_between_pages": neutral,
        "precision": round(precision, 4),
        "recall": round(len(found) / true_pairs, 4) if true_pairs else 1.0,
        "false_rows": false,
        "missed": missed,
    }


def show(result: dict[str, Any], docs: Path, count: int) -> None:
    texts = {}
    with docs.open(encoding="utf-8") as lines:
        for row in map(json.loads, lines):
            texts[row["id"]] = row["text"]
    for row in result["false_rows"][:count]:
        print(f"\nFALSE {row['a']}  ~  {row['b']}  {row['relation']} {row['coverage_a']} {row['coverage_b']}")
        for a0, a1, _b0, _b1 in row["spans"][:3]:
            print("   |", " ".join(texts[row["a"]][a0:a1].split())[:300])
    for a, b in result["missed"][:count]:
        print(f"\nMISSED {a}  ~  {b}: {len(words(texts[a]))} and {len(words(texts[b]))} words")


def score_variant(pages: list[dict[str, Any]], dumps: tuple[str, ...], work: Path) -> dict[str, Any]:
    docs = work / f"docs-{'-'.join(dumps)}.jsonl"
    truth = corpus(pages, dumps, docs)
    reprints.dedup([docs], work / f"out-{'-'.join(dumps)}")
    result = score(work / f"out-{'-'.join(dumps)}" / "pairs.jsonl", truth, dumps)
    result["dumps"] = list(dumps)
    return result


def write_report(main: dict[str, Any], others: list[dict[str, Any]]) -> None:
    from report import WEB_END, WEB_START, put_section

    rows = [
        f"| {', '.join(r['dumps'])} | {r['documents']} | {r['true_pairs']} | {r['found'] + r['false']} | "
        f"{r['precision']:.4f} | {r['recall']:.4f} | {r['false']} |"
        for r in (main, *others)
    ]
    section = "\n".join(
        [
            WEB_START,
            "## Site templates on web pages",
            "",
            "Written by `python3 benchmarks/webpages.py --write-report`. Real pages from `webpages.tar.gz` "
            f"({main['pages']} whose main text has at least {MIN_MAIN_WORDS} words; {main['left_out']} left out), "
            "each as its main text (trafilatura) and whole-page text dumps by other extractors; reprints with its "
            "defaults, no `url` field (every page is its own site as far as reprints can tell). Texts of one page "
            "must pair; texts of different pages must not, unless their main texts share a run of "
            f"{SHARED_RUN} words (then not counted). Targets: precision and recall at least .99.",
            "",
            "| dumps | texts | true pairs | pairs reported | precision | recall | false pairs |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Before template text was weighed (commit 27214c5) the first row read precision 0.6310 (1,706 false "
            "pairs), recall 0.9983; with lists and widgets but before notices (commit d7ea019) precision 0.9881 "
            "(35 false pairs), recall 0.9976. The false pairs left join pages of one publisher through its own "
            "footers, menus and headline lists (`--show N` prints them).",
            WEB_END,
            "",
        ]
    )
    put_section(HERE.parent / "BENCHMARKS.md", WEB_START, WEB_END, section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared")
    parser.add_argument("--dumps", default=",".join(DEFAULT_DUMPS), help=f"dump extractors, of {', '.join(DUMPS)}")
    parser.add_argument("--show", type=int, default=0, help="print this many false and missed pairs")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.add_argument("--write-report", action="store_true", help="rewrite the web pages section of BENCHMARKS.md")
    args = parser.parse_args()
    dumps = tuple(args.dumps.split(","))
    work = HERE / ".work" / "webpages"
    pages = build(args.shared, work)
    began = time.perf_counter()
    result = score_variant(pages, dumps, work)
    result["seconds"] = round(time.perf_counter() - began, 1)
    docs = work / f"docs-{'-'.join(dumps)}.jsonl"
    if args.show:
        show(result, docs, args.show)
    if args.write_report:
        others = [score_variant(pages, variant, work) for variant in (("html_text", "flat"), ("inscriptis",))]
        write_report(result, others)
    summary = {k: v for k, v in result.items() if k not in ("false_rows", "missed")}
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['pages']} pages ({summary['left_out']} left out), {summary['documents']} texts, dumps "
            f"{', '.join(dumps)}: precision {summary['precision']:.4f} ({summary['false']} false pairs), recall "
            f"{summary['recall']:.4f} ({summary['found']} of {summary['true_pairs']}); "
            f"{summary['allowed_between_pages']} pairs between pages sharing a {SHARED_RUN}-word run; "
            f"{summary['seconds']} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
