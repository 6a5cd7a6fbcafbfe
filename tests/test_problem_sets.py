"""Every problem set: released in sync, no stored outputs, the solution scores full marks
and the stub 0 through the real grader, and both agree with the notebook's own tests."""

import json
import shutil

import numpy as np
import pytest
from grading_helpers import (
    ROOT,
    judge_in_process,
    read_csv,
    run_cli,
    solution_and_check_lines,
    solution_namespace,
    visible_test_points,
)

from autograder.course import assignment as assignments

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
def test_released_code_fits_the_books_code_column(name):
    # The book shows each released notebook; a code line over 78 characters overflows the
    # narrowest code column (the browser test's 1300 px page, with both sidebars).
    nb = json.loads((ROOT / "exercises" / name / f"{name}.ipynb").read_text())
    long = [(i, len(line)) for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines() if len(line) > 78]
    assert long == [], f"{name}: (cell, length) of lines over 78 characters: {long}"


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
    from autograder.run.grading import VISIBLE_SEED, case_inputs

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
    from autograder.run.grading import VISIBLE_SEED, case_inputs, sandbox_inputs

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
    from autograder.run.grading import case_inputs

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


def _ps06():
    a = assignments.load("ps06", ROOT / "solutions")
    return a, a.load_probes()


def _ps06_solution():
    return solution_namespace("ps06_attention")


def test_ps06_held_out_strings_stay_with_the_grader():
    """The seq2seq model's held-out strings are scorer inputs: the hidden cases have
    them, the inputs written into the sandbox do not (nor does any array sent there
    contain them), the release has no private file, and the visible case's strings are
    not the hidden ones. They are the notebook's task: 3 to 6 digits (ids 3..12), the
    target their reversal followed by eos, padded with 0."""
    from autograder.run.grading import VISIBLE_SEED, case_inputs, sandbox_inputs

    a, _ = _ps06()
    inputs = case_inputs(a, 2024)
    sent = sandbox_inputs(a, inputs)
    for case in ("1", "2"):
        held = inputs[("seq2seq", case)]
        assert held["test_src"].shape == (500, 6) and held["test_tgt_out"].shape == (500, 7)
        assert set(sent[("seq2seq", case)]) == {"seed"}
        needle = held["test_src"][:40].astype(np.int64).tobytes()
        for key, arrays in sent.items():
            for name, arr in arrays.items():
                assert needle not in np.ascontiguousarray(arr).astype(np.int64).tobytes(), \
                    (key, name)
        for src, tgt in zip(held["test_src"], held["test_tgt_out"], strict=True):
            digits = src[src != 0]
            assert 3 <= len(digits) <= 6 and digits.min() >= 3 and digits.max() <= 12
            assert tgt[tgt != 0].tolist() == [*digits[::-1], 2]
    assert int(inputs[("seq2seq", "1")]["seed"]) != int(inputs[("seq2seq", "2")]["seed"])
    visible = case_inputs(a, VISIBLE_SEED, visible=True)[("seq2seq", "0")]
    assert not np.array_equal(visible["test_src"], inputs[("seq2seq", "1")]["test_src"])
    assert not list((ROOT / "exercises" / "ps06_attention").glob("*.private.*"))


def test_ps06_visible_cases_take_every_path_the_hidden_ones_take():
    """Every kind of hidden case (self- or cross-attention, each mask's presence and
    shape, the special ids of greedy decoding) has a visible case of the same kind."""
    from autograder.run.grading import VISIBLE_SEED, case_inputs

    def kind(arrays):
        found = []
        for name, value in sorted(arrays.items()):
            if value.dtype == bool and value.ndim == 0:
                found.append((name, bool(value)))
            elif value.dtype == bool:
                found.append((name, value.ndim, value.ndim == 3 and value.shape[1] == 1))
            elif name in ("pad", "bos", "eos"):
                found.append((name, int(value)))
        return tuple(found)

    a, _ = _ps06()
    visible = case_inputs(a, VISIBLE_SEED, visible=True)
    for seed in (5, 6):
        hidden = case_inputs(a, seed)
        for part in a.parts:
            if part.scorer:
                continue
            shown = {kind(x) for (g, _), x in visible.items() if g == part.grade_id}
            kinds = {kind(x) for (g, _), x in hidden.items() if g == part.grade_id}
            assert kinds <= shown, part.grade_id
    mha = {kind(x) for (g, _), x in visible.items() if g == "multi-head-backward"}
    assert {("self_attention", True) in k for k in mha} == {True, False}  # self and cross


