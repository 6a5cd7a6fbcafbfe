"""Pooling layers: max, average and global average. Derived in chapter 3.

Pooling has no parameters and keeps the channels: x (N, C, H, W) -> out (N, C, H_out, W_out)
with H_out = (H - pool_height) // stride + 1 and W_out = (W - pool_width) // stride + 1.
"""

import numpy as np

from dlcourse.layers.conv import col2im, conv_output_size, im2col


def _pool_shape(x, pool_height, pool_width, stride):
    N, C, H, W = x.shape
    return N, C, conv_output_size(H, pool_height, stride), conv_output_size(W, pool_width, stride)


def max_pool_forward_naive(x, pool_height=2, pool_width=2, stride=2):
    """Max over each pool_height x pool_width window, by loops.

    Inputs: x (N, C, H, W). Returns: out (N, C, H_out, W_out), cache (x, params).
    """
    N, C, H_out, W_out = _pool_shape(x, pool_height, pool_width, stride)
    out = np.empty((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + pool_height,
                       j * stride : j * stride + pool_width]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out, (x, (pool_height, pool_width, stride))


def max_pool_backward_naive(dout, cache):
    """Route each upstream gradient to the arg-max of its window (first one on ties).

    Inputs: dout (N, C, H_out, W_out). Returns: dx (N, C, H, W).
    """
    x, (ph, pw, stride) = cache
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            flat = window.reshape(N, C, -1).argmax(axis=2)  # (N, C) first maximum
            di, dj = np.unravel_index(flat, (ph, pw))
            n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
            dx[n, c, i * stride + di, j * stride + dj] += dout[:, :, i, j]
    return dx


def avg_pool_forward_naive(x, pool_height=2, pool_width=2, stride=2):
    """Mean over each window, by loops. Inputs/outputs as max_pool_forward_naive."""
    N, C, H_out, W_out = _pool_shape(x, pool_height, pool_width, stride)
    out = np.empty((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * stride : i * stride + pool_height,
                                j * stride : j * stride + pool_width].mean(axis=(2, 3))
    return out, (x.shape, (pool_height, pool_width, stride))


def avg_pool_backward_naive(dout, cache):
    """Spread each upstream gradient evenly over its window: dout / (ph * pw) each."""
    x_shape, (ph, pw, stride) = cache
    N, C, H_out, W_out = dout.shape
    dx = np.zeros(x_shape)
    for i in range(H_out):
        for j in range(W_out):
            dx[:, :, i * stride : i * stride + ph,
               j * stride : j * stride + pw] += dout[:, :, i, j][:, :, None, None] / (ph * pw)
    return dx


def max_pool_forward_fast(x, pool_height=2, pool_width=2, stride=2):
    """Max pooling through im2col, with no loop over positions. Same contract as naive."""
    N, C, H, W = x.shape
    _, _, H_out, W_out = _pool_shape(x, pool_height, pool_width, stride)
    # Treat each channel as its own image: (N*C, 1, H, W) -> windows as columns.
    cols = im2col(x.reshape(N * C, 1, H, W), pool_height, pool_width, stride)  # (NC, K, P)
    arg = cols.argmax(axis=1)  # (NC, P)
    out = np.take_along_axis(cols, arg[:, None, :], axis=1)[:, 0]
    return out.reshape(N, C, H_out, W_out), (x.shape, arg, (pool_height, pool_width, stride))


def max_pool_backward_fast(dout, cache):
    """Backward of :func:`max_pool_forward_fast`: scatter into the arg-max rows, fold back."""
    x_shape, arg, (ph, pw, stride) = cache
    N, C, H, W = x_shape
    d = dout.reshape(N * C, -1)  # (NC, P)
    dcols = np.zeros((N * C, ph * pw, d.shape[1]))
    np.put_along_axis(dcols, arg[:, None, :], d[:, None, :], axis=1)
    return col2im(dcols, (N * C, 1, H, W), ph, pw, stride).reshape(x_shape)


def global_avg_pool_forward(x):
    """Mean over all positions of each channel: x (N, C, H, W) -> out (N, C)."""
    return x.mean(axis=(2, 3)), x.shape


def global_avg_pool_backward(dout, cache):
    """dx[n, c, i, j] = dout[n, c] / (H * W). Returns dx (N, C, H, W)."""
    N, C, H, W = cache
    return np.broadcast_to(dout[:, :, None, None] / (H * W), (N, C, H, W)).copy()
