"""The ENAS miniature's autoregressive LSTM controller (issue 16)."""

import itertools

import numpy as np
import pytest

from dlcourse.enas import all_architectures
from dlcourse.enas_controller import LSTMController
from dlcourse.gradcheck import eval_numerical_gradient


def test_probabilities_of_every_architecture_sum_to_one():
    ctrl = LSTMController(np.random.default_rng(0), n_nodes=2, n_ops=3, hidden=5, embed=4)
    archs = all_architectures(2, 3)
    total = sum(np.exp(ctrl.log_prob(a)[0]) for a in archs)
    assert abs(total - 1) < 1e-12


def test_samples_follow_the_policy():
    ctrl = LSTMController(np.random.default_rng(1), n_nodes=2, n_ops=2, hidden=4, embed=3)
    for k, w in ctrl.params.items():
        ctrl.params[k] = w * 10  # a peaked policy, so frequencies differ visibly
    rng = np.random.default_rng(2)
    draws = [ctrl.sample(rng) for _ in range(4000)]
    for arch, log_p in draws[:20]:
        assert abs(log_p - ctrl.log_prob(arch)[0]) < 1e-12
    counts = {a: 0 for a in all_architectures(2, 2)}
    for arch, _ in draws:
        counts[arch] += 1
    for arch, n in counts.items():
        p = np.exp(ctrl.log_prob(arch)[0])
        assert abs(n / 4000 - p) < 4 * np.sqrt(p * (1 - p) / 4000) + 1e-3


def test_the_policy_is_autoregressive():
    """A later decision's distribution depends on an earlier decision."""
    ctrl = LSTMController(np.random.default_rng(3), n_nodes=2, n_ops=3, hidden=6, embed=4)
    for k, w in ctrl.params.items():
        ctrl.params[k] = w * 5
    # p(node 2's op | node 1's op) for two different node-1 ops, node 2 input fixed
    def conditional(op1):
        joint = [np.exp(ctrl.log_prob(((0, op1), (1, k)))[0]) for k in range(3)]
        return np.array(joint) / sum(joint)
    assert np.abs(conditional(0) - conditional(2)).max() > 1e-3


@pytest.mark.parametrize("advantage,beta,squash", [
    (1.3, 0.0, None), (-0.7, 0.0, None), (0.0, 0.5, None), (0.9, 0.2, None),
    (0.9, 0.2, (2.5, 5.0)), (-1.1, 0.3, (1.1, 2.0))])
def test_reinforce_gradients_match_centred_differences(advantage, beta, squash):
    """squash = (C, T): logits C tanh(u / T), Pham et al.'s tanh constant and temperature."""
    c, t = squash or (None, 1.0)
    ctrl = LSTMController(np.random.default_rng(4), n_nodes=3, n_ops=4, hidden=5, embed=3,
                          tanh_c=c, temperature=t)
    for k, w in ctrl.params.items():  # away from the uniform policy's zero entropy gradient
        ctrl.params[k] = 4 * w + 0.1
    arch = ((0, 2), (1, 0), (1, 3))

    def objective():
        log_p, entropy = ctrl.log_prob(arch)
        return advantage * log_p + beta * entropy

    grads = ctrl.reinforce_grads(arch, advantage, beta)
    for name, g in grads.items():
        num = eval_numerical_gradient(lambda _: objective(), ctrl.params[name])
        # small entries (1e-6) make the max relative error noisy: bound both
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-9, err_msg=name)
    assert max(np.abs(g).max() for g in grads.values()) > 1e-3  # not vacuous


def test_most_likely_is_the_argmax_over_the_space_for_a_small_policy():
    ctrl = LSTMController(np.random.default_rng(5), n_nodes=2, n_ops=2, hidden=4, embed=3)
    for k, w in ctrl.params.items():
        ctrl.params[k] = w * 20
    best = max(itertools.chain(all_architectures(2, 2)), key=lambda a: ctrl.log_prob(a)[0])
    # greedy decoding of a peaked policy finds the mode here (not guaranteed in general)
    assert ctrl.most_likely() == best


def test_the_tanh_constant_bounds_every_probability():
    """With z = C tanh(u / T) no choice among K can exceed e^C / (e^C + (K-1) e^-C)."""
    ctrl = LSTMController(np.random.default_rng(6), n_nodes=3, n_ops=5, hidden=4, embed=3,
                          tanh_c=1.1, temperature=5.0)
    for k, w in ctrl.params.items():
        ctrl.params[k] = w * 1000  # raw logits far beyond the bound
    ctrl.params["b_op"] = np.array([1e4, -1e4, -1e4, -1e4, -1e4])  # one op far ahead
    bound = np.exp(1.1) / (np.exp(1.1) + 4 * np.exp(-1.1))
    steps = ctrl._run(lambda t, log_p: int(np.argmax(log_p)))
    op_probs = [np.exp(s[5]).max() for s in steps if s[0] == "op"]
    assert max(op_probs) <= bound + 1e-12
    assert max(op_probs) > bound - 1e-3  # the bound is reached, not just respected