def test_ps06_the_graded_model_is_the_librarys():
    """The reference answer's decoder block, masks, model (forward and every gradient)
    and greedy decoding are the course library's post-norm Seq2SeqTransformer's, which
    the part-9 scorer runs: the notebook describes the model that is scored."""
    from dlcourse.layers.transformer_blocks import decoder_block_forward
    from dlcourse.transformer import Seq2SeqTransformer

    ns = _ps06_solution()
    rng = np.random.default_rng(11)
    model = Seq2SeqTransformer(13, rng, d=8, n_heads=2, d_ff=12, n_enc=2, n_dec=2,
                               norm="post", p_drop=0.0)
    for name, w in model.params.items():
        model.params[name] = w + rng.normal(scale=0.3, size=w.shape)
    src, tgt_in, tgt_out = ns["make_batch"](*ns["reverse_task"](rng, 6))
    assert (src == 0).any() and (tgt_in == 0).any()  # padded rows
    src_mask, tgt_mask = ns["make_masks"](src, tgt_in, 0)
    y, memory = rng.normal(size=(6, tgt_in.shape[1], 8)), rng.normal(size=(6, src.shape[1], 8))
    block = {k[len("dec1."):]: w for k, w in model.params.items() if k.startswith("dec1.")}
    mine = ns["decoder_block_forward"](y, memory, block, 2, tgt_mask, src_mask)[0]
    library = decoder_block_forward(y, memory, block, 2, tgt_mask[:, None], src_mask[:, None],
                                    norm="post")[0]
    np.testing.assert_allclose(mine, library, rtol=1e-10, atol=1e-12)
    logits = ns["seq2seq_forward"](model.params, 2, src, tgt_in)[0]
    np.testing.assert_allclose(logits, model.decode(*model.encode(src), tgt_in),
                               rtol=1e-10, atol=1e-12)
    loss, grads = ns["seq2seq_loss"](model.params, 2, src, tgt_in, tgt_out)
    want_loss, want = model.loss(src, tgt_in, tgt_out)
    assert loss == pytest.approx(want_loss, rel=1e-12) and set(grads) == set(want)
    for name, g in want.items():
        np.testing.assert_allclose(grads[name], g, rtol=1e-8, atol=1e-12, err_msg=name)

    def log_probs(source, prefix):
        scores = ns["seq2seq_forward"](model.params, 2, source, prefix)[0][:, -1]
        return scores - np.log(np.exp(scores - scores.max(1, keepdims=True)).sum(
            1, keepdims=True)) - scores.max(1, keepdims=True)

    for max_len in (2, 7):
        np.testing.assert_array_equal(ns["greedy_decode"](log_probs, src, max_len, 1, 2, 0),
                                      model.greedy_decode(src, max_len, 1, 2))


def test_ps06_scorer_fails_wrong_models():
    """The reference recipe, trained with the library, passes the scorer; the same model
    with its cross-attention cut off (it ignores the source), and one trained by the same
    recipe to copy the source unchanged, fail; so do malformed weights, with a message."""
    from autograder.run.grading import case_inputs
    from dlcourse.transformer import Seq2SeqTransformer, train_transformer

    a, probes = _ps06()
    held = case_inputs(a, 99)[("seq2seq", "1")]
    ns = _ps06_solution()

    def trained(task):
        model = Seq2SeqTransformer(13, np.random.default_rng(3), d=32, n_heads=4, d_ff=64,
                                   n_enc=1, n_dec=1, norm="post", p_drop=0.0)
        data = np.random.default_rng(4)

        def batch():
            sources, targets = ns["reverse_task"](data, 32)
            return ns["make_batch"](sources, targets if task == "reverse" else sources)

        def rate(step):
            return 1e-2 * min(step / 40, (401 - step) / 361)

        train_transformer(model, batch, 400, lr=rate, clip=1.0)
        return {**model.params, "n_heads": np.int64(4)}

    def score(outputs):
        return probes.score_seq2seq(outputs, held)

    reverser = trained("reverse")
    ok, message = score(reverser)
    assert ok, message
    deaf = {**reverser, "dec0.cross_Wo": np.zeros((32, 32)), "dec0.cross_bo": np.zeros(32)}
    ok, message = score(deaf)
    assert not ok and float(message.split("exact match ")[1].split("%")[0]) < 10, message
    copier = trained("copy")
    model, _ = probes._model_problem(copier)
    src = held["test_src"]
    copies = np.zeros_like(held["test_tgt_out"])  # each source unchanged, then eos
    copies[:, :6] = src
    copies[np.arange(len(src)), (src != 0).sum(axis=1)] = 2
    assert probes.exact_match(model, src, copies) > 0.9  # it learned its own task
    ok, message = score(copier)
    assert not ok and float(message.split("exact match ")[1].split("%")[0]) < 10, message

    broken = {k: v for k, v in reverser.items() if k != "dec0.cross_Wq"}
    assert score(broken) == (False, "params lack dec0.cross_Wq")
    assert score({**reverser, "enc0.W2": np.zeros((64, 31))}) == (
        False, "params['enc0.W2'] has shape (64, 31), expected (64, 32)")
    ok, message = score({**reverser, "E": np.full((13, 32), np.nan)})
    assert not ok and "NaN" in message
    ok, message = score({**reverser, "n_heads": np.int64(5)})
    assert not ok and "multiple of n_heads" in message


