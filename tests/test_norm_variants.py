"""Chapter 4's additions: group normalization, the detached BN gradient, and the
networks of dlcourse.bn_models (gradients, batch independence, what BN cancels)."""

import numpy as np
import pytest

from dlcourse.bn_models import ConvNetBN, DeepMLP
from dlcourse.gradcheck import eval_numerical_gradient_array, rel_error
from dlcourse.layers.norm import (
    batchnorm_backward,
    batchnorm_backward_detached,
    batchnorm_forward,
    groupnorm_backward,
    groupnorm_forward,
    layernorm_forward,
)


def naive_groupnorm(x, gamma, beta, groups, eps=1e-5):
    """Loops over examples and groups: the oracle for groupnorm_forward."""
    n, c, h, w = x.shape
    out = np.empty_like(x)
    size = c // groups
    for i in range(n):
        for g in range(groups):
            block = x[i, g * size:(g + 1) * size]
            normed = (block - block.mean()) / np.sqrt(block.var() + eps)
            out[i, g * size:(g + 1) * size] = (
                gamma[g * size:(g + 1) * size, None, None] * normed
                + beta[g * size:(g + 1) * size, None, None])
    return out


@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_groupnorm_equals_loops_and_gradients_match(rng, groups):
    x = rng.normal(2.0, 3.0, size=(3, 6, 2, 3))
    gamma, beta = rng.normal(size=6), rng.normal(size=6)
    dout = rng.normal(size=x.shape)
    out, cache = groupnorm_forward(x, gamma, beta, groups)
    assert np.allclose(out, naive_groupnorm(x, gamma, beta, groups))
    dx, dgamma, dbeta = groupnorm_backward(dout, cache)
    num = eval_numerical_gradient_array
    assert np.max(np.abs(dx - num(lambda v: groupnorm_forward(v, gamma, beta, groups)[0],
                                  x, dout))) < 1e-8
    assert rel_error(dgamma, num(lambda v: groupnorm_forward(x, v, beta, groups)[0],
                                 gamma, dout)) < 1e-7
    assert rel_error(dbeta, num(lambda v: groupnorm_forward(x, gamma, v, groups)[0],
                                beta, dout)) < 1e-7


def test_groupnorm_one_group_is_layernorm_and_ignores_the_batch(rng):
    x = rng.normal(size=(4, 6, 3, 3)) * 3 + 1
    ones, zeros = np.ones(6), np.zeros(6)
    whole = layernorm_forward(x.reshape(4, -1), np.ones(54), np.zeros(54))[0]
    assert np.allclose(groupnorm_forward(x, ones, zeros, 1)[0], whole.reshape(x.shape))
    alone = groupnorm_forward(x[:1], ones, zeros, 3)[0]
    assert np.allclose(alone, groupnorm_forward(x, ones, zeros, 3)[0][:1])
    with pytest.raises(ValueError):
        groupnorm_forward(x, ones, zeros, 4)


def test_a_broken_groupnorm_backward_fails_the_check(rng):
    """Dropping the mean term (the detached-statistics mistake) is caught."""
    x = rng.normal(size=(2, 4, 2, 2))
    gamma, beta, dout = rng.normal(size=4), rng.normal(size=4), rng.normal(size=x.shape)
    _, cache = groupnorm_forward(x, gamma, beta, 2)
    x_hat, _, inv_std, _ = cache
    broken = (dout * gamma[:, None, None]).reshape(2, 2, -1) * inv_std
    numeric = eval_numerical_gradient_array(
        lambda v: groupnorm_forward(v, gamma, beta, 2)[0], x, dout)
    assert rel_error(broken.reshape(x.shape), numeric) > 1e-2


def test_detached_gradient_misses_exactly_the_two_terms(rng):
    x = rng.normal(1.0, 2.0, size=(8, 3))
    gamma, beta, dout = rng.normal(size=3), rng.normal(size=3), rng.normal(size=(8, 3))
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    full, dgamma, dbeta = batchnorm_backward(dout, cache)
    detached, dgamma_d, dbeta_d = batchnorm_backward_detached(dout, cache)
    x_hat, _, inv_std = cache
    missing = -gamma * inv_std * (dout.mean(axis=0) + x_hat * (dout * x_hat).mean(axis=0))
    assert np.allclose(full, detached + missing)
    assert np.allclose(dgamma, dgamma_d) and np.allclose(dbeta, dbeta_d)
    assert np.abs(detached.sum(axis=0)).max() > 1e-3  # the full one sums to 0


