"""Problem set 1's parts 7 (initialisation) and 8 (dropout): the reference earns every
point on the hidden cases of several seeds, and the typical wrong answers lose the points
of their part: dropout without 1 / (1 - p), with p taken as the probability to keep, a
backward pass that draws a new mask or forgets the scale, He's variance from the
fan-out, the standard deviation instead of the variance, a uniform distribution, the
statistics of the activations instead of the pre-activations. Also: the library's
dropout is refused, a numerical gradient is flagged, and the notebook's totals add up."""

import contextlib
import io
import json
import re

import numpy as np
import pytest
from grading_helpers import ROOT, judge_in_process, solution_namespace

from autograder.course import assignment as assignments

NEW_PARTS = {"he-init": 3, "activation-stds": 5, "dropout-forward": 4,
             "dropout-statistics": 3, "dropout-backward": 3}
SEEDS = (1, 2, 3)
NOTEBOOK = ROOT / "solutions" / "ps01_fully_connected" / "ps01_fully_connected.ipynb"


def _ps01():
    a = assignments.load("ps01", ROOT / "solutions")
    return a, a.load_probes()


def _solution():
    return solution_namespace("ps01_fully_connected")


@pytest.fixture(scope="module")
def reference():
    return _solution()


def points(grade_id, ns, seed, reference_ns):
    """(points, message) that ``ns``'s functions earn for one part on the hidden cases of
    ``seed``, judged as the grader judges them (the probes run in this process)."""
    return judge_in_process("ps01", grade_id, ns, reference_ns, seed)


def test_the_new_parts_have_the_points_the_notebook_states():
    a, _ = _ps01()
    got = {p.grade_id: p.points for p in a.parts if p.grade_id in NEW_PARTS}
    assert got == NEW_PARTS
    nb = json.loads(NOTEBOOK.read_text())
    auto = sum(c["metadata"]["nbgrader"]["points"] for c in nb["cells"]
               if c["metadata"].get("nbgrader", {}).get("grade")
               and not c["metadata"]["nbgrader"].get("solution"))
    manual = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"]
              for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
              and c["metadata"]["nbgrader"].get("solution")}
    assert (auto, manual) == (58, {"derivation-dw": 5, "init-prediction": 4})
    intro = " ".join("".join(nb["cells"][0]["source"]).split())
    assert "58 points are graded automatically" in intro
    assert "**67 points in all**" in intro


def test_hidden_cases_have_the_configurations_the_notebook_promises():
    """Dropout: x of 1 to 4 axes, p = 0 in one forward case, in the hidden cases and in
    the published copies of their configurations; the statistics' p at least 0.1 from
    0.5; He: fan-in and fan-out 3x apart both ways, 40,000 weights or more."""
    from autograder.run.grading import VISIBLE_SEED, case_inputs

    a, _ = _ps01()
    for seed, visible in ((1, False), (2, False), (VISIBLE_SEED, True)):
        inputs = case_inputs(a, seed, visible=visible)
        forward = [v for (g, _), v in inputs.items() if g == "dropout-forward"]
        assert {v["x"].ndim for v in forward} >= {1, 2, 3, 4}
        assert any(float(v["p"]) == 0 for v in forward)
        statistics = [v for (g, _), v in inputs.items() if g == "dropout-statistics"]
        assert all(0.1 <= abs(float(v["p"]) - 0.5) <= 0.3 for v in statistics)
        backward = [v for (g, _), v in inputs.items() if g == "dropout-backward"]
        assert all(0.2 <= float(v["p"]) <= 0.8 for v in backward)
        assert all(np.abs(v["x"]).min() >= 0.5 for v in forward + backward)
        if visible:  # a scorer's part publishes its visible case only
            continue
        he = [v for (g, c), v in inputs.items() if g == "he-init" and c != "0"]
        ratios = [int(v["n_in"]) / int(v["n_out"]) for v in he]
        assert min(ratios) <= 1 / 3 and max(ratios) >= 3
        assert all(min(r, 1 / r) <= 1 / 3 for r in ratios)
        assert all(int(v["n_in"]) * int(v["n_out"]) >= 40_000 for v in he)


@pytest.mark.parametrize("seed", SEEDS)
def test_reference_earns_every_point(reference, seed):
    for grade_id, most in NEW_PARTS.items():
        got, message = points(grade_id, reference, seed, reference)
        assert got == most, (grade_id, message)


# -- wrong answers ------------------------------------------------------------------------


def unscaled_forward(x, p, rng, train=True):  # forgets 1 / (1 - p)
    if not train or p == 0:
        return x, None
    keep = rng.random(x.shape) >= p
    return x * keep, keep


def keep_probability_forward(x, p, rng, train=True):  # p read as the chance to keep
    if not train or p == 0:
        return x, None
    mask = (rng.random(x.shape) < p) / p
    return x * mask, mask


