"""A character-level recurrent language model, trained by truncated BPTT. Chapter 5.

The model reads ids x (N, T) and predicts, at every step t, the next character y[:, t]:

    ids (N, T) -> embedding W_embed (V, E) -> (N, T, E)
               -> recurrent layer (cell "rnn", "lstm" or "gru"), H units -> (N, T, H)
               -> affine W_out (H, V), b_out (V,) -> logits (N, T, V)
               -> softmax cross-entropy, averaged over the N * T predictions.

Parameters live in a dict: W_embed (V, E), Wx (E, gH), Wh (H, gH), b (gH,), W_out (H, V),
b_out (V,), with g = 1, 4, 3 blocks for the RNN, LSTM and GRU (the block layouts of
``dlcourse.layers.rnn``); the cell is read off the shapes (``cell_of``). The recurrent
state is a tuple: (h,) for the RNN and the GRU, (h, c) for the LSTM, each (N, H).

Perplexity is exp(mean cross-entropy in nats): the number of equally likely characters the
model is, on average, as unsure between. A uniform guess over V characters scores V.
"""

import time

import numpy as np

from dlcourse.layers import rnn
from dlcourse.layers.embedding import embedding_backward, embedding_forward
from dlcourse.layers.fc import affine_backward, affine_forward
from dlcourse.layers.losses import softmax, softmax_loss
from dlcourse.optim import adam

CELLS = {"rnn": 1, "lstm": 4, "gru": 3}  # cell -> number of H-wide blocks in Wx, Wh, b
_SEQUENCE = {"rnn": (rnn.rnn_forward, rnn.rnn_backward),
             "lstm": (rnn.lstm_forward, rnn.lstm_backward),
             "gru": (rnn.gru_forward, rnn.gru_backward)}
_STEP = {"rnn": rnn.rnn_step_forward, "gru": rnn.gru_step_forward}


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------

def recurrent_block(H, init, rng, scale=1.0):
    """One (H, H) block of Wh: "normal" (N(0, 1/H)), "orthogonal" or "identity".

    Orthogonal and identity blocks have every singular value equal to 1 (times scale), so
    at initialisation the linear part of h_{t-1} -> h_t neither shrinks nor grows a
    gradient: the vanishing of chapter 5's gradient-vs-lag measurement starts later.
    """
    if init == "normal":
        return rng.normal(0.0, np.sqrt(1.0 / H), size=(H, H))
    if init == "orthogonal":
        q, r = np.linalg.qr(rng.normal(size=(H, H)))
        return scale * q * np.sign(np.diag(r))  # sign fix: uniform over orthogonal matrices
    if init == "identity":
        return scale * np.eye(H)  # Le, Jaitly & Hinton (2015), the "IRNN"
    raise ValueError(f"recurrent_init must be 'normal', 'orthogonal' or 'identity', "
                     f"got {init!r}")


