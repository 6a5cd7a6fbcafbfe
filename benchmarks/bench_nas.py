"""Chapter 7: mini-ENAS on the digits. Against the committed ground truth (125
architectures trained alone, 2 seeds): Kendall's tau of the one-shot ranking (over all
and over the top half) and its cost ratio, for supernets trained 3,000 and 10,000 steps;
and, as the ceiling any proxy faces, the tau between the ground truth's own two seeds."""

import json
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from dlcourse.data import load_digits_split
from dlcourse.nas import N_LAYERS, N_OPS, kendall_tau, train_architecture

ROOT = Path(__file__).resolve().parents[1]


def main():
    truth = json.loads((ROOT / "experiments/results/nas_ground_truth.json").read_text())
    archs = [tuple(r["arch"]) for r in truth["results"]]
    true = np.array([r["accuracy"] for r in truth["results"]])
    exhaustive = sum(r["train_seconds"] for r in truth["results"])
    seeds = [[r["accuracies"][s] for r in truth["results"]] for s in range(2)]
    top = np.argsort(true)[::-1][: len(true) // 2]
    data = load_digits_split(seed=0)
    train = {"x_train": data["x_train"][:-300], "y_train": data["y_train"][:-300]}
    x_val, y_val = data["x_train"][-300:], data["y_train"][-300:]
    print(f"ground truth: {len(archs)} architectures, {exhaustive:.0f} s; tau between its "
          f"two seeds {kendall_tau(*seeds):.2f} (the noise ceiling)")
    for steps in (3000, 10000):
        with threadpool_limits(limits=1):
            t0 = time.perf_counter()
            net = train_architecture(
                None, train, np.random.default_rng(1), steps=steps,
                sample=lambda r: tuple(int(k) for k in r.integers(0, N_OPS, N_LAYERS)))
            proxy = np.array([net.accuracy(x_val, y_val, a) for a in archs])
            seconds = time.perf_counter() - t0
        print(f"one-shot, {steps:5d} steps: tau {kendall_tau(true, proxy):.2f}, top half "
              f"{kendall_tau(true[top], proxy[top]):.2f}; {seconds:.1f} s, cost ratio "
              f"{exhaustive / seconds:.0f}x")


if __name__ == "__main__":
    main()
