"""ENAS's search loop in miniature (issue 16)."""

import numpy as np

from dlcourse.enas import ConvDagNet
from dlcourse.enas_controller import LSTMController
from dlcourse.enas_search import derive, reinforce_step, search


def test_reinforce_learns_a_rewarded_choice():
    """Reward 1 when node 2 reads node 0 through op 3: REINFORCE with a baseline drives
    the policy's probability of that choice up from about 1/10."""
    ctrl = LSTMController(np.random.default_rng(0), n_nodes=2, n_ops=5, hidden=8, embed=4)
    rng, state = np.random.default_rng(1), {}
    target = lambda a: float(a[1] == (0, 3))  # noqa: E731

    def p_target():
        return sum(np.exp(ctrl.log_prob(((0, k), (0, 3)))[0]) for k in range(5))

    before = p_target()
    for _ in range(400):
        reinforce_step(ctrl, target, rng, state, lr=0.05, beta=0.0)
    assert before < 0.15 and p_target() > 0.8


def test_entropy_bonus_alone_keeps_the_policy_near_uniform():
    ctrl = LSTMController(np.random.default_rng(2), n_nodes=2, n_ops=3, hidden=6, embed=4)
    for k, w in ctrl.params.items():
        ctrl.params[k] = 5 * w  # start peaked
    rng, state = np.random.default_rng(3), {}
    start = ctrl.log_prob(ctrl.most_likely())[1]
    for _ in range(300):
        reinforce_step(ctrl, lambda a: 0.0, rng, state, lr=0.02, beta=1.0)
    maximum = np.log(1) + np.log(3) + np.log(2) + np.log(3)  # uniform: sum of log(#choices)
    after = ctrl.log_prob(ctrl.most_likely())[1]
    assert after > start and after > 0.95 * maximum


def test_search_and_derive_run_and_report(tmp_path):
    from dlcourse.data import load_digits_split
    data = load_digits_split(seed=0, validation_fraction=0.25, as_images=True)
    rng = np.random.default_rng(0)
    net = ConvDagNet(rng, n_nodes=2, channels=2)
    ctrl = LSTMController(rng, n_nodes=2, n_ops=5, hidden=4, embed=3)
    hist = search(net, ctrl, data, rng, rounds=2, shared_steps=3, controller_steps=2,
                  val_batch=8)
    assert hist["shared_steps"] == [3, 6] and len(hist["reward"]) == 2
    assert all(0 <= r <= 1 for r in hist["reward"])
    best, scored = derive(net, ctrl, data, rng, n_samples=4)
    assert len(scored) == 4 and best in [a for a, _ in scored]
    assert max(s for _, s in scored) == dict(scored)[best]


def test_baseline_is_a_moving_average_of_the_rewards():
    ctrl = LSTMController(np.random.default_rng(4), n_nodes=2, n_ops=2, hidden=3, embed=2)
    rng, state = np.random.default_rng(5), {}
    rewards = iter([1.0, 0.0, 0.0, 1.0])
    advantages = [reinforce_step(ctrl, lambda a: next(rewards), rng, state, decay=0.5)[2]
                  for _ in range(4)]
    # b starts at the first reward, then b <- (b + R) / 2: 1, 0.5, 0.25, 0.625
    assert advantages == [0.0, -1.0, -0.5, 0.75]
    assert state["baseline"] == 0.625


def test_ranking_measures_on_known_tables():
    from dlcourse.enas_search import (
        expected_best_of_k_percentile,
        top_k_recall,
        top_quarter_tau,
    )
    truth = np.arange(8.0)
    assert top_k_recall(truth, truth, 3) == 1.0
    assert top_k_recall(truth, -truth, 3) == 0.0
    assert top_quarter_tau(truth, truth[::-1]) == -1.0
    # best of k = n is the maximum, which has (n - 1) / n of the population below it
    assert abs(expected_best_of_k_percentile(truth, 8) - 87.5) < 1e-12
    # k = 1: the mean share below, (0 + 1 + ... + 7) / 8 / 8
    assert abs(expected_best_of_k_percentile(truth, 1) - 100 * 28 / 64) < 1e-12
    # against a simulation, with ties
    rng = np.random.default_rng(0)
    pop = rng.integers(0, 6, size=30).astype(float)
    draws = [max(rng.choice(pop, 4, replace=False)) for _ in range(40000)]
    sim = np.mean([100 * np.mean(pop < d) for d in draws])
    assert abs(expected_best_of_k_percentile(pop, 4) - sim) < 0.5