def other_convention_forward(x, p, rng, train=True):  # right in law, other masks
    if not train or p == 0:
        return x, None
    mask = (rng.random(x.shape) < 1 - p) / (1 - p)
    return x * mask, mask


def redrawing_forward(x, p, rng, train=True):
    if not train or p == 0:
        return x, None
    mask = (rng.random(x.shape) >= p) / (1 - p)
    return x * mask, (rng, p)


def redrawing_backward(dout, cache):  # a new mask: another thinned network
    if cache is None:
        return dout
    rng, p = cache
    return dout * (rng.random(dout.shape) >= p) / (1 - p)


def unscaled_backward(dout, cache):  # the scaled forward's mask, without the scale
    return dout if cache is None else dout * (cache > 0)


def identity_backward(dout, cache):
    return dout


def test_dropout_forward_checks_fail_wrong_answers(reference):
    for seed in range(1, 9):  # the statistics on more seeds: they are random
        def score(grade_id, forward, seed=seed):
            return points(grade_id, {**reference, "dropout_forward": forward}, seed,
                          reference)[0]

        # 1 point for test time; out and the statistics are lost
        assert score("dropout-forward", unscaled_forward) == 1
        assert score("dropout-statistics", unscaled_forward) == 0
        assert score("dropout-forward", keep_probability_forward) == 1
        assert score("dropout-statistics", keep_probability_forward) == 0
        # another mask convention: the exact masks differ, the statistics hold
        assert score("dropout-forward", other_convention_forward) == 1
        assert score("dropout-statistics", other_convention_forward) == 3


def test_the_statistics_messages_say_what_is_wrong(reference):
    message = points("dropout-statistics", {**reference, "dropout_forward": unscaled_forward},
                     1, reference)[1]
    assert "1 / (1 - p) is missing" in message
    message = points("dropout-statistics",
                     {**reference, "dropout_forward": keep_probability_forward}, 1,
                     reference)[1]
    assert "probability to drop" in message


def test_dropout_backward_checks_fail_wrong_answers(reference):
    for seed in SEEDS:
        def score(forward, backward, seed=seed):
            ns = {**reference, "dropout_forward": forward, "dropout_backward": backward}
            return points("dropout-backward", ns, seed, reference)[0]

        assert score(reference["dropout_forward"], reference["dropout_backward"]) == 3
        assert score(redrawing_forward, redrawing_backward) == 0
        assert score(reference["dropout_forward"], unscaled_backward) == 0
        assert score(reference["dropout_forward"], identity_backward) == 0
        # consistent with its own (unscaled) forward pass: only dx's point is lost
        assert score(unscaled_forward, lambda dout, keep: dout if keep is None
                     else dout * keep) == 2
        # another convention, backward through its own mask
        assert score(other_convention_forward, reference["dropout_backward"]) == 2


def fan_out_he(n_in, n_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / n_out), size=(n_in, n_out))


def variance_as_scale(n_in, n_out, rng):
    return rng.normal(0.0, 2.0 / n_in, size=(n_in, n_out))


def transposed_he(n_in, n_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))


def uniform_he(n_in, n_out, rng):  # the right variance, not normal
    bound = np.sqrt(6.0 / n_in)
    return rng.uniform(-bound, bound, size=(n_in, n_out))


def global_generator_he(n_in, n_out, rng):
    return np.random.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))


def float32_he(n_in, n_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out)).astype(np.float32)


@pytest.mark.parametrize("wrong", [fan_out_he, variance_as_scale, transposed_he, uniform_he,
                                   global_generator_he, float32_he],
                         ids=lambda f: f.__name__)
def test_he_init_checks_fail_wrong_answers(reference, wrong):
    for seed in SEEDS:
        got, message = points("he-init", {**reference, "he_init": wrong}, seed, reference)
        assert got == 0, (seed, message)


def test_he_init_fan_out_message_names_the_variance(reference):
    message = points("he-init", {**reference, "he_init": fan_out_he}, 1, reference)[1]
    assert "expected 2 / n_in" in message


def stds_of_activations(x, weights):
    h, stds = x, []
    for w in weights:
        h = np.maximum(0.0, h @ w)
        stds.append(h.std())
    return np.array(stds)


def stds_without_relu(x, weights):
    h, stds = x, []
    for w in weights:
        h = h @ w
        stds.append(h.std())
    return np.array(stds)


def stds_per_unit_mean(x, weights):  # std over the batch, averaged over units
    h, stds = x, []
    for w in weights:
        z = h @ w
        stds.append(z.std(axis=0).mean())
        h = np.maximum(0.0, z)
    return np.array(stds)


def stds_rounded(x, weights):  # tiny values lost to an absolute rounding
    return np.round(_solution_stds(x, weights), 8)


