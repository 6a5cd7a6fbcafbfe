"""Trusted checks of problem set 6 (instructor side, never released).

Input generators ``inputs(rng, case)``: case 0 is the small visible case (its inputs and
the reference outputs are published in visible.json); cases 1..n are secret. Batch size,
query and key lengths and widths differ from each other (so a swapped axis fails on
shapes); N > 1. Masks are random with about a third of the entries hidden, every query
keeping at least one key; some cases run without a mask (None), some with a causal mask,
and each attention part has a case with a 2-D (T_q, T_k) mask, broadcast over the batch
(and the heads), as the docstrings allow. The multi-head cases use 2, 3 and 4 heads and
d_k != d_v where the API allows it. The positional-encoding cases include odd widths.

The visible cases include every one of these configurations (no mask, 2-D masks). No
graded function may use a library that does its job (OWN_WORK: scipy.special.softmax, a
deep-learning framework, ...); attention_backward is derived: no numerical gradient, and
at most two calls of attention_forward while it runs; dq, dk and dv earn 3 points each.
"""

import numpy as np

from autograder.ownwork import FINITE_DIFFERENCES, FRAMEWORKS
from dlcourse.layers import _WHERE

NOTEBOOK = "ps06_attention.ipynb"
# Every module of the course library that holds a graded answer; the sandbox does not
# contain them. Chapter 1's affine layer and chapter 4's layer norm are given. The
# Transformer's blocks, dropout, label smoothing and models (dlcourse.transformer) are
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


def _weights(rng, d, d_ff=None):
    w = {name: rng.normal(scale=1 / np.sqrt(d), size=(d, d)) for name in ("Wq", "Wk", "Wv", "Wo")}
    w.update({name: rng.normal(scale=0.2, size=d) for name in ("bq", "bk", "bv", "bo")})
    if d_ff:
        w.update(W1=rng.normal(scale=1 / np.sqrt(d), size=(d, d_ff)),
                 b1=rng.normal(scale=0.2, size=d_ff),
                 W2=rng.normal(scale=1 / np.sqrt(d_ff), size=(d_ff, d)),
                 b2=rng.normal(scale=0.2, size=d),
                 gamma1=1 + rng.normal(scale=0.2, size=d), beta1=rng.normal(scale=0.2, size=d),
                 gamma2=1 + rng.normal(scale=0.2, size=d), beta2=rng.normal(scale=0.2, size=d))
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


PARTS = [
    {"grade_id": "attention-forward", "probe": "attention_forward",
     "functions": ["attention_forward"], "inputs": attention_inputs},
    {"grade_id": "attention-backward", "probe": "attention_backward",
     "functions": ["attention_forward", "attention_backward"],
     "inputs": attention_backward_inputs, "weights": {"dq": 3, "dk": 3, "dv": 3},
     "own_work": {"functions": ["attention_backward"], "forbid": FINITE_DIFFERENCES,
                  "calls": {"attention_forward": 2}}},
    {"grade_id": "multi-head-forward", "probe": "multi_head_forward",
     "functions": ["multi_head_attention_forward"], "inputs": multi_head_inputs},
    {"grade_id": "positional-encoding", "probe": "positional_encoding",
     "functions": ["positional_encoding"], "inputs": positional_inputs},
    {"grade_id": "transformer-block", "probe": "transformer_block",
     "functions": ["transformer_block_forward"], "inputs": block_inputs},
]
