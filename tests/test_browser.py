"""The web pages in a real browser: Debian's headless Chromium driven by Playwright (no browser download).

Skipped, with the reason, where Chromium or Playwright is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reprints.index.api import open_index
from reprints.index.build import add_documents
from reprints.types import Document
from reprints.web.app import create_app
from reprints.web.run import FinishedRun
from test_service import ARTICLE, PAGE, seed_run, serving

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
