"""The grader's three HTML pages (feedback, class report, review sheet) from Jinja2
templates: what a student or a grader could type shows as text, never as markup; each page
carries the one stylesheet inline; the review sheet renders Markdown, and MathJax (copied
beside it) typesets the math in a browser with no network."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import jinja2
import pytest
from grading_helpers import FIXTURES, ROOT

from autograder.course import assignment as assignments
from autograder.intake.late import Lateness
from autograder.publish import feedback, report, review_page
from autograder.publish.pages import render_page
from autograder.run.grading import PartResult, SubmissionResult

HOSTILE = "<script>alert(1)</script> & co"
HOSTILE_SHOWN = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"
STYLE_CSS = (ROOT / "autograder/publish/templates/style.css").read_text()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def fx01():
    return assignments.load("fx01", FIXTURES / "course/solutions")


def a_result(student_id=HOSTILE, status="ok"):
    """A submission of fx01 (8 points: 6 automatic, relu-derivation 2 by hand) with 4.5
    automatic points: relu-backward partly right (1.5 of 3)."""
    return SubmissionResult(
        student_id, status,
        [PartResult("relu-forward", 2, 2, "right"),
         PartResult("relu-backward", 1.5, 3, f"wrong values: got {HOSTILE}"),
         PartResult("mean-answer", 1, 1, "right")],
        notes=[f"note: {HOSTILE}"], sandbox="bubblewrap 0.8.0")


def style_blocks(page):
    return re.findall(r"<style[^>]*>(.*?)</style>", page, re.S)


def test_feedback_shows_what_a_student_typed_as_text(fx01):
    page = feedback.render(a_result(), fx01, {"relu-derivation": None})
    assert "<script" not in page
    # the id (title and heading), the part's message and the note, each as literal text
    assert page.count(HOSTILE_SHOWN) == 4
    assert "wrong values: got " + HOSTILE_SHOWN in page
    assert "class='pending'>partly</td><td class='pts'>1.5 / 3" in page
    assert "– / 2</td><td>not graded yet" in page
    # 4.5 of 8 so far, the derivation pending
    assert "score <strong>4.5 / 8</strong>" in page and "hand-graded parts pending" in page
    # quotes as html.escape wrote them before the templates (&#x27;, not Jinja's &#39;)
    page = feedback.render(a_result("o'neil"), fx01, {})
    assert "feedback for o&#x27;neil</title>" in page


def test_feedback_late_penalty_and_hand_score(fx01):
    """A hand score of 1.5 gives 6 points earned; 10% late takes 0.6 of them: 5.4."""
    late = Lateness(days=1, fraction=0.1, message="submitted 1 day late: -10% of the points")
    page = feedback.render(a_result("ann"), fx01, {"relu-derivation": 1.5}, late)
    assert "score <strong>5.4 / 8</strong>" in page and "parts pending" not in page
    assert "submitted 1 day late: -10% of the points (0.6 points)" in page
    assert "<td>graded by hand</td><td class='pts'>1.5 / 2</td>" in page


def report_page(fx01):
    ok = a_result("ann")
    hostile = a_result(status="errors")
    missing = SubmissionResult("absent", "missing")
    rows = {"ann": {"total": "6", "auto_total": "4.5", "manual_total": "1.5"},
            HOSTILE: {"total": "", "auto_total": "4.5", "manual_total": "pending"},
            "absent": {"total": "0", "auto_total": "0", "manual_total": ""}}
    code = "def f(x):\n" + "".join(f"    y{i} = x * {i} + np.sum(x)\n" for i in range(12))
    return report.render(fx01, [ok, hostile, missing], rows, {}, {"ann": code, HOSTILE: code},
                         "bubblewrap 0.8.0")


def test_report_shows_what_a_student_typed_as_text(fx01):
    page = report_page(fx01)
    assert "<script" not in page
    attention = page.split("Needs attention (3)")[1].split("Near-identical")[0]
    assert f"<td>{HOSTILE_SHOWN}</td><td>errors</td><td>pending</td>" in attention
    assert f"note: {HOSTILE_SHOWN}" in attention
    pairs = page.split("Near-identical answers (1 pairs)")[1]
    assert f"<td>{HOSTILE_SHOWN}</td><td>ann</td><td>100%</td>" in pairs
    summary = " ".join(page.split("<p>", 1)[1].split("</p>", 1)[0].split())
    # mean of 6 (ann) and 4.5 so far (the hostile id, pending); the absent student left out
    assert "3 students (1 errors, 1 missing, 1 ok); mean total 5.25 of 8" in summary
    assert "(1 missing left out of every statistic; 1 with hand-graded" in summary
    assert page.count("<img alt='plot' src='data:image/png;base64,") == 3


ANSWER = (
    "The gradient is **one** where $x > 0$ and $\\frac{a}{b}$ elsewhere:\n\n"
    "$$\n\\frac{\\partial L}{\\partial x} = \\mathbb{1}[x > 0]\n$$\n\n"
    f"{HOSTILE} <img src=x onerror=alert(2)> $\\href{{javascript:alert(3)}}{{here}}$\n")


def review(tmp_path, text=ANSWER):
    folder = tmp_path / "review"
    folder.mkdir()
    answers = [review_page.Answer(HOSTILE, "relu-derivation", 2, "pending", text),
               review_page.Answer("ann", "relu-derivation", 2, "graded", "$y = 1$")]
    page = review_page.render("fx01_tiny", answers, folder)
    (folder / "review.html").write_text(page)
    return folder, page


def test_review_page_renders_markdown_and_escapes_html(tmp_path):
    _, page = review(tmp_path)
    assert "<script>" not in page.replace('<script src="mathjax/', "")
    assert "<img" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert f"<h2>{HOSTILE_SHOWN} · <code>relu-derivation</code> (2 points, pending)" in page
    rendered = page.split('<div class="rendered">')[1].split("</div>\n<details>")[0]
    assert "is <strong>one</strong> where" in rendered
    assert '<span class="math inline">\\(\\frac{a}{b}\\)</span>' in rendered
    assert '<span class="math inline">\\(x &gt; 0\\)</span>' in rendered
    assert '<div class="math block">\n\\[\\frac{\\partial L}' in rendered
    assert HOSTILE_SHOWN in rendered
    # and exactly as typed, escaped, for the grader to check
    typed = page.split("<pre>")[1].split("</pre>")[0]
    assert typed == ANSWER.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_review_page_uses_mathjax_copied_beside_it_once(tmp_path):
    folder, page = review(tmp_path)
    src = re.findall(r'<script[^>]* src="([^"]+)"', page)
    assert src == ["mathjax/review-config.js", "mathjax/tex-chtml.js"]
    for s in src:
        assert (folder / s).is_file()
    fonts = folder / "mathjax/output/chtml/fonts/woff-v2"
    assert (fonts / "MathJax_Main-Regular.woff").is_file()
    # exported again: the copy is kept, not made anew
    stamp = (folder / "mathjax/tex-chtml.js").stat().st_mtime_ns
    review_page.render("fx01_tiny", [], folder)
    assert (folder / "mathjax/tex-chtml.js").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in folder.iterdir()) == ["mathjax", "review.html"]


def test_every_page_carries_the_one_stylesheet(fx01, tmp_path):
    _, review_html = review(tmp_path)
    pages = {"feedback": feedback.render(a_result(), fx01, {}),
             "report": report_page(fx01), "review": review_html}
    for name, page in pages.items():
        assert style_blocks(page) == [STYLE_CSS], name
        assert "<link" not in page, name  # nothing to fetch: the page is the one file


def test_a_variable_the_template_needs_but_is_not_given_raises():
    with pytest.raises(jinja2.UndefinedError, match="mathjax"):
        render_page("review.html", name="fx01_tiny", answers=[])
    # given it, the same page renders
    assert "No answers to grade by hand" in render_page("review.html", name="fx01_tiny",
                                                        answers=[], mathjax=None)


def test_mathjax_typesets_the_review_page_offline_in_chromium(tmp_path):
    """Every request but the page's own files is blocked; MathJax's fonts and extensions
    load from the copied folder; each math element becomes an mjx-container; \\href to a
    javascript: URL is dropped (ui/safe)."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "tools"))
    from page_overflow import CHROMIUM_ARGS

    folder, _ = review(tmp_path)
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}"
    problems, fetched = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            def route(r):
                if r.request.url.startswith(folder.as_uri() + "/"):
                    fetched.append(r.request.url)
                    r.continue_()
                else:
                    problems.append(f"blocked {r.request.url}")
                    r.abort()

            page.route("**/*", route)
            page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto((folder / "review.html").as_uri())
            page.wait_for_function("window.MathJax && MathJax.startup && "
                                   "MathJax.startup.promise")
            page.evaluate("MathJax.startup.promise.then(() => document.fonts.ready)")
            math = page.evaluate("document.querySelectorAll('.math').length")
            typeset = page.evaluate("document.querySelectorAll('.math mjx-container').length")
            links = page.evaluate("Array.from(document.querySelectorAll('[href]'))"
                                  ".map(a => a.getAttribute('href'))")
            in_pre = page.evaluate("document.querySelectorAll('pre mjx-container').length")
        finally:
            browser.close()
    assert problems == []
    assert math == 5 and typeset == 5  # x > 0, a/b, the display, the \href, y = 1
    assert in_pre == 0  # the answer as typed stays as typed
    assert not any("javascript" in link for link in links), links
    assert any(u.endswith(".woff") for u in fetched), fetched
