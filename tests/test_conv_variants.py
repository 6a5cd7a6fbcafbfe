"""Dilated, transposed, grouped and depthwise-separable convolutions (chapter 2)."""

import numpy as np
import pytest

from dlcourse.costs import conv_macs, conv_param_count
from dlcourse.gradcheck import eval_numerical_gradient_array, rel_error
from dlcourse.layers.conv import (
    conv_backward_im2col,
    conv_forward_im2col,
    conv_forward_naive,
)
from dlcourse.layers.conv_variants import (
    conv_transpose_backward,
    conv_transpose_forward,
    conv_transpose_forward_naive,
    dilate_kernel,
    dilated_conv_backward,
    dilated_conv_forward,
    dilated_conv_forward_naive,
    dilated_output_size,
    grouped_conv_backward,
    grouped_conv_forward,
    grouped_conv_forward_naive,
    grouped_macs,
    grouped_param_count,
    separable_conv_backward,
    separable_conv_forward,
    separable_macs,
    separable_param_count,
    transpose_output_size,
)

CONFIGS = [(1, 0), (2, 1), (3, 2), (1, 2)]


def _grad_errors(forward, backward, arrays, dout_rng):
    """Relative errors of backward against centred differences, one per input."""
    out, cache = forward(*arrays)
    dout = dout_rng.normal(size=out.shape)
    grads = backward(dout, cache)
    errs = []
    for k, (a, g) in enumerate(zip(arrays, grads, strict=True)):
        def f(v, k=k):
            args = list(arrays)
            args[k] = v
            return forward(*args)[0]
        errs.append(rel_error(g, eval_numerical_gradient_array(f, a.copy(), dout)))
    return errs


@pytest.mark.parametrize("stride,pad", CONFIGS)
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_dilated_forward_equals_loops_and_a_dilated_kernel(stride, pad, dilation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 11, 10))
    w = rng.normal(size=(4, 3, 3, 2))
    b = rng.normal(size=4)
    out, _ = dilated_conv_forward(x, w, b, stride=stride, pad=pad, dilation=dilation)
    loops, _ = dilated_conv_forward_naive(x, w, b, stride=stride, pad=pad,
                                          dilation=dilation)
    zeros_in, _ = conv_forward_naive(x, dilate_kernel(w, dilation), b, stride=stride,
                                     pad=pad)
    assert out.shape == (2, 4, dilated_output_size(11, 3, stride, pad, dilation),
                         dilated_output_size(10, 2, stride, pad, dilation))
    assert np.allclose(out, loops, atol=1e-12) and np.allclose(out, zeros_in, atol=1e-12)


def test_dilated_output_size_formula():
    # span d(k-1)+1: k=3, d=2 spans 5 pixels
    assert dilated_output_size(7, 3, 1, 0, 2) == 3
    assert dilated_output_size(32, 3, 1, 2, 2) == 32  # "same" with pad = d
    with pytest.raises(ValueError):
        dilated_output_size(4, 3, 1, 0, 3)


@pytest.mark.parametrize("stride,pad,dilation", [(1, 0, 2), (2, 1, 2), (1, 2, 3)])
def test_dilated_backward_matches_finite_differences(stride, pad, dilation):
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(2, 2, 9, 8)), rng.normal(size=(3, 2, 3, 2)),
              rng.normal(size=3)]

    def fwd(x, w, b):
        return dilated_conv_forward(x, w, b, stride=stride, pad=pad, dilation=dilation)

    assert max(_grad_errors(fwd, dilated_conv_backward, arrays, rng)) < 1e-7


@pytest.mark.parametrize("stride,pad", CONFIGS)
def test_transposed_forward_equals_loops_and_size_formula(stride, pad):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4, 5))
    w = rng.normal(size=(3, 2, 3, 4))  # (C, F, HH, WW)
    b = rng.normal(size=2)
    out, _ = conv_transpose_forward(x, w, b, stride=stride, pad=pad)
    loops, _ = conv_transpose_forward_naive(x, w, b, stride=stride, pad=pad)
    assert out.shape == (2, 2, (4 - 1) * stride - 2 * pad + 3,
                         transpose_output_size(5, 4, stride, pad))
    assert np.allclose(out, loops, atol=1e-12)


@pytest.mark.parametrize("stride,pad", CONFIGS)
def test_transposed_conv_is_the_input_gradient_of_a_convolution(stride, pad):
    """A convolution with weights w (F, C, HH, WW) maps C channels to F; the transposed
    convolution of its upstream gradient with the same array (read as (C', F') = (F, C))
    is its input gradient dx."""
    rng = np.random.default_rng(3)
    HH, WW = 3, 2
    h_small, w_small = 4, 5
    H = transpose_output_size(h_small, HH, stride, pad)
    W = transpose_output_size(w_small, WW, stride, pad)
    x = rng.normal(size=(2, 3, H, W))  # conv input: 3 channels
    w = rng.normal(size=(4, 3, HH, WW))  # conv weights (F=4, C=3)
    out, cache = conv_forward_im2col(x, w, np.zeros(4), stride=stride, pad=pad)
    assert out.shape[2:] == (h_small, w_small)
    dout = rng.normal(size=out.shape)
    dx, _, _ = conv_backward_im2col(dout, cache)
    # Transposed conv from F=4 channels to C=3: its weights (4, 3, HH, WW) = w itself.
    t, _ = conv_transpose_forward(dout, w, np.zeros(3), stride=stride, pad=pad)
    assert np.abs(t - dx).max() < 1e-12


