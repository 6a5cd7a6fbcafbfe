"""Variants of the convolution layer: dilated, transposed, grouped, depthwise-separable.

Derived in chapter 2 (section "Dilated, transposed, grouped and separable convolutions").
Shapes follow :mod:`dlcourse.layers.conv`: ``x (N, C, H, W)``, ``b (F,)``; the weights of
each variant are stated in its docstring. A transposed convolution takes its weights as
``(C, F, HH, WW)``, input channels first, as PyTorch's ``ConvTranspose2d`` does: it is the
same array a convolution from F channels to C channels would use, run backwards.
"""

import numpy as np

from dlcourse.layers.conv import (
    _fold,
    _pad,
    _unfold,
    conv_backward_im2col,
    conv_forward_im2col,
)

# -- output sizes and costs -------------------------------------------------------------


def dilated_output_size(n, k, stride=1, pad=0, dilation=1):
    """Output length of a dilated convolution. Chapter 2.

    A kernel of k taps with dilation d spans d (k - 1) + 1 input pixels, so
    n_out = floor((n + 2 pad - d (k - 1) - 1) / stride) + 1.
    """
    span = dilation * (k - 1) + 1
    if span > n + 2 * pad:
        raise ValueError(f"dilated kernel spans {span} > padded input {n + 2 * pad}")
    return (n + 2 * pad - span) // stride + 1


def transpose_output_size(n, k, stride=1, pad=0):
    """Output length of a transposed convolution: (n - 1) stride - 2 pad + k. Chapter 2.

    The inverse of the convolution's size formula where the stride divides exactly; a
    convolution of an input whose last rows lie in no window has a larger input than
    this (frameworks add them back with an ``output_padding`` argument, not used here).
    """
    size = (n - 1) * stride - 2 * pad + k
    if size < 1:
        raise ValueError(f"transposed convolution output would be {size} pixels")
    return size


