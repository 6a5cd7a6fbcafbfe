"""ENAS in miniature: a DAG search space on the digits, with shared weights. Chapter 7.

The space (a small version of ENAS's micro cell, Pham et al. 2018): a fixed stem
h_0 = relu(x W_s + b_s) maps the 64 pixels to ``width`` features; then ``n_nodes`` nodes,
node i = 1..n choosing one *input* among the nodes before it (0..i-1) and one *op*
among OPS; h_i = op(h_input). The cell's output is the mean of its *loose ends* (the
nodes no later node reads, h_0 excluded unless nothing else is left), followed by an
affine layer to the 10 classes. An architecture is a tuple of (input, op) pairs, one per
node, so the space has prod_i (i * len(OPS)) architectures: 15,000 for 4 nodes.

Weights are shared ENAS-style: node i's op k has one weight matrix W{i}_{k} (none for
"skip"), used by every architecture that picks op k at node i, whatever input it reads.
A network trained on one architecture only is a stand-alone model of it; trained on a
stream of sampled architectures it is the supernet.
"""

import itertools
import math

import numpy as np

from dlcourse.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_loss,
    tanh_backward,
    tanh_forward,
)
from dlcourse.layers.conv import _fold, _unfold, conv_backward_im2col, conv_forward_im2col
from dlcourse.optim import adam

OPS = ("relu", "tanh", "sigmoid", "linear", "skip")
N_OPS, CLASSES = len(OPS), 10
_ACT = {"relu": (relu_forward, relu_backward), "tanh": (tanh_forward, tanh_backward),
        "sigmoid": (sigmoid_forward, sigmoid_backward)}


def space_size(n_nodes, n_ops=N_OPS):
    """Number of architectures: node i has i inputs and n_ops ops to choose from."""
    return math.prod(i * n_ops for i in range(1, n_nodes + 1))


def arch_of_index(index, n_nodes, n_ops=N_OPS):
    """The architecture with this index (0 .. space_size - 1), a mixed-radix number whose
    digit for node i runs over its i * n_ops (input, op) choices."""
    arch = []
    for i in range(1, n_nodes + 1):
        index, choice = divmod(index, i * n_ops)
        arch.append(divmod(choice, n_ops))  # (input, op)
    if index:
        raise ValueError("index beyond the space")
    return tuple(arch)


def index_of_arch(arch, n_ops=N_OPS):
    """Inverse of arch_of_index."""
    index, radix = 0, 1
    for i, (inp, op) in enumerate(arch, start=1):
        if not (0 <= inp < i and 0 <= op < n_ops):
            raise ValueError(f"node {i}: input {inp} or op {op} out of range")
        index += radix * (inp * n_ops + op)
        radix *= i * n_ops
    return index


def all_architectures(n_nodes, n_ops=N_OPS):
    per_node = [list(itertools.product(range(i), range(n_ops)))
                for i in range(1, n_nodes + 1)]
    return [tuple(a) for a in itertools.product(*per_node)]


def loose_ends(arch):
    """Nodes whose output no later node reads (the cell's outputs); node 0 only if no
    other node is left (every node reads 0 and is read)."""
    read = {inp for inp, _ in arch}
    ends = [i for i in range(1, len(arch) + 1) if i not in read]
    return ends or [0]


def arch_name(arch, ops=OPS):
    """e.g. "1:conv5<0 2:conv3<1": node 1 applies conv5 to node 0 (the stem), ..."""
    return " ".join(f"{i}:{ops[op]}<{inp}" for i, (inp, op) in enumerate(arch, start=1))


