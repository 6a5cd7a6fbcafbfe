"""Probes of problem set 4 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. The forward probes call your layer several times with one
``bn_param`` dict and record the running averages after every call. ``score_bn_cnn``
judges the trained network of part 6 by its held-out accuracy instead, computed by the
grader itself from the weights and running averages you return.
"""

import numpy as np


def _bn_param(mode, momentum, eps, running_mean, running_var):
    return {"mode": mode, "momentum": float(momentum), "eps": float(eps),
            "running_mean": running_mean.copy(), "running_var": running_var.copy()}


def _train_calls(forward, xs, gamma, beta, bn_param):
    """Call ``forward`` in training mode on each batch of xs; stack the outputs and the
    running averages after each call."""
    outs, means, variances = [], [], []
    for x in xs:
        out, _ = forward(x.copy(), gamma.copy(), beta.copy(), bn_param)
        outs.append(np.asarray(out))
        means.append(np.array(bn_param.get("running_mean"), dtype=np.float64))
        variances.append(np.array(bn_param.get("running_var"), dtype=np.float64))
    return np.stack(outs), np.stack(means), np.stack(variances)


def bn_forward_train(ns, xs, gamma, beta, momentum, eps, running_mean, running_var):
    bn_param = _bn_param("train", momentum, eps, running_mean, running_var)
    out, means, variances = _train_calls(ns["batchnorm_forward"], xs, gamma, beta, bn_param)
    return {"out": out, "running_mean": means, "running_var": variances}


