"""Probes of problem set 6 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. The backward probes run your forward pass first and hand
its cache to your backward pass.

The encoder-decoder model of part 9 is judged by a scorer instead: ``score_seq2seq``
rebuilds the model from the arrays ``train_seq2seq`` returns, with the course library's
code of the model the notebook describes (run in the grader's process, not in yours),
decodes held-out strings your code never sees greedily, and asks for an exact match of
at least ``EXACT_MATCH_NEEDED``.
"""

import numpy as np

ATTENTION = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")
FEED_FORWARD = ("W1", "b1", "W2", "b2", "gamma1", "beta1", "gamma2", "beta2")
CROSS = tuple(f"cross_{name}" for name in (*ATTENTION, "gamma", "beta"))
EXACT_MATCH_NEEDED = 0.9  # share of the held-out strings reversed exactly right
PAD, BOS, EOS, VOCAB = 0, 1, 2, 13  # part 9's ids; the digits are 3..12
MAX_WIDTH, MAX_FF, MAX_BLOCKS = 256, 1024, 3  # the largest model the scorer runs


def _mask(mask, use_mask):
    return mask.astype(bool) if bool(use_mask) else None


def _grads(names, values):
    values = tuple(values)
    if len(values) != len(names):
        raise ValueError(f"the backward pass returned {len(values)} values; expected "
                         f"{len(names)}: {', '.join(names)}")
    return values


def _param_grads(grads, names, function):
    """The gradients of ``names`` from the dict a backward pass returned, as
    {"dWq": ..., ...}."""
    if not isinstance(grads, dict):
        raise ValueError(f"{function} must return the parameters' gradients as a dict "
                         f"(got {type(grads).__name__})")
    missing = [name for name in names if name not in grads]
    if missing:
        raise ValueError(f"the gradients {function} returned lack {', '.join(missing)}")
    return {f"d{name}": grads[name] for name in names}


def attention_forward(ns, q, k, v, mask, use_mask):
    out, _ = ns["attention_forward"](q.copy(), k.copy(), v.copy(), _mask(mask, use_mask))
    return {"out": out}


def attention_backward(ns, q, k, v, mask, use_mask, dout):
    _, cache = ns["attention_forward"](q.copy(), k.copy(), v.copy(), _mask(mask, use_mask))
    grads = _grads(("dq", "dk", "dv"), ns["attention_backward"](dout.copy(), cache))
    return dict(zip(("dq", "dk", "dv"), grads, strict=True))


def multi_head_forward(ns, x_q, x_kv, mask, use_mask, n_heads, **weights):
    params = {name: weights[name].copy() for name in ATTENTION}
    out, _ = ns["multi_head_attention_forward"](x_q.copy(), x_kv.copy(), params,
                                                int(n_heads), _mask(mask, use_mask))
    return {"out": out}


def multi_head_backward(ns, x_q, x_kv, self_attention, mask, use_mask, n_heads, dout,
                        **weights):
    """Your forward pass, then your backward pass on its cache. For self-attention one
    array is both x_q and x_kv. dbk is not graded (it is exactly zero), but the dict must
    hold it."""
    params = {name: weights[name].copy() for name in ATTENTION}
    x = x_q.copy()
    _, cache = ns["multi_head_attention_forward"](
        x, x if bool(self_attention) else x_kv.copy(), params, int(n_heads),
        _mask(mask, use_mask))
    dx_q, dx_kv, grads = _grads(("dx_q", "dx_kv", "grads"),
                                ns["multi_head_attention_backward"](dout.copy(), cache))
    found = _param_grads(grads, ATTENTION, "multi_head_attention_backward")
    del found["dbk"]
    return {"dx_q": dx_q, "dx_kv": dx_kv, **found}


def positional_encoding(ns, T, d):
    return {"pe": ns["positional_encoding"](int(T), int(d))}


def transformer_block(ns, x, mask, use_mask, n_heads, **weights):
    params = {name: weights[name].copy() for name in ATTENTION + FEED_FORWARD}
    out, _ = ns["transformer_block_forward"](x.copy(), params, int(n_heads),
                                             _mask(mask, use_mask))
    return {"out": out}


