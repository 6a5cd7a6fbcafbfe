"""Chapter 6: a GPT-style character Transformer against chapter 5's LSTM, same text.

The corpus, vocabulary and 80/10/10 split are chapter 5's (dlcourse.text.load_corpus, the
frozen data/book_prose.txt; its SHA-256 is recorded). The model is
dlcourse.transformer.CharTransformerLM (pre-LN, tied embeddings, no dropout) at about the
parameter count of chapter 5's LSTM (H = 96, ~57k parameters), trained for a number of
steps chosen so that its CPU training time is about the LSTM's mean (one BLAS thread; the
LSTM's numbers are read from experiments/results/char_lm.json and stored next to ours).
Training: random windows of ``context`` characters (dlcourse.transformer.random_windows),
Adam (beta2 0.98, eps 1e-9) with a linear warm-up to a constant rate, gradient clipping;
the seed sets the initial weights and the windows drawn.

Recorded per seed: validation perplexity every eval_every steps against step and training
CPU seconds (evaluation excluded, chapter 5's convention), the final validation and test
perplexity, and samples of sample_chars characters after chapter 5's prompt "The network"
at temperatures 0.3 and 1 (seeded, so they repeat on this machine). Perplexity is
CharTransformerLM.perplexity: windows of ``context`` characters every context/2, each
prediction scored once and seeing at least context/2 characters before it. The comparison
is not quite like for like: the Transformer's context window is fixed (it never sees more
than ``context`` characters back), while the
LSTM carries its state through the whole validation or test stream.

Full run (about 6 minutes of CPU on one core):   python experiments/char_gpt.py
Tiny run for CI (seconds):   python experiments/char_gpt.py --tiny --out x.json

Result: experiments/results/char_gpt.json.
"""

import json
import time
from pathlib import Path

import numpy as np
from common import commit_of_checkout, run_cli, write_result  # experiments/common.py

from dlcourse.layers.rnn import clip_by_global_norm
from dlcourse.optim import adam
from dlcourse.text import Vocabulary, corpus_digest, load_corpus, split
from dlcourse.transformer import CharTransformerLM, random_windows

RESULT = Path(__file__).resolve().parent / "results" / "char_gpt.json"
LSTM_RESULT = Path(__file__).resolve().parent / "results" / "char_lm.json"

FULL = dict(seeds=[0, 1, 2], d=56, n_heads=4, d_ff=112, n_layers=2, context=64, batch=32,
            steps=1330, eval_every=50, learning_rate=3e-3, warmup=50, clip=1.0,
            fractions=[0.8, 0.1, 0.1], sample_chars=120)
TINY = dict(seeds=[0, 1], d=16, n_heads=2, d_ff=32, n_layers=1, context=16, batch=8,
            steps=20, eval_every=10, learning_rate=1e-2, warmup=5, clip=1.0,
            fractions=[0.8, 0.1, 0.1], eval_chars=2000, sample_chars=10)
SAMPLE_PROMPT, SAMPLE_TEMPERATURES = "The network", (0.3, 1.0)  # chapter 5's prompt



def _stats(values):
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def lstm_reference():
    """Chapter 5's LSTM (and GRU, RNN) numbers from the committed char_lm.json."""
    try:
        r = json.loads(LSTM_RESULT.read_text())
    except (OSError, ValueError):
        return None
    out = {"config": r["config"], "summary": r["summary"], "baselines": r["baselines"],
           "curves": {}}
    for run in r["runs"]:
        out["curves"].setdefault(run["cell"], []).append(
            {"seed": run["seed"], "step": run["step"], "seconds": run["seconds"],
             "val_ppl": run["val_ppl"], "test_ppl": run["test_ppl"]})
    return out


def train_lm(cfg, V, train_ids, val_ids, seed):
    """One run: the model and its history (step, seconds, train_loss, val_ppl)."""
    model = CharTransformerLM(V, np.random.default_rng(seed), d=cfg["d"],
                              n_heads=cfg["n_heads"], d_ff=cfg["d_ff"],
                              n_layers=cfg["n_layers"], context=cfg["context"], p_drop=0.0)
    rng = np.random.default_rng(seed + 1000)
    configs = {name: {"beta1": 0.9, "beta2": 0.98, "epsilon": 1e-9} for name in model.params}
    hist = {"step": [], "seconds": [], "train_loss": [], "val_ppl": []}
    seconds, losses = 0.0, []
    for step in range(1, cfg["steps"] + 1):
        t0 = time.process_time()
        x, y = random_windows(train_ids, cfg["batch"], cfg["context"], rng)
        loss, grads = model.loss(x, y)
        grads, _ = clip_by_global_norm(grads, cfg["clip"])
        rate = cfg["learning_rate"] * min(1.0, step / cfg["warmup"])
        for name in model.params:
            configs[name]["learning_rate"] = rate
            model.params[name], configs[name] = adam(model.params[name], grads[name],
                                                     configs[name])
        seconds += time.process_time() - t0
        losses.append(float(loss))
        if step % cfg["eval_every"] == 0:
            hist["step"].append(step)
            hist["seconds"].append(seconds)
            hist["train_loss"].append(float(np.mean(losses[-cfg["eval_every"]:])))
            hist["val_ppl"].append(model.perplexity(val_ids))
    return model, hist


def main(cfg, out):
    text = load_corpus()
    vocab = Vocabulary(text)
    V = vocab.size
    train_ids, val_ids, test_ids = split(vocab.encode(text), cfg["fractions"])
    if "eval_chars" in cfg:  # tiny runs score a prefix only
        val_ids, test_ids = val_ids[: cfg["eval_chars"]], test_ids[: cfg["eval_chars"]]
    result = {"config": cfg, "commit": commit_of_checkout(),
              "corpus": {"source": "data/book_prose.txt (dlcourse.text.load_corpus)",
                         "sha256": corpus_digest(text), "chars": len(text), "vocab_size": V,
                         "train": len(train_ids), "val": len(val_ids),
                         "test": len(test_ids)},
              "lstm_reference": lstm_reference(), "runs": []}
    for seed in cfg["seeds"]:
        t0 = time.process_time()
        model, hist = train_lm(cfg, V, train_ids, val_ids, seed)
        run = {"seed": seed, "params": model.n_params(), **hist,
               "final_val_ppl": hist["val_ppl"][-1], "test_ppl": model.perplexity(test_ids),
               "samples": {str(tau): model.sample(vocab, SAMPLE_PROMPT, cfg["sample_chars"],
                                                  tau, np.random.default_rng(0))
                           for tau in SAMPLE_TEMPERATURES},
               "cpu_seconds_total": time.process_time() - t0}
        result["runs"].append(run)
        print(f"seed {seed} ({run['params']} params): val {run['final_val_ppl']:.3f} test "
              f"{run['test_ppl']:.3f} in {hist['seconds'][-1]:.1f} s of training", flush=True)
    runs = result["runs"]
    result["summary"] = {"params": runs[0]["params"],
                         "val_ppl": _stats([r["final_val_ppl"] for r in runs]),
                         "test_ppl": _stats([r["test_ppl"] for r in runs]),
                         "train_seconds": _stats([r["seconds"][-1] for r in runs])}
    ref = result["lstm_reference"]
    if ref:
        lstm = ref["summary"]["lstm"]
        result["summary"]["lstm"] = {k: lstm[k] for k in ("params", "val_ppl_mean",
                                                          "val_ppl_std", "test_ppl_mean",
                                                          "test_ppl_std", "seconds_mean")}
    write_result(out, result)


if __name__ == "__main__":
    run_cli(__doc__, main, FULL, TINY, RESULT)
