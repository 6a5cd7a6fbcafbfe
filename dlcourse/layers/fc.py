"""The fully connected (affine) layer. Derived in chapter 1."""



def affine_forward(x, w, b):
    """Affine map of a batch of row vectors: ``out = x @ w + b``.

    Chapter 1, eq. (affine-forward).

    Inputs:
        x: input, shape (N, D); any shape (N, d_1, ..., d_k) is flattened to (N, D).
        w: weights, shape (D, M).
        b: biases, shape (M,).

    Returns:
        out: shape (N, M).
        cache: (x, w) for :func:`affine_backward`.
    """
    out = x.reshape(x.shape[0], -1) @ w + b  # (N, M)
    return out, (x, w)


def affine_backward(dout, cache):
    """Gradients of the affine layer.

    Chapter 1, eqs. (affine-dx), (affine-dw), (affine-db):
    ``dx = dout @ w.T``, ``dw = x.T @ dout``, ``db = dout.sum(0)``.

    Inputs:
        dout: upstream gradient dL/dout, shape (N, M).
        cache: (x, w) from :func:`affine_forward`.

    Returns:
        dx: shape of the original x, (N, d_1, ..., d_k).
        dw: shape (D, M).
        db: shape (M,).
    """
    x, w = cache
    x2 = x.reshape(x.shape[0], -1)  # (N, D)
    dx = (dout @ w.T).reshape(x.shape)  # (N, D) -> x.shape
    dw = x2.T @ dout  # (D, M): one outer product per sample, summed
    db = dout.sum(axis=0)  # (M,)
    return dx, dw, db
