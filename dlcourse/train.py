"""A small training loop: mini-batch gradient descent with a history. Chapter 1."""

import numpy as np

from dlcourse.optim import UPDATE_RULES


def accuracy(model, x, y, batch_size=1000):
    """Share of rows of x (N, ...) whose predicted class equals y (N,)."""
    pred = np.concatenate(
        [model.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    )
    return float(np.mean(pred == y))


def train(model, data, rng, epochs=20, batch_size=64, update="adam",
          optim_config=None, drop_last=False):
    """Train ``model`` (anything with ``params``, ``loss``, ``predict``).

    Each epoch visits the training set once in a fresh random order, in
    mini-batches; after each batch every parameter takes one step of the
    update rule, with its own copy of ``optim_config`` (so momentum or Adam
    state is per parameter).

    Inputs:
        model: e.g. :class:`dlcourse.models.MLP`.
        data: dict with x_train, y_train and either x_val, y_val (a
            validation set) or x_test, y_test (see ``dlcourse.data``). With
            a validation set the curves are measured on it and the test set
            is never looked at during training.
        rng: numpy Generator for the shuffling.
        epochs, batch_size: passes over the data, rows per step.
        update: "sgd", "sgd_momentum" or "adam".
        optim_config: hyper-parameters of the rule, e.g.
            {"learning_rate": 1e-3}.
        drop_last: skip the last, smaller batch of each epoch (1347 training
            digits in batches of 64 leave a batch of 3, whose statistics a
            batch-norm network should not trust; chapter 4).

    Returns:
        history: dict of lists: ``loss`` (one per step), ``train_acc`` and
        ``val_acc`` (with a validation set) or ``test_acc`` (without), one
        per epoch, measured after it.
    """
    step = UPDATE_RULES[update]
    configs = {name: dict(optim_config or {}) for name in model.params}
    x, y = data["x_train"], data["y_train"]
    held_out = "val" if "x_val" in data else "test"
    history = {"loss": [], "train_acc": [], f"{held_out}_acc": []}
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            if drop_last and len(batch) < batch_size:
                break
            loss, grads = model.loss(x[batch], y[batch])
            history["loss"].append(loss)
            for name, w in model.params.items():
                model.params[name], configs[name] = step(
                    w, grads[name], configs[name])
        history["train_acc"].append(accuracy(model, x, y))
        history[f"{held_out}_acc"].append(
            accuracy(model, data[f"x_{held_out}"], data[f"y_{held_out}"]))
    return history
