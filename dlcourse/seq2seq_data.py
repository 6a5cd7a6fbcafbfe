"""A translation-like task generated locally: numbers written in English words to digits.
Chapter 6.

    "three hundred four thousand twenty-one"  ->  "304021"

Why this task. It is a translation between two written formats with a known, exact answer,
so "exact match" is a fair score and nothing has to be downloaded. Its input lengths vary
widely, from 3 characters ("six") to about 100 ("seven hundred seventy-seven million
seven hundred seventy-seven thousand seven hundred seventy-seven"), and, unlike dates,
the information to carry grows with the length: every group of three digits adds about
25 characters of input and three digits of output. A decoder that starts from a single
fixed-size encoder state must squeeze up to nine digits, in order, into that state after
reading ~100 characters; an attending decoder can look back at the words it is writing
out. The alignment is monotone but not one-to-one: "thousand" and "million" emit no digit
of their own but decide how many zeros a missing "hundred" or a short group leaves, so the
decoder must know where it is in the number as well as what to write.

How it is generated. The number of digits k is drawn uniformly from 1..max_digits, then
the value uniformly among k-digit numbers (0 counts as one digit), so that short and long
inputs are about equally common; values are distinct. They are then split into train,
validation and test sets of *disjoint values*: no test number is ever seen in training
(only its words, in other combinations). Everything follows from one seed.

Conventions, for any model (the GRU encoder-decoder of ``dlcourse.seq2seq`` and a
Transformer alike): character vocabularies with the special ids PAD = 0, BOS = 1, EOS = 2;
padded batches src (N, S), tgt_in (N, T) starting with BOS, tgt_out (N, T) ending with
EOS (tgt_in shifted by one), and boolean masks, True at real positions. Padding is on the
right. The source carries no BOS or EOS: its mask says where it ends.
"""

from dataclasses import dataclass, field

import numpy as np

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
         "ninety"]
_SCALES = ["", "thousand", "million", "billion"]  # 10^(3 k)
MAX_DIGITS = 3 * len(_SCALES)  # 12: up to 999 billion ...

WORD_CHARS = "".join(sorted(set(" -" + "".join(_ONES + _TENS + _SCALES) + "hundred")))
DIGIT_CHARS = "0123456789"


# --------------------------------------------------------------------------------------
# Numbers <-> words
# --------------------------------------------------------------------------------------

def _below_thousand(n):
    """Words of 1 <= n <= 999: "four", "twenty-one", "three hundred", "one hundred five"."""
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else ""))
    elif n:
        words.append(_ONES[n])
    return words


