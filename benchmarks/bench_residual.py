"""Chapter 2's residual connections: plain against residual at the same depth, side by side.

One run, interleaved by seed so machine load hits every variant alike: the 17-layer
DeepCNN of chapter 2 (a stem and 8 blocks of two 3x3 convolutions, 12 channels) as a plain
network, with identity shortcuts, and with shortcuts and each block's second convolution
scaled by 1/sqrt(8) at initialisation (experiments/residual_depth.py, whose one_run this
calls). Reported per variant: the gradient norm at the first convolution at
initialisation, its ratio to the plain network's, and the validation accuracy after
EPOCHS epochs of Adam. One BLAS thread; about 2 minutes.
"""

import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from residual_depth import FULL, VARIANTS, one_run  # noqa: E402

from dlcourse.data import load_digits_split  # noqa: E402

N_BLOCKS, EPOCHS, SEEDS = 8, 8, (0, 1)


def main():
    data = load_digits_split(as_images=True, validation_fraction=0.2)
    cfg = dict(FULL, epochs=EPOCHS)
    runs = {variant: [] for variant in VARIANTS}
    with threadpool_limits(limits=1):
        for seed in SEEDS:
            for variant in VARIANTS:
                runs[variant].append(one_run(data, variant, N_BLOCKS, seed, cfg))
    first = {v: np.array([r["grad_init"][0] for r in rs]) for v, rs in runs.items()}
    print(f"{1 + 2 * N_BLOCKS} conv layers, width {cfg['width']}, {EPOCHS} epochs, "
          f"seeds {list(SEEDS)}, 1 BLAS thread")
    print(f"{'variant':16s} {'|dL/dW| first layer at init':>28s} {'ratio to plain':>15s} "
          f"{'val accuracy':>16s} {'CPU s/run':>9s}")
    for variant, rs in runs.items():
        acc = np.array([r["final_val_acc"] for r in rs])
        ratio = first[variant] / first["plain"]
        cpu = np.mean([r["cpu_seconds"] for r in rs])
        print(f"{variant:16s} {first[variant].min():13.2e} - {first[variant].max():.2e}"
              f" {ratio.min():7.1f} - {ratio.max():5.1f}"
              f"   {acc.min():.3f} - {acc.max():.3f} {cpu:9.1f}")


if __name__ == "__main__":
    main()
