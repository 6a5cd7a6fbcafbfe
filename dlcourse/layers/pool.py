"""Pooling layers: max, average and global average. Derived in chapter 3.

Pooling has no parameters and keeps the channels: x (N, C, H, W) -> out (N, C, H_out, W_out)
with H_out = (H - pool_height) // stride + 1 and W_out = (W - pool_width) // stride + 1.
Chapter 3 also derives the variants at the end of this module: padded max and average
pooling (H_out = (H + 2 pad - pool_height) // stride + 1), global max pooling and
anti-aliased ("max-blur") pooling.
"""

import numpy as np

from dlcourse.layers.conv import (
    col2im,
    conv_backward_im2col,
    conv_forward_im2col,
    conv_output_size,
    im2col,
)


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


# -- Variants derived in chapter 3: padding, global max pooling, anti-aliased pooling ----


def _check_pad(pool_height, pool_width, pad):
    if not 0 <= pad < min(pool_height, pool_width):
        raise ValueError(f"pad must be in [0, {min(pool_height, pool_width)}) so that every "
                         f"window holds at least one input; got {pad}")


def max_pool_forward_pad(x, pool_height=2, pool_width=2, stride=2, pad=0):
    """Max pooling of x padded with ``pad`` rows and columns of -inf on every side.

    Chapter 3 ("Padding"). A padded entry never wins a window, so the output is the
    maximum over the window's real inputs (zero padding would report 0 for a window of
    negative inputs, a value that is not in it).
    Inputs: x (N, C, H, W); window pool_height x pool_width; stride; pad, 0 <= pad <
    min(pool_height, pool_width), so that every window holds at least one input.
    Returns: out (N, C, H_out, W_out) with H_out = (H + 2 pad - pool_height) // stride + 1
    and W_out = (W + 2 pad - pool_width) // stride + 1; cache.
    """
    _check_pad(pool_height, pool_width, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    out, cache = max_pool_forward_fast(xp, pool_height, pool_width, stride)
    return out, (cache, pad)


def max_pool_backward_pad(dout, cache):
    """Backward of :func:`max_pool_forward_pad`: route to the arg-max, drop the padding.

    Inputs: dout (N, C, H_out, W_out). Returns: dx (N, C, H, W); no gradient is lost,
    since no padded entry is ever an arg-max.
    """
    inner, pad = cache
    dxp = max_pool_backward_fast(dout, inner)  # (N, C, H + 2 pad, W + 2 pad)
    H, W = dxp.shape[2] - 2 * pad, dxp.shape[3] - 2 * pad
    return dxp[:, :, pad:pad + H, pad:pad + W].copy()


def avg_pool_forward_pad(x, pool_height=2, pool_width=2, stride=2, pad=0,
                         count_include_pad=True):
    """Average pooling of x padded with ``pad`` zeros on every side. Chapter 3.

    With ``count_include_pad`` every window's sum is divided by pool_height * pool_width
    (padded zeros count, as PyTorch's AvgPool2d does by default); without it, by the
    number of real inputs in the window (as TensorFlow's average pooling with SAME
    padding does). The two agree on windows that hold no padding.
    Inputs: x (N, C, H, W); pool_height, pool_width, stride; pad, 0 <= pad <
    min(pool_height, pool_width).
    Returns: out (N, C, H_out, W_out), sizes as :func:`max_pool_forward_pad`; cache.
    """
    _check_pad(pool_height, pool_width, pad)
    N, C, H, W = x.shape
    cols = im2col(x.reshape(N * C, 1, H, W), pool_height, pool_width, stride, pad)
    if count_include_pad:
        counts = np.full(cols.shape[2], float(pool_height * pool_width))  # (P,)
    else:  # real inputs per window: pool a map of ones with the same zero padding
        ones = np.ones((1, 1, H, W))
        counts = im2col(ones, pool_height, pool_width, stride, pad)[0].sum(axis=0)
    out = cols.sum(axis=1) / counts  # (NC, P)
    H_out = conv_output_size(H, pool_height, stride, pad)
    W_out = conv_output_size(W, pool_width, stride, pad)
    return (out.reshape(N, C, H_out, W_out),
            (x.shape, counts, (pool_height, pool_width, stride, pad)))


def avg_pool_backward_pad(dout, cache):
    """Backward of :func:`avg_pool_forward_pad`: dout / count spread over each window's
    real inputs (the padding's share is dropped). Returns: dx (N, C, H, W)."""
    x_shape, counts, (ph, pw, stride, pad) = cache
    N, C, H, W = x_shape
    share = dout.reshape(N * C, 1, -1) / counts  # (NC, 1, P)
    dcols = np.broadcast_to(share, (N * C, ph * pw, share.shape[2]))
    return col2im(dcols, (N * C, 1, H, W), ph, pw, stride, pad).reshape(x_shape)


def global_max_pool_forward(x):
    """Maximum over all positions of each channel: x (N, C, H, W) -> out (N, C).

    Chapter 3. cache: (x.shape, arg) with arg (N, C) the flat index (row-major) of the
    first maximum of each map.
    """
    N, C, H, W = x.shape
    flat = x.reshape(N, C, H * W)
    arg = flat.argmax(axis=2)  # (N, C)
    out = np.take_along_axis(flat, arg[:, :, None], axis=2)[:, :, 0]
    return out, (x.shape, arg)


def global_max_pool_backward(dout, cache):
    """dx[n, c] is zero except dout[n, c] at the first maximum of map (n, c): one entry
    per channel and example. Inputs: dout (N, C). Returns: dx (N, C, H, W)."""
    (N, C, H, W), arg = cache
    dx = np.zeros((N, C, H * W))
    np.put_along_axis(dx, arg[:, :, None], dout[:, :, None], axis=2)
    return dx.reshape(N, C, H, W)


def blur_kernel(taps=(1.0, 2.0, 1.0)):
    """The separable low-pass kernel outer(taps, taps) / sum(taps)^2, shape (t, t)."""
    t = np.asarray(taps, dtype=np.float64)
    return np.outer(t, t) / t.sum() ** 2


def max_blur_pool_forward(x, pool_size=2, stride=2, taps=(1.0, 2.0, 1.0)):
    """Anti-aliased max pooling (Zhang 2019, "MaxBlurPool"). Chapter 3.

    Max pooling with a pool_size x pool_size window at stride 1, then each channel is
    blurred with :func:`blur_kernel` (zero padding (t - 1) // 2, t = len(taps)) and only
    every stride-th row and column of the blurred map is kept. Zhang's code pads by
    reflection before the blur; zero padding is used here.
    Inputs: x (N, C, H, W). Returns: out (N, C, H_out, W_out) with
    H_out = (H - pool_size + 1 + 2 p - t) // stride + 1, p = (t - 1) // 2 (for 2x2
    windows and taps (1, 2, 1): H_out = (H - 2) // 2 + 1, the size of 2x2 max pooling at
    stride 2 for even H), likewise W_out; cache.
    """
    N, C, H, W = x.shape
    m, cache_max = max_pool_forward_fast(x, pool_size, pool_size, 1)  # (N, C, H', W')
    k = blur_kernel(taps)
    t = k.shape[0]
    Hm, Wm = m.shape[2], m.shape[3]
    blurred, cache_blur = conv_forward_im2col(m.reshape(N * C, 1, Hm, Wm),
                                              k[None, None], np.zeros(1), stride=stride,
                                              pad=(t - 1) // 2)  # (NC, 1, H_out, W_out)
    out = blurred.reshape(N, C, blurred.shape[2], blurred.shape[3])
    return out, (cache_max, cache_blur, m.shape)


def max_blur_pool_backward(dout, cache):
    """Backward of :func:`max_blur_pool_forward`: the blur's transpose (a fixed
    convolution's input gradient), then max pooling's routing to the arg-max.
    Inputs: dout (N, C, H_out, W_out). Returns: dx (N, C, H, W)."""
    cache_max, cache_blur, m_shape = cache
    N, C, H_out, W_out = dout.shape
    dm, _, _ = conv_backward_im2col(dout.reshape(N * C, 1, H_out, W_out), cache_blur)
    return max_pool_backward_fast(dm.reshape(m_shape), cache_max)
