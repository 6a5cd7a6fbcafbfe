"""Chapter 3's all-convolutional experiment: the small CNN with its pooling replaced.

Three networks on the 8x8 digits, trained with the chapter's recipe (the split of
``load_digits_split(validation_fraction=0.2)``, He initialisation, Adam at 2e-3, batches
of 32, 30 epochs, L2 1e-3, 32 kernels), each with every seed:

* ``pool``: the chapter's ``SmallCNN``: conv 3x3 (stride 1, pad 1) -> ReLU -> 2x2 max
  pool (stride 2) -> affine;
* ``conv-s2``: the pooling layer replaced by a learned downsampling, a second convolution
  3x3 with stride 2 (pad 1, 32 -> 32 channels) and a ReLU, as in the All-CNN networks of
  Springenberg et al. (2015);
* ``stride-2``: the pooling layer removed and the first convolution's stride raised to 2
  (their "Strided-CNN").

All three hand a (32, 4, 4) map to the affine layer. For each run the result holds the
final validation and test accuracy, the test accuracy on the test digits moved by one
pixel in each of the four directions (blank fills in, then the training set's
standardisation; the chapter's protocol), the parameter count and the CPU seconds.

Full run (about two minutes of CPU on one BLAS thread):
    python experiments/strided_conv.py
Tiny run for CI (seconds):   python experiments/strided_conv.py --tiny --out x.json

The chapter loads the committed result, experiments/results/strided_conv.json.
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import commit_of_checkout, run_cli, write_result  # noqa: E402

from dlcourse.data import load_digits_split  # noqa: E402
from dlcourse.layers import (  # noqa: E402
    affine_backward,
    affine_forward,
    conv_backward_im2col,
    conv_forward_im2col,
    relu_backward,
    relu_forward,
    softmax_loss,
)
from dlcourse.models import SmallCNN  # noqa: E402
from dlcourse.train import accuracy, train  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "strided_conv.json"
KINDS = ("pool", "conv-s2", "stride-2")
MOVES = [(0, 1), (0, -1), (1, 0), (-1, 0)]  # (rows, columns), as in the chapter
FULL = dict(seeds=[0, 1, 2, 3, 4], epochs=30, batch_size=32, learning_rate=2e-3,
            reg=1e-3, n_filters=32, kinds=list(KINDS))
TINY = dict(seeds=[0], epochs=1, batch_size=32, learning_rate=2e-3, reg=1e-3,
            n_filters=4, kinds=list(KINDS))


class DownsampleCNN:
    """conv 3x3 -> ReLU -> [conv 3x3 stride 2 -> ReLU] -> affine, 10 classes.

    ``kind="conv-s2"``: the first convolution has stride 1 and a second one (F -> F
    channels, stride 2, pad 1) downsamples; ``kind="stride-2"``: one convolution with
    stride 2. Inputs (N, 1, 8, 8); the affine layer reads (N, F, 4, 4). Parameters: W1
    (F, 1, 3, 3), b1 (F,), for conv-s2 also Wd (F, F, 3, 3), bd (F,), then W2 (16 F, 10),
    b2 (10,); He-initialised weights, zero biases. ``reg`` is the L2 penalty on W1, Wd
    and W2.
    """

    def __init__(self, kind, rng, n_filters=32, reg=0.0):
        if kind not in ("conv-s2", "stride-2"):
            raise ValueError(f"unknown kind {kind!r}")
        self.kind, self.reg, F = kind, reg, n_filters

        def he(fan_in, shape):
            return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)

        self.params = {"W1": he(9, (F, 1, 3, 3)), "b1": np.zeros(F)}
        if kind == "conv-s2":
            self.params.update(Wd=he(9 * F, (F, F, 3, 3)), bd=np.zeros(F))
        self.params.update(W2=he(16 * F, (16 * F, 10)), b2=np.zeros(10))

    def features(self, x):
        """The map the affine layer reads, (N, F, 4, 4), and the caches on the way."""
        p, caches = self.params, []
        first_stride = 1 if self.kind == "conv-s2" else 2
        h, c = conv_forward_im2col(x, p["W1"], p["b1"], stride=first_stride, pad=1)
        caches.append(c)
        h, c = relu_forward(h)
        caches.append(c)
        if self.kind == "conv-s2":
            h, c = conv_forward_im2col(h, p["Wd"], p["bd"], stride=2, pad=1)
            caches.append(c)
            h, c = relu_forward(h)
            caches.append(c)
        return h, caches

    def loss(self, x, y):
        """Mean cross-entropy plus 0.5 reg times the squared weights; all gradients."""
        p = self.params
        h, caches = self.features(x)
        s, c_out = affine_forward(h, p["W2"], p["b2"])
        loss, d = softmax_loss(s, y)
        g = {}
        d, g["W2"], g["b2"] = affine_backward(d, c_out)
        if self.kind == "conv-s2":
            d = relu_backward(d, caches[3])
            d, g["Wd"], g["bd"] = conv_backward_im2col(d, caches[2])
        d = relu_backward(d, caches[1])
        _, g["W1"], g["b1"] = conv_backward_im2col(d, caches[0])
        for name in [k for k in g if k.startswith("W")]:
            loss += 0.5 * self.reg * float(np.sum(p[name] ** 2))
            g[name] = g[name] + self.reg * p[name]
        return loss, g

    def predict(self, x):
        h, _ = self.features(x)
        return affine_forward(h, self.params["W2"], self.params["b2"])[0].argmax(axis=1)


def build(kind, rng, cfg):
    if kind == "pool":
        return SmallCNN((1, 8, 8), rng, n_filters=cfg["n_filters"], reg=cfg["reg"])
    return DownsampleCNN(kind, rng, n_filters=cfg["n_filters"], reg=cfg["reg"])


def shifted(x, dy, dx):
    """Move images (N, 1, H, W) by dy rows and dx columns; blank (0) fills in."""
    out = np.zeros_like(x)
    H, W = x.shape[-2:]
    out[..., max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        x[..., max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


def run(cfg, log=print):
    """Every (seed, kind) run of cfg; the JSON-ready result."""
    data = load_digits_split(as_images=True, validation_fraction=0.2)
    raw = load_digits_split(as_images=True, standardize=False, validation_fraction=0.2)
    mean, std = raw["x_train"].mean(axis=0), raw["x_train"].std(axis=0)
    std[std == 0] = 1.0  # as load_digits_split does
    assert np.allclose((raw["x_test"] - mean) / std, data["x_test"])

    def standardised(dy, dx):
        return (shifted(raw["x_test"], dy, dx) - mean) / std

    moved = {m: standardised(*m) for m in MOVES}
    runs = []
    for seed in cfg["seeds"]:
        for kind in cfg["kinds"]:
            rng = np.random.default_rng(seed)
            start = time.process_time()
            model = build(kind, rng, cfg)
            history = train(model, data, rng, epochs=cfg["epochs"],
                            batch_size=cfg["batch_size"], update="adam",
                            optim_config={"learning_rate": cfg["learning_rate"]})
            seconds = time.process_time() - start
            runs.append({
                "kind": kind, "seed": seed,
                "params": int(sum(v.size for v in model.params.values())),
                "val_acc": float(history["val_acc"][-1]),
                "test_acc": accuracy(model, data["x_test"], data["y_test"]),
                "shift_acc": [accuracy(model, moved[m], data["y_test"]) for m in MOVES],
                "seconds": round(seconds, 2)})
            r = runs[-1]
            log(f"seed {seed} {kind:8s}: test {r['test_acc']:.4f}, moved by 1 px "
                f"{np.mean(r['shift_acc']):.4f} ({seconds:.1f} s)")
    return {"task": "8x8 digits, pooling against learned downsampling",
            "config": cfg, "moves": MOVES, "commit": commit_of_checkout(),
            "cpu_seconds_total": round(sum(r["seconds"] for r in runs), 1), "runs": runs}


def main(cfg, out):
    write_result(out, run(cfg, log=lambda s: print(s, flush=True)))


if __name__ == "__main__":
    run_cli(__doc__, main, FULL, TINY, RESULT)
