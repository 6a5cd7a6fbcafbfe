"""Chapter 6: the encoder-decoder Transformer of dlcourse.transformer, on one BLAS thread.

1. One training step (forward, backward, Adam) at d = 64, 2 + 2 blocks, 4 heads,
   d_ff = 256, dropout 0.1, batch 32, source length 20 and target length 21 (the digits
   with bos or eos): tokens per second (source + target), the share of the loss
   (forward + backward) and of Adam, and the fraction of NumPy's matrix-product
   throughput reached: every product the step must do (each projection, feed-forward
   layer and attention product forward, and its two gradient products backward; the
   tied output projection) is timed alone with operands of the same shapes, and
   matmul time / step time is the fraction. Both are CPU times, measured interleaved,
   medians of several repeats, so other work on the machine moves both alike.
2. The GRU encoder-decoder with additive attention against the Transformer, side by side
   on chapter 6's numbers task (number words -> digits; dlcourse.seq2seq_data, seed 0, the
   experiments' split): each model is the committed experiment's (~50,000 parameters
   each), trained for the same number of updates of batch 64; greedy exact match on 300
   validation pairs every 250 updates, against the CPU seconds of training. Printed: the
   curves, the CPU time each needed to first reach 50% and 80%, and the ratio.
3. Post-norm against pre-norm on a toy task (reversing digit strings, d = 32, 1 + 1 and
   3 + 3 blocks) at constant learning rates without warm-up: mean loss of the last 50
   steps and held-out exact match after 500 steps, for a few seeds. (The chapter's
   measurement is experiments/transformer_norm.py, on the numbers task.)
"""

import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from dlcourse.optim import adam
from dlcourse.seq2seq import count_params, train_seq2seq
from dlcourse.transformer import Seq2SeqTransformer, make_batch, noam_schedule, train_transformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import seq2seq_attention as gru_exp  # noqa: E402  (the committed experiments' settings)
import transformer_numbers as tfm_exp  # noqa: E402

PAD, BOS, EOS, VOCAB = 0, 1, 2, 13  # digits are ids 3..12
STEPS, EVAL_EVERY, N_VAL = 1500, 250, 300  # part 2: about 6 minutes of CPU in all
TARGETS = (0.5, 0.8)


def reverse_batch(rng, n, lo=3, hi=6):
    sources = [rng.integers(3, VOCAB, size=k) for k in rng.integers(lo, hi + 1, size=n)]
    return make_batch(sources, [s[::-1] for s in sources], BOS, EOS)


def exact_match(model, rng, n=200):
    src, _, tgt_out = reverse_batch(rng, n)
    out = model.greedy_decode(src, tgt_out.shape[1], BOS, EOS)
    return float(np.mean([np.array_equal(o[: (t != PAD).sum()], t[t != PAD])
                          for o, t in zip(out, tgt_out, strict=True)]))


def step_products(model, n, s, t):
    """(batch, m, k, n) of every matrix product one training step of ``model`` must do,
    for n sequences of s source and t target tokens: each forward product A (m, k) @
    B (k, n) and its two gradients, dA = dC B^T (m, n, k) and dB = A^T dC (k, m, n)."""
    d, h, V = model.d, model.n_heads, model.vocab
    f = model.params["enc0.W1"].shape[1]  # the feed-forward width
    dh = d // h

    def affine(rows, k, out):           # x (rows, k) @ W (k, out)
        return [(1, rows, k, out), (1, rows, out, k), (1, k, rows, out)]

    def attention(tq, tk):              # per head: Q K^T, then A V; batch n h
        b = n * h
        return [(b, tq, dh, tk), (b, tq, tk, dh), (b, dh, tq, tk),   # scores
                (b, tq, tk, dh), (b, tq, dh, tk), (b, tk, tq, dh)]   # weighted values

    prods = []
    for _ in range(model.n_enc):        # self-attention, W_O, feed-forward
        prods += 4 * affine(n * s, d, d) + attention(s, s)
        prods += affine(n * s, d, f) + affine(n * s, f, d)
    for _ in range(model.n_dec):        # + cross-attention (keys, values from memory)
        prods += 4 * affine(n * t, d, d) + attention(t, t)
        prods += 2 * affine(n * t, d, d) + 2 * affine(n * s, d, d) + attention(t, s)
        prods += affine(n * t, d, f) + affine(n * t, f, d)
    prods += affine(n * t, d, V)        # logits = h E^T
    return prods


