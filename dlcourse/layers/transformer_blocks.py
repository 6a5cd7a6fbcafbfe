"""Transformer encoder and decoder blocks, pre- or post-norm, with dropout and padding
masks. Chapter 6.

Every block is a stack of residual sublayers; each sublayer (self-attention,
cross-attention, feed-forward) is wrapped the same way, with one of two placements of the
layer norm:

    post-norm (Vaswani et al., 2017):  x <- LN(x + Dropout(Sublayer(x)))
    pre-norm  (e.g. GPT-2):            x <- x + Dropout(Sublayer(LN(x)))

In the pre-norm form the residual path from input to output holds no layer norm, so the
gradient reaches every block unchanged through it; the sum of the branches grows with
depth, and a stack of pre-norm blocks therefore needs one final layer norm
(``sequence_layernorm_forward``), which the models of ``dlcourse.transformer`` apply.

Shapes: sequences (N, T, d). Masks are boolean and broadcast to (N, h, T_q, T_k), True
where a query may attend to a key (as in ``dlcourse.layers.attention``).

Parameters (one dict per block):
    self-attention: Wq, Wk, Wv, Wo (d, d); bq, bk, bv, bo (d,); its norm gamma1, beta1 (d,).
    feed-forward: W1 (d, d_ff), b1 (d_ff,), W2 (d_ff, d), b2 (d,); its norm gamma2, beta2.
    cross-attention (decoder only): the attention's names with the prefix ``cross_``
        (cross_Wq, ..., cross_bo) and its norm cross_gamma, cross_beta.
The encoder block's names are those of ``transformer_block_forward``, which is the
post-norm encoder block without dropout.

Dropout acts on the output of each sublayer, before the residual sum, and only when an
rng is given (training); not on the attention weights, so that the attention functions
of the chapter stay as they are.
"""

import numpy as np

from dlcourse.layers.attention import (
    _affine3,
    _affine3_backward,
    _layernorm3,
    _layernorm3_backward,
    causal_mask,
    multi_head_attention_backward,
    multi_head_attention_forward,
)
from dlcourse.layers.dropout import dropout_backward, dropout_forward

NORMS = ("post", "pre")
CROSS = "cross_"


def padding_mask(tokens, pad_id):
    """Key padding mask of token ids (N, T_k): shape (N, 1, 1, T_k), True for a real token.

    It broadcasts over the heads and the queries: no query attends to a padded key. The
    padded queries themselves are still computed (their outputs are ignored by the loss).
    """
    return (np.asarray(tokens) != pad_id)[:, None, None, :]


def decoder_self_mask(tokens, pad_id):
    """Causal and key padding mask of decoder inputs (N, T): shape (N, 1, T, T).

    Query i may attend to key j if j <= i and token j is not padding. Every query keeps
    key 0 as long as the inputs start with a real token (the begin-of-sequence symbol).
    """
    t = np.shape(tokens)[1]
    return causal_mask(t) & padding_mask(tokens, pad_id)


def sequence_layernorm_forward(x, gamma, beta):
    """Layer norm of every position of x (N, T, d) over its d features. Chapter 4's
    layernorm_forward on the N*T rows. Returns out (N, T, d), cache."""
    return _layernorm3(x, gamma, beta)


def sequence_layernorm_backward(dout, cache):
    """Gradients of sequence_layernorm_forward: dx (N, T, d), dgamma (d,), dbeta (d,)."""
    return _layernorm3_backward(dout, cache)


def feed_forward_forward(x, params):
    """Position-wise feed-forward network W2 relu(W1 x + b1) + b2 on x (N, T, d).
    Returns out (N, T, d), cache."""
    hidden, c1 = _affine3(x, params["W1"], params["b1"])
    out, c2 = _affine3(np.maximum(hidden, 0.0), params["W2"], params["b2"])
    return out, (c1, hidden, c2)


def feed_forward_backward(dout, cache):
    """Gradients of feed_forward_forward: dx (N, T, d), {W1, b1, W2, b2}."""
    c1, hidden, c2 = cache
    grads = {}
    drelu, grads["W2"], grads["b2"] = _affine3_backward(dout, c2)
    dx, grads["W1"], grads["b1"] = _affine3_backward(drelu * (hidden > 0), c1)
    return dx, grads


def _residual_forward(x, sublayer, gamma, beta, norm, p_drop, rng):
    """One residual sublayer, post- or pre-norm; sublayer: z -> (out, cache)."""
    train = rng is not None
    if norm == "pre":
        z, c_ln = _layernorm3(x, gamma, beta)
        s, c_sub = sublayer(z)
        s, c_drop = dropout_forward(s, p_drop, rng, train)
        return x + s, (c_ln, c_sub, c_drop)
    s, c_sub = sublayer(x)
    s, c_drop = dropout_forward(s, p_drop, rng, train)
    out, c_ln = _layernorm3(x + s, gamma, beta)
    return out, (c_ln, c_sub, c_drop)


def _residual_backward(dout, cache, norm, sublayer_backward):
    """Gradients of _residual_forward; sublayer_backward: (ds, cache) -> (dz, extra).

    Returns dx, dgamma, dbeta and the sublayer's ``extra`` (its parameter gradients).
    """
    c_ln, c_sub, c_drop = cache
    if norm == "pre":
        dz, extra = sublayer_backward(dropout_backward(dout, c_drop), c_sub)
        dx_ln, dgamma, dbeta = _layernorm3_backward(dz, c_ln)
        return dout + dx_ln, dgamma, dbeta, extra  # the residual passes dout on unchanged
    dsum, dgamma, dbeta = _layernorm3_backward(dout, c_ln)
    dz, extra = sublayer_backward(dropout_backward(dsum, c_drop), c_sub)
    return dsum + dz, dgamma, dbeta, extra


