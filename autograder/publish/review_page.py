"""The review sheet's page (``review/review.html``): every hand-graded answer, rendered.

Derivations are Markdown with LaTeX math, so each answer is shown as Markdown
(markdown-it-py, CommonMark, raw HTML escaped rather than passed through) with its
``$...$`` and ``$$...$$`` typeset by MathJax, and also exactly as typed (a ``<details>``
with the source), since a grader may need to see what was written. MathJax is copied once
from the sphinx-mathjax-offline package into ``review/mathjax/`` and referenced relatively:
the page needs no network, and the folder can be zipped and moved as a whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markupsafe import Markup
from mdit_py_plugins.dollarmath import dollarmath_plugin

from autograder.publish.pages import render_page

MATHJAX_DIR = "mathjax"  # inside the review folder
CONFIG_JS = "review-config.js"
# What tex-chtml.js loads from its own folder: the TeX extensions it autoloads (\color,
# \cancel, ...), the safe-link filter the configuration asks for, and the CHTML fonts.
MATHJAX_PARTS = ("tex-chtml.js", "ui/safe.js", "input/tex/extensions",
                 "output/chtml/fonts/woff-v2")


@dataclass
class Answer:
    """One student's answer to one hand-graded cell, as the review sheet lists it."""

    student_id: str
    grade_id: str
    points: float
    state: str  # pending, graded or unanswered (see autograder.review)
    text: str  # the cell's source as the student typed it

    @property
    def html(self) -> Markup:
        return render_markdown(self.text)


def _math(content: str, options: dict) -> str:
    """The math between dollars, escaped, in the delimiters MathJax is told to find."""
    if options.get("display_mode"):
        return f"\\[{escapeHtml(content)}\\]"
    return f"\\({escapeHtml(content)}\\)"


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).use(dollarmath_plugin, renderer=_math)


def render_markdown(text: str) -> Markup:
    """An answer's Markdown as HTML: raw HTML in it shows as text; math is left in
    ``<span class="math inline">`` / ``<div class="math block">`` for MathJax."""
    return Markup(_MARKDOWN.render(text))


def mathjax_source() -> Path | None:
    """The MathJax folder of the installed sphinx-mathjax-offline package, or None."""
    try:
        dist = metadata.distribution("sphinx-mathjax-offline")
    except metadata.PackageNotFoundError:
        return None
    folder = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    return folder if (folder / "tex-chtml.js").is_file() else None


def copy_mathjax(review_folder: Path) -> str | None:
    """Put MathJax into ``review_folder/mathjax`` (once: a copy of the same MathJax is
    kept) with the review sheet's configuration; return the folder's relative URL, or None
    when MathJax is not installed (the page then shows the TeX as typed)."""
    source = mathjax_source()
    if source is None:
        return None
    config = resources.files("autograder.publish").joinpath("templates", "mathjax-config.js")
    target = Path(review_folder) / MATHJAX_DIR
    wanted = {"tex-chtml.js": (source / "tex-chtml.js").read_bytes(),
              CONFIG_JS: config.read_bytes()}
    if all((target / name).is_file() and (target / name).read_bytes() == data
           for name, data in wanted.items()) and all(
            (target / part).exists() for part in MATHJAX_PARTS):
        return MATHJAX_DIR
    # built beside the target and swapped in, so a reader never sees half a copy
    build = Path(tempfile.mkdtemp(dir=review_folder, prefix=".mathjax-"))
    try:
        for part in MATHJAX_PARTS:
            src, dst = source / part, build / part
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst)
            else:
                shutil.copyfile(src, dst)
        (build / CONFIG_JS).write_bytes(wanted[CONFIG_JS])
        build.chmod(0o755)  # mkdtemp's 0700 would hide the copy from a web server's user
        if target.exists():
            shutil.rmtree(target)
        os.replace(build, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return MATHJAX_DIR


def render(set_name: str, answers: list[Answer], review_folder: Path) -> str:
    """The review page for ``answers`` as an HTML string, to be written into
    ``review_folder`` (MathJax is copied there first)."""
    return render_page("review.html", name=set_name, answers=answers,
                       mathjax=copy_mathjax(review_folder))
