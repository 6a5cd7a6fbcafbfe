"""Chapter 5's stacked and bidirectional recurrent layers: gradients against centred
differences for the RNN, LSTM and GRU cells, a one-layer stack and the two halves of the
bidirectional layer against rnn.py's sequence functions, parameter counts, shape errors."""

import numpy as np
import pytest

from dlcourse.gradcheck import eval_numerical_gradient_array, rel_error
from dlcourse.layers import (
    bidirectional_backward,
    bidirectional_forward,
    gru_backward,
    gru_forward,
    init_recurrent,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
    stacked_backward,
    stacked_forward,
)

CELLS = ["rnn", "lstm", "gru"]
SEQUENCE = {"rnn": (rnn_forward, rnn_backward, 1), "lstm": (lstm_forward, lstm_backward, 4),
            "gru": (gru_forward, gru_backward, 3)}
N, T, D, H1, H2 = 2, 4, 3, 4, 5
# float64, h = 1e-5: a correct gradient agrees to ~1e-8, but the element-wise maximum
# reaches ~1e-6 at entries of order 1e-5, where the centred difference's rounding error
# (~1e-11) is no longer small; a wrong gradient is off by > 1e-2.
TOL = 1e-5


def random_layers(rng, cell, sizes):
    """init_recurrent's weights with random biases too, so that db is checked off zero."""
    return [(Wx, Wh, rng.normal(scale=0.5, size=b.shape))
            for Wx, Wh, b in init_recurrent(cell, sizes, rng)]


def check_all(f, x, weights, dout, dx, dweights):
    """dx and every weight gradient against centred differences of sum(f() * dout)."""
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: f(), x, dout)) < TOL
    for w, dw in zip(weights, dweights, strict=True):
        assert dw.shape == w.shape
        num = eval_numerical_gradient_array(lambda v: f(), w, dout)  # f reads w in place
        assert rel_error(dw, num) < TOL


@pytest.mark.parametrize("cell", CELLS)
def test_stacked_backward_matches_numerical(rng, cell):
    x = rng.normal(size=(N, T, D))
    layers = random_layers(rng, cell, [D, H1, H2])
    h, cache = stacked_forward(x, layers, cell)
    assert h.shape == (N, T, H2)
    dout = rng.normal(size=h.shape)
    dx, grads = stacked_backward(dout, cache)
    assert len(grads) == 2
    check_all(lambda: stacked_forward(x, layers, cell)[0], x,
              [w for layer in layers for w in layer], dout, dx,
              [g for layer in grads for g in layer])


@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_backward_matches_numerical(rng, cell):
    x = rng.normal(size=(N, T, D))
    fwd, bwd = random_layers(rng, cell, [D, H1]) + random_layers(rng, cell, [D, H1])
    out, cache = bidirectional_forward(x, fwd, bwd, cell)
    assert out.shape == (N, T, 2 * H1)
    dout = rng.normal(size=out.shape)
    dx, dfwd, dbwd = bidirectional_backward(dout, cache)
    check_all(lambda: bidirectional_forward(x, fwd, bwd, cell)[0], x, [*fwd, *bwd], dout,
              dx, [*dfwd, *dbwd])