def _solution_stds(x, weights):
    h, stds = x, []
    for w in weights:
        z = h @ w
        stds.append(z.std())
        h = np.maximum(0.0, z)
    return np.array(stds)


@pytest.mark.parametrize("wrong", [stds_of_activations, stds_without_relu,
                                   stds_per_unit_mean, stds_rounded],
                         ids=lambda f: f.__name__)
def test_activation_stds_checks_fail_wrong_answers(reference, wrong):
    for seed in SEEDS:
        assert points("activation-stds", {**reference, "activation_stds": _solution_stds},
                      seed, reference)[0] == 5
        got, message = points("activation-stds", {**reference, "activation_stds": wrong},
                              seed, reference)
        assert got == 0, (seed, message)


def test_the_given_experiment_matches_the_rubric(reference):
    """Part 7.3's cell measures the ratios its rubric quotes: about 8e-19 for std 0.01
    (predicted 0.0128^9.5 = 1.0e-18, within a factor 2) and about 0.7 for He."""
    cell = next("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"]
                if "std(z_20) / std(z_1)" in "".join(c["source"]))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(cell, dict(reference))
    small, he = (float(v) for v in re.findall(r"= (\S+)", printed.getvalue()))
    predicted = 0.0128 ** 9.5
    assert predicted == pytest.approx(1.04e-18, rel=0.01)
    assert 0.5 < small / predicted < 2.0
    assert 0.5 < he < 1.5
    assert 7e-19 < small < 9e-19 and 0.6 < he < 0.8  # the values the rubric quotes


# -- the library's dropout and numerical gradients ----------------------------------------


@pytest.mark.parametrize("line", [
    "from dlcourse.layers import dropout_forward, dropout_backward",
    "from dlcourse.layers.dropout import dropout_forward, dropout_backward",
    "import dlcourse.layers.dropout as d\ndropout_forward = d.dropout_forward\n"
    "dropout_backward = d.dropout_backward",
])
def test_the_librarys_dropout_is_refused(line):
    from autograder.course.notebooks import CodeCell, check_source_rules

    a, _ = _ps01()
    assert "dlcourse.layers.dropout" in a.forbidden_modules
    assert {"dlcourse.layers.dropout_forward",
            "dlcourse.layers.dropout_backward"} <= set(a.forbidden_modules)
    shipped = [f for files in a.library_files.values() for f in files]
    assert not any("layers" in f for f in shipped)
    problems = check_source_rules([CodeCell(line, 1)], ["dropout_forward",
                                                         "dropout_backward"],
                                  a.forbidden_modules)
    assert set(problems) == {"dropout_forward", "dropout_backward"}


def test_wrapping_the_librarys_dropout_is_refused():
    from autograder.course.notebooks import CodeCell, check_source_rules

    a, _ = _ps01()
    cells = [CodeCell("from dlcourse.layers import dropout_forward as lib", 1),
             CodeCell("def dropout_forward(x, p, rng, train=True):\n"
                      "    return lib(x, p, rng, train)\n", 2)]
    problems = check_source_rules(cells, ["dropout_forward"], a.forbidden_modules)
    assert "dropout_forward" in problems and "lib" in problems["dropout_forward"]


def test_dropout_backward_by_finite_differences_scores_nothing():
    from autograder import ownwork

    a, _ = _ps01()
    rules = {p.grade_id: p.own_work for p in a.parts}
    assert rules["dropout-backward"]["functions"] == ["dropout_backward"]
    assert rules["dropout-backward"]["calls"] == {"dropout_forward": 2}
    cells = ["def eval_numerical_gradient(f, x, h=1e-5):\n    return x\n",
             "def dropout_backward(dout, cache):\n"
             "    return eval_numerical_gradient(lambda v: 0.0, dout)\n"]
    found = ownwork.check(cells, rules)
    assert "dropout-backward" in found and "finite differences" in found["dropout-backward"]


def test_the_notebooks_mask_convention_is_the_librarys(reference):
    """The set's dropout (keep = rng.random(x.shape) >= p) draws the masks of chapter 1's
    library version, dlcourse.layers.dropout, from the same generator: the book and the
    set agree."""
    from dlcourse.layers.dropout import dropout_backward, dropout_forward

    rng = np.random.default_rng(0)
    for shape, p in (((7,), 0.3), ((4, 6), 0.5), ((2, 3, 5), 0.8), ((3, 4), 0.0)):
        x, dout = rng.normal(size=shape), rng.normal(size=shape)
        seed = int(rng.integers(10**6))
        lib_out, lib_cache = dropout_forward(x, p, np.random.default_rng(seed))
        out, cache = reference["dropout_forward"](x, p, np.random.default_rng(seed))
        np.testing.assert_allclose(out, lib_out, rtol=1e-15, atol=0)
        np.testing.assert_allclose(reference["dropout_backward"](dout, cache),
                                   dropout_backward(dout, lib_cache), rtol=1e-15, atol=0)
