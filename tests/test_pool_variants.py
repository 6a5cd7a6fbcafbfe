"""Chapter 3's pooling variants (padding, global max, anti-aliased max-blur pooling) and
the all-convolutional experiment at a tiny size."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from grading_helpers import judge_in_process, solution_namespace

from dlcourse.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from dlcourse.layers.pool import (
    avg_pool_backward_pad,
    avg_pool_forward_pad,
    blur_kernel,
    global_max_pool_backward,
    global_max_pool_forward,
    max_blur_pool_backward,
    max_blur_pool_forward,
    max_pool_backward_pad,
    max_pool_forward_fast,
    max_pool_forward_pad,
)

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [(2, 2, 2, 1), (3, 3, 2, 1), (3, 2, 1, 1), (3, 3, 3, 2), (2, 3, 2, 0)]


def clipped_pool(x, ph, pw, stride, pad, how):
    """Oracle by loops that never pads: each window is clipped to the image, then its
    max, its sum / (ph pw) ("include") or its mean over the real inputs ("exclude")."""
    N, C, H, W = x.shape
    H_out = (H + 2 * pad - ph) // stride + 1
    W_out = (W + 2 * pad - pw) // stride + 1
    out = np.empty((N, C, H_out, W_out))
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    r0, c0 = i * stride - pad, j * stride - pad
                    win = x[n, c, max(r0, 0):min(r0 + ph, H), max(c0, 0):min(c0 + pw, W)]
                    if how == "max":
                        out[n, c, i, j] = win.max()
                    elif how == "include":
                        out[n, c, i, j] = win.sum() / (ph * pw)
                    else:
                        out[n, c, i, j] = win.mean()
    return out


@pytest.mark.parametrize("ph, pw, stride, pad", SETTINGS)
def test_padded_pooling_equals_clipped_windows_and_the_size_formula(ph, pw, stride, pad):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 7, 6)) - 3.0  # mostly negative: zero padding would show
    kw = dict(pool_height=ph, pool_width=pw, stride=stride, pad=pad)
    h_out, w_out = (7 + 2 * pad - ph) // stride + 1, (6 + 2 * pad - pw) // stride + 1
    out, _ = max_pool_forward_pad(x, **kw)
    assert out.shape == (2, 3, h_out, w_out)
    assert np.array_equal(out, clipped_pool(x, ph, pw, stride, pad, "max"))
    for include, how in ((True, "include"), (False, "exclude")):
        avg, _ = avg_pool_forward_pad(x, **kw, count_include_pad=include)
        assert np.allclose(avg, clipped_pool(x, ph, pw, stride, pad, how), rtol=1e-13)
    if pad:  # the border windows differ between the two conventions
        a, _ = avg_pool_forward_pad(x, **kw, count_include_pad=True)
        b, _ = avg_pool_forward_pad(x, **kw, count_include_pad=False)
        assert np.abs(a - b).max() > 0.1
        assert np.allclose(a[:, :, 1:-1, 1:-1], b[:, :, 1:-1, 1:-1]) or h_out < 3


def test_zero_padding_would_be_wrong_for_max_pooling():
    """A broken version that pads max pooling with 0 reports 0 on negative maps."""
    x = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4)  # all negative
    out, _ = max_pool_forward_pad(x, pool_height=2, pool_width=2, stride=2, pad=1)
    broken, _ = max_pool_forward_fast(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))),
                                      pool_height=2, pool_width=2, stride=2)
    assert out.max() < 0 and broken[0, 0, 0, 0] == 0 == broken.max()
    assert np.array_equal(out, clipped_pool(x, 2, 2, 2, 1, "max"))


@pytest.mark.parametrize("ph, pw, stride, pad", SETTINGS)
def test_padded_pooling_gradients_match_finite_differences(ph, pw, stride, pad):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 2, 6, 7))
    kw = dict(pool_height=ph, pool_width=pw, stride=stride, pad=pad)
    out, cache = max_pool_forward_pad(x, **kw)
    dout = rng.normal(size=out.shape)
    num = eval_numerical_gradient_array(lambda v: max_pool_forward_pad(v, **kw)[0], x, dout)
    dx = max_pool_backward_pad(dout, cache)
    assert dx.shape == x.shape and rel_error(dx, num) < 1e-7
    assert np.isclose(dx.sum(), dout.sum())  # nothing lost to the padding
    for include in (True, False):
        def f(v, include=include):
            return avg_pool_forward_pad(v, **kw, count_include_pad=include)[0]
        out, cache = f(x), avg_pool_forward_pad(x, **kw, count_include_pad=include)[1]
        num = eval_numerical_gradient_array(f, x, dout)
        assert rel_error(avg_pool_backward_pad(dout, cache), num) < 1e-7


def test_padding_must_leave_an_input_in_every_window():
    x = np.zeros((1, 1, 4, 4))
    for forward in (max_pool_forward_pad, avg_pool_forward_pad):
        with pytest.raises(ValueError, match="pad"):
            forward(x, pool_height=2, pool_width=2, stride=2, pad=2)


def test_global_max_pool_routes_one_entry_per_channel():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 5, 6))
    out, cache = global_max_pool_forward(x)
    assert out.shape == (3, 4) and np.array_equal(out, x.max(axis=(2, 3)))
    dout = rng.normal(size=(3, 4))
    dx = global_max_pool_backward(dout, cache)
    num = eval_numerical_gradient_array(lambda v: global_max_pool_forward(v)[0], x, dout)
    assert rel_error(dx, num) < 1e-7
    assert np.count_nonzero(dx) == 3 * 4
    assert np.array_equal(dx.sum(axis=(2, 3)), dout)
    ties = np.zeros((1, 1, 2, 2))  # all tied: the first in row-major order wins
    _, c = global_max_pool_forward(ties)
    assert np.array_equal(global_max_pool_backward(np.ones((1, 1)), c)[0, 0],
                          [[1, 0], [0, 0]])


def naive_max_blur(x, taps=(1.0, 2.0, 1.0)):
    """Max 2x2 at stride 1, zero-padded blur, keep every second: all by loops."""
    N, C, H, W = x.shape
    m = np.empty((N, C, H - 1, W - 1))
    for i in range(H - 1):
        for j in range(W - 1):
            m[:, :, i, j] = x[:, :, i:i + 2, j:j + 2].max(axis=(2, 3))
    k = blur_kernel(taps)
    p = (len(taps) - 1) // 2
    mp = np.pad(m, ((0, 0), (0, 0), (p, p), (p, p)))
    rows, cols = range(0, H - 1 + 2 * p - len(taps) + 1, 2), range(0, W - 1 + 2 * p
                                                                   - len(taps) + 1, 2)
    out = np.empty((N, C, len(rows), len(cols)))
    for a, i in enumerate(rows):
        for b, j in enumerate(cols):
            out[:, :, a, b] = np.einsum("ncuv,uv->nc", mp[:, :, i:i + 3, j:j + 3], k)
    return out


def test_max_blur_pool_equals_loops_and_halves_even_maps():
    rng = np.random.default_rng(3)
    k = blur_kernel()
    assert np.isclose(k.sum(), 1.0) and np.array_equal(k * 16, [[1, 2, 1], [2, 4, 2],
                                                               [1, 2, 1]])
    for H, W in ((8, 8), (16, 10), (7, 9)):
        x = rng.normal(size=(2, 3, H, W))
        out, _ = max_blur_pool_forward(x)
        assert out.shape == (2, 3, (H - 2) // 2 + 1, (W - 2) // 2 + 1)
        assert np.allclose(out, naive_max_blur(x), rtol=1e-13, atol=1e-14)
    # A broken version without the blur is plain 2x2 max pooling (on even maps): differs.
    x = rng.normal(size=(1, 2, 8, 8))
    plain, _ = max_pool_forward_fast(x, pool_height=2, pool_width=2, stride=2)
    assert plain.shape == max_blur_pool_forward(x)[0].shape
    assert np.abs(plain - max_blur_pool_forward(x)[0]).max() > 0.1


def test_max_blur_pool_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 8, 7))
    out, cache = max_blur_pool_forward(x)
    dout = rng.normal(size=out.shape)
    num = eval_numerical_gradient_array(lambda v: max_blur_pool_forward(v)[0], x, dout)
    dx = max_blur_pool_backward(dout, cache)
    assert dx.shape == x.shape and rel_error(dx, num) < 1e-7


def test_strided_conv_experiment_tiny_writes_every_run(tmp_path):
    out = tmp_path / "s.json"
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "strided_conv.py"),
                           "--tiny", "--out", str(out)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    kinds = result["config"]["kinds"]
    assert [r["kind"] for r in result["runs"]] == kinds * len(result["config"]["seeds"])
    F = result["config"]["n_filters"]
    params = {r["kind"]: r["params"] for r in result["runs"]}
    # pooling and the raised stride cost the same; the learned downsampling adds a conv
    assert params["pool"] == params["stride-2"] == 10 * F + 160 * F + 10
    assert params["conv-s2"] == params["pool"] + 9 * F * F + F
    for r in result["runs"]:
        assert len(r["shift_acc"]) == 4
        assert 0 <= r["test_acc"] <= 1 and all(0 <= a <= 1 for a in r["shift_acc"])


def test_strided_conv_networks_gradients_match_finite_differences():
    sys.path.insert(0, str(ROOT / "experiments"))
    from strided_conv import DownsampleCNN

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(3, 1, 8, 8)), rng.integers(0, 10, size=3)
    for kind in ("conv-s2", "stride-2"):
        model = DownsampleCNN(kind, rng, n_filters=3, reg=0.1)
        for v in model.params.values():
            v += rng.normal(scale=0.1, size=v.shape)  # nonzero biases
        _, grads = model.loss(x, y)
        assert set(grads) == set(model.params)
        def loss(_, model=model):
            return model.loss(x, y)[0]
        for name, value in model.params.items():
            num = eval_numerical_gradient(loss, value)
            assert rel_error(grads[name], num) < 1e-6, (kind, name)


# -- Problem set 3, part 5: the residual block ------------------------------------------


def _ps03_solution():
    return solution_namespace("ps03_pooling")


def _residual_points(ns, seed):
    """Points ``ns``'s residual block earns on the hidden cases of ``seed``."""
    return judge_in_process("ps03", "residual-block", ns, _ps03_solution(), seed)[0]


