"""Normalization layers: batch normalization (also per channel) and layer normalization.
Chapter 4.

Conventions (the same as problem set 4): the batch variance divides by N; epsilon sits
inside the square root; running averages are updated after every training-mode call as
``running = momentum * running + (1 - momentum) * batch statistic``.
"""

import numpy as np


def _check_features(x, gamma, beta):
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, D), got {x.shape}")
    if gamma.shape != (x.shape[1],) or beta.shape != (x.shape[1],):
        raise ValueError(f"gamma and beta must have shape ({x.shape[1]},), got "
                         f"{gamma.shape} and {beta.shape}")


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of each feature over the batch. Chapter 4.

    Inputs:
        x: data, shape (N, D).
        gamma, beta: scale and shift, shape (D,).
        bn_param: dict with ``mode`` ("train" or "test"), and optionally ``eps`` (1e-5),
            ``momentum`` (0.9), ``running_mean`` and ``running_var`` (shape (D,); zeros
            and ones when missing). In training mode the running averages in the dict are
            updated in place.

    Returns:
        out: shape (N, D).
        cache: for batchnorm_backward (training mode) or None (test mode).
    """
    _check_features(x, gamma, beta)
    mode = bn_param.get("mode", "train")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.setdefault("running_mean", np.zeros(d))
    running_var = bn_param.setdefault("running_var", np.ones(d))
    if mode == "train":
        mu = x.mean(axis=0)                        # (D,)
        var = x.var(axis=0)                        # (D,), divided by N
        inv_std = 1.0 / np.sqrt(var + eps)         # (D,)
        x_hat = (x - mu) * inv_std                 # (N, D)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        return gamma * x_hat + beta, (x_hat, gamma, inv_std)
    if mode == "test":
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        return gamma * x_hat + beta, None
    raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")


def batchnorm_backward(dout, cache):
    """Gradients of batch normalization in training mode, in the compact form. Chapter 4.

    Inputs:
        dout: upstream gradient, shape (N, D).
        cache: from batchnorm_forward in training mode.

    Returns:
        dx (N, D), dgamma (D,), dbeta (D,).
    """
    if cache is None:
        raise ValueError("batchnorm_backward needs the cache of a training-mode forward")
    x_hat, gamma, inv_std = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = (gamma * inv_std / n) * (n * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def _channels_last(x):
    """(N, C, H, W) -> (N*H*W, C): every row is one position of one image."""
    n, c, h, w = x.shape
    return x.transpose(0, 2, 3, 1).reshape(-1, c)


def _channels_first(rows, shape):
    n, c, h, w = shape
    return rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of feature maps, one mean and variance per channel over the
    batch and all positions (N, H, W): the channel's gamma and beta are shared by every
    position. Chapter 4.

    Inputs:
        x: shape (N, C, H, W); gamma, beta: shape (C,); bn_param: as batchnorm_forward.

    Returns:
        out: shape (N, C, H, W); cache for spatial_batchnorm_backward.
    """
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
    out, cache = batchnorm_forward(_channels_last(x), gamma, beta, bn_param)
    return _channels_first(out, x.shape), (cache, x.shape)


def spatial_batchnorm_backward(dout, cache):
    """Gradients of spatial batch normalization. Chapter 4.

    Returns: dx (N, C, H, W), dgamma (C,), dbeta (C,).
    """
    bn_cache, shape = cache
    dx, dgamma, dbeta = batchnorm_backward(_channels_last(dout), bn_cache)
    return _channels_first(dx, shape), dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param=None):
    """Layer normalization: each example over its own features, the same in training
    and at test time (no running averages). Chapter 4.

    Inputs:
        x: shape (N, D); gamma, beta: shape (D,); ln_param: optional dict with ``eps``.

    Returns:
        out: shape (N, D); cache for layernorm_backward.
    """
    _check_features(x, gamma, beta)
    eps = (ln_param or {}).get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)                         # (N, 1)
    inv_std = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)  # (N, 1)
    x_hat = (x - mu) * inv_std                                 # (N, D)
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def layernorm_backward(dout, cache):
    """Gradients of layer normalization: the batch-norm formula with the roles of the
    two axes swapped. Chapter 4.

    Returns: dx (N, D), dgamma (D,), dbeta (D,).
    """
    x_hat, gamma, inv_std = cache
    d = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma                                           # (N, D): dL/dx_hat
    dx = (inv_std / d) * (d * g - g.sum(axis=1, keepdims=True)
                          - x_hat * (g * x_hat).sum(axis=1, keepdims=True))
    return dx, dgamma, dbeta


