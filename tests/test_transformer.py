"""Chapter 6's Transformer: dropout, pre- and post-norm encoder and decoder blocks, masks,
the label-smoothed loss, the encoder-decoder model with tied embeddings (gradients,
masks, greedy and beam search, a toy task) and the decoder-only character model."""

import itertools

import numpy as np
import pytest

from dlcourse.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from dlcourse.layers import (
    decoder_block_backward,
    decoder_block_forward,
    decoder_self_mask,
    dropout_backward,
    dropout_forward,
    encoder_block_backward,
    encoder_block_forward,
    label_smoothed_loss,
    padding_mask,
    softmax_loss,
    transformer_block_forward,
)
from dlcourse.transformer import (
    CharTransformerLM,
    Seq2SeqTransformer,
    block_params,
    make_batch,
    noam_schedule,
    random_windows,
    train_transformer,
)

PAD, BOS, EOS = 0, 1, 2
TOL = 1e-6  # a wrong gradient is off by far more; a right one here is off by < 1e-7


def random_block(rng, d, d_ff, cross=False):
    """block_params with every entry random (zeros and ones hide transposed gradients)."""
    return {k: v + rng.normal(0, 0.3, size=v.shape) for k, v in
            block_params(rng, d, d_ff, cross).items()}


def check_param_grads(f, params, grads, tol=TOL):
    """Every parameter's analytic gradient against centred differences of f(params).

    bk (and cross_bk) adds the same amount to every score of a query, which the softmax
    ignores: its gradient must be zero, and so is the numerical one (up to rounding)."""
    for name, value in params.items():
        numeric = eval_numerical_gradient(lambda z, name=name: f({**params, name: z}),
                                          value.copy())
        if name.endswith("bk"):
            assert np.abs(grads[name]).max() < 1e-12 and np.abs(numeric).max() < 1e-8, name
            continue
        assert rel_error(grads[name], numeric) < tol, name


def sampled_grad_check(loss, params, grads, rng, per_array=6, full=("E",), tol=1e-5):
    """Gradient check of a model's loss() on ``per_array`` random entries of every
    parameter (all entries of those in ``full``), by centred differences."""
    for name, w in params.items():
        flat = w.reshape(-1)  # a view: writing to it perturbs the model's parameter
        idx = (np.arange(flat.size) if name in full or flat.size <= per_array
               else rng.choice(flat.size, per_array, replace=False))

        def f(z, flat=flat, idx=idx):
            old = flat[idx].copy()
            flat[idx] = z
            value = loss()
            flat[idx] = old
            return value

        numeric = eval_numerical_gradient(f, flat[idx].copy())
        analytic = grads[name].reshape(-1)[idx]
        if name.endswith("bk"):
            assert np.abs(analytic).max() < 1e-12 and np.abs(numeric).max() < 1e-8, name
            continue
        assert rel_error(analytic, numeric) < tol, name


# --------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------

def test_dropout_keeps_the_expectation_and_is_the_identity_at_p0_and_test_time(rng):
    x = rng.normal(size=(400, 500))
    out, mask = dropout_forward(x, 0.3, rng)
    assert np.mean(out == 0) == pytest.approx(0.3, abs=0.005)      # a share p dropped
    np.testing.assert_allclose(out[out != 0], x[out != 0] / 0.7)   # the rest scaled
    ones, _ = dropout_forward(np.ones((400, 500)), 0.3, rng)
    assert ones.mean() == pytest.approx(1.0, abs=0.01)             # E[out] = x
    for p, train in ((0.0, True), (0.3, False)):
        same, cache = dropout_forward(x, p, rng, train=train)
        assert same is x and cache is None
        assert dropout_backward(x, cache) is x
    with pytest.raises(ValueError):
        dropout_forward(x, 1.0, rng)


