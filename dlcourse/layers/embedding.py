"""The embedding layer: a lookup of rows of a weight matrix by integer id. Chapter 5.

An id c in [0, V) stands for the one-hot row vector e_c (1, V); the layer's output is
e_c W = W[c], row c of W (V, E). The lookup is therefore the affine layer of chapter 1 on
one-hot inputs, without the bias and without the V-wide product: the same function, at a
cost of E numbers copied instead of V * E multiply-adds.

Its gradient follows from the product: dW = onehot^T dout, i.e. row c of dW is the sum of
the upstream gradients of every position whose id is c. An id used twice in a batch
receives both gradients (they add, as for any shared weight), which is why the backward
pass uses ``np.add.at`` and not ``dW[ids] += dout``: the latter keeps only one of the
repeated writes.
"""

import numpy as np


def embedding_forward(ids, W):
    """Rows of W for each id, chapter 5.

    Inputs:
        ids: integer ids in [0, V), any shape S, e.g. (N, T).
        W: embedding matrix, shape (V, E).

    Returns:
        out: shape S + (E,), out[..., :] = W[ids[...]].
        cache: (ids, V) for embedding_backward.
    """
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
    if np.ndim(W) != 2:
        raise ValueError(f"W must have shape (V, E), got {np.shape(W)}")
    if ids.size and (ids.min() < 0 or ids.max() >= W.shape[0]):
        raise ValueError(f"ids must lie in [0, {W.shape[0]}), got {ids.min()}..{ids.max()}")
    return W[ids], (ids, W.shape)


def embedding_backward(dout, cache):
    """Gradient of the embedding's weights, chapter 5.

    Inputs:
        dout: upstream gradient, shape S + (E,).
        cache: from embedding_forward.

    Returns:
        dW: shape (V, E); row c is the sum of dout over the positions whose id is c
        (zero for ids not in the batch). Ids have no gradient: they are not continuous.
    """
    ids, shape = cache
    if np.shape(dout) != ids.shape + (shape[1],):
        raise ValueError(f"dout must have shape {ids.shape + (shape[1],)}, "
                         f"got {np.shape(dout)}")
    dW = np.zeros(shape)
    np.add.at(dW, ids.reshape(-1), dout.reshape(-1, shape[1]))  # repeated ids accumulate
    return dW
