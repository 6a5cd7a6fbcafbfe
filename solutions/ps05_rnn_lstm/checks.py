"""Trusted checks of problem set 5 (instructor side, never released).

Input generators ``inputs(rng, case)``: case 0 is the small visible case (its inputs and
the reference outputs are published in visible.json); cases 1..n are secret. N, T, D and
H are all different (and H != 3H for the GRU blocks' sake), so a transposed weight or a
swapped axis fails on shapes; N > 1 and T > 1. Weights are scaled so that the tanh and
the gates work away from saturation (every gradient is far from zero), and the upstream
gradients are nonzero at every step, so a BPTT that forgets the gradient arriving from
the future, or the one arriving through the outputs, fails. The GRU cases take prev_h in
(-0.9, 0.9) and gate biases of both signs, so that r, z and 1 - z all matter. The
clipping cases have global norms above and below the threshold. The parameter counts are
exact and include the sources' LSTM of 150 units on 100 inputs (150,600 parameters). The
vanishing-gradient cases use W_h = rho * (random orthogonal) with rho between 0.5 and
1.2, so the norms shrink or grow over 8 to 15 steps but stay far above the tolerance.

The embedding cases repeat ids (so dW must accumulate) and, in case 3, leave ids
unused. The LSTM cases use the RNN's sizes with 4H gate columns whose biases lean open
or closed. The language model is trained on part of corpus.private.txt and scored by the
perplexity of the returned weights on a held-out part that only the scorer receives
(scorer_inputs); the sampler is scored by a chi-square test of its draws against
softmax(logits / temperature) with Wh = 0 (a Markov chain) at temperatures 0.5, 2 and 1,
and by greedy draws at a temperature of 1e-3.

No graded function may use a library that does its job (OWN_WORK); the backward passes
are derived: no numerical gradient, and at most two calls of a forward pass while they
run (a sequence's forward pass runs the step T times: up to 40 step calls are allowed
where the sequence's forward pass is). The backward passes give each gradient its share
(weights).
"""

import re
from pathlib import Path

import numpy as np

from autograder.ownwork import FINITE_DIFFERENCES, FRAMEWORKS
from dlcourse.layers import _WHERE

NOTEBOOK = "ps05_rnn_lstm.ipynb"
# Every module of the course library that holds a graded answer; the sandbox does not
# contain them at all. Chapter 1's layers (sigmoid, tanh, fc, losses) are given.
# dlcourse.layers re-exports the recurrent functions by name, so they are listed too:
# the local check (validate) then refuses `from dlcourse.layers import rnn_forward` as the
# sandbox would (it has no rnn.py). dlcourse.costs may count recurrent parameters.
# The names are read from dlcourse.layers' own table, so a function added to rnn.py or
# embedding.py is forbidden here without a second list to keep. dlcourse.lm and
# dlcourse.text hold chapter 5's language model: the char-lm part's answer.
# dlcourse.layers.rnn_stack runs the graded LSTM (and RNN, GRU) sequence functions.
_REEXPORTED = (*_WHERE["rnn"], *_WHERE["embedding"], *_WHERE["rnn_stack"])
FORBIDDEN_MODULES = ("dlcourse.layers.rnn", "dlcourse.layers.embedding",
                     "dlcourse.layers.rnn_stack", "dlcourse.lm",
                     "dlcourse.text", "dlcourse.costs", "dlcourse.models",
                     "dlcourse.train", "dlcourse.optim",
                     *(f"dlcourse.layers.{name}" for name in _REEXPORTED))
# The language model's training (two hidden cases) and the sampler (three) need about
# 0.3 s and 0.2 s of CPU per case in the reference: 15 s per part leaves a student's
# slower, but sensible, code room (the notebook states it).
PART_CPU_FLOOR = 15.0
LIBRARY_FILES = {"dlcourse": ["__init__.py", "data.py", "plotting.py", "gradcheck.py",
                              "layers/__init__.py",
                              "layers/fc.py", "layers/activations.py", "layers/losses.py"]}


def _different(rng, k, low, high):
    """k different integers in [low, high)."""
    return [int(v) for v in rng.choice(np.arange(low, high), size=k, replace=False)]


def _step_sizes(rng, case):
    """(N, D, H): case 0 is (3, 4, 5)."""
    return (3, 4, 5) if case == 0 else tuple(_different(rng, 3, 2, 9))


def _rnn_weights(rng, d, h):
    return {"Wx": rng.normal(scale=1.0 / np.sqrt(d), size=(d, h)),
            "Wh": rng.normal(scale=0.8 / np.sqrt(h), size=(h, h)),
            "b": rng.normal(scale=0.5, size=h)}


