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
* the same for the RNN and the GRU at the LSTM's parameter count, in characters/second,
  and the committed experiment's perplexity gained per minute of training (experiments/
  results/char_lm.json; run experiments/char_lm.py to refresh it).
"""

import json
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
from timing import best_of

from dlcourse.layers import clip_by_global_norm
from dlcourse.lm import init_params, lm_param_count, loss_and_grads, matched_hidden, zero_state
from dlcourse.optim import adam
from dlcourse.text import Vocabulary, load_corpus

N, T, H, E = 32, 64, 96, 24  # the full experiment's LSTM
RESULT = Path(__file__).resolve().parents[1] / "experiments" / "results" / "char_lm.json"


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
              f" -> {gain:.2f} perplexity below bigram per training minute (wall clock)")


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
    experiment_table()


if __name__ == "__main__":
    main()