def batchnorm_backward_detached(dout, cache):
    """The *incomplete* gradient of batch normalization that treats the batch mean and
    variance as constants (no gradient through them). Chapter 4 derives the two terms it
    misses and trains with it to show why they matter; do not use it to train.

    Inputs:
        dout: upstream gradient, shape (N, D).
        cache: from batchnorm_forward in training mode.

    Returns:
        dx (N, D) = gamma * dout / sqrt(var + eps), dgamma (D,), dbeta (D,) (these two
        are exact: gamma and beta do not enter the statistics).
    """
    if cache is None:
        raise ValueError("batchnorm_backward_detached needs a training-mode cache")
    x_hat, gamma, inv_std = cache
    return gamma * inv_std * dout, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def spatial_batchnorm_backward_detached(dout, cache):
    """batchnorm_backward_detached for feature maps (N, C, H, W). Chapter 4.

    Returns: dx (N, C, H, W), dgamma (C,), dbeta (C,).
    """
    bn_cache, shape = cache
    dx, dgamma, dbeta = batchnorm_backward_detached(_channels_last(dout), bn_cache)
    return _channels_first(dx, shape), dgamma, dbeta


def groupnorm_forward(x, gamma, beta, groups, gn_param=None):
    """Group normalization (Wu and He, 2018): each example's C channels are split into
    ``groups`` groups of C/G consecutive channels, and each group is standardised over
    its channels and all positions, (C/G)*H*W values; then gamma and beta per channel.
    G = 1 is layer normalization of the whole example, G = C normalises every channel of
    every example on its own (instance normalization). No statistic involves another
    example: training and test time compute the same function. Chapter 4.

    Inputs:
        x: shape (N, C, H, W); gamma, beta: shape (C,); groups: G, a divisor of C;
        gn_param: optional dict with ``eps`` (1e-5).

    Returns:
        out: shape (N, C, H, W); cache for groupnorm_backward.
    """
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
    n, c, h, w = x.shape
    if groups < 1 or c % groups:
        raise ValueError(f"groups must divide the {c} channels, got {groups}")
    if gamma.shape != (c,) or beta.shape != (c,):
        raise ValueError(f"gamma and beta must have shape ({c},), got "
                         f"{gamma.shape} and {beta.shape}")
    eps = (gn_param or {}).get("eps", 1e-5)
    g = x.reshape(n, groups, -1)                               # (N, G, C/G*H*W)
    mu = g.mean(axis=2, keepdims=True)                         # (N, G, 1)
    inv_std = 1.0 / np.sqrt(g.var(axis=2, keepdims=True) + eps)  # (N, G, 1)
    x_hat = ((g - mu) * inv_std).reshape(x.shape)              # (N, C, H, W)
    out = gamma[:, None, None] * x_hat + beta[:, None, None]
    return out, (x_hat, gamma, inv_std, groups)


def groupnorm_backward(dout, cache):
    """Gradients of group normalization: the batch-norm formula
    applied to each group of each example, over its M = (C/G)*H*W
    values. Chapter 4.

    Inputs:
        dout: upstream gradient, shape (N, C, H, W).
        cache: from groupnorm_forward.

    Returns: dx (N, C, H, W), dgamma (C,), dbeta (C,).
    """
    x_hat, gamma, inv_std, groups = cache
    per_group = (dout.shape[0], groups, -1)           # (N, G, M)
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
    g = (dout * gamma[:, None, None]).reshape(per_group)  # dL/dx_hat
    xh = x_hat.reshape(per_group)
    dx = inv_std * (g - g.mean(axis=2, keepdims=True)
                    - xh * (g * xh).mean(axis=2, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta
