"""Chapter 6: a small Transformer on the numbers task of the GRU experiment.

Task: the one of experiments/seq2seq_attention.py, with the same seed and split (English
number words -> digits, up to nine digits; 40,000 training pairs, 500 validation, 3,000
test; dlcourse.seq2seq_data.make_task), so the exact-match numbers compare with the
committed GRU results (experiments/results/seq2seq_attention.json).

Model: dlcourse.transformer.Seq2SeqTransformer, pre-LN, tied embeddings, dropout 0.1,
label smoothing 0.1, sized so that its parameter count is near the GRU models' (~50k).
The model has one vocabulary for source and target: the source characters keep their
task ids (PAD, BOS, EOS = 0, 1, 2, then the word characters), the ten digits come after
them (joint_vocab). Trained with Adam (beta2 0.98, epsilon 1e-9, as train_transformer)
under the warm-up ("noam") schedule and global-norm clipping. The loop is
train_transformer's, written out so that the validation set can be decoded between steps
without restarting Adam or the schedule; CPU seconds count training only (one BLAS
thread), evaluation excluded (chapter 5's convention).

Recorded per seed (the seed sets the initial weights, the batch order and the dropout
masks; the task is the same for all runs): the training curve (mean training loss and
greedy validation exact match every eval_every steps, against step and CPU seconds), the
first evaluation at which validation exact match reaches 95% (step and CPU seconds), and
held-out test exact match, overall and per input-length bucket, with greedy decoding and
with beam search (beam 4, no length penalty). From the first seed: the cross-attention
maps of the last decoder block (every head) for one long and one short test example.

Full run (5,000 steps, as the GRU's; about 50 minutes of CPU; seeds can run in separate
processes and be merged):
    python experiments/transformer_numbers.py
    python experiments/transformer_numbers.py --seeds 0 --out a.json   # one core
    python experiments/transformer_numbers.py --seeds 1 --out b.json   # the other
    python experiments/transformer_numbers.py --merge a.json b.json
Tiny run for CI (seconds):   python experiments/transformer_numbers.py --tiny --out x.json

The chapter loads the committed result, experiments/results/transformer_numbers.json.
"""

import json
import time
from pathlib import Path

import numpy as np
from common import commit_of_checkout, run_cli, write_result  # experiments/common.py

from dlcourse.layers.rnn import clip_by_global_norm
from dlcourse.optim import adam
from dlcourse.seq2seq_data import BOS, DEFAULT_EDGES, EOS, PAD, accuracy_by_length, make_task
from dlcourse.transformer import Seq2SeqTransformer, make_batch, noam_schedule

RESULT = Path(__file__).resolve().parent / "results" / "transformer_numbers.json"
GRU_RESULT = Path(__file__).resolve().parent / "results" / "seq2seq_attention.json"

FULL = dict(task_seed=0, sizes={"train": 40000, "val": 500, "test": 3000}, max_digits=9,
            seeds=[0, 1, 2], d=32, n_heads=4, d_ff=96, n_enc=2, n_dec=2, norm="pre",
            p_drop=0.1, label_smoothing=0.1, batch_size=64, steps=5000, warmup=400,
            lr_factor=1.0, clip=1.0, beam=4, eval_every=250, target_exact=0.95,
            edges=list(DEFAULT_EDGES))
TINY = dict(task_seed=0, sizes={"train": 300, "val": 40, "test": 60}, max_digits=4,
            seeds=[0, 1], d=16, n_heads=2, d_ff=32, n_enc=1, n_dec=1, norm="pre",
            p_drop=0.1, label_smoothing=0.1, batch_size=16, steps=20, warmup=10,
            lr_factor=1.0, clip=1.0, beam=2, eval_every=10, target_exact=0.95,
            edges=list(DEFAULT_EDGES))



def _stats(values):
    """mean, sample std, min and max of a list of numbers (None if any is None)."""
    if not values or any(v is None for v in values):
        return None
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


