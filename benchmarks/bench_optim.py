"""Chapter 1's update rules: training steps to a stated validation accuracy.

Side by side in one run, interleaved by seed: SGD, momentum, Nesterov, RMSProp and Adam
train the chapter's 64-100-10 MLP on the digits in
mini-batches of 32. Every rule gets the same four learning rates (a factor ~3 apart, the
chapter's sweep) and keeps the one that reaches the target in the fewest median steps;
the validation accuracy is measured every 10 steps. Steps, not seconds, are the measure:
one step of every rule costs one gradient, and the ratio to plain SGD is printed. One BLAS
thread.
"""

import numpy as np
from threadpoolctl import threadpool_limits

from dlcourse.data import load_digits_split
from dlcourse.models import MLP
from dlcourse.optim import UPDATE_RULES
from dlcourse.train import accuracy

TARGET, EVERY, MAX_STEPS, BATCH = 0.97, 10, 2000, 32
SEEDS = range(5)
RATES = {"sgd": [0.03, 0.1, 0.3, 1.0],
         "sgd_momentum": [0.003, 0.01, 0.03, 0.1],
         "sgd_nesterov": [0.003, 0.01, 0.03, 0.1],
         "rmsprop": [3e-4, 1e-3, 3e-3, 1e-2],
         "adam": [3e-4, 1e-3, 3e-3, 1e-2]}


def steps_to_target(data, rule, lr, seed):
    """Steps until validation accuracy >= TARGET (MAX_STEPS + 1 if never)."""
    update = UPDATE_RULES[rule]
    model = MLP((64, 100, 10), np.random.default_rng(seed))
    configs = {name: {"learning_rate": lr} for name in model.params}
    rng = np.random.default_rng(100 + seed)
    x, y = data["x_train"], data["y_train"]
    step = 0
    while step < MAX_STEPS:
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            batch = order[start : start + BATCH]
            _, grads = model.loss(x[batch], y[batch])
            for name, w in model.params.items():
                model.params[name], configs[name] = update(w, grads[name], configs[name])
            step += 1
            if step % EVERY == 0 and accuracy(model, data["x_val"], data["y_val"]) >= TARGET:
                return step
            if step >= MAX_STEPS:
                break
    return MAX_STEPS + 1


def main():
    data = load_digits_split(validation_fraction=0.2)
    steps = {(rule, lr): [] for rule, rates in RATES.items() for lr in rates}
    with threadpool_limits(limits=1):
        for seed in SEEDS:  # interleaved: drift in machine load hits every rule alike
            for rule, lr in steps:
                steps[(rule, lr)].append(steps_to_target(data, rule, lr, seed))
    print(f"steps to {TARGET:.0%} validation accuracy (checked every {EVERY} steps, "
          f"cap {MAX_STEPS}), median over {len(SEEDS)} seeds, 1 BLAS thread")
    best = {}
    for rule, rates in RATES.items():
        cells = []
        for lr in rates:
            s = np.array(steps[(rule, lr)])
            cells.append(f"{lr:g}: {np.median(s):.0f}"
                         + ("" if (s <= MAX_STEPS).all() else f" ({(s > MAX_STEPS).sum()} never)"))
            if rule not in best or np.median(s) < np.median(steps[(rule, best[rule])]):
                best[rule] = lr
        print(f"  {rule:14s} " + " | ".join(cells))
    base = np.median(steps[("sgd", best["sgd"])])
    for rule, lr in best.items():
        s = np.array(steps[(rule, lr)])
        print(f"{rule:14s} best lr {lr:g}: median {np.median(s):.0f} steps "
              f"(range {s.min()}-{s.max()}), ratio to SGD {np.median(s) / base:.2f}")


if __name__ == "__main__":
    main()
