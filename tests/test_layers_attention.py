"""Attention layers (chapter 6): gradient checks, masks, positions, equivariance."""

import numpy as np
import pytest

from dlcourse.gradcheck import eval_numerical_gradient_array, rel_error
from dlcourse.layers import (
    attention_backward,
    attention_forward,
    causal_mask,
    multi_head_attention_backward,
    multi_head_attention_forward,
    positional_encoding,
    transformer_block_backward,
    transformer_block_forward,
)


def mha_params(rng, d, d_ff=None):
    p = {name: rng.normal(0, 1 / np.sqrt(d), size=(d, d)) for name in ("Wq", "Wk", "Wv", "Wo")}
    p.update({name: rng.normal(0, 0.1, size=d) for name in ("bq", "bk", "bv", "bo")})
    if d_ff:
        p.update(W1=rng.normal(0, 1 / np.sqrt(d), size=(d, d_ff)), b1=rng.normal(0, .1, d_ff),
                 W2=rng.normal(0, 1 / np.sqrt(d_ff), size=(d_ff, d)), b2=rng.normal(0, .1, d),
                 gamma1=1 + rng.normal(0, .1, d), beta1=rng.normal(0, .1, d),
                 gamma2=1 + rng.normal(0, .1, d), beta2=rng.normal(0, .1, d))
    return p


@pytest.mark.parametrize("masked", [False, True])
def test_attention_backward_matches_centred_differences(rng, masked):
    q, k = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 6, 5))  # (N, h, T, d)
    v = rng.normal(size=(2, 3, 6, 7))
    mask = rng.uniform(size=(2, 1, 4, 6)) < 0.6 if masked else None
    if masked:
        mask[..., 0] = True  # every query keeps a key
    out, cache = attention_forward(q, k, v, mask)
    dout = rng.normal(size=out.shape)
    for got, x, i in zip(attention_backward(dout, cache), (q, k, v), range(3), strict=True):
        def f(z, i=i):
            args = [q, k, v]
            args[i] = z
            return attention_forward(*args, mask)[0]

        assert rel_error(got, eval_numerical_gradient_array(f, x.copy(), dout)) < 1e-7
    if masked:
        assert np.all(cache[3][np.broadcast_to(~mask, cache[3].shape)] == 0)
        np.testing.assert_allclose(cache[3].sum(axis=-1), 1.0)


def test_causal_mask_stops_the_future_from_leaking(rng):
    x = rng.normal(size=(1, 6, 4))
    out, _ = attention_forward(x, x, x, causal_mask(6))
    changed = x.copy()
    changed[0, 4] += 10.0  # a later token changes
    out2, _ = attention_forward(changed, changed, changed, causal_mask(6))
    np.testing.assert_allclose(out[0, :4], out2[0, :4])
    assert not np.allclose(out[0, 4:], out2[0, 4:])
    with pytest.raises(ValueError, match="at least one key"):
        attention_forward(x, x, x, np.zeros((6, 6), dtype=bool))


def test_positional_encoding_follows_the_formula():
    pe = positional_encoding(50, 7)
    assert pe.shape == (50, 7)
    p, i = 13, 2
    assert pe[p, 2 * i] == pytest.approx(np.sin(p / 10000 ** (2 * i / 7)))
    assert pe[p, 2 * i + 1] == pytest.approx(np.cos(p / 10000 ** (2 * i / 7)))
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1, 0, 1, 0])


def test_self_attention_without_positions_is_permutation_equivariant(rng):
    x, p = rng.normal(size=(2, 5, 8)), mha_params(rng, 8)
    out, _ = multi_head_attention_forward(x, x, p, n_heads=2)
    perm = rng.permutation(5)
    out_perm, _ = multi_head_attention_forward(x[:, perm], x[:, perm], p, n_heads=2)
    np.testing.assert_allclose(out_perm, out[:, perm])


def test_multi_head_backward_matches_centred_differences(rng):
    p = mha_params(rng, 6)
    x_q, x_kv = rng.normal(size=(2, 3, 6)), rng.normal(size=(2, 4, 6))
    out, cache = multi_head_attention_forward(x_q, x_kv, p, 3)
    dout = rng.normal(size=out.shape)
    dx_q, dx_kv, grads = multi_head_attention_backward(dout, cache)
    assert rel_error(dx_q, eval_numerical_gradient_array(
        lambda z: multi_head_attention_forward(z, x_kv, p, 3)[0], x_q.copy(), dout)) < 1e-7
    assert rel_error(dx_kv, eval_numerical_gradient_array(
        lambda z: multi_head_attention_forward(x_q, z, p, 3)[0], x_kv.copy(), dout)) < 1e-7
    for name, value in p.items():
        numeric = eval_numerical_gradient_array(
            lambda z, name=name: multi_head_attention_forward(
                x_q, x_kv, {**p, name: z}, 3)[0], value.copy(), dout)
        if name == "bk":  # adds the same amount to every score of a query: no effect
            assert np.abs(grads[name]).max() < 1e-12 and np.abs(numeric).max() < 1e-9
            continue
        assert rel_error(grads[name], numeric) < 1e-7, name


def test_transformer_block_backward_matches_centred_differences(rng):
    p = mha_params(rng, 4, d_ff=10)
    x = rng.normal(size=(2, 5, 4))
    mask = causal_mask(5)
    out, cache = transformer_block_forward(x, p, 2, mask)
    dout = rng.normal(size=out.shape)
    dx, grads = transformer_block_backward(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(
        lambda z: transformer_block_forward(z, p, 2, mask)[0], x.copy(), dout)) < 1e-6
    for name, value in p.items():
        numeric = eval_numerical_gradient_array(
            lambda z, name=name: transformer_block_forward(x, {**p, name: z}, 2, mask)[0],
            value.copy(), dout)
        if name == "bk":
            assert np.abs(grads[name]).max() < 1e-12 and np.abs(numeric).max() < 1e-9
            continue
        assert rel_error(grads[name], numeric) < 1e-6, name
    # post-norm: every output position is a layer-normalised vector, scaled and shifted
    np.testing.assert_allclose(((out - p["beta2"]) / p["gamma2"]).mean(axis=-1), 0,
                               atol=1e-10)


def test_tiny_transformer_gradients_match_centred_differences(rng):
    from dlcourse.gradcheck import eval_numerical_gradient
    from dlcourse.models import TinyTransformer

    model = TinyTransformer(5, rng, d=8, n_heads=2, d_ff=12, n_blocks=2)
    x, y = rng.integers(0, 5, size=(3, 4)), rng.integers(0, 5, size=(3, 4))
    _, grads = model.loss(x, y)
    for name, value in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(x, y)[0], value)
        if name.startswith("bk"):
            assert np.abs(grads[name]).max() < 1e-12
            continue
        assert rel_error(grads[name], numeric) < 1e-5, name
