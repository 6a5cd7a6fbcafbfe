"""Probes of problem set 1 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. Three parts are judged by a scorer instead:
``score_two_layer_net`` judges the trained network by its test accuracy, computed by the
grader itself from the weights you return; ``score_he_init`` and
``score_dropout_statistics`` judge random draws by their statistics.
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


def _floats(outputs, name, shape):
    """outputs[name] as a float64 array of ``shape``, or (None, why not)."""
    if name not in outputs:
        return None, f"'{name}' is missing from the result"
    a = np.asarray(outputs[name])
    if a.dtype.kind != "f" or a.dtype.itemsize < 8:
        return None, f"'{name}' has dtype {a.dtype}, expected float64"
    if a.shape != tuple(shape):
        return None, f"'{name}' has shape {a.shape}, expected {tuple(shape)}"
    if not np.all(np.isfinite(a)):
        return None, f"'{name}' contains NaN or infinity"
    return a, None


def he_init(ns, n_in, n_out, seed):
    """Your he_init twice with the same seed and once with another."""
    n_in, n_out, seed = int(n_in), int(n_out), int(seed)
    return {"w": ns["he_init"](n_in, n_out, np.random.default_rng(seed)),
            "again": ns["he_init"](n_in, n_out, np.random.default_rng(seed)),
            "other": ns["he_init"](n_in, n_out, np.random.default_rng(seed + 1))}


def score_he_init(outputs, inputs):
    """(passed, message). The weights must have shape (n_in, n_out) and come from the
    generator alone (the same seed gives the same weights, another seed others); their
    mean, variance and excess kurtosis must fit N(0, 2 / n_in) within 6 standard errors
    (a variance of 2 / n_out is off by a factor 2 or more, a uniform distribution of the
    right variance has an excess kurtosis of -1.2)."""
    n_in, n_out = int(inputs["n_in"]), int(inputs["n_out"])
    arrays = {}
    for name in ("w", "again", "other"):
        arrays[name], problem = _floats(outputs, name, (n_in, n_out))
        if problem:
            return False, problem
    w = arrays["w"]
    if not np.array_equal(w, arrays["again"]):
        return False, ("two calls with generators of the same seed gave different "
                       "weights: draw every random number from rng")
    if np.array_equal(w, arrays["other"]):
        return False, "generators of different seeds gave the same weights"
    n, var = w.size, 2.0 / n_in
    mean, sample_var = float(w.mean()), float(w.var())
    if abs(mean) > 6.0 * np.sqrt(var / n):
        return False, f"the weights' mean is {mean:.3g}, expected 0"
    if abs(sample_var / var - 1.0) > 6.0 * np.sqrt(2.0 / n):
        return False, (f"the weights' variance is {sample_var:.4g}, expected 2 / n_in = "
                       f"{var:.4g} (n_in = {n_in}, n_out = {n_out})")
    kurtosis = float(np.mean((w - mean) ** 4) / sample_var ** 2 - 3.0)
    if abs(kurtosis) > 6.0 * np.sqrt(24.0 / n):
        return False, (f"the weights are not normally distributed: excess kurtosis "
                       f"{kurtosis:.2f}, 0 for a normal distribution")
    return True, f"variance {sample_var:.4g} for 2 / n_in = {var:.4g}"


def activation_stds(ns, x, **weights):
    """Your activation_stds on x and the weights w0, w1, ... in that order."""
    order = sorted(weights, key=lambda name: int(name[1:]))
    stds = ns["activation_stds"](x.copy(), [weights[name].copy() for name in order])
    return {"stds": np.asarray(stds)}


def dropout_forward(ns, x, p, seed):
    """Your dropout_forward in training (its mask drawn by a generator of the given
    seed) and at test time."""
    out, _ = ns["dropout_forward"](x.copy(), float(p), np.random.default_rng(int(seed)),
                                   train=True)
    test, _ = ns["dropout_forward"](x.copy(), float(p), np.random.default_rng(int(seed)),
                                    train=False)
    return {"out": out, "test": test}


def dropout_statistics(ns, x, p, seed, draws):
    """``draws`` calls of your dropout_forward in training, one generator for all of
    them, stacked: shape (draws, *x.shape)."""
    rng = np.random.default_rng(int(seed))
    outs = [ns["dropout_forward"](x.copy(), float(p), rng, train=True)[0]
            for _ in range(int(draws))]
    return {"outs": np.stack([np.asarray(o) for o in outs])}


def score_dropout_statistics(outputs, inputs):
    """(passed, message). Over the draws, each entry of out must average x (inverted
    dropout keeps the mean; without the 1 / (1 - p) it is (1 - p) x) and be 0 in a share
    p of them, within 6 standard errors; and the draws must differ (a new mask per call)."""
    x, p, draws = inputs["x"], float(inputs["p"]), int(inputs["draws"])
    outs, problem = _floats(outputs, "outs", (draws, *x.shape))
    if problem:
        return False, problem
    if np.all(outs == outs[0]):
        return False, f"all {draws} calls returned the same output: draw a new mask each call"
    ratio = outs.mean(axis=0) / x  # 1 for an unbiased layer
    bound = 6.0 * np.sqrt(p / ((1.0 - p) * draws)) + 1e-9
    worst = int(np.argmax(np.abs(ratio - 1.0)))
    if abs(ratio.flat[worst] - 1.0) > bound:
        return False, (f"over {draws} draws with p = {p:.3g}, out averages "
                       f"{ratio.flat[worst]:.3f} x at one entry (mean kept means 1; "
                       f"1 - p = {1 - p:.3f} suggests the 1 / (1 - p) is missing)")
    dropped = float(np.mean(outs == 0))
    if abs(dropped - p) > 6.0 * np.sqrt(p * (1.0 - p) / outs.size) + 1e-9:
        return False, (f"a share {dropped:.3f} of the entries are dropped, expected "
                       f"p = {p:.3g} (p is the probability to drop, not to keep)")
    return True, f"mean kept; share dropped {dropped:.3f} for p = {p:.3g}"


def dropout_backward(ns, x, p, seed, dout):
    """dx from your dropout_backward, after your dropout_forward with a generator of the
    given seed; and own_mask_error = dx - dout * out / x, which is 0 when dx goes
    through the mask that your forward pass applied (x has no zero entries)."""
    out, cache = ns["dropout_forward"](x.copy(), float(p),
                                       np.random.default_rng(int(seed)), train=True)
    dx = np.asarray(ns["dropout_backward"](dout.copy(), cache))
    if dx.shape != x.shape or np.shape(out) != x.shape:
        return {"dx": dx, "own_mask_error": dx}  # the comparison reports the shape
    return {"dx": dx, "own_mask_error": dx - dout * (np.asarray(out) / x)}