class JointTask:
    """The task's pairs as ids of one joint vocabulary: source ids as in the task's word
    vocabulary, digit d as id src_size + d (after the word characters)."""

    def __init__(self, task):
        self.task = task
        self.src_size = task.src_vocab.size
        self.vocab = self.src_size + len(task.tgt_vocab.tokens) - 3
        self.max_tgt = task.max_lengths()[1]
        self.splits = {name: [self.encode(p) for p in getattr(task, name)]
                       for name in ("train", "val", "test")}

    def encode(self, pair):
        src, tgt = pair
        t = self.task.tgt_vocab.encode(tgt)
        return self.task.src_vocab.encode(src), t - 3 + self.src_size

    def decode_target(self, ids):
        """The digit string of joint ids (stops at EOS, skips PAD and BOS)."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= self.src_size:
                out.append(self.task.tgt_vocab.tokens[i - self.src_size + 3])
        return "".join(out)

    def batch(self, pairs):
        return make_batch([s for s, _ in pairs], [t for _, t in pairs], BOS, EOS, PAD)


def build_model(cfg, vocab, seed, norm=None):
    return Seq2SeqTransformer(vocab, np.random.default_rng(seed), d=cfg["d"],
                              n_heads=cfg["n_heads"], d_ff=cfg["d_ff"],
                              n_enc=cfg.get("n_enc"), n_dec=cfg.get("n_dec"),
                              norm=norm or cfg["norm"], p_drop=cfg["p_drop"],
                              label_smoothing=cfg["label_smoothing"], pad_id=PAD)


def greedy_exact(model, jt, split, batch=500):
    """Greedy-decoded exact match of every pair of a split: bool (N,)."""
    pairs, refs = jt.splits[split], [t for _, t in getattr(jt.task, split)]
    hits = []
    for k in range(0, len(pairs), batch):
        src = jt.batch(pairs[k : k + batch])[0]
        out = model.greedy_decode(src, jt.max_tgt + 1, BOS, EOS)
        hits += [jt.decode_target(o) == r for o, r in zip(out, refs[k : k + batch],
                                                            strict=True)]
    return np.array(hits, dtype=bool)


def beam_exact(model, jt, split, beam):
    """Beam-search exact match of every pair of a split: bool (N,)."""
    pairs, refs = jt.splits[split], [t for _, t in getattr(jt.task, split)]
    hits = []
    for k in range(0, len(pairs), 200):
        src = jt.batch(pairs[k : k + 200])[0]
        seqs, _ = model.beam_search(src, beam, jt.max_tgt + 1, BOS, EOS)
        hits += [jt.decode_target(o) == r for o, r in zip(seqs, refs[k : k + 200],
                                                            strict=True)]
    return np.array(hits, dtype=bool)


def train(model, jt, steps, schedule, batch_size, clip, seed, eval_every=None,
          evaluate=None):
    """train_transformer's loop (Adam, beta2 0.98, eps 1e-9; clipping), with ``evaluate``
    (model -> dict of numbers) called after every eval_every steps.

    Returns history: per-step loss, lr, grad_norm; per evaluation step, seconds (training
    CPU so far), train_loss (mean over the steps since the last evaluation) and the
    numbers of evaluate.
    """
    rng = np.random.default_rng(seed + 1000)  # batches and dropout, apart from the weights
    configs = {name: {"beta1": 0.9, "beta2": 0.98, "epsilon": 1e-9} for name in model.params}
    train_pairs = jt.splits["train"]
    hist = {"loss": [], "lr": [], "grad_norm": [], "step": [], "seconds": [],
            "train_loss": []}
    seconds = 0.0
    for step in range(1, steps + 1):
        t0 = time.process_time()
        idx = rng.integers(0, len(train_pairs), size=batch_size)
        loss, grads = model.loss(*jt.batch([train_pairs[i] for i in idx]), rng=rng)
        grads, norm = clip_by_global_norm(grads, clip)
        rate = schedule(step)
        for name in model.params:
            configs[name]["learning_rate"] = rate
            model.params[name], configs[name] = adam(model.params[name], grads[name],
                                                     configs[name])
        seconds += time.process_time() - t0
        hist["loss"].append(float(loss))
        hist["lr"].append(float(rate))
        hist["grad_norm"].append(float(norm))
        if not np.isfinite(loss):
            break
        if eval_every and step % eval_every == 0:
            hist["step"].append(step)
            hist["seconds"].append(seconds)
            hist["train_loss"].append(float(np.mean(hist["loss"][-eval_every:])))
            for k, v in (evaluate(model) if evaluate else {}).items():
                hist.setdefault(k, []).append(v)
    hist["train_seconds"] = seconds
    return hist


def cross_maps(model, jt, examples):
    """Cross-attention of the last decoder block, every head, for the greedy output of
    each (source, target) string pair: a list of dicts for the chapter's plot."""
    maps = []
    for src_s, tgt_s in examples:
        src, tgt = jt.encode((src_s, tgt_s))
        out = model.greedy_decode(src[None], jt.max_tgt + 1, BOS, EOS)[0]
        out = out[: list(out).index(EOS) + 1] if EOS in out else out
        tgt_in = np.concatenate([[BOS], out[:-1]])[None]
        w = model.attention_maps(src[None], tgt_in)["cross"][-1][0]      # (h, T, S)
        maps.append({"source": src_s, "target": tgt_s, "decoded": jt.decode_target(out),
                     "block": model.n_dec - 1,
                     "weights": np.round(w, 4).tolist(),
                     "weights_mean_over_heads": np.round(w.mean(axis=0), 4).tolist()})
    return maps