def _numeric_param_grads(model, x, y, names):
    out = {}
    for name in names:
        w = model.params[name]

        def f(v, name=name):
            old = model.params[name]
            model.params[name] = v
            loss = model.loss(x, y)[0]
            model.params[name] = old
            return np.array(loss)

        out[name] = eval_numerical_gradient_array(f, w.copy(), np.array(1.0))
    return out


@pytest.mark.parametrize("bn", ["before", "after", None])
def test_deep_mlp_gradients(rng, bn):
    model = DeepMLP((5, 6, 4, 3), rng, bn=bn)
    x, y = rng.normal(size=(7, 5)), rng.integers(0, 3, size=7)
    _, grads = model.loss(x, y)
    numeric = _numeric_param_grads(model, x, y, model.params)
    for name in model.params:
        assert np.max(np.abs(grads[name] - numeric[name])) < 1e-7, name


def test_deep_mlp_bias_before_bn_has_zero_gradient_unless_detached(rng):
    x, y = rng.normal(size=(9, 5)), rng.integers(0, 3, size=9)
    full = DeepMLP((5, 6, 3), np.random.default_rng(1), bias_before_bn=True)
    detached = DeepMLP((5, 6, 3), np.random.default_rng(1), bias_before_bn=True,
                       detach_stats=True)
    assert np.abs(full.loss(x, y)[1]["b1"]).max() < 1e-12
    assert np.abs(detached.loss(x, y)[1]["b1"]).max() > 1e-3


@pytest.mark.parametrize("batchnorm", [True, False])
def test_convnet_gradients_and_test_mode(rng, batchnorm):
    model = ConvNetBN((1, 4, 4), rng, n_filters=3, batchnorm=batchnorm)
    x, y = rng.normal(size=(5, 1, 4, 4)), rng.integers(0, 10, size=5)
    _, grads = model.loss(x, y)
    numeric = _numeric_param_grads(model, x, y, model.params)
    for name in model.params:
        assert np.max(np.abs(grads[name] - numeric[name])) < 1e-6, name
    if batchnorm:
        # test mode: running averages, so one example alone is classified the same
        alone = np.concatenate([model.scores(x[i:i + 1], mode="test")[0]
                                for i in range(5)])
        assert np.allclose(alone, model.scores(x, mode="test")[0])
        assert not np.allclose(model.scores(x[:2], mode="train")[0],
                               model.scores(x, mode="train")[0][:2])


def test_weight_scale_and_default_init(rng):
    tiny = DeepMLP((64, 100, 10), np.random.default_rng(0), weight_scale=1e-3)
    assert abs(tiny.params["W1"].std() - 1e-3) < 1e-4
    he = DeepMLP((64, 100, 10), np.random.default_rng(0))
    assert abs(he.params["W1"].std() - np.sqrt(2 / 64)) < 0.01
    with pytest.raises(ValueError):
        DeepMLP((3, 3), rng, bn="middle")


# -- problem set 4, part 6: the conv net with spatial BN ---------------------------------


def _ps04():
    from grading_helpers import ROOT

    from autograder.course import assignment as assignments

    a = assignments.load("ps04", ROOT / "solutions")
    return a, a.load_probes()


def _ps04_solution():
    from grading_helpers import solution_namespace

    return solution_namespace("ps04_batch_norm")


def _ps04_points(grade_id, ns, seed=2027):
    """Points ``ns`` earns for one part on the hidden cases of ``seed``."""
    from grading_helpers import judge_in_process

    return judge_in_process("ps04", grade_id, ns, _ps04_solution(), seed)[0]


def test_ps04_held_out_digits_stay_with_the_grader():
    from autograder.run.grading import case_inputs, sandbox_inputs

    a, _ = _ps04()
    inputs = case_inputs(a, 2027)
    sent = sandbox_inputs(a, inputs)
    for gid in ("bn-cnn-train", "bn-cnn-train-top"):
        for case in ("1", "2"):
            held, train = inputs[(gid, case)]["held_idx"], inputs[(gid, case)]["train_idx"]
            assert len(held) == 450 and not set(held) & set(train)
            assert set(sent[(gid, case)]) == {"train_idx", "seed"}
    assert not np.array_equal(inputs[("bn-cnn-train", "1")]["held_idx"],
                              inputs[("bn-cnn-train", "2")]["held_idx"])


