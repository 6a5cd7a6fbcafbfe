"""Chapter 7's ENAS ground truth (issue 16) runs end to end at a tiny size."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"


def run_script(name, tmp_path, *args):
    proc = subprocess.run([sys.executable, str(EXPERIMENTS / f"{name}.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc


def run(tmp_path, *args):
    return run_script("enas_ground_truth", tmp_path, *args)


def test_tiny_ground_truth_trains_every_sampled_architecture_per_seed(tmp_path):
    run(tmp_path, "--tiny", "--out", tmp_path / "all.json")
    result = json.loads((tmp_path / "all.json").read_text())
    cfg, runs = result["config"], result["runs"]
    assert len(runs) == cfg["n_archs"] * len(cfg["seeds"])
    indices = result["summary"]["indices"]
    assert len(set(indices)) == cfg["n_archs"] and max(indices) < result["space_size"]
    for r in runs:
        assert 0 <= r["val_acc"] <= 1 and 0 <= r["test_acc"] <= 1 and r["val_loss"] > 0
        assert r["train_steps"] == cfg["steps"]
    # seeds in separate processes, merged, give the same summary
    for seed in cfg["seeds"]:
        run(tmp_path, "--tiny", "--seeds", seed, "--out", tmp_path / f"s{seed}.json")
    run(tmp_path, "--merge", *[tmp_path / f"s{s}.json" for s in cfg["seeds"]],
        "--out", tmp_path / "merged.json")
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged["summary"] == result["summary"]


def test_noise_ceiling_is_the_seeds_agreement():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        from enas_ground_truth import noise_ceiling
    finally:
        sys.path.remove(str(EXPERIMENTS))
    a = np.arange(8.0)
    assert noise_ceiling(np.stack([a, a, a], axis=1)) == 1.0
    assert noise_ceiling(np.stack([a, a[::-1]], axis=1)) == -1.0
    assert noise_ceiling(np.stack([a, a[::-1]], axis=1), top=0.5) == -1.0


def test_tiny_one_shot_ranks_every_ground_truth_architecture(tmp_path):
    run(tmp_path, "--tiny", "--out", tmp_path / "gt.json")
    run_script("enas_oneshot", tmp_path, "--tiny", "--ground-truth", tmp_path / "gt.json",
               "--out", tmp_path / "one.json")
    gt = json.loads((tmp_path / "gt.json").read_text())
    one = json.loads((tmp_path / "one.json").read_text())
    n = len(gt["summary"]["indices"])
    for r in one["runs"]:
        assert len(r["estimate"]) == n and -1 <= r["tau"] <= 1
        assert 1 <= r["favourite_rank"] <= n and r["favourite"] in gt["summary"]["indices"]
    assert one["ground_truth"]["train_steps"] == n * len(gt["config"]["seeds"]) * gt[
        "config"]["steps"]
    # seeds in separate processes, merged, give the one-process summary
    for seed in one["config"]["seeds"]:
        run_script("enas_oneshot", tmp_path, "--tiny", "--ground-truth", tmp_path / "gt.json",
                   "--seeds", seed, "--out", tmp_path / f"one{seed}.json")
    run_script("enas_oneshot", tmp_path, "--merge",
               *[tmp_path / f"one{s}.json" for s in one["config"]["seeds"]],
               "--out", tmp_path / "merged.json")
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged["summary"] == one["summary"]


def test_tiny_search_places_enas_and_random_search_at_equal_cost(tmp_path):
    run(tmp_path, "--tiny", "--out", tmp_path / "gt.json")
    run_script("enas_search", tmp_path, "--tiny", "--ground-truth", tmp_path / "gt.json",
               "--out", tmp_path / "search.json")
    gt = json.loads((tmp_path / "gt.json").read_text())
    result = json.loads((tmp_path / "search.json").read_text())
    retrain = gt["config"]["steps"] * len(gt["config"]["seeds"])
    for r in result["runs"]:
        enas, rand = r["enas"], r["random"]
        assert 0 <= enas["percentile"] <= 100 and 0 <= rand["percentile"] <= 100
        assert rand["train_steps"] == rand["k"] * retrain <= enas["train_steps"]
        assert enas["train_steps"] - rand["train_steps"] < retrain  # equal up to one draw
        assert len(enas["derive_scores"]) == result["config"]["derive_samples"]
        ranking = r["supernet"]  # the ENAS supernet ranks the whole ground truth
        assert len(ranking["estimate"]) == len(gt["summary"]["indices"])
        assert -1 <= ranking["tau"] <= 1 and 0 <= ranking["top10_recall"] <= 1
    assert result["summary"]["enas_percentile"] == [r["enas"]["percentile"]
                                                    for r in result["runs"]]