def test_dropout_backward_matches_centred_differences_for_a_fixed_mask(rng):
    x, dout = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 5))
    out, mask = dropout_forward(x, 0.4, np.random.default_rng(7))
    numeric = eval_numerical_gradient_array(
        lambda z: dropout_forward(z, 0.4, np.random.default_rng(7))[0], x.copy(), dout)
    assert rel_error(dropout_backward(dout, mask), numeric) < 1e-9
    assert np.all(dropout_backward(dout, mask)[out == 0] == 0)


# --------------------------------------------------------------------------------------
# Blocks and masks
# --------------------------------------------------------------------------------------

SRC = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 0]])     # source ids, padded
TGT = np.array([[1, 3, 4, 0], [1, 5, 6, 7]])           # decoder inputs, padded


def test_padding_masks_have_the_documented_shapes():
    m = padding_mask(SRC, PAD)
    assert m.shape == (2, 1, 1, 5) and m[0, 0, 0].tolist() == [1, 1, 1, 0, 0]
    s = decoder_self_mask(TGT, PAD)
    assert s.shape == (2, 1, 4, 4)
    assert s[0, 0].astype(int).tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0],
                                            [1, 1, 1, 0]]


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_encoder_block_backward_matches_centred_differences(rng, norm):
    p = random_block(rng, 6, 8)
    x, mask = rng.normal(size=(2, 5, 6)), padding_mask(SRC, PAD)

    def forward(z, params=p):
        return encoder_block_forward(z, params, 2, mask, norm, 0.2, np.random.default_rng(3))[0]

    out = forward(x)
    dout = rng.normal(size=out.shape)
    dx, grads = encoder_block_backward(dout, encoder_block_forward(
        x, p, 2, mask, norm, 0.2, np.random.default_rng(3))[1])
    assert rel_error(dx, eval_numerical_gradient_array(forward, x.copy(), dout)) < TOL
    check_param_grads(lambda q: float(np.sum(forward(x, q) * dout)), p, grads)
    assert sorted(grads) == sorted(p)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_decoder_block_backward_with_both_masks_matches_centred_differences(rng, norm):
    p = random_block(rng, 6, 8, cross=True)
    y, memory = rng.normal(size=(2, 4, 6)), rng.normal(size=(2, 5, 6))
    self_mask, cross_mask = decoder_self_mask(TGT, PAD), padding_mask(SRC, PAD)

    def forward(y_, mem, params=p):
        return decoder_block_forward(y_, mem, params, 2, self_mask, cross_mask, norm, 0.2,
                                     np.random.default_rng(4))[0]

    out, cache = decoder_block_forward(y, memory, p, 2, self_mask, cross_mask, norm, 0.2,
                                       np.random.default_rng(4))
    dout = rng.normal(size=out.shape)
    dy, dmemory, grads = decoder_block_backward(dout, cache)
    assert rel_error(dy, eval_numerical_gradient_array(
        lambda z: forward(z, memory), y.copy(), dout)) < TOL
    assert rel_error(dmemory, eval_numerical_gradient_array(
        lambda z: forward(y, z), memory.copy(), dout)) < TOL
    assert np.all(dmemory[0, 3:] == 0)  # padded source positions: no gradient at all
    check_param_grads(lambda q: float(np.sum(forward(y, memory, q) * dout)), p, grads)
    assert sorted(grads) == sorted(p)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_dropout_acts_on_every_sublayer_in_training_only(rng, norm):
    p = random_block(rng, 8, 16, cross=True)
    y, memory = rng.normal(size=(4, 50, 8)), rng.normal(size=(4, 30, 8))
    test_time = decoder_block_forward(y, memory, p, 2, None, None, norm, 0.5)[0]  # no rng
    np.testing.assert_array_equal(
        test_time, decoder_block_forward(y, memory, p, 2, None, None, norm, 0.0, rng)[0])
    out, cache = decoder_block_forward(y, memory, p, 2, None, None, norm, 0.5, rng)
    for sublayer in cache[1:]:  # self, cross, feed-forward: (ln, sublayer, dropout mask)
        assert sublayer[2].shape == y.shape
        assert np.mean(sublayer[2] == 0) == pytest.approx(0.5, abs=0.03)
    assert not np.allclose(out, test_time)


