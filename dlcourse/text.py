"""Text for chapter 5's character-level language model: corpus, vocabulary, split, baselines.

The corpus is this book's own prose: the Markdown sources ``book/ch0*.md`` of the
checkout, with code cells, MyST directives and roles, LaTeX and markup stripped. Every
clone of the repository has it, offline, with no download and no licence question, and
it is real English of about two hundred thousand characters: enough for a small model
to beat the n-gram baselines on held-out text. The book quotes a few Chinese words from its
sources; they are dropped, because their hundred-odd distinct characters, most seen fewer
than five times, would more than double the vocabulary (and the output layer) for text no
character model could learn from so few examples.
Extracting the prose is deterministic (files in sorted order), but it changes whenever the
book does, and the language-model experiment, the chapter and the tests must all read the
same text as the committed results. So the corpus is frozen: ``load_corpus()`` reads the
committed snapshot ``data/book_prose.txt``, written by ``python tools/freeze_corpus.py``
from the chapters of the day, and the experiment records the snapshot's SHA-256. Refreezing
means rerunning ``experiments/char_lm.py``; a test fails until both agree.

Text is a string; a model sees it as ids, an integer array of shape (L,) with values in
[0, V), V the vocabulary size.
"""

import hashlib
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CORPUS = ROOT / "data" / "book_prose.txt"  # the frozen snapshot of book_prose()

# Fenced blocks whose body is code, maths or build instructions, not prose.
_DROP_BLOCKS = ("code-cell", "code", "math", "glue", "literalinclude", "through-line",
                "bibliography", "tableofcontents", "figure", "image", "list-table")
# Roles whose content is prose a reader sees (the rest are references, citations, glue).
_KEEP_ROLES = ("term", "abbr", "sub", "sup", "strong", "emphasis")


def _strip_front_matter(md):
    """Drop the jupytext YAML header between the first two ``---`` lines."""
    if md.startswith("---"):
        end = md.find("\n---", 3)
        if end != -1:
            return md[end + 4 :]
    return md


def _strip_blocks(md):
    """Drop fenced code/maths/figure blocks; keep the body of admonitions, not their options.

    Fences are ``` or ::: runs of three or more; a block ends at a fence of the same
    character at least as long, so nested admonitions are handled line by line.
    """
    out, stack = [], []  # stack of (fence, drop?) for the open blocks
    for line in md.splitlines():
        m = re.match(r"^\s*(`{3,}|:{3,}|~{3,})\s*(\{([^}]*)\})?\s*(.*)$", line)
        if m:
            fence, name = m.group(1), (m.group(3) or "").strip()
            if stack and not name and fence[0] == stack[-1][0][0] and len(fence) >= len(
                    stack[-1][0]):
                stack.pop()  # a closing fence
                continue
            drop = (not name and fence[0] in "`~") or name.split(":")[0] in _DROP_BLOCKS
            stack.append((fence, drop or any(d for _, d in stack)))
            if not stack[-1][1] and m.group(4):
                out.append(m.group(4))  # an admonition's title is prose
            continue
        if any(d for _, d in stack):
            continue
        if stack and re.match(r"^\s*:[\w-]+:", line):
            continue  # a directive option such as ":class: tip"
        out.append(line)
    return "\n".join(out)


