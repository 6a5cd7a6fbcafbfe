"""Trusted checks of problem set 6 (instructor side, never released).

Input generators ``inputs(rng, case)``: case 0 is the small visible case (its inputs and
the reference outputs are published in visible.json); cases 1..n are secret. Batch size,
query and key lengths and widths differ from each other (so a swapped axis fails on
shapes); N > 1. Masks are random with about a third of the entries hidden, every query
keeping at least one key; some cases run without a mask (None), some with a causal mask,
and each attention part has a case with a 2-D (T_q, T_k) mask, broadcast over the batch
(and the heads), as the docstrings allow. The multi-head cases use 2, 3 and 4 heads and
d_k != d_v where the API allows it. The positional-encoding cases include odd widths.

The multi-head backward cases are self-attention (one array for queries, keys and values,
with a causal (T, T) mask or a random (N, T, T) one) and cross-attention (T_q != T_k, with
a key padding mask (N, 1, T_k), or none), so dx_q and dx_kv differ in shape. The encoder
block's backward runs with a key padding mask, a causal (T, T) mask and none. The masks
part pads source and target rows to different lengths (one row full, one as short as
possible) with a pad id that changes from case to case; the decoder block runs with both
masks built that way (padded queries included in the comparison), with a causal mask
alone, and with none. Every gradient there is far from zero except the key bias's, which
is exactly zero and not graded.

Greedy decoding is run on small random "models" the probe builds from tables (the next
token's scores depend on the last token, the step and the source); each case is drawn
until its rows end at different steps, and until ignoring the rules would show: some rows
end early (eos before max_len) while others are cut off at max_len (or, in case 2, every
row ends before max_len, so fewer than max_len steps run), and at some step of some live
row pad or bos scores highest. The special ids change from case to case.

The encoder-decoder model is trained by the student's train_seq2seq(seed) and scored by
the exact match of its greedy decoding (the course library's model, rebuilt from the
returned arrays in the grader's process) on strings drawn here from the case's generator:
the secret seed's strings are scorer inputs only (scorer_inputs), never sent into the
sandbox. Two hidden cases, with two seeds.

The visible cases include every one of these configurations (no mask, 2-D masks, padding
masks, self- and cross-attention, early end and cut-off). No graded function may use a
library that does its job (OWN_WORK: scipy.special.softmax, a deep-learning framework,
...); the backward passes are derived: no numerical gradient, and at most two calls of
the forward pass while they run (attention_forward: eight in the multi-head and block
passes, twice for each of up to four heads). The backward passes give each gradient its
share (weights).
"""

import numpy as np

from autograder.ownwork import FINITE_DIFFERENCES, FRAMEWORKS
from dlcourse.layers import _WHERE

NOTEBOOK = "ps06_attention.ipynb"
# Every module of the course library that holds a graded answer; the sandbox does not
# contain them. Chapter 1's affine layer and loss and chapter 4's layer norm are given.
# The Transformer's blocks, dropout, label smoothing and models (dlcourse.transformer) are
# chapter 6's too. dlcourse.layers re-exports their functions by name: the names are read
# from its own table (as in problem set 5), so the local check refuses
# `from dlcourse.layers import encoder_block_forward` as the sandbox would.
_LAYER_MODULES = ("attention", "transformer_blocks", "dropout", "label_smoothing")
_REEXPORTED = tuple(name for module in _LAYER_MODULES for name in _WHERE[module])
FORBIDDEN_MODULES = ("dlcourse.layers.attention", "dlcourse.models", "dlcourse.train",
                     "dlcourse.optim", "dlcourse.transformer",
                     *(f"dlcourse.layers.{module}" for module in _LAYER_MODULES[1:]),
                     *(f"dlcourse.layers.{name}" for name in _REEXPORTED))
LIBRARY_FILES = {"dlcourse": ["__init__.py", "data.py", "plotting.py", "gradcheck.py",
                              "layers/__init__.py", "layers/fc.py", "layers/activations.py",
                              "layers/losses.py", "layers/norm.py"]}
OWN_WORK = {"forbid": FRAMEWORKS}


def _different(rng, k, low, high):
    return [int(v) for v in rng.choice(np.arange(low, high), size=k, replace=False)]


