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


def arch_name(arch):
    return " ".join(f"{i}:{OPS[op]}<{inp}" for i, (inp, op) in enumerate(arch, start=1))


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
