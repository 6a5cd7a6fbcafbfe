"""Models assembled from the layers. Chapter 1 builds the multilayer perceptron."""

from itertools import pairwise

import numpy as np

from dlcourse.layers import (
    affine_backward,
    affine_forward,
    conv_backward_im2col,
    conv_forward_im2col,
    dropout_backward,
    dropout_forward,
    max_pool_backward_fast,
    max_pool_forward_fast,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_loss,
    tanh_backward,
    tanh_forward,
)

ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
}


def _initial_weights(init, n_in, n_out, rng):
    """A (n_in, n_out) weight matrix drawn as MLP's ``init`` says."""
    std = {"he": np.sqrt(2.0 / n_in), "lecun": np.sqrt(1.0 / n_in),
           "xavier": np.sqrt(2.0 / (n_in + n_out))}
    if isinstance(init, str):
        if init not in std:
            raise ValueError(f"unknown init {init!r}: use he, lecun, xavier, a number "
                             "or ('normal', std)")
        return rng.normal(0.0, std[init], size=(n_in, n_out))
    if isinstance(init, tuple) and len(init) == 2 and init[0] == "normal":
        return rng.normal(0.0, float(init[1]), size=(n_in, n_out))
    return np.full((n_in, n_out), float(init))


class MLP:
    """A multilayer perceptron: (affine -> activation) x (L-1), then affine -> softmax.

    Parameters live in ``self.params`` as ``W1, b1, ..., WL, bL`` with ``Wl`` of shape
    (sizes[l-1], sizes[l]) and ``bl`` of shape (sizes[l],).

    Inputs:
        sizes: layer widths, input first and number of classes last, e.g. (64, 100, 10).
        rng: numpy Generator for the initial weights.
        activation: "relu", "sigmoid" or "tanh".
        reg: L2 penalty strength; the loss adds 0.5 * reg * sum of squared weights
            (biases are not penalised).
        init: how the weights start (biases start at 0), derived in chapter 1:
            None: "he" for ReLU, "lecun" otherwise;
            "he": N(0, 2 / fan_in), which keeps the variance of ReLU activations
            constant from layer to layer (He et al., 2015);
            "lecun": N(0, 1 / fan_in), the same for a nonlinearity that is the
            identity near 0 (tanh);
            "xavier": N(0, 2 / (fan_in + fan_out)) (Glorot and Bengio, 2010);
            a number c: every weight equal to c (0 included), which no training can
            make different: all units of a layer stay copies of each other;
            ("normal", s): N(0, s^2) whatever the fan-in.
        dropout: drop probability p of inverted dropout after every hidden activation
            (chapter 1), applied by ``loss`` (training) and not by ``scores`` or
            ``predict`` (test time); its masks are drawn from ``dropout_rng``, which
            starts as ``rng`` (set it to a fresh Generator to repeat a mask).
    """

    def __init__(self, sizes, rng, activation="relu", reg=0.0, init=None, dropout=0.0):
        self.sizes = tuple(sizes)
        self.activation = activation
        self.reg = reg
        self.n_layers = len(sizes) - 1
        init = init or ("he" if activation == "relu" else "lecun")
        self.dropout, self.dropout_rng = dropout, rng
        self.params = {}
        for l, (n_in, n_out) in enumerate(pairwise(sizes), start=1):
            self.params[f"W{l}"] = _initial_weights(init, n_in, n_out, rng)
            self.params[f"b{l}"] = np.zeros(n_out)

    def scores(self, x, train=False):
        """Class scores for x of shape (N, D). Returns (scores (N, C), caches).
        train=True applies dropout (if any) after every hidden activation."""
        act_forward, _ = ACTIVATIONS[self.activation]
        caches = []
        h = x
        for l in range(1, self.n_layers + 1):
            h, cache = affine_forward(h, self.params[f"W{l}"], self.params[f"b{l}"])
            caches.append(cache)
            if l < self.n_layers:  # no activation after the last layer: softmax follows
                h, cache = act_forward(h)
                caches.append(cache)
                if self.dropout:
                    h, cache = dropout_forward(h, self.dropout, self.dropout_rng, train)
                    caches.append(cache)
        return h, caches

    def loss(self, x, y):
        """Mean cross-entropy plus L2 penalty, and the gradient of every parameter.

        Inputs: x (N, D), y (N,) integer labels.
        Returns: (loss, grads) with grads[name] of the shape of params[name].
        """
        _, act_backward = ACTIVATIONS[self.activation]
        scores, caches = self.scores(x, train=True)
        loss, dh = softmax_loss(scores, y)
        grads = {}
        for l in range(self.n_layers, 0, -1):
            if l < self.n_layers:
                if self.dropout:
                    dh = dropout_backward(dh, caches.pop())
                dh = act_backward(dh, caches.pop())
            dh, dw, db = affine_backward(dh, caches.pop())
            w = self.params[f"W{l}"]
            loss += 0.5 * self.reg * np.sum(w * w)
            grads[f"W{l}"] = dw + self.reg * w
            grads[f"b{l}"] = db
        return loss, grads

    def predict(self, x):
        """Most likely class of each row of x (N, D). Returns shape (N,)."""
        return self.scores(x)[0].argmax(axis=1)

    def n_params(self):
        """Total number of weights and biases."""
        return sum(p.size for p in self.params.values())


