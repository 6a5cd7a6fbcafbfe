"""Probes of problem set 2 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. Sizes, strides and paddings arrive as NumPy integers and are
passed on to your functions as Python ``int``.
"""

import numpy as np


def conv_output_size(ns, n, k, stride, pad):
    """conv_output_size for each (n, k, stride, pad) quadruple."""
    sizes = [ns["conv_output_size"](int(a), int(b), stride=int(s), pad=int(p))
             for a, b, s, p in zip(n, k, stride, pad, strict=True)]
    return {"size": np.array([float(v) for v in sizes])}


def tf_output_size(ns, n, k, stride):
    """tf_output_size for each (n, k, stride) triple, with padding "SAME" and "VALID"."""
    same, valid = [], []
    for a, b, s in zip(n, k, stride, strict=True):
        same.append(float(ns["tf_output_size"](int(a), int(b), stride=int(s), padding="SAME")))
        valid.append(float(ns["tf_output_size"](int(a), int(b), stride=int(s),
                                                padding="VALID")))
    return {"same": np.array(same), "valid": np.array(valid)}


def conv_forward(ns, x, w, b, stride, pad):
    out, _ = ns["conv_forward_naive"](x.copy(), w.copy(), b.copy(), stride=int(stride),
                                      pad=int(pad))
    return {"out": out}


def conv_backward(ns, x, w, b, stride, pad, dout):
    """Your backward pass, given the cache of your forward pass."""
    _, cache = ns["conv_forward_naive"](x.copy(), w.copy(), b.copy(), stride=int(stride),
                                        pad=int(pad))
    dx, dw, db = ns["conv_backward_naive"](dout.copy(), cache)
    return {"dx": dx, "dw": dw, "db": db}


def im2col(ns, x, HH, WW, stride, pad):
    cols = ns["im2col"](x.copy(), int(HH), int(WW), stride=int(stride), pad=int(pad))
    return {"cols": cols}


def conv_counting(ns, c_in, c_out, kh, kw, h_out, w_out, batch):
    """conv_params and conv_macs for each layer described by one entry of the arrays."""
    params, macs = [], []
    for ci, co, a, b, ho, wo, n in zip(c_in, c_out, kh, kw, h_out, w_out, batch,
                                       strict=True):
        params.append(float(ns["conv_params"](int(ci), int(co), int(a), int(b))))
        macs.append(float(ns["conv_macs"](int(ci), int(co), int(a), int(b), int(ho),
                                          int(wo), batch=int(n))))
    return {"params": np.array(params), "macs": np.array(macs)}


def receptive_field(ns, kernels, strides):
    """receptive_field of the first 1, 2, ..., L layers of the stack, one per entry."""
    layers = [(int(k), int(s)) for k, s in zip(kernels, strides, strict=True)]
    return {"r": np.array([float(ns["receptive_field"](layers[: i + 1]))
                           for i in range(len(layers))])}


def convolve2d_true(ns, x, k):
    return {"out": ns["convolve2d_true"](x.copy(), k.copy())}


def conv_transpose_forward(ns, x, w, b, stride, pad):
    out, _ = ns["conv_transpose_forward"](x.copy(), w.copy(), b.copy(), stride=int(stride),
                                          pad=int(pad))
    return {"out": out}


def conv_transpose_backward(ns, x, w, b, stride, pad, dout):
    """Your transposed backward pass, given the cache of your transposed forward pass."""
    _, cache = ns["conv_transpose_forward"](x.copy(), w.copy(), b.copy(),
                                            stride=int(stride), pad=int(pad))
    dx, dw, db = ns["conv_transpose_backward"](dout.copy(), cache)
    return {"dx": dx, "dw": dw, "db": db}
