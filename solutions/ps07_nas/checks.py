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
]
