"""Chapter 5's LSTM, forward + backward over x (N=32, T=50, D=64), H=128, float64.

Side by side in one run, BLAS pinned to one thread (threadpoolctl):
* ``lstm_forward`` + ``lstm_backward`` of the library;
* NumPy's matrix multiplies of the same shapes that any LSTM must do, one step at a time:
  forward x_t Wx (N, D) @ (D, 4H) and h_{t-1} Wh (N, H) @ (H, 4H); backward dWx += x_t^T da_t,
  dx_t = da_t Wx^T, dWh += h_{t-1}^T da_t, dh_{t-1} = da_t Wh^T, for t = 1..T.
  The fraction reached is matmul time / our time: 100% would mean the gates, the
  element-wise work and the bookkeeping cost nothing. The library does x Wx for all steps
  at once ((N*T, D) @ (D, 4H)) and the three weight-side products of the backward pass
  likewise, which is why it can beat the step-by-step products; the same products done
  in that batched form are printed too, as the floor.
* the long-range recall experiment of chapter 5: accuracy of the RNN and the LSTM at each
  length, read from the committed result of experiments/long_range.py (the full run takes
  about 25 minutes on one core; run that script to refresh it).
"""

import json
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
from timing import best_of

from dlcourse.layers import lstm_backward, lstm_forward

N, T, D, H = 32, 50, 64, 128
RESULT = Path(__file__).resolve().parents[1] / "experiments" / "results" / "long_range.json"



def stepwise_products(x, h, da, Wx, Wh):
    """The six matrix products of an LSTM's forward and backward pass, step by step."""
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    for t in range(T):
        x[:, t] @ Wx  # (N, 4H)
        h[:, t] @ Wh  # (N, 4H)
    for t in range(T):
        dWx += x[:, t].T @ da[:, t]  # (D, 4H)
        da[:, t] @ Wx.T  # (N, D)
        dWh += h[:, t].T @ da[:, t]  # (H, 4H)
        da[:, t] @ Wh.T  # (N, H)


def batched_products(x, h, da, Wx, Wh):
    """The same products with every product that does not wait on h_{t-1} batched."""
    x2, h2, da2 = x.reshape(N * T, D), h.reshape(N * T, H), da.reshape(N * T, 4 * H)
    x2 @ Wx
    for t in range(T):
        h[:, t] @ Wh  # the recurrence: must wait for the previous step
        da[:, t] @ Wh.T
    x2.T @ da2
    da2 @ Wx.T
    h2.T @ da2


def long_range_table():
    if not RESULT.exists():
        print(f"no {RESULT.name}: run experiments/long_range.py")
        return
    result = json.loads(RESULT.read_text())
    cfg = result["config"]
    print(f"\nrecall the first of T symbols ({cfg['n_symbols']} targets, chance "
          f"{1 / cfg['n_symbols']:.0%}), H={cfg['hidden']}, {cfg['steps']} Adam steps, "
          f"mean test accuracy over seeds {cfg['seeds']} and seeds solved (committed result):")
    names = ["RNN" if fb is None else f"LSTM, forget bias {fb:g}" for _, fb in result["models"]]
    print("     T" + "".join(f"{n:>24}" for n in names))
    for T_ in cfg["lengths"]:
        row = []
        for cell, fb in result["models"]:
            accs = [r["final_acc"] for r in result["runs"]
                    if r["T"] == T_ and r["cell"] == cell and r["forget_bias"] == fb]
            solved = sum(a >= 0.95 for a in accs)
            row.append(f"{np.mean(accs):>8.1%} ({solved}/{len(accs)} >= 95%)")
        print(f"  {T_:4d}" + "".join(f"{c:>24}" for c in row))


def main():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, D))
    h0 = rng.normal(size=(N, H))
    Wx = rng.normal(scale=1 / np.sqrt(D), size=(D, 4 * H))
    Wh = rng.normal(scale=1 / np.sqrt(H), size=(H, 4 * H))
    b = np.zeros(4 * H)
    with threadpool_limits(limits=1):
        threads = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
        hs, cache = lstm_forward(x, h0, Wx, Wh, b)
        dh = rng.normal(size=hs.shape)
        t_fwd = best_of(lambda: lstm_forward(x, h0, Wx, Wh, b))
        t_bwd = best_of(lambda: lstm_backward(dh, cache))
        da = rng.normal(size=(N, T, 4 * H))
        m_step = best_of(lambda: stepwise_products(x, hs, da, Wx, Wh))
        m_batch = best_of(lambda: batched_products(x, hs, da, Wx, Wh))
    ours = t_fwd + t_bwd
    flops = 2 * T * 3 * (N * D * 4 * H + N * H * 4 * H)  # six products, 2 flops per MAC
    print(f"LSTM N={N} T={T} D={D} H={H}, float64; BLAS threads {threads}")
    print(f"lstm_forward {t_fwd * 1e3:6.1f} ms + lstm_backward {t_bwd * 1e3:6.1f} ms = "
          f"{ours * 1e3:6.1f} ms ({flops / ours / 1e9:.1f} GFLOP/s in its matrix products)")
    print(f"matmuls of the same shapes, step by step: {m_step * 1e3:6.1f} ms -> "
          f"{m_step / ours:.0%} of matmul speed reached")
    print(f"the same products, batched over steps where possible: {m_batch * 1e3:6.1f} ms "
          f"-> {m_batch / ours:.0%}")
    long_range_table()


if __name__ == "__main__":
    main()
