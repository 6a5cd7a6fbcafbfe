"""Chapter 5's forget-gate-bias sweep: when does the LSTM's initial forget bias matter?

The long-range experiment (experiments/long_range.py) found, in one configuration, that an
LSTM with forget-gate bias 5 learns to recall the first of T = 100 symbols and one with
bias 1 does not. This sweep asks whether that holds beyond the one configuration: the same
task and training loop (long_range.train_recall), at T = 100, for initial forget biases
0, 1, 2, 3 and 5 at two learning rates (H = 32), biases 1 and 5 at twice the hidden size,
three seeds each, with the simple RNN in every setting as a reference. Every run trains
for 2,000 steps, a third more than the long-range experiment's 1,500, and records the test
accuracy every 100 steps, so the result also shows what the longer budget changes.

Full run (about 50 minutes of CPU; runs depend only on their own settings, so seeds can be
run in separate processes and merged):
    python experiments/forget_bias.py --seeds 0 1 --out a.json
    python experiments/forget_bias.py --seeds 2 --out b.json
    python experiments/forget_bias.py --merge a.json b.json
Tiny run for CI (seconds):   python experiments/forget_bias.py --tiny --out x.json

The chapter loads the committed result, experiments/results/forget_bias.json.
"""

import argparse
import json
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402
from long_range import train_recall  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "forget_bias.json"

# Each setting: a hidden size, a learning rate and the LSTM forget biases tried there.
FULL = dict(T=100, seeds=[0, 1, 2], steps=2000, eval_every=100, n_test=1000, n_symbols=4,
            batch=64, max_norm=1.0,
            settings=[dict(hidden=32, learning_rate=1e-2, biases=[0.0, 1.0, 2.0, 3.0, 5.0]),
                      dict(hidden=32, learning_rate=3e-3, biases=[0.0, 1.0, 2.0, 3.0, 5.0]),
                      dict(hidden=64, learning_rate=1e-2, biases=[1.0, 5.0])])
TINY = dict(T=6, seeds=[0], steps=20, eval_every=10, n_test=50, n_symbols=3, batch=16,
            max_norm=1.0, settings=[dict(hidden=8, learning_rate=1e-2, biases=[1.0, 5.0])])


def grid(cfg):
    """(seed, hidden, learning rate, cell, forget bias) of every run: in each setting the
    LSTM at each of its biases, then the RNN (forget bias None)."""
    for seed in cfg["seeds"]:
        for s in cfg["settings"]:
            for cell, fb in [("lstm", b) for b in s["biases"]] + [("rnn", None)]:
                yield seed, s["hidden"], s["learning_rate"], cell, fb


def run(cfg, log=print):
    """Every run of grid(cfg); the JSON-ready result."""
    runs = []
    for seed, H, lr, cell, fb in grid(cfg):
        one = dict(cfg, hidden=H, learning_rate=lr)  # what train_recall reads
        hist = train_recall(cell, fb, cfg["T"], seed, one)
        runs.append({"cell": cell, "forget_bias": fb, "hidden": H, "learning_rate": lr,
                     "seed": seed, "final_acc": hist["test_acc"][-1],
                     "seconds": round(hist["seconds"], 2), "step": hist["step"],
                     "test_acc": [round(a, 4) for a in hist["test_acc"]]})
        log(f"seed {seed} H {H:3d} lr {lr:g} {cell:4s} forget bias {fb}: test accuracy "
            f"{hist['test_acc'][-1]:.3f} ({hist['seconds']:.1f} s)")
    return {"task": f"recall the first of T = {cfg['T']} symbols", "config": cfg,
            "runs": runs}


def merge(paths):
    """One result from several runs of the same config over different seeds."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    cfg = dict(parts[0]["config"])
    for p in parts[1:]:
        if {k: v for k, v in p["config"].items() if k != "seeds"} != {
                k: v for k, v in cfg.items() if k != "seeds"}:
            raise SystemExit(f"cannot merge: the configs differ ({paths})")
    cfg["seeds"] = sorted(s for p in parts for s in p["config"]["seeds"])
    runs = sorted((r for p in parts for r in p["runs"]),
                  key=lambda r: r["seed"])  # stable: grid order within a seed
    return dict(parts[0], config=cfg, runs=runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run for CI")
    parser.add_argument("--out", type=Path, default=RESULT, help="where to write the JSON")
    parser.add_argument("--seeds", type=int, nargs="+", help="run only these seeds")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="merge these partial results into --out instead of training")
    args = parser.parse_args(argv)
    if args.merge:
        result = merge(args.merge)
    else:
        cfg = dict(TINY if args.tiny else FULL)
        if args.seeds:
            cfg["seeds"] = args.seeds
        with threadpool_limits(limits=1):  # one BLAS thread, as the other experiments
            result = run(cfg, log=lambda s: print(s, flush=True))
    write_result(args.out, result, compact=True)


if __name__ == "__main__":
    main()