def matmul_runner(prods, rng):
    """A function doing all products once (random operands), and their FLOPs."""
    operands = [(rng.normal(size=(b, m, k)).squeeze(0) if b == 1 else
                 rng.normal(size=(b, m, k)),
                 rng.normal(size=(b, k, q)).squeeze(0) if b == 1 else
                 rng.normal(size=(b, k, q))) for b, m, k, q in prods]

    def run():
        for a, b in operands:
            a @ b
    return run, sum(2 * b * m * k * q for b, m, k, q in prods)


def step_time(repeat=15):
    rng = np.random.default_rng(0)
    model = Seq2SeqTransformer(VOCAB, rng, d=64, n_heads=4, d_ff=256, n_enc=2, n_dec=2,
                               norm="pre", p_drop=0.1, label_smoothing=0.1)
    batch = reverse_batch(rng, 32, 20, 20)
    (n, s), t = batch[0].shape, batch[1].shape[1]
    tokens = batch[0].size + batch[2].size
    run_mm, flops = matmul_runner(step_products(model, n, s, t), rng)
    configs = {k: {"learning_rate": 1e-3, "beta2": 0.98, "epsilon": 1e-9} for k in model.params}
    loss_t, adam_t, mm_t = [], [], []
    for _ in range(repeat + 2):          # interleaved: the machine's load hits both alike
        t0 = time.process_time()
        _, grads = model.loss(*batch, rng=rng)
        t1 = time.process_time()
        for k in model.params:
            model.params[k], configs[k] = adam(model.params[k], grads[k], configs[k])
        t2 = time.process_time()
        run_mm()
        t3 = time.process_time()
        loss_t.append(t1 - t0)
        adam_t.append(t2 - t1)
        mm_t.append(t3 - t2)
    loss_s, adam_s, mm_s = (float(np.median(x[2:])) for x in (loss_t, adam_t, mm_t))
    step = loss_s + adam_s
    print(f"{model.n_params():,} parameters; batch of {batch[0].shape} source and "
          f"{batch[1].shape} target ids, {tokens} tokens")
    print(f"one step: {1e3 * step:.1f} ms CPU (loss forward+backward {1e3 * loss_s:.1f} ms, "
          f"Adam {1e3 * adam_s:.1f} ms): {tokens / step:,.0f} tokens/s, "
          f"{batch[2].size / step:,.0f} target tokens/s")
    print(f"its matrix products alone: {1e3 * mm_s:.1f} ms for {flops / 1e9:.3f} GFLOP "
          f"({flops / mm_s / 1e9:.2f} GFLOP/s); the step reaches {flops / step / 1e9:.2f} "
          f"GFLOP/s -> {mm_s / step:.0%} of matmul throughput")


def first_reaching(hist, target):
    """CPU seconds of training at the first evaluation with val_exact >= target."""
    return next((sec for sec, v in zip(hist["seconds"], hist["val_exact"], strict=True)
                 if v >= target), None)


