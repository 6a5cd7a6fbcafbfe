"""Find what does not fit the text column of built book pages, at several window widths.

    python tools/page_overflow.py _build/html/book/ch05_rnn_lstm.html [more.html ...]
        [--widths 800 1300 1920] [--single-page]

Opens each page in headless Chromium (Debian's /usr/bin/chromium) and lists every display
equation, code block, output, table or image that is wider than its box or reaches past
the column: the same measurement the browser test makes. ``--single-page`` is for pages
built alone (``jupyter-book build book/chNN.md --config _config.yml --path-output DIR``),
which have no left sidebar: it narrows their column to the width the whole book gives it.
Exit status 1 if anything overflows.
"""

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

# Flags for a root, sandbox-less, offline machine: no GPU, no background calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
WIDTHS = (800, 1300, 1920)
# The whole book's article width at each window width (both sidebars where they show).
BOOK_ARTICLE_PX = {800: 800, 1300: 768, 1920: 854}

# Returns a list of "what: needs N px of M :: text" strings for one page.
OVERFLOW_JS = """
() => {
  const art = document.querySelector("article.bd-article");
  const out = [];
  const text = el => (el.textContent || el.getAttribute("src") || "")
      .replace(/\\s+/g, " ").trim().slice(0, 90);
  const right = art.getBoundingClientRect().right;
  for (const box of art.querySelectorAll("div.math")) {
    const math = box.querySelector("mjx-container mjx-math");
    if (!math) { out.push("equation not typeset :: " + text(box)); continue; }
    const eqno = box.querySelector(".eqno");
    const need = math.getBoundingClientRect().width
        + (eqno ? eqno.getBoundingClientRect().width + 8 : 0);
    if (need > box.clientWidth + 1)
      out.push(`equation ${eqno ? text(eqno).replace("#", "") : "(unnumbered)"}: needs `
               + `${Math.round(need)} px of ${box.clientWidth} :: ${text(box).slice(0, 60)}`);
  }
  for (const el of art.querySelectorAll("pre, table, img, .cell_output")) {
    const r = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1 || r.right > right + 1) {
      const kind = el.closest(".cell_input") ? "code" : el.closest(".cell_output")
          ? "output" : el.tagName.toLowerCase();
      out.push(`${kind}: needs ${Math.max(el.scrollWidth, Math.round(r.width))} px of `
               + `${el.clientWidth} :: ${text(el)}`);
    }
  }
  return out;
}
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder):
    """Serve ``folder`` on a free loopback port; return (server, base URL)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def overflows(page, url, width, single_page=False):
    """Everything on ``url`` that does not fit at window ``width``."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(url, wait_until="networkidle")
    if single_page:
        page.add_style_tag(content=f".bd-article {{ max-width: {BOOK_ARTICLE_PX[width]}px "
                                   "!important; }")
    page.wait_for_function("() => !window.MathJax || !MathJax.startup || "
                           "MathJax.startup.promise !== undefined", timeout=15000)
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    return page.evaluate(OVERFLOW_JS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--widths", nargs="+", type=int, default=list(WIDTHS))
    parser.add_argument("--single-page", action="store_true")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    found = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        for path in args.pages:
            path = path.resolve()
            # serve the build's root (the folder with _static), so relative assets load
            root = next((d for d in path.parents if (d / "_static").is_dir()), path.parent)
            server, base = serve(root)
            for width in args.widths:
                url = base + str(path.relative_to(root))
                problems = overflows(page, url, width, args.single_page)
                print(f"{path.name} at {width} px: {len(problems)} overflowing")
                for problem in problems:
                    print("   ", problem)
                found += len(problems)
            server.shutdown()
        browser.close()
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