def _strip_inline(md):
    """Remove LaTeX, roles, comments, labels and Markdown markup from prose."""
    md = re.sub(r"<!--.*?-->", " ", md, flags=re.S)
    md = re.sub(r"\$\$.*?\$\$(\s*\([\w-]+\))?", " ", md, flags=re.S)  # display maths, label
    md = re.sub(r"(?<!\\)\$(?:[^$\n]|\n(?!\s*\n))+\$", " ", md)  # inline, may wrap a line
    md = re.sub(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", " ", md, flags=re.S)
    md = re.sub(r"\{([\w:-]+)\}`([^`]*)`",
                lambda m: m.group(2) if m.group(1) in _KEEP_ROLES else " ", md)
    md = re.sub(r"^\s*\([\w-]+\)=\s*$", "", md, flags=re.M)  # MyST labels
    md = re.sub(r"^\s*%.*$", "", md, flags=re.M)  # MyST comments
    md = re.sub(r"^\s*\|?[\s:|-]*-{3,}[\s:|-]*$", "", md, flags=re.M)  # table rules
    md = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", md)  # links and images -> their text
    md = re.sub(r"^\s*#+\s*", "", md, flags=re.M)  # headings
    md = re.sub(r"^\s*>\s?", "", md, flags=re.M)  # block quotes
    md = re.sub(r"[*_`|]{1,3}", lambda m: " " if "|" in m.group() else "", md)
    return md


def _drop_cjk(text):
    """Remove CJK characters and punctuation, and the brackets they leave empty."""
    text = re.sub(r"[\u2e80-\u9fff\uff00-\uffef]+", "", text)
    text = re.sub(r"[(（]\s*[,;]?\s*[)）]", "", text)  # "(取下界)" -> "()" -> ""
    return re.sub(r",\s*\)", ")", text)  # "(001, 千分之一)" -> "(001)"


def _normalise_space(text):
    """One space between words, none before punctuation, one newline between paragraphs."""
    paragraphs = re.split(r"\n\s*\n", text)
    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in paragraphs]
    # the gap a removed formula leaves before punctuation
    paragraphs = [re.sub(r" ([,.;:?!)])", r"\1", p) for p in paragraphs]
    paragraphs = [p for p in paragraphs if len(p) > 1]
    return "\n".join(paragraphs) + "\n"


def markdown_to_prose(md):
    """The prose of one MyST Markdown chapter, as plain text (see the module docstring)."""
    return _normalise_space(_drop_cjk(_strip_inline(_strip_blocks(_strip_front_matter(md)))))


def book_prose(book=BOOK, pattern="ch0*.md"):
    """The chapters' prose as it is now, one string, chapters in sorted file order."""
    files = sorted(Path(book).glob(pattern))
    if not files:
        raise FileNotFoundError(f"no {pattern} in {book}")
    return "".join(markdown_to_prose(f.read_text(encoding="utf-8")) for f in files)


def load_corpus(path=CORPUS):
    """The frozen corpus: the snapshot of ``book_prose()`` committed at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"the corpus snapshot {path} is missing: "
                                "run python tools/freeze_corpus.py to write it")
    return path.read_text(encoding="utf-8")


def corpus_digest(text):
    """SHA-256 of the text's UTF-8 bytes, hex: names the corpus a result was computed on."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Vocabulary:
    """The characters of a text, sorted, each with an id in [0, size).

    Sorting makes the ids the same on every machine for the same text.
    """

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    @property
    def size(self):
        """V, the number of distinct characters."""
        return len(self.chars)

    def encode(self, text):
        """Ids of the characters of ``text``: int64 array of shape (len(text),)."""
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, ids):
        """The string whose characters have the ids ``ids`` (any 1-D integer sequence)."""
        return "".join(self.chars[int(i)] for i in ids)


def split(ids, fractions=(0.8, 0.1, 0.1)):
    """Contiguous train, validation and test pieces of ids (L,), in that order.

    Contiguous, not shuffled: a language model reads text in order, and random characters
    taken out of the training text would leave their neighbours in it (a leak).
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or (fractions < 0).any() or not np.isclose(fractions.sum(), 1):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    cuts = np.round(np.cumsum(fractions)[:-1] * len(ids)).astype(int)
    return tuple(np.split(np.asarray(ids), cuts))


def unigram_perplexity(train_ids, eval_ids, vocab_size):
    """exp of the mean negative log-likelihood of eval_ids under character frequencies.

    Add-one (Laplace) smoothing: p(c) = (count(c) + 1) / (L + V), so a character never
    seen in training gets a small, non-zero probability instead of an infinite loss.
    """
    counts = np.bincount(train_ids, minlength=vocab_size) + 1.0  # (V,)
    log_p = np.log(counts / counts.sum())
    return float(np.exp(-log_p[eval_ids].mean()))


def bigram_perplexity(train_ids, eval_ids, vocab_size):
    """Perplexity of eval_ids[1:] given the previous character, add-one smoothed.

    p(b | a) = (count(a b) + 1) / (count(a .) + V), counted over train_ids.
    """
    counts = np.ones((vocab_size, vocab_size))  # (V, V): +1 for every pair
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(np.exp(-log_p[eval_ids[:-1], eval_ids[1:]].mean()))
