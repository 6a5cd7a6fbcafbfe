"""Batch and layer normalization (chapter 4): gradients, statistics, modes, shapes."""

import numpy as np
import pytest

from dlcourse.gradcheck import eval_numerical_gradient_array, rel_error
from dlcourse.layers import (
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)


def numeric_grads(forward, x, gamma, beta, dout):
    """Centred-difference gradients of sum(forward(x, gamma, beta) * dout)."""
    return (eval_numerical_gradient_array(lambda v: forward(v, gamma, beta), x, dout),
            eval_numerical_gradient_array(lambda v: forward(x, v, beta), gamma, dout),
            eval_numerical_gradient_array(lambda v: forward(x, gamma, v), beta, dout))


def test_batchnorm_backward_matches_centred_differences(rng):
    x = rng.normal(3, 2, size=(7, 5))
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    dout = rng.normal(size=(7, 5))

    def forward(x, g, b):
        return batchnorm_forward(x, g, b, {"mode": "train"})[0]

    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    for analytic, numeric in zip(batchnorm_backward(dout, cache),
                                 numeric_grads(forward, x, gamma, beta, dout), strict=True):
        assert rel_error(analytic, numeric) < 1e-7


def test_training_output_is_standardised_then_scaled(rng):
    x = rng.normal([5.0, -2.0, 0.0], [3.0, 0.1, 10.0], size=(200, 3))
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 0.0})
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), np.abs(gamma), rtol=1e-12)


def test_running_averages_follow_the_momentum_and_test_mode_uses_them(rng):
    bn = {"mode": "train", "momentum": 0.8}
    x1, x2 = rng.normal(size=(6, 4)), rng.normal(2, 3, size=(6, 4))
    ones, zeros = np.ones(4), np.zeros(4)
    batchnorm_forward(x1, ones, zeros, bn)
    batchnorm_forward(x2, ones, zeros, bn)
    want_mean = 0.8 * (0.2 * x1.mean(0)) + 0.2 * x2.mean(0)
    want_var = 0.8 * (0.8 + 0.2 * x1.var(0)) + 0.2 * x2.var(0)
    np.testing.assert_allclose(bn["running_mean"], want_mean, rtol=1e-12)
    np.testing.assert_allclose(bn["running_var"], want_var, rtol=1e-12)
    bn["mode"] = "test"
    before = {k: v.copy() for k, v in bn.items() if k.startswith("running")}
    one, _ = batchnorm_forward(x2[:1], ones, zeros, bn)
    batch, _ = batchnorm_forward(x2, ones, zeros, bn)
    np.testing.assert_allclose(one, batch[:1])  # a row's output ignores the others
    np.testing.assert_allclose(one, (x2[:1] - want_mean) / np.sqrt(want_var + 1e-5))
    assert all(np.array_equal(bn[k], v) for k, v in before.items())


def test_spatial_batchnorm_is_batchnorm_over_positions(rng):
    x = rng.normal(1, 2, size=(3, 4, 5, 2))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    out, cache = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 4)
    flat, _ = batchnorm_forward(rows, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out, flat.reshape(3, 5, 2, 4).transpose(0, 3, 1, 2))
    dout = rng.normal(size=x.shape)

    def forward(x, g, b):
        return spatial_batchnorm_forward(x, g, b, {"mode": "train"})[0]

    for analytic, numeric in zip(spatial_batchnorm_backward(dout, cache),
                                 numeric_grads(forward, x, gamma, beta, dout), strict=True):
        assert rel_error(analytic, numeric) < 1e-6


def test_layernorm_normalises_each_row_and_its_gradients_check(rng):
    x = rng.normal(size=(4, 6)) * np.arange(1, 5)[:, None] + np.arange(4)[:, None]
    gamma, beta = rng.normal(size=6), rng.normal(size=6)
    out, cache = layernorm_forward(x, np.ones(6), np.zeros(6), {"eps": 0.0})
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1), 1, rtol=1e-12)
    out, cache = layernorm_forward(x, gamma, beta)
    dout = rng.normal(size=x.shape)
    for analytic, numeric in zip(layernorm_backward(dout, cache),
                                 numeric_grads(lambda *a: layernorm_forward(*a)[0],
                                               x, gamma, beta, dout), strict=True):
        assert rel_error(analytic, numeric) < 1e-7


def test_shape_and_mode_errors_are_clear(rng):
    x = rng.normal(size=(4, 3))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        batchnorm_forward(x, np.ones(4), np.zeros(4), {"mode": "train"})
    with pytest.raises(ValueError, match="mode"):
        batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "eval"})
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train"})