def grouped_param_count(c_in, c_out, kh, kw, groups=1, bias=True):
    """Parameters of a grouped convolution: kh*kw*(c_in/groups)*c_out (+ c_out biases)."""
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in={c_in} and c_out={c_out}")
    return kh * kw * (c_in // groups) * c_out + (c_out if bias else 0)


def grouped_macs(c_in, c_out, kh, kw, h_out, w_out, groups=1, batch=1):
    """Forward multiply-adds of a grouped convolution: kh*kw*(c_in/groups) per output."""
    return batch * kh * kw * (c_in // groups) * c_out * h_out * w_out


def separable_param_count(c_in, c_out, kh, kw, bias=True):
    """Depthwise (one kh x kw kernel per channel) then pointwise (1x1, c_in -> c_out)."""
    depthwise = kh * kw * c_in + (c_in if bias else 0)
    return depthwise + c_in * c_out + (c_out if bias else 0)


def separable_macs(c_in, c_out, kh, kw, h_out, w_out, batch=1):
    """Multiply-adds: kh*kw*c_in*h_out*w_out (depthwise) + c_in*c_out*h_out*w_out."""
    return batch * (kh * kw * c_in + c_in * c_out) * h_out * w_out


# -- dilated convolution ----------------------------------------------------------------


def dilate_kernel(w, dilation):
    """The kernel with dilation - 1 zeros between neighbouring taps (last two axes)."""
    *lead, HH, WW = w.shape
    out = np.zeros((*lead, dilation * (HH - 1) + 1, dilation * (WW - 1) + 1))
    out[..., ::dilation, ::dilation] = w
    return out


def dilated_conv_forward_naive(x, w, b, stride=1, pad=0, dilation=1):
    """Dilated convolution by loops: tap (u, v) reads pixel (iS + du, jS + dv).

    Inputs: x (N, C, H, W), w (F, C, HH, WW), b (F,), stride, pad, dilation d >= 1.
    Returns: out (N, F, H_out, W_out), H_out = dilated_output_size(H, HH, S, P, d);
    cache (x, w, b, stride, pad, dilation).
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    d = dilation
    H_out = dilated_output_size(H, HH, stride, pad, d)
    W_out = dilated_output_size(W, WW, stride, pad, d)
    xp = _pad(x, pad)
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    window = xp[n, :, hs : hs + d * HH : d, ws : ws + d * WW : d]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, stride, pad, dilation)


def _unfold_dilated(x, HH, WW, stride, pad, d):
    """Columns (C*HH*WW, N*H_out*W_out) of the dilated windows (tap offsets d*u, d*v)."""
    N, C, H, W = x.shape
    H_out = dilated_output_size(H, HH, stride, pad, d)
    W_out = dilated_output_size(W, WW, stride, pad, d)
    xp = np.pad(x.transpose(1, 0, 2, 3), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((C, HH, WW, N, H_out, W_out))
    for u in range(HH):
        for v in range(WW):
            cols[:, u, v] = xp[:, :, d * u : d * u + stride * H_out : stride,
                               d * v : d * v + stride * W_out : stride]
    return cols.reshape(C * HH * WW, N * H_out * W_out)


def _fold_dilated(cols, x_shape, HH, WW, stride, pad, d):
    """Adjoint of :func:`_unfold_dilated`: add each column back onto its taps."""
    N, C, H, W = x_shape
    H_out = dilated_output_size(H, HH, stride, pad, d)
    W_out = dilated_output_size(W, WW, stride, pad, d)
    cols = cols.reshape(C, HH, WW, N, H_out, W_out)
    xp = np.zeros((C, N, H + 2 * pad, W + 2 * pad))
    for u in range(HH):
        for v in range(WW):
            xp[:, :, d * u : d * u + stride * H_out : stride,
               d * v : d * v + stride * W_out : stride] += cols[:, u, v]
    return xp[:, :, pad : pad + H, pad : pad + W].transpose(1, 0, 2, 3)


def dilated_conv_forward(x, w, b, stride=1, pad=0, dilation=1):
    """Dilated convolution as one matrix product (im2col with taps d pixels apart).

    Inputs/outputs as :func:`dilated_conv_forward_naive`;
    cache (x_shape, cols, w, stride, pad, dilation).
    """
    N = x.shape[0]
    F, _, HH, WW = w.shape
    H_out = dilated_output_size(x.shape[2], HH, stride, pad, dilation)
    W_out = dilated_output_size(x.shape[3], WW, stride, pad, dilation)
    cols = _unfold_dilated(x, HH, WW, stride, pad, dilation)  # (K, N*P)
    prod = (w.reshape(F, -1) @ cols).reshape(F, N, H_out, W_out)
    out = prod.transpose(1, 0, 2, 3) + b[:, None, None]
    return out, (x.shape, cols, w, stride, pad, dilation)


def dilated_conv_backward(dout, cache):
    """Gradients of :func:`dilated_conv_forward`: the im2col formulas of chapter 2 with
    the dilated unfolding. Returns dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    x_shape, cols, w, stride, pad, d = cache
    F, _, HH, WW = w.shape
    dflat = dout.transpose(1, 0, 2, 3).reshape(F, -1)  # (F, N*P)
    dw = (dflat @ cols.T).reshape(w.shape)
    dcols = w.reshape(F, -1).T @ dflat  # (K, N*P)
    dx = _fold_dilated(dcols, x_shape, HH, WW, stride, pad, d)
    return np.ascontiguousarray(dx), dw, dflat.sum(axis=1)


# -- transposed convolution -------------------------------------------------------------


def conv_transpose_forward_naive(x, w, b, stride=1, pad=0):
    """Transposed convolution by loops: every input pixel scatters a copy of the kernel.

    Input pixel (n, c, i, j) adds x[n, c, i, j] * w[c] onto the output window whose
    top-left corner is (i S - P, j S - P); parts of windows outside the output (the
    "padding") are dropped. Inputs: x (N, C, H, W), w (C, F, HH, WW), b (F,).
    Returns: out (N, F, H_out, W_out), H_out = (H - 1) S - 2 P + HH; cache.
    """
    N, C, H, W = x.shape
    _, F, HH, WW = w.shape
    H_out = transpose_output_size(H, HH, stride, pad)
    W_out = transpose_output_size(W, WW, stride, pad)
    big = np.zeros((N, F, H_out + 2 * pad, W_out + 2 * pad))  # uncropped
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    hs, ws = i * stride, j * stride
                    big[n, :, hs : hs + HH, ws : ws + WW] += x[n, c, i, j] * w[c]
    out = big[:, :, pad : pad + H_out, pad : pad + W_out] + b[:, None, None]
    return out, (x, w, b, stride, pad)


def conv_transpose_forward(x, w, b, stride=1, pad=0):
    """Transposed convolution, vectorised: w_row^T @ x_row, then col2im's fold.

    It is the input gradient of a convolution from F to C channels with weights w, taken
    with x as the upstream gradient (chapter 2): the unfolded output is (w as (C, K))^T
    times x as (C, N*H*W), and the fold adds every column onto its window.
    Inputs: x (N, C, H, W), w (C, F, HH, WW), b (F,), stride, pad.
    Returns: out (N, F, H_out, W_out) with H_out = (H - 1) stride - 2 pad + HH,
    W_out = (W - 1) stride - 2 pad + WW; cache (x, w, b, stride, pad).
    """
    N, C, H, W = x.shape
    _, F, HH, WW = w.shape
    H_out = transpose_output_size(H, HH, stride, pad)
    W_out = transpose_output_size(W, WW, stride, pad)
    x_row = x.transpose(1, 0, 2, 3).reshape(C, -1)  # (C, N*H*W)
    cols = w.reshape(C, -1).T @ x_row  # (F*HH*WW, N*H*W)
    out = _fold(cols, (N, F, H_out, W_out), HH, WW, stride, pad)
    return out + b[:, None, None], (x, w, b, stride, pad)


def conv_transpose_backward(dout, cache):
    """Gradients of :func:`conv_transpose_forward`.

    The adjoint of a transposed convolution is the convolution itself: dx is the
    (strided, padded) cross-correlation of dout with w (read as F -> C filters),
    dw[c, f] sums x[n, c, i, j] times dout's window at (iS, jS), db sums dout.
    Inputs: dout (N, F, H_out, W_out), cache. Returns dx (N, C, H, W), dw (C, F, HH, WW),
    db (F,).
    """
    x, w, _, stride, pad = cache
    C, F, HH, WW = w.shape
    cols = _unfold(dout, HH, WW, stride, pad)  # (F*HH*WW, N*H*W)
    x_row = x.transpose(1, 0, 2, 3).reshape(C, -1)  # (C, N*H*W)
    dx = (w.reshape(C, -1) @ cols).reshape(C, *x.shape[:1], *x.shape[2:])
    dw = (x_row @ cols.T).reshape(w.shape)
    return np.ascontiguousarray(dx.transpose(1, 0, 2, 3)), dw, dout.sum(axis=(0, 2, 3))


# -- grouped and depthwise-separable convolution ----------------------------------------


def grouped_conv_forward_naive(x, w, b, stride=1, pad=0, groups=1):
    """Grouped convolution by loops: filter f reads only the channels of its group.

    Inputs: x (N, C, H, W), w (F, C/groups, HH, WW), b (F,); groups divides C and F.
    Filter f belongs to group g = f // (F/groups), which reads channels
    g*C/groups .. (g+1)*C/groups - 1. Returns out (N, F, H_out, W_out), cache.
    """
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    if Cg * groups != C or F % groups:
        raise ValueError(f"w {w.shape} does not fit C={C} with groups={groups}")
    H_out = (H + 2 * pad - HH) // stride + 1
    W_out = (W + 2 * pad - WW) // stride + 1
    xp = _pad(x, pad)
    out = np.zeros((N, F, H_out, W_out))
    per_group = F // groups
    for n in range(N):
        for f in range(F):
            c0 = (f // per_group) * Cg
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    window = xp[n, c0 : c0 + Cg, hs : hs + HH, ws : ws + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, stride, pad, groups)


def grouped_conv_forward(x, w, b, stride=1, pad=0, groups=1):
    """Grouped convolution: one im2col convolution per group, outputs concatenated.

    Inputs/outputs as :func:`grouped_conv_forward_naive`; cache (group caches, groups).
    """
    C, F, Cg = x.shape[1], w.shape[0], w.shape[1]
    if Cg * groups != C or F % groups:
        raise ValueError(f"w {w.shape} does not fit C={C} with groups={groups}")
    Fg = F // groups
    outs, caches = [], []
    for g in range(groups):
        out, cache = conv_forward_im2col(x[:, g * Cg : (g + 1) * Cg],
                                         w[g * Fg : (g + 1) * Fg],
                                         b[g * Fg : (g + 1) * Fg], stride=stride, pad=pad)
        outs.append(out)
        caches.append(cache)
    return np.concatenate(outs, axis=1), (caches, groups)


def grouped_conv_backward(dout, cache):
    """Gradients of :func:`grouped_conv_forward`, group by group.

    Returns dx (N, C, H, W), dw (F, C/groups, HH, WW), db (F,).
    """
    caches, groups = cache
    Fg = dout.shape[1] // groups
    grads = [conv_backward_im2col(dout[:, g * Fg : (g + 1) * Fg], caches[g])
             for g in range(groups)]
    dx = np.concatenate([g[0] for g in grads], axis=1)
    dw = np.concatenate([g[1] for g in grads], axis=0)
    db = np.concatenate([g[2] for g in grads], axis=0)
    return dx, dw, db


def separable_conv_forward(x, w_depth, b_depth, w_point, b_point, stride=1, pad=0):
    """Depthwise-separable convolution: depthwise conv (groups = C), then a 1x1 conv.

    Inputs: x (N, C, H, W); w_depth (C, 1, HH, WW), b_depth (C,): one spatial kernel per
    channel; w_point (F, C, 1, 1), b_point (F,): the channel mixing.
    Returns: out (N, F, H_out, W_out) with the ordinary output size; cache.
    """
    C = x.shape[1]
    h, c_depth = grouped_conv_forward(x, w_depth, b_depth, stride, pad, groups=C)
    out, c_point = conv_forward_im2col(h, w_point, b_point)
    return out, (c_depth, c_point)


def separable_conv_backward(dout, cache):
    """Gradients of :func:`separable_conv_forward`: dx, dw_depth, db_depth, dw_point,
    db_point, in the order of the inputs."""
    c_depth, c_point = cache
    dh, dw_point, db_point = conv_backward_im2col(dout, c_point)
    dx, dw_depth, db_depth = grouped_conv_backward(dh, c_depth)
    return dx, dw_depth, db_depth, dw_point, db_point
