"""Probes of problem set 3 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. ``score_cnn`` judges the trained network by its test
accuracy instead, computed by the grader itself from the weights you return.
"""

import functools

import numpy as np

ACCURACY_NEEDED = 0.97  # test accuracy the small CNN must reach
MAX_FILTERS = 128  # most convolution filters the scorer evaluates


def _pool_args(pool_height, pool_width, stride):
    return {"pool_height": int(pool_height), "pool_width": int(pool_width),
            "stride": int(stride)}


def max_pool_forward(ns, x, pool_height, pool_width, stride):
    out, _ = ns["max_pool_forward_naive"](x.copy(), **_pool_args(pool_height, pool_width,
                                                                  stride))
    return {"out": out}


def max_pool_backward(ns, x, pool_height, pool_width, stride, dout):
    _, cache = ns["max_pool_forward_naive"](x.copy(), **_pool_args(pool_height, pool_width,
                                                                    stride))
    return {"dx": ns["max_pool_backward_naive"](dout.copy(), cache)}


def avg_pool_forward(ns, x, pool_height, pool_width, stride):
    out, _ = ns["avg_pool_forward_naive"](x.copy(), **_pool_args(pool_height, pool_width,
                                                                  stride))
    return {"out": out}


def avg_pool_backward(ns, x, pool_height, pool_width, stride, dout):
    _, cache = ns["avg_pool_forward_naive"](x.copy(), **_pool_args(pool_height, pool_width,
                                                                    stride))
    return {"dx": ns["avg_pool_backward_naive"](dout.copy(), cache)}


def global_avg_pool(ns, x, dout):
    out, cache = ns["global_avg_pool_forward"](x.copy())
    return {"out": out, "dx": ns["global_avg_pool_backward"](dout.copy(), cache)}


def cnn_loss(ns, W1, b1, W2, b2, x, y, reg):
    params = {"W1": W1.copy(), "b1": b1.copy(), "W2": W2.copy(), "b2": b2.copy()}
    loss, grads = ns["cnn_loss"](params, x, y, reg=float(reg))
    return {"loss": float(loss), "dW1": grads["W1"], "db1": grads["b1"],
            "dW2": grads["W2"], "db2": grads["b2"]}


def residual_block(ns, x, w1, b1, w2, b2, dout):
    out, cache = ns["residual_block_forward"](x.copy(), w1.copy(), b1.copy(), w2.copy(),
                                              b2.copy())
    dx, dw1, db1, dw2, db2 = ns["residual_block_backward"](dout.copy(), cache)
    return {"out": out, "dx": dx, "dw1": dw1, "db1": db1, "dw2": dw2, "db2": db2}


@functools.cache
def _digits(split_seed):
    from dlcourse.data import load_digits_split

    return load_digits_split(seed=split_seed, as_images=True)


def cnn_train(ns, split_seed, train_seed):
    """Train on the training part of one split of the digits, as images (N, 1, 8, 8)
    (the test part is held back), and return the four weight arrays."""
    data = _digits(int(split_seed))
    train = {"x_train": data["x_train"].copy(), "y_train": data["y_train"].copy()}
    params = ns["train_cnn"](train, np.random.default_rng(int(train_seed)))
    return {name: np.asarray(params[name], dtype=np.float64)
            for name in ("W1", "b1", "W2", "b2")}


def _scores(W1, b1, W2, b2, x):
    """conv 3x3 (stride 1, pad 1) -> ReLU -> 2x2 max pool (stride 2) -> affine, written
    out here so that the score does not depend on any submitted code."""
    N, C, H, W = x.shape
    F = W1.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((N, F, H, W))
    for i in range(3):
        for j in range(3):
            patch = xp[:, :, i:i + H, j:j + W]  # (N, C, H, W)
            conv += np.einsum("nchw,fc->nfhw", patch, W1[:, :, i, j])
    hidden = np.maximum(0.0, conv + b1[None, :, None, None])
    pooled = hidden.reshape(N, F, H // 2, 2, W // 2, 2).max(axis=(3, 5))
    return pooled.reshape(N, -1) @ W2 + b2  # (N, 10)


def score_cnn(outputs, inputs):
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
    if W1.ndim != 4 or W1.shape[1:] != (1, 3, 3):
        return False, f"params['W1'] has shape {W1.shape}, expected (F, 1, 3, 3)"
    filters = W1.shape[0]
    if not 1 <= filters <= MAX_FILTERS:
        return False, f"the convolution has {filters} filters; use 1 to {MAX_FILTERS}"
    for name, a, shape in (("b1", b1, (filters,)), ("W2", W2, (filters * 16, 10)),
                           ("b2", b2, (10,))):
        if a.shape != shape:
            return False, f"params['{name}'] has shape {a.shape}, expected {shape}"
    for name, a in zip(names, (W1, b1, W2, b2), strict=True):
        if not np.all(np.isfinite(a)):
            return False, f"params['{name}'] contains NaN or infinity"
    data = _digits(int(inputs["split_seed"]))
    scores = _scores(*(a.astype(np.float64) for a in (W1, b1, W2, b2)), data["x_test"])
    accuracy = float(np.mean(scores.argmax(axis=1) == data["y_test"]))
    if accuracy >= ACCURACY_NEEDED:
        return True, f"test accuracy {accuracy:.1%} (needs {ACCURACY_NEEDED:.0%})"
    return False, f"test accuracy {accuracy:.1%}, below the {ACCURACY_NEEDED:.0%} needed"
