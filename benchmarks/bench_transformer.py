"""Chapter 6: the tiny Transformer on the sorting task (10 digits from 0 to 9). Trains
as the chapter does (3000 Adam steps of 64 fresh random sequences, one BLAS thread) and
prints the held-out token and sequence accuracy (aim >= 99% of tokens) and the training
time (aim < 2 minutes on two cores), for two seeds."""

import time

import numpy as np
from threadpoolctl import threadpool_limits

from dlcourse.models import TinyTransformer
from dlcourse.optim import adam


def run(seed, steps=3000, vocab=10, length=10, batch=64):
    rng = np.random.default_rng(seed)
    test_x = rng.integers(0, vocab, size=(2000, length))
    model = TinyTransformer(vocab, np.random.default_rng(seed + 1), d=32, n_heads=4,
                            d_ff=64, n_blocks=2)
    configs = {name: {"learning_rate": 3e-3} for name in model.params}
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        for _ in range(steps):
            x = rng.integers(0, vocab, size=(batch, length))
            _, grads = model.loss(x, np.sort(x, axis=1))
            for name in model.params:
                model.params[name], configs[name] = adam(model.params[name], grads[name],
                                                         configs[name])
    seconds = time.perf_counter() - t0
    pred, want = model.predict(test_x), np.sort(test_x, axis=1)
    return float(np.mean(pred == want)), float(np.mean((pred == want).all(axis=1))), seconds


def main():
    print("tiny Transformer, sorting 10 digits; 2,000 held-out sequences")
    for seed in (3, 11):
        tokens, sequences, seconds = run(seed)
        print(f"seed {seed:2d}: token accuracy {tokens:.2%}, sequences {sequences:.1%}, "
              f"training {seconds:.0f} s")


if __name__ == "__main__":
    main()
