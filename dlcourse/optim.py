"""First-order update rules. Chapter 1.

Each rule has the signature ``update(w, dw, config) -> (next_w, config)``, where
``config`` is a dict holding the hyper-parameters and any state the rule keeps (a
velocity, moment estimates), so a training loop can keep one config per parameter.
"""

import numpy as np


def sgd(w, dw, config):
    """Plain stochastic gradient descent: w <- w - lr * dw. config: learning_rate."""
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config):
    """SGD with momentum: v <- mu v - lr dw; w <- w + v.

    config: learning_rate, momentum (mu, default 0.9), velocity (state, same shape as w).
    """
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def adam(w, dw, config):
    """Adam (Kingma & Ba, 2015): moment estimates with bias correction.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon
    (1e-8), and the state m, v (shape of w) and t (step count).
    """
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    m = config.get("m", np.zeros_like(w))
    v = config.get("v", np.zeros_like(w))
    t = config.get("t", 0) + 1
    m = config["beta1"] * m + (1 - config["beta1"]) * dw
    v = config["beta2"] * v + (1 - config["beta2"]) * dw * dw
    m_hat = m / (1 - config["beta1"] ** t)
    v_hat = v / (1 - config["beta2"] ** t)
    config.update(m=m, v=v, t=t)
    denominator = np.sqrt(v_hat) + config["epsilon"]
    return w - config["learning_rate"] * m_hat / denominator, config


UPDATE_RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "adam": adam}
