"""Label-smoothed softmax cross-entropy over the real tokens of padded sequences.
Chapter 6.

Label smoothing (Szegedy et al., 2016; used by Vaswani et al., 2017, with eps = 0.1)
trains towards the target distribution q = (1 - eps) onehot(y) + eps / V, uniform over
all V classes, instead of the one-hot vector. Per token the loss is

    l = -sum_c q_c log p_c = (1 - eps) (-log p_y) + eps * mean_c (-log p_c),

the cross-entropy of q and the softmax p; its gradient with respect to the logits is
p - q (the one-hot case of chapter 1 with q in place of the one-hot). Its minimum is no
longer 0 but the entropy of q, reached at p = q: the model is kept from pushing a logit
to infinity. Perplexities are reported with eps = 0, the plain cross-entropy.

Normalisation (as chapter 5's masked_softmax_loss): with m_i in {0, 1} marking the real
tokens and M = sum m_i, L = (1/M) sum_i m_i l_i; padded positions add nothing and get a
zero gradient, and a batch's loss does not depend on how much padding it carries.
"""

import numpy as np


def label_smoothed_loss(logits, targets, eps=0.0, mask=None):
    """Mean label-smoothed cross-entropy over the unmasked tokens, and its gradient.

    Inputs:
        logits: scores, shape (..., V), e.g. (N, T, V).
        targets: integer classes in [0, V), shape (...) (any value where mask is False).
        eps: smoothing, 0 <= eps < 1; eps = 0 is chapter 1's softmax_loss.
        mask: boolean (...), True for a token that counts; None: all count. At least one.

    Returns:
        loss: float.
        dlogits: shape of logits, (m / M) (softmax(logits) - q); zero where masked.
    """
    logits = np.asarray(logits)
    V = logits.shape[-1]
    targets = np.asarray(targets)
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape {logits.shape[:-1]}, got {targets.shape}")
    if not 0 <= eps < 1:
        raise ValueError(f"eps must be in [0, 1), got {eps}")
    mask = np.ones(targets.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != targets.shape:
        raise ValueError(f"mask must have shape {targets.shape}, got {mask.shape}")
    if not mask.any():
        raise ValueError("mask keeps no token")
    z, y = logits[mask], targets[mask]                       # (M, V), (M,): real tokens
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (M, V)
    rows = np.arange(len(y))
    per_token = -(1 - eps) * log_p[rows, y] - eps * log_p.mean(axis=1)
    q = np.full(log_p.shape, eps / V)
    q[rows, y] += 1 - eps
    dlogits = np.zeros_like(logits, dtype=np.float64)
    dlogits[mask] = (np.exp(log_p) - q) / len(y)
    return float(per_token.mean()), dlogits