class DagNet:
    """Shared weights for every architecture of an n_nodes space (module docstring).

    params: W_s (64, width), b_s; W{i}_{k} (width, width), b{i}_{k} for node i = 1..n and
    every op k but "skip"; W_out (width, 10), b_out.
    """

    def __init__(self, rng, n_nodes=4, width=32, n_in=64):
        self.n_nodes, self.width = n_nodes, width
        he = lambda fan_in, fan_out, gain=2.0: rng.normal(  # noqa: E731
            0.0, np.sqrt(gain / fan_in), size=(fan_in, fan_out))
        self.params = {"W_s": he(n_in, width), "b_s": np.zeros(width)}
        for i, (k, op) in itertools.product(range(1, n_nodes + 1), enumerate(OPS)):
            if op != "skip":
                self.params[f"W{i}_{k}"] = he(width, width, 2.0 if op == "relu" else 1.0)
                self.params[f"b{i}_{k}"] = np.zeros(width)
        self.params["W_out"] = he(width, CLASSES, 1.0)
        self.params["b_out"] = np.zeros(CLASSES)

    def scores(self, x, arch):
        """Class scores (N, 10) of ``arch`` on x (N, 64), and the caches."""
        h0, c_s = affine_forward(x, self.params["W_s"], self.params["b_s"])
        h0, c_r = relu_forward(h0)
        hs, caches = [h0], []
        for i, (inp, k) in enumerate(arch, start=1):
            op = OPS[k]
            if op == "skip":
                hs.append(hs[inp])
                caches.append(None)
                continue
            h, c_aff = affine_forward(hs[inp], self.params[f"W{i}_{k}"],
                                      self.params[f"b{i}_{k}"])
            c_act = None
            if op in _ACT:
                h, c_act = _ACT[op][0](h)
            hs.append(h)
            caches.append((c_aff, c_act))
        ends = loose_ends(arch)
        out = sum(hs[e] for e in ends) / len(ends)
        s, c_out = affine_forward(out, self.params["W_out"], self.params["b_out"])
        return s, (c_s, c_r, caches, ends, c_out)

    def loss(self, x, y, arch):
        """Cross-entropy of ``arch`` on (x, y) and the gradients of the weights it uses."""
        s, (c_s, c_r, caches, ends, c_out) = self.scores(x, arch)
        loss, ds = softmax_loss(s, y)
        dout, g_w, g_b = affine_backward(ds, c_out)
        grads = {"W_out": g_w, "b_out": g_b}
        dh = [np.zeros_like(dout) for _ in range(len(arch) + 1)]
        for e in ends:
            dh[e] += dout / len(ends)
        for i in range(len(arch), 0, -1):  # later nodes first: dh[i] is complete
            inp, k = arch[i - 1]
            cache = caches[i - 1]
            if cache is None:              # skip: the gradient passes unchanged
                dh[inp] += dh[i]
                continue
            c_aff, c_act = cache
            d = dh[i] if c_act is None else _ACT[OPS[k]][1](dh[i], c_act)
            d_in, grads[f"W{i}_{k}"], grads[f"b{i}_{k}"] = affine_backward(d, c_aff)
            dh[inp] += d_in
        _, grads["W_s"], grads["b_s"] = affine_backward(relu_backward(dh[0], c_r), c_s)
        return loss, grads

    def accuracy(self, x, y, arch):
        return float(np.mean(self.scores(x, arch)[0].argmax(axis=1) == y))


def train(net, data, rng, steps, sample, batch=64, lr=3e-3, optimizer=None):
    """``steps`` Adam steps on mini-batches of the training digits, each on the
    architecture ``sample(rng)`` returns (a constant function: a stand-alone model).
    ``optimizer``: Adam states by parameter name, updated in place (pass the same dict to
    continue training the same net). Returns net."""
    configs = {} if optimizer is None else optimizer
    x, y = data["x_train"], data["y_train"]
    for _ in range(steps):
        idx = rng.integers(0, len(x), size=batch)
        _, grads = net.loss(x[idx], y[idx], sample(rng))
        for name, g in grads.items():
            cfg = configs.setdefault(name, {"learning_rate": lr})
            net.params[name], configs[name] = adam(net.params[name], g, cfg)
    return net


def stand_alone_accuracy(arch, data, seed, steps, split="val", n_nodes=None, width=32,
                         lr=3e-3):
    """Accuracy on ``split`` of ``arch`` trained alone from scratch (weights and batches
    from ``seed``)."""
    rng = np.random.default_rng(seed)
    net = DagNet(rng, n_nodes or len(arch), width)
    train(net, data, rng, steps, lambda _: arch, lr=lr)
    return net.accuracy(data[f"x_{split}"], data[f"y_{split}"], arch)


# --------------------------------------------------------------------------------------
# The same DAG space with ENAS's kinds of ops, on the digits as 8 x 8 images
# --------------------------------------------------------------------------------------

CONV_OPS = ("conv3", "conv5", "maxpool3", "avgpool3", "identity")


def _pool3_forward(x, kind):
    """3 x 3 max or mean pooling, stride 1, zero padding 1: x (N, C, H, W) -> same shape.
    Zero padding is exact for max pooling here because every feature map is >= 0 (ReLU
    outputs and their pools)."""
    n, c, h, w = x.shape
    cols = _unfold(x, 3, 3, 1, 1).reshape(c, 9, n, h, w)
    if kind == "max":
        arg = cols.argmax(axis=1)
        out = np.take_along_axis(cols, arg[:, None], axis=1)[:, 0]
    else:
        arg, out = None, cols.mean(axis=1)
    return out.transpose(1, 0, 2, 3), (x.shape, arg, kind)


