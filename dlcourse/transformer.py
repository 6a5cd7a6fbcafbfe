"""The encoder-decoder Transformer and a decoder-only character language model, with every
gradient by hand. Chapter 6.

Seq2SeqTransformer (Vaswani et al., 2017):

    src (N, S) -> E[src] sqrt(d) + PE -> dropout -> N_enc encoder blocks [-> LN] = memory
    tgt_in (N, T) -> E[tgt_in] sqrt(d) + PE -> dropout
                  -> N_dec decoder blocks (causal self-attention, cross-attention to
                     memory) [-> LN] = h (N, T, d)
    logits = h E^T (N, T, V) -> label-smoothed cross-entropy against tgt_out

One matrix E (V, d) is the source embedding, the target embedding and the output
projection ("tied" weights, Press & Wolf, 2017): its gradient is the sum of its three
uses. E is drawn with standard deviation d^-1/2, so that h E^T, with h layer-normalised
(entries of unit scale), has logits of unit scale; the lookups are multiplied by sqrt(d),
which brings them back to unit-scale entries, the scale of the positional encoding they
are added to. The bracketed final layer norms belong to the pre-norm form only
(``dlcourse.layers.transformer_blocks``).

Conventions: token id ``pad_id`` (default 0) is padding; sequences are padded on the
right. ``tgt_in`` is the target with a begin-of-sequence symbol in front, ``tgt_out`` the
target followed by an end-of-sequence symbol (``make_batch``). The loss is the mean over
the real (non-pad) target tokens. Dropout acts only when an rng is given: ``loss(...,
rng=None)`` and all the inference functions are deterministic.

Parameter names: ``E``; ``enc{l}.{name}`` and ``dec{l}.{name}`` with the block names of
``dlcourse.layers.transformer_blocks``; with pre-norm also ``enc_norm.gamma``,
``enc_norm.beta``, ``dec_norm.gamma``, ``dec_norm.beta``.
"""

import time

import numpy as np

from dlcourse.layers.attention import causal_mask, positional_encoding
from dlcourse.layers.dropout import dropout_backward, dropout_forward
from dlcourse.layers.embedding import embedding_backward, embedding_forward
from dlcourse.layers.label_smoothing import label_smoothed_loss
from dlcourse.layers.rnn import clip_by_global_norm
from dlcourse.layers.transformer_blocks import (
    NORMS,
    block_attention_weights,
    decoder_block_backward,
    decoder_block_forward,
    decoder_self_mask,
    encoder_block_backward,
    encoder_block_forward,
    padding_mask,
    sequence_layernorm_backward,
    sequence_layernorm_forward,
)
from dlcourse.optim import adam

# --------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------


def noam_schedule(step, d, warmup, factor=1.0):
    """Learning rate of Vaswani et al. (2017): factor d^-0.5 min(step^-0.5, step warmup^-1.5).

    It rises linearly for ``warmup`` steps, peaks at factor (d warmup)^-0.5 at step =
    warmup, then decays as step^-0.5. Steps count from 1.
    """
    if step < 1:
        raise ValueError(f"steps count from 1, got {step}")
    return factor * d ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


def block_params(rng, d, d_ff, cross=False):
    """Initial parameters of one block: weights N(0, 1/fan_in), biases 0, layer norms
    gamma 1, beta 0; with ``cross`` also the cross-attention's (prefix cross_)."""
    def init(n_in, n_out):
        return rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_in, n_out))

    names = ["", "cross_"] if cross else [""]
    p = {}
    for pre in names:
        p.update({f"{pre}{w}": init(d, d) for w in ("Wq", "Wk", "Wv", "Wo")})
        p.update({f"{pre}{b}": np.zeros(d) for b in ("bq", "bk", "bv", "bo")})
    p.update(W1=init(d, d_ff), b1=np.zeros(d_ff), W2=init(d_ff, d), b2=np.zeros(d))
    for g, b in (("gamma1", "beta1"), ("gamma2", "beta2")) + (
            (("cross_gamma", "cross_beta"),) if cross else ()):
        p[g], p[b] = np.ones(d), np.zeros(d)
    return p


