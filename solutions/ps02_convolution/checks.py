"""Trusted checks of problem set 2 (instructor side, never released).

Input generators ``inputs(rng, case)``: case 0 is the small visible case (its inputs and
the reference outputs are published in visible.json); cases 1..n are secret. The secret
convolution cases use batches, channels and filters larger than one and different from
each other, non-square inputs and kernels, and the stride/padding combinations (1, 0),
(2, 1), (3, 2) and (1, 2), with sizes for which the stride does not divide the padded
input exactly (so the floor in the output size matters). The size cases always contain a
quadruple with a remainder and a padding, so ceiling rounding or a single padding fails;
the true-convolution cases use kernels that are symmetric under neither flip, so a
cross-correlation, or a flip along one axis only, fails.

The visible cases (visible.json) are case 0 and one case of each secret configuration
drawn from the public seed, so padding 0 and every stride are visible too. No graded
function may use a library's convolution or window view (OWN_WORK); the backward pass is
derived (no numerical gradient, at most 4 calls of a forward pass while it runs), and
convolve2d_true does not call the layer of part 2, as the notebook says. The transposed
convolution cases (part 6) use the same stride/padding pairs, weights (C, F, HH, WW) with
C != F and HH != WW, and a backward pass limited like the convolution's.
"""

import numpy as np

from autograder.ownwork import CONVOLUTION, FINITE_DIFFERENCES, FRAMEWORKS, merge

NOTEBOOK = "ps02_convolution.ipynb"
# Every module of the course library that holds a graded answer of this set or a later
# one. dlcourse.layers itself stays (its fc, activations and losses are chapter 1's); it
# imports its submodules lazily, and conv.py and pool.py are not in the sandbox.
# The names dlcourse.layers re-exports from conv and pool are listed too, so that
# `from dlcourse.layers import conv_forward_naive` is refused by `autograder validate` on a
# student's machine (where conv.py exists) as it is by the grader.
_REEXPORTED = ("conv_output_size", "tf_output_size", "conv_forward_naive",
               "conv_backward_naive", "im2col", "col2im", "conv_forward_im2col",
               "conv_backward_im2col", "max_pool_forward_naive", "max_pool_backward_naive",
               "avg_pool_forward_naive", "avg_pool_backward_naive", "max_pool_forward_fast",
               "max_pool_backward_fast", "global_avg_pool_forward", "global_avg_pool_backward")
FORBIDDEN_MODULES = ("dlcourse.layers.conv", "dlcourse.layers.conv_variants",
                     "dlcourse.layers.pool", "dlcourse.costs",
                     "dlcourse.models", "dlcourse.train", "dlcourse.optim",
                     *(f"dlcourse.layers.{name}" for name in _REEXPORTED))
LIBRARY_FILES = {"dlcourse": ["__init__.py", "data.py", "plotting.py", "gradcheck.py",
                              "layers/__init__.py",
                              "layers/fc.py", "layers/activations.py", "layers/losses.py"]}
# What no graded function (nor any function of the notebook it calls) may use.
OWN_WORK = {"forbid": merge(FRAMEWORKS, CONVOLUTION)}
# The forward passes of the notebook: a backward pass that runs them more often than this
# is estimating its gradient by finite differences.
FORWARDS = {"conv_forward_naive": 4, "conv_forward_im2col": 4}
TRANSPOSE_FORWARDS = {"conv_transpose_forward": 4, **FORWARDS}
_NOT_YOUR_LAYER = ("this part asks for the flipped convolution written out with loops or "
                   "slices, not a call of your layer of part 2")

# (stride, pad) of the secret convolution cases 1, 2, 3, 4.
STRIDE_PAD = [(1, 0), (2, 1), (3, 2), (1, 2)]


def _different(rng, k, low, high, avoid=()):
    """k different integers in [low, high), none of them in ``avoid``."""
    choices = [v for v in range(low, high) if v not in avoid]
    return [int(v) for v in rng.choice(choices, size=k, replace=False)]


# -- 1. output sizes ----------------------------------------------------------------------

def output_size_inputs(rng, case):
    """Quadruples (n, k, stride, pad) with the kernel fitting the padded input. The first
    of every case leaves a remainder: (8 - 3 + 2) / 2 = 3.5, so floor gives 4, ceiling 5,
    and forgetting one side's padding 3."""
    if case == 0:
        rows = [(32, 5, 1, 0), (32, 3, 1, 1), (8, 3, 2, 1), (227, 11, 4, 0), (7, 2, 3, 2)]
    else:
        rows = [(8, 3, 2, 1)]
        while len(rows) < 12:
            n = int(rng.integers(4, 60))
            s, p = int(rng.integers(1, 5)), int(rng.integers(0, 4))
            k = int(rng.integers(1, min(12, n + 2 * p) + 1))
            rows.append((n, k, s, p))
    n, k, s, p = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    return {"n": n, "k": k, "stride": s, "pad": p}


