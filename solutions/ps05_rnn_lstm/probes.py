"""Probes of problem set 5 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. Backward probes run your forward pass first and hand its
cache to your backward pass.

Two parts are judged by a scorer instead, computed here from what your functions return:
``score_char_lm`` runs the language model whose weights ``train_char_lm`` returns on
held-out text your code never sees and asks for a perplexity below
``PERPLEXITY_NEEDED``; ``score_sample_chars`` compares the characters ``sample_chars``
draws with the distribution softmax(logits / temperature) they must come from.
"""

import numpy as np

PERPLEXITY_NEEDED = 9.0  # held-out perplexity the character-level model must reach
MAX_SIZE = 256  # widest embedding and hidden layer the scorer evaluates
LM_PARAMS = ("W_embed", "Wx", "Wh", "b", "W_out", "b_out")


def _copies(*arrays):
    return [a.copy() for a in arrays]


def rnn_step_forward(ns, x, prev_h, Wx, Wh, b):
    next_h, _ = ns["rnn_step_forward"](*_copies(x, prev_h, Wx, Wh, b))
    return {"next_h": next_h}


def _grads(names, values):
    values = tuple(values)
    if len(values) != len(names):
        raise ValueError(f"the backward pass returned {len(values)} values; expected "
                         f"{len(names)}: {', '.join(names)}")
    return dict(zip(names, values, strict=True))


def rnn_step_backward(ns, x, prev_h, Wx, Wh, b, dnext_h):
    _, cache = ns["rnn_step_forward"](*_copies(x, prev_h, Wx, Wh, b))
    return _grads(("dx", "dprev_h", "dWx", "dWh", "db"),
                  ns["rnn_step_backward"](dnext_h.copy(), cache))


def rnn_forward(ns, x, h0, Wx, Wh, b):
    h, _ = ns["rnn_forward"](*_copies(x, h0, Wx, Wh, b))
    return {"h": h}


def rnn_backward(ns, x, h0, Wx, Wh, b, dh):
    _, cache = ns["rnn_forward"](*_copies(x, h0, Wx, Wh, b))
    return _grads(("dx", "dh0", "dWx", "dWh", "db"), ns["rnn_backward"](dh.copy(), cache))


def grad_clip(ns, W, U, b, max_norm):
    grads = {"W": W.copy(), "U": U.copy(), "b": b.copy()}
    clipped, total_norm = ns["clip_by_global_norm"](grads, float(max_norm))
    unchanged = all(np.array_equal(grads[k], v) for k, v in (("W", W), ("U", U), ("b", b)))
    return {"W": clipped["W"], "U": clipped["U"], "b": clipped["b"],
            "total_norm": float(total_norm),
            # 1.0 when the arrays passed in were left as they were
            "inputs_left_unchanged": float(unchanged)}


def gru_step_forward(ns, x, prev_h, Wx, Wh, b):
    next_h, _ = ns["gru_step_forward"](*_copies(x, prev_h, Wx, Wh, b))
    return {"next_h": next_h}


def gru_step_backward(ns, x, prev_h, Wx, Wh, b, dnext_h):
    _, cache = ns["gru_step_forward"](*_copies(x, prev_h, Wx, Wh, b))
    return _grads(("dx", "dprev_h", "dWx", "dWh", "db"),
                  ns["gru_step_backward"](dnext_h.copy(), cache))


def param_count(ns, n_x, n_h):
    """The three counts for each pair (n_x[i], n_h[i])."""
    pairs = [(int(a), int(c)) for a, c in zip(n_x, n_h, strict=True)]
    return {name: np.array([int(ns[f"{name}_param_count"](a, c)) for a, c in pairs],
                           dtype=np.int64)
            for name in ("rnn", "lstm", "gru")}


def vanishing_gradient(ns, x, h0, Wx, Wh, b, dh_last):
    norms = ns["gradient_norms_through_time"](*_copies(x, h0, Wx, Wh, b, dh_last))
    return {"norms": np.asarray(norms, dtype=np.float64)}


def embedding_forward(ns, ids, W):
    out, _ = ns["embedding_forward"](ids.copy(), W.copy())
    return {"out": out}


def embedding_backward(ns, ids, W, dout):
    _, cache = ns["embedding_forward"](ids.copy(), W.copy())
    return {"dW": ns["embedding_backward"](dout.copy(), cache)}


