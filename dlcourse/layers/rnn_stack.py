"""Stacked and bidirectional recurrent layers, built from rnn.py's sequences. Chapter 5.

Both change the network's shape, not its cell; ``cell`` is "rnn", "lstm" or "gru", and a
layer's weights are rnn.py's (Wx (D, gH), Wh (H, gH), b (gH,)), g = 1, 4, 3 blocks. Every
recurrent layer here starts from zero states (and the LSTM from a zero cell state).

* stacked: layer l reads the states (N, T, H_{l-1}) of layer l - 1 (H_0 = D) as its input
  sequence; the output is the top layer's states (N, T, H_L). Layer l has
  g H_l (H_{l-1} + H_l + 1) parameters.
* bidirectional: a forward layer reads x_1 .. x_T, a backward layer x_T .. x_1; its states
  are reversed again, so that step t of both halves lines up, and the two are concatenated:
  out[:, t] = [h_fwd_t, h_bwd_t] of shape (N, T, H_f + H_b), h_fwd_t having read x_1 .. x_t
  and h_bwd_t x_t .. x_T.
"""

import numpy as np

from dlcourse.layers import rnn

# cell -> (sequence forward, its backward, number of H-wide blocks g)
_CELLS = {"rnn": (rnn.rnn_forward, rnn.rnn_backward, 1),
          "lstm": (rnn.lstm_forward, rnn.lstm_backward, 4),
          "gru": (rnn.gru_forward, rnn.gru_backward, 3)}


def _cell(cell):
    """The (forward, backward, g) of a cell name, or a ValueError naming the choices."""
    if cell not in _CELLS:
        raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
    return _CELLS[cell]


def _check_x(x):
    """Check x (N, T, D) with T >= 1; return its shape."""
    if np.ndim(x) != 3 or np.shape(x)[1] == 0:
        raise ValueError(f"x must have shape (N, T, D) with T >= 1, got {np.shape(x)}")
    return x.shape


def _check_layer(name, layer, D_in, g):
    """Check one layer's (Wx (D_in, gH), Wh (H, gH), b (gH,)); return H."""
    if len(layer) != 3:
        raise ValueError(f"{name} must be a tuple (Wx, Wh, b), got {len(layer)} items")
    Wx, Wh, b = layer
    if np.ndim(Wh) != 2:
        raise ValueError(f"{name} Wh must have shape (H, {g}H), got {np.shape(Wh)}")
    H = Wh.shape[0]
    for part, array, shape in (("Wx", Wx, (D_in, g * H)), ("Wh", Wh, (H, g * H)),
                               ("b", b, (g * H,))):
        if np.shape(array) != shape:
            raise ValueError(f"{name} {part} must have shape {shape}, "
                             f"got {np.shape(array)}")
    return H


def _check_dout(dout, shape):
    if np.shape(dout) != shape:
        raise ValueError(f"dout must have shape {shape}, got {np.shape(dout)}")


def init_recurrent(cell, sizes, rng, forget_bias=1.0):
    """Weights of a stack of recurrent layers of sizes D = sizes[0], H_1, ..., H_L.

    Wx ~ N(0, 1/H_{l-1}) and Wh ~ N(0, 1/H_l) keep the pre-activations of order 1;
    b = 0, except the LSTM's forget gate at ``forget_bias`` (as in dlcourse.lm).

    Returns:
        a list of L tuples (Wx (H_{l-1}, gH_l), Wh (H_l, gH_l), b (gH_l,)).
    """
    g = _cell(cell)[2]
    layers = []
    for D_in, H in zip(sizes[:-1], sizes[1:], strict=True):
        b = np.zeros(g * H)
        if cell == "lstm":
            b[H : 2 * H] = forget_bias  # block order i, f, o, g
        layers.append((rng.normal(0.0, np.sqrt(1.0 / D_in), size=(D_in, g * H)),
                       rng.normal(0.0, np.sqrt(1.0 / H), size=(H, g * H)), b))
    return layers


