"""The web pages in a real browser: Debian's headless Chromium driven by Playwright (no browser download).

Skipped, with the reason, where Chromium or Playwright is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from reprints.index.api import open_index
from reprints.index.build import add_documents
from reprints.types import Document
from reprints.web.app import create_app
from reprints.web.run import FinishedRun
from test_service import ARTICLE, NEWS, PAGE, seed_run, serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium; .ci/run installs it)"
)
START = "Trump has Putin trapped"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _side_by_side_starts_at_the_article(page: Any) -> None:
    first = page.locator("#text-b mark, #text-a mark").filter(has_text=START).first
    first.wait_for()
    assert first.inner_text().startswith(START)
    # Keyboard: focus the passage and press Enter; both copies light up.
    first.focus()
    page.keyboard.press("Enter")
    assert page.locator("mark.active").count() == 2


def test_query_page_finds_the_article_inside_the_aggregator_page(tmp_path: Path, browser: Any) -> None:
    article, aggregator = ARTICLE.read_text(encoding="utf-8"), PAGE.read_text(encoding="utf-8")
    with open_index(tmp_path / "index", create=True) as store:
        add_documents(store, [Document(PAGE.name, aggregator, 0), Document("other", "An unrelated short note.", 1)])
        with serving(create_app(store=store)) as base:
            page = browser.new_page()
            page.goto(base + "/")
            page.get_by_label("Text to look up").fill(article)
            page.get_by_role("button", name="Find copies").click()
            row = page.locator("tr.match", has_text=PAGE.name)
            row.wait_for()
            assert row.locator(".relation").inner_text() == "contains it"
            row.get_by_role("link", name="side by side").click()
            _side_by_side_starts_at_the_article(page)
            assert "contained" in page.locator("#summary").inner_text()
            page.close()


def test_view_shows_the_seed_run_side_by_side(tmp_path: Path, browser: Any) -> None:
    seed_run(tmp_path)
    with serving(create_app(run=FinishedRun(tmp_path / "out"))) as base:
        page = browser.new_page()
        page.goto(base + "/")
        page.locator("#decisions").get_by_role("link", name=PAGE.name).click()
        page.locator("#decision").filter(has_text="trim").wait_for()
        assert page.locator("mark.removed").count() >= 1
        page.get_by_role("link", name="side by side").first.click()
        _side_by_side_starts_at_the_article(page)
        summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
        assert summary["decisions"] == {"drop": 0, "keep": 1, "trim": 1}
        page.close()


def test_pages_show_ids_as_text_and_highlight_after_emoji(tmp_path: Path, browser: Any) -> None:
    """An id holding HTML is shown, never run; offsets count characters as Python does, so a passage after
    emoji (two UTF-16 units each in JavaScript) is highlighted where it is."""
    article = ARTICLE.read_text(encoding="utf-8")
    hostile = '<img src=x onerror="window.pwned=1">'
    page_text = "🙂🙂🙂 Shared from our friends 🎉\n" + article
    with open_index(tmp_path / "index", create=True) as store:
        add_documents(store, [Document(hostile, page_text, 0)])
        with serving(create_app(store=store)) as base:
            page = browser.new_page()
            page.goto(base + "/")
            page.get_by_label("Text to look up").fill(article)
            page.get_by_role("button", name="Find copies").click()
            row = page.locator("tr.match").first
            row.wait_for()
            assert hostile in row.inner_text()
            assert page.evaluate("window.pwned") is None
            row.get_by_role("link", name="side by side").click()
            mark = page.locator("#text-b mark").first
            mark.wait_for()
            assert mark.inner_text().startswith(START)
            assert page.evaluate("window.pwned") is None
            page.close()


def test_regression_overlapping_passages_odd_ids_and_stored_fields_show(tmp_path: Path, browser: Any) -> None:
    """Four page defects. A passage covered by another on one side ("P X" against "P Y P": both of the second's
    copies share the first's P) had no highlight there, so levelling and n/p skipped it; each passage has its
    element now. The ids `.` and `..` could not be opened (a URL path resolves them away). A stored document with
    fields named `decision` or `related` (its own metadata) broke its page, read as a run's decision. A query text
    too long for the tab's storage lost its results."""
    texts = [json.loads(line)["text"] for line in NEWS.read_text(encoding="utf-8").splitlines()]
    shared, other, third = texts[0], texts[1], texts[2]
    documents = [
        Document("once", f"{shared}\n\n{other}", 0),
        Document("twice", f"{shared}\n\n{third}\n\n{shared}", 1),
        Document("..", "A short note on nothing.", 2),
        Document("m1", "Its own decision field.", 3, {"decision": "keep", "related": "x"}),
    ]
    with open_index(tmp_path / "index", create=True) as store:
        add_documents(store, documents)
        with serving(create_app(store=store)) as base:
            with urllib.request.urlopen(base + "/compare?a=once&b=twice", timeout=30) as response:
                spans = json.loads(response.read())["pair"]["spans"]
            assert len(spans) == 2 and spans[0][:2] == spans[1][:2]  # one passage of "once", twice in "twice"
            page = browser.new_page()
            page.goto(base + "/pair?a=once&b=twice")
            page.locator("#summary").filter(has_text="shared passages").wait_for()
            for key in range(len(spans)):
                assert page.locator(f"#a-{key}").count() == 1 and page.locator(f"#b-{key}").count() == 1, key
            for doc_id, text in ((doc.id, doc.text) for doc in documents[2:]):
                page.goto(base + "/doc?id=" + urllib.parse.quote(doc_id, safe=""))
                page.locator("#text").filter(has_text=text).wait_for()
                assert page.locator("#title").inner_text() == doc_id
                assert page.locator(".error").count() == 0 and page.locator("#decision").inner_text() == ""
            page.goto(base + "/")
            page.evaluate(  # as a text past the tab's quota (about 5 MB) makes it
                "() => { Storage.prototype.setItem = () => { throw new DOMException('full', 'QuotaExceededError'); }; }"
            )
            page.get_by_label("Text to look up").fill(documents[0].text)
            page.get_by_role("button", name="Find copies").click()
            page.locator("tr.match", has_text="twice").wait_for()
            assert "too long for the browser to keep" in page.locator("#status").inner_text()
            page.close()


def test_regression_quick_clicks_on_more_documents_lose_no_rows(tmp_path: Path, browser: Any) -> None:
    """Two clicks on "More documents" before the first page came showed one page twice and never the next."""
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"id": f"n{i}", "text": f"Note {i}: the number {i} alone."}) + "\n" for i in range(650)),
        encoding="utf-8",
    )
    run_cli("dedup", "-q", source, "--out", tmp_path / "out")
    with serving(create_app(run=FinishedRun(tmp_path / "out"))) as base:
        page = browser.new_page()
        page.goto(base + "/")
        rows = page.locator("#decisions tbody tr")
        page.wait_for_function("document.querySelectorAll('#decisions tbody tr').length === 200")
        for shown in (400, 600, 650):
            page.evaluate("() => { const more = document.getElementById('more'); more.click(); more.click(); }")
            page.wait_for_function(f"document.querySelectorAll('#decisions tbody tr').length >= {shown}")
            page.wait_for_timeout(200)  # a second page, if one was asked, would have come meanwhile
            ids = [cell for cell in rows.locator("td:first-child").all_inner_texts()]
            assert ids == [f"n{i}" for i in range(shown)], (shown, len(ids))
        assert page.locator("#more").is_hidden()
        page.close()
