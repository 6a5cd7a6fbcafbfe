"""Trusted checks of problem set 1 (instructor side, never released).

Input generators ``inputs(rng, case)``: case 0 is the small visible case (its inputs and
the reference outputs are published in visible.json); cases 1..n are secret. The secret
cases use several shapes, batches larger than one and sizes that differ from each other
(so a transposed product has the wrong shape), both signs for ReLU, extreme values for
the sigmoid and the softmax, and inputs for which a one-sided difference is measurably
wrong.

No graded function may use a library that does its job (OWN_WORK: scipy, a deep-learning
framework, ...); the backward passes and the losses' gradients are derived: no numerical
gradient, and at most a few calls of a forward pass while they run (finite differences
make hundreds). Parts with separate outputs give each its share (weights). Random draws
(he_init's weights, dropout over many calls) are judged by their statistics, within 6
standard errors; dropout's exact masks follow the notebook's convention.
"""

import numpy as np

from autograder.ownwork import FINITE_DIFFERENCES, FRAMEWORKS

NOTEBOOK = "ps01_fully_connected.ipynb"
# Every module of the course library that holds a graded answer; the sandbox does not
# contain them at all.
# Chapter 1's dropout (dlcourse/layers/dropout.py), graded in part 8, is inside
# "dlcourse.layers" already (a prefix match covers its submodules), and so are the names
# dlcourse.layers re-exports from it; they are listed so that they stay refused if the
# package entry is ever narrowed, as ps02's is, to the modules of this set's answers.
_REEXPORTED = ("dropout_forward", "dropout_backward")
FORBIDDEN_MODULES = ("dlcourse.layers", "dlcourse.gradcheck", "dlcourse.costs",
                     "dlcourse.models", "dlcourse.train", "dlcourse.optim",
                     "dlcourse.layers.dropout",
                     *(f"dlcourse.layers.{name}" for name in _REEXPORTED))
LIBRARY_FILES = {"dlcourse": ["__init__.py", "data.py", "plotting.py"]}
OWN_WORK = {"forbid": FRAMEWORKS}


def derived(function, **most_calls):
    """The rule of a part that asks for the analytic gradient computed by ``function``."""
    return {"functions": [function], "forbid": FINITE_DIFFERENCES, "calls": most_calls}


def _different(rng, k, low, high, avoid=()):
    """k different integers in [low, high), none of them in ``avoid``."""
    choices = [v for v in range(low, high) if v not in avoid]
    return [int(v) for v in rng.choice(choices, size=k, replace=False)]


def _mixed_signs(x):
    """Make sure x has a negative and a positive entry."""
    x.flat[0] = -abs(x.flat[0]) - 0.1
    x.flat[-1] = abs(x.flat[-1]) + 0.1
    return x


# -- 1. affine layer ----------------------------------------------------------------------

def affine_inputs(rng, case):
    """x (N, d_1, ..., d_k) with k = 1, 2, 3 over the secret cases; N, D, M all different."""
    if case == 0:
        x_shape, m = (2, 3, 2), 4  # N = 2, D = 6, M = 4
    else:
        dims = tuple(int(v) for v in rng.integers(2, 5, size=(case - 1) % 3 + 1))
        d = int(np.prod(dims))
        n, m = _different(rng, 2, 2, 10, avoid={d})
        x_shape = (n, *dims)
    d = int(np.prod(x_shape[1:]))
    return {"x": rng.normal(size=x_shape), "w": rng.normal(size=(d, m)),
            "b": rng.normal(size=m)}


def affine_backward_inputs(rng, case):
    arrays = affine_inputs(rng, case)
    arrays["dout"] = rng.normal(size=(arrays["x"].shape[0], arrays["w"].shape[1]))
    return arrays


# -- 2. activations -----------------------------------------------------------------------