def _mask(rng, n, t_q, t_k, causal=False):
    if causal:
        return np.broadcast_to(np.tril(np.ones((t_q, t_k), dtype=bool)), (n, t_q, t_k)).copy()
    keep = rng.uniform(size=(n, t_q, t_k)) < 0.65
    keep[np.arange(n)[:, None], np.arange(t_q)[None, :],
         rng.integers(0, t_k, size=(n, t_q))] = True  # every query keeps a key
    return keep


def _lengths(rng, n, longest):
    """Lengths 1..longest of n padded rows: one row full, one of length 1 (or 2)."""
    lengths = rng.integers(1, longest + 1, size=n)
    lengths[0], lengths[-1] = longest, min(longest - 1, int(rng.integers(1, 3)))
    return rng.permutation(lengths)


def _key_padding(rng, n, t_k):
    """A key padding mask (N, 1, T_k): row n keeps its first lengths[n] keys."""
    return (np.arange(t_k)[None, :] < _lengths(rng, n, t_k)[:, None])[:, None, :]


def attention_inputs(rng, case):
    if case == 0:
        n, t_q, t_k, d_k, d_v = 2, 3, 4, 5, 6
    else:
        n, t_q, t_k = _different(rng, 3, 2, 8)
        d_k, d_v = _different(rng, 2, 3, 9)
    use_mask = case != 2
    q, k, v = (rng.normal(size=(n, t_q, d_k)), rng.normal(size=(n, t_k, d_k)),
               rng.normal(size=(n, t_k, d_v)))
    mask = _mask(rng, n, t_q, t_k)
    if case == 3:  # one (T_q, T_k) mask for the whole batch
        mask = mask[0]
    return {"q": q, "k": k, "v": v, "mask": mask, "use_mask": np.array(use_mask)}


def attention_backward_inputs(rng, case):
    arrays = attention_inputs(rng, case)
    arrays["dout"] = rng.normal(size=arrays["q"].shape[:2] + arrays["v"].shape[-1:])
    return arrays


def _weights(rng, d, d_ff=None, cross=False):
    names = ("Wq", "Wk", "Wv", "Wo")
    w = {name: rng.normal(scale=1 / np.sqrt(d), size=(d, d)) for name in names}
    w.update({name: rng.normal(scale=0.2, size=d) for name in ("bq", "bk", "bv", "bo")})
    if d_ff:
        w.update(W1=rng.normal(scale=1 / np.sqrt(d), size=(d, d_ff)),
                 b1=rng.normal(scale=0.2, size=d_ff),
                 W2=rng.normal(scale=1 / np.sqrt(d_ff), size=(d_ff, d)),
                 b2=rng.normal(scale=0.2, size=d),
                 gamma1=1 + rng.normal(scale=0.2, size=d), beta1=rng.normal(scale=0.2, size=d),
                 gamma2=1 + rng.normal(scale=0.2, size=d), beta2=rng.normal(scale=0.2, size=d))
    if cross:
        w.update({f"cross_{name}": value for name, value in _weights(rng, d).items()})
        w.update(cross_gamma=1 + rng.normal(scale=0.2, size=d),
                 cross_beta=rng.normal(scale=0.2, size=d))
    return w


HEADS = [2, 3, 4]  # secret cases 1, 2, 3


def multi_head_inputs(rng, case):
    if case == 0:
        n, t_q, t_k, heads, width = 2, 3, 4, 2, 3
    else:
        n, t_q, t_k = _different(rng, 3, 2, 7)
        heads, width = HEADS[(case - 1) % 3], int(rng.integers(2, 5))
    d = heads * width
    x_q, x_kv = rng.normal(size=(n, t_q, d)), rng.normal(size=(n, t_k, d))
    mask = _mask(rng, n, t_q, t_k)
    if case == 2:  # one (T_q, T_k) mask for the whole batch and every head
        mask = mask[0]
    return {"x_q": x_q, "x_kv": x_kv, "mask": mask, "use_mask": np.array(case != 3),
            "n_heads": np.array(heads), **_weights(rng, d)}


# The multi-head backward's secret cases, in turn: (self-attention?, mask kind).
MHA_BACKWARD = [(True, "causal"), (False, "padding"), (False, None), (True, "random")]