def test_ps04_cnn_parts_fail_typical_wrong_answers():
    ns = _ps04_solution()
    assert _ps04_points("bn-cnn-loss", ns) == 6
    assert _ps04_points("bn-cnn-test", ns) == 3

    def detached_loss(params, bn_param, x, y):
        """The BN backward with the batch statistics treated as constants."""
        return _detached(ns, params, bn_param, x, y)

    assert _ps04_points("bn-cnn-loss", {**ns, "bn_cnn_loss": detached_loss}) == 5

    def scores_with_batch_stats(params, bn_param, x):
        bn = dict(bn_param, mode="train")
        conv = ns["conv_forward_im2col"](x, params["W1"], np.zeros(len(params["gamma"])),
                                         stride=1, pad=1)[0]
        normed = ns["spatial_batchnorm_forward"](conv, params["gamma"], params["beta"],
                                                 bn)[0]
        pooled = ns["max_pool_forward_fast"](np.maximum(normed, 0))[0]
        return ns["affine_forward"](pooled, params["W2"], params["b2"])[0]

    assert _ps04_points("bn-cnn-test", {**ns, "bn_cnn_scores": scores_with_batch_stats}) == 1

    def loss_forgetting_averages(params, bn_param, x, y):
        return ns["bn_cnn_loss"](params, dict(bn_param), x, y)  # updates a copy

    assert _ps04_points("bn-cnn-test", {**ns, "bn_cnn_loss": loss_forgetting_averages}) == 0


def _detached(ns, params, bn_param, x, y):
    """bn_cnn_loss with the detached (wrong) spatial BN backward: dx = gamma dy / std."""
    F = params["W1"].shape[0]
    bn_param["mode"] = "train"
    conv, c_conv = ns["conv_forward_im2col"](x, params["W1"], np.zeros(F), stride=1, pad=1)
    normed, c_bn = ns["spatial_batchnorm_forward"](conv, params["gamma"], params["beta"],
                                                   bn_param)
    hidden, c_relu = ns["relu_forward"](normed)
    pooled, c_pool = ns["max_pool_forward_fast"](hidden, pool_height=2, pool_width=2,
                                                 stride=2)
    scores, c_fc = ns["affine_forward"](pooled, params["W2"], params["b2"])
    loss, ds = ns["softmax_loss"](scores, y)
    dp, dW2, db2 = ns["affine_backward"](ds, c_fc)
    dn = ns["relu_backward"](ns["max_pool_backward_fast"](dp, c_pool), c_relu)
    x_hat_rows, gamma, std = c_bn
    n, f, h, w = dn.shape
    rows = dn.transpose(0, 2, 3, 1).reshape(-1, f)
    dconv = (gamma * rows / std).reshape(n, h, w, f).transpose(0, 3, 1, 2)
    dgamma, dbeta = (rows * x_hat_rows).sum(axis=0), rows.sum(axis=0)
    _, dW1, _ = ns["conv_backward_im2col"](dconv, c_conv)
    return loss, {"W1": dW1, "gamma": dgamma, "beta": dbeta, "W2": dW2, "b2": db2}


def test_ps04_training_is_scored_on_held_out_digits():
    """The reference passes both thresholds; a network trained on one batch's worth of
    digits passes neither. (Running averages left at 0 and 1 would pass here: with
    standardised digits and He's initialisation the channels' statistics stay close to
    them, so the averages are checked by bn-cnn-test instead.)"""
    ns = _ps04_solution()
    assert _ps04_points("bn-cnn-train", ns) == 4
    assert _ps04_points("bn-cnn-train-top", ns) == 2

    def barely_trained(data, rng):
        short = {"x_train": data["x_train"][:64], "y_train": data["y_train"][:64]}
        return ns["train_bn_cnn"](short, rng)

    assert _ps04_points("bn-cnn-train", {**ns, "train_bn_cnn": barely_trained}) == 0
    assert _ps04_points("bn-cnn-train-top", {**ns, "train_bn_cnn": barely_trained}) == 0