def test_post_norm_encoder_block_without_dropout_is_the_chapter_block(rng):
    p, x = random_block(rng, 6, 8), rng.normal(size=(2, 5, 6))
    mask = padding_mask(SRC, PAD)
    np.testing.assert_array_equal(encoder_block_forward(x, p, 3, mask, "post")[0],
                                  transformer_block_forward(x, p, 3, mask)[0])
    # pre-norm: the residual path carries x through; the sum is not normalised
    out = encoder_block_forward(x, p, 3, mask, "pre")[0]
    assert np.abs(out.mean(axis=-1)).max() > 0.05


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_masked_positions_change_no_other_output_exactly(rng, norm):
    enc, dec = random_block(rng, 6, 8), random_block(rng, 6, 8, cross=True)
    x, y, memory = rng.normal(size=(2, 5, 6)), rng.normal(size=(2, 4, 6)), \
        rng.normal(size=(2, 5, 6))
    src_mask, self_mask = padding_mask(SRC, PAD), decoder_self_mask(TGT, PAD)
    real = SRC != PAD
    changed = np.where(real[..., None], x, 100.0 * rng.normal(size=x.shape))
    a = encoder_block_forward(x, enc, 2, src_mask, norm)[0]
    b = encoder_block_forward(changed, enc, 2, src_mask, norm)[0]
    np.testing.assert_array_equal(a[real], b[real])
    assert not np.allclose(a[~real], b[~real])  # the padded positions themselves differ

    def decode(y_, mem):
        return decoder_block_forward(y_, mem, dec, 2, self_mask, src_mask, norm)[0]

    out = decode(y, memory)
    np.testing.assert_array_equal(out, decode(y, np.where(real[..., None], memory, -7.0)))
    later = y.copy()
    later[:, 2:] += 5.0  # future decoder inputs
    np.testing.assert_array_equal(out[:, :2], decode(later, memory)[:, :2])
    assert not np.allclose(out[:, 2:], decode(later, memory)[:, 2:])


# --------------------------------------------------------------------------------------
# Label-smoothed loss
# --------------------------------------------------------------------------------------

def test_label_smoothing_at_eps0_is_the_softmax_loss_over_real_tokens(rng):
    logits, y = rng.normal(size=(3, 4, 6)), rng.integers(0, 6, size=(3, 4))
    mask = rng.uniform(size=(3, 4)) < 0.6
    mask[0, 0] = True
    loss, dlogits = label_smoothed_loss(logits, y, 0.0, mask)
    want, dwant = softmax_loss(logits[mask], y[mask])
    assert loss == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(dlogits[mask], dwant, rtol=1e-12, atol=1e-15)
    assert np.all(dlogits[~mask] == 0)
    noisy = np.where(mask[..., None], logits, 50 * rng.normal(size=logits.shape))
    assert label_smoothed_loss(noisy, y, 0.1, mask)[0] == label_smoothed_loss(
        logits, y, 0.1, mask)[0]  # padded positions: the loss ignores them


def test_label_smoothing_gradient_and_its_minimum(rng):
    logits, y = rng.normal(size=(2, 5, 7)), rng.integers(0, 7, size=(2, 5))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    loss, dlogits = label_smoothed_loss(logits, y, 0.1, mask)
    numeric = eval_numerical_gradient(lambda z: label_smoothed_loss(z, y, 0.1, mask)[0],
                                      logits.copy())
    assert rel_error(dlogits, numeric) < 1e-7
    # at softmax = q the loss is the entropy of q and the gradient vanishes
    q = np.full((1, 7), 0.1 / 7)
    q[0, 3] += 0.9
    at_q, grad = label_smoothed_loss(np.log(q), np.array([3]), 0.1)
    assert at_q == pytest.approx(-(q * np.log(q)).sum(), rel=1e-12)
    assert np.abs(grad).max() < 1e-15