def number_to_words(n):
    """English words of an integer 0 <= n < 10^12, American style (no "and", hyphenated
    tens): 304021 -> "three hundred four thousand twenty-one"."""
    n = int(n)
    if not 0 <= n < 10**MAX_DIGITS:
        raise ValueError(f"n must lie in [0, 10^{MAX_DIGITS}), got {n}")
    if n == 0:
        return "zero"
    words = []
    for k in range(len(_SCALES) - 1, -1, -1):  # largest group first
        group = (n // 10 ** (3 * k)) % 1000
        if group:
            words += _below_thousand(group) + ([_SCALES[k]] if k else [])
    return " ".join(words)


def words_to_number(text):
    """The inverse of number_to_words: "three hundred four thousand twenty-one" -> 304021.
    Raises ValueError on a word it does not know."""
    values = {w: i for i, w in enumerate(_ONES)} | {w: 10 * i for i, w in enumerate(_TENS)
                                                   if w}
    total, group = 0, 0
    for word in text.replace("-", " ").split():
        if word in values:
            group += values[word]
        elif word == "hundred":
            group *= 100
        elif word in _SCALES[1:]:
            total += group * 1000 ** _SCALES.index(word)
            group = 0
        else:
            raise ValueError(f"not a number word: {word!r}")
    return total + group


# --------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------

class CharVocab:
    """Characters with ids after the specials: PAD = 0, BOS = 1, EOS = 2, then ``chars``
    in the order given (sorted by the task, so the ids are the same on every machine)."""

    def __init__(self, chars):
        if len(set(chars)) != len(chars):
            raise ValueError("characters must be distinct")
        self.tokens = list(SPECIALS) + list(chars)
        self.index = {c: i for i, c in enumerate(self.tokens) if i >= len(SPECIALS)}

    @property
    def size(self):
        """V, including the three specials."""
        return len(self.tokens)

    def encode(self, text, bos=False, eos=False):
        """int64 ids (len(text) + bos + eos,) of a string, optionally framed by BOS/EOS."""
        ids = [self.index[c] for c in text]
        return np.array([BOS] * bos + ids + [EOS] * eos, dtype=np.int64)

    def decode(self, ids):
        """The string of ids: stops at the first EOS, skips PAD and BOS."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.tokens[i])
        return "".join(out)


WORDS = CharVocab(WORD_CHARS)
DIGITS = CharVocab(DIGIT_CHARS)


# --------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------

def sample_values(rng, n, max_digits=9):
    """n distinct integers: digit count k uniform in 1..max_digits, then the value uniform
    among the k-digit numbers. Short numbers are few (10 of one digit, 90 of two), so their
    share is capped by how many exist; the rest come from the longer counts.

    Returns: int64 array (n,), in random order.
    """
    if not 1 <= max_digits <= MAX_DIGITS:
        raise ValueError(f"max_digits must lie in 1..{MAX_DIGITS}, got {max_digits}")
    available = 10 ** max_digits
    if n > available:
        raise ValueError(f"only {available} numbers have at most {max_digits} digits")
    chosen = set()
    while len(chosen) < n:
        k = rng.integers(1, max_digits + 1, size=2 * (n - len(chosen)))
        lo = np.where(k == 1, 0, 10 ** (k - 1))
        values = lo + (rng.random(len(k)) * (10**k - lo)).astype(np.int64)
        for v in values:
            chosen.add(int(v))
            if len(chosen) == n:
                break
    out = np.array(sorted(chosen), dtype=np.int64)  # sorted first: the set's order is not
    return rng.permutation(out)                      # part of the seed's promise


@dataclass
class Task:
    """A generated task: string pairs (src, tgt) of each split, their values, the
    vocabularies and a description of how it was made (for result files)."""

    train: list
    val: list
    test: list
    values: dict  # split name -> int64 array of the underlying numbers
    src_vocab: CharVocab
    tgt_vocab: CharVocab
    description: dict = field(default_factory=dict)

    def max_lengths(self):
        """(longest source, longest target) over all splits, in characters."""
        pairs = self.train + self.val + self.test
        return max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)


def make_task(seed, n_train, n_val, n_test, max_digits=9, direction="words_to_digits"):
    """Generate the number-translation task from a seed, chapter 6.

    Inputs:
        seed: int; the same seed gives the same pairs, splits and order.
        n_train, n_val, n_test: number of pairs in each split (values disjoint).
        max_digits: largest number of digits (<= 12); 9 gives inputs up to ~100 chars.
        direction: "words_to_digits" (the chapter's; long, varied inputs) or
            "digits_to_words" (the same pairs reversed).

    Returns: a Task.
    """
    if direction not in ("words_to_digits", "digits_to_words"):
        raise ValueError(f"direction must be 'words_to_digits' or 'digits_to_words', "
                         f"got {direction!r}")
    rng = np.random.default_rng(seed)
    values = sample_values(rng, n_train + n_val + n_test, max_digits)
    cut = np.cumsum([n_train, n_val])
    split = dict(zip(("train", "val", "test"), np.split(values, cut), strict=True))
    vocabs = (WORDS, DIGITS) if direction == "words_to_digits" else (DIGITS, WORDS)

    def pairs(vals):
        words = [(number_to_words(v), str(int(v))) for v in vals]
        return words if direction == "words_to_digits" else [(d, w) for w, d in words]

    task = Task(pairs(split["train"]), pairs(split["val"]), pairs(split["test"]), split,
                *vocabs)
    S, T = task.max_lengths()
    task.description = {
        "name": "number words <-> digits (dlcourse.seq2seq_data.make_task)",
        "direction": direction, "seed": seed, "max_digits": max_digits,
        "sizes": {"train": n_train, "val": n_val, "test": n_test},
        "sampling": "digit count uniform in 1..max_digits, value uniform given the count; "
                    "distinct values; splits have disjoint values",
        "max_src_chars": S, "max_tgt_chars": T,
        "src_vocab": task.src_vocab.tokens, "tgt_vocab": task.tgt_vocab.tokens,
        "example": task.train[0]}
    return task


# --------------------------------------------------------------------------------------
# Batches, scoring, length buckets
# --------------------------------------------------------------------------------------

def pad(seqs, length=None):
    """Stack 1-D int sequences into (N, length) padded on the right with PAD, and the
    boolean mask (N, length), True at real positions. length defaults to the longest."""
    length = max(len(s) for s in seqs) if length is None else length
    out = np.full((len(seqs), length), PAD, dtype=np.int64)
    for i, s in enumerate(seqs):
        if len(s) > length:
            raise ValueError(f"sequence {i} has {len(s)} > {length} ids")
        out[i, : len(s)] = s
    mask = np.arange(length) < np.array([len(s) for s in seqs])[:, None]
    return out, mask


def make_batch(pairs, src_vocab, tgt_vocab):
    """A padded batch of (src, tgt) string pairs, for teacher forcing.

    Returns a dict of int64 arrays and boolean masks:
        src (N, S), src_mask (N, S): the source characters; S is the longest source.
        tgt_in (N, T): BOS, then the target characters (the decoder's inputs).
        tgt_out (N, T): the target characters, then EOS (what it must predict at each
            step); T = 1 + the longest target.
        tgt_mask (N, T): True at the real steps of tgt_out (its EOS included).
    """
    if not pairs:
        raise ValueError("a batch needs at least one pair")
    if any(not s for s, _ in pairs):
        raise ValueError("every source must hold at least one character")
    src, src_mask = pad([src_vocab.encode(s) for s, _ in pairs])
    framed = [tgt_vocab.encode(t, bos=True, eos=True) for _, t in pairs]
    tgt_in, _ = pad([f[:-1] for f in framed])
    tgt_out, tgt_mask = pad([f[1:] for f in framed])
    return {"src": src, "src_mask": src_mask, "tgt_in": tgt_in, "tgt_out": tgt_out,
            "tgt_mask": tgt_mask}


def exact_match(predicted, reference):
    """Per item, whether the decoded string equals the reference exactly: bool (N,)."""
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions for {len(reference)} references")
    return np.array([p == r for p, r in zip(predicted, reference, strict=True)], dtype=bool)


# Source characters: [1, 25), [25, 40), ... With max_digits = 9 the longest input has 100
# characters and each bucket of a 3000-item test set holds 60 to 800 items.
DEFAULT_EDGES = (1, 25, 40, 55, 70, 85, 128)


def bucket_of(lengths, edges=DEFAULT_EDGES):
    """Index b of the bucket [edges[b], edges[b+1]) of each length; -1 outside them."""
    lengths = np.asarray(lengths)
    b = np.searchsorted(np.asarray(edges), lengths, side="right") - 1
    return np.where((lengths >= edges[0]) & (lengths < edges[-1]), b, -1)


def accuracy_by_length(lengths, correct, edges=DEFAULT_EDGES):
    """Exact match per input-length bucket: a list of {"lo", "hi", "n", "exact_match"}, one
    per bucket [lo, hi) (exact_match None for an empty bucket)."""
    lengths, correct = np.asarray(lengths), np.asarray(correct, dtype=float)
    if lengths.shape != correct.shape:
        raise ValueError("lengths and correct must have the same shape")
    b = bucket_of(lengths, edges)
    out = []
    for i in range(len(edges) - 1):
        hit = correct[b == i]
        out.append({"lo": int(edges[i]), "hi": int(edges[i + 1]), "n": int(hit.size),
                    "exact_match": float(hit.mean()) if hit.size else None})
    return out
