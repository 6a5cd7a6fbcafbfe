"""Chapter 7's miniature NAS: counts, weight sharing, REINFORCE, Kendall's tau, and the
ground-truth experiment at a tiny size."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from dlcourse.gradcheck import eval_numerical_gradient, rel_error
from dlcourse.nas import (
    OPS,
    Controller,
    Supernet,
    all_architectures,
    kendall_tau,
    macro_space_size,
    micro_cell_count,
)

ROOT = Path(__file__).resolve().parents[1]


def test_search_space_counts_by_hand():
    # 2 layers, 3 ops: 3 * 3 op choices, one possible skip (layer 0 -> layer 1): 18
    assert macro_space_size(2, 3) == 18
    assert macro_space_size(12, 6) == 6 ** 12 * 2 ** 66  # ENAS's macro space
    # 3 nodes (2 inputs + 1), 2 ops: the node picks (input, op) twice from 2 * 2 = 4
    assert micro_cell_count(3, 2) == 16 and micro_cell_count(3, 2, ordered=False) == 10
    assert len(all_architectures()) == len(OPS) ** 3 == 125


def test_supernet_gradients_and_weight_sharing(rng):
    net = Supernet(rng)
    x, y = rng.normal(size=(5, 64)), rng.integers(0, 10, 5)
    arch = (0, 3, 4)  # relu, linear, skip
    _, grads = net.loss(x, y, arch)
    assert set(grads) == {"W0_0", "b0_0", "W1_3", "b1_3", "W_out", "b_out"}
    for name in ("W0_0", "b1_3", "W_out"):
        numeric = eval_numerical_gradient(lambda _: net.loss(x, y, arch)[0], net.params[name])
        assert rel_error(grads[name], numeric) < 1e-5  # ReLU kinks: not below 1e-6
    # a shared weight changes every architecture that uses it, and no other
    before = {a: net.scores(x, a)[0] for a in [(0, 3, 4), (0, 1, 2), (1, 3, 4)]}
    net.params["W0_0"] += 0.5
    assert not np.allclose(net.scores(x, (0, 3, 4))[0], before[(0, 3, 4)])
    assert not np.allclose(net.scores(x, (0, 1, 2))[0], before[(0, 1, 2)])
    assert np.allclose(net.scores(x, (1, 3, 4))[0], before[(1, 3, 4)])


def test_reinforce_learns_the_better_choice_of_a_bandit():
    rng = np.random.default_rng(0)
    controller = Controller(n_layers=1, n_ops=3)
    rewards = np.array([0.2, 0.9, 0.5])
    for _ in range(400):
        arch = controller.sample(rng)
        controller.update(arch, rewards[arch[0]] + rng.normal(0, 0.05), lr=0.5)
    assert controller.probabilities()[0].argmax() == 1
    assert controller.probabilities()[0, 1] > 0.9


def test_kendall_tau_on_known_orders():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert abs(kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) - 4 / 6) < 1e-12


def test_the_ground_truth_experiment_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "gt.json"
    done = subprocess.run([sys.executable, ROOT / "experiments/nas_ground_truth.py",
                           "--tiny", "--out", out], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert len(data["results"]) == 3
    assert all(0.5 < r["accuracy"] <= 1.0 for r in data["results"])  # better than chance


def test_the_committed_ground_truth_is_the_full_run():
    data = json.loads((ROOT / "experiments/results/nas_ground_truth.json").read_text())
    assert len(data["results"]) == 125 and data["seeds"] == 2 and data["steps"] == 600


def test_training_in_two_calls_with_one_optimizer_equals_one_call():
    """ENAS alternates shared-weight training with controller updates; Adam's state must
    carry over between the training phases (it used to restart at every call)."""
    from dlcourse.data import load_digits_split
    from dlcourse.nas import Supernet, train_architecture

    data = load_digits_split(seed=0)
    arch = (0, 1, 2)
    once = train_architecture(arch, data, np.random.default_rng(5), steps=20,
                              net=Supernet(np.random.default_rng(1)))
    rng, opt = np.random.default_rng(5), {}
    twice = Supernet(np.random.default_rng(1))
    train_architecture(arch, data, rng, steps=12, net=twice, optimizer=opt)
    train_architecture(arch, data, rng, steps=8, net=twice, optimizer=opt)
    for name in once.params:
        np.testing.assert_allclose(twice.params[name], once.params[name], rtol=1e-12)
    # Without the shared state the second call restarts Adam: a different result.
    fresh = Supernet(np.random.default_rng(1))
    rng = np.random.default_rng(5)
    train_architecture(arch, data, rng, steps=12, net=fresh)
    train_architecture(arch, data, rng, steps=8, net=fresh)
    assert any(not np.allclose(fresh.params[n], once.params[n]) for n in once.params)