def transformer_block_backward(ns, x, mask, use_mask, n_heads, dout, **weights):
    """dx and the gradient of every parameter but bk (exactly zero, not graded)."""
    params = {name: weights[name].copy() for name in ATTENTION + FEED_FORWARD}
    _, cache = ns["transformer_block_forward"](x.copy(), params, int(n_heads),
                                               _mask(mask, use_mask))
    dx, grads = _grads(("dx", "grads"), ns["transformer_block_backward"](dout.copy(), cache))
    found = _param_grads(grads, ATTENTION + FEED_FORWARD, "transformer_block_backward")
    del found["dbk"]
    return {"dx": dx, **found}


def make_masks(ns, src, tgt_in, pad):
    """Your two masks, as 0/1 integers of the shapes the docstring gives."""
    masks = _grads(("src_mask", "tgt_mask"),
                   ns["make_masks"](src.copy(), tgt_in.copy(), int(pad)))
    return {name: np.asarray(m).astype(np.int64)
            for name, m in zip(("src_mask", "tgt_mask"), masks, strict=True)}


def decoder_block(ns, y, memory, self_mask, cross_mask, use_self_mask, use_cross_mask,
                  n_heads, **weights):
    params = {name: weights[name].copy() for name in ATTENTION + FEED_FORWARD + CROSS}
    out, _ = ns["decoder_block_forward"](y.copy(), memory.copy(), params, int(n_heads),
                                         _mask(self_mask, use_self_mask),
                                         _mask(cross_mask, use_cross_mask))
    return {"out": out}


def _log_softmax(scores):
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def greedy_decode(ns, src, A, B, C, max_len, pad, bos, eos):
    """Your greedy_decode with a small random model: the scores of the next token are
    A[last token] + B[step] + the sum of C[source token] over the row's source, where
    step = prefix length - 1 (0 for the first token)."""
    max_len = int(max_len)

    def next_log_probs(source, prefix):
        source, prefix = np.asarray(source), np.asarray(prefix)
        if prefix.ndim != 2 or source.ndim != 2 or len(prefix) != len(source):
            raise ValueError(f"next_log_probs was called with a source of shape "
                             f"{source.shape} and a prefix of shape {prefix.shape}: "
                             f"expected (N, S) and (N, t) for the same N")
        if prefix.dtype.kind not in "iu":
            raise ValueError(f"next_log_probs was called with a prefix of dtype "
                             f"{prefix.dtype}: token ids are integers")
        if not 1 <= prefix.shape[1] <= max_len:
            raise ValueError(f"next_log_probs was called with a prefix of "
                             f"{prefix.shape[1]} tokens; with max_len = {max_len} the "
                             f"longest prefix is bos and {max_len - 1} tokens")
        return _log_softmax(A[prefix[:, -1]] + B[prefix.shape[1] - 1] + C[source].sum(axis=1))

    ids = ns["greedy_decode"](next_log_probs, src.copy(), max_len, int(bos), int(eos),
                              int(pad))
    return {"ids": np.asarray(ids)}


def seq2seq(ns, seed, **scorer_only):
    """Train with your train_seq2seq(seed) and return its arrays and n_heads. The
    held-out strings (``scorer_only``) are not passed to your code; in the hidden cases
    they are not even there: only the scorer has them."""
    result = ns["train_seq2seq"](int(seed))
    if not isinstance(result, tuple) or len(result) != 2:
        raise ValueError("train_seq2seq must return (params, n_heads)")
    params, n_heads = result
    if not isinstance(params, dict):
        raise ValueError(f"train_seq2seq's params must be a dict of arrays "
                         f"(got {type(params).__name__})")
    arrays = {str(name): np.asarray(value) for name, value in params.items()}
    if "n_heads" in arrays:
        raise ValueError("params must not hold an entry named 'n_heads'")
    return {**arrays, "n_heads": np.asarray(n_heads)}


def _blocks(names, stack):
    """The block numbers of ``stack`` ("enc" or "dec") among the parameter names."""
    found = set()
    for name in names:
        head = name.split(".")[0]
        if head.startswith(stack) and head[len(stack):].isdigit():
            found.add(int(head[len(stack):]))
    return found