def multi_head_backward_inputs(rng, case):
    """Self-attention (x_kv is x_q: the probe passes one array) or cross-attention with
    T_q != T_k; masks: causal (T, T), key padding (N, 1, T_k), random (N, T_q, T_k) or
    none. Case 0 is cross-attention with a random mask."""
    if case == 0:
        n, t_q, t_k, heads, width = 2, 3, 4, 2, 3
        self_attention, kind = False, "random"
    else:
        self_attention, kind = MHA_BACKWARD[(case - 1) % len(MHA_BACKWARD)]
        n, t_q, t_k = _different(rng, 3, 2, 7)
        heads, width = HEADS[(case - 1) % 3], int(rng.integers(2, 5))
    t_k = t_q if self_attention else t_k
    d = heads * width
    x_q = rng.normal(size=(n, t_q, d))
    x_kv = x_q.copy() if self_attention else rng.normal(size=(n, t_k, d))
    mask = {"causal": np.tril(np.ones((t_q, t_k), dtype=bool)),
            "padding": _key_padding(rng, n, t_k), "random": _mask(rng, n, t_q, t_k),
            None: np.ones((n, t_q, t_k), dtype=bool)}[kind]
    return {"x_q": x_q, "x_kv": x_kv, "self_attention": np.array(self_attention),
            "mask": mask, "use_mask": np.array(kind is not None), "n_heads": np.array(heads),
            "dout": rng.normal(size=(n, t_q, d)), **_weights(rng, d)}


def positional_inputs(rng, case):
    sizes = [(6, 5), (50, 32), (17, 7), (9, 2)]
    t, d = sizes[case]
    return {"T": np.array(t), "d": np.array(d)}


def block_inputs(rng, case):
    if case == 0:
        n, t, heads, width, d_ff = 2, 4, 2, 3, 10
    else:
        n, t = _different(rng, 2, 2, 7)
        heads, width = HEADS[(case - 1) % 3], int(rng.integers(2, 4))
        d_ff = int(rng.integers(5, 13))
    d = heads * width
    x = rng.normal(size=(n, t, d))
    mask = _mask(rng, n, t, t, causal=case != 2)
    if case == 3:  # the causal mask as one (T, T) array
        mask = mask[0]
    return {"x": x, "mask": mask, "use_mask": np.array(case != 2),
            "n_heads": np.array(heads), **_weights(rng, d, d_ff)}


BLOCK_BACKWARD = ["padding", "causal", None]  # secret cases 1, 2, 3


def block_backward_inputs(rng, case):
    """The encoder block's cases with an upstream gradient; masks: a key padding mask
    (N, 1, T) (case 0 and 1), causal (T, T), none."""
    arrays = block_inputs(rng, case)
    n, t, _ = arrays["x"].shape
    kind = "padding" if case == 0 else BLOCK_BACKWARD[(case - 1) % 3]
    arrays["mask"] = {"padding": _key_padding(rng, n, t),
                      "causal": np.tril(np.ones((t, t), dtype=bool)),
                      None: np.ones((n, t, t), dtype=bool)}[kind]
    arrays["use_mask"] = np.array(kind is not None)
    arrays["dout"] = rng.normal(size=arrays["x"].shape)
    return arrays


PADS = [0, 7, 4]  # the pad id of secret cases 1, 2, 3 (the vocabulary has 10 ids)


def _padded(rng, n, longest, pad, first=None):
    """(N, longest) ids of a vocabulary of 10, padded on the right with pad; first: the
    id every row starts with (bos), or None."""
    real = [t for t in range(10) if t != pad and t != first]
    ids = rng.choice(real, size=(n, longest))
    if first is not None:
        ids[:, 0] = first
    lengths = _lengths(rng, n, longest)
    ids[np.arange(longest)[None, :] >= lengths[:, None]] = pad
    return ids


def masks_inputs(rng, case):
    if case == 0:
        n, s, t, pad = 3, 4, 5, 0
    else:
        n, s, t = _different(rng, 3, 2, 8)
        pad = PADS[(case - 1) % 3]
    bos = (pad + 1) % 10
    return {"src": _padded(rng, n, s, pad), "tgt_in": _padded(rng, n, t, pad, bos),
            "pad": np.array(pad)}


def _reference_masks(src, tgt_in, pad):
    """The masks of the set's conventions: (N, 1, S) and (N, T, T)."""
    t = tgt_in.shape[1]
    return (src != pad)[:, None, :], np.tril(np.ones((t, t), dtype=bool)) & \
        (tgt_in != pad)[:, None, :]


DECODER = ["both", "causal", None]  # the masks of secret cases 1, 2, 3