def test_ps06_greedy_and_mask_checks_fail_wrong_answers():
    """A greedy decoder that ignores eos, one that always runs max_len steps, one that
    may choose pad or bos, and one that leaves done rows unpadded each give a wrong
    answer on some hidden case, for several secret seeds; the right one gives the
    reference answer's. Masks without the causal part or the target padding fail."""
    from autograder.run.grading import case_inputs

    a, probes = _ps06()
    ns = _ps06_solution()

    def decoder(flaw=None):
        def greedy_decode(next_log_probs, src, max_len, bos, eos, pad=0):
            prefix = np.full((len(src), 1), bos)
            done = np.zeros(len(src), dtype=bool)
            for _ in range(max_len):
                log_p = np.array(next_log_probs(src, prefix))
                if flaw != "specials":
                    log_p[:, [pad, bos]] = -np.inf
                token = log_p.argmax(axis=1)
                if flaw != "unpadded":
                    token = np.where(done, pad, token)
                prefix = np.concatenate([prefix, token[:, None]], axis=1)
                if flaw != "eos":
                    done |= token == eos
                if done.all() and flaw != "no stop":
                    break
            return prefix[:, 1:]
        return greedy_decode

    for seed in (1, 2, 3):
        inputs = case_inputs(a, seed)
        cases = [inputs[("greedy-decode", c)] for c in ("1", "2", "3")]
        right = [probes.greedy_decode(ns, **x)["ids"] for x in cases]
        mine = [probes.greedy_decode({"greedy_decode": decoder()}, **x)["ids"] for x in cases]
        assert all(np.array_equal(r, m) for r, m in zip(right, mine, strict=True))
        assert right[1].shape[1] < int(cases[1]["max_len"])  # every row ended early
        for flaw in ("eos", "no stop", "specials", "unpadded"):
            wrong = [probes.greedy_decode({"greedy_decode": decoder(flaw)}, **x)["ids"]
                     for x in cases]
            assert not all(r.shape == w.shape and np.array_equal(r, w)
                           for r, w in zip(right, wrong, strict=True)), (seed, flaw)

        for case in ("1", "2", "3"):
            x = inputs[("make-masks", case)]
            right = probes.make_masks(ns, **x)["tgt_mask"]
            for wrong in (masks_without("causal"), masks_without("padding")):
                got = probes.make_masks({"make_masks": wrong}, **x)["tgt_mask"]
                assert got.shape == right.shape and not np.array_equal(got, right), case


def masks_without(what):
    """make_masks whose target mask lacks its causal or its padding part."""
    def make_masks(src, tgt_in, pad):
        n, t = tgt_in.shape
        causal = np.tril(np.ones((t, t), dtype=bool))
        real = (tgt_in != pad)[:, None, :]
        tgt_mask = np.broadcast_to(real if what == "causal" else causal, (n, t, t))
        return (src != pad)[:, None, :], tgt_mask
    return make_masks


def test_ps06_backward_by_finite_differences_scores_nothing():
    """The multi-head and block backward passes may not estimate their gradients: a
    numerical gradient is a shortcut, and so is running the forward pass over and over."""
    from autograder import ownwork

    a, _ = _ps06()
    rules = {p.grade_id: p.own_work for p in a.parts}
    cells = ["from dlcourse.gradcheck import eval_numerical_gradient_array",
             "def multi_head_attention_backward(dout, cache):\n"
             "    return eval_numerical_gradient_array(lambda z: z, cache, dout)\n"]
    found = ownwork.check(cells, rules)
    assert "multi-head-backward" in found and "finite differences" in found[
        "multi-head-backward"]
    for gid in ("multi-head-backward", "transformer-block-backward"):
        assert rules[gid]["calls"]["attention_forward"] == 8
        assert max(rules[gid]["calls"].values()) == 8


def _ps07():
    a = assignments.load("ps07", ROOT / "solutions")
    return a, a.load_probes()


def _ps07_solution():
    return solution_namespace("ps07_nas")


