"""A GRU encoder-decoder, with or without additive (Bahdanau) attention. Chapter 6.

Encoder. Source ids (N, S) -> embedding src_embed (Vs, E) -> GRU enc_Wx (E, 3H),
enc_Wh (H, 3H), enc_b (3H,) -> states h_1..h_S (N, S, H). Sources are padded on the right:
the states at padded positions are computed but never used, because the summary is each
source's own last real state h_L (L = its length) and attention gives padded positions
weight 0. The encoder is unidirectional (Bahdanau et al. read the source both ways, so
that h_i also knows the words after i; here h_i knows only the prefix up to i).

Decoder, teacher forced. Inputs y_0 = BOS, y_1 .. y_{T-1} (tgt_in), embedding tgt_embed
(Vt, E); the state starts at s_0 = h_L in both variants, so attention is the only
difference between them.

* attention=False (Sutskever et al. 2014; Cho et al. 2014): everything the decoder learns
  about the source passes through the H numbers of h_L.
      s_t = GRU(E y_{t-1}, s_{t-1}),      logits_t = s_t W_out + b_out.
* attention=True (Bahdanau et al. 2015), att_W (H, A), att_U (H, A), att_v (A,):
      e_ti = v^T tanh(s_{t-1} W_a + h_i U_a)           scores (N, S)
      alpha_t = softmax_i(e_t) over the real positions  weights (N, S), 0 at padding
      c_t = sum_i alpha_ti h_i                          context (N, H)
      s_t = GRU([E y_{t-1}, c_t], s_{t-1}),  logits_t = [s_t, c_t] W_out + b_out.
  Simplified from the paper, and said here: no bias in the alignment MLP, s_0 = h_L
  rather than tanh(W_s h_1) of a backward encoder, and a linear output from [s_t, c_t]
  instead of a maxout layer over [s_t, E y_{t-1}, c_t].

The loss is softmax cross-entropy at the real target steps (dlcourse.lm.masked_softmax_loss
with tgt_mask), EOS included: the model must also learn where to stop.

Backward of one attention step. With dc = dL/dc_t, which arrives from the output layer
(the c_t half of [s_t, c_t]) and from the GRU's input (the c_t half of its x_t):
* value path: c_t = sum_i alpha_ti h_i gives dh_i += alpha_ti dc and
  dalpha_ti = h_i . dc;
* softmax: with alpha = softmax(e), de_ti = alpha_ti (dalpha_ti - sum_j alpha_tj dalpha_tj).
  Masked positions have alpha_ti = 0 exactly (their scores are -inf), so de_ti = 0 there:
  no gradient reaches a padded position, and the sum over j runs over real ones only;
* the MLP: with z_ti = s_{t-1} W_a + h_i U_a and p_ti = tanh(z_ti),
  dv += sum_i de_ti p_ti and dz_ti = de_ti v * (1 - p_ti^2); then the two paths of the
  scores: into the query, dW_a += s_{t-1}^T sum_i dz_ti and ds_{t-1} += (sum_i dz_ti) W_a^T,
  and into the keys k_i = h_i U_a, dk_i += dz_ti (summed over the T steps first, then
  dU_a = sum_i h_i^T dk_i and dh_i += dk_i U_a^T).
s_{t-1} therefore gets gradient from the GRU (as the previous state) and from the scores
of step t; h_i from the values and the keys of every step, and h_L also as s_0. The
encoder's BPTT (dlcourse.layers.rnn.gru_backward) then takes dh (N, S, H).
"""

import time

import numpy as np

from dlcourse.layers import rnn
from dlcourse.layers.embedding import embedding_backward, embedding_forward
from dlcourse.lm import masked_softmax_loss, recurrent_block
from dlcourse.optim import adam
from dlcourse.seq2seq_data import BOS, EOS, PAD, exact_match, make_batch, pad

# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