# --------------------------------------------------------------------------------------
# The encoder-decoder model
# --------------------------------------------------------------------------------------

def tiny_seq2seq(rng, norm, p_drop=0.0, vocab=7, n_enc=1, n_dec=2):
    model = Seq2SeqTransformer(vocab, rng, d=8, n_heads=2, d_ff=12, n_enc=n_enc, n_dec=n_dec,
                               norm=norm, p_drop=p_drop, label_smoothing=0.1)
    for k, v in model.params.items():  # random norms and biases as well
        if k != "E":
            model.params[k] = v + rng.normal(0, 0.2, size=v.shape)
    return model


def test_make_batch_shifts_the_target_and_pads():
    src, tgt_in, tgt_out = make_batch([[5, 6, 7], [8]], [[7, 6, 5], [8]], BOS, EOS)
    assert src.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert tgt_in.tolist() == [[1, 7, 6, 5], [1, 8, 0, 0]]
    assert tgt_out.tolist() == [[7, 6, 5, 2], [8, 2, 0, 0]]


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_seq2seq_loss_gradients_match_centred_differences(rng, norm):
    """Dropout (a fixed mask), label smoothing, padding on both sides; every entry of
    the tied embedding E, which the loss uses three times, and samples of the rest."""
    model = tiny_seq2seq(rng, norm, p_drop=0.1)
    src, tgt_in, tgt_out = make_batch([[3, 4, 5], [6, 3, 4, 5]], [[5, 4], [4, 3, 6]], BOS, EOS)

    def loss():
        return model.loss(src, tgt_in, tgt_out, rng=np.random.default_rng(5))[0]

    _, grads = model.loss(src, tgt_in, tgt_out, rng=np.random.default_rng(5))
    assert sorted(grads) == sorted(model.params)
    assert ("enc_norm.gamma" in grads) == (norm == "pre")
    sampled_grad_check(loss, model.params, grads, rng)


def test_seq2seq_masks_source_padding_and_the_future_exactly(rng):
    model = tiny_seq2seq(rng, "pre")  # (post-norm blocks: test_masked_positions_...)
    src, tgt_in, _ = make_batch([[3, 4, 5], [6, 3, 4, 5, 6]], [[5, 4], [4, 3, 6, 6]], BOS, EOS)
    memory, src_mask = model.encode(src)
    logits = model.decode(memory, src_mask, tgt_in)
    noise = np.where(src[..., None] != PAD, memory, rng.normal(size=memory.shape))
    np.testing.assert_array_equal(logits, model.decode(noise, src_mask, tgt_in))
    later = tgt_in.copy()
    later[1, 3:] = [3, 5]  # future target tokens of row 1
    changed = model.decode(memory, src_mask, later)
    np.testing.assert_array_equal(logits[:, :3], changed[:, :3])
    np.testing.assert_array_equal(logits[0], changed[0])  # the other row too
    assert not np.allclose(logits[1, 3:], changed[1, 3:])
    # a row padded in a batch gives what it gives alone (up to rounding)
    alone = model.decode(*model.encode(src[:1, :3]), tgt_in[:1, :3])
    np.testing.assert_allclose(logits[0, :3], alone[0], rtol=1e-10, atol=1e-12)


def test_attention_maps_are_distributions_and_ignore_padding(rng):
    model = tiny_seq2seq(rng, "post", n_enc=2)
    src, tgt_in, _ = make_batch([[3, 4, 5], [6, 3, 4, 5, 6]], [[5, 4], [4, 3, 6, 6]], BOS, EOS)
    maps = model.attention_maps(src, tgt_in)
    assert [m.shape for m in maps["encoder"]] == [(2, 2, 5, 5)] * 2
    assert [m.shape for m in maps["decoder"]] == [(2, 2, 5, 5)] * 2
    assert [m.shape for m in maps["cross"]] == [(2, 2, 5, 5)] * 2
    for m in maps["cross"]:
        np.testing.assert_allclose(m.sum(axis=-1), 1.0)
        assert np.all(m[0, :, :, 3:] == 0)   # row 0's source is padded after 3 tokens
    assert np.all(np.triu(maps["decoder"][0][1, 0], 1) == 0)  # causal