def lstm_forward(ns, x, h0, Wx, Wh, b):
    h, _ = ns["lstm_forward"](*_copies(x, h0, Wx, Wh, b))
    return {"h": h}


def lstm_backward(ns, x, h0, Wx, Wh, b, dh):
    _, cache = ns["lstm_forward"](*_copies(x, h0, Wx, Wh, b))
    return _grads(("dx", "dh0", "dWx", "dWh", "db"), ns["lstm_backward"](dh.copy(), cache))


def char_lm(ns, train_ids, vocab_size, seed, **scorer_only):
    """Train on the training text and return the six weight arrays. The held-out text
    (``scorer_only``) is not passed to your code; in the hidden cases it is not even
    there: only the scorer has it."""
    params = ns["train_char_lm"](train_ids.copy(), int(vocab_size), int(seed))
    return {name: np.asarray(params[name], dtype=np.float64) for name in LM_PARAMS}


def _softmax_rows(scores):
    scores = scores - scores.max(axis=-1, keepdims=True)
    p = np.exp(scores)
    return p / p.sum(axis=-1, keepdims=True)


def char_lm_log_probs(params, ids):
    """log P(ids[t] | ids[:t]) for t = 1..len(ids)-1 under the model of the problem set:
    h_0 = 0, h_t = tanh(W_embed[ids[t-1]] Wx + h_{t-1} Wh + b),
    P(. | ids[:t]) = softmax(h_t W_out + b_out)."""
    W_embed, Wx, Wh, b, W_out, b_out = (params[n] for n in LM_PARAMS)
    ax = W_embed[ids[:-1]] @ Wx + b  # (L - 1, H): the input products of all steps
    h = np.zeros(Wh.shape[0])
    hs = np.empty_like(ax)
    for t in range(len(ax)):
        h = np.tanh(ax[t] + h @ Wh)
        hs[t] = h
    scores = hs @ W_out + b_out
    scores = scores - scores.max(axis=1, keepdims=True)
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    return log_p[np.arange(len(ax)), ids[1:]]


def _lm_problem(outputs, vocab):
    """Why the six arrays cannot be the problem set's model, or None."""
    missing = [n for n in LM_PARAMS if n not in outputs]
    if missing:
        return f"params has no {', '.join(missing)}"
    arrays = {n: np.asarray(outputs[n]) for n in LM_PARAMS}
    for name, a in arrays.items():
        if a.dtype.kind not in "biuf":
            return f"params['{name}'] is not a number array (dtype {a.dtype})"
    if arrays["W_embed"].ndim != 2 or arrays["W_embed"].shape[0] != vocab:
        return f"params['W_embed'] has shape {arrays['W_embed'].shape}, expected ({vocab}, E)"
    if arrays["Wh"].ndim != 2 or arrays["Wh"].shape[0] != arrays["Wh"].shape[1]:
        return f"params['Wh'] has shape {arrays['Wh'].shape}, expected (H, H)"
    e, h = arrays["W_embed"].shape[1], arrays["Wh"].shape[0]
    if not (1 <= e <= MAX_SIZE and 1 <= h <= MAX_SIZE):
        return f"E = {e} and H = {h}: use 1 to {MAX_SIZE} for each"
    for name, shape in (("Wx", (e, h)), ("b", (h,)), ("W_out", (h, vocab)),
                        ("b_out", (vocab,))):
        if arrays[name].shape != shape:
            return f"params['{name}'] has shape {arrays[name].shape}, expected {shape}"
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            return f"params['{name}'] contains NaN or infinity"
    return None


def score_char_lm(outputs, inputs):
    """(passed, message): the perplexity exp(-mean log P) of the returned model on the
    held-out text, computed here from the weights alone."""
    vocab = int(inputs["vocab_size"])
    problem = _lm_problem(outputs, vocab)
    if problem:
        return False, problem
    params = {n: np.asarray(outputs[n], dtype=np.float64) for n in LM_PARAMS}
    perplexity = float(np.exp(-np.mean(char_lm_log_probs(params, inputs["heldout_ids"]))))
    if perplexity < PERPLEXITY_NEEDED:
        return True, f"held-out perplexity {perplexity:.2f} (needs below {PERPLEXITY_NEEDED})"
    return False, (f"held-out perplexity {perplexity:.2f}, not below the "
                   f"{PERPLEXITY_NEEDED} needed")


