"""Chapter 1 layers: forward values worked by hand, backward passes checked numerically."""

import numpy as np
import pytest

from dlcourse.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from dlcourse.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_loss,
    tanh_backward,
    tanh_forward,
)


def test_affine_forward_by_hand():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]])
    b = np.array([0.5, -1.0, 0.0])
    out, _ = affine_forward(x, w, b)
    np.testing.assert_allclose(out, [[5.5, 1.0, 0.0], [11.5, 3.0, -1.0]])


def test_affine_backward_matches_numerical_on_image_shaped_input(rng):
    x = rng.normal(size=(4, 2, 3, 5))  # flattened to (4, 30)
    w = rng.normal(size=(30, 6))
    b = rng.normal(size=6)
    out, cache = affine_forward(x, w, b)
    dout = rng.normal(size=out.shape)
    dx, dw, db = affine_backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    num_dx = eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)
    num_dw = eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)
    num_db = eval_numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)
    # Centred differences of a linear map are exact but for round-off, which is relatively
    # largest on entries near zero; any real bug gives an error of order 1.
    assert rel_error(dx, num_dx) < 1e-6
    assert rel_error(dw, num_dw) < 1e-6
    assert rel_error(db, num_db) < 1e-6


@pytest.mark.parametrize(
    "forward, backward",
    [
        (relu_forward, relu_backward),
        (sigmoid_forward, sigmoid_backward),
        (tanh_forward, tanh_backward),
    ],
    ids=["relu", "sigmoid", "tanh"],
)
def test_activation_backward_matches_numerical(rng, forward, backward):
    # Keep ReLU inputs away from its kink at 0, where the numerical derivative is wrong.
    x = rng.normal(size=(5, 7))
    x[np.abs(x) < 1e-3] = 0.5
    dout = rng.normal(size=x.shape)
    _, cache = forward(x)
    dx = backward(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: forward(v)[0], x, dout)) < 1e-7


def test_relu_zeroes_negatives_and_routes_gradient():
    x = np.array([[-2.0, 0.0, 3.0]])
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(relu_backward(np.ones_like(x), cache), [[0.0, 0.0, 1.0]])


def test_sigmoid_is_finite_and_exact_at_extremes():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):  # an overflow would raise
        s = sigmoid(x)
    np.testing.assert_allclose(s, [0.0, 1 / (1 + np.exp(30.0)), 0.5, 1 / (1 + np.exp(-30.0)), 1.0])


def test_softmax_rows_sum_to_one_even_for_huge_scores():
    scores = np.array([[1000.0, 1001.0, 1002.0], [-5.0, 0.0, 5.0]])
    p = softmax(scores)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # Shifting a row changes nothing: row 0 is [0, 1, 2] shifted by 1000.
    np.testing.assert_allclose(p[0], softmax(np.array([[0.0, 1.0, 2.0]]))[0])


def test_softmax_loss_of_uniform_scores_is_log_c():
    loss, dscores = softmax_loss(np.zeros((8, 10)), np.arange(8))
    assert loss == pytest.approx(np.log(10))
    # Each row's gradient is (1/C - onehot) / N.
    expected = np.full((8, 10), 0.1)
    expected[np.arange(8), np.arange(8)] -= 1
    np.testing.assert_allclose(dscores, expected / 8)


def test_softmax_loss_gradient_matches_numerical(rng):
    scores = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=6)
    _, dscores = softmax_loss(scores, y)
    num = eval_numerical_gradient(lambda s: softmax_loss(s, y)[0], scores)
    assert rel_error(dscores, num) < 1e-7
