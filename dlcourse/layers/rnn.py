"""Recurrent layers: the simple RNN, the LSTM, and gradient clipping. Derived in chapter 5.

Sequences are batches of shape (N, T, D): N sequences of T steps, each step a D-vector.
The hidden state has H units (H is never a height here). One cell, with the same weights,
is applied at every step:

* simple RNN:  h_t = tanh(x_t Wx + h_{t-1} Wh + b), Wx (D, H), Wh (H, H), b (H,);
* LSTM:        a = x_t Wx + h_{t-1} Wh + b with Wx (D, 4H), Wh (H, 4H), b (4H,), split into
  four blocks of H in the order i, f, o, g (input, forget, output gate, candidate);
  c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t), with sigmoid gates and g = tanh(.);
* GRU:         Wx (D, 3H), Wh (H, 3H), b (3H,) in blocks r, z, n (reset, update,
  candidate), the reset gate applied before the recurrent product (problem set 5's
  convention); h_t = (1 - z) * n + z * h_{t-1}.

Each layer comes in two levels, CS231n-style: ``*_step_forward/backward`` for one step and
``*_forward/backward`` over the whole sequence (back-propagation through time). Because the
weights are shared by all steps, their gradients are sums over the steps.
"""

import numpy as np


def _check(name, array, shape):
    """Raise ValueError unless ``array.shape`` equals ``shape``."""
    if np.shape(array) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {np.shape(array)}")


def _check_weights(Wx, Wh, b, gates):
    """Check Wx (D, gates*H), Wh (H, gates*H), b (gates*H,); return D, H."""
    if np.ndim(Wx) != 2 or np.ndim(Wh) != 2:
        raise ValueError(f"Wx and Wh must be matrices, got shapes {np.shape(Wx)}, "
                         f"{np.shape(Wh)}")
    D, H = Wx.shape[0], Wh.shape[0]
    _check("Wx", Wx, (D, gates * H))
    _check("Wh", Wh, (H, gates * H))
    _check("b", b, (gates * H,))
    return D, H


def _check_step(x, states, Wx, Wh, b, gates):
    """Check one step's x (N, D) and states {name: (N, H)} against the weights."""
    D, H = _check_weights(Wx, Wh, b, gates)
    _check("x", x, (len(x), D))
    for name, state in states.items():
        _check(name, state, (len(x), H))


def _check_sequence(x, h0, Wx, Wh, b, gates):
    """Check a sequence x (N, T, D) and h0 (N, H) against the weights; return N, T, D, H."""
    D, H = _check_weights(Wx, Wh, b, gates)
    if np.ndim(x) != 3:
        raise ValueError(f"x must have shape (N, T, D), got {np.shape(x)}")
    N, T, _ = x.shape
    _check("x", x, (N, T, D))
    _check("h0", h0, (N, H))
    return N, T, D, H


# --------------------------------------------------------------------------------------
# Simple (Elman) RNN
# --------------------------------------------------------------------------------------

