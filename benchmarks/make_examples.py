"""Rebuild examples/ from ../shared: labelled syndicated news, real HTML pages and a small WARC made of them.

    python3 benchmarks/make_examples.py

- examples/news/docs.jsonl and truth.ndjson: the first 300 documents of wirecopy-dev and their labels
  (JSON Lines in wirecopy-dev's format, named .ndjson so that reprints does not read it as documents);
- examples/html/: four real pages from webpages.tar.gz (two of one site, one in Windows-1252);
- examples/crawl.warc.gz: three of those pages as HTTP responses (one declaring its charset only in the
  header), each after its request record, and an image response (not a document), a gzip member per record.
The seed pair (examples/000_*.txt, 001_*.txt) is copied from ../shared/seeds by hand.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
NEWS = 300
PAGES = {
    "chip.de.beef.html": "https://www.chip.de/news/beef",
    "chip.de.bestcrypt.html": "https://www.chip.de/downloads/bestcrypt",
    "auto-presse.de-minisuv.html": "https://www.auto-presse.de/minisuv",
    "blog.python.org.html": "https://blog.python.org/",
}


def news(shared: Path) -> None:
    out = EXAMPLES / "news"
    out.mkdir(parents=True, exist_ok=True)
    for name, target in (("docs.jsonl", "docs.jsonl"), ("truth.jsonl", "truth.ndjson")):
        with (shared / "data" / "wirecopy-dev" / name).open(encoding="utf-8") as lines:
            head = [next(lines) for _ in range(NEWS)]
        (out / target).write_text("".join(head), encoding="utf-8")


def pages(shared: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(shared / "data" / "webpages.tar.gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if name in PAGES and name not in found:
                found[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    out = EXAMPLES / "html"
    out.mkdir(parents=True, exist_ok=True)
    for name, data in found.items():
        (out / name).write_bytes(data)
    return found


def warc(found: dict[str, bytes]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    writer.write_record(writer.create_warcinfo_record("crawl.warc.gz", {"software": "benchmarks/make_examples.py"}))
    for name in ("chip.de.beef.html", "auto-presse.de-minisuv.html", "blog.python.org.html"):
        data, url = found[name], PAGES[name]
        content_type = "text/html"
        if name == "auto-presse.de-minisuv.html":  # its charset only in the header, as many servers send it
            data = re.sub(rb"<meta[^>]*charset[^>]*>", b"", data, flags=re.IGNORECASE)
            content_type = "text/html; charset=windows-1252"
        request = StatusAndHeaders("GET / HTTP/1.1", [("Host", url.split("/")[2])], is_http_request=True)
        writer.write_record(writer.create_warc_record(url, "request", http_headers=request))
        headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(data), http_headers=headers))
    image = StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1")
    png = io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(32))
    writer.write_record(
        writer.create_warc_record("https://blog.python.org/logo.png", "response", payload=png, http_headers=image)
    )
    (EXAMPLES / "crawl.warc.gz").write_bytes(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared")
    args = parser.parse_args()
    news(args.shared)
    warc(pages(args.shared))
    print(json.dumps(sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*") if p.is_file())))


if __name__ == "__main__":
    main()
