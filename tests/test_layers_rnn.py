"""Chapter 5 layers: RNN and LSTM steps and sequences checked against centred differences,
the sequence versions against a loop of steps, the LSTM with gates forced open against the
RNN step, gradient clipping and shape errors."""

import numpy as np
import pytest

from dlcourse.gradcheck import eval_numerical_gradient_array, rel_error
from dlcourse.layers import (
    clip_by_global_norm,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)

N, T, D, H = 3, 5, 4, 6
# A correct gradient typically agrees to ~1e-9; the element-wise maximum of the relative
# error can reach a few 1e-7 at entries near zero. A wrong one is off by > 1e-2.
TOL = 1e-6


def rnn_params(rng, gates=1, scale=0.4):
    """x (N, T, D), h0 (N, H), Wx (D, gH), Wh (H, gH), b (gH,) with moderate values."""
    return (rng.normal(size=(N, T, D)), rng.normal(size=(N, H)),
            rng.normal(scale=scale, size=(D, gates * H)),
            rng.normal(scale=scale, size=(H, gates * H)),
            rng.normal(scale=scale, size=gates * H))


def numeric_grads(f, args, dout):
    """Numerical gradient of sum(f(*args) * dout) with respect to every argument."""
    grads = []
    for k in range(len(args)):
        def fk(v, k=k):
            return f(*args[:k], v, *args[k + 1:])
        grads.append(eval_numerical_gradient_array(fk, args[k], dout))
    return grads


def test_rnn_step_backward_matches_numerical(rng):
    x, h, Wx, Wh, b = rnn_params(rng)
    x = x[:, 0]
    next_h, cache = rnn_step_forward(x, h, Wx, Wh, b)
    dnext = rng.normal(size=next_h.shape)
    analytic = rnn_step_backward(dnext, cache)
    numeric = numeric_grads(lambda *a: rnn_step_forward(*a)[0], [x, h, Wx, Wh, b], dnext)
    for name, a, n in zip(["dx", "dprev_h", "dWx", "dWh", "db"], analytic, numeric,
                          strict=True):
        assert a.shape == n.shape, name
        assert rel_error(a, n) < TOL, name


def test_rnn_backward_matches_numerical(rng):
    args = list(rnn_params(rng))
    h, cache = rnn_forward(*args)
    dh = rng.normal(size=h.shape)
    analytic = rnn_backward(dh, cache)
    numeric = numeric_grads(lambda *a: rnn_forward(*a)[0], args, dh)
    for name, a, n in zip(["dx", "dh0", "dWx", "dWh", "db"], analytic, numeric, strict=True):
        assert a.shape == n.shape, name
        assert rel_error(a, n) < TOL, name


def test_rnn_backward_with_loss_on_last_state_only(rng):
    """Gradient only at h_T: everything reaching earlier steps must come through time."""
    args = list(rnn_params(rng))
    h, cache = rnn_forward(*args)
    dh = np.zeros_like(h)
    dh[:, -1] = rng.normal(size=(N, H))
    dx, dh0, *_ = rnn_backward(dh, cache)
    num_dx = eval_numerical_gradient_array(lambda v: rnn_forward(v, *args[1:])[0], args[0], dh)
    assert np.abs(dx[:, 0]).max() > 1e-4  # the first input does influence h_T
    assert rel_error(dx, num_dx) < TOL


def test_rnn_forward_equals_looping_the_step(rng):
    x, h0, Wx, Wh, b = rnn_params(rng)
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    prev = h0
    for t in range(T):
        prev = np.tanh(x[:, t] @ Wx + prev @ Wh + b)
        np.testing.assert_allclose(h[:, t], prev, rtol=1e-13, atol=1e-14)
        step, _ = rnn_step_forward(x[:, t], h[:, t - 1] if t else h0, Wx, Wh, b)
        np.testing.assert_array_equal(h[:, t], step)


def test_lstm_step_backward_matches_numerical(rng):
    x, h, Wx, Wh, b = rnn_params(rng, gates=4)
    x = x[:, 0]
    c = rng.normal(size=(N, H))
    next_h, next_c, cache = lstm_step_forward(x, h, c, Wx, Wh, b)
    dnext_h, dnext_c = rng.normal(size=(N, H)), rng.normal(size=(N, H))
    analytic = lstm_step_backward(dnext_h, dnext_c, cache)
    args = [x, h, c, Wx, Wh, b]

    def both(*a):
        out_h, out_c, _ = lstm_step_forward(*a)
        return np.concatenate([out_h, out_c], axis=1)

    numeric = numeric_grads(both, args, np.concatenate([dnext_h, dnext_c], axis=1))
    names = ["dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"]
    for name, a, n in zip(names, analytic, numeric, strict=True):
        assert a.shape == n.shape, name
        assert rel_error(a, n) < TOL, name


def test_lstm_backward_matches_numerical(rng):
    args = list(rnn_params(rng, gates=4))
    h, cache = lstm_forward(*args)
    dh = rng.normal(size=h.shape)
    analytic = lstm_backward(dh, cache)
    numeric = numeric_grads(lambda *a: lstm_forward(*a)[0], args, dh)
    for name, a, n in zip(["dx", "dh0", "dWx", "dWh", "db"], analytic, numeric, strict=True):
        assert a.shape == n.shape, name
        assert rel_error(a, n) < TOL, name