def _model_problem(outputs):
    """(the library's model with the returned weights, None), or (None, why not)."""
    from dlcourse.transformer import Seq2SeqTransformer  # the grader's process only

    n_heads = np.asarray(outputs.get("n_heads"))
    if n_heads.shape != () or n_heads.dtype.kind not in "iu":
        return None, "n_heads must be one integer"
    params = {name: np.asarray(a) for name, a in outputs.items() if name != "n_heads"}
    for name, a in params.items():
        if a.dtype.kind not in "biuf":
            return None, f"params['{name}'] is not a number array (dtype {a.dtype})"
    E = params.get("E")
    if E is None or E.ndim != 2 or E.shape[0] != VOCAB:
        return None, (f"params['E'] must have shape ({VOCAB}, d), got "
                      f"{None if E is None else E.shape}")
    d, heads = E.shape[1], int(n_heads)
    if not (1 <= d <= MAX_WIDTH and 1 <= heads <= d and d % heads == 0):
        return None, (f"d = {d} with {heads} heads: use d from 1 to {MAX_WIDTH}, a "
                      f"multiple of n_heads")
    n_enc, n_dec = len(_blocks(params, "enc")), len(_blocks(params, "dec"))
    for stack, n in (("enc", n_enc), ("dec", n_dec)):
        if _blocks(params, stack) != set(range(n)) or not 1 <= n <= MAX_BLOCKS:
            return None, (f"the {stack} blocks are numbered {sorted(_blocks(params, stack))}:"
                          f" number them {stack}0, {stack}1, ... (1 to {MAX_BLOCKS} blocks)")
    w1 = params.get("enc0.W1")
    if w1 is None or w1.ndim != 2 or not 1 <= w1.shape[1] <= MAX_FF:
        return None, f"params['enc0.W1'] must have shape (d, d_ff), d_ff at most {MAX_FF}"
    model = Seq2SeqTransformer(VOCAB, np.random.default_rng(0), d=d, n_heads=heads,
                               d_ff=w1.shape[1], n_enc=n_enc, n_dec=n_dec, norm="post",
                               p_drop=0.0, pad_id=PAD)
    missing = sorted(set(model.params) - set(params))
    extra = sorted(set(params) - set(model.params))
    if missing or extra:
        what = [f"lack {', '.join(missing[:4])}" if missing else "",
                f"have unknown entries {', '.join(extra[:4])}" if extra else ""]
        return None, f"params {' and '.join(w for w in what if w)}"
    for name, want in model.params.items():
        if params[name].shape != want.shape:
            return None, (f"params['{name}'] has shape {params[name].shape}, expected "
                          f"{want.shape}")
        if not np.all(np.isfinite(params[name])):
            return None, f"params['{name}'] contains NaN or infinity"
    model.params = {name: params[name].astype(np.float64) for name in model.params}
    return model, None


def exact_match(model, src, tgt_out):
    """The share of rows whose greedy decoding (max_len = tgt_out's width) is exactly
    the row of tgt_out up to its eos."""
    out = model.greedy_decode(src, tgt_out.shape[1], BOS, EOS)
    right = [np.array_equal(o[:int((t != PAD).sum())], t[t != PAD])
             for o, t in zip(out, tgt_out, strict=True)]
    return float(np.mean(right))


def score_seq2seq(outputs, inputs):
    """(passed, message): the exact match of the returned model, decoded greedily by the
    course library's Seq2SeqTransformer (post-norm, the notebook's model) on the held-out
    strings."""
    model, problem = _model_problem(outputs)
    if problem:
        return False, problem
    src, tgt_out = np.asarray(inputs["test_src"]), np.asarray(inputs["test_tgt_out"])
    share = exact_match(model, src, tgt_out)
    if share >= EXACT_MATCH_NEEDED:
        return True, (f"exact match {share:.1%} of {len(src)} held-out strings (needs "
                      f"{EXACT_MATCH_NEEDED:.0%})")
    return False, (f"exact match {share:.1%} of {len(src)} held-out strings, below the "
                   f"{EXACT_MATCH_NEEDED:.0%} needed")
