"""Chapter 5's character-level LSTM language model: training speed, float64, one BLAS thread.

Side by side in one run (threadpoolctl pins BLAS to one thread):
* one training update of dlcourse.lm (loss_and_grads, clipping, Adam) on windows of the
  book's prose, N streams x T characters, LSTM with H units, embedding E, vocabulary V:
  characters per second = N * T / time per update;
* NumPy's matrix products of the same shapes that any such model must do per update:
  the LSTM's six products (as in bench_lstm.py, with the input products batched over
  steps, the recurrent ones step by step) and the output layer's three, (N T, H) @ (H, V)
  forward and its two gradients. matmul time / our time is the fraction of matrix-product
  throughput reached; the rest is the gates, the softmax, the embedding and Adam.
* the same for the RNN and the GRU at the LSTM's parameter count, in characters/second;
* perplexity reached per minute of CPU, measured live: the three cells, at equal parameter
  count, each trained for PPL_STEPS updates of the committed experiment's settings, their
  validation perplexity read at the same CPU-time budget (the shortest of the three runs),
  and how far below the bigram baseline each got per CPU minute. CPU time of this process,
  not wall-clock time, so other work on the machine does not shift the budget.
The committed experiment's table (experiments/results/char_lm.json) follows for the longer
runs.
"""

import json
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
from timing import best_of

from dlcourse.layers import clip_by_global_norm
from dlcourse.lm import (
    init_params,
    lm_param_count,
    loss_and_grads,
    matched_hidden,
    train_lm,
    zero_state,
)
from dlcourse.optim import adam
from dlcourse.text import Vocabulary, bigram_perplexity, load_corpus, split

N, T, H, E = 32, 64, 96, 24  # the full experiment's LSTM
RESULT = Path(__file__).resolve().parents[1] / "experiments" / "results" / "char_lm.json"
PPL_STEPS, PPL_EVERY = 300, 25  # about 10 s of CPU per cell


def update(params, configs, x, y, state):
    """One truncated-BPTT update, as in dlcourse.lm.train_lm."""
    _, grads, state = loss_and_grads(params, x, y, state)
    grads, _ = clip_by_global_norm(grads, 1.0)
    for name in params:
        params[name], configs[name] = adam(params[name], grads[name], configs[name])
    return state


def products(rng, V):
    """The matrix products of one LSTM-LM update, with random operands of the right shapes."""
    x2, h, da = rng.normal(size=(N * T, E)), rng.normal(size=(N, T, H)), rng.normal(
        size=(N, T, 4 * H))
    Wx, Wh = rng.normal(size=(E, 4 * H)), rng.normal(size=(H, 4 * H))
    W_out, dlog = rng.normal(size=(H, V)), rng.normal(size=(N * T, V))
    h2, da2 = h.reshape(N * T, H), da.reshape(N * T, 4 * H)

    def run():
        x2 @ Wx  # input products of all steps at once
        for t in range(T):
            h[:, t] @ Wh  # recurrence: waits for the previous step
            da[:, t] @ Wh.T
        x2.T @ da2
        da2 @ Wx.T
        h2.T @ da2
        h2 @ W_out  # logits
        dlog @ W_out.T  # dh
        h2.T @ dlog  # dW_out
    flops = 2 * (3 * N * T * E * 4 * H + 3 * N * T * H * 4 * H + 3 * N * T * H * V)
    return run, flops


def chars_per_second(cell, hidden, ids, V, rng):
    """Best-of-5 characters per second of training updates for one cell."""
    params = init_params(cell, V, hidden, E, rng)
    configs = {k: {"learning_rate": 3e-3} for k in params}
    x = ids[: N * T].reshape(N, T)
    y = ids[1 : N * T + 1].reshape(N, T)
    state = zero_state(cell, N, hidden)
    update(params, configs, x, y, state)  # warm-up
    t = best_of(lambda: update(params, configs, x, y, state))
    return N * T / t, t


def perplexity_per_cpu_minute(ids, V, hidden):
    """Train each cell PPL_STEPS updates; print validation perplexity at an equal CPU budget."""
    train, val, _ = split(ids, (0.8, 0.1, 0.1))
    bigram = bigram_perplexity(train, val, V)
    hists = {c: train_lm(c, train, val, h, E, T, N, PPL_STEPS, lr=3e-3, seed=0,
                         eval_every=PPL_EVERY, vocab_size=V)[1] for c, h in hidden.items()}
    budget = min(h["seconds"][-1] for h in hists.values())
    print(f"\nperplexity per CPU minute, live: {PPL_STEPS} updates each, validation "
          f"perplexity at an equal budget of {budget:.1f} CPU s (bigram {bigram:.2f})")
    for cell, h in hists.items():
        at = [p for p, t in zip(h["val_ppl"], h["seconds"], strict=True) if t <= budget][-1]
        gain = (bigram - at) / (budget / 60)
        print(f"  {cell:>4} H={hidden[cell]:3d}: {at:6.2f} at the budget ({h['val_ppl'][-1]:.2f}"
              f" after {h['seconds'][-1]:.1f} s) -> {gain:5.1f} below bigram per CPU minute")


def experiment_table():
    if not RESULT.exists():
        print(f"no {RESULT.name}: run experiments/char_lm.py")
        return
    result = json.loads(RESULT.read_text())
    b, s = result["baselines"], result["summary"]
    print(f"\ncommitted experiment ({result['config']['steps']} steps, seeds "
          f"{result['config']['seeds']}): validation perplexity, unigram "
          f"{b['unigram']['val']:.2f}, bigram {b['bigram']['val']:.2f}")
    for cell in ("rnn", "lstm", "gru"):
        c = s[cell]
        gain = (b["bigram"]["val"] - c["val_ppl_mean"]) / (c["seconds_mean"] / 60)
        print(f"  {cell:>4} H={c['hidden']:3d} {c['params']} params: val "
              f"{c['val_ppl_mean']:.2f} +- {c['val_ppl_std']:.2f} in {c['seconds_mean']:.0f} s"
              f" -> {gain:.2f} below bigram per CPU minute")


def main():
    text = load_corpus()
    vocab = Vocabulary(text)
    V, ids = vocab.size, vocab.encode(text)
    rng = np.random.default_rng(0)
    hidden = matched_hidden(V, E, lm_param_count("lstm", V, H, E))
    hidden["lstm"] = H
    with threadpool_limits(limits=1):
        threads = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
        speeds = {c: chars_per_second(c, h, ids, V, rng) for c, h in hidden.items()}
        run, flops = products(rng, V)
        t_mm = best_of(run)
    cps, t_ours = speeds["lstm"]
    print(f"LSTM LM N={N} T={T} E={E} H={H} V={V}, float64; BLAS threads {threads}")
    print(f"one training update {t_ours * 1e3:6.1f} ms -> {cps:,.0f} characters/s "
          f"({flops / t_ours / 1e9:.2f} GFLOP/s in its matrix products)")
    print(f"matmuls of the same shapes: {t_mm * 1e3:6.1f} ms ({flops / t_mm / 1e9:.2f} "
          f"GFLOP/s) -> {t_mm / t_ours:.0%} of matmul throughput reached")
    for cell in ("rnn", "gru"):
        print(f"{cell.upper()} LM at the same parameter count (H={hidden[cell]}): "
              f"{speeds[cell][0]:,.0f} characters/s")
    with threadpool_limits(limits=1):  # after the speeds, so they print first
        perplexity_per_cpu_minute(ids, V, hidden)
    experiment_table()


if __name__ == "__main__":
    main()