def init_params(src_vocab_size, tgt_vocab_size, hidden, embed, rng, attention,
                attn_dim=None, recurrent_init="orthogonal"):
    """Initial parameters (shapes in the module docstring); attn_dim A defaults to H.

    Weights are N(0, 1/fan_in) (embeddings N(0, 1), like a one-hot input), recurrent
    blocks orthogonal (dlcourse.lm.recurrent_block), biases zero.
    """
    Vs, Vt, H, E = src_vocab_size, tgt_vocab_size, hidden, embed
    A = attn_dim or H
    D = E + H if attention else E  # the decoder GRU also reads c_t
    O = 2 * H if attention else H  # the output layer also reads c_t

    def normal(*shape):
        return rng.normal(0.0, np.sqrt(1.0 / shape[0]), size=shape)

    def recurrent():
        return np.concatenate([recurrent_block(H, recurrent_init, rng) for _ in range(3)],
                              axis=1)

    params = {"src_embed": rng.normal(size=(Vs, E)), "enc_Wx": normal(E, 3 * H),
              "enc_Wh": recurrent(), "enc_b": np.zeros(3 * H),
              "tgt_embed": rng.normal(size=(Vt, E)), "dec_Wx": normal(D, 3 * H),
              "dec_Wh": recurrent(), "dec_b": np.zeros(3 * H),
              "W_out": normal(O, Vt), "b_out": np.zeros(Vt)}
    if attention:
        params |= {"att_W": normal(H, A), "att_U": normal(H, A), "att_v": normal(A)}
    return params


def has_attention(params):
    """Whether params are those of the attending variant."""
    return "att_v" in params


def param_count(params):
    """Total number of parameters (float entries) of a params dict."""
    return int(sum(np.size(w) for w in params.values()))


def count_params(src_vocab_size, tgt_vocab_size, hidden, embed, attention, attn_dim=None):
    """Parameters of init_params(...) without building it."""
    Vs, Vt, H, E = src_vocab_size, tgt_vocab_size, hidden, embed
    A = attn_dim or H
    D, O = (E + H, 2 * H) if attention else (E, H)
    n = Vs * E + 3 * H * (E + H + 1) + Vt * E + 3 * H * (D + H + 1) + O * Vt + Vt
    return n + (2 * H * A + A if attention else 0)


def matched_hidden(src_vocab_size, tgt_vocab_size, embed, n_params, attention,
                   attn_dim=None):
    """The hidden size H whose model has the parameter count nearest n_params (attn_dim
    fixed, or equal to H when None)."""
    H = np.arange(1, 2048)
    counts = np.array([count_params(src_vocab_size, tgt_vocab_size, h, embed, attention,
                                    attn_dim) for h in H])
    return int(H[np.argmin(np.abs(counts - n_params))])


# --------------------------------------------------------------------------------------
# Forward pieces
# --------------------------------------------------------------------------------------

def _lengths(src_mask):
    """Source lengths (N,) from a right-padded boolean mask; each source at least 1."""
    src_mask = np.asarray(src_mask, dtype=bool)
    lengths = src_mask.sum(axis=1)
    if (lengths < 1).any():
        raise ValueError("every source must hold at least one real position")
    if not np.array_equal(src_mask, np.arange(src_mask.shape[1]) < lengths[:, None]):
        raise ValueError("src_mask must be True on a prefix of each row (right padding)")
    return lengths


def encode(params, src, src_mask):
    """The encoder: states hs (N, S, H), the summary h_L (N, H) and a cache."""
    lengths = _lengths(src_mask)
    emb, emb_cache = embedding_forward(src, params["src_embed"])  # (N, S, E)
    N, S = np.shape(src)
    H = params["enc_Wh"].shape[0]
    hs, gru_cache = rnn.gru_forward(emb, np.zeros((N, H)), params["enc_Wx"],
                                    params["enc_Wh"], params["enc_b"])
    last = hs[np.arange(N), lengths - 1]  # each source's own last real state
    return hs, last, (emb_cache, gru_cache, lengths)


def _memory(params, hs, src_mask):
    """What every attention step reads: (hs, keys = hs U_a (N, S, A), mask), or None."""
    if not has_attention(params):
        return None
    N, S, H = hs.shape
    keys = (hs.reshape(N * S, H) @ params["att_U"]).reshape(N, S, -1)  # once, not per step
    return hs, keys, np.asarray(src_mask, dtype=bool)


