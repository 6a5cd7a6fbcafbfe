"""Chapter 6's opening experiment: what attention fixes in a GRU encoder-decoder.

Task: numbers written in English words -> digits ("three hundred four thousand twenty-one"
-> "304021"), generated from a seed by dlcourse.seq2seq_data.make_task: up to nine digits,
inputs of 3 to ~100 characters, train/validation/test sets of disjoint values. The longer
the input, the more digits the decoder must write, so a decoder that sees the source only
through the encoder's last state must carry more and more through it.

Two variants of dlcourse.seq2seq, at (nearly) the same parameter count: with additive
attention (Bahdanau et al. 2015; hidden H, alignment size A), and without (the decoder
starts from the encoder's last state and never sees the source again; its H is larger, so
that the parameter counts match: dlcourse.seq2seq.matched_hidden). Same task, steps,
batches, Adam learning-rate schedule and clipping; three seeds each (the seed sets the
initial weights and the batch order; the task is the same for all runs). Recorded: greedy
exact match on the test set, overall and per input-length bucket, the training curve
(loss, validation exact match), and CPU seconds (one BLAS thread).

Full run (about 22 minutes of CPU on one core):   python experiments/seq2seq_attention.py
Tiny run for CI (seconds):   python experiments/seq2seq_attention.py --tiny --out x.json

The chapter loads the committed result, experiments/results/seq2seq_attention.json.
"""

import time
from pathlib import Path

import numpy as np
from common import commit_of_checkout, run_cli, write_result  # experiments/common.py

from dlcourse.seq2seq import (
    attention_map,
    count_params,
    evaluate,
    has_attention,
    matched_hidden,
    train_seq2seq,
)
from dlcourse.seq2seq_data import DEFAULT_EDGES, accuracy_by_length, make_task

RESULT = Path(__file__).resolve().parent / "results" / "seq2seq_attention.json"

FULL = dict(task_seed=0, sizes={"train": 40000, "val": 500, "test": 3000}, max_digits=9,
            seeds=[0, 1, 2], attention_hidden=64, attn_dim=32, embed=16, batch_size=64,
            steps=5000, learning_rate=3e-3, learning_rate_end=3e-4, clip=1.0,
            eval_every=250, edges=list(DEFAULT_EDGES))
TINY = dict(task_seed=0, sizes={"train": 300, "val": 40, "test": 100}, max_digits=4,
            seeds=[0, 1], attention_hidden=12, attn_dim=8, embed=6, batch_size=16,
            steps=20, learning_rate=1e-2, learning_rate_end=1e-3, clip=1.0, eval_every=10,
            edges=list(DEFAULT_EDGES))



def hidden_sizes(cfg, Vs, Vt):
    """H of each variant: the attending model's from the config, the plain model's the
    one whose parameter count is nearest it."""
    target = count_params(Vs, Vt, cfg["attention_hidden"], cfg["embed"], True,
                          cfg["attn_dim"])
    return {True: cfg["attention_hidden"],
            False: matched_hidden(Vs, Vt, cfg["embed"], target, attention=False)}


def _stats(values):
    """mean, sample std, min and max of a list of numbers."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def summarise(runs):
    """Per variant: test exact match over seeds, overall and per length bucket."""
    out = {}
    for name, attention in [("attention", True), ("no_attention", False)]:
        rs = [r for r in runs if r["attention"] == attention]
        buckets = []
        for b, first in enumerate(rs[0]["test_by_length"]):
            scores = [r["test_by_length"][b]["exact_match"] for r in rs]
            buckets.append({"lo": first["lo"], "hi": first["hi"], "n": first["n"],
                            **(_stats(scores) if None not in scores else {})})
        out[name] = {"hidden": rs[0]["hidden"], "params": rs[0]["params"],
                     "test_exact": _stats([r["test_exact"] for r in rs]),
                     "test_by_length": buckets,
                     "cpu_seconds": _stats([r["cpu_seconds_total"] for r in rs])}
    return out


def main(cfg, out):
    start = time.process_time()
    sizes = cfg["sizes"]
    task = make_task(cfg["task_seed"], sizes["train"], sizes["val"], sizes["test"],
                     max_digits=cfg["max_digits"])
    sv, tv = task.src_vocab, task.tgt_vocab
    max_len = 1 + task.max_lengths()[1]
    hidden = hidden_sizes(cfg, sv.size, tv.size)
    lengths = [len(s) for s, _ in task.test]
    result = {"config": cfg, "commit": commit_of_checkout(), "task": task.description,
              "test_length_buckets": accuracy_by_length(lengths, np.ones(len(lengths)),
                                                        cfg["edges"]),
              "runs": []}
    print(f"task: {sizes}, sources of {min(lengths)}..{max(lengths)} characters; "
          f"H = {hidden[True]} with attention (A = {cfg['attn_dim']}), {hidden[False]} "
          f"without", flush=True)
    for seed in cfg["seeds"]:
        for attention in (True, False):
            t0 = time.process_time()
            A = cfg["attn_dim"] if attention else None
            params, hist = train_seq2seq(
                task, attention, hidden[attention], cfg["embed"], attn_dim=A,
                batch_size=cfg["batch_size"], steps=cfg["steps"], lr=cfg["learning_rate"],
                lr_end=cfg["learning_rate_end"], clip=cfg["clip"], seed=seed,
                eval_every=cfg["eval_every"], n_eval=sizes["val"], max_len=max_len)
            correct = evaluate(params, task.test, sv, tv, max_len)
            run = {"attention": attention, "seed": seed, "hidden": hidden[attention],
                   "attn_dim": A, "params": count_params(sv.size, tv.size, hidden[attention],
                                                         cfg["embed"], attention, A),
                   **hist, "test_exact": float(correct.mean()),
                   "test_by_length": accuracy_by_length(lengths, correct, cfg["edges"]),
                   "cpu_seconds_total": time.process_time() - t0}
            if has_attention(params) and seed == cfg["seeds"][0]:
                # one long and one short held-out example, for the chapter's plot
                examples = [max(task.test, key=lambda p: len(p[0])), task.test[0]]
                run["attention_maps"] = []
                for src, tgt in examples:
                    decoded, weights = attention_map(params, src, sv, tv, max_len)
                    run["attention_maps"].append({"source": src, "target": tgt,
                                                  "decoded": decoded,
                                                  "weights": np.round(weights, 4).tolist()})
            result["runs"].append(run)
            by_len = " ".join(f"{b['exact_match']:.2f}" for b in run["test_by_length"]
                              if b["n"])
            print(f"seed {seed} {'attention' if attention else 'plain':>9} "
                  f"H={hidden[attention]} ({run['params']} params): test {run['test_exact']:.3f}"
                  f" [by length: {by_len}] in {hist['seconds'][-1]:.0f} s", flush=True)
    result["summary"] = summarise(result["runs"])
    result["cpu_seconds_total"] = time.process_time() - start
    write_result(out, result, note=f" ({result['cpu_seconds_total']:.0f} s of CPU)")


if __name__ == "__main__":
    run_cli(__doc__, main, FULL, TINY, RESULT)
