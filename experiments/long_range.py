"""Chapter 5's long-range experiment: recall the first symbol of a long sequence.

Each sequence has T steps. Step 1 shows one of K "target" symbols, steps 2..T show random
"distractor" symbols from K other ones (inputs are one-hot vectors of size D = 2K). At the
end, the network must name the target symbol it saw at step 1: a K-way classification
from the last hidden state, with chance accuracy 1/K. Nothing between step 1 and step T
helps, so the network must carry the information across T - 1 steps, and the gradient
that teaches it to must travel back as far.

We train three models with the same budget, for several lengths T and seeds:
a simple tanh RNN, an LSTM whose forget-gate bias starts at 5 (f ~ 0.993: the cell state is
kept unless the network learns to forget it), and an LSTM with the common default 1
(f ~ 0.73). Adam, gradient clipping by global norm, mini-batches of fresh random sequences.

Full run (about 25 minutes on one core):   python experiments/long_range.py
Tiny run for CI (seconds):                 python experiments/long_range.py --tiny --out x.json

The chapter loads the committed result, experiments/results/long_range.json.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from common import write_result  # experiments/common.py

from dlcourse.layers import clip_by_global_norm
from dlcourse.models import SequenceClassifier
from dlcourse.optim import adam

RESULT = Path(__file__).resolve().parent / "results" / "long_range.json"

FULL = dict(lengths=[10, 25, 50, 100, 200], seeds=[0, 1, 2, 3, 4], steps=1500, eval_every=50,
            n_test=1000, n_symbols=4, hidden=32, batch=64, learning_rate=1e-2, max_norm=1.0)
TINY = dict(lengths=[4, 8], seeds=[0], steps=20, eval_every=10, n_test=50, n_symbols=3,
            hidden=8, batch=16, learning_rate=1e-2, max_norm=1.0)
MODELS = [("rnn", None), ("lstm", 5.0), ("lstm", 1.0)]  # (cell, initial forget bias)


def recall_batch(rng, n, T, K):
    """n sequences of the recall task.

    Returns x (n, T, 2K), one-hot, and y (n,), the targets in [0, K).
    """
    y = rng.integers(K, size=n)  # (n,) the symbol to remember
    symbols = K + rng.integers(K, size=(n, T))  # (n, T) distractors K..2K-1
    symbols[:, 0] = y  # step 1 shows the target
    return np.eye(2 * K)[symbols], y  # (n, T, 2K)


def train_recall(cell, forget_bias, T, seed, cfg):
    """Train a SequenceClassifier on the recall task of length T; its history.

    Every step draws a fresh batch, computes the loss and gradients by BPTT,
    clips them to a global norm of cfg["max_norm"] and takes an Adam step.
    Every cfg["eval_every"] steps the accuracy on a fixed test set of
    cfg["n_test"] sequences is recorded.
    """
    K, H = cfg["n_symbols"], cfg["hidden"]
    rng = np.random.default_rng(seed)
    fb = forget_bias if forget_bias is not None else 0.0
    model = SequenceClassifier(2 * K, H, K, rng, cell=cell, forget_bias=fb)
    x_test, y_test = recall_batch(np.random.default_rng(10_000 + seed),
                                  cfg["n_test"], T, K)
    lr = cfg["learning_rate"]
    configs = {name: {"learning_rate": lr} for name in model.params}
    hist = {"step": [], "test_acc": [], "loss": [], "grad_norm": []}
    losses, norms = [], []
    start = time.perf_counter()
    for step in range(1, cfg["steps"] + 1):
        x, y = recall_batch(rng, cfg["batch"], T, K)
        loss, grads = model.loss(x, y)
        grads, norm = clip_by_global_norm(grads, cfg["max_norm"])
        for name, w in model.params.items():
            model.params[name], configs[name] = adam(w, grads[name],
                                                     configs[name])
        losses.append(loss)
        norms.append(norm)
        if step % cfg["eval_every"] == 0:
            hist["step"].append(step)
            acc = np.mean(model.predict(x_test) == y_test)
            hist["test_acc"].append(float(acc))
            # the mean over the last interval
            hist["loss"].append(float(np.mean(losses)))
            hist["grad_norm"].append(float(np.median(norms)))
            losses, norms = [], []
    hist["seconds"] = time.perf_counter() - start
    return hist


def run(cfg, log=print):
    """All models, lengths and seeds of cfg. Returns the JSON-ready result."""
    runs = []
    for seed in cfg["seeds"]:
        for T in cfg["lengths"]:
            for cell, fb in MODELS:
                hist = train_recall(cell, fb, T, seed, cfg)
                runs.append({"cell": cell, "forget_bias": fb, "T": T, "seed": seed,
                             "final_acc": hist["test_acc"][-1],
                             "seconds": round(hist["seconds"], 2),
                             "step": hist["step"],
                             "test_acc": [round(a, 4) for a in hist["test_acc"]],
                             "loss": [round(v, 4) for v in hist["loss"]],
                             "grad_norm": [float(f"{v:.4g}") for v in hist["grad_norm"]]})
                log(f"seed {seed} T {T:4d} {cell:4s} forget bias {fb}: test accuracy "
                    f"{hist['test_acc'][-1]:.3f} ({hist['seconds']:.1f} s)")
    return {"task": "recall the first of T symbols", "config": cfg,
            "models": [list(m) for m in MODELS], "runs": runs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run for CI")
    parser.add_argument("--out", type=Path, default=RESULT, help="where to write the JSON")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="run only these seeds (each run depends only on its seed, length "
                             "and model, so results of separate invocations can be merged)")
    args = parser.parse_args(argv)
    cfg = dict(TINY if args.tiny else FULL)
    if args.seeds:
        cfg["seeds"] = args.seeds
    write_result(args.out, run(cfg, log=lambda s: print(s, flush=True)), compact=True)


if __name__ == "__main__":
    main()
