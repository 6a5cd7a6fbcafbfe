"""The built book, read as text: every page there, no leaked answers or check code.

Needs `make book` first (`make test` does it).
"""

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from grading_helpers import solution_and_check_lines

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


def page_text(path):
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return re.sub(r"\s+", " ", soup.get_text())


@pytest.fixture(scope="module")
def pages():
    assert (HTML / "index.html").exists(), f"no built book in {HTML}: run `make book`"
    return {p: page_text(p) for p in HTML.rglob("*.html")}


def test_every_page_of_the_toc_is_built():
    missing = [f for f in toc_files() if not (HTML / f"{f}.html").exists()]
    assert missing == []


def test_chapters_show_no_errors_or_tracebacks(pages):
    for path, text in pages.items():
        assert "Traceback (most recent call last)" not in text, path


def _code_lines(source, min_len=14):
    """Distinctive lines of a function body: code, not docstrings or comments."""
    source = textwrap.dedent(source)  # a method's source is indented
    tree = ast.parse(source)
    func = tree.body[0]
    body = func.body[1:] if ast.get_docstring(func) else func.body
    lines = []
    for node in body:
        for line in ast.get_source_segment(source, node).splitlines():
            line = line.split("#")[0].strip()
            # "return h, caches" says nothing about how h was computed
            generic = re.fullmatch(r"return [\w, ()]+", line)
            if len(line) >= min_len and not generic:
                lines.append(re.sub(r"\s+", " ", line))
    return lines


def graded_library_functions():
    """Course-library functions whose source the book must not print (a problem set
    grades them)."""
    from dlcourse import costs, gradcheck, nas
    from dlcourse.layers import activations, attention, fc, losses, norm, rnn

    return [fc.affine_forward, fc.affine_backward, activations.relu_backward,
            activations.sigmoid, activations.sigmoid_backward, losses.softmax_loss,
            gradcheck.eval_numerical_gradient, costs.fc_macs,
            # graded in ps04
            norm.batchnorm_forward, norm.batchnorm_backward, norm.spatial_batchnorm_forward,
            norm.spatial_batchnorm_backward,
            # graded in ps06
            attention.attention_forward, attention.attention_backward,
            attention.multi_head_attention_forward, attention.positional_encoding,
            attention.transformer_block_forward,
            # graded in ps07
            nas.macro_space_size, nas.micro_cell_count, nas.kendall_tau,
            nas.Controller.update,
            # graded in ps05
            rnn.rnn_step_forward, rnn.rnn_step_backward, rnn.rnn_forward, rnn.rnn_backward,
            rnn.clip_by_global_norm]


@pytest.mark.parametrize("func", graded_library_functions(), ids=lambda f: f.__name__)
def test_book_does_not_print_graded_library_code(pages, func):
    lines = _code_lines(inspect.getsource(func))
    assert lines, "nothing to look for"
    for path, text in pages.items():
        leaked = [line for line in lines if line in text]
        assert not leaked, f"{path.relative_to(HTML)} prints {func.__name__}: {leaked}"


def test_book_contains_no_solution_or_check_code(pages):
    lines = solution_and_check_lines()
    for path, text in pages.items():
        leaked = [(ps, ln) for ps, ln in lines if ln in text]
        assert not leaked, f"{path.relative_to(HTML)} contains {leaked[:3]}"