def rnn_step_inputs(rng, case):
    n, d, h = _step_sizes(rng, case)
    return {"x": rng.normal(size=(n, d)), "prev_h": rng.uniform(-0.9, 0.9, size=(n, h)),
            **_rnn_weights(rng, d, h)}


def rnn_step_backward_inputs(rng, case):
    arrays = rnn_step_inputs(rng, case)
    arrays["dnext_h"] = rng.normal(size=arrays["prev_h"].shape)
    return arrays


def _sequence_sizes(rng, case):
    """(N, T, D, H): case 0 is (2, 4, 3, 5)."""
    if case == 0:
        return 2, 4, 3, 5
    n, d, h = _different(rng, 3, 2, 8)
    t = int(rng.choice([v for v in range(3, 10) if v not in (n, d, h)]))
    return n, t, d, h


def rnn_sequence_inputs(rng, case):
    n, t, d, h = _sequence_sizes(rng, case)
    return {"x": rng.normal(size=(n, t, d)), "h0": rng.uniform(-0.9, 0.9, size=(n, h)),
            **_rnn_weights(rng, d, h)}


def rnn_backward_inputs(rng, case):
    return _with_dh(rng, rnn_sequence_inputs(rng, case))


def _with_dh(rng, arrays):
    """A sequence case's arrays plus an upstream gradient dh (N, T, H)."""
    n, t, _ = arrays["x"].shape
    arrays["dh"] = rng.normal(size=(n, t, arrays["h0"].shape[1]))
    return arrays


def grad_clip_inputs(rng, case):
    """Three arrays; the threshold is a factor 0.3 (clipped) or 2 (left alone) times their
    global norm, in turn (case 0 clips)."""
    if case == 0:
        shapes = ((3, 4), (4, 4), (4,))
    else:
        a, c = _different(rng, 2, 2, 7)
        shapes = ((a, c), (c, c), (c,))
    arrays = {k: rng.normal(scale=s, size=shape)
              for k, s, shape in zip(("W", "U", "b"), (1.0, 3.0, 0.5), shapes, strict=True)}
    norm = np.sqrt(sum(np.sum(v * v) for v in arrays.values()))
    factor = 2.0 if case == 2 else float(rng.uniform(0.1, 0.5)) if case else 0.3
    return {**arrays, "max_norm": np.float64(factor * norm)}


def _gru_weights(rng, d, h):
    b = rng.normal(scale=0.5, size=3 * h)
    b[:2 * h] += rng.choice([-1.0, 1.0], size=2 * h)  # gates leaning open or closed
    return {"Wx": rng.normal(scale=1.0 / np.sqrt(d), size=(d, 3 * h)),
            "Wh": rng.normal(scale=0.8 / np.sqrt(h), size=(h, 3 * h)), "b": b}


def gru_inputs(rng, case):
    n, d, h = _step_sizes(rng, case)
    return {"x": rng.normal(size=(n, d)), "prev_h": rng.uniform(-0.9, 0.9, size=(n, h)),
            **_gru_weights(rng, d, h)}


def gru_backward_inputs(rng, case):
    arrays = gru_inputs(rng, case)
    arrays["dnext_h"] = rng.normal(size=arrays["prev_h"].shape)
    return arrays


def param_count_inputs(rng, case):
    """Pairs (n_x, n_h) with n_x != n_h (a swap shows); case 1 holds the sources' LSTM."""
    if case == 0:
        n_x, n_h = [3, 10, 1], [4, 7, 1]
    else:
        n_x = [int(v) for v in rng.integers(1, 600, size=4)]
        n_h = [int(v) for v in rng.integers(1, 600, size=4)]
        n_h = [c if c != a else c + 1 for a, c in zip(n_x, n_h, strict=True)]
        if case == 1:
            n_x[0], n_h[0] = 100, 150  # 150,600 for the LSTM
    return {"n_x": np.array(n_x, dtype=np.int64), "n_h": np.array(n_h, dtype=np.int64)}


RHO = [0.6, 0.9, 1.15, 0.5]  # spectral scale of W_h in the secret cases, in turn


def vanishing_inputs(rng, case):
    if case == 0:
        n, t, d, h, rho = 2, 6, 3, 4, 0.8
    else:
        n, d, h = _different(rng, 3, 2, 8)
        t, rho = int(rng.integers(8, 16)), RHO[(case - 1) % len(RHO)]
    q, _ = np.linalg.qr(rng.normal(size=(h, h)))  # random orthogonal (h, h)
    return {"x": rng.normal(scale=0.5, size=(n, t, d)),
            "h0": rng.uniform(-0.5, 0.5, size=(n, h)),
            "Wx": rng.normal(scale=0.5 / np.sqrt(d), size=(d, h)), "Wh": rho * q,
            "b": rng.normal(scale=0.2, size=h), "dh_last": rng.normal(size=(n, h))}