@pytest.mark.parametrize("cell", CELLS)
def test_one_layer_stack_is_the_sequence_function(rng, cell):
    forward, backward, _ = SEQUENCE[cell]
    x = rng.normal(size=(N, T, D))
    layers = random_layers(rng, cell, [D, H1])
    h, cache = stacked_forward(x, layers, cell)
    h_ref, cache_ref = forward(x, np.zeros((N, H1)), *layers[0])
    np.testing.assert_array_equal(h, h_ref)
    dout = rng.normal(size=h.shape)
    dx, [grads] = stacked_backward(dout, cache)
    dx_ref, _, *grads_ref = backward(dout, cache_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_array_equal(g, g_ref)


@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_halves_are_the_forward_and_the_reversed_run(rng, cell):
    forward, backward, _ = SEQUENCE[cell]
    x = rng.normal(size=(N, T, D))
    fwd, bwd = random_layers(rng, cell, [D, H1]) + random_layers(rng, cell, [D, H2])
    out, cache = bidirectional_forward(x, fwd, bwd, cell)
    h_f, cache_f = forward(x, np.zeros((N, H1)), *fwd)
    h_b, cache_b = forward(x[:, ::-1].copy(), np.zeros((N, H2)), *bwd)
    np.testing.assert_array_equal(out[:, :, :H1], h_f)
    np.testing.assert_array_equal(out[:, :, H1:], h_b[:, ::-1])
    # the backward state at the last step has read x_T alone
    np.testing.assert_array_equal(out[:, -1, H1:],
                                  forward(x[:, -1:], np.zeros((N, H2)), *bwd)[0][:, 0])
    dout = rng.normal(size=out.shape)
    dx, dfwd, dbwd = bidirectional_backward(dout, cache)
    dx_f, _, *dfwd_ref = backward(dout[:, :, :H1], cache_f)
    dx_b, _, *dbwd_ref = backward(dout[:, ::-1, H1:].copy(), cache_b)
    np.testing.assert_allclose(dx, dx_f + dx_b[:, ::-1], rtol=1e-13, atol=1e-15)
    for g, g_ref in zip([*dfwd, *dbwd], [*dfwd_ref, *dbwd_ref], strict=True):
        np.testing.assert_allclose(g, g_ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("cell", CELLS)
def test_parameter_counts(rng, cell):
    g = SEQUENCE[cell][2]
    sizes = [D, H1, H2, 2]
    layers = init_recurrent(cell, sizes, rng)
    for (D_in, H), layer in zip(zip(sizes[:-1], sizes[1:], strict=True), layers, strict=True):
        assert sum(w.size for w in layer) == g * H * (D_in + H + 1)
    h, cache = stacked_forward(rng.normal(size=(N, T, D)), layers, cell)
    _, grads = stacked_backward(np.ones_like(h), cache)
    assert [[dw.shape for dw in layer] for layer in grads] == \
        [[w.shape for w in layer] for layer in layers]
    if cell == "lstm":  # the forget gate's block (i, f, o, g) starts open
        assert all(np.all(b[H : 2 * H] == 1.0) and np.count_nonzero(b) == H
                   for (_, _, b), H in zip(layers, sizes[1:], strict=True))


def test_shape_errors(rng):
    x = rng.normal(size=(N, T, D))
    layers = init_recurrent("lstm", [D, H1, H2], rng)
    bad = [layers[0], (layers[1][0][:-1], *layers[1][1:])]  # layer 1 reads H1 - 1 inputs
    with pytest.raises(ValueError, match=r"layers\[1\] Wx must have shape \(4, 20\)"):
        stacked_forward(x, bad, "lstm")
    # LSTM-sized weights for a GRU: Wh (4, 16) says H = 4, so Wx must be (3, 3 * 4)
    with pytest.raises(ValueError, match=r"layers\[0\] Wx must have shape \(3, 12\), got"):
        stacked_forward(x, layers, "gru")
    with pytest.raises(ValueError, match="cell must be one of"):
        stacked_forward(x, layers, "LSTM")
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, D\)"):
        stacked_forward(x[:, 0], layers, "lstm")
    with pytest.raises(ValueError, match="at least one"):
        stacked_forward(x, [], "lstm")
    h, cache = stacked_forward(x, layers, "lstm")
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4, 5\)"):
        stacked_backward(h[:, :-1], cache)
    fwd, bwd = init_recurrent("gru", [D, H1], rng) + init_recurrent("gru", [D + 1, H1], rng)
    with pytest.raises(ValueError, match=r"bwd Wx must have shape \(3, 12\)"):
        bidirectional_forward(x, fwd, bwd, "gru")
    with pytest.raises(ValueError, match=r"fwd b must have shape \(12,\)"):
        bidirectional_forward(x, (*fwd[:2], fwd[2][:-1]), fwd, "gru")
    out, cache = bidirectional_forward(x, fwd, fwd, "gru")
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4, 8\)"):
        bidirectional_backward(out[..., :H1], cache)
