"""Chapter 6: the encoder-decoder Transformer of dlcourse.transformer, on one BLAS thread.

1. The time of one training step (forward, backward, Adam) at d = 64, 2 + 2 blocks,
   4 heads, d_ff = 256, dropout 0.1, batch 32, source and target lengths 20 (the target
   with its bos/eos, 21), in tokens per second (source + target tokens), and the share of
   the step spent in the loss (forward + backward) and in Adam.
2. Post-norm against pre-norm on the toy task (reversing digit strings, d = 32, 1 + 1
   and 3 + 3 blocks) at constant learning rates without warm-up: loss of the last 50
   steps and the held-out exact match after 500 steps, for a few seeds.
"""

import time

import numpy as np
from threadpoolctl import threadpool_limits

from dlcourse.optim import adam
from dlcourse.transformer import Seq2SeqTransformer, make_batch, train_transformer

PAD, BOS, EOS, VOCAB = 0, 1, 2, 13  # digits are ids 3..12


def reverse_batch(rng, n, lo=3, hi=6):
    sources = [rng.integers(3, VOCAB, size=k) for k in rng.integers(lo, hi + 1, size=n)]
    return make_batch(sources, [s[::-1] for s in sources], BOS, EOS)


def exact_match(model, rng, n=200):
    src, _, tgt_out = reverse_batch(rng, n)
    out = model.greedy_decode(src, tgt_out.shape[1], BOS, EOS)
    return float(np.mean([np.array_equal(o[: (t != PAD).sum()], t[t != PAD])
                          for o, t in zip(out, tgt_out, strict=True)]))


def step_time(repeat=20):
    rng = np.random.default_rng(0)
    model = Seq2SeqTransformer(VOCAB, rng, d=64, n_heads=4, d_ff=256, n_enc=2, n_dec=2,
                               norm="pre", p_drop=0.1, label_smoothing=0.1)
    batch = reverse_batch(rng, 32, 20, 20)
    tokens = batch[0].size + batch[2].size
    configs = {k: {"learning_rate": 1e-3, "beta2": 0.98, "epsilon": 1e-9} for k in model.params}
    loss_t, adam_t = [], []
    for _ in range(repeat + 2):
        t0 = time.process_time()
        _, grads = model.loss(*batch, rng=rng)
        t1 = time.process_time()
        for k in model.params:
            model.params[k], configs[k] = adam(model.params[k], grads[k], configs[k])
        t2 = time.process_time()
        loss_t.append(t1 - t0)
        adam_t.append(t2 - t1)
    loss_s, adam_s = np.median(loss_t[2:]), np.median(adam_t[2:])
    step = loss_s + adam_s
    print(f"{model.n_params():,} parameters; batch of {batch[0].shape} source and "
          f"{batch[1].shape} target ids, {tokens} tokens")
    print(f"one step: {1e3 * step:.1f} ms CPU (loss forward+backward {1e3 * loss_s:.1f} ms, "
          f"Adam {1e3 * adam_s:.1f} ms): {tokens / step:,.0f} tokens/s, "
          f"{batch[2].size / step:,.0f} target tokens/s")


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
        stability()
        stability(lrs=(3e-3, 1e-2), seeds=(0, 1), blocks=3)


if __name__ == "__main__":
    main()