def gru_vs_transformer():
    gcfg, tcfg = gru_exp.FULL, tfm_exp.FULL
    task = tfm_exp.task_of(tcfg)                    # the same task for both
    sv, tv = task.src_vocab, task.tgt_vocab
    max_len = 1 + task.max_lengths()[1]
    val = task.val[:N_VAL]
    t0 = time.process_time()
    _, gru = train_seq2seq(task, True, gcfg["attention_hidden"], gcfg["embed"],
                           attn_dim=gcfg["attn_dim"], batch_size=gcfg["batch_size"],
                           steps=STEPS, lr=gcfg["learning_rate"],
                           lr_end=gcfg["learning_rate_end"], clip=gcfg["clip"], seed=0,
                           eval_every=EVAL_EVERY, n_eval=N_VAL, max_len=max_len)
    gru_params = count_params(sv.size, tv.size, gcfg["attention_hidden"], gcfg["embed"],
                              True, gcfg["attn_dim"])
    gru_total = time.process_time() - t0
    jt = tfm_exp.JointTask(task)
    jt.splits["val"] = jt.splits["val"][:N_VAL]
    jt.task.val = val
    model = tfm_exp.build_model(tcfg, jt.vocab, 0)
    t0 = time.process_time()
    tfm = tfm_exp.train(model, jt, STEPS,
                        lambda s: noam_schedule(s, tcfg["d"], tcfg["warmup"],
                                                tcfg["lr_factor"]),
                        tcfg["batch_size"], tcfg["clip"], 0, EVAL_EVERY,
                        lambda m: {"val_exact": float(tfm_exp.greedy_exact(m, jt,
                                                                            "val").mean())})
    tfm_total = time.process_time() - t0
    print(f"numbers task, {STEPS} updates of batch 64 each, greedy exact match on {N_VAL} "
          "validation pairs; CPU seconds of training (evaluation excluded)")
    print(f"{'step':>6s} {'GRU+attention':>20s} {'Transformer':>20s}")
    for k, step in enumerate(gru["step"]):
        print(f"{step:6d} {gru['val_exact'][k]:9.3f} at {gru['seconds'][k]:5.0f} s "
              f"{tfm['val_exact'][k]:9.3f} at {tfm['seconds'][k]:5.0f} s")
    print(f"parameters: GRU+attention {gru_params:,}, Transformer {model.n_params():,}; "
          f"CPU per update {1e3 * gru['seconds'][-1] / STEPS:.0f} vs "
          f"{1e3 * tfm['seconds'][-1] / STEPS:.0f} ms; whole runs with evaluation "
          f"{gru_total:.0f} vs {tfm_total:.0f} s")
    for target in TARGETS:
        g, t = first_reaching(gru, target), first_reaching(tfm, target)
        ratio = f" -> Transformer / GRU = {t / g:.1f}x" if g and t else ""
        fmt = lambda x: f"{x:.0f} s" if x else f"not within {STEPS} updates"  # noqa: E731
        print(f"time to {target:.0%} exact match: GRU+attention {fmt(g)}, "
              f"Transformer {fmt(t)}{ratio}")


def stability(lrs=(3e-3, 1e-2, 3e-2), seeds=(0, 1, 2), steps=500, blocks=1):
    print(f"toy reversal, {blocks} + {blocks} blocks, constant learning rate, no warm-up, "
          "clip 1.0; mean loss of the last 50 steps / exact match of 200 held-out strings")
    for lr in lrs:
        for norm in ("post", "pre"):
            cells = []
            for seed in seeds:
                model = Seq2SeqTransformer(VOCAB, np.random.default_rng(seed), d=32,
                                           n_heads=4, d_ff=64, n_enc=blocks, n_dec=blocks,
                                           norm=norm,
                                           p_drop=0.0)
                data = np.random.default_rng(seed + 100)
                h = train_transformer(model, lambda data=data: reverse_batch(data, 32), steps,
                                      lr=lr)
                cells.append(f"{np.mean(h['loss'][-50:]):.3f}/"
                             f"{exact_match(model, np.random.default_rng(999)):.2f}")
            print(f"lr {lr:g} {norm:>4}-norm: " + "  ".join(cells))


def main():
    with threadpool_limits(limits=1):
        step_time()
        gru_vs_transformer()
        stability()
        stability(lrs=(3e-3, 1e-2), seeds=(0, 1), blocks=3)


if __name__ == "__main__":
    main()
