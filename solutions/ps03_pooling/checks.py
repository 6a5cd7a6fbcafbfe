"""Trusted checks of problem set 3 (instructor side, never released).

Input generators ``inputs(rng, case)``: case 0 is the small visible case (its inputs and
the reference outputs are published in visible.json); cases 1..n are secret. The pooling
cases use N > 1 and C > 1, sizes that differ from each other, and four window/stride
settings: 2x2 stride 1 (overlapping windows, so gradients must add up), 3x3 stride 2
(overlapping, with a row and a column left over by the floor in the output size), 2x3
stride 3 (a window taller than wide, with gaps between windows) and 3x3 stride 3. Max
pooling's inputs are small integers in some cases, so that windows have tied maxima: the
gradient goes to the first maximum in row-major order, as the notebook states.

No graded function may use a library's pooling or window view (OWN_WORK); the backward
passes and cnn_loss's gradients are derived: no numerical gradient, and at most a few
calls of a forward pass while they run. cnn_loss, global-avg-pool and residual-block give
each output its share (weights); the residual block's cases have N, C, H, W all different
and both ReLUs active on some entries and not on others.
"""

import numpy as np

from autograder.ownwork import FINITE_DIFFERENCES, FRAMEWORKS, WINDOW_VIEWS, merge

NOTEBOOK = "ps03_pooling.ipynb"
# Every module of the course library that holds a graded answer; the sandbox does not
# contain them at all. The convolution (chapter 2) and the fully connected, activation
# and loss layers (chapter 1) are given building blocks.
# dlcourse.layers re-exports the pooling functions by name, so they are listed too: the
# local check (validate) then refuses `from dlcourse.layers import max_pool_forward_naive`
# as the sandbox would (it has no pool.py).
_REEXPORTED = ("max_pool_forward_naive", "max_pool_backward_naive", "avg_pool_forward_naive",
               "avg_pool_backward_naive", "max_pool_forward_fast", "max_pool_backward_fast",
               "global_avg_pool_forward", "global_avg_pool_backward")
FORBIDDEN_MODULES = ("dlcourse.layers.pool", "dlcourse.models", "dlcourse.train",
                     "dlcourse.optim",
                     *(f"dlcourse.layers.{name}" for name in _REEXPORTED))
LIBRARY_FILES = {"dlcourse": ["__init__.py", "data.py", "plotting.py", "gradcheck.py",
                              "layers/__init__.py",
                              "layers/fc.py", "layers/activations.py", "layers/losses.py",
                              "layers/conv.py"]}
OWN_WORK = {"forbid": merge(FRAMEWORKS, WINDOW_VIEWS)}


def derived(*functions, **most_calls):
    """The rule of a part that asks for the analytic gradient computed by ``functions``."""
    return {"functions": list(functions), "forbid": FINITE_DIFFERENCES, "calls": most_calls}

# (pool_height, pool_width, stride) of the secret cases, in turn.
SETTINGS = [(2, 2, 1), (3, 3, 2), (2, 3, 3), (3, 3, 3)]


def _different(rng, k, low, high, avoid=()):
    """k different integers in [low, high), none of them in ``avoid``."""
    choices = [v for v in range(low, high) if v not in avoid]
    return [int(v) for v in rng.choice(choices, size=k, replace=False)]


def _pool_case(rng, case, ties):
    """x (N, C, H, W) and the window; with ``ties``, x holds small integers in the cases
    that have them (every second secret case, and the visible one)."""
    if case == 0:
        x = np.array([[[[1.0, 3.0, -2.0, 0.5, 4.0],
                        [3.0, 0.0, 1.5, -1.0, 2.0],
                        [-0.5, 2.0, 2.5, 2.5, -3.0],
                        [1.0, -4.0, 0.0, 1.0, 0.0]]]])  # (1, 1, 4, 5) to start with
        x = np.concatenate([x, -x[:, :, ::-1]], axis=1)  # (1, 2, 4, 5): C = 2
        x = np.concatenate([x, 0.5 * x + 1.0], axis=0)  # (2, 2, 4, 5): N = 2
        return x, (2, 2, 2)
    ph, pw, stride = SETTINGS[(case - 1) % len(SETTINGS)]
    n, c = _different(rng, 2, 2, 5)
    h = int(rng.integers(ph + 2 * stride, ph + 4 * stride + 1))
    w = int(rng.integers(pw + 2 * stride, pw + 4 * stride + 1))
    if h == w:
        w += 1
    if ties and case % 2 == 0:
        x = rng.integers(-2, 3, size=(n, c, h, w)).astype(np.float64)
    else:
        x = rng.normal(size=(n, c, h, w))
    return x, (ph, pw, stride)


def _pool_inputs(rng, case, ties, backward):
    x, (ph, pw, stride) = _pool_case(rng, case, ties)
    arrays = {"x": x, "pool_height": np.int64(ph), "pool_width": np.int64(pw),
              "stride": np.int64(stride)}
    if backward:
        h_out, w_out = (x.shape[2] - ph) // stride + 1, (x.shape[3] - pw) // stride + 1
        # Upstream gradients away from 0, so that a dropped term always shows.
        dout = rng.uniform(0.5, 2.0, size=(x.shape[0], x.shape[1], h_out, w_out))
        arrays["dout"] = dout * rng.choice([-1.0, 1.0], size=dout.shape)
    return arrays


def max_pool_inputs(rng, case):
    return _pool_inputs(rng, case, ties=True, backward=False)


