"""Element-wise activations. Derived in chapter 1.

Each backward pass multiplies the upstream gradient by the activation's derivative,
written in terms of what the forward pass cached (the input for ReLU, the output for
sigmoid and tanh, whose derivatives are cheapest in terms of their outputs).
"""

import numpy as np


def relu_forward(x):
    """ReLU, ``max(0, x)``. x: any shape. Returns (out of x's shape, cache = x)."""
    return np.maximum(0.0, x), x


def relu_backward(dout, cache):
    """dx = dout where x > 0, else 0 (the subgradient 0 is used at x = 0)."""
    x = cache
    return dout * (x > 0)


def sigmoid(x):
    """Logistic function 1 / (1 + e^-x), computed without overflow for any x."""
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])  # x < 0 here, so e^x cannot overflow
    out[~pos] = ex / (1.0 + ex)
    return out


def sigmoid_forward(x):
    """Sigmoid layer. x: any shape. Returns (out of x's shape, cache = out)."""
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    """dx = dout * s * (1 - s), with s the cached output."""
    s = cache
    return dout * s * (1.0 - s)


def tanh_forward(x):
    """tanh layer. x: any shape. Returns (out of x's shape, cache = out)."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """dx = dout * (1 - t^2), with t the cached output."""
    t = cache
    return dout * (1.0 - t * t)
