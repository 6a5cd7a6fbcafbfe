"""Chapter 7: ENAS, uniform one-shot and random search side by side, at an equal budget.

All three pick from the same pool, the ground truth's 200 architectures
(experiments/results/enas_ground_truth.json: each trained alone for 600 steps, seeds
0, 1, 2), so every method's pick is looked up there, not retrained, and each method is
charged training steps at one budget B (--steps, 4,000 by default):

1. uniform one-shot: a ConvDagNet supernet trained B steps, a uniformly sampled
   architecture each step (experiments/enas_oneshot.py, the ground truth's learning
   rate); the 200 ranked with the shared weights on the validation split.
2. ENAS: B shared-weight steps in rounds of 400, each followed by 50 REINFORCE steps of
   the controller (dlcourse.enas_search.search, the controller settings of
   experiments/enas_search.py's FULL config); the 200 ranked with its supernet.
3. random search: an architecture costs what the ground truth spent on it, 600 x 3 =
   1,800 steps, so k = B // 1,800 are drawn from the pool; its ranking covers only
   those k, so it has no tau or recall. Also the exact expectation of the pick's
   percentile (dlcourse.enas_search.expected_best_of_k_percentile).

A pick is the method's favourite among the 200 (random search: the best of its k by the
ground truth's mean, which is what training it would give); printed is its percentile
among the 200 (share strictly below). Per seed and as means: Kendall tau over all 200
and over the ground truth's top quarter, recall of the top 10% (20), the pick's
percentile, CPU seconds (random search: the ground truth's recorded training seconds for
its k architectures). Then the ground truth's noise ceiling and cost. One BLAS thread.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
from enas_ground_truth import data_of  # noqa: E402  (the committed experiments' settings)
from enas_oneshot import score_against, uniform  # noqa: E402
from enas_search import FULL as ENAS  # noqa: E402
from enas_search import run_search  # noqa: E402

from dlcourse.enas import CONV_OPS, ConvDagNet, arch_of_index, train  # noqa: E402
from dlcourse.enas_search import expected_best_of_k_percentile, percentile  # noqa: E402

GROUND_TRUTH = ROOT / "experiments/results/enas_ground_truth.json"
ROW = "{:>4} {:<16} {:>6} {:>6} {:>7} {:>6} {:>6} {:>6}"
HEADER = ROW.format("seed", "method", "steps", "tau", "tau25%", "rec20", "pick%", "cpu s")


def ranking_row(net, data, archs, truth, seconds0):
    """score_against's numbers for a trained supernet, its pick's percentile, CPU s."""
    sc = score_against(net, data, archs, truth)
    pick = percentile(truth[int(np.argmax(sc["estimate"]))], truth)
    return [sc["tau"], sc["tau_top_quarter"], sc["top10_recall"], pick,
            time.process_time() - seconds0]


def uniform_one_shot(seed, budget, data, archs, truth, gcfg):
    t0 = time.process_time()
    rng = np.random.default_rng(seed)
    net = ConvDagNet(rng, gcfg["n_nodes"], gcfg["channels"])
    train(net, data, rng, budget, uniform(gcfg["n_nodes"]), batch=gcfg["batch"],
          lr=gcfg["learning_rate"])
    return budget, ranking_row(net, data, archs, truth, t0)


def enas(seed, budget, data, archs, truth, gcfg):
    t0 = time.process_time()
    rounds = max(1, round(budget / ENAS["shared_steps"]))
    shared = budget // rounds
    net = run_search(seed, ENAS, gcfg, data, rounds, shared)[0]
    return rounds * shared, ranking_row(net, data, archs, truth, t0)


def random_search(seed, k, truth, seconds_of):
    rng = np.random.default_rng(2000 + seed)
    drawn = rng.choice(len(truth), size=k, replace=False)
    pick = percentile(truth[drawn].max(), truth)
    return [np.nan, np.nan, np.nan, pick, float(seconds_of[drawn].sum())]


def fmt_row(seed, method, steps, cells):
    shown = ["-" if np.isnan(c) else f"{c:.2f}" for c in cells[:3]]
    return ROW.format(seed, method, f"{steps}", *shown, f"{cells[3]:.1f}",
                      f"{cells[4]:.0f}")


def main(argv=()):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4000,
                        help="training-step budget B per method (default 4000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                        help="search seeds (default 0 1)")
    args = parser.parse_args(list(argv))
    gt = json.loads(GROUND_TRUTH.read_text())
    gcfg, s = gt["config"], gt["summary"]
    data = data_of(gcfg)
    archs = [arch_of_index(i, gcfg["n_nodes"], len(CONV_OPS)) for i in s["indices"]]
    truth = np.array(s["val_acc_mean"])
    per_arch = len(s["seeds"]) * gcfg["steps"]
    seconds = {}
    for r in gt["runs"]:
        seconds[r["index"]] = seconds.get(r["index"], 0.0) + r["train_seconds"]
    seconds_of = np.array([seconds[i] for i in s["indices"]])
    k = max(1, args.steps // per_arch)
    methods = [("uniform one-shot", uniform_one_shot), ("ENAS", enas)]
    rows = {name: [] for name, _ in methods} | {f"random (k={k})": []}
    steps_of = {f"random (k={k})": k * per_arch}

    print(f"budget {args.steps:,} training steps per method; pool: the ground truth's "
          f"{len(archs)}")
    print(f"architectures (stand-alone: {len(s['seeds'])} seeds x {gcfg['steps']} steps "
          f"= {per_arch:,} each)")
    print("tau: Kendall's over all 200; tau25%: over the truth's top quarter; rec20:")
    print("recall of the truth's top 20; pick%: the pick's percentile among the 200")
    print(HEADER)
    with threadpool_limits(limits=1):
        for seed in args.seeds:
            for name, method in methods:
                steps_of[name], cells = method(seed, args.steps, data, archs, truth, gcfg)
                rows[name].append(cells)
                print(fmt_row(seed, name, steps_of[name], cells), flush=True)
            name = f"random (k={k})"
            rows[name].append(random_search(seed, k, truth, seconds_of))
            print(fmt_row(seed, name, steps_of[name], rows[name][-1]), flush=True)
    for name, cells in rows.items():
        print(fmt_row("mean", name, steps_of[name], np.mean(cells, axis=0)))
    print(ROW.format("exp.", f"random (k={k})", steps_of[f"random (k={k})"], "-", "-", "-",
                     f"{expected_best_of_k_percentile(truth, k):.1f}", ""))
    print(f"ground truth: {len(archs) * per_arch:,} steps, {seconds_of.sum():.0f} CPU s; "
          f"noise ceiling tau {s['noise_ceiling_tau']:.2f},")
    rounds = max(1, round(args.steps / ENAS["shared_steps"]))
    print(f"  top quarter {s['noise_ceiling_tau_top_quarter']:.2f}. ENAS also took "
          f"{rounds} x {ENAS['controller_steps']} REINFORCE steps (not counted);")
    print("  random search's CPU s are the ground truth's, recorded for its k picks.")


if __name__ == "__main__":
    main(sys.argv[1:])