def init_params(cell, vocab_size, hidden, embed, rng, recurrent_init="normal",
                recurrent_scale=1.0, forget_bias=1.0):
    """Initial parameters of a language model (shapes in the module docstring).

    Inputs:
        cell: "rnn", "lstm" or "gru".
        vocab_size, hidden, embed: V, H, E.
        rng: numpy Generator.
        recurrent_init: "normal", "orthogonal" or "identity", for each H x H block of Wh.
        recurrent_scale: gain of the orthogonal or identity blocks.
        forget_bias: initial bias of the LSTM's forget gate (1 keeps most of the cell state
            at first; chapter 5's long-range experiment).
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    g, V, H, E = CELLS[cell], vocab_size, hidden, embed
    b = np.zeros(g * H)
    if cell == "lstm":
        b[H : 2 * H] = forget_bias  # block order i, f, o, g
    return {
        "W_embed": rng.normal(0.0, 1.0, size=(V, E)),  # unit scale, like a one-hot input
        "Wx": rng.normal(0.0, np.sqrt(1.0 / E), size=(E, g * H)),
        "Wh": np.concatenate([recurrent_block(H, recurrent_init, rng, recurrent_scale)
                              for _ in range(g)], axis=1),
        "b": b,
        "W_out": rng.normal(0.0, np.sqrt(1.0 / H), size=(H, V)),
        "b_out": np.zeros(V),
    }


def cell_of(params):
    """The cell ("rnn", "lstm" or "gru") whose block count matches Wh (H, gH)."""
    H, gH = params["Wh"].shape
    for cell, g in CELLS.items():
        if gH == g * H:
            return cell
    raise ValueError(f"Wh of shape {params['Wh'].shape} fits no cell")


def param_count(params):
    """Total number of parameters (float entries) of a params dict."""
    return int(sum(np.size(w) for w in params.values()))


def lm_param_count(cell, vocab_size, hidden, embed):
    """Parameters of init_params(cell, V, H, E) without building it:
    V E + g H (E + H + 1) + H V + V."""
    g, V, H, E = CELLS[cell], vocab_size, hidden, embed
    return V * E + g * H * (E + H + 1) + H * V + V


def matched_hidden(vocab_size, embed, n_params):
    """For each cell, the hidden size H whose model has the parameter count nearest
    ``n_params`` (the count grows with H, so a short search over H finds it)."""
    out = {}
    for cell in CELLS:
        H = np.arange(1, 4096)
        counts = lm_param_count(cell, vocab_size, H, embed)
        out[cell] = int(H[np.argmin(np.abs(counts - n_params))])
    return out


def zero_state(cell, N, H):
    """The initial recurrent state: (h,) or (h, c) of zeros, each (N, H)."""
    return tuple(np.zeros((N, H)) for _ in range(2 if cell == "lstm" else 1))


def _as_state(cell, h0):
    """Accept h0 as an (N, H) array (c0 = 0 for the LSTM) or as a state tuple."""
    if isinstance(h0, tuple):
        return h0
    return (h0, np.zeros_like(h0)) if cell == "lstm" else (h0,)


# --------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------

def masked_softmax_loss(logits, y, mask):
    """Softmax cross-entropy averaged over the unmasked steps of a padded batch, chapter 5.

    With m_nt in {0, 1} and M = sum m_nt, the loss is L = (1/M) sum m_nt l_nt, so
    dL/dlogits_nt = (m_nt / M)(softmax(logits_nt) - onehot(y_nt)): a padded step adds
    nothing to the loss and receives exactly zero gradient, and real steps are weighted
    1/M, not 1/(N T), so padding does not dilute the gradient of short sequences.

    Inputs:
        logits: scores, shape (N, T, V).
        y: targets in [0, V), shape (N, T) (any value where mask is 0).
        mask: shape (N, T), 1 for a real step, 0 for padding; at least one 1.

    Returns:
        loss: float, mean cross-entropy over the unmasked steps.
        dlogits: shape (N, T, V), zero at masked steps.
    """
    N, T, V = logits.shape
    mask = np.asarray(mask).astype(bool)
    if mask.shape != (N, T) or np.shape(y) != (N, T):
        raise ValueError(f"y and mask must have shape {(N, T)}, got {np.shape(y)}, "
                         f"{mask.shape}")
    if not mask.any():
        raise ValueError("mask has no unmasked step")
    # softmax_loss averages over the rows it is given: give it only the real steps.
    loss, d_real = softmax_loss(logits[mask], np.asarray(y)[mask])
    dlogits = np.zeros_like(logits)
    dlogits[mask] = d_real
    return float(loss), dlogits


def _forward(params, x_ids, state):
    """Logits (N, T, V), the caches and the last state, from ids (N, T) and a state."""
    cell = cell_of(params)
    forward, _ = _SEQUENCE[cell]
    N, T = x_ids.shape
    emb, emb_cache = embedding_forward(x_ids, params["W_embed"])  # (N, T, E)
    extra = {"c0": state[1]} if cell == "lstm" else {}
    h, rec_cache = forward(emb, state[0], params["Wx"], params["Wh"], params["b"], **extra)
    H = h.shape[2]
    scores, out_cache = affine_forward(h.reshape(N * T, H), params["W_out"],
                                       params["b_out"])  # (N T, V)
    last = (h[:, -1].copy(), rnn.lstm_last_cell(rec_cache)) if cell == "lstm" else (
        h[:, -1].copy(),)
    return scores.reshape(N, T, -1), (emb_cache, rec_cache, out_cache, h.shape), last


def loss_and_grads(params, x_ids, y_ids, h0, mask=None):
    """Mean cross-entropy of predicting y_ids from x_ids, every gradient, and the last state.

    Inputs:
        params: from init_params.
        x_ids, y_ids: ids, shape (N, T); y_ids[:, t] is the character after x_ids[:, t].
        h0: initial state, an (N, H) array (with c0 = 0 for an LSTM) or a state tuple.
            It is a constant: no gradient is returned for it (truncated BPTT).
        mask: optional (N, T) of 0/1 for padded batches (masked_softmax_loss).

    Returns:
        loss (float), grads (dict like params), h_last (the state after step T, a tuple
        like zero_state's, to be carried into the next window).
    """
    cell = cell_of(params)
    x_ids, y_ids = np.asarray(x_ids), np.asarray(y_ids)
    logits, (emb_cache, rec_cache, out_cache, h_shape), last = _forward(
        params, x_ids, _as_state(cell, h0))
    loss, dlogits = masked_softmax_loss(logits, y_ids,
                                        np.ones(y_ids.shape) if mask is None else mask)
    N, T, V = logits.shape
    dh, dW_out, db_out = affine_backward(dlogits.reshape(N * T, V), out_cache)
    demb, _dh0, dWx, dWh, db = _SEQUENCE[cell][1](dh.reshape(h_shape), rec_cache)
    grads = {"W_embed": embedding_backward(demb, emb_cache), "Wx": dWx, "Wh": dWh, "b": db,
             "W_out": dW_out, "b_out": db_out}
    return loss, grads, last


# --------------------------------------------------------------------------------------
# Evaluation and sampling
# --------------------------------------------------------------------------------------

def _streams(ids, n_streams):
    """Cut ids (L,) into n_streams contiguous rows: inputs x and next characters y,
    each (n_streams, m) with m = (L - 1) // n_streams."""
    ids = np.asarray(ids)
    m = (len(ids) - 1) // n_streams
    if m < 1:
        raise ValueError(f"{len(ids)} ids are too few for {n_streams} streams")
    x = ids[: n_streams * m].reshape(n_streams, m)
    y = ids[1 : n_streams * m + 1].reshape(n_streams, m)
    return x, y


def perplexity(params, cell, ids, n_streams=16, window=200):
    """exp(mean cross-entropy) of predicting each next character of ids (L,).

    The text is read as n_streams contiguous streams (for speed; each starts from a zero
    state), window steps at a time with the state carried across windows, so each
    prediction sees the whole of its stream before it, as in training.
    """
    if cell_of(params) != cell:
        raise ValueError(f"params are of a {cell_of(params)}, not a {cell}")
    n_streams = max(1, min(n_streams, (len(ids) - 1) // 2))
    x, y = _streams(ids, n_streams)
    state = zero_state(cell, n_streams, params["Wh"].shape[0])
    total = 0.0
    for start in range(0, x.shape[1], window):
        logits, _, state = _forward(params, x[:, start : start + window], state)
        V = logits.shape[2]
        shifted = logits.reshape(-1, V) - logits.max(axis=2).reshape(-1, 1)
        log_z = np.log(np.exp(shifted).sum(axis=1))
        total += float(np.sum(log_z - shifted[np.arange(len(shifted)),
                                              y[:, start : start + window].reshape(-1)]))
    return float(np.exp(total / y.size))


def _step(params, cell, x_id, state):
    """One step of the model from one id: logits (V,) and the next state (batch of 1)."""
    e = params["W_embed"][[x_id]]  # (1, E)
    if cell == "lstm":
        h, c, _ = rnn.lstm_step_forward(e, *state, params["Wx"], params["Wh"], params["b"])
        state = (h, c)
    else:
        h, _ = _STEP[cell](e, state[0], params["Wx"], params["Wh"], params["b"])
        state = (h,)
    return (h @ params["W_out"] + params["b_out"])[0], state


def sample(params, cell, vocab, start, n, temperature=1.0, rng=None):
    """n characters drawn from the model after reading the string ``start``.

    At each step the next character is drawn from softmax(logits / temperature). A low
    temperature sharpens the distribution (lower entropy; temperature 0 means argmax,
    greedy decoding), 1 is the model's own distribution, a high one flattens it towards
    uniform (higher entropy).

    Inputs:
        params, cell: the model.
        vocab: a dlcourse.text.Vocabulary.
        start: a non-empty string of characters in vocab, read before sampling.
        n: number of characters to draw.
        temperature: >= 0.
        rng: numpy Generator (not used at temperature 0).

    Returns:
        the n drawn characters as a string (``start`` not included).
    """
    if not start:
        raise ValueError("start must hold at least one character")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    state = zero_state(cell, 1, params["Wh"].shape[0])
    for x_id in vocab.encode(start):
        logits, state = _step(params, cell, int(x_id), state)
    out = []
    for _ in range(n):
        if temperature == 0:
            nxt = int(np.argmax(logits))
        else:
            p = softmax((logits / temperature)[None])[0]
            nxt = int(rng.choice(len(p), p=p))
        out.append(nxt)
        logits, state = _step(params, cell, nxt, state)
    return vocab.decode(out)


# --------------------------------------------------------------------------------------
# Training by truncated BPTT
# --------------------------------------------------------------------------------------

def train_lm(cell, train_ids, val_ids, hidden, embed, seq_len, batch, steps, lr=3e-3,
             seed=0, clip=1.0, eval_every=100, vocab_size=None, params=None, **init):
    """Train a language model by truncated back-propagation through time, chapter 5.

    The training text is cut into ``batch`` contiguous streams, read side by side
    seq_len characters at a time. Each window starts from the state the previous window
    ended in, so the forward pass sees the whole stream; at the end of the streams they
    start again from the beginning, from a zero state. Gradients are clipped to a global
    norm of ``clip`` and applied by Adam (one state per parameter).

    Inputs:
        cell: "rnn", "lstm" or "gru".
        train_ids, val_ids: ids (L,) of the training and validation text.
        hidden, embed: H and E.
        seq_len, batch: window length T and number of streams N.
        steps: number of updates (windows).
        lr, seed, clip: Adam's learning rate, seed of the initial weights, max global norm.
        eval_every: validation perplexity is measured every this many steps (and last).
        vocab_size: V (default: 1 + the largest id in either text).
        params: start from these parameters instead of fresh ones (they are not changed).
        **init: passed to init_params (recurrent_init, recurrent_scale, forget_bias).

    Returns:
        params: the trained parameters.
        history: dict of lists, one entry per evaluation: step (updates done),
            val_ppl, train_loss (mean training loss since the previous evaluation) and
            seconds (CPU time of this process spent training so far, evaluation
            excluded: CPU time, not wall-clock, so that other work on a shared machine
            does not change the budget a comparison "at equal time" gives each cell).
    """
    rng = np.random.default_rng(seed)
    V = vocab_size or int(max(np.max(train_ids), np.max(val_ids))) + 1
    params = ({k: v.copy() for k, v in params.items()} if params is not None
              else init_params(cell, V, hidden, embed, rng, **init))
    configs = {k: {"learning_rate": lr} for k in params}
    x, y = _streams(train_ids, batch)  # (N, m) each
    n_windows = x.shape[1] // seq_len
    if n_windows < 1:
        raise ValueError(f"streams of {x.shape[1]} characters are shorter than seq_len")
    history = {"step": [], "val_ppl": [], "train_loss": [], "seconds": []}
    state, losses, seconds = zero_state(cell, batch, hidden), [], 0.0
    for step in range(steps):
        t0 = time.process_time()
        k = step % n_windows
        if k == 0:
            state = zero_state(cell, batch, hidden)  # back at the start of the streams
        window = slice(k * seq_len, (k + 1) * seq_len)
        # The carried state enters as a constant ("detached"): its gradient is not sent
        # back into the previous window. Back-propagating further would need every
        # earlier window's caches, so memory and time per update would grow with the
        # text read so far; truncating keeps both at seq_len steps, at the price of
        # learning no dependency longer than a window (the forward pass still carries
        # information across windows, only the credit assignment stops at the boundary).
        loss, grads, state = loss_and_grads(params, x[:, window], y[:, window], state)
        grads, _ = rnn.clip_by_global_norm(grads, clip)
        for name in params:
            params[name], configs[name] = adam(params[name], grads[name], configs[name])
        seconds += time.process_time() - t0
        losses.append(loss)
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            history["step"].append(step + 1)
            history["val_ppl"].append(perplexity(params, cell, val_ids))
            history["train_loss"].append(float(np.mean(losses)))
            history["seconds"].append(seconds)
            losses = []
    return params, history