def relu_inputs(rng, case):
    """Any shape (2-D to 4-D), both signs, and one entry exactly 0 (whose gradient is 0)."""
    if case == 0:
        x = np.array([[-1.5, 0.0, 2.0, -0.3], [0.7, -2.2, 1.1, 0.4], [-0.9, 3.0, -0.1, 0.2]])
    else:
        shape = tuple(int(v) for v in rng.integers(2, 6, size=(case - 1) % 3 + 2))
        x = _mixed_signs(rng.normal(size=shape))
        x.flat[int(rng.integers(1, x.size - 1))] = 0.0
    return {"x": x}


def relu_backward_inputs(rng, case):
    x = relu_inputs(rng, case)["x"]
    return {"x": x, "dout": rng.normal(size=x.shape)}


def sigmoid_inputs(rng, case):
    """Ordinary values and extreme ones (+-800, +-710, +-40): a stable sigmoid stays finite."""
    if case == 0:
        x = np.array([[-800.0, -5.0, -0.5, 0.0], [0.5, 2.0, 30.0, 800.0]])
    else:
        shape = tuple(int(v) for v in rng.integers(2, 6, size=(case - 1) % 2 + 2))
        x = rng.normal(scale=4.0, size=shape)
        extremes = np.array([-800.0, 800.0, -710.0, 710.0, -40.0, 40.0])
        spots = rng.choice(x.size, size=min(x.size, len(extremes)), replace=False)
        x.flat[spots] = extremes[: len(spots)]
    return {"x": x}


def sigmoid_backward_inputs(rng, case):
    x = sigmoid_inputs(rng, case)["x"]
    return {"x": x, "dout": rng.normal(size=x.shape)}


# -- 3. softmax loss ----------------------------------------------------------------------

def softmax_inputs(rng, case):
    """Case 1 ordinary scores; case 2 every row shifted by 750 to 1000 up or down (e^s
    overflows, or a whole row underflows, without the max subtracted); case 3 scores of
    order 300 with one example's correct class 750 to 1000 below its row's maximum (its
    probability underflows to 0, so log P must come from log-sum-exp)."""
    if case == 0:
        scores = np.array([[1.0, -0.5, 0.3, 2.0],
                           [1000.0, 1001.0, 1002.0, 999.0],
                           [-5.0, 800.0, 0.0, 1.0]])
        y = np.array([3, 0, 0])
        return {"scores": scores, "y": y}
    n, c = _different(rng, 2, 2, 11)
    y = rng.integers(0, c, size=n)
    kind = (case - 1) % 3
    if kind == 0:
        scores = rng.normal(scale=2.0, size=(n, c))
    elif kind == 1:
        shift = rng.uniform(750, 1000, size=(n, 1)) * rng.choice([-1.0, 1.0], size=(n, 1))
        scores = rng.normal(size=(n, c)) + shift
    else:
        scores = rng.normal(scale=300.0, size=(n, c))
        row = int(rng.integers(n))
        others = np.delete(scores[row], y[row])
        scores[row, y[row]] = others.max() - rng.uniform(750, 1000)
    return {"scores": scores, "y": y}


# -- 4. gradient checking -----------------------------------------------------------------

def numerical_gradient_inputs(rng, case):
    """f(x) = sum(A * sin(x)). At x = 1.4, tan(x) is about 5.8, so the one-sided
    difference's error h/2 |A sin x| is several times the tolerance there; h = 0.02 in the
    last secret case catches a function that ignores its h."""
    shape = (2, 3) if case == 0 else tuple(int(v) for v in rng.integers(2, 5, size=case))
    x = rng.uniform(-3.0, 3.0, size=shape)
    A = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    x.flat[0] = 1.4
    h = 0.02 if case == 3 else 1e-5
    return {"x": x, "A": A, "h": np.float64(h)}