def max_pool_backward_inputs(rng, case):
    return _pool_inputs(rng, case, ties=True, backward=True)


def avg_pool_inputs(rng, case):
    return _pool_inputs(rng, case, ties=False, backward=False)


def avg_pool_backward_inputs(rng, case):
    return _pool_inputs(rng, case, ties=False, backward=True)


def global_avg_pool_inputs(rng, case):
    """N, C, H, W all different (H != W, so swapped axes show)."""
    if case == 0:
        n, c, h, w = 2, 3, 4, 5
    else:
        n, c, h, w = _different(rng, 4, 2, 9)
    return {"x": rng.normal(size=(n, c, h, w)), "dout": rng.normal(size=(n, c))}


def cnn_loss_inputs(rng, case):
    """N, C, F, K different; even H != W; nonzero biases (the ReLU sees both signs) and
    a nonzero penalty."""
    if case == 0:
        n, c, f, k, h, w, reg = 3, 2, 4, 5, 4, 6, 0.1
    else:
        n, c, f, k = _different(rng, 4, 2, 8)
        h, w = (2 * v for v in _different(rng, 2, 2, 5))
        reg = float(rng.uniform(0.05, 1.0))
    d = f * (h // 2) * (w // 2)
    return {"W1": rng.normal(scale=0.5, size=(f, c, 3, 3)),
            "b1": rng.normal(scale=0.5, size=f),
            "W2": rng.normal(scale=0.3, size=(d, k)), "b2": rng.normal(scale=0.5, size=k),
            "x": rng.normal(size=(n, c, h, w)), "y": rng.integers(0, k, size=n),
            "reg": np.float64(reg)}


def residual_block_inputs(rng, case):
    """N, C, H, W all different; kernels of about unit gain and nonzero biases, so that
    both ReLUs cut some entries and keep others; upstream gradients away from 0, so that
    a dropped skip path always shows in dx."""
    if case == 0:
        n, c, h, w = 2, 3, 4, 5
    else:
        n, c, h, w = _different(rng, 4, 2, 8)
    scale = 1.0 / np.sqrt(9 * c)
    dout = rng.uniform(0.5, 2.0, size=(n, c, h, w)) * rng.choice([-1.0, 1.0],
                                                                  size=(n, c, h, w))
    return {"x": rng.normal(size=(n, c, h, w)),
            "w1": rng.normal(scale=scale, size=(c, c, 3, 3)),
            "b1": rng.normal(scale=0.3, size=c),
            "w2": rng.normal(scale=scale, size=(c, c, 3, 3)),
            "b2": rng.normal(scale=0.3, size=c), "dout": dout}


def cnn_train_inputs(rng, case):
    if case == 0:
        return {"split_seed": np.int64(0), "train_seed": np.int64(0)}
    return {"split_seed": np.int64(rng.integers(1, 10**6)),
            "train_seed": np.int64(rng.integers(1, 10**6))}


PARTS = [
    {"grade_id": "max-pool-forward", "probe": "max_pool_forward",
     "functions": ["max_pool_forward_naive"], "inputs": max_pool_inputs, "cases": 4},
    {"grade_id": "max-pool-backward", "probe": "max_pool_backward",
     "functions": ["max_pool_forward_naive", "max_pool_backward_naive"],
     "inputs": max_pool_backward_inputs, "cases": 4,
     "own_work": derived("max_pool_backward_naive", max_pool_forward_naive=2)},
    {"grade_id": "avg-pool-forward", "probe": "avg_pool_forward",
     "functions": ["avg_pool_forward_naive"], "inputs": avg_pool_inputs, "cases": 4},
    {"grade_id": "avg-pool-backward", "probe": "avg_pool_backward",
     "functions": ["avg_pool_forward_naive", "avg_pool_backward_naive"],
     "inputs": avg_pool_backward_inputs, "cases": 4,
     "own_work": derived("avg_pool_backward_naive", avg_pool_forward_naive=2)},
    {"grade_id": "global-avg-pool", "probe": "global_avg_pool",
     "functions": ["global_avg_pool_forward", "global_avg_pool_backward"],
     "inputs": global_avg_pool_inputs, "weights": {"out": 1, "dx": 2},
     "own_work": derived("global_avg_pool_forward", "global_avg_pool_backward",
                         global_avg_pool_forward=2)},
    {"grade_id": "cnn-loss", "probe": "cnn_loss", "functions": ["cnn_loss"],
     "inputs": cnn_loss_inputs,
     "weights": {"loss": 2, "dW1": 2, "db1": 2, "dW2": 2, "db2": 2},
     "own_work": derived("cnn_loss", conv_forward_im2col=2, conv_forward_naive=2,
                         relu_forward=2, max_pool_forward_naive=2, affine_forward=2,
                         softmax_loss=2, cnn_loss=0)},
    {"grade_id": "residual-block", "probe": "residual_block",
     "functions": ["residual_block_forward", "residual_block_backward"],
     "inputs": residual_block_inputs,
     "weights": {"out": 4, "dx": 4, "dw1": 2, "db1": 1, "dw2": 2, "db2": 1},
     "own_work": derived("residual_block_backward", residual_block_forward=2,
                         conv_forward_im2col=4, conv_forward_naive=4, relu_forward=4)},
    # Judged by the test accuracy the grader computes from the returned weights.
    {"grade_id": "cnn-train", "probe": "cnn_train", "functions": ["train_cnn"],
     "inputs": cnn_train_inputs, "cases": 2, "scorer": "score_cnn"},
]