def tf_output_size_inputs(rng, case):
    """Triples (n, k, stride) with k >= 2, some strides that do not divide n or n - k + 1,
    so SAME and VALID differ and floor and ceiling differ."""
    if case == 0:
        rows = [(32, 3, 1), (32, 3, 2), (7, 3, 2), (10, 4, 3), (5, 5, 1)]
    else:
        rows = [(7, 3, 2), (10, 4, 3)]
        while len(rows) < 12:
            n = int(rng.integers(4, 80))
            rows.append((n, int(rng.integers(2, min(12, n) + 1)), int(rng.integers(1, 5))))
    n, k, s = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    return {"n": n, "k": k, "stride": s}


# -- 2. convolution layer -----------------------------------------------------------------

def conv_inputs(rng, case):
    """x (N, C, H, W), w (F, C, HH, WW), b (F,): N, C, F different and at least 2, H != W,
    HH != WW, and H, W chosen so that at least one of them leaves a remainder under the
    stride when the stride is larger than 1."""
    if case == 0:
        n, c, f, h, w_, hh, ww, stride, pad = 2, 3, 2, 5, 6, 3, 2, 2, 1
    else:
        stride, pad = STRIDE_PAD[(case - 1) % len(STRIDE_PAD)]
        n, c, f = _different(rng, 3, 2, 5)
        hh, ww = _different(rng, 2, 1, 5)
        h, w_ = _different(rng, 2, max(hh, ww) + 2, 10)
        if stride > 1 and (h - hh + 2 * pad) % stride == 0 and (w_ - ww + 2 * pad) % stride == 0:
            h += 1
    return {"x": rng.normal(size=(n, c, h, w_)), "w": rng.normal(size=(f, c, hh, ww)),
            "b": rng.normal(size=f), "stride": np.int64(stride), "pad": np.int64(pad)}


def _out_size(n, k, stride, pad):
    return (n - k + 2 * pad) // stride + 1


def conv_backward_inputs(rng, case):
    arrays = conv_inputs(rng, case)
    (n, _, h, w_), (f, _, hh, ww) = arrays["x"].shape, arrays["w"].shape
    s, p = int(arrays["stride"]), int(arrays["pad"])
    arrays["dout"] = rng.normal(size=(n, f, _out_size(h, hh, s, p), _out_size(w_, ww, s, p)))
    return arrays


def im2col_inputs(rng, case):
    arrays = conv_inputs(rng, case)
    _, _, hh, ww = arrays["w"].shape
    return {"x": arrays["x"], "HH": np.int64(hh), "WW": np.int64(ww),
            "stride": arrays["stride"], "pad": arrays["pad"]}


# -- 3. counting --------------------------------------------------------------------------

def counting_inputs(rng, case):
    """Layers with kh != kw and c_in != c_out (so swapped factors or k*k fail), and
    batches larger than one."""
    if case == 0:  # LeNet-5 C1 and C3 (all 6 maps to each of 16), AlexNet conv1, a 1x1
        cols = {"c_in": [1, 6, 3, 256], "c_out": [6, 16, 96, 64], "kh": [5, 5, 11, 1],
                "kw": [5, 5, 11, 1], "h_out": [28, 10, 55, 13], "w_out": [28, 10, 55, 13],
                "batch": [1, 1, 1, 32]}
        return {k: np.array(v, dtype=np.int64) for k, v in cols.items()}
    m = 6
    kh = rng.integers(1, 8, size=m)
    kw = kh + rng.integers(1, 4, size=m)
    c_in = rng.integers(1, 512, size=m)
    c_out = c_in + rng.integers(1, 256, size=m)
    h_out = rng.integers(1, 120, size=m)
    w_out = h_out + rng.integers(1, 20, size=m)
    batch = rng.integers(2, 129, size=m)
    return {"c_in": c_in, "c_out": c_out, "kh": kh, "kw": kw, "h_out": h_out,
            "w_out": w_out, "batch": batch}


def receptive_field_inputs(rng, case):
    """Stacks of 3 to 8 layers with strides 1 to 3 (a stride not at the end, so using a
    layer's own stride in its own step fails)."""
    if case == 0:  # conv3 s1, conv3 s1, pool2 s2, conv3 s1, conv3 s1, pool2 s2
        kernels, strides = [3, 3, 2, 3, 3, 2], [1, 1, 2, 1, 1, 2]
    else:
        size = int(rng.integers(3, 9))
        kernels = rng.integers(1, 8, size=size)
        strides = rng.integers(1, 4, size=size)
        strides[0] = 2
        kernels[1] = max(kernels[1], 3)
    return {"kernels": np.array(kernels, dtype=np.int64),
            "strides": np.array(strides, dtype=np.int64)}


# -- 4. convolution vs cross-correlation --------------------------------------------------

def _asymmetric(rng, shape):
    """A kernel equal to none of its flips (up-down, left-right, both)."""
    while True:
        k = rng.normal(size=shape)
        flips = (k[::-1, :], k[:, ::-1], k[::-1, ::-1])
        if all(np.abs(k - g).max() > 0.5 for g in flips):
            return k


