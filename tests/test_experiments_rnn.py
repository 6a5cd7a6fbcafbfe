"""Chapter 5's long-range experiment runs end to end at a tiny size and writes the result
file the chapter reads; the committed full result has the fields the chapter plots."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "long_range.py"


def test_long_range_tiny_writes_a_complete_result(tmp_path):
    out = tmp_path / "long_range.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    cfg = result["config"]
    runs = result["runs"]
    assert len(runs) == len(cfg["seeds"]) * len(cfg["lengths"]) * len(result["models"])
    for run in runs:
        n_evals = cfg["steps"] // cfg["eval_every"]
        assert len(run["step"]) == len(run["test_acc"]) == len(run["loss"]) == n_evals
        assert all(0.0 <= a <= 1.0 for a in run["test_acc"])
        assert run["final_acc"] == run["test_acc"][-1]
        assert all(n > 0 for n in run["grad_norm"])


def test_recall_batch_puts_the_label_at_step_one():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from long_range import recall_batch
    finally:
        sys.path.remove(str(SCRIPT.parent))
    import numpy as np

    x, y = recall_batch(np.random.default_rng(0), 50, 7, 4)
    assert x.shape == (50, 7, 8) and y.shape == (50,)
    assert np.array_equal(x[:, 0].argmax(axis=1), y)  # the target, among symbols 0..3
    assert (x[:, 1:].argmax(axis=2) >= 4).all()  # distractors only after step 1
    assert np.array_equal(x.sum(axis=2), np.ones((50, 7)))  # one-hot


def test_committed_result_is_the_full_run():
    result = json.loads((ROOT / "experiments" / "results" / "long_range.json").read_text())
    assert result["config"]["steps"] >= 1000
    assert {r["T"] for r in result["runs"]} == set(result["config"]["lengths"])


def test_forget_bias_sweep_tiny_writes_every_run_and_merges_seeds(tmp_path):
    script = ROOT / "experiments" / "forget_bias.py"
    outs = []
    for seed in (0, 1):
        out = tmp_path / f"s{seed}.json"
        proc = subprocess.run([sys.executable, str(script), "--tiny", "--seeds", str(seed),
                               "--out", str(out)], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    merged = tmp_path / "all.json"
    proc = subprocess.run([sys.executable, str(script), "--merge", *map(str, outs),
                           "--out", str(merged)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(merged.read_text())
    cfg = result["config"]
    assert cfg["seeds"] == [0, 1]
    per_seed = sum(len(s["biases"]) + 1 for s in cfg["settings"])  # + the RNN
    assert len(result["runs"]) == 2 * per_seed
    assert [r["seed"] for r in result["runs"]] == [0] * per_seed + [1] * per_seed
    for run in result["runs"]:
        assert len(run["step"]) == cfg["steps"] // cfg["eval_every"]
        assert run["final_acc"] == run["test_acc"][-1]
        assert (run["cell"] == "rnn") == (run["forget_bias"] is None)


def test_forget_bias_merge_refuses_different_configs(tmp_path):
    script = ROOT / "experiments" / "forget_bias.py"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    base = {"config": {"seeds": [0], "steps": 10}, "runs": []}
    a.write_text(json.dumps(base))
    b.write_text(json.dumps({"config": {"seeds": [1], "steps": 20}, "runs": []}))
    proc = subprocess.run([sys.executable, str(script), "--merge", str(a), str(b),
                           "--out", str(tmp_path / "m.json")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "configs differ" in proc.stderr
    assert not (tmp_path / "m.json").exists()
