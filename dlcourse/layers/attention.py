"""Attention layers: scaled dot-product attention, multi-head attention, positional
encoding and a Transformer encoder block. Chapter 6.

Shapes: sequences (N, T, d); heads (N, h, T, d_h) with d = h * d_h. The attention
functions accept any leading dimensions, so the same code serves one head and many.
Masks are boolean and broadcast to (..., T_q, T_k): True where a query may attend to a
key. Every query must keep at least one key.
"""

import numpy as np

from dlcourse.layers.fc import affine_backward, affine_forward
from dlcourse.layers.norm import layernorm_backward, layernorm_forward


def attention_forward(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v, with masked scores set to -inf. Chapter 6.

    Inputs:
        q: queries, shape (..., T_q, d_k).
        k: keys, shape (..., T_k, d_k).
        v: values, shape (..., T_k, d_v).
        mask: boolean, broadcastable to (..., T_q, T_k); True = may attend. None: all.

    Returns:
        out: shape (..., T_q, d_v).
        cache: for attention_backward; ``cache[3]`` holds the attention weights
            (..., T_q, T_k).
    """
    scale = 1.0 / np.sqrt(q.shape[-1])
    scores = (q @ np.swapaxes(k, -1, -2)) * scale          # (..., T_q, T_k)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any(axis=-1).all():
            raise ValueError("every query must be allowed to attend to at least one key")
        scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)         # rows sum to 1; masked = 0
    return weights @ v, (q, k, v, weights, scale)


def attention_backward(dout, cache):
    """Gradients of attention_forward. Chapter 6.

    Inputs: dout (..., T_q, d_v); cache from attention_forward.
    Returns: dq (..., T_q, d_k), dk (..., T_k, d_k), dv (..., T_k, d_v).
    """
    q, k, v, weights, scale = cache
    dv = np.swapaxes(weights, -1, -2) @ dout                # (..., T_k, d_v)
    dweights = dout @ np.swapaxes(v, -1, -2)                # (..., T_q, T_k)
    # softmax backward, row by row: ds = a * (da - sum(da * a))
    dscores = weights * (dweights - (dweights * weights).sum(axis=-1, keepdims=True))
    dq = (dscores @ k) * scale
    dk = (np.swapaxes(dscores, -1, -2) @ q) * scale
    return dq, dk, dv


def causal_mask(t):
    """Boolean (T, T): position i may attend to positions 0..i only. Chapter 6."""
    return np.tril(np.ones((t, t), dtype=bool))


def positional_encoding(t, d):
    """Sinusoidal positional encoding of Vaswani et al. (2017), shape (T, d). Chapter 6.

    PE[p, 2i] = sin(p / 10000^(2i/d)) and PE[p, 2i+1] = cos(p / 10000^(2i/d)).
    """
    positions = np.arange(t)[:, None]                        # (T, 1)
    rates = 10000.0 ** (-(np.arange(d) // 2 * 2) / d)         # (d,): same rate per pair
    angles = positions * rates                               # (T, d)
    return np.where(np.arange(d) % 2 == 0, np.sin(angles), np.cos(angles))


def _split_heads(x, h):
    """(N, T, d) -> (N, h, T, d/h)."""
    n, t, d = x.shape
    return x.reshape(n, t, h, d // h).transpose(0, 2, 1, 3)


def _merge_heads(x):
    """(N, h, T, d_h) -> (N, T, h*d_h)."""
    n, h, t, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, t, h * dh)


def _affine3(x, w, b):
    """affine_forward on every position of x (N, T, d_in) -> (N, T, d_out)."""
    n, t, _ = x.shape
    out, cache = affine_forward(x.reshape(n * t, -1), w, b)
    return out.reshape(n, t, -1), cache


def _affine3_backward(dout, cache):
    n, t, _ = dout.shape
    dx, dw, db = affine_backward(dout.reshape(n * t, -1), cache)
    return dx.reshape(n, t, -1), dw, db


def multi_head_attention_forward(x_q, x_kv, params, n_heads, mask=None):
    """Multi-head attention with an output projection. Chapter 6.

    Q = x_q Wq + bq, K = x_kv Wk + bk, V = x_kv Wv + bv are split into ``n_heads`` heads
    of d/h dimensions, each attends on its own, and the heads are concatenated and
    projected: out = concat(heads) Wo + bo.

    Inputs:
        x_q: (N, T_q, d); x_kv: (N, T_k, d) (the same array for self-attention).
        params: Wq, Wk, Wv, Wo of shape (d, d); bq, bk, bv, bo of shape (d,).
        n_heads: h, dividing d.
        mask: boolean, broadcastable to (N, h, T_q, T_k), e.g. causal_mask(T).

    Returns: out (N, T_q, d), cache.
    """
    d = x_q.shape[-1]
    if d % n_heads:
        raise ValueError(f"n_heads = {n_heads} does not divide d = {d}")
    q, cq = _affine3(x_q, params["Wq"], params["bq"])
    k, ck = _affine3(x_kv, params["Wk"], params["bk"])
    v, cv = _affine3(x_kv, params["Wv"], params["bv"])
    heads, ca = attention_forward(_split_heads(q, n_heads), _split_heads(k, n_heads),
                                  _split_heads(v, n_heads), mask)
    out, co = _affine3(_merge_heads(heads), params["Wo"], params["bo"])
    return out, (cq, ck, cv, ca, co, n_heads)


def multi_head_attention_backward(dout, cache):
    """Gradients of multi_head_attention_forward. Chapter 6.

    Returns: dx_q (N, T_q, d), dx_kv (N, T_k, d), grads {Wq, bq, Wk, bk, Wv, bv, Wo, bo}.
    For self-attention the gradient of x is dx_q + dx_kv.
    """
    cq, ck, cv, ca, co, h = cache
    grads = {}
    dmerged, grads["Wo"], grads["bo"] = _affine3_backward(dout, co)
    dq, dk, dv = attention_backward(_split_heads(dmerged, h), ca)
    dx_q, grads["Wq"], grads["bq"] = _affine3_backward(_merge_heads(dq), cq)
    dx_k, grads["Wk"], grads["bk"] = _affine3_backward(_merge_heads(dk), ck)
    dx_v, grads["Wv"], grads["bv"] = _affine3_backward(_merge_heads(dv), cv)
    return dx_q, dx_k + dx_v, grads


def _layernorm3(x, gamma, beta):
    n, t, d = x.shape
    out, cache = layernorm_forward(x.reshape(n * t, d), gamma, beta)
    return out.reshape(n, t, d), cache


def _layernorm3_backward(dout, cache):
    n, t, d = dout.shape
    dx, dgamma, dbeta = layernorm_backward(dout.reshape(n * t, d), cache)
    return dx.reshape(n, t, d), dgamma, dbeta


def transformer_block_forward(x, params, n_heads, mask=None):
    """One encoder block, post-norm as in Vaswani et al. (2017). Chapter 6.

    h = LayerNorm(x + MultiHead(x, x)); out = LayerNorm(h + W2 relu(W1 h + b1) + b2).

    Inputs:
        x: (N, T, d).
        params: the attention's Wq, bq, Wk, bk, Wv, bv, Wo, bo; the feed-forward's
            W1 (d, d_ff), b1 (d_ff,), W2 (d_ff, d), b2 (d,); the two layer norms'
            gamma1, beta1, gamma2, beta2 (d,).
        n_heads, mask: as multi_head_attention_forward.

    Returns: out (N, T, d), cache.
    """
    att, c_att = multi_head_attention_forward(x, x, params, n_heads, mask)
    h, c_ln1 = _layernorm3(x + att, params["gamma1"], params["beta1"])
    hidden, c_ff1 = _affine3(h, params["W1"], params["b1"])
    relu = np.maximum(hidden, 0.0)
    ff, c_ff2 = _affine3(relu, params["W2"], params["b2"])
    out, c_ln2 = _layernorm3(h + ff, params["gamma2"], params["beta2"])
    return out, (c_att, c_ln1, c_ff1, hidden, c_ff2, c_ln2)


def transformer_block_backward(dout, cache):
    """Gradients of transformer_block_forward. Chapter 6.

    Returns: dx (N, T, d), grads of every parameter (same names as params).
    """
    c_att, c_ln1, c_ff1, hidden, c_ff2, c_ln2 = cache
    grads = {}
    dsum2, grads["gamma2"], grads["beta2"] = _layernorm3_backward(dout, c_ln2)
    drelu, grads["W2"], grads["b2"] = _affine3_backward(dsum2, c_ff2)
    dh_ff, grads["W1"], grads["b1"] = _affine3_backward(drelu * (hidden > 0), c_ff1)
    dh = dsum2 + dh_ff                                        # residual + feed-forward path
    dsum1, grads["gamma1"], grads["beta1"] = _layernorm3_backward(dh, c_ln1)
    dx_q, dx_kv, att_grads = multi_head_attention_backward(dsum1, c_att)
    grads.update(att_grads)
    return dsum1 + dx_q + dx_kv, grads
