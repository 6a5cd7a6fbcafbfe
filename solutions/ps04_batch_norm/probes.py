"""Probes of problem set 4 (public: released with the notebook).

Each probe calls your functions, found in the notebook's namespace ``ns``, on the given
inputs and returns plain arrays; the grader compares them with the reference answer's
arrays for the same inputs. The forward probes call your layer several times with one
``bn_param`` dict and record the running averages after every call.
"""

import numpy as np


def _bn_param(mode, momentum, eps, running_mean, running_var):
    return {"mode": mode, "momentum": float(momentum), "eps": float(eps),
            "running_mean": running_mean.copy(), "running_var": running_var.copy()}


def _train_calls(forward, xs, gamma, beta, bn_param):
    """Call ``forward`` in training mode on each batch of xs; stack the outputs and the
    running averages after each call."""
    outs, means, variances = [], [], []
    for x in xs:
        out, _ = forward(x.copy(), gamma.copy(), beta.copy(), bn_param)
        outs.append(np.asarray(out))
        means.append(np.array(bn_param.get("running_mean"), dtype=np.float64))
        variances.append(np.array(bn_param.get("running_var"), dtype=np.float64))
    return np.stack(outs), np.stack(means), np.stack(variances)


def bn_forward_train(ns, xs, gamma, beta, momentum, eps, running_mean, running_var):
    bn_param = _bn_param("train", momentum, eps, running_mean, running_var)
    out, means, variances = _train_calls(ns["batchnorm_forward"], xs, gamma, beta, bn_param)
    return {"out": out, "running_mean": means, "running_var": variances}


def bn_forward_test(ns, xs, x_test, gamma, beta, momentum, eps, running_mean, running_var):
    bn_param = _bn_param("train", momentum, eps, running_mean, running_var)
    _train_calls(ns["batchnorm_forward"], xs, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    out, _ = ns["batchnorm_forward"](x_test.copy(), gamma.copy(), beta.copy(), bn_param)
    return {"out": np.asarray(out),
            "running_mean": np.array(bn_param.get("running_mean"), dtype=np.float64),
            "running_var": np.array(bn_param.get("running_var"), dtype=np.float64)}


def _backward(forward, backward, x, gamma, beta, dout, eps):
    bn_param = _bn_param("train", 0.9, eps, np.zeros(gamma.shape), np.ones(gamma.shape))
    _, cache = forward(x.copy(), gamma.copy(), beta.copy(), bn_param)
    dx, dgamma, dbeta = backward(dout.copy(), cache)
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def bn_backward(ns, x, gamma, beta, dout, eps):
    return _backward(ns["batchnorm_forward"], ns["batchnorm_backward"], x, gamma, beta,
                     dout, eps)


def spatial_bn_forward(ns, xs, x_test, gamma, beta, momentum, eps, running_mean,
                       running_var):
    forward = ns["spatial_batchnorm_forward"]
    bn_param = _bn_param("train", momentum, eps, running_mean, running_var)
    out, means, variances = _train_calls(forward, xs, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    out_test, _ = forward(x_test.copy(), gamma.copy(), beta.copy(), bn_param)
    return {"out": out, "running_mean": means, "running_var": variances,
            "out_test": np.asarray(out_test)}


def spatial_bn_backward(ns, x, gamma, beta, dout, eps):
    return _backward(ns["spatial_batchnorm_forward"], ns["spatial_batchnorm_backward"], x,
                     gamma, beta, dout, eps)


def small_batch(ns, x, batch_size, eps):
    means, variances = ns["batch_statistics"](x.copy(), int(batch_size))
    mismatch = ns["normalization_mismatch"](x.copy(), int(batch_size), eps=float(eps))
    return {"means": means, "variances": variances, "mismatch": mismatch}