@pytest.mark.parametrize("stride,pad", CONFIGS)
def test_transposed_backward_matches_finite_differences(stride, pad):
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(3, 2, 3, 3)),
              rng.normal(size=2)]

    def fwd(x, w, b):
        return conv_transpose_forward(x, w, b, stride=stride, pad=pad)

    assert max(_grad_errors(fwd, conv_transpose_backward, arrays, rng)) < 1e-7


def test_a_transposed_conv_without_flip_or_with_wrong_size_is_caught():
    """Two typical wrong answers differ from the reference: a kernel flipped by 180
    degrees (confusing the scatter with a true convolution) and a forgotten crop."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 4, 4))
    w = rng.normal(size=(3, 2, 3, 3))
    b = rng.normal(size=2)
    right, _ = conv_transpose_forward(x, w, b, stride=2, pad=1)
    flipped, _ = conv_transpose_forward(x, w[:, :, ::-1, ::-1].copy(), b, stride=2, pad=1)
    uncropped, _ = conv_transpose_forward(x, w, b, stride=2, pad=0)
    assert np.abs(right - flipped).max() > 0.1
    assert uncropped.shape != right.shape


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_grouped_forward_equals_loops_and_blocks(groups):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 4, 6, 7))
    w = rng.normal(size=(8, 4 // groups, 3, 3))
    b = rng.normal(size=8)
    out, cache = grouped_conv_forward(x, w, b, stride=2, pad=1, groups=groups)
    loops, _ = grouped_conv_forward_naive(x, w, b, stride=2, pad=1, groups=groups)
    assert np.allclose(out, loops, atol=1e-12)
    # the same as a full convolution whose weights are zero outside the diagonal blocks
    full = np.zeros((8, 4, 3, 3))
    fg, cg = 8 // groups, 4 // groups
    for g in range(groups):
        full[g * fg:(g + 1) * fg, g * cg:(g + 1) * cg] = w[g * fg:(g + 1) * fg]
    assert np.allclose(out, conv_forward_naive(x, full, b, stride=2, pad=1)[0])
    assert grouped_param_count(4, 8, 3, 3, groups) == w.size + b.size
    assert grouped_macs(4, 8, 3, 3, *out.shape[2:], groups) * 2 == (
        w[0].size * out.size)


def test_grouped_and_separable_backward_match_finite_differences():
    rng = np.random.default_rng(7)
    arrays = [rng.normal(size=(2, 4, 5, 5)), rng.normal(size=(6, 2, 3, 3)),
              rng.normal(size=6)]

    def fwd(x, w, b):
        return grouped_conv_forward(x, w, b, stride=1, pad=1, groups=2)

    assert max(_grad_errors(fwd, grouped_conv_backward, arrays, rng)) < 1e-7
    arrays = [rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(3, 1, 3, 3)),
              rng.normal(size=3), rng.normal(size=(4, 3, 1, 1)), rng.normal(size=4)]

    def sep(x, wd, bd, wp, bp):
        return separable_conv_forward(x, wd, bd, wp, bp, stride=1, pad=1)

    assert max(_grad_errors(sep, separable_conv_backward, arrays, rng)) < 1e-7


def test_separable_counts_equal_the_arrays_and_direct_counts():
    rng = np.random.default_rng(8)
    C, F, K, H = 4, 6, 3, 8
    wd, bd = rng.normal(size=(C, 1, K, K)), rng.normal(size=C)
    wp, bp = rng.normal(size=(F, C, 1, 1)), rng.normal(size=F)
    x = rng.normal(size=(1, C, H, H))
    out, _ = separable_conv_forward(x, wd, bd, wp, bp, pad=1)
    assert out.shape == (1, F, H, H)
    assert separable_param_count(C, F, K, K) == wd.size + bd.size + wp.size + bp.size
    # depthwise: K*K per channel and position; pointwise: C per output value
    assert separable_macs(C, F, K, K, H, H) == K * K * C * H * H + C * out.size
    # standard layer for comparison
    assert conv_param_count(C, F, K, K) == (K * K * C + 1) * F
    assert conv_macs(C, F, K, K, H, H) > separable_macs(C, F, K, K, H, H)


def test_a_broken_dilated_backward_fails_the_gradient_check():
    """Folding the gradient back with dilation 1 (ignoring the gaps) is caught."""
    rng = np.random.default_rng(9)
    x, w, b = rng.normal(size=(1, 2, 9, 9)), rng.normal(size=(2, 2, 3, 3)), np.zeros(2)
    out, cache = dilated_conv_forward(x, w, b, pad=2, dilation=2)
    dout = rng.normal(size=out.shape)
    dx, _, _ = dilated_conv_backward(dout, cache)
    shape, cols, w_, s, p, _ = cache
    wrong_cache = (shape, cols, w_, s, p, 1)
    with pytest.raises(ValueError):  # wrong dilation: shapes no longer fit
        dilated_conv_backward(dout, wrong_cache)
    num = eval_numerical_gradient_array(
        lambda v: dilated_conv_forward(v, w, b, pad=2, dilation=2)[0], x.copy(), dout)
    assert rel_error(dx, num) < 1e-7
    assert rel_error(np.roll(dx, 1, axis=3), num) > 1e-2