def _ps07_points(grade_id, ns, seed):
    """The points ``ns``'s functions earn for one part on the hidden cases of ``seed``."""
    return judge_in_process("ps07", grade_id, ns, _ps07_solution(), seed)[0]


def test_ps07_hidden_cases_have_the_configurations_the_notebook_promises():
    """The REINFORCE cases through the controller include beta = 0 and advantage = 0;
    the supernet's pairs of architectures share some slices (one case none) and use
    every op; the search cases have ties in both scores and k from 1 to n."""
    from autograder.run.grading import case_inputs

    a, _ = _ps07()
    for seed in (1, 2):
        inputs = case_inputs(a, seed)
        reinforce = [inputs[("controller-reinforce", c)] for c in "1234"]
        assert any(float(x["beta"]) == 0 and float(x["advantage"]) != 0 for x in reinforce)
        assert any(float(x["advantage"]) == 0 and float(x["beta"]) > 0 for x in reinforce)
        for gid in ("supernet-forward", "supernet-grads"):
            shared = []
            for c in "123":
                x = inputs[(gid, c)]
                same = x["arch_a"][:, 1] == x["arch_b"][:, 1]
                shared.append(int(same.sum()))
                assert set(x["arch_a"][:, 1]) | set(x["arch_b"][:, 1]) == {0, 1, 2, 3}
            assert shared[2] == 0 and min(shared[:2]) > 0
        for c in "123":
            x = inputs[("random-rank", c)]
            n = len(x["true"])
            assert len(np.unique(x["true"])) < n and len(np.unique(x["proxy"])) < n
            assert x["ks"].min() == 1 and x["ks"].max() == n


def test_ps07_reference_answers_are_right():
    """The reference's REINFORCE gradient agrees with a numerical gradient of its
    objective, its expected random rank with a brute-force average over every sample,
    and its log-probabilities sum to 1 over the whole space."""
    import itertools
    import math

    from dlcourse.gradcheck import eval_numerical_gradient, rel_error

    ns = _ps07_solution()
    rng = np.random.default_rng(0)
    n, k, e, h = 3, 3, 2, 4
    params = {"emb": rng.normal(size=(1 + n + k, e)), "Wx": rng.normal(size=(e, h)),
              "Wh": rng.normal(size=(h, h)), "b": rng.normal(size=h),
              "W_in": rng.normal(size=(h, n)), "b_in": rng.normal(size=n),
              "W_op": rng.normal(size=(h, k)), "b_op": rng.normal(size=k)}
    space = list(itertools.product(*[itertools.product(range(i), range(k))
                                     for i in range(1, n + 1)]))
    total = sum(math.exp(ns["controller_log_prob"](params, arch)) for arch in space)
    assert abs(total - 1) < 1e-12
    arch, advantage, beta = space[17], -0.6, 0.4
    grads = ns["controller_reinforce_grad"](params, arch, advantage, beta)
    for name, value in params.items():
        def objective(w, name=name):
            p = {**params, name: w}
            return (advantage * ns["controller_log_prob"](p, arch)
                    + beta * ns["controller_entropy"](p, arch))
        assert rel_error(grads[name], eval_numerical_gradient(objective, value.copy())) \
            < 1e-6, name

    true = np.array([0.9, 0.95, 0.95, 0.91, 0.97, 0.9, 0.93])
    for draws in (1, 2, 3, 7):
        ranks = [1 + np.sum(true > true[list(s)].max())
                 for s in itertools.combinations(range(len(true)), draws)]
        assert abs(ns["expected_random_rank"](true, draws) - np.mean(ranks)) < 1e-12


