"""Probes of problem set 5 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. Backward probes run your forward pass first and hand its
cache to your backward pass.
"""

import numpy as np


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
