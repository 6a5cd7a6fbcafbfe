"""Chapter 2's residual connections: a deep plain CNN against the same network with
identity shortcuts, on the 8x8 digits.

Networks (dlcourse.resnet.DeepCNN): a 3x3 stem and ``n_blocks`` blocks of two 3x3
convolutions (width channels, pad 1), global average pooling and an affine layer; 9 and
17 convolution layers. Three variants at each depth: plain (He initialisation), residual
with the same initialisation, and residual with each block's second convolution
initialised 1/sqrt(n_blocks) times smaller (so the sum of the blocks' outputs keeps the
scale of its input). For each seed: the Frobenius norm of dL/dW of every convolution layer
at initialisation and after training (on the same 256 training images), and the
validation accuracy after every epoch (Adam, mini-batches of 64).

Full run (about 15 minutes of CPU; seeds can run in separate processes and be merged):
    python experiments/residual_depth.py --seeds 0 1 --out a.json
    python experiments/residual_depth.py --seeds 2 --out b.json
    python experiments/residual_depth.py --merge a.json b.json
Tiny run for CI (seconds):        python experiments/residual_depth.py --tiny --out x.json
The chapter loads the committed result, experiments/results/residual_depth.json.
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import commit_of_checkout, run_cli, write_result  # noqa: E402

from dlcourse.data import load_digits_split  # noqa: E402
from dlcourse.resnet import DeepCNN  # noqa: E402
from dlcourse.train import train  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "residual_depth.json"
VARIANTS = {"plain": (False, False), "residual": (True, False),
            "residual_scaled": (True, True)}
FULL = dict(seeds=[0, 1, 2], depths=[4, 8], width=12, epochs=20, batch_size=64,
            learning_rate=2e-3, n_grad=256, n_train=None, variants=list(VARIANTS))
TINY = dict(seeds=[0, 1], depths=[1], width=4, epochs=1, batch_size=64,
            learning_rate=2e-3, n_grad=32, n_train=128, variants=list(VARIANTS))


def one_run(data, variant, n_blocks, seed, cfg):
    """Train one network; its gradient norms before and after, and its curves."""
    residual, scaled = VARIANTS[variant]
    model = DeepCNN((1, 8, 8), np.random.default_rng(seed), width=cfg["width"],
                    n_blocks=n_blocks, residual=residual,
                    residual_scale=n_blocks ** -0.5 if scaled else 1.0)
    xg, yg = data["x_train"][:cfg["n_grad"]], data["y_train"][:cfg["n_grad"]]
    start = time.process_time()
    before = model.conv_grad_norms(xg, yg)
    hist = train(model, data, np.random.default_rng(1000 + seed), epochs=cfg["epochs"],
                 batch_size=cfg["batch_size"], update="adam",
                 optim_config={"learning_rate": cfg["learning_rate"]})
    after = model.conv_grad_norms(xg, yg)
    steps = len(hist["loss"]) // cfg["epochs"]
    return {"variant": variant, "n_blocks": n_blocks, "n_conv": model.n_conv,
            "seed": seed, "grad_init": before, "grad_trained": after,
            "val_acc": hist["val_acc"], "train_acc": hist["train_acc"],
            "final_val_acc": hist["val_acc"][-1],
            "epoch_loss": [float(np.mean(hist["loss"][e * steps:(e + 1) * steps]))
                           for e in range(cfg["epochs"])],
            "cpu_seconds": round(time.process_time() - start, 2)}


def summarise(runs, cfg):
    """Min, mean and max final validation accuracy per (depth, variant)."""
    out = {}
    for n_blocks in cfg["depths"]:
        for variant in cfg["variants"]:
            acc = [r["final_val_acc"] for r in runs
                   if r["n_blocks"] == n_blocks and r["variant"] == variant]
            out[f"{n_blocks}/{variant}"] = {"min": min(acc), "mean": float(np.mean(acc)),
                                            "max": max(acc)}
    return out


def main(cfg, out):
    data = load_digits_split(as_images=True, validation_fraction=0.2)
    if cfg["n_train"]:
        data = dict(data, x_train=data["x_train"][:cfg["n_train"]],
                    y_train=data["y_train"][:cfg["n_train"]])
    runs = []
    for n_blocks in cfg["depths"]:
        for variant in cfg["variants"]:
            for seed in cfg["seeds"]:
                run = one_run(data, variant, n_blocks, seed, cfg)
                runs.append(run)
                print(f"{run['n_conv']:2d} conv layers, {variant:16s} seed {seed}: "
                      f"validation accuracy {run['final_val_acc']:.3f} "
                      f"({run['cpu_seconds']:.1f} s)", flush=True)
    result = {"config": cfg, "commit": commit_of_checkout(), "runs": runs,
              "summary": summarise(runs, cfg),
              "cpu_seconds_total": round(sum(r["cpu_seconds"] for r in runs), 1)}
    write_result(out, result)


if __name__ == "__main__":
    run_cli(__doc__, main, FULL, TINY, RESULT, summarise)
