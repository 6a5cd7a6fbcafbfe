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