def _pool3_backward(dout, cache):
    x_shape, arg, kind = cache
    n, c, h, w = x_shape
    d = dout.transpose(1, 0, 2, 3)                       # (C, N, H, W)
    if kind == "max":
        dcols = np.zeros((c, 9, n, h, w))
        np.put_along_axis(dcols, arg[:, None], d[:, None], axis=1)
    else:
        dcols = np.broadcast_to(d[:, None] / 9.0, (c, 9, n, h, w))
    return np.ascontiguousarray(_fold(dcols.reshape(c * 9, -1), x_shape, 3, 3, 1, 1))


class ConvDagNet:
    """Shared weights of the DAG space with CONV_OPS on 8 x 8 digit images.

    Stem: relu(conv3x3(x)) to ``channels`` maps; node i applies its op to its input
    (conv3/conv5: relu(conv) with "same" padding, weights K{i}_{k}, c{i}_{k}; the pools
    and identity have none); the loose ends are averaged, globally average-pooled and
    mapped to the 10 classes by W_out, b_out.
    """

    def __init__(self, rng, n_nodes=4, channels=8):
        self.n_nodes, self.channels = n_nodes, channels
        he = lambda *shape: rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])),  # noqa: E731
                                       size=shape)
        self.params = {"K_s": he(channels, 1, 3, 3), "c_s": np.zeros(channels)}
        for i, (k, op) in itertools.product(range(1, n_nodes + 1), enumerate(CONV_OPS)):
            if op.startswith("conv"):
                size = int(op[-1])
                self.params[f"K{i}_{k}"] = he(channels, channels, size, size)
                self.params[f"c{i}_{k}"] = np.zeros(channels)
        self.params["W_out"] = rng.normal(0.0, np.sqrt(1.0 / channels), (channels, CLASSES))
        self.params["b_out"] = np.zeros(CLASSES)

    def _op_forward(self, h, i, k):
        op = CONV_OPS[k]
        if op.startswith("conv"):
            size = int(op[-1])
            z, c_conv = conv_forward_im2col(h, self.params[f"K{i}_{k}"],
                                            self.params[f"c{i}_{k}"], 1, size // 2)
            out, c_relu = relu_forward(z)
            return out, (c_conv, c_relu)
        if op == "identity":
            return h, None
        return _pool3_forward(h, op[:3])

    def _op_backward(self, d, i, k, cache, grads):
        op = CONV_OPS[k]
        if op.startswith("conv"):
            c_conv, c_relu = cache
            dx, grads[f"K{i}_{k}"], grads[f"c{i}_{k}"] = conv_backward_im2col(
                relu_backward(d, c_relu), c_conv)
            return dx
        if op == "identity":
            return d
        return _pool3_backward(d, cache)

    def scores(self, x, arch):
        """Class scores (N, 10) of ``arch`` on images x (N, 1, 8, 8), and the caches."""
        z, c_s = conv_forward_im2col(x, self.params["K_s"], self.params["c_s"], 1, 1)
        h0, c_r = relu_forward(z)
        hs, caches = [h0], []
        for i, (inp, k) in enumerate(arch, start=1):
            h, cache = self._op_forward(hs[inp], i, k)
            hs.append(h)
            caches.append(cache)
        ends = loose_ends(arch)
        merged = sum(hs[e] for e in ends) / len(ends)
        pooled = merged.mean(axis=(2, 3))                                    # (N, C)
        s, c_out = affine_forward(pooled, self.params["W_out"], self.params["b_out"])
        return s, (c_s, c_r, caches, ends, merged.shape, c_out)

    def loss(self, x, y, arch):
        s, (c_s, c_r, caches, ends, shape, c_out) = self.scores(x, arch)
        loss, ds = softmax_loss(s, y)
        dpooled, g_w, g_b = affine_backward(ds, c_out)
        grads = {"W_out": g_w, "b_out": g_b}
        dmerged = np.broadcast_to(dpooled[:, :, None, None] / (shape[2] * shape[3]), shape)
        dh = [np.zeros(shape) for _ in range(len(arch) + 1)]
        for e in ends:
            dh[e] += dmerged / len(ends)
        for i in range(len(arch), 0, -1):
            inp, k = arch[i - 1]
            dh[inp] += self._op_backward(dh[i], i, k, caches[i - 1], grads)
        _, grads["K_s"], grads["c_s"] = conv_backward_im2col(relu_backward(dh[0], c_r), c_s)
        return loss, grads

    def accuracy(self, x, y, arch):
        return float(np.mean(self.scores(x, arch)[0].argmax(axis=1) == y))
