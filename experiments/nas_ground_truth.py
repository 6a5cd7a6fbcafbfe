"""Chapter 7's ground truth: train every architecture of dlcourse.nas's miniature search
space from scratch on the digits and record its held-out accuracy and training time.

    python experiments/nas_ground_truth.py           # all 125 architectures, 2 seeds
    python experiments/nas_ground_truth.py --tiny    # 3 architectures, 1 seed, 50 steps

Writes experiments/results/nas_ground_truth.json (or --out), which the chapter loads.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from dlcourse.data import load_digits_split
from dlcourse.nas import OPS, all_architectures, arch_name, train_architecture

OUT = Path(__file__).resolve().parent / "results" / "nas_ground_truth.json"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few architectures, quickly")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    archs = all_architectures()
    steps, seeds = args.steps, args.seeds
    if args.tiny:
        archs, steps, seeds = archs[:3], 50, 1
    data = load_digits_split(seed=0)
    results = []
    t_all = time.perf_counter()
    with threadpool_limits(limits=1):
        for arch in archs:
            accs, seconds = [], 0.0
            for seed in range(seeds):
                t0 = time.perf_counter()
                net = train_architecture(arch, data, np.random.default_rng(seed), steps=steps)
                seconds += time.perf_counter() - t0
                accs.append(net.accuracy(data["x_test"], data["y_test"], arch))
            results.append({"arch": list(arch), "name": arch_name(arch),
                            "accuracy": float(np.mean(accs)), "accuracies": accs,
                            "train_seconds": seconds})
            print(f"{arch_name(arch):28s} {np.mean(accs):.3f}", flush=True)
    payload = {"ops": list(OPS), "steps": steps, "seeds": seeds,
               "total_seconds": time.perf_counter() - t_all, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1))
    print(f"{len(results)} architectures in {payload['total_seconds']:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
