"""Sphinx extension for this book: three things Jupyter Book 1 does not do by itself.

1. **A failed chapter keeps failing.** Sphinx re-reads only pages whose source changed, so
   after a chapter's execution failed, the next build would skip it and report success.
   Every build re-reads the pages whose last execution failed (myst-nb records that in the
   environment) and ends with a warning naming them, which ``--warningiserror`` turns into a
   failed build.
2. **The repository address comes from one setting.** ``repository.url`` in ``_config.yml``
   (Jupyter Book passes it on as the theme's ``repository_url``) drives the repository
   button and the ``{clone-command}`` directive, which prints how to get the code.
3. **One through-line table.** ``{through-line}`` renders the rows of
   ``book/_data/through_line.yml`` up to a chapter, so every copy of the table agrees.
"""

from pathlib import Path

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
THROUGH_LINE = Path(__file__).resolve().parents[1] / "_data" / "through_line.yml"


def _failed_docs(env):
    """Docnames whose last notebook execution failed."""
    metadata = getattr(env, "nb_metadata", {})
    return sorted(
        name for name, data in metadata.items()
        if name in env.all_docs and (data.get("exec_data") or {}).get("succeeded") is False
    )


def reread_failed(app, env, added, changed, removed):
    """Sphinx ``env-get-outdated``: read failed chapters again, so they execute again."""
    failed = _failed_docs(env)
    if failed:
        logger.info("re-reading chapters whose last execution failed: " + ", ".join(failed))
    return failed


def report_failed(app, exception):
    """Sphinx ``build-finished``: a build with a failed chapter is a failed build."""
    if exception is None:
        for name in _failed_docs(app.env):
            logger.warning(f"{name}: its notebook failed to execute; the page is incomplete "
                           f"(see _build/html/reports/{name}.err.log)", type="course_book")


def repository_url(config):
    """The configured repository address ('' if none is set)."""
    return (config.html_theme_options or {}).get("repository_url", "").strip()


def show_repository_button(app, config):
    """Sphinx ``config-inited``: the repository button only when an address is set."""
    options = dict(config.html_theme_options or {})
    options["use_repository_button"] = bool(repository_url(config))
    config.html_theme_options = options


class CloneCommand(SphinxDirective):
    """How to get the code, built from ``repository.url``."""

    def run(self):
        url = repository_url(self.config)
        if url:
            folder = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
            intro = nodes.paragraph(
                "", "The code lives in the course repository, ",
                nodes.reference(url, url, refuri=url),
                nodes.Text(". Clone it and build the book in its folder:"),
            )
            command = f"git clone {url}\ncd {folder}\nmake book"
        else:
            intro = nodes.paragraph(
                "", "The code is the repository this book is built from: the chapters, "
                "the course library dlcourse, the problem sets and the autograder. This "
                "copy does not record where that repository is published (whoever "
                "publishes it sets repository.url in _config.yml, and this page then "
                "shows the clone command); get a copy from your course, then build the "
                "book in its folder with:")
            command = "make book"
        block = nodes.literal_block(command, command, language="bash")
        return [intro, block]


class ThroughLine(SphinxDirective):
    """The through-line table up to chapter ``:upto:`` (all rows without it)."""

    option_spec = {"upto": directives.nonnegative_int}

    def run(self):
        rows = yaml.safe_load(THROUGH_LINE.read_text(encoding="utf-8"))
        self.env.note_dependency(str(THROUGH_LINE))
        upto = self.options.get("upto", len(rows))
        lines = ["| chapter | what is shared | across | what it buys |",
                 "|---|---|---|---|"]
        lines += [f"| {r['chapter']} | {r['shared']} | {r['across']} | {r['buys']} |"
                  for r in rows[:upto]]
        container = nodes.container(classes=["through-line"])
        self.state.nested_parse(StringList(lines, source=str(THROUGH_LINE)),
                                self.content_offset, container)
        return [container]


def setup(app):
    app.connect("config-inited", show_repository_button)
    app.connect("env-get-outdated", reread_failed)
    app.connect("build-finished", report_failed)
    app.add_directive("clone-command", CloneCommand)
    app.add_directive("through-line", ThroughLine)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
