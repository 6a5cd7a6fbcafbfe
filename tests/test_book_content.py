"""The built book, read as text: every page there, no leaked answers or check code.

Needs `make book` first (`make test` does it).
"""

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pytest
from book_helpers import toc_files
from bs4 import BeautifulSoup
from grading_helpers import solution_and_check_lines

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


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
        assert "findfont:" not in text, f"{path}: matplotlib's font warnings are printed"


def chapter_pages():
    return sorted((HTML / "book").glob("ch*.html"))


def soup_of(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.mark.parametrize("path", chapter_pages(), ids=lambda p: p.stem)
def test_every_glued_number_is_on_the_page(path):
    """A glued value that rendered empty (its cell failed or glued nothing) is a blank in
    a sentence: "solved it in  of  seeds"."""
    soup = soup_of(path)
    pasted = soup.select(".pasted-text, .pasted-inline")
    empty = [str(el.parent)[:120] for el in pasted if not el.get_text(strip=True)]
    assert empty == [], f"{path.name}: empty glued values in {empty}"
    # A key that was never glued renders as nothing at all: count roles against values.
    source = (ROOT / "book" / f"{path.stem}.md").read_text(encoding="utf-8")
    roles = len(re.findall(r"\{glue(?::text)?\}`", source))
    assert len(pasted) == roles, (
        f"{path.name}: the source pastes {roles} glued values, the page shows {len(pasted)}")


@pytest.mark.parametrize("path", chapter_pages(), ids=lambda p: p.stem)
def test_every_figure_has_a_number_a_caption_and_alt_text(path):
    soup = soup_of(path)
    images = soup.select("article img")
    assert images, f"{path.name} has no figures"
    for img in images:
        src = img.get("src", "")
        figure = img.find_parent("figure")
        assert figure is not None, f"{path.name}: {src} is not in a captioned figure"
        number = figure.select_one("figcaption .caption-number")
        assert number is not None and re.match(r"Fig\. (\d+\.)?\d+", number.get_text()), (
            f"{path.name}: {src} has no figure number")
        caption = figure.select_one("figcaption").get_text(" ", strip=True)
        assert len(caption) > len(number.get_text()) + 20, f"{path.name}: {src}: {caption!r}"
        alt = img.get("alt", "")
        assert len(alt) >= 20 and not re.search(r"\.(png|svg|jpg)|_images", alt), (
            f"{path.name}: {src} has alt text {alt!r}: say what the figure shows")
        # The text refers to the figure: some link on the page points at its anchor.
        anchor = figure.get("id")
        assert anchor and soup.select(f'a[href="#{anchor}"]'), (
            f"{path.name}: figure {number.get_text()} ({anchor}) is never referred to")


MAX_CODE_COLUMNS = 78  # the narrowest code column: 700 px at 1300 px, 8.4 px per character


@pytest.mark.parametrize("path", chapter_pages(), ids=lambda p: p.stem)
def test_code_lines_fit_the_column(path):
    """Source shown on a page (code cells and printed library code) never scrolls."""
    soup = soup_of(path)
    long = []
    for pre in soup.select("article div.highlight pre"):
        if pre.find_parent(class_="cell_output"):
            continue  # outputs wrap (custom.css)
        long += [ln for ln in pre.get_text().splitlines() if len(ln) > MAX_CODE_COLUMNS]
    assert long == [], f"{path.name}: {len(long)} code lines over {MAX_CODE_COLUMNS}: {long[:3]}"


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
            # "return h, caches" says nothing about how h was computed, nor
            # "N, C, H, W = x.shape" or "for n in range(N):" about what is done
            # with the sizes
            generic = (re.fullmatch(r"return [\w, ()]+", line)
                       or re.fullmatch(r"[\w, ]+ = \w+\.shape", line)
                       or re.fullmatch(r"for \w+ in range\(\w+\):", line))
            if len(line) >= min_len and not generic:
                lines.append(re.sub(r"\s+", " ", line))
    return lines


def graded_library_functions():
    """Course-library functions whose source the book must not print (a problem set
    grades them)."""
    from dlcourse import (
        bn_models,
        costs,
        enas_controller,
        enas_search,
        gradcheck,
        models,
        nas,
        resnet,
        transformer,
    )
    from dlcourse.layers import (
        activations,
        attention,
        conv_variants,
        dropout,
        embedding,
        fc,
        losses,
        norm,
        rnn,
        transformer_blocks,
    )

    return [fc.affine_forward, fc.affine_backward, activations.relu_backward,
            activations.sigmoid, activations.sigmoid_backward, losses.softmax_loss,
            gradcheck.eval_numerical_gradient, costs.fc_macs,
            models.MLP.loss,  # in substance ps01's two_layer_loss
            dropout.dropout_forward, dropout.dropout_backward,  # graded in ps01 too
            # graded in ps04
            norm.batchnorm_forward, norm.batchnorm_backward, norm.spatial_batchnorm_forward,
            norm.spatial_batchnorm_backward,
            bn_models.ConvNetBN.loss,  # in substance ps04's bn_cnn_loss
            resnet.DeepCNN.loss,  # holds ps03's residual block, forward and backward
            resnet.DeepCNN.scores,
            # graded in ps06
            attention.attention_forward, attention.attention_backward,
            attention.multi_head_attention_forward, attention.positional_encoding,
            attention.transformer_block_forward, attention.multi_head_attention_backward,
            attention.transformer_block_backward, transformer_blocks.padding_mask,
            transformer_blocks.decoder_self_mask,
            transformer_blocks._block_forward,  # decoder_block_forward is a call of it
            transformer.Seq2SeqTransformer.greedy_decode,
            # graded in ps07
            nas.macro_space_size, nas.micro_cell_count, nas.kendall_tau,
            nas.Controller.update,
            # in substance ps07's controller gradient and
            # random-search measures
            enas_controller.LSTMController.reinforce_grads,
            enas_search.expected_best_of_k_percentile, enas_search.top_k_recall,
            # graded in ps05
            rnn.rnn_step_forward, rnn.rnn_step_backward, rnn.rnn_forward, rnn.rnn_backward,
            rnn.clip_by_global_norm, rnn.lstm_forward, rnn.lstm_backward,
            rnn.lstm_step_forward, rnn.lstm_step_backward, rnn.gru_step_forward,
            rnn.gru_step_backward, embedding.embedding_forward,
            embedding.embedding_backward,
            # graded in ps02 (part 6)
            conv_variants.conv_transpose_forward, conv_variants.conv_transpose_forward_naive,
            conv_variants.conv_transpose_backward]


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
