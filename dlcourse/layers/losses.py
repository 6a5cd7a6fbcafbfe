"""Softmax and the softmax cross-entropy loss. Derived in chapter 1."""

import numpy as np


def softmax(scores):
    """Row-wise softmax. scores: shape (N, C). Returns probabilities, shape (N, C).

    Subtracting each row's maximum first leaves the result unchanged (the factor e^-max
    cancels) and keeps every exponent <= 0, so nothing overflows.
    """
    shifted = scores - scores.max(axis=1, keepdims=True)  # (N, C)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def softmax_loss(scores, y):
    """Mean softmax cross-entropy over a batch, and its gradient.

    Chapter 1, eqs. (ce-loss) and (ce-grad): ``dscores = (softmax(scores) - onehot(y)) / N``.

    Inputs:
        scores: class scores (logits), shape (N, C).
        y: integer labels in [0, C), shape (N,).

    Returns:
        loss: scalar, mean of -log p[i, y[i]].
        dscores: dL/dscores, shape (N, C).
    """
    n = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)  # (N, C)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
    loss = -log_probs[np.arange(n), y].mean()
    dscores = np.exp(log_probs)  # (N, C) probabilities
    dscores[np.arange(n), y] -= 1.0
    return loss, dscores / n