def embedding_inputs(rng, case):
    """ids (N, T) into a table W (V, D). Every case repeats ids (their rows of dW must
    accumulate, not overwrite): case 0 holds id 1 three times; the secret cases put the
    same id at both ends and, in case 3, leave ids unused (their rows of dW are 0)."""
    if case == 0:
        ids = np.array([[1, 4, 1, 0], [2, 1, 5, 4]])
        return {"ids": ids, "W": rng.normal(size=(6, 3))}
    n, t, d = _different(rng, 3, 2, 8)
    v = n * t + 3 if case == 3 else int(rng.integers(3, 6))
    ids = rng.integers(0, v, size=(n, t))
    ids[-1, -1] = ids[0, 0]
    ids[0, -1] = ids[-1, 0] = (ids[0, 0] + 1) % v
    return {"ids": ids, "W": rng.normal(size=(v, d))}


def embedding_backward_inputs(rng, case):
    arrays = embedding_inputs(rng, case)
    n, t = arrays["ids"].shape
    arrays["dout"] = rng.normal(size=(n, t, arrays["W"].shape[1]))
    return arrays


def _lstm_weights(rng, d, h):
    b = rng.normal(scale=0.5, size=4 * h)
    b[:3 * h] += rng.choice([-1.0, 1.0], size=3 * h)  # gates leaning open or closed
    return {"Wx": rng.normal(scale=1.0 / np.sqrt(d), size=(d, 4 * h)),
            "Wh": rng.normal(scale=0.8 / np.sqrt(h), size=(h, 4 * h)), "b": b}


def lstm_inputs(rng, case):
    """As rnn_forward's cases (N, T, D, H all different), with 4H gate columns whose
    biases lean open or closed."""
    n, t, d, h = _sequence_sizes(rng, case)
    return {"x": rng.normal(size=(n, t, d)), "h0": rng.uniform(-0.9, 0.9, size=(n, h)),
            **_lstm_weights(rng, d, h)}


def lstm_backward_inputs(rng, case):
    return _with_dh(rng, lstm_inputs(rng, case))


# -- the character-level language model ------------------------------------------------
# The text is corpus.private.txt beside this file (a *.private.* file is never
# released): English prose written for this problem set, not taken from the book or any
# other published source, so the held-out part is nowhere a student can read it. Its
# first 80 % is the training text, the rest the held-out text. Case 0 (visible) trains
# on the training text less its last 1,000 characters and is scored on those
# (published: a validation split); the secret cases train on the whole training text
# and are scored on the held-out text, which is a scorer input only: the grader never
# sends it into the sandbox (scorer_inputs).
VOCAB = " abcdefghijklmnopqrstuvwxyz.,'"  # 30 characters; id = position in VOCAB
CORPUS = Path(__file__).with_name("corpus.private.txt")
HELD_OUT_SHARE = 0.2
VALIDATION = 1000


def encode(text):
    """Character ids of ``text``: lower case, ';' and ':' as ',', '!' and '?' as '.',
    every run of white space one space, anything else dropped."""
    text = re.sub(r"[;:]", ",", text.lower())
    text = re.sub(r"\s+", " ", re.sub(r"[!?]", ".", text))
    return np.array([VOCAB.index(c) for c in text if c in VOCAB], dtype=np.int64)


def corpus_split():
    """(training ids, held-out ids) of the corpus."""
    ids = encode(CORPUS.read_text())
    split = int(len(ids) * (1 - HELD_OUT_SHARE))
    return ids[:split], ids[split:]


def char_lm_inputs(rng, case):
    train, held_out = corpus_split()
    if case == 0:
        train, held_out = train[:-VALIDATION], train[-VALIDATION:]
    return {"train_ids": train, "vocab_size": np.int64(len(VOCAB)),
            "seed": np.int64(0 if case == 0 else rng.integers(1, 10**6)),
            "heldout_ids": held_out}


def sample_inputs(rng, case):
    """A small model (V = 5 characters, E = 4, H = 6) with logits of order 1, so every
    next-character probability at the case's temperature is at least about 1 %; the
    probe samples from it with Wh = 0 (each character's distribution then depends on
    the previous character only, a Markov chain the scorer knows) and greedily (a tiny
    temperature) with Wh as given. Temperatures 0.5, 2 and 1 in the secret cases."""
    v, e, h = 5, 4, 6
    temperature = 0.7 if case == 0 else (0.5, 2.0, 1.0)[(case - 1) % 3]
    return {"W_embed": rng.normal(size=(v, e)),
            "Wx": rng.normal(scale=1.0 / np.sqrt(e), size=(e, h)),
            "Wh": rng.normal(scale=1.0 / np.sqrt(h), size=(h, h)),
            "b": rng.normal(scale=0.3, size=h),
            "W_out": rng.normal(scale=1.0 / np.sqrt(h), size=(h, v)),
            "b_out": rng.normal(scale=0.3, size=v),
            "start_id": np.int64(rng.integers(v)), "n": np.int64(12000),
            "temperature": np.float64(temperature),
            "greedy_n": np.int64(40), "greedy_temperature": np.float64(1e-3),
            "seed": np.int64(rng.integers(1, 10**6))}