def bn_forward_test(ns, xs, x_test, gamma, beta, momentum, eps, running_mean, running_var):
    bn_param = _bn_param("train", momentum, eps, running_mean, running_var)
    _train_calls(ns["batchnorm_forward"], xs, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    out, _ = ns["batchnorm_forward"](x_test.copy(), gamma.copy(), beta.copy(), bn_param)
    return {"out": np.asarray(out),
            "running_mean": np.array(bn_param.get("running_mean"), dtype=np.float64),
            "running_var": np.array(bn_param.get("running_var"), dtype=np.float64)}


def _backward(forward, backward, x, gamma, beta, dout, eps):
    bn_param = _bn_param("train", 0.9, eps, np.zeros(gamma.shape), np.ones(gamma.shape))
    _, cache = forward(x.copy(), gamma.copy(), beta.copy(), bn_param)
    dx, dgamma, dbeta = backward(dout.copy(), cache)
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def bn_backward(ns, x, gamma, beta, dout, eps):
    return _backward(ns["batchnorm_forward"], ns["batchnorm_backward"], x, gamma, beta,
                     dout, eps)


def spatial_bn_forward(ns, xs, x_test, gamma, beta, momentum, eps, running_mean,
                       running_var):
    forward = ns["spatial_batchnorm_forward"]
    bn_param = _bn_param("train", momentum, eps, running_mean, running_var)
    out, means, variances = _train_calls(forward, xs, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    out_test, _ = forward(x_test.copy(), gamma.copy(), beta.copy(), bn_param)
    return {"out": out, "running_mean": means, "running_var": variances,
            "out_test": np.asarray(out_test)}


def spatial_bn_backward(ns, x, gamma, beta, dout, eps):
    return _backward(ns["spatial_batchnorm_forward"], ns["spatial_batchnorm_backward"], x,
                     gamma, beta, dout, eps)


def small_batch(ns, x, batch_size, eps):
    means, variances = ns["batch_statistics"](x.copy(), int(batch_size))
    mismatch = ns["normalization_mismatch"](x.copy(), int(batch_size), eps=float(eps))
    return {"means": means, "variances": variances, "mismatch": mismatch}


# -- part 6: the small conv net with spatial batch normalization ----------------------

PARAM_NAMES = ("W1", "gamma", "beta", "W2", "b2")
ACCURACY_PASS = 0.85  # held-out accuracy for the 4 points of bn-cnn-train
ACCURACY_TOP = 0.93  # and for the 2 of bn-cnn-train-top
MAX_FILTERS = 64


def _cnn_params(W1, gamma, beta, W2, b2):
    return {"W1": W1.copy(), "gamma": gamma.copy(), "beta": beta.copy(), "W2": W2.copy(),
            "b2": b2.copy()}


def bn_cnn_loss(ns, W1, gamma, beta, W2, b2, running_mean, running_var, momentum, eps,
                x, y):
    bn_param = _bn_param("train", momentum, eps, running_mean, running_var)
    loss, grads = ns["bn_cnn_loss"](_cnn_params(W1, gamma, beta, W2, b2), bn_param,
                                    x.copy(), y.copy())
    return {"loss": float(loss), "dW1": grads["W1"], "dgamma": grads["gamma"],
            "dbeta": grads["beta"], "dW2": grads["W2"], "db2": grads["b2"]}


def bn_cnn_test(ns, W1, gamma, beta, W2, b2, running_mean, running_var, momentum, eps,
                xs, ys, x_test):
    """Two training calls (they move the running averages), then test-mode scores."""
    params = _cnn_params(W1, gamma, beta, W2, b2)
    bn_param = _bn_param("train", momentum, eps, running_mean, running_var)
    for x, y in zip(xs, ys, strict=True):
        ns["bn_cnn_loss"](params, bn_param, x.copy(), y.copy())
    scores = ns["bn_cnn_scores"](params, bn_param, x_test.copy())
    running = np.stack([np.asarray(bn_param.get("running_mean"), dtype=np.float64),
                        np.asarray(bn_param.get("running_var"), dtype=np.float64)])
    return {"scores": np.asarray(scores), "running": running}


def digit_images(train_idx, idx):
    """The digits ``idx`` as images (n, 1, 8, 8), each pixel standardised with the mean
    and standard deviation of the digits ``train_idx`` (constant pixels left at 0), and
    their labels (as dlcourse.data.load_digits_split does for its own splits)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data.astype(np.float64)  # (1797, 64)
    mean, std = x[train_idx].mean(axis=0), x[train_idx].std(axis=0)
    std[std == 0] = 1.0
    return ((x[idx] - mean) / std).reshape(-1, 1, 8, 8), digits.target[idx].astype(np.int64)


def bn_cnn_train(ns, train_idx, seed, **scorer_only):
    """Train on the digits train_idx and return the weights and running averages. The
    held-out digits (``scorer_only``) are not passed to your code; in the hidden cases
    they are not even there: only the scorer has them."""
    x, y = digit_images(train_idx, train_idx)
    params, bn_param = ns["train_bn_cnn"]({"x_train": x, "y_train": y},
                                          np.random.default_rng(int(seed)))
    out = {name: np.asarray(params[name], dtype=np.float64) for name in PARAM_NAMES}
    for name in ("running_mean", "running_var"):
        out[name] = np.asarray(bn_param[name], dtype=np.float64)
    out["eps"] = np.float64(bn_param.get("eps", 1e-5))
    return out


def _scores(W1, gamma, beta, W2, b2, running_mean, running_var, eps, x):
    """conv 3x3 (pad 1, no bias) -> BN in test mode -> ReLU -> 2x2 max pool -> affine,
    written out here so that the score does not depend on any submitted code."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((N, W1.shape[0], H, W))
    for i in range(3):
        for j in range(3):
            conv += np.einsum("nchw,fc->nfhw", xp[:, :, i:i + H, j:j + W], W1[:, :, i, j])
    shape = (1, -1, 1, 1)
    normed = ((conv - running_mean.reshape(shape)) / np.sqrt(running_var.reshape(shape) + eps)
              * gamma.reshape(shape) + beta.reshape(shape))
    hidden = np.maximum(0.0, normed)
    pooled = hidden.reshape(N, -1, H // 2, 2, W // 2, 2).max(axis=(3, 5))
    return pooled.reshape(N, -1) @ W2 + b2


def _held_out_accuracy(outputs, inputs):
    """(accuracy or None, message)."""
    names = (*PARAM_NAMES, "running_mean", "running_var", "eps")
    missing = [n for n in names if n not in outputs]
    if missing:
        return None, f"train_bn_cnn returned no {', '.join(missing)}"
    a = {n: np.asarray(outputs[n]) for n in names}
    for n, v in a.items():
        if v.dtype.kind not in "biuf":
            return None, f"{n} is not a number array (dtype {v.dtype})"
    if a["W1"].ndim != 4 or a["W1"].shape[1:] != (1, 3, 3):
        return None, f"params['W1'] has shape {a['W1'].shape}, expected (F, 1, 3, 3)"
    f = a["W1"].shape[0]
    if not 1 <= f <= MAX_FILTERS:
        return None, f"the convolution has {f} filters; use 1 to {MAX_FILTERS}"
    shapes = {"gamma": (f,), "beta": (f,), "W2": (f * 16, 10), "b2": (10,),
              "running_mean": (f,), "running_var": (f,), "eps": ()}
    for n, shape in shapes.items():
        if a[n].shape != shape:
            where = "bn_param" if n.startswith("running") or n == "eps" else "params"
            return None, f"{where}['{n}'] has shape {a[n].shape}, expected {shape}"
    for n, v in a.items():
        if not np.all(np.isfinite(v)):
            return None, f"{n} contains NaN or infinity"
    if np.any(a["running_var"] + a["eps"] <= 0):
        return None, "running_var + eps is not positive"
    x, y = digit_images(inputs["train_idx"], inputs["held_idx"])
    scores = _scores(*(a[n].astype(np.float64) for n in names), x)
    return float(np.mean(scores.argmax(axis=1) == y)), ""


def _score(outputs, inputs, needed):
    accuracy, message = _held_out_accuracy(outputs, inputs)
    if accuracy is None:
        return False, message
    if accuracy >= needed:
        return True, f"held-out accuracy {accuracy:.1%} (needs {needed:.0%})"
    return False, f"held-out accuracy {accuracy:.1%}, below the {needed:.0%} needed"


def score_bn_cnn(outputs, inputs):
    """(passed, message): held-out accuracy, in test mode, of at least ACCURACY_PASS."""
    return _score(outputs, inputs, ACCURACY_PASS)


def score_bn_cnn_top(outputs, inputs):
    """(passed, message): held-out accuracy, in test mode, of at least ACCURACY_TOP."""
    return _score(outputs, inputs, ACCURACY_TOP)