def attend(params, s_prev, memory):
    """One additive-attention read: weights alpha (N, S), context c (N, H), and
    tanh(s_prev W_a + keys) (N, S, A) for the backward pass."""
    hs, keys, mask = memory
    pre = np.tanh(keys + (s_prev @ params["att_W"])[:, None, :])  # (N, S, A)
    scores = np.where(mask, pre @ params["att_v"], -np.inf)  # (N, S); padding -> -inf
    scores -= scores.max(axis=1, keepdims=True)
    alpha = np.exp(scores)  # exactly 0 at padding
    alpha /= alpha.sum(axis=1, keepdims=True)
    context = (alpha[:, None, :] @ hs)[:, 0]  # (N, H)
    return alpha, context, pre


def _attend_backward(dcontext, s_prev, memory, alpha, pre, params):
    """Gradients of attend (derivation in the module docstring): ds_prev (N, H),
    dhs (N, S, H) by the values, dkeys (N, S, A), datt_W (H, A), datt_v (A,)."""
    hs = memory[0]
    dhs = alpha[:, :, None] * dcontext[:, None, :]  # value path
    dalpha = (hs @ dcontext[:, :, None])[:, :, 0]  # (N, S)
    dscores = alpha * (dalpha - (alpha * dalpha).sum(axis=1, keepdims=True))  # 0 at padding
    dv = np.tensordot(dscores, pre, axes=([0, 1], [0, 1]))  # (A,)
    dz = dscores[:, :, None] * params["att_v"] * (1.0 - pre**2)  # (N, S, A)
    dq = dz.sum(axis=1)  # (N, A): the query s_prev W_a is shared by all positions
    return dq @ params["att_W"].T, dhs, dz, s_prev.T @ dq, dv


def decoder_step(params, y_prev, s_prev, memory):
    """One decoder step from the previous target ids y_prev (N,) and state s_prev (N, H).

    Returns the output layer's input o (N, H) or (N, 2H) = [s_t, c_t], the new state s_t
    (N, H), the attention weights alpha_t (N, S) (None without attention) and a cache.
    """
    e = params["tgt_embed"][y_prev]  # (N, E)
    alpha = context = pre = None
    x = e
    if memory is not None:
        alpha, context, pre = attend(params, s_prev, memory)
        x = np.concatenate([e, context], axis=1)  # (N, E + H)
    s, gru_cache = rnn.gru_step_forward(x, s_prev, params["dec_Wx"], params["dec_Wh"],
                                        params["dec_b"])
    o = s if memory is None else np.concatenate([s, context], axis=1)
    return o, s, alpha, (s_prev, gru_cache, alpha, pre)


def forward(params, src, src_mask, tgt_in):
    """Teacher-forced logits (N, T, Vt), the attention weights (N, T, S) (None without
    attention) and the cache for loss_and_grads."""
    hs, s, enc_cache = encode(params, src, src_mask)
    memory = _memory(params, hs, src_mask)
    tgt_in = np.asarray(tgt_in)
    N, T = tgt_in.shape
    outs, alphas, steps = [], [], []
    for t in range(T):
        o, s, alpha, cache = decoder_step(params, tgt_in[:, t], s, memory)
        outs.append(o)
        alphas.append(alpha)
        steps.append(cache)
    O = np.stack(outs, axis=1)  # (N, T, H or 2H)
    logits = O @ params["W_out"] + params["b_out"]  # (N, T, Vt)
    weights = np.stack(alphas, axis=1) if memory is not None else None
    return logits, weights, (hs, memory, enc_cache, steps, O, tgt_in)


# --------------------------------------------------------------------------------------
# Loss and gradients
# --------------------------------------------------------------------------------------

