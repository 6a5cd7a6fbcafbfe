"""Chapter 7 (issue 16): ground truth for the ENAS miniature's conv DAG space.

Space: dlcourse.enas with CONV_OPS, 4 nodes (15,000 architectures), on the digits as
8 x 8 images (dlcourse.data.load_digits_split, seed 0, 25% test, 25% of the rest for
validation: the split the supernet and the controller will be judged on).

A fixed random sample of architectures (indices drawn without replacement with
``sample_seed``; the same for every seed) is trained each from scratch as a stand-alone
ConvDagNet for ``steps`` Adam steps of batch 64, once per seed (the seed sets the weights
and the batches). Recorded per architecture and seed: validation accuracy and
cross-entropy, test accuracy, CPU seconds. The summary gives each architecture's mean over
seeds and the noise ceiling: the mean Kendall tau between two seeds' rankings of the
sample by validation accuracy (a supernet's ranking cannot be expected to agree with the
ground truth better than the ground truth agrees with itself), for all architectures and
for the top quarter.

Full run (one process per seed, then merge):
    python experiments/enas_ground_truth.py --seeds 0 --out a.json   # and 1, 2
    python experiments/enas_ground_truth.py --merge a.json b.json c.json
Tiny run for CI (seconds):   python experiments/enas_ground_truth.py --tiny --out x.json

Result: experiments/results/enas_ground_truth.json.
"""

import itertools
import time
from pathlib import Path

import numpy as np
from common import commit_of_checkout, run_cli, write_result  # experiments/common.py

from dlcourse.data import load_digits_split
from dlcourse.enas import CONV_OPS, ConvDagNet, arch_of_index, space_size, train
from dlcourse.layers import softmax_loss
from dlcourse.nas import kendall_tau

RESULT = Path(__file__).resolve().parent / "results" / "enas_ground_truth.json"

FULL = dict(n_nodes=4, channels=8, n_archs=200, sample_seed=0, seeds=[0, 1, 2],
            steps=600, batch=64, learning_rate=3e-3, split_seed=0)
TINY = dict(n_nodes=2, channels=2, n_archs=4, sample_seed=0, seeds=[0, 1], steps=5,
            batch=16, learning_rate=3e-3, split_seed=0)


def sample_indices(cfg):
    """The sampled architectures' indices, sorted (the same for every seed)."""
    rng = np.random.default_rng(cfg["sample_seed"])
    total = space_size(cfg["n_nodes"], len(CONV_OPS))
    return sorted(int(i) for i in rng.choice(total, cfg["n_archs"], replace=False))


def data_of(cfg):
    return load_digits_split(seed=cfg["split_seed"], validation_fraction=0.25,
                             as_images=True)


def train_alone(arch, data, cfg, seed):
    """arch trained from scratch as a stand-alone ConvDagNet, as the ground truth trains
    (the seed sets the weights and the batches). Returns the net."""
    rng = np.random.default_rng(seed)
    net = ConvDagNet(rng, cfg["n_nodes"], cfg["channels"])
    return train(net, data, rng, cfg["steps"], lambda _: arch, batch=cfg["batch"],
                 lr=cfg["learning_rate"])


def evaluate(net, data, arch, split):
    scores = net.scores(data[f"x_{split}"], arch)[0]
    y = data[f"y_{split}"]
    return float(np.mean(scores.argmax(axis=1) == y)), float(softmax_loss(scores, y)[0])


def noise_ceiling(table, top=None):
    """Mean Kendall tau between every two seeds' columns of table (archs, seeds); with
    ``top``, only over the architectures in the top ``top`` fraction by the mean."""
    rows = np.arange(len(table))
    if top is not None:
        rows = np.argsort(-table.mean(axis=1))[: max(2, int(len(table) * top))]
    pairs = list(itertools.combinations(range(table.shape[1]), 2))
    return float(np.mean([kendall_tau(table[rows, a], table[rows, b]) for a, b in pairs]))


def summarise(runs, cfg):
    """Per architecture: mean validation and test accuracy over seeds; noise ceilings."""
    seeds = sorted({r["seed"] for r in runs})
    by_arch = {}
    for r in runs:
        by_arch.setdefault(r["index"], {})[r["seed"]] = r
    indices = sorted(by_arch)
    val = np.array([[by_arch[i][s]["val_acc"] for s in seeds] for i in indices])
    test = np.array([[by_arch[i][s]["test_acc"] for s in seeds] for i in indices])
    out = {"seeds": seeds, "indices": indices,
           "val_acc_mean": val.mean(axis=1).tolist(), "test_acc_mean": test.mean(axis=1).tolist(),
           "spread_sd": float(val.mean(axis=1).std()),
           "seed_sd": float(val.std(axis=1, ddof=1).mean()) if len(seeds) > 1 else None}
    if len(seeds) > 1:
        out["noise_ceiling_tau"] = noise_ceiling(val)
        out["noise_ceiling_tau_top_quarter"] = noise_ceiling(val, top=0.25)
    return out


def main(cfg, out):
    start = time.process_time()
    data = data_of(cfg)
    indices = sample_indices(cfg)
    result = {"config": cfg, "commit": commit_of_checkout(), "ops": list(CONV_OPS),
              "space_size": space_size(cfg["n_nodes"], len(CONV_OPS)), "runs": []}
    for seed in cfg["seeds"]:
        for index in indices:
            arch = arch_of_index(index, cfg["n_nodes"], len(CONV_OPS))
            t0 = time.process_time()
            net = train_alone(arch, data, cfg, seed)
            seconds = time.process_time() - t0
            val_acc, val_loss = evaluate(net, data, arch, "val")
            test_acc, _ = evaluate(net, data, arch, "test")
            result["runs"].append({"index": index, "arch": [list(p) for p in arch],
                                   "seed": seed, "val_acc": val_acc, "val_loss": val_loss,
                                   "test_acc": test_acc, "train_seconds": seconds,
                                   "train_steps": cfg["steps"]})
        print(f"seed {seed}: {len(indices)} architectures trained", flush=True)
    result["summary"] = summarise(result["runs"], cfg)
    result["cpu_seconds_total"] = time.process_time() - start
    write_result(out, result, compact=True,
                 note=f" ({result['cpu_seconds_total']:.0f} s of CPU)")


if __name__ == "__main__":
    run_cli(__doc__, main, FULL, TINY, RESULT, summarise=summarise)
