"""Problem set 2, part 6 (transposed convolution): typical wrong answers lose their points,
the hidden cases have the configurations the notebook promises, and the backward pass may
not estimate its gradient."""

import numpy as np
from grading_helpers import ROOT, judge_in_process, solution_namespace

from autograder.course import assignment as assignments


def _ps02():
    a = assignments.load("ps02", ROOT / "solutions")
    return a, a.load_probes()


def _points(grade_id, ns, seed, reference):
    """Points ``ns``'s functions earn for one part on the hidden cases of ``seed``."""
    return judge_in_process("ps02", grade_id, ns, reference, seed)[0]


def test_transposed_hidden_cases_cover_every_stride_and_padding():
    from autograder.run.grading import case_inputs

    a, _ = _ps02()
    for seed in (1, 2):
        inputs = case_inputs(a, seed)
        cases = [v for (g, _), v in inputs.items() if g == "conv-transpose-backward"]
        pairs = {(int(x["stride"]), int(x["pad"])) for x in cases}
        assert {(1, 0), (2, 1), (3, 2), (1, 2)} <= pairs
        for x in cases:
            c, f, hh, ww = x["w"].shape
            assert c != f and hh != ww and x["x"].shape[0] > 1


def test_reference_transposed_conv_is_the_librarys():
    from dlcourse.layers.conv_variants import (
        conv_transpose_backward,
        conv_transpose_forward,
    )

    ns = solution_namespace("ps02_convolution")
    rng = np.random.default_rng(0)
    for stride, pad in [(1, 0), (2, 1), (3, 2), (1, 2)]:
        x, w, b = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(3, 2, 4, 3)), rng.normal(
            size=2)
        out, cache = ns["conv_transpose_forward"](x, w, b, stride=stride, pad=pad)
        ref, ref_cache = conv_transpose_forward(x, w, b, stride=stride, pad=pad)
        assert np.allclose(out, ref, atol=1e-12)
        dout = rng.normal(size=out.shape)
        for got, want in zip(ns["conv_transpose_backward"](dout, cache),
                             conv_transpose_backward(dout, ref_cache), strict=True):
            assert np.allclose(got, want, atol=1e-12)


def test_typical_wrong_transposed_convolutions_lose_their_points():
    """Flipping the kernel (a true convolution's habit), forgetting the crop (wrong output
    size), reading w as (F, C, ...), and a backward pass whose dx uses the flipped kernel
    or whose dw is summed the wrong way: each loses the points of what it gets wrong."""
    ref = solution_namespace("ps02_convolution")
    fwd, bwd = ref["conv_transpose_forward"], ref["conv_transpose_backward"]

    def flipped(x, w, b, stride=1, pad=0):
        return fwd(x, w[:, :, ::-1, ::-1], b, stride=stride, pad=pad)

    def uncropped(x, w, b, stride=1, pad=0):
        out, _ = fwd(x, w, b, stride=stride, pad=0)
        return out, (x, w, b, stride, pad)

    def channels_swapped(x, w, b, stride=1, pad=0):
        return fwd(x, w.reshape(w.shape[1], w.shape[0], *w.shape[2:]), b, stride, pad)

    def bwd_flipped_dx(dout, cache):
        x, w, b, s, p = cache
        dx, _, _ = bwd(dout, (x, w[:, :, ::-1, ::-1], b, s, p))
        _, dw, db = bwd(dout, cache)
        return dx, dw, db

    def bwd_dw_without_sum_over_batch(dout, cache):
        x, w, b, s, p = cache
        dx, _, db = bwd(dout, cache)
        _, dw, _ = bwd(dout[:1], (x[:1], w, b, s, p))
        return dx, dw, db

    for seed in (1, 2):
        assert _points("conv-transpose-forward", ref, seed, ref) == 6
        assert _points("conv-transpose-backward", ref, seed, ref) == 6
        for wrong in (flipped, uncropped, channels_swapped):
            got = _points("conv-transpose-forward",
                          {**ref, "conv_transpose_forward": wrong}, seed, ref)
            assert got == 0, (seed, wrong.__name__, got)
        assert _points("conv-transpose-backward",
                       {**ref, "conv_transpose_backward": bwd_flipped_dx}, seed, ref) == 3
        assert _points("conv-transpose-backward",
                       {**ref, "conv_transpose_backward": bwd_dw_without_sum_over_batch},
                       seed, ref) == 4


def test_transposed_backward_by_finite_differences_scores_nothing():
    from autograder import ownwork

    a, _ = _ps02()
    rules = {p.grade_id: p.own_work for p in a.parts}
    cells = ["from dlcourse.gradcheck import eval_numerical_gradient_array",
             "def conv_transpose_backward(dout, cache):\n"
             "    return eval_numerical_gradient_array(lambda z: z, cache, dout)\n"]
    found = ownwork.check(cells, rules)
    assert "finite differences" in found["conv-transpose-backward"]
    assert rules["conv-transpose-backward"]["calls"]["conv_transpose_forward"] == 4
    assert rules["conv-transpose-backward"]["functions"] == ["conv_transpose_backward"]