def _sub(params, prefix):
    """The entries of params named prefix.<name>, keyed by <name>."""
    start = prefix + "."
    return {k[len(start):]: v for k, v in params.items() if k.startswith(start)}


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class _TiedTransformer:
    """Embedding (times sqrt(d)) + positions + dropout in, h E^T out; shared by both
    models. Subclasses set params (with "E"), d, p_drop."""

    def _embed(self, tokens, rng):
        t = tokens.shape[1]
        rows, c_emb = embedding_forward(tokens, self.params["E"])           # (N, T, d)
        x = rows * np.sqrt(self.d) + positional_encoding(t, self.d)
        x, c_drop = dropout_forward(x, self.p_drop, rng, rng is not None)
        return x, (c_emb, c_drop)

    def _embed_backward(self, dx, cache):
        c_emb, c_drop = cache
        return embedding_backward(dropout_backward(dx, c_drop) * np.sqrt(self.d), c_emb)

    def _stack_forward(self, x, prefix, n_blocks, memory, self_mask, cross_mask, rng):
        """n_blocks blocks named prefix0..., then (pre-norm) the final layer norm."""
        caches = []
        for l in range(n_blocks):
            p = _sub(self.params, f"{prefix}{l}")
            if memory is None:  # encoder, or a decoder-only model's block
                x, c = encoder_block_forward(x, p, self.n_heads, self_mask, self.norm,
                                             self.p_drop, rng)
            else:
                x, c = decoder_block_forward(x, memory, p, self.n_heads, self_mask,
                                             cross_mask, self.norm, self.p_drop, rng)
            caches.append((memory is not None, c))
        c_norm = None
        if self.norm == "pre":
            x, c_norm = sequence_layernorm_forward(x, self.params[f"{prefix}_norm.gamma"],
                                                   self.params[f"{prefix}_norm.beta"])
        return x, (caches, c_norm)

    def _stack_backward(self, dx, cache, prefix, grads):
        """Back through _stack_forward; fills grads, returns dx and the summed dmemory."""
        caches, c_norm = cache
        if c_norm is not None:
            dx, grads[f"{prefix}_norm.gamma"], grads[f"{prefix}_norm.beta"] = \
                sequence_layernorm_backward(dx, c_norm)
        dmemory = None
        for l in reversed(range(len(caches))):
            cross, c = caches[l]
            if not cross:
                dx, g = encoder_block_backward(dx, c)
            else:
                dx, dmem, g = decoder_block_backward(dx, c)
                # every decoder block reads the same memory: the gradients add
                dmemory = dmem if dmemory is None else dmemory + dmem
            grads.update({f"{prefix}{l}.{k}": v for k, v in g.items()})
        return dx, dmemory

    def _output(self, h):
        return h @ self.params["E"].T                                       # (N, T, V)

    def _output_backward(self, dlogits, h):
        """dh and the output projection's share of dE (V, d)."""
        V, d = self.params["E"].shape
        dE = dlogits.reshape(-1, V).T @ h.reshape(-1, d)
        return dlogits @ self.params["E"], dE

    def n_params(self):
        """Total number of parameters (E counted once)."""
        return int(sum(w.size for w in self.params.values()))


def _check_norm(norm):
    if norm not in NORMS:
        raise ValueError(f"norm must be 'post' or 'pre', got {norm!r}")


# --------------------------------------------------------------------------------------
# The encoder-decoder model
# --------------------------------------------------------------------------------------


def make_batch(sources, targets, bos, eos, pad_id=0):
    """Pad lists of id sequences into the model's arrays.

    Returns src (N, S_max), tgt_in (N, T_max + 1) = [bos, y...] and tgt_out (N, T_max + 1)
    = [y..., eos], each padded on the right with pad_id.
    """
    n = len(sources)
    s_max, t_max = max(map(len, sources)), max(map(len, targets)) + 1
    src = np.full((n, s_max), pad_id, dtype=np.int64)
    tgt_in = np.full((n, t_max), pad_id, dtype=np.int64)
    tgt_out = np.full((n, t_max), pad_id, dtype=np.int64)
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        src[i, : len(s)] = s
        tgt_in[i, : len(t) + 1] = [bos, *t]
        tgt_out[i, : len(t) + 1] = [*t, eos]
    return src, tgt_in, tgt_out


