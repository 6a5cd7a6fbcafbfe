"""dlcourse.enas: the DAG search space of chapter 7's ENAS miniature (issue 16, part 1)."""

import numpy as np
import pytest

from dlcourse.enas import (
    OPS,
    DagNet,
    all_architectures,
    arch_of_index,
    index_of_arch,
    loose_ends,
    space_size,
    stand_alone_accuracy,
)
from dlcourse.gradcheck import eval_numerical_gradient, rel_error


def test_space_size_counts_every_architecture_once():
    for n in (1, 2, 3):
        archs = all_architectures(n)
        assert len(archs) == len(set(archs)) == space_size(n)
    assert space_size(4) == 5 * 10 * 15 * 20 == 15_000


def test_index_and_architecture_are_a_bijection():
    n = 3
    seen = {arch_of_index(i, n) for i in range(space_size(n))}
    assert seen == set(all_architectures(n))
    for i in (0, 1, 77, space_size(n) - 1):
        assert index_of_arch(arch_of_index(i, n)) == i
    with pytest.raises(ValueError):
        arch_of_index(space_size(n), n)
    with pytest.raises(ValueError, match="node 2"):
        index_of_arch(((0, 0), (2, 0)))  # node 2 cannot read node 2


def test_loose_ends_are_the_nodes_nobody_reads():
    assert loose_ends(((0, 0), (1, 0), (1, 0))) == [2, 3]
    assert loose_ends(((0, 0), (0, 0))) == [1, 2]
    assert loose_ends(((0, 1),)) == [1]


def jittered(net, rng):
    for k, w in net.params.items():  # off zero biases: no ReLU exactly at its kink
        net.params[k] = w + rng.normal(0, 0.1, size=w.shape)


@pytest.mark.parametrize("arch", [((0, 0), (0, 4), (1, 1), (2, 2)),
                                  ((0, 3), (1, 4), (2, 0), (0, 1)),
                                  ((0, 4), (1, 4), (2, 4), (3, 4)),
                                  ((0, 0), (1, 4), (1, 1), (0, 2))])  # node 1 read twice
def test_gradients_of_every_used_weight_match_centred_differences(arch):
    rng = np.random.default_rng(0)
    net = DagNet(rng, n_nodes=4, width=6, n_in=5)
    jittered(net, rng)
    x, y = rng.normal(size=(7, 5)), rng.integers(0, 10, size=7)
    _, grads = net.loss(x, y, arch)
    used = {f"W{i}_{k}" for i, (_, k) in enumerate(arch, 1) if OPS[k] != "skip"}
    assert {k for k in grads if k.startswith("W") and k[1].isdigit()} == used
    for name, g in grads.items():
        num = eval_numerical_gradient(lambda _: net.loss(x, y, arch)[0], net.params[name])
        assert rel_error(g, num) < 1e-6, name


def test_a_stand_alone_architecture_learns_the_digits():
    from dlcourse.data import load_digits_split
    data = load_digits_split(seed=0, validation_fraction=0.25)
    arch = ((0, 0), (1, 0), (0, 3), (2, 4))
    assert stand_alone_accuracy(arch, data, seed=0, steps=150) > 0.85


@pytest.mark.parametrize("arch", [((0, 0), (1, 2), (1, 3), (0, 1)),
                                  ((0, 4), (1, 2), (2, 4), (3, 3)),
                                  ((0, 1), (0, 0), (2, 2), (1, 0))])
def test_conv_dag_gradients_match_centred_differences(arch):
    from dlcourse.enas import ConvDagNet
    rng = np.random.default_rng(0)
    net = ConvDagNet(rng, n_nodes=4, channels=3)
    jittered(net, rng)
    x, y = rng.normal(size=(2, 1, 8, 8)), np.array([3, 7])
    _, grads = net.loss(x, y, arch)
    for name, g in grads.items():
        num = eval_numerical_gradient(lambda _: net.loss(x, y, arch)[0], net.params[name])
        assert rel_error(g, num) < 1e-6, name


def test_pooling_ops_match_a_window_by_window_loop():
    from dlcourse.enas import _pool3_forward
    x = np.abs(np.random.default_rng(1).normal(size=(2, 3, 5, 4)))  # >= 0, as in the net
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for kind, reduce in (("max", np.max), ("avg", np.mean)):
        out = _pool3_forward(x, kind)[0]
        loop = np.array([[[[reduce(padded[n, c, i:i + 3, j:j + 3]) for j in range(4)]
                           for i in range(5)] for c in range(3)] for n in range(2)])
        np.testing.assert_allclose(out, loop, rtol=1e-12)
