"""Numerical gradients by centred differences, and the relative error. Chapter 1.

A centred difference ``(f(x + h) - f(x - h)) / 2h`` has truncation error O(h^2); with
h = 1e-5 in float64 a correct analytic gradient of a smooth, well-scaled function agrees
to a relative error below about 1e-7.
"""

import numpy as np


def eval_numerical_gradient(f, x, h=1e-5):
    """Gradient of a scalar function ``f(x)`` at x, one coordinate at a time.

    Inputs:
        f: callable taking an array of x's shape, returning a float.
        x: float64 array, any shape; modified in place during the evaluation and restored.
        h: step.

    Returns:
        grad: array of x's shape.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, dout, h=1e-5):
    """Gradient of ``sum(f(x) * dout)`` at x: the backward pass of an array-valued f.

    Inputs:
        f: callable taking an array of x's shape, returning an array of dout's shape.
        x: float64 array, any shape; modified in place during the evaluation and restored.
        dout: upstream gradient, shape of f(x).
        h: step.

    Returns:
        grad: array of x's shape.
    """
    return eval_numerical_gradient(lambda z: float(np.sum(f(z) * dout)), x, h)


def rel_error(a, b):
    """Largest element-wise relative error, ``max |a - b| / max(1e-8, |a| + |b|)``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def check_gradient(name, analytic, numerical, bound=1e-7):
    """Print how far an analytic gradient is from a numerical one; fail above ``bound``.

    The book's chapters call this after every derivation. It prints one short line (it must
    fit the book's narrowest code column, 78 characters): the relative error of
    :func:`rel_error`, the bound it must stay under, and the largest absolute difference,
    which tells a real error from a relative error inflated by entries near zero.

    Inputs:
        name: what is checked, e.g. "dx"; at most about 24 characters.
        analytic, numerical: arrays of one shape.
        bound: the largest acceptable relative error.

    Returns:
        the relative error (float).
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64)
    if analytic.shape != numerical.shape:
        raise ValueError(f"{name}: analytic gradient has shape {analytic.shape}, "
                         f"numerical {numerical.shape}")
    err = rel_error(analytic, numerical)
    diff = float(np.max(np.abs(analytic - numerical))) if analytic.size else 0.0
    print(f"{name:<24} rel. error {err:7.1e} (< {bound:.0e}); abs. diff {diff:.0e}")
    if not err < bound:
        raise AssertionError(f"{name}: relative error {err:.1e} exceeds {bound:.0e}")
    return err
