"""Every problem set: released in sync, no stored outputs, the solution scores full marks
and the stub 0 through the real grader, and both agree with the notebook's own tests."""

import json
import shutil

import numpy as np
import pytest
from grading_helpers import (
    ROOT,
    read_csv,
    run_cli,
    solution_and_check_lines,
    visible_test_points,
)

from autograder import assignment as assignments

SETS = sorted(p.name for p in (ROOT / "solutions").glob("ps*") if (p / "checks.py").exists())


def notebook_of(folder):
    return folder / f"{folder.name}.ipynb"


def comparable(nb):
    """What must match between a committed release and a fresh one."""
    return [(c["cell_type"], "".join(c["source"]), c["metadata"].get("nbgrader"))
            for c in nb["cells"]]


@pytest.fixture(scope="module", params=SETS)
def problem_set(request, tmp_path_factory):
    """A fresh release of the set in a scratch course, and its solution and stub graded."""
    name = request.param
    work = tmp_path_factory.mktemp(name)
    course = work / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / name, course / "solutions" / name,
                    ignore=shutil.ignore_patterns("__pycache__", "visible.json"))
    done = run_cli("release", name, cwd=course)
    assert done.returncode == 0, done.stderr
    flat = work / "flat"
    flat.mkdir()
    shutil.copy(notebook_of(ROOT / "solutions" / name), flat / "solution.ipynb")
    shutil.copy(notebook_of(ROOT / "exercises" / name), flat / "stub.ipynb")
    graded = run_cli("grade", name, flat, "--course-root", course, "--course-dir",
                     work / "results", "--quiet")
    assert graded.returncode == 0, graded.stderr
    rows = {r["student_id"]: r for r in read_csv(work / "results" / name / "grades.csv")}
    return name, course, rows, work / "results" / name / "feedback"


def test_committed_release_is_in_sync_with_solutions(problem_set):
    name, course, _, _ = problem_set
    fresh, committed = course / "exercises" / name, ROOT / "exercises" / name
    assert sorted(p.name for p in committed.iterdir() if p.name != "__pycache__") == \
        sorted(p.name for p in fresh.iterdir()), "run `autograder release` and commit"
    assert comparable(json.loads(notebook_of(fresh).read_text())) == \
        comparable(json.loads(notebook_of(committed).read_text()))
    assert (fresh / "probes.py").read_text() == (committed / "probes.py").read_text()
    a, b = (json.loads((d / "visible.json").read_text()) for d in (fresh, committed))
    assert a["order"] == b["order"]
    for gid in a["order"]:
        pa, pb = a["parts"][gid], b["parts"][gid]
        for key in ("points", "weights", "own_work", "functions", "rtol", "atol"):
            assert pa[key] == pb[key], (gid, key)
        assert [c["name"] for c in pa["cases"]] == [c["name"] for c in pb["cases"]], gid
        for ca, cb in zip(pa["cases"], pb["cases"], strict=True):
            for kind in ("inputs", "expected"):
                assert (ca[kind] is None) == (cb[kind] is None)
                for key, arr in (ca[kind] or {}).items():
                    np.testing.assert_allclose(arr["data"], cb[kind][key]["data"],
                                               rtol=1e-9, atol=1e-12,
                                               err_msg=f"{gid} {ca['name']} {key}")
    assert not (committed / "checks.py").exists()
    assert not list(committed.glob("*.private.*"))  # held-out data stays behind