def all_outputs(symbols, max_len):
    """Every output of at most max_len tokens: bodies ended by eos, or max_len long."""
    for k in range(max_len + 1):
        for body in itertools.product(symbols, repeat=k):
            yield [*body, EOS] if k < max_len else list(body)


@pytest.mark.parametrize("seed", [0, 2])
def test_beam_search_finds_the_best_output_and_beam_1_is_greedy(seed):
    """Tiny random models; all 202 outputs of <= 4 tokens over 3 symbols are scored.
    The seeds give best outputs of lengths 1, 2 and 4, some ended by eos and some not."""
    model = Seq2SeqTransformer(6, np.random.default_rng(seed), d=8, n_heads=2, d_ff=16,
                               n_enc=1, n_dec=1, norm="post", p_drop=0.0)
    src = np.random.default_rng(seed).integers(3, 6, size=(6, 4))
    src[0, 2:] = PAD
    max_len = 4
    outputs = list(all_outputs([3, 4, 5], max_len))
    tgt_in = np.zeros((len(outputs), max_len), dtype=np.int64)
    tgt_out = np.zeros_like(tgt_in)
    for j, y in enumerate(outputs):
        tgt_in[j, : len(y)], tgt_out[j, : len(y)] = [BOS, *y[:-1]], y
    lengths = np.array([len(y) for y in outputs])
    greedy = model.greedy_decode(src, max_len, BOS, EOS)
    greedy_worse, kinds = 0, set()
    for alpha in (0.0, 1.0):
        seqs, scores = model.beam_search(src, 200, max_len, BOS, EOS, length_penalty=alpha)
        for i in range(len(src)):
            log_p = model.sequence_log_prob(np.repeat(src[i : i + 1], len(outputs), 0),
                                            tgt_in, tgt_out) / lengths ** alpha
            best = int(np.argmax(log_p))
            assert seqs[i].tolist() == outputs[best]
            kinds.add(outputs[best][-1] == EOS)
            assert scores[i] == pytest.approx(log_p[best], abs=1e-12)
            g = [int(t) for t in greedy[i] if t != PAD]
            greedy_worse += log_p[outputs.index(g)] < log_p[best] - 1e-9
    assert greedy_worse >= 2  # the case is one where search matters
    assert kinds == {True, False}  # finished and max_len outputs both win somewhere
    narrow, _ = model.beam_search(src, 1, max_len, BOS, EOS)
    for i in range(len(src)):
        assert narrow[i].tolist() == [int(t) for t in greedy[i] if t != PAD]


def test_noam_schedule_warms_up_then_decays():
    lr = [noam_schedule(s, 64, 100) for s in range(1, 1001)]
    assert int(np.argmax(lr)) + 1 == 100
    assert lr[99] == pytest.approx(64 ** -0.5 * 100 ** -0.5)
    assert lr[49] == pytest.approx(lr[99] / 2)                  # linear rise
    assert lr[399] == pytest.approx(lr[99] / 2)                 # step^-1/2 decay
    with pytest.raises(ValueError):
        noam_schedule(0, 64, 100)


def reverse_batch(rng, n, lo=3, hi=6, vocab=13):
    """Random digit strings (ids 3..12) of lo..hi digits and their reversals."""
    sources = [rng.integers(3, vocab, size=k) for k in rng.integers(lo, hi + 1, size=n)]
    return make_batch(sources, [s[::-1] for s in sources], BOS, EOS)