def sample_chars(ns, W_embed, Wx, Wh, b, W_out, b_out, start_id, n, temperature,
                 greedy_n, greedy_temperature, seed):
    """Your sample_chars twice: n characters from the model with Wh = 0 at the given
    temperature, and greedy_n characters from the model as given at a tiny
    temperature."""
    def params(wh):
        return {"W_embed": W_embed.copy(), "Wx": Wx.copy(), "Wh": wh, "b": b.copy(),
                "W_out": W_out.copy(), "b_out": b_out.copy()}

    markov = ns["sample_chars"](params(np.zeros_like(Wh)), int(start_id), int(n),
                                float(temperature), int(seed))
    greedy = ns["sample_chars"](params(Wh.copy()), int(start_id), int(greedy_n),
                                float(greedy_temperature), int(seed) + 1)
    return {"markov": np.asarray(markov), "greedy": np.asarray(greedy)}


def _ids_problem(name, ids, length, vocab):
    if ids.shape != (length,):
        return f"'{name}': sample_chars returned shape {ids.shape}, expected ({length},)"
    if ids.dtype.kind not in "iu":
        return f"'{name}': sample_chars must return integer ids, not dtype {ids.dtype}"
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        return f"'{name}': ids outside 0..{vocab - 1}"
    return None


def score_sample_chars(outputs, inputs):
    """(passed, message). With Wh = 0 each character's distribution depends on the
    previous one only: P[i] = softmax(tanh(W_embed[i] Wx + b) W_out + b_out) / T). The
    counts of each pair (previous, next) must fit P by a chi-square test whose bound a
    correct sampler exceeds with probability below 1e-9 (a sampler that ignores the
    temperature, or divides by it twice, exceeds it by far). At the tiny temperature each
    character must be one the model gives at least 1e-6 (the greedy choice, or a near
    tie), following the model's state through the characters drawn."""
    vocab = inputs["W_embed"].shape[0]
    markov, greedy = np.asarray(outputs["markov"]), np.asarray(outputs["greedy"])
    for name, ids, length in (("markov", markov, int(inputs["n"])),
                              ("greedy", greedy, int(inputs["greedy_n"]))):
        problem = _ids_problem(name, ids, length, vocab)
        if problem:
            return False, problem
    W_embed, Wx, Wh, b, W_out, b_out = (np.asarray(inputs[n], dtype=np.float64)
                                        for n in LM_PARAMS)
    logits = np.tanh(W_embed @ Wx + b) @ W_out + b_out  # (V, V): row = previous id
    expected_p = _softmax_rows(logits / float(inputs["temperature"]))
    previous = np.concatenate([[int(inputs["start_id"])], markov[:-1]])
    counts = np.zeros((vocab, vocab))
    np.add.at(counts, (previous, markov), 1)
    rows = counts.sum(axis=1)
    seen = rows > 0
    expected = rows[seen, None] * expected_p[seen]
    chi2 = float(np.sum((counts[seen] - expected) ** 2 / expected))
    dof = int(seen.sum()) * (vocab - 1)
    bound = dof + 10.0 * np.sqrt(2.0 * dof)
    if chi2 > bound:
        worst = int(np.argmax(np.abs(counts[seen] / rows[seen, None] - expected_p[seen])
                              .sum(axis=1)))
        row = np.flatnonzero(seen)[worst]
        return False, (f"the characters drawn at temperature {float(inputs['temperature']):g} "
                       f"do not follow softmax(logits / temperature): chi-square {chi2:.0f} "
                       f"on {dof} degrees of freedom (at most {bound:.0f}); after id {row} "
                       f"the frequencies are {np.round(counts[row] / rows[row], 3).tolist()}, "
                       f"expected {np.round(expected_p[row], 3).tolist()}")
    h, prev = np.zeros(Wh.shape[0]), int(inputs["start_id"])
    for t, got in enumerate(greedy):
        h = np.tanh(W_embed[prev] @ Wx + h @ Wh + b)
        p = _softmax_rows((h @ W_out + b_out) / float(inputs["greedy_temperature"]))
        if p[int(got)] < 1e-6:
            return False, (f"at temperature {float(inputs['greedy_temperature']):g} "
                           f"character {t} is id {int(got)}, but the model's most likely "
                           f"one is id {int(np.argmax(p))}: a tiny temperature must "
                           f"sample greedily")
        prev = int(got)
    return True, (f"chi-square {chi2:.0f} on {dof} degrees of freedom, at most "
                  f"{bound:.0f}; greedy at a tiny temperature")