def stacked_forward(x, layers, cell):
    """A stack of L recurrent layers of one cell, chapter 5.

    Inputs:
        x: input sequences, shape (N, T, D).
        layers: list of L tuples (Wx (H_{l-1}, gH_l), Wh (H_l, gH_l), b (gH_l,)), H_0 = D.
        cell: "rnn", "lstm" or "gru".

    Returns:
        h: the top layer's states, shape (N, T, H_L).
        cache: for stacked_backward.
    """
    forward, _, g = _cell(cell)
    N, T, D = _check_x(x)
    if not layers:
        raise ValueError("layers must hold at least one (Wx, Wh, b)")
    h, caches = x, []
    for l, layer in enumerate(layers):
        H = _check_layer(f"layers[{l}]", layer, h.shape[2], g)
        h, cache = forward(h, np.zeros((N, H)), *layer)  # (N, T, H_l)
        caches.append(cache)
    return h, (cell, h.shape, caches)


def stacked_backward(dout, cache):
    """Backward pass of stacked_forward, chapter 5.

    The gradient of layer l's input is the upstream gradient of layer l - 1's states, so
    the layers are back-propagated through time from the top down.

    Inputs:
        dout: upstream gradient of the top states, shape (N, T, H_L).
        cache: from stacked_forward.

    Returns:
        dx (N, T, D) and a list of L tuples (dWx, dWh, db), shaped like ``layers``.
    """
    cell, shape, caches = cache
    _check_dout(dout, shape)
    backward = _CELLS[cell][1]
    grads = []
    for layer_cache in reversed(caches):
        dout, _dh0, dWx, dWh, db = backward(dout, layer_cache)
        grads.append((dWx, dWh, db))
    return dout, grads[::-1]


def bidirectional_forward(x, fwd, bwd, cell):
    """A bidirectional recurrent layer, chapter 5.

    Inputs:
        x: input sequences, shape (N, T, D).
        fwd, bwd: (Wx (D, gH_f), Wh (H_f, gH_f), b (gH_f,)) of the forward layer and
            likewise of the backward one (usually H_b = H_f = H).
        cell: "rnn", "lstm" or "gru".

    Returns:
        out: shape (N, T, H_f + H_b); out[:, t] = [forward state after x_1 .. x_t,
            backward state after x_T .. x_t].
        cache: for bidirectional_backward.
    """
    forward, _, g = _cell(cell)
    N, T, D = _check_x(x)
    H_f = _check_layer("fwd", fwd, D, g)
    H_b = _check_layer("bwd", bwd, D, g)
    h_f, cache_f = forward(x, np.zeros((N, H_f)), *fwd)
    h_b, cache_b = forward(x[:, ::-1], np.zeros((N, H_b)), *bwd)  # runs from x_T to x_1
    # h_b[:, s] has read x_T .. x_{T-s}: reversing it puts the state that ends at x_t at t
    out = np.concatenate([h_f, h_b[:, ::-1]], axis=2)
    return out, (cell, out.shape, H_f, cache_f, cache_b)


def bidirectional_backward(dout, cache):
    """Backward pass of bidirectional_forward, chapter 5.

    The upstream gradient splits into its two halves. The forward half is the forward
    layer's dh as it is; the backward half is reversed in time before the backward layer's
    BPTT, and the dx that comes out of it is reversed back. x feeds both layers, so dx is
    the sum of the two.

    Inputs:
        dout: upstream gradient, shape (N, T, H_f + H_b).
        cache: from bidirectional_forward.

    Returns:
        dx (N, T, D), dfwd = (dWx, dWh, db) of the forward layer, dbwd likewise.
    """
    cell, shape, H_f, cache_f, cache_b = cache
    _check_dout(dout, shape)
    backward = _CELLS[cell][1]
    dx_f, _, *dfwd = backward(dout[:, :, :H_f], cache_f)
    dx_b, _, *dbwd = backward(dout[:, ::-1, H_f:], cache_b)
    return dx_f + dx_b[:, ::-1], tuple(dfwd), tuple(dbwd)
