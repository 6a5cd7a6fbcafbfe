"""Chapter 7 (issue 16): ENAS against random search at equal cost, on the conv DAG space.

Per search seed:
* ENAS (dlcourse.enas_search): an LSTMController and a ConvDagNet supernet trained in
  alternation for ``rounds`` rounds (``shared_steps`` weight steps, ``controller_steps``
  REINFORCE steps each), then the derive step (``derive_samples`` architectures sampled,
  the best on the validation split with shared weights), and the derived architecture
  retrained from scratch as the ground truth trains its architectures (same steps, the
  ground truth's seeds), scored on validation and test.
* Random search with the same budget of training steps: ``k`` architectures drawn
  uniformly, each trained from scratch for the ground truth's steps, where k = ENAS's
  weight steps (shared + retraining) / steps; the best on validation, scored on test.
The ground truth (experiments/results/enas_ground_truth.json) places both: the
percentile of their validation accuracy among the sampled architectures' means.

results/enas_search_no_tanh.json is an earlier run of this script (commit c10bf05) with
unsquashed logits (tanh_c None, temperature 1), seed 0: the policy collapsed within five
rounds. Chapter 7 shows it next to the full run.

Full run:   python experiments/enas_search.py        (one seed per process: --seeds 0 ...)
Tiny run for CI:   python experiments/enas_search.py --tiny --ground-truth gt.json --out x.json
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
from enas_ground_truth import data_of, train_alone  # noqa: E402
from enas_oneshot import score_against, uniform  # noqa: E402

from dlcourse.enas import CONV_OPS, ConvDagNet, arch_of_index  # noqa: E402
from dlcourse.enas_controller import LSTMController  # noqa: E402
from dlcourse.enas_search import derive, percentile, search  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "enas_search.json"
GROUND_TRUTH = Path(__file__).resolve().parent / "results" / "enas_ground_truth.json"

FULL = dict(seeds=[0, 1, 2], rounds=40, shared_steps=400, controller_steps=50,
            derive_samples=50, hidden=32, embed=16, controller_lr=3e-3, beta=1e-3,
            val_batch=64, tanh_c=1.5, temperature=5.0)
TINY = dict(seeds=[0], rounds=2, shared_steps=3, controller_steps=2, derive_samples=3,
            hidden=4, embed=3, controller_lr=3e-3, beta=1e-3, val_batch=8, tanh_c=1.5,
            temperature=5.0)


def stand_alone(arch, data, gcfg):
    """Validation and test accuracy of arch trained from scratch as the ground truth
    trains (mean over its seeds)."""
    val, test = [], []
    for seed in gcfg["seeds"]:
        net = train_alone(arch, data, gcfg, seed)
        val.append(net.accuracy(data["x_val"], data["y_val"], arch))
        test.append(net.accuracy(data["x_test"], data["y_test"], arch))
    return float(np.mean(val)), float(np.mean(test))


def run_search(seed, cfg, gcfg, data, rounds=None, shared_steps=None):
    """The search phase of one seed: a ConvDagNet supernet and an LSTMController (cfg's
    settings) trained in turn (dlcourse.enas_search.search) for ``rounds`` rounds of
    ``shared_steps`` (cfg's by default). Returns (net, controller, rng, history); the
    rng, seeded 1000 + seed, goes on to the derive step."""
    rng = np.random.default_rng(1000 + seed)
    net = ConvDagNet(rng, gcfg["n_nodes"], gcfg["channels"])
    ctrl = LSTMController(rng, gcfg["n_nodes"], hidden=cfg["hidden"], embed=cfg["embed"],
                          tanh_c=cfg.get("tanh_c"), temperature=cfg.get("temperature", 1.0))
    hist = search(net, ctrl, data, rng, rounds or cfg["rounds"],
                  shared_steps or cfg["shared_steps"], cfg["controller_steps"],
                  cfg["val_batch"], lr=gcfg["learning_rate"],
                  controller_lr=cfg["controller_lr"], beta=cfg["beta"])
    return net, ctrl, rng, hist


def summarise(runs, cfg):
    """Per method, over search seeds: the percentiles in the ground truth; for ENAS also
    how its supernet ranks the ground truth."""
    return {"enas_percentile": [r["enas"]["percentile"] for r in runs],
            "random_percentile": [r["random"]["percentile"] for r in runs],
            "enas_supernet_tau": [r["supernet"]["tau"] for r in runs],
            "enas_supernet_tau_top_quarter": [r["supernet"]["tau_top_quarter"]
                                              for r in runs]}


def main(cfg, out, gt_path):
    gt = json.loads(Path(gt_path).read_text())
    gcfg, s = gt["config"], gt["summary"]
    data = data_of(gcfg)
    population = s["val_acc_mean"]
    gt_archs = [arch_of_index(i, gcfg["n_nodes"], len(CONV_OPS)) for i in s["indices"]]
    retrain_steps = gcfg["steps"] * len(gcfg["seeds"])
    result = {"config": cfg, "commit": commit_of_checkout(), "ground_truth_config": gcfg,
              "runs": []}
    start = time.process_time()
    for seed in cfg["seeds"]:
        t0 = time.process_time()
        net, ctrl, rng, hist = run_search(seed, cfg, gcfg, data)
        best, scored = derive(net, ctrl, data, rng, cfg["derive_samples"])
        ranking = score_against(net, data, gt_archs, np.array(population))
        enas_val, enas_test = stand_alone(best, data, gcfg)
        enas_steps = cfg["rounds"] * cfg["shared_steps"] + retrain_steps
        k = max(1, enas_steps // retrain_steps)
        draw = uniform(gcfg["n_nodes"])
        candidates = [draw(rng) for _ in range(k)]
        scores = [stand_alone(a, data, gcfg) for a in candidates]
        pick = int(np.argmax([v for v, _ in scores]))
        run = {"seed": seed, "history": hist, "supernet": ranking,
               "enas": {"arch": [list(p) for p in best], "val": enas_val, "test": enas_test,
                        "percentile": percentile(enas_val, population),
                        "train_steps": enas_steps,
                        "derive_scores": [sc for _, sc in scored],
                        "derive_distinct": len({a for a, _ in scored})},
               "random": {"arch": [list(p) for p in candidates[pick]], "k": k,
                          "val": scores[pick][0], "test": scores[pick][1],
                          "percentile": percentile(scores[pick][0], population),
                          "train_steps": k * retrain_steps},
               "cpu_seconds": time.process_time() - t0}
        result["runs"].append(run)
        print(f"seed {seed}: ENAS val {enas_val:.3f} (percentile "
              f"{run['enas']['percentile']:.0f}); random search of {k}: val "
              f"{scores[pick][0]:.3f} (percentile {run['random']['percentile']:.0f})",
              flush=True)
    result["summary"] = summarise(result["runs"], cfg)
    result["cpu_seconds_total"] = time.process_time() - start
    write_result(out, result, compact=True)


if __name__ == "__main__":
    run_cli_with_input(__doc__, main, FULL, TINY, RESULT, GROUND_TRUTH, "ground-truth",
                       summarise)
