"""Chapters 2-3 layers: output sizes by hand, naive loops checked numerically, fast
versions checked against the naive oracles, and the chapter-3 CNN on digits."""

import numpy as np
import pytest

from dlcourse.costs import conv_macs, conv_param_count, receptive_field
from dlcourse.data import load_digits_split
from dlcourse.gradcheck import eval_numerical_gradient_array, rel_error
from dlcourse.layers import (
    avg_pool_backward_naive,
    avg_pool_forward_naive,
    col2im,
    conv_backward_im2col,
    conv_backward_naive,
    conv_forward_im2col,
    conv_forward_naive,
    conv_output_size,
    global_avg_pool_backward,
    global_avg_pool_forward,
    im2col,
    max_pool_backward_fast,
    max_pool_backward_naive,
    max_pool_forward_fast,
    max_pool_forward_naive,
    tf_output_size,
)
from dlcourse.models import SmallCNN
from dlcourse.train import train

CONV_CASES = [  # N, C, H, W, F, HH, WW, stride, pad
    (2, 3, 7, 6, 4, 3, 3, 1, 1),
    (2, 2, 8, 9, 3, 3, 2, 2, 0),
    (1, 3, 5, 5, 2, 5, 5, 1, 2),
    (3, 1, 6, 6, 2, 1, 1, 3, 0),
]


def test_output_sizes_by_hand():
    assert conv_output_size(32, 3, stride=1, pad=1) == 32
    assert conv_output_size(227, 11, stride=4, pad=0) == 55  # AlexNet conv1
    assert conv_output_size(7, 3, stride=2, pad=0) == 3
    assert tf_output_size(7, 3, stride=2, padding="SAME") == 4
    assert tf_output_size(7, 3, stride=2, padding="VALID") == 3
    with pytest.raises(ValueError):
        conv_output_size(2, 5)


def test_conv_forward_by_hand():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # x[i, j] - x[i+1, j+1]
    out, _ = conv_forward_naive(x, w, np.array([0.5]))
    np.testing.assert_allclose(out, [[[[-3.5, -3.5], [-3.5, -3.5]]]])


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_naive_backward_matches_numerical_and_im2col_matches_naive(rng, case):
    N, C, H, W, F, HH, WW, s, p = case
    x, w, b = rng.normal(size=(N, C, H, W)), rng.normal(size=(F, C, HH, WW)), rng.normal(size=F)
    out, cache = conv_forward_naive(x, w, b, stride=s, pad=p)
    dout = rng.normal(size=out.shape)
    dx, dw, db = conv_backward_naive(dout, cache)
    f = lambda x_, w_, b_: conv_forward_naive(x_, w_, b_, stride=s, pad=p)[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: f(v, w, b), x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: f(x, v, b), w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda v: f(x, w, v), b, dout)) < 1e-7
    out2, cache2 = conv_forward_im2col(x, w, b, stride=s, pad=p)
    assert rel_error(out, out2) < 1e-12
    for g_naive, g_fast in zip((dx, dw, db), conv_backward_im2col(dout, cache2), strict=True):
        assert rel_error(g_naive, g_fast) < 1e-12


def test_col2im_is_the_adjoint_of_im2col(rng):
    x = rng.normal(size=(2, 3, 6, 5))
    cols = im2col(x, 3, 2, stride=2, pad=1)
    y = rng.normal(size=cols.shape)
    # <im2col(x), y> == <x, col2im(y)> for every x, y
    assert np.isclose(np.sum(cols * y), np.sum(x * col2im(y, x.shape, 3, 2, stride=2, pad=1)))


@pytest.mark.parametrize("shape, ph, pw, s", [((2, 3, 6, 6), 2, 2, 2), ((2, 2, 7, 5), 3, 3, 2),
                                               ((1, 2, 5, 5), 2, 3, 1)])
def test_pooling_backward_matches_numerical(rng, shape, ph, pw, s):
    x = rng.normal(size=shape)
    kw = {"pool_height": ph, "pool_width": pw, "stride": s}
    out, cache = max_pool_forward_naive(x, **kw)
    dout = rng.normal(size=out.shape)
    num = eval_numerical_gradient_array(lambda v: max_pool_forward_naive(v, **kw)[0], x, dout)
    assert rel_error(max_pool_backward_naive(dout, cache), num) < 1e-7
    fast, fast_cache = max_pool_forward_fast(x, **kw)
    assert rel_error(fast, out) == 0
    assert rel_error(max_pool_backward_fast(dout, fast_cache), num) < 1e-7
    a, a_cache = avg_pool_forward_naive(x, **kw)
    num = eval_numerical_gradient_array(lambda v: avg_pool_forward_naive(v, **kw)[0], x, dout)
    assert rel_error(avg_pool_backward_naive(dout, a_cache), num) < 1e-7


def test_max_pool_routes_to_the_argmax_and_global_average_spreads(rng):
    x = np.array([[[[1.0, 5.0], [3.0, 2.0]]]])
    out, cache = max_pool_forward_naive(x)
    assert out.item() == 5.0
    np.testing.assert_array_equal(max_pool_backward_naive(np.ones((1, 1, 1, 1)), cache),
                                  [[[[0.0, 1.0], [0.0, 0.0]]]])
    g, g_cache = global_avg_pool_forward(x)
    assert g.item() == 2.75
    np.testing.assert_allclose(global_avg_pool_backward(np.ones((1, 1)), g_cache), 0.25)


def test_counting_of_chapter_2():
    assert conv_param_count(4, 2, 2, 2, bias=False) == 4 * 2 * 2 * 2
    assert conv_param_count(3, 96, 11, 11) == 34_944  # AlexNet conv1 (one tower pair)
    assert conv_macs(16, 32, 3, 3, 32, 32) == 3 * 3 * 16 * 32 * 32 * 32
    assert receptive_field([(3, 1)] * 3) == 7
    assert receptive_field([(11, 4), (3, 2)]) == 19


def test_chapter3_cnn_reaches_98_percent_on_digits():
    data = load_digits_split(as_images=True)
    model = SmallCNN((1, 8, 8), np.random.default_rng(0), n_filters=32, reg=1e-3)
    history = train(model, data, np.random.default_rng(100), epochs=30, batch_size=32,
                    optim_config={"learning_rate": 2e-3})
    assert history["test_acc"][-1] >= 0.98