OWN_WORK = {"forbid": FRAMEWORKS}


def derived(function, **most_calls):
    """The rule of a part that asks for the analytic gradient computed by ``function``."""
    return {"functions": [function], "forbid": FINITE_DIFFERENCES, "calls": most_calls}


PARTS = [
    {"grade_id": "rnn-step-forward", "probe": "rnn_step_forward",
     "functions": ["rnn_step_forward"], "inputs": rnn_step_inputs},
    {"grade_id": "rnn-step-backward", "probe": "rnn_step_backward",
     "functions": ["rnn_step_forward", "rnn_step_backward"],
     "inputs": rnn_step_backward_inputs,
     "weights": {"dx": 1, "dprev_h": 1, "dWx": 1, "dWh": 1, "db": 1},
     "own_work": derived("rnn_step_backward", rnn_step_forward=2)},
    {"grade_id": "rnn-forward", "probe": "rnn_forward", "functions": ["rnn_forward"],
     "inputs": rnn_sequence_inputs},
    {"grade_id": "rnn-backward", "probe": "rnn_backward",
     "functions": ["rnn_forward", "rnn_backward"], "inputs": rnn_backward_inputs,
     "weights": {"dx": 2, "dh0": 2, "dWx": 1, "dWh": 1, "db": 1},
     "own_work": derived("rnn_backward", rnn_forward=2, rnn_step_forward=40)},
    {"grade_id": "grad-clip", "probe": "grad_clip", "functions": ["clip_by_global_norm"],
     "inputs": grad_clip_inputs},
    {"grade_id": "gru-step-forward", "probe": "gru_step_forward",
     "functions": ["gru_step_forward"], "inputs": gru_inputs},
    {"grade_id": "gru-step-backward", "probe": "gru_step_backward",
     "functions": ["gru_step_forward", "gru_step_backward"], "inputs": gru_backward_inputs,
     "weights": {"dx": 1, "dprev_h": 1, "dWx": 2, "dWh": 2, "db": 1},
     "own_work": derived("gru_step_backward", gru_step_forward=2)},
    {"grade_id": "param-count", "probe": "param_count",
     "functions": ["rnn_param_count", "lstm_param_count", "gru_param_count"],
     "inputs": param_count_inputs, "rtol": 0.0, "atol": 0.0},
    {"grade_id": "vanishing-gradient", "probe": "vanishing_gradient",
     "functions": ["gradient_norms_through_time"], "inputs": vanishing_inputs, "cases": 4,
     "own_work": derived("gradient_norms_through_time", rnn_forward=2,
                         rnn_step_forward=40)},
    {"grade_id": "embedding-forward", "probe": "embedding_forward",
     "functions": ["embedding_forward"], "inputs": embedding_inputs},
    {"grade_id": "embedding-backward", "probe": "embedding_backward",
     "functions": ["embedding_forward", "embedding_backward"],
     "inputs": embedding_backward_inputs,
     "own_work": derived("embedding_backward", embedding_forward=2)},
    {"grade_id": "lstm-forward", "probe": "lstm_forward", "functions": ["lstm_forward"],
     "inputs": lstm_inputs},
    {"grade_id": "lstm-backward", "probe": "lstm_backward",
     "functions": ["lstm_forward", "lstm_backward"], "inputs": lstm_backward_inputs,
     "weights": {"dx": 2, "dh0": 2, "dWx": 2, "dWh": 1, "db": 1},
     "own_work": derived("lstm_backward", lstm_forward=2, lstm_step_forward=40)},
    # Judged by the perplexity the grader computes from the returned weights on text the
    # student's code never sees.
    {"grade_id": "char-lm", "probe": "char_lm", "functions": ["train_char_lm"],
     "inputs": char_lm_inputs, "cases": 2, "scorer": "score_char_lm",
     "scorer_inputs": ["heldout_ids"],
     "own_work": {"functions": ["train_char_lm"], "forbid": FINITE_DIFFERENCES}},
    {"grade_id": "sample-chars", "probe": "sample_chars", "functions": ["sample_chars"],
     "inputs": sample_inputs, "cases": 3, "scorer": "score_sample_chars"},
]
