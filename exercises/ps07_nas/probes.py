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


CONTROLLER = ("emb", "Wx", "Wh", "b", "W_in", "b_in", "W_op", "b_op")


def _params(weights):
    return {name: weights[name].copy() for name in CONTROLLER}


def _pairs(arch):
    """An architecture as a tuple of (input, op) pairs of Python ints."""
    return tuple((int(j), int(k)) for j, k in arch)


def _arch_array(arch, n):
    arch = np.asarray(arch)
    if arch.shape != (n, 2) or arch.dtype.kind not in "iu":
        raise ValueError(f"the architecture must be {n} pairs (input, op) of integers; "
                         f"got {arch.tolist()}")
    return arch.astype(np.int64)


def controller_sample(ns, uniforms, **weights):
    n = len(uniforms) // 2
    arch, log_p = ns["controller_sample"](_params(weights), n, uniforms.copy())
    return {"arch": _arch_array(arch, n), "log_p": np.array(float(log_p))}


def controller_log_prob(ns, archs, **weights):
    return {"log_p": np.array([float(ns["controller_log_prob"](_params(weights),
                                                               _pairs(a)))
                               for a in archs])}


def controller_reinforce(ns, arch, advantage, beta, **weights):
    grads = ns["controller_reinforce_grad"](_params(weights), _pairs(arch),
                                            float(advantage), float(beta))
    if not isinstance(grads, dict):
        raise ValueError("controller_reinforce_grad must return a dict of gradients "
                         f"(got {type(grads).__name__})")
    missing = [name for name in CONTROLLER if name not in grads]
    if missing:
        raise ValueError(f"the gradients lack {', '.join(missing)}")
    return {name: np.asarray(grads[name]) for name in CONTROLLER}


def supernet_forward(ns, x, W, b, arch_a, arch_b, d_out, lr):
    """Your forward pass for both architectures, on one shared set."""
    shared = {"W": W.copy(), "b": b.copy()}
    return {name: np.asarray(ns["supernet_forward"](x.copy(), shared, _pairs(arch)))
            for name, arch in (("out_a", arch_a), ("out_b", arch_b))}


def supernet_grads(ns, x, W, b, arch_a, arch_b, d_out, lr):
    """The shared set's gradients for both architectures (stacked: a, then b), and the
    output of b after one SGD step W -= lr dW, b -= lr db on a's gradients."""
    grads = []
    for arch in (arch_a, arch_b):
        g = ns["supernet_grads"](x.copy(), {"W": W.copy(), "b": b.copy()}, _pairs(arch),
                                 d_out.copy())
        if not isinstance(g, dict) or "W" not in g or "b" not in g:
            raise ValueError("supernet_grads must return a dict with the keys W and b")
        grads.append((np.asarray(g["W"]), np.asarray(g["b"])))
    for dW, db in grads:
        if dW.shape != W.shape or db.shape != b.shape:
            raise ValueError(f"the gradients have shapes {dW.shape} and {db.shape}; the "
                             f"shared set's are {W.shape} and {b.shape}")
    stepped = {"W": W - float(lr) * grads[0][0], "b": b - float(lr) * grads[0][1]}
    after = ns["supernet_forward"](x.copy(), stepped, _pairs(arch_b))
    return {"dW": np.stack([g[0] for g in grads]), "db": np.stack([g[1] for g in grads]),
            "out_b_after_step": np.asarray(after)}


def random_rank(ns, true, proxy, ks):
    return {"rank": np.array([float(ns["expected_random_rank"](true.copy(), int(k)))
                              for k in ks])}


def top_k_recall(ns, true, proxy, ks):
    return {"recall": np.array([float(ns["proxy_top_k_recall"](true.copy(), proxy.copy(),
                                                               int(k)))
                                for k in ks])}