def rel_error_inputs(rng, case):
    """Pairs with both entries 0 (the floor 1e-8 avoids 0/0) and, in some cases, a tiny
    pair whose floored error is the largest."""
    if case == 0:
        a = np.array([[1.0, -2.0, 0.0], [3.0, 1e-9, 0.5]])
        b = np.array([[1.0 + 1e-6, -2.0, 0.0], [2.9, -1e-9, 0.5]])
        return {"a": a, "b": b}
    shape = tuple(int(v) for v in rng.integers(2, 6, size=2))
    a = rng.normal(size=shape)
    b = a * (1.0 + rng.normal(scale=10.0 ** -rng.uniform(2, 8), size=shape))
    spots = rng.choice(a.size, size=2, replace=False)
    a.flat[spots[0]] = b.flat[spots[0]] = 0.0
    if case % 2 == 1:
        a.flat[spots[1]], b.flat[spots[1]] = 3e-9, -1e-9  # floored error 0.4
    return {"a": a, "b": b}


# -- 5. counting --------------------------------------------------------------------------

def counting_inputs(rng, case):
    if case == 0:  # the chapter's two layers on a batch of 32, and the megapixel layer
        return {"n_in": np.array([64, 100, 10**6]), "n_out": np.array([100, 10, 10**6]),
                "batch": np.array([32, 32, 1])}
    n_in = rng.integers(2, 5000, size=5)
    n_out = n_in + rng.integers(1, 3000, size=5) * rng.choice([-1, 1], size=5)
    n_out = np.where(n_out < 1, n_in + 7, n_out)
    batch = rng.integers(2, 257, size=5)
    batch[0] = 1
    return {"n_in": n_in, "n_out": n_out, "batch": batch}


# -- 6. two-layer network -----------------------------------------------------------------

def two_layer_loss_inputs(rng, case):
    """N, D, H, C all different; nonzero biases (so the ReLU sees both signs) and a
    nonzero penalty."""
    if case == 0:
        n, d, h, c, reg = 4, 5, 6, 3, 0.1
    else:
        n, d, h, c = _different(rng, 4, 2, 12)
        reg = float(rng.uniform(0.05, 1.0))
    return {"W1": rng.normal(scale=0.5, size=(d, h)), "b1": rng.normal(scale=0.5, size=h),
            "W2": rng.normal(scale=0.5, size=(h, c)), "b2": rng.normal(scale=0.5, size=c),
            "x": rng.normal(size=(n, d)), "y": rng.integers(0, c, size=n),
            "reg": np.float64(reg)}


def two_layer_net_inputs(rng, case):
    if case == 0:
        return {"split_seed": np.int64(0), "train_seed": np.int64(0)}
    return {"split_seed": np.int64(rng.integers(1, 10**6)),
            "train_seed": np.int64(rng.integers(1, 10**6))}


# -- 7. initialisation -------------------------------------------------------------------

