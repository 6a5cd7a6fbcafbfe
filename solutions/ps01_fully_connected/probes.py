"""Probes of problem set 1 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. ``score_two_layer_net`` judges the trained network by its
test accuracy instead, computed by the grader itself from the weights you return.
"""

import functools

import numpy as np

ACCURACY_NEEDED = 0.95  # test accuracy the two-layer network must reach
MAX_HIDDEN = 4096  # widest hidden layer the scorer evaluates


def affine_forward(ns, x, w, b):
    out, _ = ns["affine_forward"](x, w, b)
    return {"out": out}


def affine_backward(ns, x, w, b, dout):
    _, cache = ns["affine_forward"](x, w, b)
    dx, dw, db = ns["affine_backward"](dout, cache)
    return {"dx": dx, "dw": dw, "db": db}


def relu_forward(ns, x):
    out, _ = ns["relu_forward"](x)
    return {"out": out}


def relu_backward(ns, x, dout):
    _, cache = ns["relu_forward"](x)
    return {"dx": ns["relu_backward"](dout, cache)}


def sigmoid_forward(ns, x):
    out, _ = ns["sigmoid_forward"](x)
    return {"out": out}


def sigmoid_backward(ns, x, dout):
    _, cache = ns["sigmoid_forward"](x)
    return {"dx": ns["sigmoid_backward"](dout, cache)}


def softmax_loss(ns, scores, y):
    loss, dscores = ns["softmax_loss"](scores, y)
    return {"loss": float(loss), "dscores": dscores}


def numerical_gradient(ns, x, A, h):
    """The gradient of f(x) = sum(A * sin(x)) by your eval_numerical_gradient, and x
    after the call (it must hold its original values again)."""
    x = np.array(x, dtype=np.float64)

    def f(z):
        return float(np.sum(A * np.sin(z)))

    grad = ns["eval_numerical_gradient"](f, x, h=float(h))
    return {"grad": grad, "x_after": x}


def rel_error(ns, a, b):
    return {"error": float(ns["rel_error"](a, b))}


def counting(ns, n_in, n_out, batch):
    """fc_cost for each (n_in, n_out, batch) triple, as three columns."""
    rows = [ns["fc_cost"](int(i), int(o), int(n)) for i, o, n in zip(n_in, n_out, batch,
                                                                     strict=True)]
    table = np.array([[float(v) for v in row] for row in rows])  # (k, 3)
    if table.shape != (len(rows), 3):
        raise ValueError(f"fc_cost must return three numbers, got {len(rows[0])}")
    return {"params": table[:, 0], "forward": table[:, 1], "backward": table[:, 2]}


def explosion_bytes(ns):
    return {"bytes": float(ns["bytes_float32_1e12"])}


def two_layer_loss(ns, W1, b1, W2, b2, x, y, reg):
    params = {"W1": W1.copy(), "b1": b1.copy(), "W2": W2.copy(), "b2": b2.copy()}
    loss, grads = ns["two_layer_loss"](params, x, y, reg=float(reg))
    return {"loss": float(loss), "dW1": grads["W1"], "db1": grads["b1"],
            "dW2": grads["W2"], "db2": grads["b2"]}


@functools.cache
def _digits(split_seed):
    from dlcourse.data import load_digits_split

    return load_digits_split(seed=split_seed)


def two_layer_net(ns, split_seed, train_seed):
    """Train on the training part of one split of the digits (the test part is held
    back) and return the four weight arrays."""
    data = _digits(int(split_seed))
    train = {"x_train": data["x_train"].copy(), "y_train": data["y_train"].copy()}
    params = ns["train_two_layer_net"](train, np.random.default_rng(int(train_seed)))
    return {name: np.asarray(params[name], dtype=np.float64)
            for name in ("W1", "b1", "W2", "b2")}


def score_two_layer_net(outputs, inputs):
    """(passed, message): the test accuracy of the returned weights on the test part of
    the split they were trained on, computed here from the weights alone."""
    names = ("W1", "b1", "W2", "b2")
    missing = [n for n in names if n not in outputs]
    if missing:
        return False, f"params has no {', '.join(missing)}"
    W1, b1, W2, b2 = (np.asarray(outputs[n]) for n in names)
    for name, a in zip(names, (W1, b1, W2, b2), strict=True):
        if a.dtype.kind not in "biuf":
            return False, f"params['{name}'] is not a number array (dtype {a.dtype})"
    if W1.ndim != 2 or W1.shape[0] != 64:
        return False, f"params['W1'] has shape {W1.shape}, expected (64, H)"
    hidden = W1.shape[1]
    if not 1 <= hidden <= MAX_HIDDEN:
        return False, f"the hidden layer has {hidden} units; use 1 to {MAX_HIDDEN}"
    for name, a, shape in (("b1", b1, (hidden,)), ("W2", W2, (hidden, 10)),
                           ("b2", b2, (10,))):
        if a.shape != shape:
            return False, f"params['{name}'] has shape {a.shape}, expected {shape}"
    for name, a in zip(names, (W1, b1, W2, b2), strict=True):
        if not np.all(np.isfinite(a)):
            return False, f"params['{name}'] contains NaN or infinity"
    data = _digits(int(inputs["split_seed"]))
    scores = np.maximum(0.0, data["x_test"] @ W1 + b1) @ W2 + b2  # (N_test, 10)
    accuracy = float(np.mean(scores.argmax(axis=1) == data["y_test"]))
    if accuracy >= ACCURACY_NEEDED:
        return True, f"test accuracy {accuracy:.1%} (needs {ACCURACY_NEEDED:.0%})"
    return False, f"test accuracy {accuracy:.1%}, below the {ACCURACY_NEEDED:.0%} needed"