def _self_attention_backward(ds, cache):
    dx_q, dx_kv, grads = multi_head_attention_backward(ds, cache)
    return dx_q + dx_kv, grads  # x is both the queries and the keys and values


def _cross_params(params):
    return {name[len(CROSS):]: w for name, w in params.items() if name.startswith(CROSS)}


def _block_forward(x, memory, params, n_heads, self_mask, cross_mask, norm, p_drop, rng):
    if norm not in NORMS:
        raise ValueError(f"norm must be 'post' or 'pre', got {norm!r}")
    x, c_self = _residual_forward(
        x, lambda z: multi_head_attention_forward(z, z, params, n_heads, self_mask),
        params["gamma1"], params["beta1"], norm, p_drop, rng)
    c_cross = None
    if memory is not None:  # queries from the decoder, keys and values from the encoder
        cross = _cross_params(params)
        x, c_cross = _residual_forward(
            x, lambda z: multi_head_attention_forward(z, memory, cross, n_heads, cross_mask),
            params[CROSS + "gamma"], params[CROSS + "beta"], norm, p_drop, rng)
    out, c_ff = _residual_forward(x, lambda z: feed_forward_forward(z, params),
                                  params["gamma2"], params["beta2"], norm, p_drop, rng)
    return out, (norm, c_self, c_cross, c_ff)


def _block_backward(dout, cache):
    norm, c_self, c_cross, c_ff = cache
    grads = {}
    dx, grads["gamma2"], grads["beta2"], ff_grads = _residual_backward(
        dout, c_ff, norm, feed_forward_backward)
    grads.update(ff_grads)
    dmemory = None
    if c_cross is not None:
        def cross_backward(ds, c):
            dx_q, dmem, g = multi_head_attention_backward(ds, c)
            return dx_q, (dmem, g)

        dx, grads[CROSS + "gamma"], grads[CROSS + "beta"], (dmemory, cross_grads) = \
            _residual_backward(dx, c_cross, norm, cross_backward)
        grads.update({CROSS + name: g for name, g in cross_grads.items()})
    dx, grads["gamma1"], grads["beta1"], att_grads = _residual_backward(
        dx, c_self, norm, _self_attention_backward)
    grads.update(att_grads)
    return dx, dmemory, grads


def encoder_block_forward(x, params, n_heads, mask=None, norm="post", p_drop=0.0, rng=None):
    """Encoder block: self-attention, then a feed-forward network, each a residual
    sublayer with dropout. Chapter 6.

    Inputs:
        x: (N, T, d).
        params: Wq..bo, W1, b1, W2, b2, gamma1, beta1, gamma2, beta2 (module docstring).
        n_heads: h, dividing d.
        mask: boolean, broadcastable to (N, h, T, T), e.g. padding_mask(src, pad_id).
        norm: "post" (LN after the residual sum) or "pre" (LN on the sublayer's input).
        p_drop: dropout probability on each sublayer's output.
        rng: numpy Generator for the dropout masks; None = no dropout (test time).

    Returns: out (N, T, d), cache.
    """
    return _block_forward(x, None, params, n_heads, mask, None, norm, p_drop, rng)


def encoder_block_backward(dout, cache):
    """Gradients of encoder_block_forward: dx (N, T, d), grads (names as params)."""
    dx, _, grads = _block_backward(dout, cache)
    return dx, grads


def decoder_block_forward(y, memory, params, n_heads, self_mask=None, cross_mask=None,
                          norm="post", p_drop=0.0, rng=None):
    """Decoder block: masked self-attention, cross-attention to the encoder's output,
    feed-forward; each a residual sublayer with dropout. Chapter 6.

    With ``memory=None`` the cross-attention sublayer is left out: the block of a
    decoder-only (GPT-style) language model, identical to the encoder block with a causal
    mask.

    Inputs:
        y: decoder states (N, T, d).
        memory: encoder output (N, S, d), or None.
        params: the encoder block's names, and (with memory) cross_Wq..cross_bo,
            cross_gamma, cross_beta.
        n_heads: h.
        self_mask: broadcastable to (N, h, T, T), e.g. decoder_self_mask(tgt_in, pad_id).
        cross_mask: broadcastable to (N, h, T, S), e.g. padding_mask(src, pad_id).
        norm, p_drop, rng: as encoder_block_forward.

    Returns: out (N, T, d), cache.
    """
    return _block_forward(y, memory, params, n_heads, self_mask, cross_mask, norm, p_drop,
                          rng)


def decoder_block_backward(dout, cache):
    """Gradients of decoder_block_forward.

    Returns: dy (N, T, d), dmemory (N, S, d) (None without memory), grads (names as params).
    The memory feeds every decoder block: the encoder's output gradient is the sum of the
    dmemory of all of them.
    """
    return _block_backward(dout, cache)


def block_attention_weights(cache):
    """The attention weights a block's forward pass computed, from its cache:
    (self (N, h, T, T), cross (N, h, T, S) or None)."""
    _, c_self, c_cross, _ = cache
    # residual cache (c_ln, c_sub, c_drop); c_sub is multi-head attention's cache, whose
    # fourth entry is attention_forward's cache, whose fourth entry holds the weights
    return c_self[1][3][3], (None if c_cross is None else c_cross[1][3][3])
