"""Chapter 3's small CNN on the 8x8 digits: test accuracy over seeds and training time,
beside chapter 1's MLP trained in the same run on the same split."""

import time

import numpy as np

from dlcourse.data import load_digits_split
from dlcourse.models import MLP, SmallCNN
from dlcourse.train import train

SEEDS = range(3)


def run(model, data, seed, epochs, lr):
    t0 = time.perf_counter()
    history = train(model, data, np.random.default_rng(100 + seed), epochs=epochs,
                    batch_size=32, optim_config={"learning_rate": lr})
    return time.perf_counter() - t0, history["test_acc"][-1]


def main():
    images, flat = load_digits_split(as_images=True), load_digits_split()
    rows = []
    for seed in SEEDS:
        cnn = SmallCNN((1, 8, 8), np.random.default_rng(seed), n_filters=32, reg=1e-3)
        mlp = MLP((64, 100, 10), np.random.default_rng(seed), reg=1e-2)
        rows.append((*run(cnn, images, seed, 30, 2e-3), *run(mlp, flat, seed, 30, 1e-3)))
    t_cnn, a_cnn, t_mlp, a_mlp = np.array(rows).T
    n_cnn = sum(p.size for p in cnn.params.values())
    print(f"CNN (conv 32x3x3 -> ReLU -> pool -> affine, {n_cnn:,} parameters): test accuracy "
          f"{a_cnn.mean():.2%} (min {a_cnn.min():.2%}) over {len(rows)} seeds; training "
          f"{np.median(t_cnn):.1f} s median for 30 epochs")
    print(f"MLP (64-100-10, {mlp.n_params():,} parameters): test accuracy {a_mlp.mean():.2%}; "
          f"training {np.median(t_mlp):.2f} s")


if __name__ == "__main__":
    main()
