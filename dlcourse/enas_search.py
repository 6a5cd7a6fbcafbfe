"""ENAS's search loop in miniature: shared weights and controller trained in turn, then
the derive step. Chapter 7.

One round = (1) ``shared_steps`` Adam steps on the supernet's weights, each on an
architecture the controller samples; (2) ``controller_steps`` REINFORCE updates of the
controller, each on one sampled architecture with reward R = its accuracy, with the
shared weights, on a random validation mini-batch; advantage R - b with b a moving average
of the rewards (decay ``baseline_decay``), and an entropy bonus beta. Pham et al. (2018)
alternate the two phases the same way; the shared weights are never reset.
"""

import math

import numpy as np

from dlcourse.enas import train
from dlcourse.nas import kendall_tau
from dlcourse.optim import adam


def top_quarter_tau(truth, estimate):
    """Kendall tau of the estimate against the truth over the truth's best quarter."""
    rows = np.argsort(-np.asarray(truth))[: max(2, len(truth) // 4)]
    return kendall_tau(np.asarray(truth)[rows], np.asarray(estimate)[rows])


def top_k_recall(truth, estimate, k):
    """Share of the truth's k best that are among the estimate's k best (ties broken by
    position, as argsort does)."""
    best = set(np.argsort(-np.asarray(truth), kind="stable")[:k].tolist())
    found = set(np.argsort(-np.asarray(estimate), kind="stable")[:k].tolist())
    return len(best & found) / k


def percentile(value, population):
    """Share of the population strictly below value, in percent."""
    return float(100 * np.mean(np.asarray(population) < value))


def expected_best_of_k_percentile(population, k):
    """Exact expected percentile (share strictly below, in %) of the best of k members
    drawn without replacement from ``population``: the best is the m-th smallest with
    probability C(m-1, k-1) / C(n, k)."""
    values = np.sort(np.asarray(population, dtype=float))
    n = len(values)
    below = np.searchsorted(values, values, side="left")  # strictly below each
    p = np.array([math.comb(m - 1, k - 1) for m in range(1, n + 1)]) / math.comb(n, k)
    return float(100 * (p * below / n).sum())


def reinforce_step(controller, reward_of, rng, state, lr=3e-3, beta=1e-3, decay=0.9):
    """One REINFORCE update of ``controller`` (an LSTMController): sample, reward, ascend.

    state: dict carrying the baseline ("baseline") and Adam's states ("adam") across calls.
    Returns (arch, reward, advantage).
    """
    arch, _ = controller.sample(rng)
    reward = float(reward_of(arch))
    baseline = state.get("baseline", reward)
    advantage = reward - baseline
    grads = controller.reinforce_grads(arch, advantage, beta)
    configs = state.setdefault("adam", {})
    for name, g in grads.items():
        cfg = configs.setdefault(name, {"learning_rate": lr})
        # Adam minimises: descend on -J to ascend on J
        controller.params[name], configs[name] = adam(controller.params[name], -g, cfg)
    state["baseline"] = decay * baseline + (1 - decay) * reward
    return arch, reward, advantage


def search(net, controller, data, rng, rounds, shared_steps, controller_steps,
           val_batch=64, lr=3e-3, controller_lr=3e-3, beta=1e-3, decay=0.9):
    """Alternate the two phases for ``rounds`` rounds (module docstring).

    Returns history: per round, the mean reward of its controller steps, the controller's
    summed entropy of its most likely architecture's decisions, and the training steps
    spent on shared weights so far.
    """
    weights_opt, state = {}, {}
    x_val, y_val = data["x_val"], data["y_val"]
    history = {"reward": [], "entropy": [], "shared_steps": []}

    def reward_of(arch):
        idx = rng.integers(0, len(x_val), size=val_batch)
        return net.accuracy(x_val[idx], y_val[idx], arch)

    for r in range(rounds):
        train(net, data, rng, shared_steps, lambda g: controller.sample(g)[0], lr=lr,
              optimizer=weights_opt)
        rewards = [reinforce_step(controller, reward_of, rng, state, controller_lr, beta,
                                  decay)[1] for _ in range(controller_steps)]
        history["reward"].append(float(np.mean(rewards)))
        history["entropy"].append(controller.log_prob(controller.most_likely())[1])
        history["shared_steps"].append((r + 1) * shared_steps)
    return history


def derive(net, controller, data, rng, n_samples=20):
    """ENAS's derive step: sample ``n_samples`` architectures from the controller, score
    each with the shared weights on the whole validation split, return the best and all
    (architecture, score) pairs. The best is then retrained from scratch."""
    scored = []
    for _ in range(n_samples):
        arch, _ = controller.sample(rng)
        scored.append((arch, net.accuracy(data["x_val"], data["y_val"], arch)))
    best = max(scored, key=lambda p: p[1])[0]
    return best, scored