def decoder_inputs(rng, case):
    """A decoder block on padded sequences: both masks from padded token rows (case 0 and
    1), a causal (T, T) self mask and no cross mask, or no masks; T != S."""
    if case == 0:
        n, t, s, heads, width, d_ff = 2, 4, 3, 2, 3, 10
        kind = "both"
    else:
        n, t, s = _different(rng, 3, 2, 7)
        heads, width = HEADS[(case - 1) % 3], int(rng.integers(2, 4))
        d_ff, kind = int(rng.integers(5, 13)), DECODER[(case - 1) % 3]
    d = heads * width
    cross_mask, self_mask = _reference_masks(_padded(rng, n, s, 0),
                                             _padded(rng, n, t, 0, 1), 0)
    if kind == "causal":
        self_mask = np.tril(np.ones((t, t), dtype=bool))
    return {"y": rng.normal(size=(n, t, d)), "memory": rng.normal(size=(n, s, d)),
            "self_mask": self_mask, "cross_mask": cross_mask,
            "use_self_mask": np.array(kind is not None),
            "use_cross_mask": np.array(kind == "both"), "n_heads": np.array(heads),
            **_weights(rng, d, d_ff, cross=True)}


# Greedy decoding: (pad, bos, eos) and whether every row must end before max_len, for
# the secret cases 1, 2, 3 (case 0: (0, 1, 2), some rows cut off).
GREEDY = [((0, 1, 2), False), ((3, 0, 1), True), ((5, 2, 0), False)]


def _toy_log_probs(tables, src, prefix):
    """The probe's model (probes.greedy_decode), here to draw cases with it."""
    a, b, c = tables
    scores = a[prefix[:, -1]] + b[prefix.shape[1] - 1] + c[src].sum(axis=1)
    scores = scores - scores.max(axis=1, keepdims=True)
    return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))


def _greedy_story(tables, src, max_len, pad, bos, eos):
    """(step at which each row emitted eos, or None; whether pad or bos scored highest
    at some step of a live row), decoding greedily by the set's rules."""
    n = len(src)
    prefix, ended, trap = np.full((n, 1), bos), [None] * n, False
    for step in range(1, max_len + 1):
        log_p = _toy_log_probs(tables, src, prefix)
        live = np.array([e is None for e in ended])
        trap |= bool(np.isin(log_p.argmax(axis=1)[live], (pad, bos)).any())
        log_p[:, [pad, bos]] = -np.inf
        token = np.where(live, log_p.argmax(axis=1), pad)
        for i in np.flatnonzero(live & (token == eos)):
            ended[i] = step
        prefix = np.concatenate([prefix, token[:, None]], axis=1)
        if all(e is not None for e in ended):
            break
    return ended, trap


def greedy_inputs(rng, case):
    if case == 0:
        (pad, bos, eos), all_end = (0, 1, 2), False
        n, s, vocab, max_len = 4, 3, 7, 6
    else:
        (pad, bos, eos), all_end = GREEDY[(case - 1) % len(GREEDY)]
        n, s = _different(rng, 2, 3, 9)
        vocab, max_len = int(rng.integers(7, 12)), int(rng.integers(5, 10))
    for _ in range(10_000):
        src = rng.integers(0, vocab, size=(n, s))
        tables = (rng.normal(scale=1.5, size=(vocab, vocab)),
                  rng.normal(scale=1.5, size=(max_len, vocab)),
                  rng.normal(scale=0.7, size=(vocab, vocab)))
        tables[1][:, eos] += np.linspace(-2.0, 2.0, max_len)  # eos likelier later
        tables[0][:, pad] += 1.0  # pad and bos tempting
        tables[0][:, bos] += 1.0
        ended, trap = _greedy_story(tables, src, max_len, pad, bos, eos)
        steps = [e for e in ended if e is not None]
        early = len(set(steps)) >= 2  # rows end at different steps
        # every row ends before max_len (fewer steps run), or some are cut off there
        ends = (None not in ended and max(steps) < max_len) if all_end else None in ended
        if trap and early and ends:
            break
    else:
        raise RuntimeError("no greedy case with the wanted properties")
    return {"src": src, "A": tables[0], "B": tables[1], "C": tables[2],
            "max_len": np.array(max_len), "pad": np.array(pad), "bos": np.array(bos),
            "eos": np.array(eos)}


# -- the encoder-decoder Transformer ------------------------------------------------------
# The task of part 9: reverse strings of 3 to 6 digits (ids 3..12; pad 0, bos 1, eos 2).
# The held-out strings are drawn here from the case's generator: for the hidden cases that
# is the grader's secret seed, and they are scorer inputs only.
HELD_OUT = 500


