"""Probes of problem set 6 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. The backward probe runs your forward pass first and hands
its cache to your backward pass.
"""


ATTENTION = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")
FEED_FORWARD = ("W1", "b1", "W2", "b2", "gamma1", "beta1", "gamma2", "beta2")


def _mask(mask, use_mask):
    return mask.astype(bool) if bool(use_mask) else None


def attention_forward(ns, q, k, v, mask, use_mask):
    out, _ = ns["attention_forward"](q.copy(), k.copy(), v.copy(), _mask(mask, use_mask))
    return {"out": out}


def attention_backward(ns, q, k, v, mask, use_mask, dout):
    _, cache = ns["attention_forward"](q.copy(), k.copy(), v.copy(), _mask(mask, use_mask))
    grads = tuple(ns["attention_backward"](dout.copy(), cache))
    if len(grads) != 3:
        raise ValueError(f"attention_backward returned {len(grads)} values; expected 3: "
                         "dq, dk, dv")
    return dict(zip(("dq", "dk", "dv"), grads, strict=True))


def multi_head_forward(ns, x_q, x_kv, mask, use_mask, n_heads, **weights):
    params = {name: weights[name].copy() for name in ATTENTION}
    out, _ = ns["multi_head_attention_forward"](x_q.copy(), x_kv.copy(), params,
                                                int(n_heads), _mask(mask, use_mask))
    return {"out": out}


def positional_encoding(ns, T, d):
    return {"pe": ns["positional_encoding"](int(T), int(d))}


def transformer_block(ns, x, mask, use_mask, n_heads, **weights):
    params = {name: weights[name].copy() for name in ATTENTION + FEED_FORWARD}
    out, _ = ns["transformer_block_forward"](x.copy(), params, int(n_heads),
                                             _mask(mask, use_mask))
    return {"out": out}