def summarise(runs, edges):
    out = {"params": runs[0]["params"]}
    for dec in ("greedy", "beam"):
        out[f"test_exact_{dec}"] = _stats([r[f"test_exact_{dec}"] for r in runs])
        buckets = []
        for b, first in enumerate(runs[0][f"test_by_length_{dec}"]):
            scores = [r[f"test_by_length_{dec}"][b]["exact_match"] for r in runs]
            buckets.append({"lo": first["lo"], "hi": first["hi"], "n": first["n"],
                            **(_stats(scores) or {})})
        out[f"test_by_length_{dec}"] = buckets
    reached = [r["reached_target"] for r in runs]
    out["reached_target"] = {
        "runs_reaching": sum(x is not None for x in reached), "runs": len(runs),
        "step": _stats([x["step"] for x in reached if x]) if any(reached) else None,
        "seconds": _stats([x["seconds"] for x in reached if x]) if any(reached) else None}
    out["train_seconds"] = _stats([r["train_seconds"] for r in runs])
    out["cpu_seconds_total"] = _stats([r["cpu_seconds_total"] for r in runs])
    out["final_val_exact"] = _stats([r["val_exact"][-1] for r in runs])
    return out


def gru_reference():
    """The committed GRU numbers (attention and none), for the comparison."""
    try:
        s = json.loads(GRU_RESULT.read_text())["summary"]
    except (OSError, KeyError, ValueError):
        return None
    return {k: {"params": v["params"], "test_exact": v["test_exact"],
                "cpu_seconds": v["cpu_seconds"]} for k, v in s.items()}


def task_of(cfg):
    """The numbers task of cfg (the same seed and split as seq2seq_attention.py)."""
    sizes = cfg["sizes"]
    return make_task(cfg["task_seed"], sizes["train"], sizes["val"], sizes["test"],
                     max_digits=cfg["max_digits"])


def main(cfg, out):
    start = time.process_time()
    task = task_of(cfg)
    jt = JointTask(task)
    lengths = [len(s) for s, _ in task.test]
    result = {"config": cfg, "commit": commit_of_checkout(), "task": task.description,
              "joint_vocab_size": jt.vocab, "gru_reference": gru_reference(), "runs": []}
    for seed in cfg["seeds"]:
        t0 = time.process_time()
        model = build_model(cfg, jt.vocab, seed)
        schedule = lambda s: noam_schedule(s, cfg["d"], cfg["warmup"], cfg["lr_factor"])  # noqa: E731
        hist = train(model, jt, cfg["steps"], schedule, cfg["batch_size"], cfg["clip"],
                     seed, cfg["eval_every"],
                     lambda m: {"val_exact": float(greedy_exact(m, jt, "val").mean())})
        reached = next(({"step": st, "seconds": sec} for st, sec, v in
                        zip(hist["step"], hist["seconds"], hist["val_exact"], strict=True)
                        if v >= cfg["target_exact"]), None)
        greedy = greedy_exact(model, jt, "test")
        beam = beam_exact(model, jt, "test", cfg["beam"])
        run = {"seed": seed, "params": model.n_params(), **hist, "reached_target": reached,
               "test_exact_greedy": float(greedy.mean()),
               "test_by_length_greedy": accuracy_by_length(lengths, greedy, cfg["edges"]),
               "test_exact_beam": float(beam.mean()),
               "test_by_length_beam": accuracy_by_length(lengths, beam, cfg["edges"]),
               "beam_differs_from_greedy": int((beam != greedy).sum())}
        if seed == 0:
            run["attention_maps"] = cross_maps(
                model, jt, [max(task.test, key=lambda p: len(p[0])),
                            min(task.test, key=lambda p: len(p[0]))])
        run["cpu_seconds_total"] = time.process_time() - t0
        result["runs"].append(run)
        print(f"seed {seed} ({run['params']} params): val {hist['val_exact'][-1]:.3f}, test "
              f"greedy {run['test_exact_greedy']:.3f} beam {run['test_exact_beam']:.3f}; "
              f"95% at {reached}; {hist['train_seconds']:.0f} s training, "
              f"{run['cpu_seconds_total']:.0f} s in all", flush=True)
    result["summary"] = summarise(result["runs"], cfg["edges"])
    result["cpu_seconds_total"] = time.process_time() - start
    write_result(out, result, note=f" ({result['cpu_seconds_total']:.0f} s of CPU)")


if __name__ == "__main__":
    run_cli(__doc__, main, FULL, TINY, RESULT,
            summarise=lambda runs, cfg: summarise(runs, cfg["edges"]))