def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One step of a simple RNN with tanh, chapter 5: next_h = tanh(x Wx + prev_h Wh + b).

    Inputs:
        x: inputs at this step, shape (N, D).
        prev_h: hidden state of the previous step, shape (N, H).
        Wx: input-to-hidden weights, shape (D, H).
        Wh: hidden-to-hidden (recurrent) weights, shape (H, H).
        b: bias, shape (H,).

    Returns:
        next_h: next hidden state, shape (N, H).
        cache: what rnn_step_backward needs.
    """
    _check_step(x, {"prev_h": prev_h}, Wx, Wh, b, gates=1)
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)  # (N, H)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    """Backward pass of one RNN step, chapter 5.

    Inputs:
        dnext_h: upstream gradient dL/dnext_h, shape (N, H).
        cache: from rnn_step_forward.

    Returns:
        dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, prev_h, Wx, Wh, next_h = cache
    _check("dnext_h", dnext_h, next_h.shape)
    da = dnext_h * (1.0 - next_h**2)  # (N, H) through tanh: 1 - tanh^2
    dx = da @ Wx.T  # (N, D)
    dprev_h = da @ Wh.T  # (N, H)
    dWx = x.T @ da  # (D, H)
    dWh = prev_h.T @ da  # (H, H)
    db = da.sum(axis=0)  # (H,)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    """A simple RNN over a whole sequence, chapter 5: the step applied T times.

    Inputs:
        x: input sequences, shape (N, T, D).
        h0: initial hidden state, shape (N, H).
        Wx (D, H), Wh (H, H), b (H,): as in rnn_step_forward, shared by all steps.

    Returns:
        h: hidden states of all steps, shape (N, T, H) (h[:, t] is h_{t+1}; h0 not included).
        cache: the list of the T step caches.
    """
    N, T, D, H = _check_sequence(x, h0, Wx, Wh, b, gates=1)
    h = np.empty((N, T, H))
    caches = []
    prev_h = h0
    for t in range(x.shape[1]):
        prev_h, step_cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(step_cache)
    return h, caches


def rnn_backward(dh, cache):
    """Back-propagation through time for rnn_forward, chapter 5.

    Inputs:
        dh: upstream gradients of all hidden states, shape (N, T, H); dh[:, t] is the
            gradient that reaches h_{t+1} from outside the recurrence (e.g. from a loss at
            that step), not counting the path through later steps.
        cache: from rnn_forward.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,); the weight gradients are
        sums over the T steps.
    """
    caches = cache
    if not caches:
        raise ValueError("rnn_backward needs a sequence of at least one step")
    x0, _, Wx, Wh, _ = caches[0]
    N, D = x0.shape
    H = Wh.shape[0]
    T = len(caches)
    _check("dh", dh, (N, T, H))
    dx = np.empty((N, T, D))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    dprev = np.zeros((N, H))  # gradient arriving at h_t from step t + 1
    for t in range(T - 1, -1, -1):  # from the last step back to the first
        dx[:, t], dprev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev, dWx, dWh, db


# --------------------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------------------

def _lstm_cell(a, prev_c):
    """The LSTM's gates and state update from its pre-activations.

    a (N, 4H) holds the blocks i, f, o, g. Returns next_h (N, H),
    next_c (N, H) and (i, f, o, g, prev_c, tanh(next_c)).
    """
    H = a.shape[1] // 4
    # sigmoid(z) = (1 + tanh(z / 2)) / 2 exactly: no overflow, and one call
    # for all 3 gates.
    gates = 0.5 * (1.0 + np.tanh(0.5 * a[:, : 3 * H]))  # (N, 3H)
    i, f, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]  # (N, H)
    g = np.tanh(a[:, 3 * H :])  # (N, H) candidate
    next_c = f * prev_c + i * g  # (N, H) additive state update
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c  # (N, H)
    return next_h, next_c, (i, f, o, g, prev_c, tanh_c)


def _lstm_cell_backward(dnext_h, dnext_c, gates):
    """Backward of _lstm_cell: returns da (N, 4H) and dprev_c (N, H)."""
    i, f, o, g, prev_c, tanh_c = gates
    do = dnext_h * tanh_c
    dc = dnext_c + dnext_h * o * (1.0 - tanh_c**2)  # both paths into c_t
    di, df, dg = dc * g, dc * prev_c, dc * i
    dprev_c = dc * f
    da = np.concatenate([di * i * (1.0 - i), df * f * (1.0 - f),
                         do * o * (1.0 - o), dg * (1.0 - g**2)],
                        axis=1)  # (N, 4H)
    return da, dprev_c


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step, chapter 5.

    a = x Wx + prev_h Wh + b, split into blocks i, f, o, g of H columns each;
    i, f, o = sigmoid(.), g = tanh(.); next_c = f * prev_c + i * g;
    next_h = o * tanh(next_c).

    Inputs:
        x: inputs, shape (N, D).
        prev_h, prev_c: previous hidden and cell state, shape (N, H) each.
        Wx: input weights, shape (D, 4H).
        Wh: recurrent weights, shape (H, 4H).
        b: bias, shape (4H,).

    Returns:
        next_h (N, H), next_c (N, H), cache for lstm_step_backward.
    """
    _check_step(x, {"prev_h": prev_h, "prev_c": prev_c}, Wx, Wh, b, gates=4)
    a = x @ Wx + prev_h @ Wh + b  # (N, 4H)
    next_h, next_c, gates = _lstm_cell(a, prev_c)
    return next_h, next_c, (x, prev_h, Wx, Wh, gates)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of one LSTM step, chapter 5.

    Inputs:
        dnext_h, dnext_c: upstream gradients of next_h and next_c, (N, H)
            each.
        cache: from lstm_step_forward.

    Returns:
        dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H),
        db (4H,).
    """
    x, prev_h, Wx, Wh, gates = cache
    _check("dnext_h", dnext_h, prev_h.shape)
    _check("dnext_c", dnext_c, prev_h.shape)
    # da (N, 4H), dprev_c (N, H)
    da, dprev_c = _lstm_cell_backward(dnext_h, dnext_c, gates)
    return (da @ Wx.T, da @ Wh.T, dprev_c,
            x.T @ da, prev_h.T @ da, da.sum(axis=0))


def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    """An LSTM over a whole sequence, chapter 5; the cell state starts at c0 (default 0).

    The input products x_t Wx of all steps are one matrix multiply,
    (N*T, D) @ (D, 4H), done before the loop; only h_{t-1} Wh must wait for
    the previous step.

    Inputs:
        x: input sequences, shape (N, T, D).
        h0: initial hidden state, shape (N, H).
        Wx (D, 4H), Wh (H, 4H), b (4H,): as in lstm_step_forward, shared by
            all steps.
        c0: initial cell state, shape (N, H), or None for zeros. A language model
            carries it over from the previous window as a constant: lstm_backward
            returns no gradient for it (see lstm_last_cell).

    Returns:
        h: hidden states of all steps, shape (N, T, H).
        cache: for lstm_backward.
    """
    N, T, D, H = _check_sequence(x, h0, Wx, Wh, b, gates=4)
    if c0 is not None:
        _check("c0", c0, (N, H))
    # (N, T, 4H): the input products of all steps
    ax = (x.reshape(N * T, D) @ Wx).reshape(N, T, 4 * H) + b
    hs = np.empty((N, T, H))  # all hidden states
    c = np.zeros((N, H)) if c0 is None else c0  # cell state
    gates = []
    for t in range(T):
        a = ax[:, t] + (hs[:, t - 1] if t else h0) @ Wh  # (N, 4H)
        hs[:, t], c, step_gates = _lstm_cell(a, c)
        gates.append(step_gates)
    return hs, (x, h0, hs, Wx, Wh, gates)


def lstm_last_cell(cache):
    """The last cell state c_T (N, H) of an lstm_forward, from its cache.

    c_T = f_T * c_{T-1} + i_T * g_T, recomputed from the last step's gates (the
    forward pass keeps tanh(c_T), not c_T, and arctanh would lose precision).
    """
    i, f, _, g, prev_c, _ = cache[-1][-1]
    return f * prev_c + i * g


def lstm_backward(dh, cache):
    """Back-propagation through time for lstm_forward, chapter 5.

    Inputs:
        dh: upstream gradients of all hidden states, shape (N, T, H) (as in
            rnn_backward).
        cache: from lstm_forward.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, h0, hs, Wx, Wh, gates = cache
    _check("dh", dh, hs.shape)
    N, T, D = x.shape
    H = h0.shape[1]
    da = np.empty((N, T, 4 * H))
    dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        da[:, t], dprev_c = _lstm_cell_backward(dh[:, t] + dprev_h, dprev_c,
                                                gates[t])
        dprev_h = da[:, t] @ Wh.T  # (N, H)
    # The weights are shared by all steps: one product each sums their
    # gradients over t.
    da_flat = da.reshape(N * T, 4 * H)
    h_prev = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)
    h_prev = h_prev.reshape(N * T, H)
    dx = (da_flat @ Wx.T).reshape(N, T, D)
    dWx = x.reshape(N * T, D).T @ da_flat  # (D, 4H)
    dWh = h_prev.T @ da_flat  # (H, 4H)
    return dx, dprev_h, dWx, dWh, da_flat.sum(axis=0)

