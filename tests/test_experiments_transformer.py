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


def run_cli(name, tmp_path, *args):
    proc = subprocess.run([sys.executable, str(EXPERIMENTS / f"{name}.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    return proc


def test_seeds_run_apart_merge_into_one_result(tmp_path):
    """--seeds in two processes, then --merge: the runs of both, the summary recomputed."""
    for seed in (0, 1):
        proc = run_cli("transformer_norm", tmp_path, "--tiny", "--seeds", seed,
                       "--out", tmp_path / f"s{seed}.json")
        assert proc.returncode == 0, proc.stderr
    whole = run_tiny("transformer_norm", tmp_path)
    proc = run_cli("transformer_norm", tmp_path, "--merge", tmp_path / "s0.json",
                   tmp_path / "s1.json", "--out", tmp_path / "merged.json")
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged["config"] == whole["config"]
    assert [r["seed"] for r in merged["runs"]] == [r["seed"] for r in whole["runs"]]
    assert len(merged["commit"]) == 2
    for a, b in zip(merged["summary"], whole["summary"], strict=True):
        assert (a["norm"], a["depth"], a["lr"], a["warmup"], a["runs"]) == (
            b["norm"], b["depth"], b["lr"], b["warmup"], b["runs"]) and a["runs"] == 2


def test_merge_refuses_results_of_other_configs(tmp_path):
    part = run_tiny("transformer_norm", tmp_path)
    other = dict(part, config=dict(part["config"], steps=part["config"]["steps"] + 1))
    (tmp_path / "a.json").write_text(json.dumps(part))
    (tmp_path / "b.json").write_text(json.dumps(other))
    proc = run_cli("transformer_norm", tmp_path, "--merge", "a.json", "b.json",
                   "--out", "m.json")
    assert proc.returncode != 0 and "configs differ" in proc.stderr
    assert not (tmp_path / "m.json").exists()


def test_char_gpt_records_samples_after_chapter_5s_prompt(tmp_path):
    result = run_tiny("char_gpt", tmp_path)
    for run in result["runs"]:
        assert set(run["samples"]) == {"0.3", "1.0"}
        assert all(len(t) == result["config"]["sample_chars"] for t in run["samples"].values())


def committed(name):
    return json.loads((EXPERIMENTS / "results" / f"{name}.json").read_text())


def test_committed_transformer_and_gru_runs_have_the_same_budget_in_steps():
    """Chapter 6 puts them side by side at the same number of updates of the same batch."""
    tfm, gru = committed("transformer_numbers"), committed("seq2seq_attention")
    assert tfm["config"]["steps"] == gru["config"]["steps"]
    assert tfm["config"]["batch_size"] == gru["config"]["batch_size"]
    assert tfm["config"]["task_seed"] == gru["config"]["task_seed"]
    assert tfm["config"]["sizes"] == gru["config"]["sizes"]
    assert len(tfm["runs"]) == len(tfm["config"]["seeds"]) >= 3


def test_committed_char_gpt_budget_is_the_lstms_cpu_time():
    """Its steps were chosen for about the CPU time of chapter 5's committed LSTM runs."""
    gpt, lm = committed("char_gpt"), committed("char_lm")
    ours = sum(r["seconds"][-1] for r in gpt["runs"]) / len(gpt["runs"])
    lstm = lm["summary"]["lstm"]["seconds_mean"]
    assert abs(ours / lstm - 1) < 0.35
    assert gpt["lstm_reference"]["config"] == lm["config"]