def test_solution_notebook_has_no_outputs(problem_set):
    name, _, _, _ = problem_set
    nb = json.loads(notebook_of(ROOT / "solutions" / name).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None


def test_solution_gets_every_auto_point_and_the_stub_none(problem_set):
    _, _, rows, _ = problem_set
    sol, stub = rows["solution"], rows["stub"]
    max_auto = float(sol["max"]) - _manual_points(problem_set)
    assert float(sol["auto_total"]) == max_auto > 0, sol
    assert float(stub["auto_total"]) == 0, stub
    assert stub["status"] != "ok"


def _manual_points(problem_set):
    name = problem_set[0]
    nb = json.loads(notebook_of(ROOT / "solutions" / name).read_text())
    return sum(c["metadata"]["nbgrader"].get("points", 0) for c in nb["cells"]
               if c["metadata"].get("nbgrader", {}).get("grade")
               and c["metadata"]["nbgrader"].get("solution"))


@pytest.mark.parametrize("which", ["solution", "stub"])
def test_grade_equals_what_the_notebook_tests_report(problem_set, tmp_path, which):
    name, course, rows, _ = problem_set
    run_dir = tmp_path / name
    shutil.copytree(course / "exercises" / name, run_dir)
    src = ROOT / ("solutions" if which == "solution" else "exercises") / name
    shutil.copy(notebook_of(src), notebook_of(run_dir))
    assert visible_test_points(notebook_of(run_dir)) == float(rows[which]["auto_total"])


def test_feedback_contains_no_solution_or_check_code(problem_set):
    name, _, _, feedback = problem_set
    lines = [ln for ps, ln in solution_and_check_lines() if ps == name]
    assert lines
    for page in ("solution.html", "stub.html"):
        text = (feedback / page).read_text()
        leaked = [ln for ln in lines if ln in text]
        assert not leaked, f"{page} contains {leaked[:3]}"


def test_sets_exist():
    assert SETS, "no problem set found in solutions/"


@pytest.mark.parametrize("name", SETS)
def test_notebook_states_the_grading_rules(name):
    """What the grader applies is said in the notebook: the split of a part's points
    over its outputs (in its test cell), the shortcuts that score 0 and the dtype (in the
    introduction), and that only the hidden cases decide."""
    a = assignments.load(name, ROOT / "solutions")
    nb = json.loads(notebook_of(ROOT / "solutions" / name).read_text())
    intro = " ".join("".join(nb["cells"][0]["source"]).split())
    tests = {c["metadata"]["nbgrader"]["grade_id"]: " ".join("".join(c["source"]).split())
             for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")}
    assert "decide the points" in intro and "float32 result fails" in intro
    assert "apply these rules too" in intro
    for part in a.parts:
        if part.weights:
            assert f"({part.points:g} points:" in tests[part.grade_id], part.grade_id
        rule = part.own_work or {}
        if "scipy" in rule.get("forbid", {}):
            assert "`scipy`" in intro
        if "eval_numerical_gradient" in rule.get("forbid", {}):
            assert "numerical gradient" in intro, part.grade_id


def test_fixed_secret_cases_are_not_published():
    """A secret case whose inputs are a fixed table (not drawn from the seed) would be
    given away by its visible copy: only the drawn ones are published."""
    from autograder.grading import VISIBLE_SEED, case_inputs

    ps07 = assignments.load("ps07", ROOT / "solutions")
    published = sorted(case_inputs(ps07, VISIBLE_SEED, visible=True))
    assert [c for g, c in published if g == "macro-count"] == ["0"]
    assert [c for g, c in published if g == "kendall-tau"] == ["0", "v1", "v2", "v3"]


def _ps05():
    a = assignments.load("ps05", ROOT / "solutions")
    return a, a.load_probes()


def test_ps05_held_out_text_stays_with_the_grader():
    """The language model's held-out text is a scorer input: the hidden cases have it, the
    inputs written into the sandbox do not (nor does any array sent there contain it),
    the release has no copy of the corpus, and the visible case's held-out text is part
    of the hidden cases' training text (a validation split, not the held-out one)."""
    from autograder.grading import VISIBLE_SEED, case_inputs, sandbox_inputs

    a, _ = _ps05()
    inputs = case_inputs(a, 2024)
    sent = sandbox_inputs(a, inputs)
    held_out = inputs[("char-lm", "1")]["heldout_ids"]
    assert len(held_out) > 1500
    needle = held_out[:200].astype(np.int64).tobytes()
    for key, arrays in sent.items():
        assert "heldout_ids" not in arrays, key
        for name, arr in arrays.items():
            assert needle not in np.ascontiguousarray(arr).astype(np.int64).tobytes(), \
                (key, name)
    assert set(sent[("char-lm", "1")]) == {"train_ids", "vocab_size", "seed"}
    assert not list((ROOT / "exercises" / "ps05_rnn_lstm").glob("*corpus*"))
    visible = case_inputs(a, VISIBLE_SEED, visible=True)[("char-lm", "0")]
    train = inputs[("char-lm", "1")]["train_ids"]
    v = visible["heldout_ids"]
    assert np.array_equal(train[-len(v):], v)


def test_ps05_scorers_fail_wrong_answers():
    """What the new parts must catch: an embedding backward that overwrites repeated
    ids, a language model no better than character frequencies, and samplers that
    ignore the temperature or are not greedy at a tiny one."""
    from autograder.grading import case_inputs

    a, probes = _ps05()
    inputs = case_inputs(a, 99)

    def overwriting_backward(dout, cache):
        ids, shape = cache
        dW = np.zeros(shape)
        dW[ids] += dout  # a repeated id keeps one of its gradients only
        return dW

    ns = {"embedding_forward": lambda ids, W: (W[ids], (ids, W.shape)),
          "embedding_backward": overwriting_backward}
    wrong = 0
    for case in ("1", "2", "3"):
        arrays = inputs[("embedding-backward", case)]
        right = np.zeros_like(arrays["W"])
        np.add.at(right, arrays["ids"].ravel(), arrays["dout"].reshape(-1, right.shape[1]))
        got = probes.embedding_backward(ns, **arrays)["dW"]
        wrong += not np.allclose(got, right)
    assert wrong == 3

    arrays = inputs[("char-lm", "1")]
    vocab = int(arrays["vocab_size"])
    freq = np.bincount(arrays["train_ids"], minlength=vocab) + 1.0
    unigram = {"W_embed": np.zeros((vocab, 4)), "Wx": np.zeros((4, 8)),
               "Wh": np.zeros((8, 8)), "b": np.zeros(8), "W_out": np.zeros((8, vocab)),
               "b_out": np.log(freq / freq.sum())}
    ok, message = probes.score_char_lm(unigram, arrays)
    assert not ok and "perplexity 1" in message  # about 17, the unigram baseline

    def sampler(mode):
        def sample_chars(params, start_id, n, temperature, seed):
            rng = np.random.default_rng(seed)
            h, x, out = np.zeros(params["Wh"].shape[0]), start_id, []
            tau = 1.0 if mode == "ignore" else temperature
            for _ in range(n):
                h = np.tanh(params["W_embed"][x] @ params["Wx"] + h @ params["Wh"]
                            + params["b"])
                s = (h @ params["W_out"] + params["b_out"]) / tau
                p = np.exp(s - s.max())
                x = int(rng.choice(len(p), p=p / p.sum()))
                out.append(x)
            return np.array(out)
        return sample_chars

    for case in ("1", "2", "3"):
        arrays = inputs[("sample-chars", case)]
        verdicts = {mode: probes.score_sample_chars(
            probes.sample_chars({"sample_chars": sampler(mode)}, **arrays), arrays)[0]
            for mode in ("right", "ignore")}
        assert verdicts == {"right": True, "ignore": False}, case
