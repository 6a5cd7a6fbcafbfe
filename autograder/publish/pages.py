"""The Jinja2 environment the grader's HTML pages are rendered with.

Every page (feedback, class report, review sheet) extends ``templates/base.html`` and
carries the one stylesheet, ``templates/style.css``, inline, so a page is a single file
that opens from disk or from an e-mail with no network. Autoescaping is on: a value a
student controls (an id, a message, an answer) cannot add markup. ``StrictUndefined``
makes a variable a template names but the code did not pass an error, not an empty gap.
"""

from __future__ import annotations

import html
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup


def stylesheet() -> str:
    """The text of ``templates/style.css``, exactly as the file holds it."""
    return files("autograder.publish").joinpath("templates", "style.css").read_text(
        encoding="utf-8")


def number(x: float) -> str:
    """A number as the pages show points: ``3``, ``2.5``, ``0.3`` (``{:g}``)."""
    return f"{x:g}"


def percent(x: float) -> str:
    """A share as a whole percentage: ``0.93`` -> ``93%``."""
    return f"{x:.0%}"


def _escaped(value: Any) -> Markup:
    """Each ``{{ value }}`` escaped as ``html.escape`` does (``'`` -> ``&#x27;``), so the
    pages read exactly as they did before templates; markup the code built itself
    (``Markup``) is kept. Autoescaping stays on behind this for anything else."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value)))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("autograder.publish", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        finalize=_escaped,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = number
    env.filters["percent"] = percent
    # our own file: inlined as it is (escaping would turn a CSS ">" into "&gt;")
    env.globals["stylesheet"] = Markup(stylesheet())
    return env


ENVIRONMENT = _environment()


def render_page(template_name: str, **context: Any) -> str:
    """Render ``templates/<template_name>`` with ``context``; a variable the template uses
    but ``context`` lacks raises ``jinja2.UndefinedError``."""
    return ENVIRONMENT.get_template(template_name).render(**context)
