"""Chapter 6: multi-head self-attention forward + backward at (N=32, T=128, d=64, 4 heads)
in float64 against NumPy's matrix multiplies of the same shapes (the four projections
forward and their backward products; per head Q K^T, A V and their backward products),
one BLAS thread, in the same run. Prints the fraction of the matmul speed reached."""


import numpy as np
from threadpoolctl import threadpool_limits
from timing import best_of

from dlcourse.layers import multi_head_attention_backward, multi_head_attention_forward

N, T, D, H = 32, 128, 64, 4



def main():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, D))
    params = {w: rng.normal(0, D ** -0.5, size=(D, D)) for w in ("Wq", "Wk", "Wv", "Wo")}
    params.update({b: np.zeros(D) for b in ("bq", "bk", "bv", "bo")})
    dout = rng.normal(size=(N, T, D))
    rows = x.reshape(N * T, D)
    q = rng.normal(size=(N, H, T, D // H))
    a = rng.normal(size=(N, H, T, T))

    def layer():
        out, cache = multi_head_attention_forward(x, x, params, H)
        multi_head_attention_backward(dout, cache)

    def matmuls():
        for _ in range(4):  # projections: forward, d input, d weight
            rows @ params["Wq"]
            rows @ params["Wq"].T
            rows.T @ rows
        s = q @ np.swapaxes(q, -1, -2)   # scores
        a @ q                            # weights times values
        np.swapaxes(a, -1, -2) @ q       # dV
        q @ np.swapaxes(q, -1, -2)       # dA = dY V^T
        s @ q                            # dQ
        np.swapaxes(s, -1, -2) @ q       # dK

    with threadpool_limits(limits=1):
        t_layer, t_mm = best_of(layer), best_of(matmuls)
    print(f"multi-head self-attention fwd+bwd, N={N} T={T} d={D} h={H}, float64, "
          "1 BLAS thread")
    print(f"layer: {t_layer * 1e3:.1f} ms; matrix multiplies alone: {t_mm * 1e3:.1f} ms; "
          f"fraction reached: {t_mm / t_layer:.0%}")


if __name__ == "__main__":
    main()