def test_lstm_forward_equals_looping_the_step(rng):
    x, h0, Wx, Wh, b = rnn_params(rng, gates=4)
    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    prev_h, prev_c, steps = h0, np.zeros((N, H)), []
    for t in range(T):
        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        steps.append(step_cache)
        np.testing.assert_allclose(h[:, t], prev_h, rtol=1e-12, atol=1e-14)
    # and the sequence backward equals the step backwards summed by hand
    dh = rng.normal(size=h.shape)
    dx, dh0, dWx, dWh, db = lstm_backward(dh, cache)
    dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
    sums = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
    for t in reversed(range(T)):
        dx_t, dprev_h, dprev_c, *dw = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, steps[t])
        np.testing.assert_allclose(dx[:, t], dx_t, rtol=1e-10, atol=1e-12)
        sums = [s + g for s, g in zip(sums, dw, strict=True)]
    np.testing.assert_allclose(dh0, dprev_h, rtol=1e-10, atol=1e-12)
    for got, want in zip([dWx, dWh, db], sums, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_lstm_with_gates_open_is_a_doubly_squashed_rnn(rng):
    """f = 0, i = 1, o = 1 (saturated gate biases): h = tanh(tanh(x U + h W + b))."""
    x, h, Wx_r, Wh_r, b_r = rnn_params(rng)
    x = x[:, 0]
    zeros_x, zeros_h = np.zeros((D, H)), np.zeros((H, H))
    big = 1e3  # sigmoid(+-1000) is 1 or 0 to the last bit in float64
    Wx = np.concatenate([zeros_x, zeros_x, zeros_x, Wx_r], axis=1)  # (D, 4H) i, f, o, g
    Wh = np.concatenate([zeros_h, zeros_h, zeros_h, Wh_r], axis=1)  # (H, 4H)
    b = np.concatenate([np.full(H, big), np.full(H, -big), np.full(H, big), b_r])
    prev_c = rng.normal(size=(N, H))  # forgotten entirely
    next_h, next_c, _ = lstm_step_forward(x, h, prev_c, Wx, Wh, b)
    rnn_h, _ = rnn_step_forward(x, h, Wx_r, Wh_r, b_r)
    np.testing.assert_allclose(next_c, rnn_h, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(next_h, np.tanh(rnn_h), rtol=1e-15, atol=1e-15)
    assert np.abs(next_h - rnn_h).max() > 1e-2  # not the RNN itself: one tanh more


def test_clip_keeps_gradients_below_threshold(rng):
    grads = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    norm = np.sqrt(np.sum(grads["a"] ** 2) + np.sum(grads["b"] ** 2))
    clipped, reported = clip_by_global_norm(grads, max_norm=norm * 1.01)
    assert reported == pytest.approx(norm, rel=1e-12)
    for k in grads:
        np.testing.assert_array_equal(clipped[k], grads[k])


def test_clip_scales_to_max_norm_above_threshold(rng):
    grads = {"a": rng.normal(size=(3, 4)) * 10, "b": rng.normal(size=5) * 10}
    before = {k: v.copy() for k, v in grads.items()}
    norm = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    clipped, reported = clip_by_global_norm(grads, max_norm=1.5)
    assert reported == pytest.approx(norm, rel=1e-12)
    new_norm = np.sqrt(sum(np.sum(g**2) for g in clipped.values()))
    assert new_norm == pytest.approx(1.5, rel=1e-12)
    for k in grads:  # same direction, one common factor; inputs untouched
        np.testing.assert_allclose(clipped[k], grads[k] * 1.5 / norm, rtol=1e-12)
        np.testing.assert_array_equal(grads[k], before[k])
    with pytest.raises(ValueError):
        clip_by_global_norm(grads, max_norm=0.0)


def test_shape_errors(rng):
    x, h0, Wx, Wh, b = rnn_params(rng)
    with pytest.raises(ValueError):
        rnn_step_forward(x[:, 0], h0[:, :-1], Wx, Wh, b)  # prev_h has H - 1 units
    with pytest.raises(ValueError):
        rnn_step_forward(x[:, 0, :-1], h0, Wx, Wh, b)  # x has D - 1 features
    with pytest.raises(ValueError):
        rnn_forward(x[:, 0], h0, Wx, Wh, b)  # (N, D) instead of (N, T, D)
    with pytest.raises(ValueError):
        rnn_forward(x, h0, Wx, Wh.T[:, :-1], b)  # Wh not square
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    with pytest.raises(ValueError):
        rnn_backward(h[:, :-1], cache)  # T - 1 steps of gradient
    x4, h4, Wx4, Wh4, b4 = rnn_params(rng, gates=4)
    with pytest.raises(ValueError):
        lstm_forward(x4, h4, Wx4[:, :-1], Wh4, b4)  # Wx (D, 4H - 1)
    with pytest.raises(ValueError):
        lstm_step_forward(x4[:, 0], h4, np.zeros((N, H + 1)), Wx4, Wh4, b4)  # prev_c
    with pytest.raises(ValueError):
        lstm_forward(x4, h4, Wx, Wh, b)  # RNN-sized weights given to the LSTM


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_sequence_classifier_gradients(rng, cell):
    """The chapter-5 model's loss gradients (last state -> affine -> softmax) are right."""
    from dlcourse.gradcheck import eval_numerical_gradient
    from dlcourse.models import SequenceClassifier

    model = SequenceClassifier(D, H, 3, rng, cell=cell)
    x, y = rng.normal(size=(N, T, D)), rng.integers(3, size=N)
    _, grads = model.loss(x, y)
    for name, w in model.params.items():
        num = eval_numerical_gradient(lambda _: model.loss(x, y)[0], w)
        assert grads[name].shape == w.shape, name
        assert rel_error(grads[name], num) < TOL, name
    assert model.predict(x).shape == (N,)
    with pytest.raises(ValueError):
        SequenceClassifier(D, H, 3, rng, cell="gru")