# --------------------------------------------------------------------------------------
# GRU
# --------------------------------------------------------------------------------------

def _sigmoid(a):
    """Logistic sigmoid via tanh, exact and overflow-free (as in _lstm_cell)."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def gru_step_forward(x, prev_h, Wx, Wh, b):
    """One GRU step (Cho et al., 2014), chapter 5 and problem set 5's convention.

    Wx (D, 3H), Wh (H, 3H), b (3H,) are split into column blocks r, z, n (reset, update,
    candidate). r = sigmoid(x Wx^r + prev_h Wh^r + b^r), z likewise,
    n = tanh(x Wx^n + (r * prev_h) Wh^n + b^n): the reset gate acts before the recurrent
    product; next_h = (1 - z) * n + z * prev_h: z = 1 keeps the old state.

    Inputs:
        x: inputs, shape (N, D).
        prev_h: previous hidden state, shape (N, H).
        Wx (D, 3H), Wh (H, 3H), b (3H,): the weights, blocks [r | z | n].

    Returns:
        next_h (N, H), cache for gru_step_backward.
    """
    _check_step(x, {"prev_h": prev_h}, Wx, Wh, b, gates=3)
    next_h, gates = _gru_cell(x @ Wx + b, prev_h, *_gru_blocks(Wh))
    return next_h, (x, prev_h, Wx, Wh, gates)


def _gru_blocks(Wh):
    """Wh (H, 3H) as contiguous copies of its gate blocks [r | z] (H, 2H) and n (H, H).

    A column slice of Wh is a strided view; BLAS would copy it at every step, so the
    sequence functions copy once, before the loop.
    """
    H = Wh.shape[0]
    return np.ascontiguousarray(Wh[:, : 2 * H]), np.ascontiguousarray(Wh[:, 2 * H :])


def _gru_cell(ax, prev_h, Wh_rz, Wh_n):
    """The GRU's update from the input's share ax = x Wx + b (N, 3H) of the blocks.

    Wh_rz (H, 2H), Wh_n (H, H) are the blocks of Wh. Returns next_h (N, H) and
    (r, z, n, prev_h, r * prev_h).
    """
    H = prev_h.shape[1]
    rz = _sigmoid(ax[:, : 2 * H] + prev_h @ Wh_rz)  # (N, 2H)
    r, z = rz[:, :H], rz[:, H:]
    rh = r * prev_h  # (N, H) the reset state the candidate reads
    n = np.tanh(ax[:, 2 * H :] + rh @ Wh_n)  # (N, H)
    return (1.0 - z) * n + z * prev_h, (r, z, n, prev_h, rh)


def _gru_cell_backward(dnext_h, gates, Wh_rz, Wh_n):
    """Backward of _gru_cell: da (N, 3H) at the pre-activations and dprev_h (N, H).

    prev_h reaches next_h along four paths (kept by z, through r, through z, through
    r * prev_h in the candidate); their gradients add up.
    """
    r, z, n, prev_h, _ = gates
    dan = dnext_h * (1.0 - z) * (1.0 - n**2)  # (N, H) at the tanh's argument
    drh = dan @ Wh_n.T  # at r * prev_h
    dar = drh * prev_h * r * (1.0 - r)
    daz = dnext_h * (prev_h - n) * z * (1.0 - z)
    da_rz = np.concatenate([dar, daz], axis=1)  # (N, 2H)
    dprev_h = dnext_h * z + drh * r + da_rz @ Wh_rz.T
    return np.concatenate([da_rz, dan], axis=1), dprev_h  # da (N, 3H)


def gru_step_backward(dnext_h, cache):
    """Backward pass of one GRU step, chapter 5.

    Inputs:
        dnext_h: upstream gradient of next_h, shape (N, H).
        cache: from gru_step_forward.

    Returns:
        dx (N, D), dprev_h (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,).
    """
    x, prev_h, Wx, Wh, gates = cache
    _check("dnext_h", dnext_h, prev_h.shape)
    da, dprev_h = _gru_cell_backward(dnext_h, gates, *_gru_blocks(Wh))
    rh, H = gates[4], prev_h.shape[1]
    # the candidate's block of Wh multiplies r * prev_h, not prev_h
    dWh = np.concatenate([prev_h.T @ da[:, : 2 * H], rh.T @ da[:, 2 * H :]], axis=1)
    return da @ Wx.T, dprev_h, x.T @ da, dWh, da.sum(axis=0)


def gru_forward(x, h0, Wx, Wh, b):
    """A GRU over a whole sequence, chapter 5 (gru_step_forward applied T times).

    As in lstm_forward, the input products x_t Wx of all steps are one matrix multiply
    before the loop.

    Inputs:
        x: input sequences, shape (N, T, D).
        h0: initial hidden state, shape (N, H).
        Wx (D, 3H), Wh (H, 3H), b (3H,): as in gru_step_forward, shared by all steps.

    Returns:
        h: hidden states of all steps, shape (N, T, H).
        cache: for gru_backward.
    """
    N, T, D, H = _check_sequence(x, h0, Wx, Wh, b, gates=3)
    ax = (x.reshape(N * T, D) @ Wx).reshape(N, T, 3 * H) + b  # (N, T, 3H)
    hs = np.empty((N, T, H))
    gates = []
    blocks = _gru_blocks(Wh)
    for t in range(T):
        hs[:, t], step_gates = _gru_cell(ax[:, t], hs[:, t - 1] if t else h0, *blocks)
        gates.append(step_gates)
    return hs, (x, h0, hs, Wx, Wh, gates)


def gru_backward(dh, cache):
    """Back-propagation through time for gru_forward, chapter 5.

    Inputs:
        dh: upstream gradients of all hidden states, shape (N, T, H) (as in rnn_backward).
        cache: from gru_forward.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,).
    """
    x, h0, hs, Wx, Wh, gates = cache
    _check("dh", dh, hs.shape)
    N, T, D = x.shape
    H = h0.shape[1]
    da = np.empty((N, T, 3 * H))
    dprev_h = np.zeros((N, H))
    blocks = _gru_blocks(Wh)
    for t in reversed(range(T)):
        da[:, t], dprev_h = _gru_cell_backward(dh[:, t] + dprev_h, gates[t], *blocks)
    # Shared weights: one product per block sums the gradients over t.
    da_flat = da.reshape(N * T, 3 * H)
    h_prev = np.concatenate([h0[:, None], hs[:, :-1]], axis=1).reshape(N * T, H)
    rh = np.stack([g[4] for g in gates], axis=1).reshape(N * T, H)
    dWh = np.concatenate([h_prev.T @ da_flat[:, : 2 * H], rh.T @ da_flat[:, 2 * H :]],
                         axis=1)
    dx = (da_flat @ Wx.T).reshape(N, T, D)
    return dx, dprev_h, x.reshape(N * T, D).T @ da_flat, dWh, da_flat.sum(axis=0)


# --------------------------------------------------------------------------------------
# Gradient clipping
# --------------------------------------------------------------------------------------

def clip_by_global_norm(grads, max_norm):
    """Rescale a set of gradients so that their joint L2 norm is at most max_norm, chapter 5.

    The global norm is sqrt(sum over all arrays of sum of squares). Below max_norm the
    gradients are returned unchanged; above it every array is multiplied by
    max_norm / norm, so the direction of the whole update is kept.

    Inputs:
        grads: dict name -> gradient array (any shapes).
        max_norm: threshold, > 0.

    Returns:
        clipped: a new dict with the same keys (the inputs are not modified).
        norm: the global norm before clipping (float).
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    norm = float(np.sqrt(sum(np.sum(np.square(g)) for g in grads.values())))
    scale = max_norm / norm if norm > max_norm else 1.0
    return {name: g * scale for name, g in grads.items()}, norm
