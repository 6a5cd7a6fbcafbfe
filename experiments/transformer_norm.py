"""Chapter 6: pre-LN vs post-LN Transformers without warm-up, at constant learning rates.

Task and model: those of experiments/transformer_numbers.py (the numbers task, seed 0,
the same split; width d = 32, 4 heads, d_ff = 96, dropout 0.1, label smoothing 0.1), but
short budgets and smaller batches, and a constant Adam learning rate with no warm-up.
Grid: layer norm placement (pre, post) x learning rate (1e-3, 3e-3, 1e-2) x depth (1
encoder + 1 decoder block, 3 + 3) x 3 seeds; then, at the highest rate only, the same
with a linear warm-up (the rate rises from 0 over ``warmup`` steps, then stays constant
at the same peak), for both placements and depths. The seed sets the initial weights,
the batch order and the dropout masks; everything else is the same for all runs.

Recorded per run: the per-step training loss and gradient norm (before clipping; the
clip at 1.0 applies to all runs), the final training loss (mean of the last 50 steps),
greedy exact match on the 500 validation pairs at the end, and two labels computed from
the loss curve averaged in blocks of 20 steps (b_1, b_2, ...):

    diverged: a loss is not finite, or the last block is no lower than 90% of the first
              (training failed to move away from, or came back to, its starting loss);
    spiked:   not diverged, but some block exceeds the lowest earlier block by more than
              0.5 nats (the loss climbed back up during training, and the run recovered).

The question (a helper's result on a toy reversal task was: 3+3 post-LN diverges at 1e-2
without warm-up, pre-LN trains, warm-up rescues post-LN) is whether the same holds here.

Full run (about 40 minutes of CPU; seeds can run in separate processes and be merged):
    python experiments/transformer_norm.py --seeds 0 --out a.json   # and 1, 2
    python experiments/transformer_norm.py --merge a.json b.json c.json
Tiny run for CI (seconds):   python experiments/transformer_norm.py --tiny --out x.json

Result: experiments/results/transformer_norm.json.
"""

import sys
import time
from pathlib import Path

import numpy as np
from common import commit_of_checkout, run_cli, write_result  # experiments/common.py

sys.path.insert(0, str(Path(__file__).resolve().parent))
from transformer_numbers import (  # noqa: E402
    JointTask,
    build_model,
    greedy_exact,
    task_of,
    train,
)

RESULT = Path(__file__).resolve().parent / "results" / "transformer_norm.json"

FULL = dict(task_seed=0, sizes={"train": 40000, "val": 500, "test": 3000}, max_digits=9,
            seeds=[0, 1, 2], norms=["pre", "post"], learning_rates=[1e-3, 3e-3, 1e-2],
            depths=[1, 3], d=32, n_heads=4, d_ff=96, p_drop=0.1, label_smoothing=0.1,
            batch_size=32, steps=600, warmup=100, clip=1.0, block=20, final_window=50,
            spike_nats=0.5, diverge_ratio=0.9)
TINY = dict(task_seed=0, sizes={"train": 300, "val": 40, "test": 40}, max_digits=4,
            seeds=[0, 1], norms=["pre", "post"], learning_rates=[1e-3, 1e-2], depths=[1, 2],
            d=16, n_heads=2, d_ff=32, p_drop=0.1, label_smoothing=0.1, batch_size=8,
            steps=40, warmup=10, clip=1.0, block=10, final_window=10, spike_nats=0.5,
            diverge_ratio=0.9)


def labels(loss, cfg):
    """(diverged, spiked, largest rise in nats) of a loss curve (docstring)."""
    loss = np.asarray(loss, dtype=float)
    if not np.all(np.isfinite(loss)):
        return True, False, None
    n = len(loss) // cfg["block"]
    b = loss[: n * cfg["block"]].reshape(n, cfg["block"]).mean(axis=1)
    rise = float(max((b[i] - b[:i].min() for i in range(1, n)), default=0.0))
    diverged = bool(b[-1] >= cfg["diverge_ratio"] * b[0])
    return diverged, bool(not diverged and rise > cfg["spike_nats"]), rise


def settings(cfg):
    """Every run's (norm, depth, lr, warmup) for one seed: the grid, then warm-up."""
    out = [(norm, depth, lr, 0) for norm in cfg["norms"] for depth in cfg["depths"]
           for lr in cfg["learning_rates"]]
    top = max(cfg["learning_rates"])
    return out + [(norm, depth, top, cfg["warmup"]) for norm in cfg["norms"]
                  for depth in cfg["depths"]]


def summarise(runs, cfg):
    """Per setting: the seeds' final losses, validation exact matches and labels."""
    out = []
    for norm, depth, lr, warmup in settings(cfg):
        rs = [r for r in runs if (r["norm"], r["depth"], r["lr"], r["warmup"])
              == (norm, depth, lr, warmup)]
        out.append({"norm": norm, "depth": depth, "lr": lr, "warmup": warmup,
                    "final_loss": [r["final_loss"] for r in rs],
                    "val_exact": [r["val_exact"] for r in rs],
                    "diverged": sum(r["diverged"] for r in rs),
                    "spiked": sum(r["spiked"] for r in rs), "runs": len(rs)})
    return out


def main(cfg, out):
    start = time.process_time()
    task = task_of(cfg)
    jt = JointTask(task)
    result = {"config": cfg, "commit": commit_of_checkout(), "task": task.description, "runs": []}
    for seed in cfg["seeds"]:
        for norm, depth, lr, warmup in settings(cfg):
            model = build_model(dict(cfg, n_enc=depth, n_dec=depth), jt.vocab, seed, norm)
            if warmup:
                schedule = lambda s, lr=lr, w=warmup: lr * min(1.0, s / w)  # noqa: E731
            else:
                schedule = lambda s, lr=lr: lr  # noqa: E731
            hist = train(model, jt, cfg["steps"], schedule, cfg["batch_size"], cfg["clip"],
                         seed)
            finite = bool(np.all(np.isfinite(hist["loss"])))
            diverged, spiked, rise = labels(hist["loss"], cfg)
            run = {"seed": seed, "norm": norm, "depth": depth, "lr": lr, "warmup": warmup,
                   "params": model.n_params(), "loss": hist["loss"],
                   "grad_norm": hist["grad_norm"],
                   "final_loss": float(np.mean(hist["loss"][-cfg["final_window"]:]))
                   if finite else None,
                   "val_exact": float(greedy_exact(model, jt, "val").mean()) if finite
                   else 0.0, "diverged": diverged, "spiked": spiked, "largest_rise": rise,
                   "train_seconds": hist["train_seconds"]}
            result["runs"].append(run)
            print(f"seed {seed} {norm:>4} {depth}+{depth} lr {lr:g} warmup {warmup:3d}: "
                  f"loss {run['final_loss']} val {run['val_exact']:.3f} diverged {diverged} "
                  f"spiked {spiked} ({hist['train_seconds']:.0f} s)", flush=True)
    result["summary"] = summarise(result["runs"], cfg)
    result["cpu_seconds_total"] = time.process_time() - start
    write_result(out, result, note=f" ({result['cpu_seconds_total']:.0f} s of CPU)")


if __name__ == "__main__":
    run_cli(__doc__, main, FULL, TINY, RESULT, summarise=summarise)
