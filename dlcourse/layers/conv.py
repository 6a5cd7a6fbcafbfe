"""Convolution layers: output sizes, naive loops, im2col. Derived in chapter 2.

Like every deep-learning library, "convolution" here is cross-correlation: the kernel is
not flipped (chapter 2 shows the difference). Shapes follow the course conventions:
``x (N, C, H, W)``, ``w (F, C, HH, WW)``, ``b (F,)``, ``out (N, F, H_out, W_out)`` with

    H_out = (H - HH + 2 * pad) // stride + 1,   W_out = (W - WW + 2 * pad) // stride + 1.
"""

import math

import numpy as np


def conv_output_size(n, k, stride=1, pad=0):
    """Output length of a convolution: floor((n - k + 2 pad) / stride) + 1. Chapter 2."""
    if k > n + 2 * pad:
        raise ValueError(f"kernel {k} is larger than the padded input {n + 2 * pad}")
    return (n - k + 2 * pad) // stride + 1


def tf_output_size(n, k, stride=1, padding="SAME"):
    """TensorFlow's output length: SAME -> ceil(n / s); VALID -> ceil((n - k + 1) / s)."""
    if padding == "SAME":
        return math.ceil(n / stride)
    if padding == "VALID":
        return math.ceil((n - k + 1) / stride)
    raise ValueError(f"padding must be 'SAME' or 'VALID', not {padding!r}")


def _pad(x, pad):
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def conv_forward_naive(x, w, b, stride=1, pad=0):
    """Convolution (cross-correlation) by explicit loops: the readable oracle.

    Inputs: x (N, C, H, W), w (F, C, HH, WW), b (F,), stride, pad (zeros on every side).
    Returns: out (N, F, H_out, W_out), cache (x, w, b, stride, pad).
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = conv_output_size(H, HH, stride, pad), conv_output_size(W, WW, stride, pad)
    xp = _pad(x, pad)
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, stride, pad)


def conv_backward_naive(dout, cache):
    """Gradients of :func:`conv_forward_naive` by the same loops, run backwards.

    Each output position adds its window times dout to dw (a shared weight's gradient is
    the sum over all positions) and scatters w times dout back onto its window of dx.
    Inputs: dout (N, F, H_out, W_out), cache. Returns: dx (N, C, H, W), dw, db.
    """
    x, w, b, stride, pad = cache
    _, _, HH, WW = w.shape
    N, F, H_out, W_out = dout.shape
    xp = _pad(x, pad)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    dw[f] += xp[n, :, hs : hs + HH, ws : ws + WW] * dout[n, f, i, j]
                    dxp[n, :, hs : hs + HH, ws : ws + WW] += w[f] * dout[n, f, i, j]
    H, W = x.shape[2], x.shape[3]
    return dxp[:, :, pad : pad + H, pad : pad + W], dw, db


def _unfold(x, HH, WW, stride, pad):
    """Every receptive field as a column, channel-major: shape (C*HH*WW, N*H_out*W_out).

    Row (c, di, dj) holds, for every image n and output position p, the input pixel at
    offset (di, dj) of p's window in channel c. This layout turns the whole layer into one
    large matrix product. The only Python loop runs over the HH*WW offsets of a window:
    each offset is one strided slice of the padded input.
    """
    N, C, H, W = x.shape
    H_out, W_out = conv_output_size(H, HH, stride, pad), conv_output_size(W, WW, stride, pad)
    xp = np.pad(x.transpose(1, 0, 2, 3), ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (C, N, .)
    cols = np.empty((C, HH, WW, N, H_out, W_out))
    for di in range(HH):
        for dj in range(WW):
            cols[:, di, dj] = xp[:, :, di : di + stride * H_out : stride,
                                 dj : dj + stride * W_out : stride]
    return cols.reshape(C * HH * WW, N * H_out * W_out)


def _fold(cols, x_shape, HH, WW, stride, pad):
    """Adjoint of :func:`_unfold`: add each column back onto its window (overlaps sum)."""
    N, C, H, W = x_shape
    H_out, W_out = conv_output_size(H, HH, stride, pad), conv_output_size(W, WW, stride, pad)
    cols = cols.reshape(C, HH, WW, N, H_out, W_out)
    xp = np.zeros((C, N, H + 2 * pad, W + 2 * pad))
    for di in range(HH):
        for dj in range(WW):
            xp[:, :, di : di + stride * H_out : stride,
               dj : dj + stride * W_out : stride] += cols[:, di, dj]
    return xp[:, :, pad : pad + H, pad : pad + W].transpose(1, 0, 2, 3)


def im2col(x, HH, WW, stride=1, pad=0):
    """Unfold every receptive field into a column.

    Inputs: x (N, C, H, W); window HH x WW; stride; pad.
    Returns: cols of shape (N, C*HH*WW, H_out*W_out): cols[n, :, p] is the window that
    produces output position p (row-major), flattened in (c, di, dj) order, the order of
    w[f].ravel(). (A view of the channel-major layout the fast convolution uses.)
    """
    N = x.shape[0]
    cols = _unfold(x, HH, WW, stride, pad)  # (K, N*P)
    return cols.reshape(cols.shape[0], N, -1).transpose(1, 0, 2)


def col2im(cols, x_shape, HH, WW, stride=1, pad=0):
    """Adjoint of :func:`im2col`: add every column back onto its window (overlaps sum).

    Inputs: cols (N, C*HH*WW, H_out*W_out); x_shape (N, C, H, W).
    Returns: array of x_shape.
    """
    k = cols.shape[1]
    return _fold(cols.transpose(1, 0, 2).reshape(k, -1), x_shape, HH, WW, stride, pad)


def conv_forward_im2col(x, w, b, stride=1, pad=0):
    """Convolution as one matrix product: out = w_row @ cols + b.

    w_row (F, C*HH*WW) times the columns of every window of every image,
    cols (C*HH*WW, N*H_out*W_out), gives all outputs at once.
    Inputs/outputs as :func:`conv_forward_naive`; cache (x_shape, cols, w, stride, pad).
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = conv_output_size(H, HH, stride, pad), conv_output_size(W, WW, stride, pad)
    cols = _unfold(x, HH, WW, stride, pad)  # (K, N*P)
    prod = (w.reshape(F, -1) @ cols).reshape(F, N, H_out, W_out)  # (F, K) @ (K, N*P)
    out = np.empty((N, F, H_out, W_out))
    np.add(prod.transpose(1, 0, 2, 3), b[:, None, None], out=out)  # reorder + bias, one pass
    return out, (x.shape, cols, w, stride, pad)


def conv_backward_im2col(dout, cache):
    """Gradients of :func:`conv_forward_im2col` as matrix products.

    With d = dout as (F, N*P): dw = d @ cols^T, db = row sums of d, and
    dcols = w_row^T @ d folded back onto the input windows (the adjoint of unfolding).
    Returns: dx (N, C, H, W), dw (F, C, HH, WW), db (F,).
    """
    x_shape, cols, w, stride, pad = cache
    F, _, HH, WW = w.shape
    d = dout.transpose(1, 0, 2, 3).reshape(F, -1)  # (F, N*P)
    db = d.sum(axis=1)
    dw = (d @ cols.T).reshape(w.shape)  # (F, N*P) @ (N*P, K)
    dcols = w.reshape(F, -1).T @ d  # (K, F) @ (F, N*P)
    dx = np.ascontiguousarray(_fold(dcols, x_shape, HH, WW, stride, pad))
    return dx, dw, db