def he_init_inputs(rng, case):
    """Fan-in and fan-out at least 3x apart, either way round (variance 2 / n_out is then
    off by 3x or more), and at least 40,000 weights, so that the sample variance is within
    4% of the true one (6 standard errors) and the excess kurtosis within 0.15."""
    if case == 0:
        n_in, n_out = 300, 150
    else:
        small = int(rng.integers(60, 130))
        large = int(rng.integers(max(3 * small, 40_000 // small + 1), 1200))
        n_in, n_out = (large, small) if case % 2 == 1 else (small, large)
    return {"n_in": np.int64(n_in), "n_out": np.int64(n_out),
            "seed": np.int64(rng.integers(1, 10**6))}


# (init, depth) of the secret cases: a standard deviation of 0.01, 1/n, He's 2/n, and
# weights that make the signal grow (std 0.6 at widths 10 to 25). Small sizes keep the
# published copies of these configurations (visible.json) small.
INIT_CASES = [("small", 12), ("lecun", 6), ("he", 9), ("large", 5)]


def activation_stds_inputs(rng, case):
    """x (N, D_0) and L weight matrices w0 .. w{L-1}, W_l of shape (D_{l-1}, D_l), the
    widths all different from N and from their neighbours (a transposed product fails)."""
    if case == 0:
        init, depth = "he", 3
        widths = [5, 8, 7, 6]
        n = 4
    else:
        init, depth = INIT_CASES[case - 1]
        n = int(rng.integers(8, 17))
        widths = _different(rng, depth + 1, 10, 26, avoid={n})
    x = rng.normal(size=(n, widths[0]))
    weights = {}
    for l in range(depth):
        n_in, n_out = widths[l], widths[l + 1]
        std = {"small": 0.01, "lecun": np.sqrt(1.0 / n_in), "he": np.sqrt(2.0 / n_in),
               "large": 0.6}[init]
        weights[f"w{l}"] = rng.normal(0.0, std, size=(n_in, n_out))
    return {"x": x, **weights}


# -- 8. dropout ---------------------------------------------------------------------------

def _no_zeros(x):
    """Entries at least 0.5 away from 0 (so out / x recovers the mask), both signs."""
    return np.sign(x + (x == 0)) * (0.5 + np.abs(x))


def dropout_inputs(rng, case):
    """x of any shape (1-D to 4-D), p = 0 in one secret case (out is x), the others
    between 0.2 and 0.8."""
    if case == 0:
        x, p = _no_zeros(rng.normal(size=(3, 4))), 0.4
    else:
        shape = tuple(int(v) for v in rng.integers(2, 7, size=case))  # 1-D .. 4-D
        x = _no_zeros(rng.normal(size=shape))
        p = [0.0, rng.uniform(0.2, 0.45), rng.uniform(0.5, 0.8), 0.5][case - 1]
    return {"x": x, "p": np.float64(p), "seed": np.int64(rng.integers(1, 10**6))}


def dropout_statistics_inputs(rng, case):
    """A small x and p from 0.2 to 0.4 or 0.6 to 0.8: never near 0.5, where dropping with
    probability p and keeping with probability p look alike. Many draws from one
    generator."""
    low = 0.3 if case == 0 else [0.6, 0.2][case % 2]
    p = low if case == 0 else float(rng.uniform(low, low + 0.2))
    x = _no_zeros(rng.normal(size=(4, 5) if case == 0 else
                             tuple(int(v) for v in rng.integers(2, 6, size=2))))
    return {"x": x, "p": np.float64(p), "seed": np.int64(rng.integers(1, 10**6)),
            "draws": np.int64(2000)}


def dropout_backward_inputs(rng, case):
    """p from 0.2 to 0.8 (no p = 0: it has no mask to get wrong)."""
    arrays = dropout_inputs(rng, case)
    if float(arrays["p"]) == 0.0:
        arrays["p"] = np.float64(rng.uniform(0.2, 0.8))
    arrays["dout"] = rng.normal(size=arrays["x"].shape)
    return arrays


PARTS = [
    {"grade_id": "affine-forward", "probe": "affine_forward",
     "functions": ["affine_forward"], "inputs": affine_inputs},
    {"grade_id": "affine-backward", "probe": "affine_backward",
     "functions": ["affine_forward", "affine_backward"], "inputs": affine_backward_inputs,
     "weights": {"dx": 2, "dw": 2, "db": 1},
     "own_work": derived("affine_backward", affine_forward=2)},
    {"grade_id": "relu-forward", "probe": "relu_forward", "functions": ["relu_forward"],
     "inputs": relu_inputs},
    {"grade_id": "relu-backward", "probe": "relu_backward",
     "functions": ["relu_forward", "relu_backward"], "inputs": relu_backward_inputs,
     "own_work": derived("relu_backward", relu_forward=2)},
    {"grade_id": "sigmoid-forward", "probe": "sigmoid_forward",
     "functions": ["sigmoid_forward"], "inputs": sigmoid_inputs},
    {"grade_id": "sigmoid-backward", "probe": "sigmoid_backward",
     "functions": ["sigmoid_forward", "sigmoid_backward"], "inputs": sigmoid_backward_inputs,
     "own_work": derived("sigmoid_backward", sigmoid_forward=2)},
    {"grade_id": "softmax-loss", "probe": "softmax_loss", "functions": ["softmax_loss"],
     "inputs": softmax_inputs, "weights": {"loss": 2, "dscores": 3},
     "own_work": derived("softmax_loss", softmax_loss=0)},
    # Finite differences differ from each other by rounding (about 1e-10 here) and, for a
    # one-sided difference, by h/2 |f''|: the tolerance admits the first, not the second.
    {"grade_id": "numerical-gradient", "probe": "numerical_gradient",
     "functions": ["eval_numerical_gradient"], "inputs": numerical_gradient_inputs,
     "rtol": 1e-5, "atol": 1e-7},
    {"grade_id": "rel-error", "probe": "rel_error", "functions": ["rel_error"],
     "inputs": rel_error_inputs},
    # Counts are integers: exact.
    {"grade_id": "counting", "probe": "counting", "functions": ["fc_cost"],
     "inputs": counting_inputs, "rtol": 0.0, "atol": 0.5,
     "weights": {"params": 1, "forward": 1, "backward": 1}},
    # The weights alone are asked for; counting the 10^6 biases too (1e-6 more) passes.
    # A single number: its visible case would give the answer away, so it is private.
    {"grade_id": "explosion-bytes", "probe": "explosion_bytes",
     "inputs": lambda rng, case: {}, "cases": 1, "rtol": 1e-5, "atol": 0.0,
     "public_answer": False},
    {"grade_id": "two-layer-loss", "probe": "two_layer_loss",
     "functions": ["two_layer_loss"], "inputs": two_layer_loss_inputs,
     "weights": {"loss": 2, "dW1": 1, "db1": 1, "dW2": 1, "db2": 1},
     "own_work": derived("two_layer_loss", affine_forward=4, relu_forward=2,
                         softmax_loss=2, two_layer_loss=0)},
    # Judged by the test accuracy the grader computes from the returned weights.
    {"grade_id": "two-layer-net", "probe": "two_layer_net",
     "functions": ["train_two_layer_net"], "inputs": two_layer_net_inputs, "cases": 2,
     "scorer": "score_two_layer_net"},
    # Drawn at random, so judged by statistics: shape, mean, variance, normality, and
    # the generator as the only source of randomness.
    {"grade_id": "he-init", "probe": "he_init", "functions": ["he_init"],
     "inputs": he_init_inputs, "cases": 4, "scorer": "score_he_init"},
    # Standard deviations near 1e-19 (std 0.01 over 12 layers): relative only.
    {"grade_id": "activation-stds", "probe": "activation_stds",
     "functions": ["activation_stds"], "inputs": activation_stds_inputs, "cases": 4,
     "atol": 0.0},
    # The mask convention is fixed (keep = rng.random(x.shape) >= p), so the masks are the
    # reference's exactly; the statistics below do not depend on the convention.
    {"grade_id": "dropout-forward", "probe": "dropout_forward",
     "functions": ["dropout_forward"], "inputs": dropout_inputs, "cases": 4,
     "weights": {"out": 3, "test": 1}},
    {"grade_id": "dropout-statistics", "probe": "dropout_statistics",
     "functions": ["dropout_forward"], "inputs": dropout_statistics_inputs,
     "scorer": "score_dropout_statistics"},
    # dx as the reference has it (the convention's mask), and dx through the mask of the
    # student's own forward pass (out / x): a backward pass that draws a new mask fails
    # both, one consistent with a forward pass that forgot 1 / (1 - p) only the first.
    {"grade_id": "dropout-backward", "probe": "dropout_backward",
     "functions": ["dropout_forward", "dropout_backward"],
     "inputs": dropout_backward_inputs, "cases": 4,
     "weights": {"dx": 1, "own_mask_error": 2},
     "own_work": derived("dropout_backward", dropout_forward=2)},
]
