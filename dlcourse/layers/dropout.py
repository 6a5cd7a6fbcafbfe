"""Inverted dropout (Srivastava et al., 2014).

Chapter 1 derives it; chapter 6 uses it in the Transformer.

In training every entry is kept with probability 1 - p and the kept entries are divided
by 1 - p, so E[out] = x: the layer can then be the identity at test time, with nothing to
rescale there (the "inverted" form; the original paper scaled the weights at test time).
The backward pass multiplies by the same mask, so a dropped entry gets no gradient.
"""

import numpy as np


def dropout_forward(x, p, rng=None, train=True):
    """Inverted dropout of x. Chapter 1.

    Inputs:
        x: any shape.
        p: drop probability, 0 <= p < 1.
        rng: numpy Generator drawing the mask (needed when train and p > 0).
        train: False (test time) returns x unchanged.

    Returns:
        out: shape of x; x * mask.
        cache: the mask, shape of x, each entry 0 (dropped) or 1 / (1 - p) (kept); None
            when the layer is the identity (test time, or p = 0).
    """
    if not 0 <= p < 1:
        raise ValueError(f"the drop probability p must be in [0, 1), got {p}")
    if not train or p == 0:
        return x, None
    if rng is None:
        raise ValueError("dropout in training mode needs an rng for its mask")
    mask = (rng.uniform(size=np.shape(x)) >= p) / (1.0 - p)  # kept with probability 1 - p
    return x * mask, mask


def dropout_backward(dout, cache):
    """Gradient of dropout_forward: dout * mask (dout itself for the identity). Chapter 1."""
    return dout if cache is None else dout * cache