def convolve_inputs(rng, case):
    if case == 0:
        x = np.arange(20, dtype=np.float64).reshape(4, 5) % 7
        k = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
        return {"x": x, "k": k}
    kh, kw = _different(rng, 2, 2, 6)
    h, w_ = _different(rng, 2, max(kh, kw) + 1, 14)
    return {"x": rng.normal(size=(h, w_)), "k": _asymmetric(rng, (kh, kw))}


# -- 5. transposed convolution -----------------------------------------------------------

def _transpose_size(n, k, stride, pad):
    return (n - 1) * stride - 2 * pad + k


def conv_transpose_inputs(rng, case):
    """x (N, C, H, W), w (C, F, HH, WW), b (F,): N, C, F different and at least 2,
    H != W, HH != WW (so swapped axes fail), C != F (so reading w as (F, C, ...) fails),
    kernels larger than the stride somewhere (so overlapping copies must add), and every
    stride/padding pair of the convolution cases, so a forgotten crop changes the shape."""
    if case == 0:
        n, c, f, h, w_, hh, ww, stride, pad = 2, 3, 2, 3, 4, 3, 2, 2, 1
    else:
        stride, pad = STRIDE_PAD[(case - 1) % len(STRIDE_PAD)]
        n, c, f = _different(rng, 3, 2, 5)
        hh, ww = _different(rng, 2, 2, 6)
        h, w_ = _different(rng, 2, 2, 6)
        # every output side at least 1 pixel
        while min(_transpose_size(h, hh, stride, pad), _transpose_size(w_, ww, stride, pad)) < 1:
            h, w_ = h + 1, w_ + 1
    return {"x": rng.normal(size=(n, c, h, w_)), "w": rng.normal(size=(c, f, hh, ww)),
            "b": rng.normal(size=f), "stride": np.int64(stride), "pad": np.int64(pad)}


def conv_transpose_backward_inputs(rng, case):
    arrays = conv_transpose_inputs(rng, case)
    (n, _, h, w_), (_, f, hh, ww) = arrays["x"].shape, arrays["w"].shape
    s, p = int(arrays["stride"]), int(arrays["pad"])
    arrays["dout"] = rng.normal(size=(n, f, _transpose_size(h, hh, s, p),
                                      _transpose_size(w_, ww, s, p)))
    return arrays


PARTS = [
    # Sizes, counts and receptive fields are integers: compared exactly.
    {"grade_id": "conv-output-size", "probe": "conv_output_size",
     "functions": ["conv_output_size"], "inputs": output_size_inputs,
     "rtol": 0.0, "atol": 0.0},
    {"grade_id": "tf-output-size", "probe": "tf_output_size", "functions": ["tf_output_size"],
     "inputs": tf_output_size_inputs, "rtol": 0.0, "atol": 0.0,
     "weights": {"same": 1, "valid": 1}},
    {"grade_id": "conv-forward", "probe": "conv_forward", "functions": ["conv_forward_naive"],
     "inputs": conv_inputs, "cases": 4},
    {"grade_id": "conv-backward", "probe": "conv_backward",
     "functions": ["conv_forward_naive", "conv_backward_naive"],
     "inputs": conv_backward_inputs, "cases": 4,
     "weights": {"dx": 4, "dw": 4, "db": 2},
     "own_work": {"functions": ["conv_backward_naive"], "forbid": FINITE_DIFFERENCES,
                  "calls": FORWARDS}},
    {"grade_id": "im2col", "probe": "im2col", "functions": ["im2col"],
     "inputs": im2col_inputs, "cases": 4},
    # Counts are integers below 2^53, exact in float64: compared exactly.
    {"grade_id": "conv-counting", "probe": "conv_counting",
     "functions": ["conv_params", "conv_macs"], "inputs": counting_inputs,
     "rtol": 0.0, "atol": 0.0, "weights": {"params": 2, "macs": 2}},
    {"grade_id": "receptive-field", "probe": "receptive_field",
     "functions": ["receptive_field"], "inputs": receptive_field_inputs,
     "rtol": 0.0, "atol": 0.0},
    {"grade_id": "convolve2d-true", "probe": "convolve2d_true",
     "functions": ["convolve2d_true"], "inputs": convolve_inputs,
     "own_work": {"forbid": {"conv_forward_naive": _NOT_YOUR_LAYER,
                             "conv_forward_im2col": _NOT_YOUR_LAYER}}},
    {"grade_id": "conv-transpose-forward", "probe": "conv_transpose_forward",
     "functions": ["conv_transpose_forward"], "inputs": conv_transpose_inputs, "cases": 4},
    {"grade_id": "conv-transpose-backward", "probe": "conv_transpose_backward",
     "functions": ["conv_transpose_forward", "conv_transpose_backward"],
     "inputs": conv_transpose_backward_inputs, "cases": 4,
     "weights": {"dx": 3, "dw": 2, "db": 1},
     "own_work": {"functions": ["conv_transpose_backward"], "forbid": FINITE_DIFFERENCES,
                  "calls": TRANSPOSE_FORWARDS}},
]