class SmallCNN:
    """conv (3x3, pad 1) -> ReLU -> 2x2 max pool -> affine -> softmax. Chapter 3.

    Inputs of shape (N, C, H, W) with even H and W. Parameters: W1 (F, C, 3, 3), b1 (F,),
    W2 (F*H/2*W/2, classes), b2 (classes,).
    """

    def __init__(self, input_shape, rng, n_filters=16, n_classes=10, reg=0.0):
        C, H, W = input_shape
        self.reg = reg
        self.params = {
            "W1": rng.normal(0.0, np.sqrt(2.0 / (9 * C)), size=(n_filters, C, 3, 3)),
            "b1": np.zeros(n_filters),
            "W2": rng.normal(0.0, np.sqrt(2.0 / (n_filters * H * W // 4)),
                             size=(n_filters * H * W // 4, n_classes)),
            "b2": np.zeros(n_classes),
        }

    def scores(self, x):
        """Class scores (N, classes) and the caches of the four layers."""
        p = self.params
        h, c1 = conv_forward_im2col(x, p["W1"], p["b1"], stride=1, pad=1)
        h, c2 = relu_forward(h)
        h, c3 = max_pool_forward_fast(h, pool_height=2, pool_width=2, stride=2)
        s, c4 = affine_forward(h, p["W2"], p["b2"])
        return s, (c1, c2, c3, c4)

    def loss(self, x, y):
        """Mean cross-entropy plus 0.5*reg*(|W1|^2 + |W2|^2), and all gradients."""
        p = self.params
        s, (c1, c2, c3, c4) = self.scores(x)
        loss, ds = softmax_loss(s, y)
        dh, dW2, db2 = affine_backward(ds, c4)
        dh = max_pool_backward_fast(dh, c3)
        dh = relu_backward(dh, c2)
        _, dW1, db1 = conv_backward_im2col(dh, c1)
        loss += 0.5 * self.reg * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
        return loss, {"W1": dW1 + self.reg * p["W1"], "b1": db1,
                      "W2": dW2 + self.reg * p["W2"], "b2": db2}

    def predict(self, x):
        return self.scores(x)[0].argmax(axis=1)


class SequenceClassifier:
    """A recurrent network that reads a sequence and classifies it from its last state.

    Chapter 5. x (N, T, D) -> simple RNN or LSTM with H units, h0 = 0 -> h_T (N, H) ->
    affine -> softmax cross-entropy over the classes. Parameters: Wx (D, gH), Wh (H, gH),
    b (gH,) with g = 1 for the RNN and 4 for the LSTM (gate blocks i, f, o, g), then
    W_out (H, classes), b_out (classes,).

    Inputs:
        input_dim, hidden_dim, n_classes: D, H and the number of classes.
        rng: numpy Generator for the initial weights.
        cell: "rnn" or "lstm".
        forget_bias: initial bias of the LSTM's forget gate (1.0 keeps the cell state at
            the start of training, a common choice).
    """

    def __init__(self, input_dim, hidden_dim, n_classes, rng, cell="rnn", forget_bias=1.0):
        if cell not in ("rnn", "lstm"):
            raise ValueError(f"cell must be 'rnn' or 'lstm', got {cell!r}")
        self.cell = cell
        g = 4 if cell == "lstm" else 1
        D, H = input_dim, hidden_dim
        b = np.zeros(g * H)
        if cell == "lstm":
            b[H : 2 * H] = forget_bias
        self.params = {
            "Wx": rng.normal(0.0, np.sqrt(1.0 / D), size=(D, g * H)),
            "Wh": rng.normal(0.0, np.sqrt(1.0 / H), size=(H, g * H)),
            "b": b,
            "W_out": rng.normal(0.0, np.sqrt(1.0 / H), size=(H, n_classes)),
            "b_out": np.zeros(n_classes),
        }

    def _layers(self):
        # Imported here, not at the top, so that importing dlcourse.models does not load
        # chapter 5's module (a problem set's sandbox may leave it out).
        from dlcourse.layers import lstm_backward, lstm_forward, rnn_backward, rnn_forward

        if self.cell == "lstm":
            return lstm_forward, lstm_backward
        return rnn_forward, rnn_backward

    def scores(self, x):
        """Class scores (N, classes) from the last hidden state, and the caches."""
        from dlcourse.layers import affine_forward

        forward, _ = self._layers()
        p = self.params
        h0 = np.zeros((x.shape[0], p["Wh"].shape[0]))
        h, rec_cache = forward(x, h0, p["Wx"], p["Wh"], p["b"])  # (N, T, H)
        s, out_cache = affine_forward(h[:, -1], p["W_out"], p["b_out"])
        return s, (h.shape, rec_cache, out_cache)

    def loss(self, x, y):
        """Mean cross-entropy of y (N,) given x (N, T, D), and every parameter's gradient."""
        from dlcourse.layers import affine_backward, softmax_loss

        _, backward = self._layers()
        s, (h_shape, rec_cache, out_cache) = self.scores(x)
        loss, ds = softmax_loss(s, y)
        dlast, dW_out, db_out = affine_backward(ds, out_cache)
        dh = np.zeros(h_shape)  # (N, T, H): only the last state feeds the loss
        dh[:, -1] = dlast
        _, _, dWx, dWh, db = backward(dh, rec_cache)
        return loss, {"Wx": dWx, "Wh": dWh, "b": db, "W_out": dW_out, "b_out": db_out}

    def predict(self, x):
        """Most likely class of each sequence of x (N, T, D). Returns shape (N,)."""
        return self.scores(x)[0].argmax(axis=1)


class MLPBatchNorm:
    """(affine -> batch norm -> activation) x (L-1), then affine -> softmax. Chapter 4.

    The hidden affine layers have no bias: batch norm subtracts the batch mean, which
    removes any constant added before it, and its beta takes the bias's place. Parameters:
    ``W1..WL``, ``gamma1..gamma(L-1)``, ``beta1..beta(L-1)``, ``bL``. With ``batchnorm=False``
    the same network has biases and no normalisation (the experiment's control).

    Inputs:
        sizes: layer widths, input first and number of classes last, e.g. (64, 100, 10).
        rng: numpy Generator for the initial weights.
        activation: "relu", "sigmoid" or "tanh".
        batchnorm: normalise the hidden layers or not.
        momentum: of the running averages.
    """

    def __init__(self, sizes, rng, activation="sigmoid", batchnorm=True, momentum=0.9):
        self.sizes, self.activation, self.batchnorm = tuple(sizes), activation, batchnorm
        self.n_layers = len(sizes) - 1
        gain = 2.0 if activation == "relu" else 1.0
        self.params, self.bn_params = {}, {}
        for l, (n_in, n_out) in enumerate(pairwise(sizes), start=1):
            self.params[f"W{l}"] = rng.normal(0.0, np.sqrt(gain / n_in), size=(n_in, n_out))
            if l < self.n_layers and batchnorm:
                self.params[f"gamma{l}"] = np.ones(n_out)
                self.params[f"beta{l}"] = np.zeros(n_out)
                self.bn_params[l] = {"mode": "train", "momentum": momentum}
            else:
                self.params[f"b{l}"] = np.zeros(n_out)

    def scores(self, x, mode="train"):
        """Class scores (N, C) for x (N, D); ``mode`` "test" uses the running
        averages. Returns (scores, caches)."""
        from dlcourse.layers import batchnorm_forward

        act_forward, _ = ACTIVATIONS[self.activation]
        p, caches, h = self.params, [], x
        for l in range(1, self.n_layers + 1):
            hidden = l < self.n_layers
            # no bias before BN (its mean subtraction would cancel it)
            bias = p.get(f"b{l}", np.zeros(p[f"W{l}"].shape[1]))
            h, cache = affine_forward(h, p[f"W{l}"], bias)
            caches.append(cache)
            if hidden and self.batchnorm:
                self.bn_params[l]["mode"] = mode
                h, cache = batchnorm_forward(h, p[f"gamma{l}"], p[f"beta{l}"],
                                             self.bn_params[l])
                caches.append(cache)
            if hidden:
                h, cache = act_forward(h)
                caches.append(cache)
        return h, caches

    def loss(self, x, y):
        """Mean cross-entropy on a training batch (batch statistics), and every gradient."""
        from dlcourse.layers import batchnorm_backward

        _, act_backward = ACTIVATIONS[self.activation]
        scores, caches = self.scores(x, mode="train")
        loss, dh = softmax_loss(scores, y)
        grads = {}
        for l in range(self.n_layers, 0, -1):
            if l < self.n_layers:
                dh = act_backward(dh, caches.pop())
                if self.batchnorm:
                    dh, grads[f"gamma{l}"], grads[f"beta{l}"] = batchnorm_backward(
                        dh, caches.pop())
            dh, grads[f"W{l}"], db = affine_backward(dh, caches.pop())
            if f"b{l}" in self.params:
                grads[f"b{l}"] = db
        return loss, grads

    def predict(self, x, mode="test"):
        """Most likely class of each row of x (N, D), by default with running averages."""
        return self.scores(x, mode=mode)[0].argmax(axis=1)


class TinyTransformer:
    """An encoder-only Transformer that labels every position of a token sequence:
    embedding + sinusoidal positions -> post-norm encoder blocks -> affine -> softmax per
    position. Chapter 6.

    Parameters: ``E`` (V, d) token embeddings; per block ``l`` the block's parameters with
    the suffix ``_l`` (``Wq_0``, ..., see ``transformer_block_forward``); ``W_out`` (d, V),
    ``b_out`` (V,).

    Inputs:
        vocab: V, the number of symbols (inputs and outputs).
        d, n_heads, d_ff, n_blocks: model width, heads, feed-forward width, depth.
        rng: numpy Generator for the initial weights.
    """

    def __init__(self, vocab, rng, d=32, n_heads=2, d_ff=64, n_blocks=2):
        self.vocab, self.d, self.n_heads, self.n_blocks = vocab, d, n_heads, n_blocks

        def init(n_in, n_out):
            return rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_in, n_out))

        self.params = {"E": rng.normal(0.0, 1.0, size=(vocab, d)),
                       "W_out": init(d, vocab), "b_out": np.zeros(vocab)}
        for l in range(n_blocks):
            block = {"Wq": init(d, d), "Wk": init(d, d), "Wv": init(d, d), "Wo": init(d, d),
                     "W1": init(d, d_ff), "W2": init(d_ff, d), "b1": np.zeros(d_ff),
                     "gamma1": np.ones(d), "gamma2": np.ones(d)}
            for name in ("bq", "bk", "bv", "bo", "b2", "beta1", "beta2"):
                block[name] = np.zeros(d)
            self.params.update({f"{k}_{l}": v for k, v in block.items()})

    def _block(self, l):
        return {k[: -len(f"_{l}")]: v for k, v in self.params.items() if k.endswith(f"_{l}")}

    def scores(self, tokens, attention_maps=False):
        """Scores (N, T, V) for integer tokens (N, T); with ``attention_maps`` also the
        attention weights of every block, [(N, h, T, T), ...]. Returns (scores, caches)."""
        from dlcourse.layers import positional_encoding, transformer_block_forward

        n, t = tokens.shape
        h = self.params["E"][tokens] + positional_encoding(t, self.d)  # (N, T, d)
        caches = []
        for l in range(self.n_blocks):
            h, cache = transformer_block_forward(h, self._block(l), self.n_heads)
            caches.append(cache)
        s, out_cache = affine_forward(h.reshape(n * t, self.d), self.params["W_out"],
                                      self.params["b_out"])
        scores = s.reshape(n, t, self.vocab)
        if attention_maps:
            return scores, [c[0][3][3] for c in caches]
        return scores, (tokens, caches, out_cache)

    def loss(self, tokens, targets):
        """Mean cross-entropy over all positions of targets (N, T), and every gradient."""
        from dlcourse.layers import transformer_block_backward

        n, t = tokens.shape
        scores, (_, caches, out_cache) = self.scores(tokens)
        loss, ds = softmax_loss(scores.reshape(n * t, self.vocab), targets.reshape(-1))
        dh, grads_w, grads_b = affine_backward(ds, out_cache)
        grads = {"W_out": grads_w, "b_out": grads_b}
        dh = dh.reshape(n, t, self.d)
        for l in reversed(range(self.n_blocks)):
            dh, block_grads = transformer_block_backward(dh, caches[l])
            grads.update({f"{k}_{l}": v for k, v in block_grads.items()})
        grads["E"] = np.zeros_like(self.params["E"])
        np.add.at(grads["E"], tokens, dh)  # each occurrence of a token adds its gradient
        return loss, grads

    def predict(self, tokens):
        """The most likely symbol at every position, shape (N, T)."""
        return self.scores(tokens)[0].argmax(axis=-1)
