"""A small training loop: mini-batch gradient descent with a history. Chapter 1."""

import numpy as np

from dlcourse.layers import softmax_loss
from dlcourse.optim import UPDATE_RULES


def accuracy(model, x, y, batch_size=1000):
    """Share of rows of x (N, ...) whose predicted class equals y (N,)."""
    pred = np.concatenate(
        [model.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    )
    return float(np.mean(pred == y))


def held_out_loss(model, x, y, batch_size=1000):
    """Mean cross-entropy of ``model.scores`` on x (N, ...), y (N,), no penalty."""
    total = 0.0
    for i in range(0, len(x), batch_size):
        scores = model.scores(x[i : i + batch_size])[0]
        total += softmax_loss(scores, y[i : i + batch_size])[0] * len(scores)
    return total / len(x)


def train(model, data, rng, epochs=20, batch_size=64, update="adam",
          optim_config=None, drop_last=False, schedule=None, patience=None):
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
        update: a name of ``dlcourse.optim.UPDATE_RULES``: "sgd",
            "sgd_momentum", "sgd_nesterov", "rmsprop" or "adam".
        optim_config: hyper-parameters of the rule, e.g.
            {"learning_rate": 1e-3}.
        schedule: None, or f(step) -> multiplier of optim_config's
            learning_rate at step 0, 1, ... (e.g. ``optim.cosine_schedule``).
        patience: None, or early stopping on a validation set: the
            validation cross-entropy is recorded after every epoch, training
            stops after ``patience`` epochs without a new lowest one (give
            ``float("inf")`` to train every epoch), and the parameters of the
            best epoch are restored.
        drop_last: skip the last, smaller batch of each epoch (1347 training
            digits in batches of 64 leave a batch of 3, whose statistics a
            batch-norm network should not trust; chapter 4).

    Returns:
        history: dict of lists: ``loss`` (one per step), ``train_acc`` and
        ``val_acc`` (with a validation set) or ``test_acc`` (without), one
        per epoch, measured after it. With ``patience`` also ``val_loss``
        (one per epoch run) and ``best_epoch`` (1-based, restored).
    """
    step = UPDATE_RULES[update]
    configs = {name: dict(optim_config or {}) for name in model.params}
    if schedule is not None and "learning_rate" not in (optim_config or {}):
        raise ValueError("a schedule multiplies optim_config"
                         "['learning_rate']: give it")
    x, y = data["x_train"], data["y_train"]
    held_out = "val" if "x_val" in data else "test"
    if patience is not None and held_out != "val":
        raise ValueError("early stopping needs a validation set (x_val, "
                         "y_val), never the test set")
    history = {"loss": [], "train_acc": [], f"{held_out}_acc": []}
    if patience is not None:
        history["val_loss"] = []
        best = (np.inf, 0, None)  # (validation loss, epoch, parameters)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            if drop_last and len(batch) < batch_size:
                break
            if schedule is not None:
                step_index = len(history["loss"])
                rate = optim_config["learning_rate"] * schedule(step_index)
                for config in configs.values():
                    config["learning_rate"] = rate
            loss, grads = model.loss(x[batch], y[batch])
            history["loss"].append(loss)
            for name, w in model.params.items():
                model.params[name], configs[name] = step(
                    w, grads[name], configs[name])
        history["train_acc"].append(accuracy(model, x, y))
        history[f"{held_out}_acc"].append(
            accuracy(model, data[f"x_{held_out}"], data[f"y_{held_out}"]))
        if patience is not None:
            history["val_loss"].append(
                held_out_loss(model, data["x_val"], data["y_val"]))
            if history["val_loss"][-1] < best[0]:
                best = (history["val_loss"][-1], epoch,
                        {k: w.copy() for k, w in model.params.items()})
            elif epoch - best[1] >= patience:
                break
    if patience is not None:
        model.params.update(best[2])
        history["best_epoch"] = best[1]
    return history
