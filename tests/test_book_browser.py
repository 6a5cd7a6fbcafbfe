"""The built book as a reader sees it, in headless Chromium with no network.

Needs `make book` first (`make test` does it). Every request outside the build folder is
blocked and recorded, so a page that needs the internet (a CDN's MathJax, web fonts)
fails here. A missing browser or build is a failure, never a skip.
"""

import os
import sys
from pathlib import Path

import pytest
from book_helpers import toc_files
from playwright.sync_api import sync_playwright

BUILD = Path(__file__).resolve().parents[1] / "_build" / "html"
sys.path.insert(0, str(BUILD.parents[1] / "tools"))
# The same loopback server, Chromium flags and overflow measurement as the author's tool.
from page_overflow import CHROMIUM_ARGS, overflows, serve  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site():
    """Serve _build/html on a free loopback port; yield its base URL."""
    assert (BUILD / "index.html").exists(), f"no built book at {BUILD}: run `make book` first"
    server, base = serve(BUILD)
    yield base
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: `make test` installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, site):
    """A fresh page that records console errors, page errors and blocked requests."""
    context = browser.new_context()
    pg = context.new_page()
    pg.problems = []

    def route(r):
        if r.request.url.startswith(site):
            r.continue_()
        else:
            pg.problems.append(f"blocked request to {r.request.url}")
            r.abort()

    pg.route("**/*", route)
    pg.on("console", lambda m: m.type == "error" and pg.problems.append(f"console: {m.text}"))
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    # A request the browser abandons because the page navigated on (net::ERR_ABORTED,
    # e.g. MathJax fonts still loading when a link is clicked) is not a fault of the site;
    # a missing file answers with an error status and is caught below.
    pg.on(
        "requestfailed",
        lambda r: r.url.startswith(site) and "ERR_ABORTED" not in (r.failure or "")
        and pg.problems.append(f"failed: {r.url} ({r.failure})"),
    )
    pg.on("response", lambda r: r.url.startswith(site) and r.status >= 400
          and pg.problems.append(f"HTTP {r.status}: {r.url}"))
    yield pg
    context.close()


def _open(page, url):
    response = page.goto(url, wait_until="networkidle")
    assert response is not None and response.ok, f"{url} answered {response and response.status}"


def test_chapter1_equations_are_typeset_offline(page, site):
    _open(page, site + "book/ch01_fully_connected.html")
    page.wait_for_selector("mjx-container", timeout=15000)
    n_math = page.locator(".math").count()
    n_typeset = page.locator(".math mjx-container").count()
    assert n_math >= 10, f"chapter 1 has only {n_math} equations"
    assert n_typeset == n_math, f"{n_math - n_typeset} of {n_math} equations left as raw TeX"
    # MathJax came from the build itself, not from a CDN.
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert any("_static/mathjax/" in s for s in scripts), scripts
    assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
    assert page.problems == []


def test_chapter1_figures_load(page, site):
    _open(page, site + "book/ch01_fully_connected.html")
    sizes = page.eval_on_selector_all(
        "article img", "imgs => imgs.map(i => [i.getAttribute('src'), i.naturalWidth])"
    )
    assert len(sizes) >= 4, f"expected the chapter's figures, found {len(sizes)} images"
    broken = [src for src, width in sizes if width == 0]
    assert broken == [], f"images that did not load: {broken}"
    assert page.problems == []


def test_navigation_between_chapters(page, site):
    _open(page, site + "book/ch01_fully_connected.html")
    page.click("a.left-prev")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("book/ch00_introduction.html")
    page.click("a.right-next")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("book/ch01_fully_connected.html")
    # The sidebar lists every chapter and leads to it.
    page.click("nav.bd-docs-nav a[href$='ch00_introduction.html']")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("book/ch00_introduction.html")
    assert page.problems == []


def test_search_finds_chapter1(page, site):
    _open(page, site + "search.html?q=cross-entropy")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=15000)
    hrefs = results.evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert any("ch01_fully_connected" in h for h in hrefs), hrefs
    assert page.problems == []


@pytest.mark.parametrize("width", [800, 1300, 1920])
def test_no_page_overflows_its_column(browser, site, width):
    """No equation, code block, output, table or image is clipped or scrolls sideways on
    any page, at a narrow, a medium (both sidebars: the narrowest column) and a wide
    window."""
    context = browser.new_context()
    pg = context.new_page()
    pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith(site) else r.abort())
    found = {}
    for page_file in toc_files(sections=True):
        problems = overflows(pg, f"{site}{page_file}.html", width)
        if problems:
            found[page_file] = problems
    context.close()
    report = "\n".join(f"{name}: {p}" for name, ps in found.items() for p in ps)
    assert found == {}, f"at {width} px:\n{report}"
