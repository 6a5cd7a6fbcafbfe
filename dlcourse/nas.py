"""Neural architecture search in miniature: search-space counts, a weight-sharing
supernet on the digits, a REINFORCE controller, and rank correlation. Chapter 7.

The miniature search space: an MLP with ``N_LAYERS`` hidden layers of width 64 (the
digits have 64 features, so every layer keeps the width), each layer choosing one of the
``OPS``; an affine layer to the 10 classes follows. An architecture is a tuple of op
indices, one per layer: 5 ** 3 = 125 architectures.
"""

import itertools
import math

import numpy as np

from dlcourse.enas import _ACT
from dlcourse.enas import train as _train
from dlcourse.layers import affine_backward, affine_forward, softmax_loss

OPS = ("relu", "tanh", "sigmoid", "linear", "skip")
N_OPS = len(OPS)
N_LAYERS, WIDTH, CLASSES = 3, 64, 10


def macro_space_size(n_layers, n_ops):
    """ENAS's macro space: each layer picks an op and any subset of the earlier layers as
    skip connections: n_ops ** L * 2 ** (L (L - 1) / 2)."""
    return n_ops ** n_layers * 2 ** (n_layers * (n_layers - 1) // 2)


def micro_cell_count(n_nodes, n_ops, ordered=True):
    """One cell of ENAS's micro space with ``n_nodes`` nodes, the first two being the
    cell's inputs: every later node picks two inputs among the nodes before it and an op
    for each. ``ordered``: the two (input, op) picks are an ordered pair (as the
    controller samples them), else an unordered one (the sum is symmetric)."""
    total = 1
    for j in range(2, n_nodes):  # node j has j earlier nodes to choose from
        one = j * n_ops
        total *= one * one if ordered else one * (one + 1) // 2
    return total


def all_architectures(n_layers=N_LAYERS, n_ops=N_OPS):
    return list(itertools.product(range(n_ops), repeat=n_layers))


def arch_name(arch):
    return "-".join(OPS[i] for i in arch)


class Supernet:
    """Every architecture of the space as a path through shared weights: layer l, op k
    has its own weights ``W{l}_{k}``, ``b{l}_{k}`` (none for "skip"), used by every
    architecture that picks op k at layer l; the output layer ``W_out``, ``b_out`` is
    shared by all."""

    def __init__(self, rng):
        self.params = {}
        for l, (k, op) in itertools.product(range(N_LAYERS), enumerate(OPS)):
            if op != "skip":
                gain = 2.0 if op == "relu" else 1.0
                self.params[f"W{l}_{k}"] = rng.normal(0, np.sqrt(gain / WIDTH), (WIDTH, WIDTH))
                self.params[f"b{l}_{k}"] = np.zeros(WIDTH)
        self.params["W_out"] = rng.normal(0, np.sqrt(1 / WIDTH), (WIDTH, CLASSES))
        self.params["b_out"] = np.zeros(CLASSES)

    def scores(self, x, arch):
        """Class scores (N, 10) of architecture ``arch`` on x (N, 64), and the caches."""
        h, caches = x, []
        for l, k in enumerate(arch):
            op = OPS[k]
            if op == "skip":
                caches.append(None)
                continue
            h, c_aff = affine_forward(h, self.params[f"W{l}_{k}"], self.params[f"b{l}_{k}"])
            c_act = None
            if op in _ACT:
                h, c_act = _ACT[op][0](h)
            caches.append((c_aff, c_act))
        s, c_out = affine_forward(h, self.params["W_out"], self.params["b_out"])
        return s, (caches, c_out)

    def loss(self, x, y, arch):
        """Cross-entropy of ``arch`` on (x, y) and the gradients of the weights it uses."""
        s, (caches, c_out) = self.scores(x, arch)
        loss, ds = softmax_loss(s, y)
        dh, grads_w, grads_b = affine_backward(ds, c_out)
        grads = {"W_out": grads_w, "b_out": grads_b}
        for l in reversed(range(len(arch))):
            k, cache = arch[l], caches[l]
            if cache is None:
                continue
            c_aff, c_act = cache
            if c_act is not None:
                dh = _ACT[OPS[k]][1](dh, c_act)
            dh, grads[f"W{l}_{k}"], grads[f"b{l}_{k}"] = affine_backward(dh, c_aff)
        return loss, grads

    def accuracy(self, x, y, arch):
        return float(np.mean(self.scores(x, arch)[0].argmax(axis=1) == y))


def train_architecture(arch, data, rng, steps=600, batch=64, lr=3e-3, net=None,
                       sample=None, optimizer=None):
    """Adam steps on mini-batches of the training digits. With ``sample`` (a function of
    rng returning an architecture), each step trains a freshly sampled architecture of the
    shared ``net``: one-shot training. Returns the network.

    ``optimizer``: a dict of Adam states by parameter name, updated in place. Pass the
    same dict to every call that continues training one ``net`` (as ENAS's alternation
    does), so that Adam's moment estimates and step counts carry over; without it each
    call starts Adam afresh."""
    net = net or Supernet(rng)
    return _train(net, data, rng, steps, sample or (lambda _: arch), batch, lr, optimizer)


def kendall_tau(a, b):
    """Kendall's tau-b between two sequences of scores (ties counted as neither)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    concordant = discordant = ties_a = ties_b = 0
    for i, j in itertools.combinations(range(len(a)), 2):
        da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
        if da == 0 and db == 0:
            continue
        if da == 0:
            ties_a += 1
        elif db == 0:
            ties_b += 1
        elif da == db:
            concordant += 1
        else:
            discordant += 1
    n0 = concordant + discordant
    denom = math.sqrt((n0 + ties_a) * (n0 + ties_b))
    return (concordant - discordant) / denom if denom else 0.0


class Controller:
    """A policy over architectures: one softmax over the ops per layer, with logits
    ``theta`` (L, n_ops), trained by REINFORCE with a moving-average baseline."""

    def __init__(self, n_layers=N_LAYERS, n_ops=N_OPS):
        self.theta = np.zeros((n_layers, n_ops))
        self.baseline = None

    def probabilities(self):
        e = np.exp(self.theta - self.theta.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def sample(self, rng):
        p = self.probabilities()
        return tuple(int(rng.choice(len(row), p=row)) for row in p)

    def update(self, arch, reward, lr=0.5, decay=0.9):
        """One REINFORCE step: theta += lr (R - b) grad log p(arch); then the baseline
        moves towards R. Returns the advantage R - b used."""
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        grad = -self.probabilities()  # d log softmax(theta_l)[k] / d theta_l = e_k - p_l
        grad[np.arange(len(arch)), arch] += 1.0
        self.theta += lr * advantage * grad
        self.baseline = decay * self.baseline + (1 - decay) * reward
        return advantage