@pytest.mark.parametrize("seed", [0, 1])
def test_seq2seq_learns_to_reverse_digit_strings(seed):
    """500 steps of 32 strings (about 3 s of CPU): >= 90% of 200 held-out strings exactly
    right by greedy decoding (measured 94.5-100% on seeds 0-6)."""
    model = Seq2SeqTransformer(13, np.random.default_rng(seed), d=32, n_heads=4, d_ff=64,
                               n_enc=1, n_dec=1, norm="pre", p_drop=0.0)
    data = np.random.default_rng(seed + 100)
    history = train_transformer(model, lambda: reverse_batch(data, 32), 500, warmup=100)
    assert history["seconds"] < 10
    src, _, tgt_out = reverse_batch(np.random.default_rng(999), 200)
    out = model.greedy_decode(src, tgt_out.shape[1], BOS, EOS)
    right = [np.array_equal(o[: (t != PAD).sum()], t[t != PAD])
             for o, t in zip(out, tgt_out, strict=True)]
    assert np.mean(right) >= 0.9
    assert np.mean(history["loss"][-20:]) < 0.2 < np.mean(history["loss"][:20])


# --------------------------------------------------------------------------------------
# The decoder-only language model
# --------------------------------------------------------------------------------------

def tiny_lm(rng, p_drop=0.0, norm="pre"):
    model = CharTransformerLM(6, rng, d=8, n_heads=2, d_ff=12, n_layers=2, context=8,
                              norm=norm, p_drop=p_drop)
    for k, v in model.params.items():
        if k != "E":
            model.params[k] = v + rng.normal(0, 0.2, size=v.shape)
    return model


def test_char_lm_gradients_match_centred_differences(rng):
    model = tiny_lm(rng, p_drop=0.1)
    x, y = rng.integers(0, 6, size=(2, 5)), rng.integers(0, 6, size=(2, 5))
    _, grads = model.loss(x, y, rng=np.random.default_rng(6))
    assert sorted(grads) == sorted(model.params)
    sampled_grad_check(lambda: model.loss(x, y, rng=np.random.default_rng(6))[0],
                       model.params, grads, rng)


def test_char_lm_is_causal_and_its_perplexity_counts_every_prediction_once(rng):
    model = tiny_lm(rng)
    x = rng.integers(0, 6, size=(2, 8))
    later = x.copy()
    later[:, 5] = (later[:, 5] + 1) % 6
    a, b = model.logits(x), model.logits(later)
    np.testing.assert_array_equal(a[:, :5], b[:, :5])
    assert not np.allclose(a[:, 5:], b[:, 5:])
    ids = rng.integers(0, 6, size=9)  # one window of context 8: exp of the loss
    assert model.perplexity(ids) == pytest.approx(np.exp(model.loss(ids[None, :8],
                                                                    ids[None, 1:])[0]))
    long = rng.integers(0, 6, size=50)
    ppl = model.perplexity(long, stride=3)  # 13 overlapping windows, 49 predictions
    model.params["E"][:] = 0  # logits 0: uniform over 6 characters, whatever the windows
    assert model.perplexity(long, stride=3) == pytest.approx(6.0)
    assert 1 < ppl < 100


def test_char_lm_learns_a_repeating_text_and_samples_it(rng):
    from dlcourse.text import Vocabulary

    text = "the cat sat on the mat. " * 40
    vocab = Vocabulary(text)
    ids = vocab.encode(text)
    model = CharTransformerLM(vocab.size, rng, d=32, n_heads=4, n_layers=1, context=32)
    uniform = model.perplexity(ids)
    data = np.random.default_rng(0)
    history = train_transformer(model, lambda: random_windows(ids, 16, 32, data), 150,
                                warmup=50)
    assert history["seconds"] < 10
    assert model.perplexity(ids) < 1.2 < 0.5 * uniform
    assert model.sample(vocab, "the cat ", 16, temperature=0) == "sat on the mat. "
    drawn = model.sample(vocab, "the", 10, temperature=1.0, rng=np.random.default_rng(1))
    assert len(drawn) == 10 and set(drawn) <= set(vocab.chars)
