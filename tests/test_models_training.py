"""MLP gradients, the digits split, update rules and the chapter-1 training run."""

import numpy as np
import pytest

from dlcourse.costs import fc_macs, fc_param_count, memory_bytes
from dlcourse.data import load_digits_split
from dlcourse.gradcheck import eval_numerical_gradient, rel_error
from dlcourse.models import MLP
from dlcourse.optim import adam, rmsprop, sgd, sgd_momentum, sgd_nesterov
from dlcourse.plotting import confusion_matrix
from dlcourse.train import train


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_mlp_loss_gradients_match_numerical(rng, activation):
    model = MLP((5, 7, 6, 3), rng, activation=activation, reg=0.1)
    x = rng.normal(size=(4, 5))
    y = np.array([0, 2, 1, 2])
    _, grads = model.loss(x, y)
    for name, p in model.params.items():
        num = eval_numerical_gradient(lambda _p: model.loss(x, y)[0], p)
        assert rel_error(grads[name], num) < 1e-6, name


def test_mlp_shapes_and_parameter_count(rng):
    model = MLP((64, 100, 10), rng)
    assert model.params["W1"].shape == (64, 100)
    assert model.params["b2"].shape == (10,)
    assert model.n_params() == 64 * 100 + 100 + 100 * 10 + 10


def test_digits_split_is_stratified_standardised_and_reproducible():
    a = load_digits_split(seed=3)
    b = load_digits_split(seed=3)
    assert a["x_train"].shape == (1347, 64) and a["x_test"].shape == (450, 64)
    np.testing.assert_array_equal(a["y_test"], b["y_test"])
    # Every class appears in the test set in proportion (about 45 of each).
    assert np.bincount(a["y_test"]).min() >= 40
    # Standardised with training statistics: train columns have mean 0.
    np.testing.assert_allclose(a["x_train"].mean(axis=0), 0, atol=1e-12)
    assert load_digits_split(as_images=True)["x_train"].shape == (1347, 1, 8, 8)
    assert not np.array_equal(load_digits_split(seed=4)["y_test"], a["y_test"])


@pytest.mark.parametrize("rule", [sgd, sgd_momentum, sgd_nesterov, rmsprop, adam])
def test_update_rules_minimise_a_quadratic(rule):
    target = np.array([1.0, -2.0, 3.0])
    w, config = np.zeros(3), {"learning_rate": 0.05}
    for _ in range(2000):
        w, config = rule(w, 2 * (w - target), config)
    np.testing.assert_allclose(w, target, atol=1e-3)


def test_chapter1_mlp_reaches_97_percent_on_digits_reproducibly():
    data = load_digits_split()
    runs = []
    for _ in range(2):
        model = MLP((64, 100, 10), np.random.default_rng(0), reg=1e-2)
        history = train(model, data, np.random.default_rng(1), epochs=30, batch_size=32,
                        update="adam", optim_config={"learning_rate": 1e-3})
        runs.append(history)
    assert runs[0]["test_acc"][-1] >= 0.97
    assert runs[0]["loss"][-1] < runs[0]["loss"][0] / 5
    assert runs[0]["test_acc"] == runs[1]["test_acc"]  # same seeds, same run


def test_cost_counts_of_the_parameter_explosion():
    assert fc_param_count(1000 * 1000, 10**6, bias=False) == 10**12
    assert memory_bytes(10**12) == 4 * 10**12  # 4 TB in float32
    assert fc_param_count(100 * 100, 10, bias=False) == 10**5
    macs = fc_macs(784, 100, batch=32)
    assert macs["forward"] == 32 * 784 * 100 and macs["backward"] == 2 * macs["forward"]


def test_confusion_matrix_counts():
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])


def test_mlp_default_initialisation_is_unchanged():
    """The default draws are He's for ReLU and LeCun's otherwise, bit for bit."""
    for activation, gain in (("relu", 2.0), ("tanh", 1.0)):
        model = MLP((64, 30, 10), np.random.default_rng(3), activation=activation)
        rng = np.random.default_rng(3)
        w1 = rng.normal(0.0, np.sqrt(gain / 64), size=(64, 30))
        np.testing.assert_array_equal(model.params["W1"], w1)


@pytest.mark.parametrize("init,var", [("he", 2 / 400), ("lecun", 1 / 400),
                                      ("xavier", 2 / 700), (("normal", 0.05), 0.0025)])
def test_mlp_initial_weight_variances(init, var):
    model = MLP((400, 300, 10), np.random.default_rng(0), init=init)
    w = model.params["W1"]
    assert abs(w.var() / var - 1) < 0.02 and abs(w.mean()) < 3 * np.sqrt(var / w.size)


def test_constant_initialisation_keeps_the_units_identical(rng):
    """Equal starting weights give every unit of a layer the same gradient, forever."""
    from dlcourse.data import load_digits_split
    data = load_digits_split(validation_fraction=0.2)
    model = MLP((64, 16, 16, 10), rng, init=0.1)
    train(model, data, np.random.default_rng(1), epochs=2, batch_size=64,
          update="sgd", optim_config={"learning_rate": 0.1})
    for name in ("W1", "W2"):  # every column (one unit's incoming weights) equal
        w = model.params[name]
        assert np.ptp(w, axis=1).max() < 1e-12  # units are copies of each other
        assert np.abs(w - 0.1).max() > 1e-3     # although the weights have moved
    with pytest.raises(ValueError):
        MLP((4, 3), rng, init="glorot")


def test_mlp_with_dropout_gradients_match_numerical_for_a_fixed_mask(rng):
    model = MLP((5, 7, 6, 3), rng, dropout=0.4, reg=0.1)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)

    def loss(_):
        model.dropout_rng = np.random.default_rng(11)  # the same mask every call
        return model.loss(x, y)[0]

    model.dropout_rng = np.random.default_rng(11)
    _, grads = model.loss(x, y)
    for name, w in model.params.items():
        assert rel_error(grads[name], eval_numerical_gradient(loss, w)) < 1e-7, name


def test_mlp_dropout_is_off_at_test_time_and_unbiased_in_training(rng):
    model = MLP((20, 50, 4), rng, dropout=0.5)
    x = rng.normal(size=(4, 20))
    s1, s2 = model.scores(x)[0], model.scores(x)[0]
    np.testing.assert_array_equal(s1, s2)  # test time: deterministic, no dropout
    plain = MLP((20, 50, 4), np.random.default_rng(0))
    plain.params = model.params
    np.testing.assert_array_equal(s1, plain.scores(x)[0])
    # training: the mean over many masks of the scores is the test-time scores
    mean = np.mean([model.scores(x, train=True)[0] for _ in range(4000)], axis=0)
    assert np.abs(mean - s1).max() < 0.05 * np.abs(s1).max()
