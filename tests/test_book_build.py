"""The book build itself: a chapter whose execution failed fails every later build.

Sphinx re-reads only pages whose source changed, so without book/_ext/course_book.py a
second `make book` after a failed one skips the failed chapter and says "build
succeeded" over a page with blanks. A two-page book in a scratch folder, built with the
project's own extension and flags, shows it does not.
"""

import os
import subprocess
from pathlib import Path

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "jupyter-book"

CONFIG = f"""\
title: scratch
only_build_toc_files: true
execute:
  execute_notebooks: cache
  allow_errors: false
sphinx:
  local_extensions:
    course_book: {ROOT / "book" / "_ext"}
"""
TOC = "format: jb-book\nroot: index\nchapters:\n  - file: chapter\n"
CHAPTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  name: python3
  display_name: Python 3
---
# A chapter

```{{code-cell}} ipython3
from myst_nb import glue
value = {value}
assert value > 0, "the claim does not hold"
glue("value", value, display=False)
```

The value is {{glue:text}}`value`.
"""


def build(folder):
    # -W --keep-going as `make book` runs it; .venv/bin on PATH for the kernel
    env = {**os.environ, "PATH": f"{JUPYTER_BOOK.parent}:{os.environ['PATH']}"}
    return subprocess.run([str(JUPYTER_BOOK), "build", str(folder), "--warningiserror",
                           "--keep-going"], capture_output=True, text=True, env=env,
                          timeout=600)


def test_a_failed_chapter_fails_every_build_until_it_runs(tmp_path):
    (tmp_path / "_config.yml").write_text(CONFIG)
    (tmp_path / "_toc.yml").write_text(TOC)
    (tmp_path / "index.md").write_text("# Scratch book\n")
    chapter = tmp_path / "chapter.md"
    chapter.write_text(CHAPTER.format(value=-1))

    first = build(tmp_path)
    assert first.returncode != 0, first.stdout[-2000:]
    # Nothing changed: Sphinx alone would skip the page and succeed.
    second = build(tmp_path)
    assert second.returncode != 0, second.stdout[-2000:]
    assert "chapter: its notebook failed to execute" in second.stderr + second.stdout

    chapter.write_text(CHAPTER.format(value=3))
    fixed = build(tmp_path)
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-2000:]
    html = (tmp_path / "_build" / "html" / "chapter.html").read_text()
    assert "The value is <span class=\"pasted-text\">3</span>" in html


def test_the_clone_command_and_repository_button_come_from_repository_url(tmp_path):
    url = "https://github.com/example-course/weight-up"  # a test value only
    (tmp_path / "_config.yml").write_text(
        CONFIG + f"repository:\n  url: {url}\n" + "html:\n  use_repository_button: true\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    (tmp_path / "index.md").write_text("# Scratch book\n\n```{clone-command}\n```\n")
    done = build(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    html = (tmp_path / "_build" / "html" / "index.html").read_text()
    text = BeautifulSoup(html, "html.parser").get_text()
    assert f"git clone {url}" in text and "cd weight-up" in text
    assert html.count(f'href="{url}"') >= 2  # the theme's repository button and the link
    # The book itself has no address yet: its landing page says so instead of inventing one.
    landing = BeautifulSoup((ROOT / "_build" / "html" / "book" / "index.html").read_text(),
                            "html.parser").get_text()
    assert "git clone" not in landing and "repository.url" in landing
