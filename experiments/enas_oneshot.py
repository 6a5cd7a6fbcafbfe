"""Chapter 7 (issue 16): does weight sharing rank the conv DAG space? One-shot baseline.

A ConvDagNet supernet (dlcourse.enas) is trained with uniformly sampled architectures (a
fresh architecture every step, ``steps`` Adam steps of batch 64; the seed sets the
weights, the batches and the samples). Then every architecture of the ground truth
(experiments/results/enas_ground_truth.json) is scored with the shared weights on the
same validation split the ground truth was ranked on, and the ranking is compared with
the ground truth's mean validation accuracy: Kendall tau over all of them and over the
ground truth's top quarter, next to the ground truth's own noise ceiling; and the ground
truth rank of the supernet's favourite. Cost: the supernet's training steps, against the
ground truth's (architectures x seeds x steps).

Full run:   python experiments/enas_oneshot.py   (or one seed per process: --seeds 0 --out a.json)
Tiny run for CI:   python experiments/enas_oneshot.py --tiny --ground-truth gt.json --out x.json
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from common import (  # experiments/common.py
    commit_of_checkout,
    run_cli_with_input,
    write_result,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from enas_ground_truth import data_of  # noqa: E402

from dlcourse.enas import CONV_OPS, ConvDagNet, arch_of_index, space_size, train  # noqa: E402
from dlcourse.enas_search import top_k_recall, top_quarter_tau  # noqa: E402
from dlcourse.nas import kendall_tau  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "enas_oneshot.json"
GROUND_TRUTH = Path(__file__).resolve().parent / "results" / "enas_ground_truth.json"

FULL = dict(seeds=[0, 1], steps=20000, batch=64, learning_rate=3e-3)
TINY = dict(seeds=[0, 1], steps=10, batch=16, learning_rate=3e-3)


def uniform(n_nodes, n_ops=None):
    """A sampler of architectures uniformly over the space (CONV_OPS by default)."""
    n_ops = n_ops or len(CONV_OPS)
    total = space_size(n_nodes, n_ops)
    return lambda rng: arch_of_index(int(rng.integers(total)), n_nodes, n_ops)


def score_against(net, data, archs, truth):
    """How a supernet ``net`` ranks the ground truth's architectures ``archs`` (accuracy
    ``truth``, validation split): its estimates, Kendall tau over all and over the top
    quarter, recall of the top 10%, and the ground-truth rank of its favourite."""
    estimate = np.array([net.accuracy(data["x_val"], data["y_val"], a) for a in archs])
    gt_rank = {i: r for r, i in enumerate(np.argsort(-truth), start=1)}
    return {"estimate": estimate.tolist(), "tau": kendall_tau(truth, estimate),
            "tau_top_quarter": top_quarter_tau(truth, estimate),
            "top10_recall": top_k_recall(truth, estimate, max(1, len(truth) // 10)),
            "favourite_rank": int(gt_rank[int(np.argmax(estimate))])}


def summarise(runs, cfg):
    taus = [r["tau"] for r in runs]
    return {"tau_mean": float(np.mean(taus)), "tau": taus,
            "tau_top_quarter": [r["tau_top_quarter"] for r in runs],
            "top10_recall": [r.get("top10_recall") for r in runs],
            "favourite_rank": [r["favourite_rank"] for r in runs]}


def main(cfg, out, gt_path):
    gt = json.loads(Path(gt_path).read_text())
    gcfg, s = gt["config"], gt["summary"]
    data = data_of(gcfg)
    archs = [arch_of_index(i, gcfg["n_nodes"], len(CONV_OPS)) for i in s["indices"]]
    truth = np.array(s["val_acc_mean"])
    result = {"config": cfg, "commit": commit_of_checkout(),
              "ground_truth": {"path": str(gt_path), "config": gcfg,
                               "noise_ceiling_tau": s.get("noise_ceiling_tau"),
                               "noise_ceiling_tau_top_quarter":
                                   s.get("noise_ceiling_tau_top_quarter"),
                               "train_steps": len(archs) * len(s["seeds"]) * gcfg["steps"]},
              "runs": []}
    start = time.process_time()
    for seed in cfg["seeds"]:
        rng = np.random.default_rng(seed)
        net = ConvDagNet(rng, gcfg["n_nodes"], gcfg["channels"])
        t0 = time.process_time()
        train(net, data, rng, cfg["steps"], uniform(gcfg["n_nodes"]), batch=cfg["batch"],
              lr=cfg["learning_rate"])
        seconds = time.process_time() - t0
        run = {"seed": seed, "train_steps": cfg["steps"], "train_seconds": seconds,
               **score_against(net, data, archs, truth)}
        run["favourite"] = s["indices"][int(np.argmax(run["estimate"]))]
        result["runs"].append(run)
        print(f"seed {seed}: tau {run['tau']:.2f} (top quarter {run['tau_top_quarter']:.2f});"
              f" favourite ranks {run['favourite_rank']} of {len(archs)} ({seconds:.0f} s)",
              flush=True)
    result["summary"] = summarise(result["runs"], cfg)
    result["cpu_seconds_total"] = time.process_time() - start
    write_result(out, result, compact=True)


if __name__ == "__main__":
    run_cli_with_input(__doc__, main, FULL, TINY, RESULT, GROUND_TRUTH, "ground-truth",
                       summarise)
