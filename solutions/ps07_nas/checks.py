"""Trusted checks of problem set 7 (instructor side, never released).

Case 0 is the small visible case; cases 1..n are secret. Counts include ENAS's sizes
(12 layers and 6 operations; B = 7 and 5 operations) and small ones, compared exactly.
The REINFORCE cases draw logits, actions and rewards at random (rewards near 0.9, as
accuracies are, so a forgotten baseline shows), with several L, K and S. Kendall cases
contain ties in one list, in the other and in both.

No graded function may use a library that does its job (OWN_WORK: scipy.stats.kendalltau,
scipy.special.softmax, ...); the REINFORCE gradient is the estimator, not a numerical
gradient. controller_run and ranking_quality give each output its share (weights). The
counts' secret cases are fixed tables, so only case 0 of them is published.

Parts 6 to 9 (issue 16). The RNN controller's cases draw its weights at random (scale
about 1, so that the decisions depend on the state and an ignored embedding shows) with
n, K, E, H different from each other; its uniforms include 0.0 in one case. The
REINFORCE cases through the controller have a case with beta = 0 and one with
advantage = 0 (entropy term alone), and each gradient gets its share. The supernet's
cases have two architectures each, sharing some (node, op) slices and not others (case
3 shares none), every op used, identity included (its slices stay zero); its gradient
part also checks the output of the second architecture after one SGD step on the first,
which changes exactly where they share slices. The search cases have ties in the true
and proxy scores (two decimals) and k from 1 to n; compared to 1e-9 relative.
"""

import numpy as np

from autograder.ownwork import FINITE_DIFFERENCES, FRAMEWORKS

NOTEBOOK = "ps07_nas.ipynb"
FORBIDDEN_MODULES = ("dlcourse.nas", "dlcourse.models", "dlcourse.train", "dlcourse.optim")
LIBRARY_FILES = {"dlcourse": ["__init__.py", "gradcheck.py"]}
OWN_WORK = {"forbid": FRAMEWORKS}


def macro_inputs(rng, case):
    sizes = {0: [(2, 3), (4, 2), (12, 6)], 1: [(1, 5), (7, 4), (15, 6)],
             2: [(3, 3), (10, 8), (20, 2)], 3: [(5, 5), (6, 7), (9, 1)]}[case]
    return {"sizes": np.array(sizes)}


def micro_inputs(rng, case):
    sizes = {0: [(3, 2), (4, 5), (7, 5)], 1: [(5, 3), (8, 5), (12, 7)],
             2: [(2, 5), (6, 4), (9, 2)], 3: [(3, 1), (10, 5), (7, 8)]}[case]
    return {"sizes": np.array(sizes)}


def _controller_case(rng, case, samples):
    l, k = (2, 3) if case == 0 else (int(rng.integers(1, 5)), int(rng.integers(2, 7)))
    return {"theta": rng.normal(size=(l, k)),
            "actions": rng.integers(0, k, size=(samples, l)),
            "rewards": 0.9 + 0.05 * rng.normal(size=samples)}


def reinforce_inputs(rng, case):
    arrays = _controller_case(rng, case, 4 if case == 0 else int(rng.integers(3, 12)))
    arrays["baseline"] = np.array(0.88 if case == 0 else rng.uniform(0.8, 0.95))
    return arrays


def run_inputs(rng, case):
    arrays = _controller_case(rng, case, 6 if case == 0 else int(rng.integers(4, 15)))
    arrays["lr"] = np.array(0.5 if case == 0 else rng.uniform(0.1, 3.0))
    arrays["decay"] = np.array(0.9 if case == 0 else rng.uniform(0.5, 0.99))
    return arrays


def kendall_inputs(rng, case):
    n = 8 if case == 0 else int(rng.integers(6, 20))
    x = rng.integers(0, 5, size=n).astype(float)  # small integers: ties
    y = x + rng.integers(-2, 3, size=n)            # related, with ties of its own
    return {"x": x, "y": y}


def ranking_inputs(rng, case):
    n = 10 if case == 0 else int(rng.integers(9, 40))
    true = np.round(rng.uniform(0.9, 0.98, size=n), 3)
    proxy = np.round(true + rng.normal(0, 0.02, size=n), 3)
    return {"true": true, "proxy": proxy}


# -- parts 6 and 7: the autoregressive RNN controller --------------------------------
CONTROLLER = ("emb", "Wx", "Wh", "b", "W_in", "b_in", "W_op", "b_op")


def _different(rng, k, low, high):
    return [int(v) for v in rng.choice(np.arange(low, high), size=k, replace=False)]


def _rnn_controller(rng, case):
    """Weights of a controller for n nodes and K ops, embedding E, state H."""
    n, k, e, h = (3, 3, 4, 5) if case == 0 else _different(rng, 4, 2, 8)
    return n, k, {"emb": rng.normal(size=(1 + n + k, e)),
                  "Wx": rng.normal(scale=0.8, size=(e, h)),
                  "Wh": rng.normal(scale=0.8, size=(h, h)),
                  "b": rng.normal(scale=0.5, size=h),
                  "W_in": rng.normal(size=(h, n)), "b_in": rng.normal(size=n),
                  "W_op": rng.normal(size=(h, k)), "b_op": rng.normal(size=k)}


def _arch(rng, n, k):
    return np.array([[rng.integers(0, i), rng.integers(0, k)] for i in range(1, n + 1)])


def controller_sample_inputs(rng, case):
    n, _, params = _rnn_controller(rng, case)
    uniforms = rng.uniform(size=2 * n)
    if case == 2:
        uniforms[rng.integers(0, 2 * n)] = 0.0
    return {**params, "uniforms": uniforms}


