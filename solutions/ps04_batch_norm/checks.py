"""Trusted checks of problem set 4 (instructor side, never released).

Input generators ``inputs(rng, case)``: case 0 is the small visible case (its inputs and
the reference outputs are published in visible.json); cases 1..n are secret. Batches have
N >= 3 (with N = 2 every output is +-gamma + beta and dx is of order eps) and N != D (C,
H, W all different for feature maps), so a transposed axis shows.
Features get different means (up to +-3) and scales (0.5 to 3), gamma has both signs and
no entry near 0, the starting running averages are neither 0 nor 1, the momentum lies
between 0.5 and 0.95 (so m and 1 - m cannot be swapped unnoticed) and eps takes the
values 1e-5, 1e-2 and 0.5 in turn (0.5 tells eps inside the square root from eps outside
it, and a forgotten eps). The running variance must use the variance divided by N: an
N - 1 version fails every case. The small-batch cases use a row count that is not a
multiple of the batch size, and batch sizes 1, 2, 3 and 7 (1: the variance is 0).

The small conv net of part 6: bn_cnn_loss is checked on shapes with N, C, F and K all
different and even H != W, weights and gamma of both signs, and starting running averages
that are neither 0 nor 1 (the probe returns them after the call, so an update that is
lost shows); bn-cnn-test makes two training calls and then asks for test-mode scores, so
a test mode that uses the batch statistics, or running averages never updated, fails.
train_bn_cnn is trained in the sandbox on the training part of a secret split of the
1,797 digits (indices drawn here from the grader's seed) and judged by probes.score_bn_cnn
on the held-out part, whose indices are a scorer input only (never sent into the
sandbox); the scorer classifies them itself, in test mode, from the returned weights and
running averages.

No graded function may use a library that does its job (OWN_WORK); the backward passes
are derived: no numerical gradient, and at most two calls of a forward pass while they
run. Every part's outputs are separable and each gets its share (weights).
"""

import numpy as np

from autograder.ownwork import FINITE_DIFFERENCES, FRAMEWORKS

NOTEBOOK = "ps04_batch_norm.ipynb"
# Every module of the course library that holds a graded answer; the sandbox does not
# contain them at all. The fully connected, activation and loss layers (chapter 1) and the
# convolution and pooling layers (chapters 2-3) are given building blocks.
# dlcourse.layers re-exports the normalization functions by name, so they are listed too:
# the local check (validate) then refuses `from dlcourse.layers import batchnorm_forward`
# as the sandbox would (it has no norm.py).
_REEXPORTED = ("batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
               "spatial_batchnorm_forward", "spatial_batchnorm_backward",
               "layernorm_forward", "layernorm_backward")
FORBIDDEN_MODULES = ("dlcourse.layers.norm", "dlcourse.models", "dlcourse.train",
                     "dlcourse.optim", "dlcourse.bn_models",
                     *(f"dlcourse.layers.{name}" for name in _REEXPORTED))
LIBRARY_FILES = {"dlcourse": ["__init__.py", "data.py", "plotting.py", "gradcheck.py",
                              "layers/__init__.py",
                              "layers/fc.py", "layers/activations.py", "layers/losses.py",
                              "layers/conv.py", "layers/pool.py"]}

EPS = [1e-5, 1e-2, 0.5]  # eps of the secret cases, in turn


def _different(rng, k, low, high):
    """k different integers in [low, high)."""
    return [int(v) for v in rng.choice(np.arange(low, high), size=k, replace=False)]


def _features(rng, size, loc, scale):
    """Normal data with the given per-feature (last axis or axis 1) means and scales."""
    return rng.normal(size=size) * scale + loc


def _eps(case):
    return 1e-3 if case == 0 else EPS[(case - 1) % len(EPS)]