def loss_and_grads(params, batch):
    """Teacher-forced masked cross-entropy and the gradient of every parameter.

    Inputs:
        params: from init_params (either variant).
        batch: dict with src (N, S), src_mask (N, S), tgt_in (N, T), tgt_out (N, T),
            tgt_mask (N, T), as from dlcourse.seq2seq_data.make_batch.

    Returns:
        loss (float), grads (dict like params).
    """
    logits, _, (hs, memory, enc_cache, steps, O, tgt_in) = forward(
        params, batch["src"], batch["src_mask"], batch["tgt_in"])
    loss, dlogits = masked_softmax_loss(logits, batch["tgt_out"], batch["tgt_mask"])
    N, T, V = logits.shape
    S, H = hs.shape[1], hs.shape[2]
    E = params["tgt_embed"].shape[1]
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["W_out"] = O.reshape(N * T, -1).T @ dlogits.reshape(N * T, V)
    grads["b_out"] = dlogits.sum(axis=(0, 1))
    dO = dlogits @ params["W_out"].T  # (N, T, H or 2H)
    de = np.empty((N, T, E))  # gradient of the decoder's input embeddings
    dhs = np.zeros((N, S, H))
    dkeys = None if memory is None else np.zeros_like(memory[1])
    ds = np.zeros((N, H))  # gradient reaching s_t from step t + 1
    for t in reversed(range(T)):
        s_prev, gru_cache, alpha, pre = steps[t]
        dx, ds, dWx, dWh, db = rnn.gru_step_backward(dO[:, t, :H] + ds, gru_cache)
        grads["dec_Wx"] += dWx
        grads["dec_Wh"] += dWh
        grads["dec_b"] += db
        de[:, t] = dx[:, :E]
        if memory is not None:
            dcontext = dO[:, t, H:] + dx[:, E:]  # from the output layer and the GRU input
            ds_att, dhs_t, dz, dW, dv = _attend_backward(dcontext, s_prev, memory, alpha,
                                                         pre, params)
            ds += ds_att  # s_{t-1}: as the GRU's previous state and as the query
            dhs += dhs_t
            dkeys += dz
            grads["att_W"] += dW
            grads["att_v"] += dv
    grads["tgt_embed"] = embedding_backward(de, (tgt_in, params["tgt_embed"].shape))
    if memory is not None:  # keys = hs U_a
        A = dkeys.shape[2]
        grads["att_U"] = hs.reshape(N * S, H).T @ dkeys.reshape(N * S, A)
        dhs += dkeys @ params["att_U"].T
    emb_cache, gru_cache, lengths = enc_cache
    dhs[np.arange(N), lengths - 1] += ds  # s_0 = h_L
    demb, _, grads["enc_Wx"], grads["enc_Wh"], grads["enc_b"] = rnn.gru_backward(
        dhs, gru_cache)
    grads["src_embed"] = embedding_backward(demb, emb_cache)
    return loss, grads


# --------------------------------------------------------------------------------------
# Greedy decoding
# --------------------------------------------------------------------------------------

def greedy_decode(params, src, src_mask, max_len):
    """Decode a batch by taking the most likely token at every step, chapter 6.

    Each step feeds back the model's own previous output (starting from BOS); a row is
    finished at its first EOS, after which it holds PAD and zero attention.

    Inputs:
        params: the model; src (N, S), src_mask (N, S): a padded source batch.
        max_len: the most steps to decode (EOS included).

    Returns:
        ids (N, T') with T' <= max_len: the decoded ids, EOS included where emitted.
        weights (N, T', S): the attention weights of every step (None without attention).
    """
    hs, s, _ = encode(params, src, src_mask)
    memory = _memory(params, hs, src_mask)
    N, S = np.shape(src)
    y = np.full(N, BOS)
    done = np.zeros(N, dtype=bool)
    ids, alphas = [], []
    for _ in range(max_len):
        o, s, alpha, _ = decoder_step(params, y, s, memory)
        y = np.argmax(o @ params["W_out"] + params["b_out"], axis=1)
        ids.append(np.where(done, PAD, y))
        if memory is not None:
            alphas.append(np.where(done[:, None], 0.0, alpha))
        done |= y == EOS
        if done.all():
            break
    weights = np.stack(alphas, axis=1) if memory is not None else None
    return np.stack(ids, axis=1), weights


def translate(params, sources, src_vocab, tgt_vocab, max_len, batch_size=500):
    """Greedy translations (strings) of a list of source strings, in batches."""
    out = []
    for i in range(0, len(sources), batch_size):
        chunk = sources[i : i + batch_size]
        src, mask = pad([src_vocab.encode(s) for s in chunk])
        ids, _ = greedy_decode(params, src, mask, max_len)
        out += [tgt_vocab.decode(row) for row in ids]
    return out


def attention_map(params, source, src_vocab, tgt_vocab, max_len):
    """The greedy translation of one source string and its attention weights, for a plot.

    Returns:
        output: the decoded string.
        weights: (len(output) + 1, len(source)): row t is where the decoder looked while
            writing output[t]; the last row is the step that emitted EOS (if it did).
    """
    if not has_attention(params):
        raise ValueError("these parameters have no attention")
    src, mask = pad([src_vocab.encode(source)])
    ids, weights = greedy_decode(params, src, mask, max_len)
    output = tgt_vocab.decode(ids[0])
    return output, weights[0, : min(len(output) + 1, ids.shape[1])]