class Seq2SeqTransformer(_TiedTransformer):
    """Encoder-decoder Transformer with tied embeddings (module docstring). Chapter 6.

    Inputs:
        vocab: V, shared by source and target (pad, bos and eos among them).
        rng: numpy Generator for the initial weights.
        d, n_heads, d_ff: model width, heads (dividing d), feed-forward width (4 d).
        n_enc, n_dec: numbers of encoder and decoder blocks.
        norm: "pre" or "post" (layer-norm placement).
        p_drop: dropout probability (embeddings and every sublayer's output).
        label_smoothing: eps of label_smoothed_loss.
        pad_id: the padding id.
    """

    def __init__(self, vocab, rng, d=64, n_heads=4, d_ff=None, n_enc=2, n_dec=2,
                 norm="pre", p_drop=0.1, label_smoothing=0.0, pad_id=0):
        _check_norm(norm)
        self.vocab, self.d, self.n_heads = vocab, d, n_heads
        self.n_enc, self.n_dec, self.norm = n_enc, n_dec, norm
        self.p_drop, self.label_smoothing, self.pad_id = p_drop, label_smoothing, pad_id
        d_ff = d_ff or 4 * d
        self.params = {"E": rng.normal(0.0, d ** -0.5, size=(vocab, d))}
        for l in range(n_enc):
            self.params.update({f"enc{l}.{k}": v for k, v in block_params(rng, d, d_ff).items()})
        for l in range(n_dec):
            self.params.update({f"dec{l}.{k}": v
                                for k, v in block_params(rng, d, d_ff, cross=True).items()})
        if norm == "pre":
            for stack in ("enc", "dec"):
                self.params[f"{stack}_norm.gamma"] = np.ones(d)
                self.params[f"{stack}_norm.beta"] = np.zeros(d)

    # forward pieces ---------------------------------------------------------------

    def _encode(self, src, rng):
        src = np.asarray(src)
        src_mask = padding_mask(src, self.pad_id)                           # (N, 1, 1, S)
        x, c_emb = self._embed(src, rng)
        memory, c_stack = self._stack_forward(x, "enc", self.n_enc, None, src_mask, None, rng)
        return memory, src_mask, (c_emb, c_stack)

    def _decode(self, memory, src_mask, tgt_in, rng):
        tgt_in = np.asarray(tgt_in)
        y, c_emb = self._embed(tgt_in, rng)
        h, c_stack = self._stack_forward(y, "dec", self.n_dec, memory,
                                         decoder_self_mask(tgt_in, self.pad_id), src_mask, rng)
        return h, (c_emb, c_stack)

    # training -------------------------------------------------------------------------

    def loss(self, src, tgt_in, tgt_out, rng=None):
        """Mean label-smoothed cross-entropy over the real tokens of tgt_out, and the
        gradient of every parameter.

        Inputs: src (N, S), tgt_in (N, T), tgt_out (N, T) ids (make_batch); rng: Generator
        for dropout, None for none. Returns: loss (float), grads (names as params).
        """
        memory, src_mask, c_enc = self._encode(src, rng)
        h, c_dec = self._decode(memory, src_mask, tgt_in, rng)
        tgt_out = np.asarray(tgt_out)
        loss, dlogits = label_smoothed_loss(self._output(h), tgt_out, self.label_smoothing,
                                            tgt_out != self.pad_id)
        grads = {}
        dh, dE_out = self._output_backward(dlogits, h)
        dy, dmemory = self._stack_backward(dh, c_dec[1], "dec", grads)
        dE_tgt = self._embed_backward(dy, c_dec[0])
        dx, _ = self._stack_backward(dmemory, c_enc[1], "enc", grads)
        dE_src = self._embed_backward(dx, c_enc[0])
        grads["E"] = dE_out + dE_tgt + dE_src  # one matrix, three uses: the gradients add
        return loss, grads

    # inference ------------------------------------------------------------------------

    def encode(self, src):
        """Encoder output (N, S, d) and the source padding mask (N, 1, 1, S)."""
        memory, src_mask, _ = self._encode(src, None)
        return memory, src_mask

    def decode(self, memory, src_mask, tgt_in):
        """Logits (N, T, V) of the token after each position of tgt_in (N, T)."""
        return self._output(self._decode(memory, src_mask, tgt_in, None)[0])

    def next_log_probs(self, memory, src_mask, prefix):
        """log p(next token | prefix, source), (N, V), for prefixes (N, t) that start with
        bos. The whole prefix is run again at every step (no cache of keys and values):
        O(t^2) per step, simple, and cheap at the lengths of the chapter."""
        return _log_softmax(self.decode(memory, src_mask, prefix)[:, -1])

    def sequence_log_prob(self, src, tgt_in, tgt_out):
        """log p(tgt_out | src) of each row, (N,): the sum over its real tokens."""
        memory, src_mask = self.encode(src)
        log_p = _log_softmax(self.decode(memory, src_mask, tgt_in))
        tgt_out = np.asarray(tgt_out)
        picked = np.take_along_axis(log_p, tgt_out[..., None], axis=-1)[..., 0]
        return (picked * (tgt_out != self.pad_id)).sum(axis=1)

    def _allowed(self, log_p, bos):
        """Decoding never emits padding or bos: their log-probabilities become -inf."""
        log_p = log_p.copy()
        log_p[:, [self.pad_id, bos]] = -np.inf
        return log_p

    def greedy_decode(self, src, max_len, bos, eos):
        """The most likely next token at every step, until eos or max_len tokens.

        Returns: (N, L) ids with L <= max_len, bos not included; each row ends at its
        first eos (included), padded with pad_id after it.
        """
        memory, src_mask = self.encode(src)
        n = len(memory)
        prefix = np.full((n, 1), bos, dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        for _ in range(max_len):
            log_p = self._allowed(self.next_log_probs(memory, src_mask, prefix), bos)
            nxt = np.where(done, self.pad_id, log_p.argmax(axis=1))
            prefix = np.concatenate([prefix, nxt[:, None]], axis=1)
            done |= nxt == eos
            if done.all():
                break
        return prefix[:, 1:]

    def beam_search(self, src, beam, max_len, bos, eos, length_penalty=0.0):
        """Beam search for each source row, returning the best hypothesis found.

        At each step every live hypothesis is extended by every token; the ``beam`` best
        extensions by log-probability are kept, those ending in eos move to the finished
        list. A hypothesis Y is ranked by log p(Y) / |Y|^alpha (alpha = length_penalty,
        |Y| its number of tokens, eos included): alpha = 0 is the plain log-probability,
        which favours short outputs (every token multiplies p by < 1); alpha = 1 is the
        mean log-probability per token. Hypotheses still live after max_len tokens
        compete as they are. With alpha = 0 the search stops as soon as the best finished
        hypothesis scores at least the best live one (extending can only lower a
        log-probability), so the answer is the same as running to max_len.

        Returns: sequences, a list of N 1-D id arrays (bos excluded, eos included if
        emitted), and scores, a list of N floats (the ranking score of each).
        """
        sequences, scores = [], []
        for i in range(len(src)):
            memory, src_mask = self.encode(np.asarray(src)[i : i + 1])
            live, live_lp = np.full((1, 1), bos, dtype=np.int64), np.zeros(1)
            finished = []  # (score, tokens)
            for step in range(1, max_len + 1):
                b = len(live)
                log_p = self._allowed(self.next_log_probs(
                    np.repeat(memory, b, axis=0), np.repeat(src_mask, b, axis=0), live), bos)
                cand = (live_lp[:, None] + log_p).ravel()                   # (b V,)
                order = np.argsort(-cand, kind="stable")[:beam]
                order = order[np.isfinite(cand[order])]
                rows, toks = np.divmod(order, log_p.shape[1])
                ended = toks == eos
                finished += [(cand[o] / step ** length_penalty, np.append(live[r, 1:], eos))
                             for o, r in zip(order[ended], rows[ended], strict=True)]
                live = np.concatenate([live[rows[~ended]], toks[~ended, None]], axis=1)
                live_lp = cand[order[~ended]]
                if not len(live) or (length_penalty == 0 and finished
                                     and max(s for s, _ in finished) >= live_lp.max()):
                    break
            else:  # max_len reached: the live hypotheses are outputs too
                finished += [(lp / max_len ** length_penalty, seq[1:])
                             for lp, seq in zip(live_lp, live, strict=True)]
            best = max(range(len(finished)), key=lambda k: finished[k][0])  # first of ties
            scores.append(float(finished[best][0]))
            sequences.append(finished[best][1])
        return sequences, scores

    def attention_maps(self, src, tgt_in):
        """Attention weights of a teacher-forced pass: dict of lists, one per block,
        "encoder" (N, h, S, S), "decoder" (N, h, T, T) and "cross" (N, h, T, S).

        For the cross-attention of a decoded output y (greedy_decode, beam_search) pass
        tgt_in = [bos, y_1, ..., y_{k-1}]: row j of a map is where the decoder looked while
        it produced y_{j+1}.
        """
        memory, src_mask, c_enc = self._encode(src, None)
        _, c_dec = self._decode(memory, src_mask, tgt_in, None)
        enc = [block_attention_weights(c)[0] for _, c in c_enc[1][0]]
        dec = [block_attention_weights(c) for _, c in c_dec[1][0]]
        return {"encoder": enc, "decoder": [s for s, _ in dec], "cross": [x for _, x in dec]}


# --------------------------------------------------------------------------------------
# The decoder-only language model
# --------------------------------------------------------------------------------------


class CharTransformerLM(_TiedTransformer):
    """A GPT-style character language model. Chapter 6.

    ids x (N, T) -> E[x] sqrt(d) + PE -> dropout -> n_layers decoder blocks without
    cross-attention (causal self-attention, feed-forward) -> LN -> logits h E^T (N, T, V)
    -> softmax cross-entropy against the next characters y (N, T), averaged over the N T
    predictions (chapter 5's loss_and_grads). Unlike chapter 5's LSTM it carries no state
    from one window to the next: a prediction sees at most ``context`` characters.

    Inputs:
        vocab: V; rng: Generator for the initial weights.
        d, n_heads, d_ff (4 d), n_layers: width, heads, feed-forward width, depth.
        context: the longest window the model reads (sampling and perplexity crop to it).
        norm: "pre" (the default, GPT-2's) or "post".
        p_drop: dropout probability.

    Parameters: E (V, d); block{l}.{name} (the encoder block's names); with pre-norm
    block_norm.gamma, block_norm.beta.
    """

    def __init__(self, vocab, rng, d=64, n_heads=4, d_ff=None, n_layers=2, context=128,
                 norm="pre", p_drop=0.0):
        _check_norm(norm)
        self.vocab, self.d, self.n_heads, self.n_layers = vocab, d, n_heads, n_layers
        self.context, self.norm, self.p_drop = context, norm, p_drop
        d_ff = d_ff or 4 * d
        self.params = {"E": rng.normal(0.0, d ** -0.5, size=(vocab, d))}
        for l in range(n_layers):
            self.params.update({f"block{l}.{k}": v for k, v in block_params(rng, d, d_ff).items()})
        if norm == "pre":
            self.params["block_norm.gamma"], self.params["block_norm.beta"] = np.ones(d), \
                np.zeros(d)

    def _forward(self, x, rng):
        x = np.asarray(x)
        if x.shape[1] > self.context:
            raise ValueError(f"windows of {x.shape[1]} ids exceed the context {self.context}")
        e, c_emb = self._embed(x, rng)
        h, c_stack = self._stack_forward(e, "block", self.n_layers, None,
                                         causal_mask(x.shape[1]), None, rng)
        return self._output(h), (h, c_emb, c_stack)

    def logits(self, x):
        """Logits (N, T, V) of the character after each position of x (N, T)."""
        return self._forward(x, None)[0]

    def loss(self, x, y, rng=None):
        """Mean cross-entropy of predicting y (N, T) from x (N, T), and every gradient;
        rng: Generator for dropout, None for none. Returns loss (float), grads."""
        logits, (h, c_emb, c_stack) = self._forward(x, rng)
        loss, dlogits = label_smoothed_loss(logits, y)
        grads = {}
        dh, dE_out = self._output_backward(dlogits, h)
        dx, _ = self._stack_backward(dh, c_stack, "block", grads)
        grads["E"] = dE_out + self._embed_backward(dx, c_emb)  # tied: both uses add
        return loss, grads

    def perplexity(self, ids, stride=None, batch=64):
        """exp(mean cross-entropy, nats) of predicting each character of ids (L,) after
        the first, chapter 5's measure on the same L - 1 predictions.

        Windows of ``context`` characters start every ``stride`` (default context / 2)
        characters; the first window scores all its predictions, every later one only its
        last ``stride`` (the ones not yet scored), so each of those sees at least
        context - stride characters before it. (Chapter 5's LSTM carries its state and
        sees the whole stream; a Transformer sees only its window.)
        """
        ids = np.asarray(ids)
        L, T = len(ids), min(self.context, len(ids) - 1)
        stride = stride or max(1, T // 2)
        starts = list(range(0, L - 1 - T + 1, stride))
        if starts[-1] + T < L - 1:
            starts.append(L - 1 - T)  # a last window flush with the end
        total, count, scored_to = 0.0, 0, 0   # predictions of targets ids[1 .. scored_to]
        for k in range(0, len(starts), batch):
            group = starts[k : k + batch]
            x = np.stack([ids[s : s + T] for s in group])
            y = np.stack([ids[s + 1 : s + T + 1] for s in group])
            log_p = _log_softmax(self.logits(x))
            picked = np.take_along_axis(log_p, y[..., None], axis=-1)[..., 0]  # (B, T)
            for row, s in zip(picked, group, strict=True):
                new = max(0, scored_to - s)             # positions already scored
                total -= float(row[new:].sum())
                count += T - new
                scored_to = s + T
        assert count == L - 1
        return float(np.exp(total / count))

    def sample(self, vocab, start, n, temperature=1.0, rng=None):
        """n characters drawn after reading ``start`` (as chapter 5's sample: temperature
        0 is argmax, 1 the model's distribution); the window is cropped to the last
        ``context`` characters. Returns the drawn characters as a string."""
        if not start:
            raise ValueError("start must hold at least one character")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        ids = list(vocab.encode(start))
        out = []
        for _ in range(n):
            logits = self.logits(np.array([ids[-self.context:]]))[0, -1]
            if temperature == 0:
                nxt = int(np.argmax(logits))
            else:
                p = np.exp(_log_softmax(logits / temperature))
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            ids.append(nxt)
            out.append(nxt)
        return vocab.decode(out)


def random_windows(ids, n, t, rng):
    """n windows of t characters at random places in ids (L,): x (n, t) and the next
    characters y (n, t), for training the language model."""
    ids = np.asarray(ids)
    starts = rng.integers(0, len(ids) - t, size=n)
    idx = starts[:, None] + np.arange(t)
    return ids[idx], ids[idx + 1]


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------


def train_transformer(model, next_batch, steps, lr="noam", warmup=400, factor=1.0, clip=1.0,
                      rng=None, adam_config=None):
    """Adam with a learning-rate schedule and gradient clipping, for either model.

    Inputs:
        model: Seq2SeqTransformer or CharTransformerLM (anything with params, d and
            loss(*batch, rng=...)).
        next_batch: callable () -> tuple of loss's arguments, (src, tgt_in, tgt_out) or
            (x, y).
        steps: number of updates.
        lr: "noam" (factor * noam_schedule(step, model.d, warmup)), a float (constant), or
            a callable step -> rate; steps count from 1.
        clip: largest global gradient norm (clip_by_global_norm), or None.
        rng: Generator for dropout (None: no dropout).
        adam_config: Adam's hyper-parameters; default beta2 = 0.98, epsilon = 1e-9 as in
            Vaswani et al.

    Returns:
        history: dict of per-step lists loss, lr, grad_norm (before clipping), and
        seconds, the CPU time spent training (chapter 5's convention).
    """
    if lr == "noam":
        schedule = lambda step: noam_schedule(step, model.d, warmup, factor)  # noqa: E731
    elif callable(lr):
        schedule = lr
    else:
        schedule = lambda step: float(lr)  # noqa: E731
    base = {"beta1": 0.9, "beta2": 0.98, "epsilon": 1e-9, **(adam_config or {})}
    configs = {name: dict(base) for name in model.params}
    history = {"loss": [], "lr": [], "grad_norm": [], "seconds": 0.0}
    t0 = time.process_time()
    for step in range(1, steps + 1):
        loss, grads = model.loss(*next_batch(), rng=rng)
        if clip is not None:
            grads, norm = clip_by_global_norm(grads, clip)
        else:
            norm = float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))
        rate = schedule(step)
        for name in model.params:
            configs[name]["learning_rate"] = rate
            model.params[name], configs[name] = adam(model.params[name], grads[name],
                                                     configs[name])
        history["loss"].append(loss)
        history["lr"].append(rate)
        history["grad_norm"].append(norm)
    history["seconds"] = time.process_time() - t0
    return history
