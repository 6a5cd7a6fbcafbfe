"""Chapter 4: minibatch steps to reach 95% test accuracy on the digits, with and without
batch normalization, at the same learning rate (plain SGD, batches of 64, the deep sigmoid
network of the chapter: 64-100-100-100-10). Test accuracy is measured every 5 steps, in
test mode; 3 seeds per setting; a run that has not reached 95% after 1500 steps counts
as 1500+."""

import numpy as np

from dlcourse.data import load_digits_split
from dlcourse.models import MLPBatchNorm

TARGET, MAX_STEPS, EVERY = 0.95, 1500, 5


def steps_to_target(data, batchnorm, lr, seed):
    model = MLPBatchNorm((64, 100, 100, 100, 10), np.random.default_rng(seed),
                         batchnorm=batchnorm)
    rng = np.random.default_rng(100 + seed)
    x, y = data["x_train"], data["y_train"]
    step = 0
    while step < MAX_STEPS:
        order = rng.permutation(len(x))
        for start in range(0, len(x) - 63, 64):  # full batches only
            batch = order[start:start + 64]
            _, grads = model.loss(x[batch], y[batch])
            for name in model.params:
                model.params[name] -= lr * grads[name]
            step += 1
            if step % EVERY == 0:
                acc = np.mean(model.predict(data["x_test"]) == data["y_test"])
                if acc >= TARGET:
                    return step
            if step >= MAX_STEPS:
                break
    return None


def main():
    data = load_digits_split(seed=0)
    print(f"steps to {TARGET:.0%} test accuracy (median of 3 seeds; '-' = not within "
          f"{MAX_STEPS})")
    print(f"{'learning rate':>14s} {'with BN':>8s} {'without':>8s} {'ratio':>6s}")
    for lr in (0.1, 0.3, 1.0, 3.0):
        med = {}
        for bn in (True, False):
            runs = [steps_to_target(data, bn, lr, s) for s in range(3)]
            runs = [r if r is not None else np.inf for r in runs]
            med[bn] = float(np.median(runs))
        fmt = {k: ("-" if np.isinf(v) else f"{v:.0f}") for k, v in med.items()}
        ratio = med[False] / med[True] if np.isfinite(med[False]) else np.inf
        print(f"{lr:14g} {fmt[True]:>8s} {fmt[False]:>8s} "
              f"{'inf' if np.isinf(ratio) else f'{ratio:.1f}x':>6s}")


if __name__ == "__main__":
    main()
