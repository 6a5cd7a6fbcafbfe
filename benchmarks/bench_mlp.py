"""Chapter 1's MLP on the 8x8 digits: test accuracy over seeds, and training time.

Side by side in one run: our NumPy MLP and scikit-learn's MLPClassifier with the same
architecture (64-100-10, ReLU), optimiser (Adam, lr 1e-3), batch size, L2 strength and
number of epochs, so the time ratio is meaningful on a noisy machine.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_info

from dlcourse.data import load_digits_split
from dlcourse.models import MLP
from dlcourse.train import train

SEEDS = range(5)
EPOCHS, BATCH, LR, REG = 30, 32, 1e-3, 1e-2


def run_ours(data, seed):
    model = MLP((64, 100, 10), np.random.default_rng(seed), reg=REG)
    t0 = time.perf_counter()
    history = train(model, data, np.random.default_rng(100 + seed), epochs=EPOCHS,
                    batch_size=BATCH, update="adam", optim_config={"learning_rate": LR})
    return time.perf_counter() - t0, history["test_acc"][-1]


def run_sklearn(data, seed):
    # sklearn's alpha multiplies 0.5*||W||^2 / n_samples_in_batch; scale it to match ours.
    clf = MLPClassifier((100,), alpha=REG * BATCH, batch_size=BATCH, learning_rate_init=LR,
                        max_iter=EPOCHS, random_state=seed, tol=0.0, n_iter_no_change=EPOCHS)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(data["x_train"], data["y_train"])
    return time.perf_counter() - t0, clf.score(data["x_test"], data["y_test"])


def main():
    data = load_digits_split()
    threads = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
    print(f"BLAS threads: {threads}")
    rows = []
    for seed in SEEDS:  # interleaved, so drift in machine load hits both alike
        rows.append((*run_ours(data, seed), *run_sklearn(data, seed)))
    t_ours, acc_ours, t_skl, acc_skl = np.array(rows).T
    print(f"ours   : test accuracy {acc_ours.mean():.2%} (min {acc_ours.min():.2%}, "
          f"max {acc_ours.max():.2%}) over {len(rows)} seeds; "
          f"training {np.median(t_ours):.2f} s median for {EPOCHS} epochs")
    print(f"sklearn: test accuracy {acc_skl.mean():.2%}; training {np.median(t_skl):.2f} s median")
    print(f"time ratio ours / sklearn: {np.median(t_ours / t_skl):.2f}")


if __name__ == "__main__":
    main()