def controller_log_prob_inputs(rng, case):
    n, k, params = _rnn_controller(rng, case)
    return {**params, "archs": np.stack([_arch(rng, n, k) for _ in range(4)])}


# (advantage, beta) of the secret cases: None draws it
REINFORCE_THROUGH = [(None, None), (None, 0.0), (0.0, None), (None, None)]


def controller_reinforce_inputs(rng, case):
    n, k, params = _rnn_controller(rng, case)
    advantage, beta = (0.7, 0.1) if case == 0 else REINFORCE_THROUGH[(case - 1) % 4]
    advantage = rng.uniform(-1.5, 1.5) if advantage is None else advantage
    beta = rng.uniform(0.05, 1.0) if beta is None else beta
    return {**params, "arch": _arch(rng, n, k), "advantage": np.array(float(advantage)),
            "beta": np.array(float(beta))}


# -- part 8: weight sharing -----------------------------------------------------------
N_OPS = 4  # relu, tanh, linear, identity


def supernet_inputs(rng, case):
    """Two architectures: b shares some of a's (node, op) slices (case 3: none); each
    case uses every op and the identity at least once."""
    n, d, batch = (3, 4, 5) if case == 0 else _different(rng, 3, 2, 8)
    n = max(n, 3)
    while True:
        a, b = _arch(rng, n, N_OPS), _arch(rng, n, N_OPS)
        same = a[:, 1] == b[:, 1]
        used = set(a[:, 1]) | set(b[:, 1])
        ok = not same.any() if case == 3 else same.any() and not same.all()
        if ok and used == set(range(N_OPS)):
            break
    return {"x": rng.normal(size=(batch, d)),
            "W": rng.normal(scale=d ** -0.5, size=(n, N_OPS, d, d)),
            "b": rng.normal(scale=0.3, size=(n, N_OPS, d)),
            "arch_a": a, "arch_b": b, "d_out": rng.normal(size=(batch, d)),
            "lr": np.array(0.5 if case == 0 else rng.uniform(0.1, 1.0))}


# -- part 9: random search against a proxy --------------------------------------------
def search_inputs(rng, case):
    n = 10 if case == 0 else int(rng.integers(8, 60))
    true = np.round(rng.uniform(0.9, 0.98, size=n), 2)  # two decimals: ties
    proxy = np.round(true + rng.normal(0, 0.02, size=n), 2)
    ks = np.unique([1, 2, n // 3, n // 2, n - 1, n, *rng.integers(1, n + 1, size=3)])
    return {"true": true, "proxy": proxy, "ks": ks}


def derived(function, **most_calls):
    """The rule of a part that asks for the analytic gradient computed by ``function``."""
    return {"functions": [function], "forbid": FINITE_DIFFERENCES, "calls": most_calls}


PARTS = [
    {"grade_id": "macro-count", "probe": "macro_count", "functions": ["macro_space_size"],
     "inputs": macro_inputs, "rtol": 0.0, "atol": 0.0},
    {"grade_id": "micro-count", "probe": "micro_count", "functions": ["micro_cell_count"],
     "inputs": micro_inputs, "rtol": 0.0, "atol": 0.0},
    {"grade_id": "reinforce-gradient", "probe": "reinforce_gradient",
     "functions": ["reinforce_gradient"], "inputs": reinforce_inputs,
     "own_work": {"forbid": FINITE_DIFFERENCES}},
    {"grade_id": "controller-run", "probe": "controller_run",
     "functions": ["controller_run"], "inputs": run_inputs,
     "weights": {"theta": 5, "advantages": 4, "theta_left_unchanged": 1}},
    {"grade_id": "kendall-tau", "probe": "kendall_tau", "functions": ["kendall_tau"],
     "inputs": kendall_inputs},
    {"grade_id": "ranking-quality", "probe": "ranking_quality",
     "functions": ["ranking_quality", "kendall_tau"], "inputs": ranking_inputs,
     "weights": {"tau_all": 1, "tau_top": 2, "rank": 1}},
    {"grade_id": "controller-sample", "probe": "controller_sample",
     "functions": ["controller_sample"], "inputs": controller_sample_inputs,
     "weights": {"arch": 4, "log_p": 4}},
    {"grade_id": "controller-log-prob", "probe": "controller_log_prob",
     "functions": ["controller_log_prob"], "inputs": controller_log_prob_inputs},
    {"grade_id": "controller-reinforce", "probe": "controller_reinforce",
     "functions": ["controller_reinforce_grad"], "inputs": controller_reinforce_inputs,
     "cases": 4,
     "weights": {"emb": 2, "Wx": 2, "Wh": 2, "b": 1, "W_in": 2, "b_in": 2, "W_op": 2,
                 "b_op": 2},
     "own_work": derived("controller_reinforce_grad", controller_log_prob=2,
                         controller_sample=2)},
    {"grade_id": "supernet-forward", "probe": "supernet_forward",
     "functions": ["supernet_forward"], "inputs": supernet_inputs},
    {"grade_id": "supernet-grads", "probe": "supernet_grads",
     "functions": ["supernet_forward", "supernet_grads"], "inputs": supernet_inputs,
     "weights": {"dW": 5, "db": 3, "out_b_after_step": 2},
     "own_work": derived("supernet_grads", supernet_forward=2)},
    {"grade_id": "random-rank", "probe": "random_rank",
     "functions": ["expected_random_rank"], "inputs": search_inputs,
     "rtol": 1e-9, "atol": 1e-12},
    {"grade_id": "top-k-recall", "probe": "top_k_recall",
     "functions": ["proxy_top_k_recall"], "inputs": search_inputs,
     "rtol": 1e-9, "atol": 1e-12},
]