def evaluate(params, pairs, src_vocab, tgt_vocab, max_len):
    """Exact match (N,) bool of the greedy translations of (src, tgt) pairs."""
    predicted = translate(params, [s for s, _ in pairs], src_vocab, tgt_vocab, max_len)
    return exact_match(predicted, [t for _, t in pairs])


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------

def _epoch(rng, lengths, batch_size, pool=20):
    """One epoch of mini-batches (lists of indices), in random order.

    A random permutation is cut into pools of ``pool`` batches, and each pool is sorted by
    source length before it is cut into batches: a batch then holds sources of similar
    length and pads little (the encoder's cost is the longest source of the batch), while
    every pool, and so every part of training, still mixes all lengths. A last partial
    batch is dropped.
    """
    order = rng.permutation(len(lengths))
    size = pool * batch_size
    batches = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)
                    if i + batch_size <= len(chunk)]
    return [batches[i] for i in rng.permutation(len(batches))]


def train_seq2seq(task, attention, hidden, embed, attn_dim=None, batch_size=64, steps=1000,
                  lr=3e-3, lr_end=None, clip=1.0, seed=0, eval_every=250, n_eval=500,
                  max_len=None, params=None):
    """Train an encoder-decoder with teacher forcing, Adam and global-norm clipping.

    Every epoch draws a fresh permutation of the training pairs, cut into mini-batches of
    similar source lengths (_epoch), so that less of each batch is padding.

    Inputs:
        task: a dlcourse.seq2seq_data.Task (train, val, src_vocab, tgt_vocab are used).
        attention: the variant; hidden, embed, attn_dim: H, E, A.
        batch_size, steps, lr, clip, seed: mini-batch size, number of updates, Adam's
            learning rate, max global gradient norm, seed of the weights and the order.
        lr_end: if given, the learning rate decays geometrically from lr at the first
            update to lr_end at the last (large steps early, fine ones at the end).
        eval_every: greedy exact match on the first n_eval validation pairs is measured
            every this many steps (and at the end).
        max_len: longest decoding (default 1 + the longest target of the task).
        params: start from these instead of fresh ones (they are not changed).

    Returns:
        params: the trained parameters.
        history: dict of lists, one entry per evaluation: step, train_loss (mean since the
            previous evaluation), val_exact, and seconds (CPU time spent training so far,
            evaluation excluded).
    """
    rng = np.random.default_rng(seed)
    sv, tv = task.src_vocab, task.tgt_vocab
    params = ({k: v.copy() for k, v in params.items()} if params is not None
              else init_params(sv.size, tv.size, hidden, embed, rng, attention, attn_dim))
    max_len = max_len or 1 + max(len(t) for _, t in task.train + task.val)
    configs = {k: {"learning_rate": lr} for k in params}
    val = task.val[:n_eval]
    history = {"step": [], "train_loss": [], "val_exact": [], "seconds": []}
    lengths = np.array([len(s) for s, _ in task.train])
    batches, losses, seconds = [], [], 0.0
    for step in range(1, steps + 1):
        t0 = time.process_time()
        if not batches:
            batches = _epoch(rng, lengths, batch_size)
        batch = make_batch([task.train[i] for i in batches.pop()], sv, tv)
        loss, grads = loss_and_grads(params, batch)
        grads, _ = rnn.clip_by_global_norm(grads, clip)
        if lr_end is not None:
            rate = lr * (lr_end / lr) ** ((step - 1) / max(1, steps - 1))
            for config in configs.values():
                config["learning_rate"] = rate
        for name in params:
            params[name], configs[name] = adam(params[name], grads[name], configs[name])
        seconds += time.process_time() - t0
        losses.append(loss)
        if step % eval_every == 0 or step == steps:
            history["step"].append(step)
            history["train_loss"].append(float(np.mean(losses)))
            history["val_exact"].append(float(evaluate(params, val, sv, tv, max_len).mean()))
            history["seconds"].append(seconds)
            losses = []
    return params, history
