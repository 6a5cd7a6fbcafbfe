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


def sgd_nesterov(w, dw, config):
    """Nesterov momentum, written in the look-ahead variable (chapter 1).

    With u = w + mu v the point where Nesterov evaluates the gradient, the
    rule v <- mu v - lr grad(u); u <- u + v becomes, for the stored u (which
    is what ``w`` holds here): v_new = mu v - lr dw; w <- w - mu v + (1 + mu)
    v_new. config: learning_rate, momentum (0.9), velocity (state).
    """
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    mu = config["momentum"]
    v = config.get("velocity", np.zeros_like(w))
    v_new = mu * v - config["learning_rate"] * dw
    config["velocity"] = v_new
    return w - mu * v + (1 + mu) * v_new, config


def rmsprop(w, dw, config):
    """RMSProp: s <- rho s + (1 - rho) dw^2; w <- w - lr dw / (sqrt(s) + eps).

    config: learning_rate (1e-3), decay_rate (rho, 0.99), epsilon (1e-8), and
    the state cache s (shape of w).
    """
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    s = config.get("cache", np.zeros_like(w))
    s = config["decay_rate"] * s + (1 - config["decay_rate"]) * dw * dw
    config["cache"] = s
    step = config["learning_rate"] * dw / (np.sqrt(s) + config["epsilon"])
    return w - step, config


def adam(w, dw, config):
    """Adam (Kingma & Ba, 2015): moment estimates with bias correction.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon
    (1e-8), weight_decay (0: decoupled decay, AdamW, Loshchilov & Hutter,
    2019: w also shrinks by lr * weight_decay * w, outside the moment
    estimates), and the state m, v (shape of w) and t (step count).
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
    next_w = w - config["learning_rate"] * m_hat / denominator
    if config.get("weight_decay"):  # decoupled: not seen by m and v
        next_w = next_w - config["learning_rate"] * config["weight_decay"] * w
    return next_w, config


UPDATE_RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum,
                "sgd_nesterov": sgd_nesterov, "rmsprop": rmsprop, "adam": adam}


def cosine_schedule(total_steps, warmup_steps=0, final_fraction=0.0):
    """Learning-rate multiplier per step: linear warm-up, then a cosine decay.

    Returns f(step) for step = 0, 1, ...: (step + 1) / warmup_steps during
    the warm-up, then final + (1 - final) (1 + cos(pi t)) / 2 with t going
    from 0 to 1 over the remaining steps (chapter 1).
    """
    def multiplier(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        t = min(1.0, (step - warmup_steps) / span)
        cosine = 0.5 * (1 + np.cos(np.pi * t))
        return final_fraction + (1 - final_fraction) * cosine
    return multiplier


def step_schedule(every, factor=0.1):
    """Learning-rate multiplier factor ** (step // every): a staircase."""
    return lambda step: factor ** (step // every)
