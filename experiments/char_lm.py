"""Chapter 5's language-model experiment: RNN vs LSTM vs GRU on the book's own prose.

The corpus is the book's chapters as plain text (dlcourse.text: every clone has it, no
download), split contiguously 80/10/10 into train, validation and test. Each cell is
trained by truncated BPTT (dlcourse.lm.train_lm) with the same step budget, the same
windows (batch streams x seq_len characters), the same Adam learning rate and clipping,
and hidden sizes chosen so that all three models have (nearly) the same number of
parameters (dlcourse.lm.matched_hidden, the LSTM's count as the target). CPU training
time (one BLAS thread) is recorded next to each validation perplexity, so the chapter can
also compare the cells at equal time: a GRU or RNN step is cheaper than an LSTM step at equal
parameter count. Baselines: unigram and bigram models with add-one smoothing, counted
on the same training text and scored on the same validation and test text.

Full run (about 15 minutes of CPU on one core):  python experiments/char_lm.py
Tiny run for CI (seconds):                python experiments/char_lm.py --tiny --out x.json

The chapter loads the committed result, experiments/results/char_lm.json. Perplexities
depend on the text, so the corpus is the frozen snapshot data/book_prose.txt and the result
records its SHA-256 (and the commit it was computed at).
"""

import time
from pathlib import Path

import numpy as np
from common import commit_of_checkout, run_cli, write_result  # experiments/common.py

from dlcourse.lm import CELLS, lm_param_count, matched_hidden, perplexity, train_lm
from dlcourse.text import (
    Vocabulary,
    bigram_perplexity,
    corpus_digest,
    load_corpus,
    split,
    unigram_perplexity,
)

RESULT = Path(__file__).resolve().parent / "results" / "char_lm.json"

FULL = dict(seeds=[0, 1, 2], lstm_hidden=96, embed=24, seq_len=64, batch=32, steps=3000,
            eval_every=100, learning_rate=3e-3, clip=1.0, fractions=[0.8, 0.1, 0.1])
TINY = dict(seeds=[0, 1], lstm_hidden=12, embed=8, seq_len=16, batch=8, steps=30,
            eval_every=10, learning_rate=1e-2, clip=1.0, fractions=[0.8, 0.1, 0.1])



def baselines(train, val, test, V):
    """Unigram and bigram perplexities on validation and test text."""
    return {name: {"val": fn(train, val, V), "test": fn(train, test, V)}
            for name, fn in [("unigram", unigram_perplexity), ("bigram", bigram_perplexity)]}


def at_time(run, budget):
    """Validation perplexity of a run at the last evaluation within ``budget`` seconds."""
    ok = [p for p, s in zip(run["val_ppl"], run["seconds"], strict=True) if s <= budget]
    return ok[-1] if ok else None


def summarise(runs, cells):
    """Mean and spread over seeds per cell, and perplexity at an equal time budget (the
    shortest mean training time of the cells)."""
    budget = min(np.mean([r["seconds"][-1] for r in runs if r["cell"] == c]) for c in cells)
    out = {"equal_time_budget_s": float(budget)}
    for c in cells:
        rs = [r for r in runs if r["cell"] == c]
        val = np.array([r["final_val_ppl"] for r in rs])
        test = np.array([r["test_ppl"] for r in rs])
        eq = [at_time(r, budget) for r in rs]
        out[c] = {"hidden": rs[0]["hidden"], "params": rs[0]["params"],
                  "val_ppl_mean": float(val.mean()), "val_ppl_std": float(val.std(ddof=1))
                  if len(val) > 1 else 0.0, "val_ppl_min": float(val.min()),
                  "val_ppl_max": float(val.max()), "test_ppl_mean": float(test.mean()),
                  "test_ppl_std": float(test.std(ddof=1)) if len(test) > 1 else 0.0,
                  "seconds_mean": float(np.mean([r["seconds"][-1] for r in rs])),
                  "val_ppl_at_equal_time": [None if e is None else float(e) for e in eq]}
    return out


def main(cfg, out):
    text = load_corpus()
    vocab = Vocabulary(text)
    V = vocab.size
    train, val, test = split(vocab.encode(text), cfg["fractions"])
    target = lm_param_count("lstm", V, cfg["lstm_hidden"], cfg["embed"])
    hidden = matched_hidden(V, cfg["embed"], target)
    hidden["lstm"] = cfg["lstm_hidden"]
    result = {"config": cfg, "commit": commit_of_checkout(),
              "corpus": {"source": "data/book_prose.txt (dlcourse.text.load_corpus)",
                         "sha256": corpus_digest(text), "chars": len(text), "vocab_size": V,
                         "train": len(train), "val": len(val), "test": len(test)},
              "baselines": baselines(train, val, test, V), "runs": []}
    b = result["baselines"]
    print(f"{len(text)} characters, V = {V}; unigram val {b['unigram']['val']:.2f}, "
          f"bigram val {b['bigram']['val']:.2f}", flush=True)
    cells = list(CELLS)
    for seed in cfg["seeds"]:
        for cell in cells:
            t0 = time.process_time()
            params, hist = train_lm(cell, train, val, hidden[cell], cfg["embed"],
                                    cfg["seq_len"], cfg["batch"], cfg["steps"],
                                    lr=cfg["learning_rate"], seed=seed, clip=cfg["clip"],
                                    eval_every=cfg["eval_every"], vocab_size=V)
            run = {"cell": cell, "seed": seed, "hidden": hidden[cell],
                   "params": lm_param_count(cell, V, hidden[cell], cfg["embed"]), **hist,
                   "final_val_ppl": hist["val_ppl"][-1],
                   "test_ppl": perplexity(params, cell, test),
                   "cpu_seconds_total": time.process_time() - t0}
            result["runs"].append(run)
            print(f"seed {seed} {cell:>4} H={hidden[cell]:3d} ({run['params']} params): "
                  f"val {run['final_val_ppl']:.2f} test {run['test_ppl']:.2f} in "
                  f"{hist['seconds'][-1]:.1f} s", flush=True)
    result["summary"] = summarise(result["runs"], cells)
    write_result(out, result)


if __name__ == "__main__":
    run_cli(__doc__, main, FULL, TINY, RESULT)
