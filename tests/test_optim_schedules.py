"""Chapter 1's update rules, schedules, weight decay and early stopping."""

import numpy as np
import pytest

from dlcourse.data import load_digits_split
from dlcourse.models import MLP
from dlcourse.optim import (
    adam,
    cosine_schedule,
    rmsprop,
    sgd,
    sgd_momentum,
    sgd_nesterov,
    step_schedule,
)
from dlcourse.train import held_out_loss, train


def test_nesterov_equals_the_look_ahead_form():
    """v <- mu v - lr grad(w + mu v); w <- w + v, tracked in u = w + mu v."""
    curv = np.array([1.0, 7.0])
    w, v = np.array([2.0, -1.0]), np.zeros(2)
    u, config = w.copy(), {"learning_rate": 0.05, "momentum": 0.8}
    for _ in range(25):
        v = 0.8 * v - 0.05 * curv * (w + 0.8 * v)
        w = w + v
        u, config = sgd_nesterov(u, curv * u, config)
        np.testing.assert_allclose(u, w + 0.8 * v, rtol=1e-12, atol=1e-14)


def test_momentum_reaches_polyaks_rate_on_an_ill_conditioned_quadratic():
    kappa = 100.0
    curv, root = np.array([1.0, kappa]), 10.0
    config = {"learning_rate": 4 / (1 + root) ** 2,
              "momentum": ((root - 1) / (root + 1)) ** 2}
    w = np.ones(2)
    for _ in range(150):
        w, config = sgd_momentum(w, curv * w, config)
    # rate (sqrt k - 1)/(sqrt k + 1) = 9/11 per step, times a factor t
    assert np.linalg.norm(w) < 150 * (9 / 11) ** 150 * np.sqrt(2) * 2
    w, config = np.ones(2), {"learning_rate": 2 / (1 + kappa)}
    for _ in range(150):
        w, config = sgd(w, curv * w, config)
    np.testing.assert_allclose(np.abs(w), (99 / 101) ** 150, rtol=1e-9)


def test_rmsprop_step_size_ignores_the_gradient_scale():
    steps = []
    for scale in (1e-3, 1e3):
        w, config = np.zeros(1), {"learning_rate": 0.1}
        w, config = rmsprop(w, np.array([scale]), config)
        steps.append(float(-w[0]))
    np.testing.assert_allclose(steps, 0.1 / np.sqrt(0.01), rtol=1e-4)


def test_adam_weight_decay_is_decoupled_and_off_by_default():
    w, dw = np.array([1.0, -2.0]), np.array([0.3, 0.3])
    plain, _ = adam(w, dw, {"learning_rate": 0.1})
    decayed, config = adam(w, dw, {"learning_rate": 0.1, "weight_decay": 0.5})
    np.testing.assert_allclose(decayed, plain - 0.1 * 0.5 * w, rtol=1e-12)
    # the moments do not see the decay
    np.testing.assert_allclose(config["m"], 0.1 * dw)
    zero, _ = adam(w, dw, {"learning_rate": 0.1, "weight_decay": 0.0})
    np.testing.assert_array_equal(zero, plain)


def test_schedules():
    f = cosine_schedule(total_steps=110, warmup_steps=10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.5)
    assert f(110) == pytest.approx(0.0, abs=1e-12)
    g = cosine_schedule(100, final_fraction=0.1)
    assert g(100) == pytest.approx(0.1)
    assert [step_schedule(3, 0.5)(t) for t in range(7)] == [1, 1, 1, .5, .5, .5, .25]


def _digits():
    data = load_digits_split(validation_fraction=0.2)
    return dict(data, x_train=data["x_train"][:200], y_train=data["y_train"][:200])


def test_train_applies_the_schedule_to_every_step():
    data = _digits()
    seen = []

    def schedule(step):
        seen.append(step)
        return 0.0 if step >= 7 else 1.0

    model = MLP((64, 16, 10), np.random.default_rng(0))
    train(model, data, np.random.default_rng(1), epochs=1, batch_size=20,
          update="sgd", optim_config={"learning_rate": 0.1}, schedule=schedule)
    assert seen == list(range(10))  # 200 rows in batches of 20
    frozen = {k: w.copy() for k, w in model.params.items()}
    # rate 0 from step 7 on: more epochs leave the weights where they are
    train(model, data, np.random.default_rng(1), epochs=1, batch_size=20,
          update="sgd", optim_config={"learning_rate": 0.1},
          schedule=lambda step: 0.0)
    for k, w in model.params.items():
        np.testing.assert_array_equal(w, frozen[k])
    with pytest.raises(ValueError, match="learning_rate"):
        train(model, data, np.random.default_rng(1), epochs=1,
              schedule=lambda step: 1.0)


def test_early_stopping_restores_the_best_epoch_and_stops():
    data = _digits()
    model = MLP((64, 64, 10), np.random.default_rng(0))
    history = train(model, data, np.random.default_rng(1), epochs=60,
                    batch_size=32, update="adam",
                    optim_config={"learning_rate": 1e-2}, patience=3)
    losses = history["val_loss"]
    best = history["best_epoch"]
    assert losses[best - 1] == min(losses)
    assert len(losses) == best + 3 or len(losses) == 60
    # the restored parameters are the best epoch's: same validation loss
    assert held_out_loss(model, data["x_val"], data["y_val"]) == pytest.approx(
        losses[best - 1], rel=1e-12)
    with pytest.raises(ValueError, match="validation"):
        train(model, {k: v for k, v in data.items() if "val" not in k},
              np.random.default_rng(1), epochs=1, patience=2)


def test_train_without_the_new_options_is_unchanged():
    """The history of a plain run has exactly the keys it always had."""
    data = _digits()
    model = MLP((64, 16, 10), np.random.default_rng(0))
    history = train(model, data, np.random.default_rng(1), epochs=2)
    assert set(history) == {"loss", "train_acc", "val_acc"}