def _held_out_strings(rng, n):
    """src (n, 6) and tgt_out (n, 7): random digit strings and their reversals + eos."""
    lengths = rng.integers(3, 7, size=n)
    src = np.zeros((n, 6), dtype=np.int64)
    tgt_out = np.zeros((n, 7), dtype=np.int64)
    for i, k in enumerate(lengths):
        digits = rng.integers(3, 13, size=k)
        src[i, :k] = digits
        tgt_out[i, :k + 1] = [*digits[::-1], 2]
    return src, tgt_out


def seq2seq_inputs(rng, case):
    seed = 0 if case == 0 else int(rng.integers(1, 10**6))
    src, tgt_out = _held_out_strings(rng, HELD_OUT)
    return {"seed": np.int64(seed), "test_src": src, "test_tgt_out": tgt_out}


def derived(function, **most_calls):
    """The rule of a part that asks for the analytic gradient computed by ``function``."""
    return {"functions": [function], "forbid": FINITE_DIFFERENCES, "calls": most_calls}


# dbk is exactly zero (chapter 6, eq. key-bias): returned but not graded
MHA_WEIGHTS = {"dx_q": 2, "dx_kv": 2, "dWq": 1, "dbq": 1, "dWk": 1, "dWv": 1, "dbv": 1,
               "dWo": 1, "dbo": 1}
BLOCK_PARAMS = ("Wq", "bq", "Wk", "Wv", "bv", "Wo", "bo", "W1", "b1", "W2", "b2",
                "gamma1", "beta1", "gamma2", "beta2")

PARTS = [
    {"grade_id": "attention-forward", "probe": "attention_forward",
     "functions": ["attention_forward"], "inputs": attention_inputs},
    {"grade_id": "attention-backward", "probe": "attention_backward",
     "functions": ["attention_forward", "attention_backward"],
     "inputs": attention_backward_inputs, "weights": {"dq": 3, "dk": 3, "dv": 3},
     "own_work": derived("attention_backward", attention_forward=2)},
    {"grade_id": "multi-head-forward", "probe": "multi_head_forward",
     "functions": ["multi_head_attention_forward"], "inputs": multi_head_inputs},
    {"grade_id": "multi-head-backward", "probe": "multi_head_backward",
     "functions": ["multi_head_attention_forward", "multi_head_attention_backward"],
     "inputs": multi_head_backward_inputs, "cases": 4, "weights": MHA_WEIGHTS,
     "own_work": derived("multi_head_attention_backward", multi_head_attention_forward=2,
                         attention_forward=8)},
    {"grade_id": "positional-encoding", "probe": "positional_encoding",
     "functions": ["positional_encoding"], "inputs": positional_inputs},
    {"grade_id": "transformer-block", "probe": "transformer_block",
     "functions": ["transformer_block_forward"], "inputs": block_inputs},
    {"grade_id": "transformer-block-backward", "probe": "transformer_block_backward",
     "functions": ["transformer_block_forward", "transformer_block_backward"],
     "inputs": block_backward_inputs,
     "weights": {"dx": 2.5, **{f"d{name}": 0.5 for name in BLOCK_PARAMS}},
     "own_work": derived("transformer_block_backward", transformer_block_forward=2,
                         multi_head_attention_forward=2, attention_forward=8)},
    {"grade_id": "make-masks", "probe": "make_masks", "functions": ["make_masks"],
     "inputs": masks_inputs, "weights": {"src_mask": 1, "tgt_mask": 2},
     "rtol": 0.0, "atol": 0.0},
    {"grade_id": "decoder-block", "probe": "decoder_block",
     "functions": ["decoder_block_forward"], "inputs": decoder_inputs},
    {"grade_id": "greedy-decode", "probe": "greedy_decode", "functions": ["greedy_decode"],
     "inputs": greedy_inputs, "rtol": 0.0, "atol": 0.0},
    # Judged by the exact match the grader measures, with the course library's model
    # rebuilt from the returned weights, on strings the student's code never sees.
    {"grade_id": "seq2seq", "probe": "seq2seq", "functions": ["train_seq2seq"],
     "inputs": seq2seq_inputs, "cases": 2, "scorer": "score_seq2seq",
     "scorer_inputs": ["test_src", "test_tgt_out"],
     "own_work": {"functions": ["train_seq2seq"], "forbid": FINITE_DIFFERENCES}},
]