def test_ps03_residual_block_reference_matches_finite_differences():
    ns = _ps03_solution()
    rng = np.random.default_rng(7)
    C = 3
    args = {"x": rng.normal(size=(2, C, 4, 5)), "w1": rng.normal(scale=0.3, size=(C, C, 3, 3)),
            "b1": rng.normal(scale=0.3, size=C), "w2": rng.normal(scale=0.3, size=(C, C, 3, 3)),
            "b2": rng.normal(scale=0.3, size=C)}
    out, cache = ns["residual_block_forward"](**args)
    dout = rng.normal(size=out.shape)
    grads = dict(zip(args, ns["residual_block_backward"](dout, cache), strict=True))
    for name in args:
        def f(v, name=name):
            return ns["residual_block_forward"](**{**args, name: v})[0]
        num = eval_numerical_gradient_array(f, args[name].copy(), dout)
        assert rel_error(grads[name], num) < 1e-7, name


def test_ps03_residual_block_wrong_answers_lose_their_points():
    """The full 14 for the reference; a backward pass that drops the skip path's gradient
    loses dx's 4 points and keeps the weights' 6 and out's 4; one that skips the last
    ReLU's mask on the skip path loses dx's too; a forward pass without the skip
    connection loses everything."""
    ns = _ps03_solution()
    forward, backward = ns["residual_block_forward"], ns["residual_block_backward"]
    relu_backward = ns["relu_backward"]

    def no_skip_grad(dout, cache):
        dx, *rest = backward(dout, cache)
        return (dx - relu_backward(dout, cache[3]), *rest)

    def unmasked_skip(dout, cache):
        dx, *rest = backward(dout, cache)
        return (dx - relu_backward(dout, cache[3]) + dout, *rest)

    def no_skip_forward(x, w1, b1, w2, b2):
        return forward(np.zeros_like(x), w1, b1, w2, b2)

    for seed in (3, 4):
        assert _residual_points(ns, seed) == 14
        assert _residual_points({**ns, "residual_block_backward": no_skip_grad}, seed) == 10
        assert _residual_points({**ns, "residual_block_backward": unmasked_skip}, seed) == 10
        assert _residual_points({**ns, "residual_block_forward": no_skip_forward},
                                seed) == 0


def test_ps03_residual_block_by_finite_differences_scores_nothing():
    from autograder import ownwork
    from autograder.course import assignment as assignments

    a = assignments.load("ps03", ROOT / "solutions")
    rules = {p.grade_id: p.own_work for p in a.parts}
    cells = ["from dlcourse.gradcheck import eval_numerical_gradient_array",
             "def residual_block_backward(dout, cache):\n"
             "    return eval_numerical_gradient_array(lambda z: z, cache, dout)\n"]
    found = ownwork.check(cells, rules)
    assert "residual-block" in found and "finite differences" in found["residual-block"]
    assert rules["residual-block"]["calls"]["residual_block_forward"] == 2
    assert rules["residual-block"]["functions"] == ["residual_block_backward"]
