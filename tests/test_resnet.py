"""dlcourse.resnet (chapter 2's residual connections) and its experiment at a tiny size."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcourse.gradcheck import eval_numerical_gradient, rel_error
from dlcourse.resnet import DeepCNN

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("residual", [False, True])
def test_gradients_match_finite_differences(residual):
    rng = np.random.default_rng(0)
    model = DeepCNN((1, 6, 6), np.random.default_rng(1), width=3, n_blocks=2,
                    residual=residual)
    # Biases start at 0, so outputs of a block whose inputs are all 0 sit exactly on the
    # kink of the ReLU, where centred differences see slope 1/2: move them off it.
    for name in model.params:
        if name.startswith("b"):
            model.params[name] = rng.normal(0.0, 0.1, size=model.params[name].shape)
    x, y = rng.normal(size=(4, 1, 6, 6)), rng.integers(0, 10, size=4)
    _, grads = model.loss(x, y)
    assert set(grads) == set(model.params)
    for name in model.params:
        def f(v, name=name):
            old = model.params[name]
            model.params[name] = v
            value = model.loss(x, y)[0]
            model.params[name] = old
            return value
        num = eval_numerical_gradient(f, model.params[name].copy(), h=1e-4)
        assert rel_error(grads[name], num) < 1e-5, name  # entries down to ~1e-4


def test_plain_and_residual_share_parameters_but_not_outputs():
    x = np.random.default_rng(2).normal(size=(3, 1, 8, 8))
    plain = DeepCNN((1, 8, 8), np.random.default_rng(3), width=4, n_blocks=3)
    res = DeepCNN((1, 8, 8), np.random.default_rng(3), width=4, n_blocks=3, residual=True)
    assert plain.n_conv == res.n_conv == 7
    assert all(np.array_equal(plain.params[k], res.params[k]) for k in plain.params)
    assert not np.allclose(plain.scores(x)[0], res.scores(x)[0])
    # with the residual branches switched off (second convs zero) a residual network is
    # the stem followed by ReLUs of the identity: its scores do not depend on the blocks
    off = DeepCNN((1, 8, 8), np.random.default_rng(3), width=4, n_blocks=3, residual=True,
                  residual_scale=0.0)
    stem_only = DeepCNN((1, 8, 8), np.random.default_rng(3), width=4, n_blocks=0)
    stem_only.params.update({k: off.params[k] for k in ("W0", "b0", "Wfc", "bfc")})
    assert np.allclose(off.scores(x)[0], stem_only.scores(x)[0])


def test_residual_depth_tiny_writes_a_complete_result(tmp_path):
    out = tmp_path / "residual_depth.json"
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "residual_depth.py"),
                           "--tiny", "--out", str(out)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    cfg = result["config"]
    assert len(result["runs"]) == len(cfg["seeds"]) * len(cfg["depths"]) * len(
        cfg["variants"])
    for run in result["runs"]:
        assert len(run["grad_init"]) == len(run["grad_trained"]) == run["n_conv"]
        assert len(run["val_acc"]) == cfg["epochs"]
        assert all(g > 0 for g in run["grad_init"])
    assert set(result["summary"]) == {f"{d}/{v}" for d in cfg["depths"]
                                      for v in cfg["variants"]}


def test_committed_result_is_the_full_run():
    result = json.loads((ROOT / "experiments" / "results" / "residual_depth.json")
                        .read_text())
    assert result["config"]["epochs"] >= 20 and len(result["config"]["seeds"]) >= 3
    assert {r["n_conv"] for r in result["runs"]} == {9, 17}
