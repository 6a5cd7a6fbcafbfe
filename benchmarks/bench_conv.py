"""Convolution kernels of chapter 2 on x (64, 16, 32, 32), 32 3x3 kernels, stride 1, pad 1.

Side by side in one run, float64:
* im2col forward and backward vs the naive loops (speed-up; the naive version is timed
  on 4 images and scaled to 64, since it takes minutes on the full batch);
* im2col vs NumPy's own matrix multiplies of the same shapes: forward (F, K) @ (K, N*P),
  backward dW (F, N*P) @ (N*P, K) and dcols (K, F) @ (F, N*P). The fraction reached is
  matmul time / our time (1.0 would mean im2col's reshaping costs nothing).
"""


import numpy as np
from threadpoolctl import threadpool_info
from timing import best_of

from dlcourse.layers import (
    conv_backward_im2col,
    conv_backward_naive,
    conv_forward_im2col,
    conv_forward_naive,
)

N, C, H, W, F, K = 64, 16, 32, 32, 32, 3



def main():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, C, H, W))
    w = rng.normal(size=(F, C, K, K))
    b = rng.normal(size=F)
    out, cache = conv_forward_im2col(x, w, b, stride=1, pad=1)
    dout = rng.normal(size=out.shape)
    t_fwd = best_of(lambda: conv_forward_im2col(x, w, b, stride=1, pad=1))
    t_bwd = best_of(lambda: conv_backward_im2col(dout, cache))

    P, KK = H * W, C * K * K
    a, cols, d = rng.normal(size=(F, KK)), rng.normal(size=(KK, N * P)), rng.normal(size=(F, N * P))
    m_fwd = best_of(lambda: a @ cols)
    m_bwd = best_of(lambda: (d @ cols.T, a.T @ d))

    few = 4
    _, naive_cache = conv_forward_naive(x[:few], w, b, stride=1, pad=1)
    n_fwd = best_of(lambda: conv_forward_naive(x[:few], w, b, stride=1, pad=1), 1) * N / few
    n_bwd = best_of(lambda: conv_backward_naive(dout[:few], naive_cache), 1) * N / few

    threads = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
    print(f"x {x.shape}, w {w.shape}, stride 1, pad 1, float64; BLAS threads {threads}")
    print(f"forward : im2col {t_fwd * 1e3:7.1f} ms | naive {n_fwd:6.1f} s (x{n_fwd / t_fwd:,.0f})"
          f" | matmul {m_fwd * 1e3:6.1f} ms -> {m_fwd / t_fwd:.0%} of matmul")
    print(f"backward: im2col {t_bwd * 1e3:7.1f} ms | naive {n_bwd:6.1f} s (x{n_bwd / t_bwd:,.0f})"
          f" | matmul {m_bwd * 1e3:6.1f} ms -> {m_bwd / t_bwd:.0%} of matmul")
    print(f"forward + backward: {(m_fwd + m_bwd) / (t_fwd + t_bwd):.0%} of matmul")


if __name__ == "__main__":
    main()