def _params(rng, d):
    """gamma (both signs, |gamma| in [0.5, 2]), beta, and starting running averages."""
    gamma = rng.uniform(0.5, 2.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    return {"gamma": gamma, "beta": rng.normal(size=d),
            "running_mean": rng.normal(size=d), "running_var": rng.uniform(0.5, 2.0, size=d)}


def _flat_sizes(rng, case):
    """(calls, N, D): case 0 is (3, 4, 3)."""
    if case == 0:
        return 3, 4, 3
    n, d = _different(rng, 2, 3, 10)
    return int(rng.integers(2, 5)), n, d


def bn_forward_train_inputs(rng, case):
    k, n, d = _flat_sizes(rng, case)
    loc, scale = rng.uniform(-3, 3, size=d), rng.uniform(0.5, 3.0, size=d)
    momentum = 0.9 if case == 0 else float(rng.uniform(0.5, 0.95))
    return {"xs": _features(rng, (k, n, d), loc, scale), **_params(rng, d),
            "momentum": np.float64(momentum), "eps": np.float64(_eps(case))}


def bn_forward_test_inputs(rng, case):
    arrays = bn_forward_train_inputs(rng, case)
    d = arrays["xs"].shape[2]
    n_test = 2 if case == 0 else int(rng.integers(1, 6))  # a batch of one works in test mode
    arrays["x_test"] = _features(rng, (n_test, d), rng.uniform(-3, 3, size=d),
                                 rng.uniform(0.5, 3.0, size=d))
    return arrays


def bn_backward_inputs(rng, case):
    n, d = (5, 4) if case == 0 else _different(rng, 2, 3, 10)
    x = _features(rng, (n, d), rng.uniform(-3, 3, size=d), rng.uniform(0.5, 3.0, size=d))
    params = _params(rng, d)
    return {"x": x, "gamma": params["gamma"], "beta": params["beta"],
            "dout": rng.normal(size=(n, d)), "eps": np.float64(_eps(case))}


def _map_sizes(rng, case):
    """(N, C, H, W), all different."""
    return (2, 3, 4, 5) if case == 0 else tuple(_different(rng, 4, 2, 7))


def _maps(rng, size, c):
    loc = rng.uniform(-3, 3, size=(1, c, 1, 1))
    scale = rng.uniform(0.5, 3.0, size=(1, c, 1, 1))
    return _features(rng, size, loc, scale)


def spatial_bn_forward_inputs(rng, case):
    n, c, h, w = _map_sizes(rng, case)
    momentum = 0.9 if case == 0 else float(rng.uniform(0.5, 0.95))
    xs = np.stack([_maps(rng, (n, c, h, w), c) for _ in range(2)])  # (2, N, C, H, W)
    n_test = 2 if case == 0 else int(rng.integers(1, 4))
    return {"xs": xs, "x_test": _maps(rng, (n_test, c, h, w), c), **_params(rng, c),
            "momentum": np.float64(momentum), "eps": np.float64(_eps(case))}


def spatial_bn_backward_inputs(rng, case):
    n, c, h, w = _map_sizes(rng, case)
    params = _params(rng, c)
    return {"x": _maps(rng, (n, c, h, w), c), "gamma": params["gamma"],
            "beta": params["beta"], "dout": rng.normal(size=(n, c, h, w)),
            "eps": np.float64(_eps(case))}


SMALL_BATCH_SIZES = [1, 2, 3, 7]  # batch sizes of the secret cases, in turn


def small_batch_inputs(rng, case):
    if case == 0:
        m, d, size = 11, 3, 3
    else:
        size = SMALL_BATCH_SIZES[(case - 1) % len(SMALL_BATCH_SIZES)]
        d = int(rng.integers(2, 6))
        left_over = int(rng.integers(1, size)) if size > 1 else 0  # rows to be dropped
        m = size * int(rng.integers(3, 8)) + left_over
    x = _features(rng, (m, d), rng.uniform(-3, 3, size=d), rng.uniform(0.5, 3.0, size=d))
    return {"x": x, "batch_size": np.int64(size), "eps": np.float64(_eps(case))}


def _cnn_sizes(rng, case):
    """(N, C, F, K, H, W): N, C, F, K different, H != W even."""
    if case == 0:
        return 3, 2, 4, 5, 4, 6
    n, c, f, k = _different(rng, 4, 2, 8)
    h, w = (2 * v for v in _different(rng, 2, 1, 4))
    return n, c, f, k, h, w


def _cnn_params(rng, c, f, k, h, w):
    return {"W1": rng.normal(scale=0.5, size=(f, c, 3, 3)),
            "gamma": rng.uniform(0.5, 2.0, size=f) * rng.choice([-1.0, 1.0], size=f),
            "beta": rng.normal(size=f),
            "W2": rng.normal(scale=0.3, size=(f * (h // 2) * (w // 2), k)),
            "b2": rng.normal(scale=0.5, size=k),
            "running_mean": rng.normal(size=f), "running_var": rng.uniform(0.5, 2.0, size=f)}


def bn_cnn_loss_inputs(rng, case):
    n, c, f, k, h, w = _cnn_sizes(rng, case)
    momentum = 0.9 if case == 0 else float(rng.uniform(0.5, 0.95))
    return {**_cnn_params(rng, c, f, k, h, w), "momentum": np.float64(momentum),
            "eps": np.float64(_eps(case)),
            "x": _maps(rng, (n, c, h, w), c), "y": rng.integers(0, k, size=n)}


def bn_cnn_test_inputs(rng, case):
    n, c, f, k, h, w = _cnn_sizes(rng, case)
    momentum = 0.9 if case == 0 else float(rng.uniform(0.5, 0.95))
    n_test = 2 if case == 0 else int(rng.integers(1, 4))
    return {**_cnn_params(rng, c, f, k, h, w), "momentum": np.float64(momentum),
            "eps": np.float64(_eps(case)),
            "xs": np.stack([_maps(rng, (n, c, h, w), c) for _ in range(2)]),
            "ys": rng.integers(0, k, size=(2, n)),
            "x_test": _maps(rng, (n_test, c, h, w), c)}


N_DIGITS = 1797  # the 8x8 digits of scikit-learn
N_HELD_OUT = 450


def bn_cnn_train_inputs(rng, case):
    """A split of the digits: training indices (sent) and held-out ones (scorer only).
    Case 0 is the public split; the others come from the grader's secret seed."""
    split = np.random.default_rng(0) if case == 0 else rng
    order = split.permutation(N_DIGITS)
    seed = 0 if case == 0 else int(rng.integers(1, 10**6))
    return {"train_idx": np.sort(order[N_HELD_OUT:]).astype(np.int64),
            "held_idx": np.sort(order[:N_HELD_OUT]).astype(np.int64),
            "seed": np.int64(seed)}


OWN_WORK = {"forbid": FRAMEWORKS}


def derived(function, **most_calls):
    """The rule of a part that asks for the analytic gradient computed by ``function``."""
    return {"functions": [function], "forbid": FINITE_DIFFERENCES, "calls": most_calls}


PARTS = [
    {"grade_id": "bn-forward-train", "probe": "bn_forward_train",
     "functions": ["batchnorm_forward"], "inputs": bn_forward_train_inputs,
     "weights": {"out": 3, "running_mean": 2, "running_var": 2}},
    {"grade_id": "bn-forward-test", "probe": "bn_forward_test",
     "functions": ["batchnorm_forward"], "inputs": bn_forward_test_inputs,
     "weights": {"out": 2, "running_mean": 1, "running_var": 1}},
    {"grade_id": "bn-backward", "probe": "bn_backward",
     "functions": ["batchnorm_forward", "batchnorm_backward"], "inputs": bn_backward_inputs,
     "weights": {"dx": 5, "dgamma": 2, "dbeta": 2},
     "own_work": derived("batchnorm_backward", batchnorm_forward=2)},
    {"grade_id": "spatial-bn-forward", "probe": "spatial_bn_forward",
     "functions": ["spatial_batchnorm_forward"], "inputs": spatial_bn_forward_inputs,
     "weights": {"out": 2, "running_mean": 1, "running_var": 1, "out_test": 2}},
    {"grade_id": "spatial-bn-backward", "probe": "spatial_bn_backward",
     "functions": ["spatial_batchnorm_forward", "spatial_batchnorm_backward"],
     "inputs": spatial_bn_backward_inputs, "weights": {"dx": 4, "dgamma": 1, "dbeta": 1},
     "own_work": derived("spatial_batchnorm_backward", spatial_batchnorm_forward=2,
                         batchnorm_forward=2)},
    {"grade_id": "small-batch", "probe": "small_batch",
     "functions": ["batch_statistics", "normalization_mismatch"],
     "inputs": small_batch_inputs, "cases": 4,
     "weights": {"means": 2, "variances": 2, "mismatch": 4}},
    {"grade_id": "bn-cnn-loss", "probe": "bn_cnn_loss",
     "functions": ["bn_cnn_loss", "spatial_batchnorm_forward", "spatial_batchnorm_backward"],
     "inputs": bn_cnn_loss_inputs,
     "weights": {"loss": 1, "dW1": 1, "dgamma": 1, "dbeta": 1, "dW2": 1, "db2": 1},
     "own_work": derived("bn_cnn_loss", conv_forward_im2col=2, relu_forward=2,
                         max_pool_forward_fast=2, affine_forward=2,
                         spatial_batchnorm_forward=2, batchnorm_forward=2,
                         softmax_loss=2, bn_cnn_loss=0)},
    {"grade_id": "bn-cnn-test", "probe": "bn_cnn_test",
     "functions": ["bn_cnn_loss", "bn_cnn_scores", "spatial_batchnorm_forward"],
     "inputs": bn_cnn_test_inputs, "weights": {"scores": 2, "running": 1}},
    # Judged by the held-out accuracy the scorer computes from the returned weights.
    {"grade_id": "bn-cnn-train", "probe": "bn_cnn_train", "functions": ["train_bn_cnn"],
     "inputs": bn_cnn_train_inputs, "cases": 2, "scorer": "score_bn_cnn",
     "scorer_inputs": ["held_idx"]},
    {"grade_id": "bn-cnn-train-top", "probe": "bn_cnn_train", "functions": ["train_bn_cnn"],
     "inputs": bn_cnn_train_inputs, "cases": 2, "scorer": "score_bn_cnn_top",
     "scorer_inputs": ["held_idx"]},
]