def test_ps07_controller_and_supernet_checks_fail_wrong_answers():
    """Wrong answers lose points on the hidden cases, for several secret seeds: a
    REINFORCE gradient without the entropy term or with its sign flipped (0 points),
    without the gradient through the recurrence (the recurrent weights' and the
    embedding's 7 points lost) or without the embedding's gradient (its 2 lost);
    shared gradients written into the wrong node's or the wrong op's slice; a sampler
    that never reads the previous decision; a forward pass that averages every node; a
    tie-unaware rank and a top-k without ties."""
    import math

    ns = _ps07_solution()
    grad = ns["controller_reinforce_grad"]

    def no_entropy(params, arch, advantage, beta):
        return grad(params, arch, advantage, 0.0)

    def entropy_flipped(params, arch, advantage, beta):
        return grad(params, arch, advantage, -beta)

    def no_emb(params, arch, advantage, beta):
        grads = grad(params, arch, advantage, beta)
        return {**grads, "emb": np.zeros_like(grads["emb"])}

    def truncated(params, arch, advantage, beta):
        """Each step's gradient stops at its own state: no dh from the next step."""
        flat = [d for pair in arch for d in pair]
        steps = ns["controller_steps"](params, len(arch), lambda t, log_p: flat[t])
        grads = {name: np.zeros_like(w) for name, w in params.items()}
        for s in steps:
            p, i = np.exp(s["log_p"]), s["node"]
            dz = -advantage * p - beta * p * (s["log_p"] + (-(p * s["log_p"]).sum()))
            dz[s["d"]] += advantage
            out, bias = ("W_op", "b_op") if s["is_op"] else ("W_in", "b_in")
            cols = slice(None) if s["is_op"] else slice(0, i)
            grads[out][:, cols] += np.outer(s["h"], dz)
            grads[bias][cols] += dz
            da = (params[out][:, cols] @ dz) * (1 - s["h"] ** 2)
            grads["Wx"] += np.outer(s["x"], da)
            grads["Wh"] += np.outer(s["h_prev"], da)
            grads["b"] += da
            grads["emb"][s["token"]] += params["Wx"] @ da
        return grads

    def wrong_slice(axis):
        def supernet_grads(x, shared, arch, d_out):
            g = ns["supernet_grads"](x, shared, arch, d_out)
            return {name: np.roll(v, 1, axis=axis) for name, v in g.items()}
        return supernet_grads

    def memoryless_sample(params, n_nodes, uniforms):
        same = {**params, "emb": np.broadcast_to(params["emb"][0], params["emb"].shape)}
        return ns["controller_sample"](same, n_nodes, uniforms)

    def mean_of_all(x, shared, arch):
        hs = ns["supernet_states"](x, shared, arch)
        return sum(hs[1:]) / len(arch)

    def sort_rank(true, k):  # rank = position in the sorted list: ties ignored
        n = len(true)
        return sum(p * math.comb(n - p, k - 1) for p in range(1, n + 1)) / math.comb(n, k)

    def strict_top_k(true, proxy, k):
        truth = set(np.argsort(-true, kind="stable")[:k])
        return len(truth & set(np.argsort(-proxy, kind="stable")[:k])) / k

    for seed in (3, 4, 5):
        assert _ps07_points("controller-reinforce", ns, seed) == 15
        # the output layer's gradients need no BPTT: the truncated one keeps their 8
        for wrong, most in ((no_entropy, 0), (entropy_flipped, 0), (truncated, 8)):
            points = _ps07_points("controller-reinforce",
                                  {**ns, "controller_reinforce_grad": wrong}, seed)
            assert points == most, (seed, wrong.__name__, points)
        assert _ps07_points("controller-reinforce",
                            {**ns, "controller_reinforce_grad": no_emb}, seed) == 13
        assert _ps07_points("supernet-grads", ns, seed) == 10
        for axis in (0, 1):
            points = _ps07_points("supernet-grads",
                                  {**ns, "supernet_grads": wrong_slice(axis)}, seed)
            assert points == 0, (seed, axis, points)
        assert _ps07_points("controller-sample", ns, seed) == 8
        assert _ps07_points("controller-sample",
                            {**ns, "controller_sample": memoryless_sample}, seed) == 0
        assert _ps07_points("supernet-forward", {**ns, "supernet_forward": mean_of_all},
                            seed) == 0
        assert _ps07_points("random-rank", {**ns, "expected_random_rank": sort_rank},
                            seed) == 0
        assert _ps07_points("top-k-recall", {**ns, "proxy_top_k_recall": strict_top_k},
                            seed) == 0


def test_ps07_gradients_by_finite_differences_score_nothing():
    """Parts 7 and 8 ask for derived gradients: a numerical gradient is flagged, and a
    loop over the forward pass is stopped by its call limit."""
    from autograder import ownwork

    a, _ = _ps07()
    rules = {p.grade_id: p.own_work for p in a.parts}
    cells = ["from dlcourse.gradcheck import eval_numerical_gradient",
             "def controller_reinforce_grad(params, arch, advantage, beta):\n"
             "    return {k: eval_numerical_gradient(lambda w: 0.0, v)\n"
             "            for k, v in params.items()}\n"]
    found = ownwork.check(cells, rules)
    assert "controller-reinforce" in found
    assert "finite differences" in found["controller-reinforce"]
    assert rules["controller-reinforce"]["calls"] == {"controller_log_prob": 2,
                                                      "controller_sample": 2}
    assert rules["supernet-grads"]["calls"] == {"supernet_forward": 2}
    assert rules["supernet-grads"]["functions"] == ["supernet_grads"]
