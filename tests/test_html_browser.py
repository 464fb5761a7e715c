"""The HTML report in a real headless Chromium (Debian's ``chromium``, driven by Playwright; nothing downloaded).

``.ci/run`` and ``make test`` install the package when it is missing, so CI runs these.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES

from graph.run import main

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),  # CI must run it
                                reason="needs Debian's chromium: apt-get install -y chromium")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    assert main([str(EXAMPLES / "deepobs_cifar10_3c3d.csv"), "--out", str(out), "--output-format", "html",
                 "--offline", "--quiet"]) == 0
    return out / "hparam_report.html"


@pytest.fixture(scope="module")
def page(report: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.requests, page.errors = [], []
        page.on("request", lambda r: page.requests.append(r.url))
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(report.as_uri(), wait_until="load")
        yield page
        browser.close()


def test_the_report_renders_whole_and_self_contained(page, report: Path, tmp_path: Path) -> None:
    pictures = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.alt])")
    assert len(pictures) >= 2 and all(done and width > 0 for done, width, _ in pictures), pictures
    assert page.errors == []
    assert [u for u in page.requests if u != report.as_uri() and not u.startswith("data:")] == []  # no network
    # At 1280 px nothing scrolls sideways: not the page, not a table.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    overflowing = page.eval_on_selector_all(
        "table", "ts => ts.filter(t => t.scrollWidth > t.clientWidth + 1).map(t => t.innerText.slice(0, 80))")
    assert overflowing == []
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("HPATH_KEEP_SCREENSHOT"):  # to look at it: HPATH_KEEP_SCREENSHOT=/some/dir
        shutil.copy(shot, Path(os.environ["HPATH_KEEP_SCREENSHOT"]) / "report.png")


def test_sections_link_to_each_other(page, report: Path) -> None:
    page.goto(report.as_uri() + "#")
    # A pattern's trial id leads to that trial's row in the closing table.
    nan = page.locator("h3[id^='P']", has_text="NaN/inf metrics at learning_rate").first
    pid = nan.get_attribute("id")
    link = page.locator(f"h3#{pid} ~ p a[href^='#trial-']").first
    trial = link.inner_text()
    link.click()
    row = page.locator(page.evaluate("location.hash"))
    assert row.evaluate("e => e.tagName") == "TR" and row.locator("td").first.inner_text() == trial
    assert "nonfinite_metric" in row.inner_text() and _in_view(page, row)
    # A recommendation's evidence leads to its pattern.
    page.locator(f"ol a[href='#{pid}']").first.click()
    assert page.evaluate("location.hash") == f"#{pid}" and _in_view(page, nan)
    assert nan.inner_text().startswith(f"{pid}. NaN/inf metrics at learning_rate")
    # Every in-page link has a target.
    targets = page.eval_on_selector_all("a[href^='#']", "as => as.filter(a => !document.getElementById("
                                        "a.getAttribute('href').slice(1))).map(a => a.getAttribute('href'))")
    assert targets == []


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and -2 <= box["y"] < page.viewport_size["height"]  # sub-pixel after the jump
