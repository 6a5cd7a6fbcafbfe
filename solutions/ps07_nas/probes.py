"""Probes of problem set 7 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. Counts are compared exactly: each is sent as eight base-10^9
digits (they do not fit in 64 bits).
"""

import numpy as np


def _exact(values):
    """Each integer as 8 limbs, least significant first: exact up to 10^72."""
    rows = []
    for v in values:
        v = int(v)
        if not 0 <= v < 10 ** 72:
            raise ValueError(f"count {v} is out of range")
        rows.append([(v // 10 ** (9 * i)) % 10 ** 9 for i in range(8)])
    return np.array(rows, dtype=np.int64)


def macro_count(ns, sizes):
    return {"counts": _exact(ns["macro_space_size"](int(l), int(k)) for l, k in sizes)}


def micro_count(ns, sizes):
    return {"counts": _exact(ns["micro_cell_count"](int(b), int(k)) for b, k in sizes)}


def reinforce_gradient(ns, theta, actions, rewards, baseline):
    grad = ns["reinforce_gradient"](theta.copy(), actions.copy(), rewards.copy(),
                                    float(baseline))
    return {"grad": np.asarray(grad, dtype=float)}


def controller_run(ns, theta, actions, rewards, lr, decay):
    given = theta.copy()
    final, advantages = ns["controller_run"](given, actions.copy(), rewards.copy(),
                                             float(lr), float(decay))
    return {"theta": np.asarray(final, dtype=float),
            "advantages": np.asarray(advantages, dtype=float),
            "theta_left_unchanged": np.array(float(np.array_equal(given, theta)))}


def kendall_tau(ns, x, y):
    return {"tau": np.array(float(ns["kendall_tau"](x.copy(), y.copy())))}


def ranking_quality(ns, true, proxy):
    tau_all, tau_top, rank = ns["ranking_quality"](true.copy(), proxy.copy())
    return {"tau_all": np.array(float(tau_all)), "tau_top": np.array(float(tau_top)),
            "rank": np.array(int(rank))}
