"""Chapter 6's Transformer experiments run end to end at a tiny size and write complete
result files."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"


def run_tiny(name, tmp_path):
    out = tmp_path / f"{name}.json"
    proc = subprocess.run([sys.executable, str(EXPERIMENTS / f"{name}.py"), "--tiny",
                           "--out", str(out)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def test_transformer_numbers_tiny_writes_a_complete_result(tmp_path):
    result = run_tiny("transformer_numbers", tmp_path)
    cfg, runs = result["config"], result["runs"]
    assert [r["seed"] for r in runs] == cfg["seeds"]
    n_evals = cfg["steps"] // cfg["eval_every"]
    for run in runs:
        assert len(run["loss"]) == cfg["steps"]
        assert len(run["step"]) == len(run["seconds"]) == len(run["val_exact"]) == n_evals
        assert all(0.0 <= a <= 1.0 for a in run["val_exact"])
        assert run["seconds"] == sorted(run["seconds"])
        for dec in ("greedy", "beam"):
            assert 0.0 <= run[f"test_exact_{dec}"] <= 1.0
            buckets = run[f"test_by_length_{dec}"]
            assert len(buckets) == len(cfg["edges"]) - 1
            assert sum(b["n"] for b in buckets) == cfg["sizes"]["test"]
    maps = runs[0]["attention_maps"]
    assert len(maps) == 2 and len(maps[0]["source"]) >= len(maps[1]["source"])
    for m in maps:
        heads = m["weights"]
        assert len(heads) == cfg["n_heads"] and len(heads[0][0]) == len(m["source"])
    assert "attention_maps" not in runs[1]
    s = result["summary"]
    assert s["params"] == runs[0]["params"] > 0
    assert s["test_exact_greedy"]["min"] <= s["test_exact_greedy"]["mean"]


def test_transformer_norm_tiny_writes_every_setting(tmp_path):
    result = run_tiny("transformer_norm", tmp_path)
    cfg, runs = result["config"], result["runs"]
    per_seed = (len(cfg["norms"]) * len(cfg["depths"]) * (len(cfg["learning_rates"]) + 1))
    assert len(runs) == per_seed * len(cfg["seeds"])
    for run in runs:
        assert len(run["loss"]) <= cfg["steps"]
        assert isinstance(run["diverged"], bool) and isinstance(run["spiked"], bool)
        assert not (run["diverged"] and run["spiked"])
        assert 0.0 <= run["val_exact"] <= 1.0
    warm = [r for r in runs if r["warmup"]]
    assert {r["lr"] for r in warm} == {max(cfg["learning_rates"])}
    assert len(result["summary"]) == per_seed


def test_char_gpt_tiny_writes_a_complete_result(tmp_path):
    result = run_tiny("char_gpt", tmp_path)
    cfg, runs = result["config"], result["runs"]
    assert [r["seed"] for r in runs] == cfg["seeds"]
    for run in runs:
        assert len(run["step"]) == len(run["val_ppl"]) == cfg["steps"] // cfg["eval_every"]
        assert all(1.0 < p < result["corpus"]["vocab_size"] * 2 for p in run["val_ppl"])
        assert run["final_val_ppl"] == run["val_ppl"][-1] and run["test_ppl"] > 1.0
    assert result["lstm_reference"]["summary"]["lstm"]["params"] > 0
    assert result["summary"]["lstm"]["params"] == result["lstm_reference"]["summary"][
        "lstm"]["params"]


def test_norm_labels_follow_the_docstring():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        from transformer_norm import labels
    finally:
        sys.path.remove(str(EXPERIMENTS))
    cfg = {"block": 2, "diverge_ratio": 0.9, "spike_nats": 0.5}
    assert labels([3, 3, 2, 2, 1, 1], cfg)[:2] == (False, False)
    assert labels([3, 3, 1, 1, 2, 2, 0.5, 0.5], cfg)[:2] == (False, True)
    assert labels([3, 3, 1, 1, 3, 3], cfg)[:2] == (True, False)
    assert labels([3, float("nan")], cfg)[:2] == (True, False)
