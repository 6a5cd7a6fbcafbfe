"""Chapter 6's encoder-decoder: the number-translation task (determinism, round trips,
disjoint splits, padding), the gradients of both variants, the attention mask, greedy
decoding against teacher forcing, a tiny training run, and the experiment's tiny run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcourse.gradcheck import eval_numerical_gradient
from dlcourse.seq2seq import (
    attention_map,
    count_params,
    evaluate,
    forward,
    greedy_decode,
    init_params,
    loss_and_grads,
    matched_hidden,
    param_count,
    train_seq2seq,
)
from dlcourse.seq2seq_data import (
    BOS,
    DIGITS,
    EOS,
    PAD,
    WORDS,
    CharVocab,
    accuracy_by_length,
    bucket_of,
    exact_match,
    make_batch,
    make_task,
    number_to_words,
    words_to_number,
)

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-7  # relative to the gradient's norm; a wrong gradient is off by > 1e-2


def assert_gradient(name, analytic, numerical):
    """Relative error of the whole array, |a - n| / (|a| + |n|) in L2 norm: element-wise
    relative errors are inflated by the many entries near zero of a small model's
    gradients (abs. errors ~1e-11 there)."""
    err = np.linalg.norm(analytic - numerical) / (np.linalg.norm(analytic)
                                                  + np.linalg.norm(numerical))
    assert np.linalg.norm(numerical) > 1e-4, f"{name}: too small a gradient to check"
    assert err < TOL, f"{name}: relative error {err:.1e}"


# --- the task --------------------------------------------------------------------------

def test_task_is_deterministic_from_its_seed():
    a, b, c = make_task(7, 300, 50, 50), make_task(7, 300, 50, 50), make_task(8, 300, 50, 50)
    assert (a.train, a.val, a.test) == (b.train, b.val, b.test)
    assert a.description == b.description
    assert a.train != c.train


def test_number_words_round_trip_and_known_spellings(rng):
    assert number_to_words(304021) == "three hundred four thousand twenty-one"
    assert number_to_words(0) == "zero"
    assert number_to_words(1_000_005) == "one million five"
    assert number_to_words(110) == "one hundred ten"
    values = np.concatenate([np.arange(1200), rng.integers(10**12, size=2000)])
    assert all(words_to_number(number_to_words(v)) == v for v in values)
    with pytest.raises(ValueError):
        words_to_number("three apples")


def test_vocabularies_round_trip_and_decode_stops_at_eos():
    for vocab, text in [(WORDS, number_to_words(987_654_321)), (DIGITS, "9087654321")]:
        ids = vocab.encode(text, bos=True, eos=True)
        assert ids[0] == BOS and ids[-1] == EOS and (ids[1:-1] > EOS).all()
        assert vocab.decode(ids) == text
        assert vocab.decode(np.concatenate([ids, vocab.encode(text)])) == text  # stops at EOS
    assert (PAD, BOS, EOS) == (0, 1, 2)
    assert DIGITS.decode([DIGITS.index["4"], PAD, DIGITS.index["2"]]) == "42"  # PAD skipped
    with pytest.raises(ValueError):
        CharVocab("aa")


def test_splits_have_disjoint_values_and_widely_varying_lengths():
    task = make_task(0, 4000, 500, 1000, max_digits=9)
    sets = {name: set(v.tolist()) for name, v in task.values.items()}
    assert [len(sets[k]) for k in ("train", "val", "test")] == [4000, 500, 1000]
    assert not sets["train"] & sets["test"] and not sets["train"] & sets["val"]
    assert not sets["val"] & sets["test"]
    for name in ("train", "val", "test"):  # the pairs are the values, written both ways
        pairs = getattr(task, name)
        assert [(number_to_words(v), str(v)) for v in task.values[name]] == pairs
    lengths = [len(s) for s, _ in task.train]
    assert min(lengths) <= 5 and max(lengths) >= 90
    # every test bucket is populated
    counts = [b["n"] for b in accuracy_by_length([len(s) for s, _ in task.test],
                                                np.ones(len(task.test)))]
    assert min(counts) >= 20 and sum(counts) == 1000
    reverse = make_task(0, 4000, 500, 1000, direction="digits_to_words")
    assert reverse.test == [(t, s) for s, t in task.test]


def test_batches_are_padded_on_the_right_with_targets_shifted_by_one():
    pairs = [("one hundred five", "105"), ("six", "6"), ("forty-two", "42")]
    b = make_batch(pairs, WORDS, DIGITS)
    assert b["src"].shape == (3, 16) and b["tgt_in"].shape == b["tgt_out"].shape == (3, 4)
    assert b["src_mask"].sum(axis=1).tolist() == [16, 3, 9]
    assert (b["src"][~b["src_mask"]] == PAD).all() and (b["src"][b["src_mask"]] > EOS).all()
    assert b["tgt_mask"].sum(axis=1).tolist() == [4, 2, 3]  # the digits and EOS
    assert (b["tgt_in"][:, 0] == BOS).all()
    for i, (src, tgt) in enumerate(pairs):
        n = len(tgt)
        assert WORDS.decode(b["src"][i]) == src and DIGITS.decode(b["tgt_out"][i]) == tgt
        assert b["tgt_out"][i, n] == EOS and (b["tgt_out"][i, n + 1 :] == PAD).all()
        assert np.array_equal(b["tgt_in"][i, 1 : n + 1], b["tgt_out"][i, :n])  # shifted
        assert (b["tgt_in"][i, n + 1 :] == PAD).all()


def test_exact_match_and_length_buckets():
    assert exact_match(["12", "3", ""], ["12", "30", ""]).tolist() == [True, False, True]
    edges = (1, 10, 20)
    assert bucket_of([1, 9, 10, 19, 20, 0], edges).tolist() == [0, 0, 1, 1, -1, -1]
    out = accuracy_by_length([3, 5, 12, 25], [True, False, True, True], edges)
    assert out == [{"lo": 1, "hi": 10, "n": 2, "exact_match": 0.5},
                   {"lo": 10, "hi": 20, "n": 1, "exact_match": 1.0}]
    assert accuracy_by_length([3], [True], (1, 2, 5))[0]["exact_match"] is None


# --- the model's gradients -------------------------------------------------------------

SV, TV = CharVocab("abde "), CharVocab("123456")
PAIRS = [("abe d", "12"), ("a", "3"), ("ee", "456")]  # sources and targets of 3 lengths


def tiny_model(rng, attention, H=4, E=3, A=3):
    params = init_params(SV.size, TV.size, H, E, rng, attention, attn_dim=A)
    for name in params:  # non-zero biases and an alignment that matters
        params[name] = params[name] + rng.normal(scale=0.5, size=params[name].shape)
    return params


@pytest.mark.parametrize("attention", [False, True])
def test_gradients_match_numerical_for_every_parameter(attention, rng):
    params = tiny_model(rng, attention)
    batch = make_batch(PAIRS, SV, TV)
    _, grads = loss_and_grads(params, batch)
    assert set(grads) == set(params)
    assert ("att_v" in params) == attention
    for name, w in params.items():
        def f(v, name=name):
            return loss_and_grads({**params, name: v}, batch)[0]
        assert_gradient(f"{attention} d{name}", grads[name],
                        eval_numerical_gradient(f, w.copy()))


def test_padded_source_positions_get_no_attention_and_change_nothing(rng):
    params = tiny_model(rng, attention=True)
    batch = make_batch(PAIRS, SV, TV)
    logits, weights, _ = forward(params, batch["src"], batch["src_mask"], batch["tgt_in"])
    mask = np.broadcast_to(batch["src_mask"][:, None], weights.shape)
    assert (weights[~mask] == 0).all() and (weights[mask] > 0).all()
    np.testing.assert_allclose(weights.sum(axis=2), 1.0)
    loss, grads = loss_and_grads(params, batch)
    # other tokens under the padding, and two more padded columns: nothing changes
    junk = {**batch, "src": np.where(batch["src_mask"], batch["src"], SV.index["d"])}
    wider = {**batch, "src": np.pad(batch["src"], ((0, 0), (0, 2))),
             "src_mask": np.pad(batch["src_mask"], ((0, 0), (0, 2)))}
    for other in (junk, wider):
        out, w2, _ = forward(params, other["src"], other["src_mask"], other["tgt_in"])
        np.testing.assert_allclose(out, logits, rtol=0, atol=1e-12)
        np.testing.assert_allclose(w2[:, :, : weights.shape[2]], weights, rtol=0, atol=1e-12)
        loss2, grads2 = loss_and_grads(params, other)
        assert loss2 == pytest.approx(loss, abs=1e-12)
        for name in grads:
            np.testing.assert_allclose(grads2[name], grads[name], rtol=0, atol=1e-12)
    # ...while a real token does change the output
    real = {**batch, "src": batch["src"].copy()}
    real["src"][0, 1] = SV.index["d"]
    assert not np.allclose(forward(params, real["src"], real["src_mask"], real["tgt_in"])[0],
                           logits)


def test_parameter_counts_and_matched_hidden(rng):
    Vs, Vt, E = WORDS.size, DIGITS.size, 16
    for attention, A in [(False, None), (True, 32), (True, None)]:
        p = init_params(Vs, Vt, 24, E, rng, attention, attn_dim=A)
        assert param_count(p) == count_params(Vs, Vt, 24, E, attention, A)
    target = count_params(Vs, Vt, 64, E, True, 32)
    H = matched_hidden(Vs, Vt, E, target, attention=False)
    assert H > 64  # the plain decoder gets a larger state for the same budget
    assert abs(count_params(Vs, Vt, H, E, False) - target) <= 0.02 * target


# --- training and decoding -----------------------------------------------------------

@pytest.fixture(scope="module")
def small_task():
    """Numbers below 1000 (inputs of 3 to 27 characters)."""
    return make_task(0, 700, 100, 200, max_digits=3)


@pytest.fixture(scope="module")
def trained(small_task):
    """Short runs on the small task, about 2 s of CPU each: (params, history) for the
    attending model with seeds 0 and 1, and the plain one with seed 0."""
    runs = {}
    for attention, seed in [(True, 0), (True, 1), (False, 0)]:
        runs[attention, seed] = train_seq2seq(
            small_task, attention=attention, hidden=32 if attention else 48, embed=8,
            attn_dim=16, batch_size=32, steps=300, lr=1e-2, seed=seed, eval_every=100,
            n_eval=100)
    return runs


@pytest.mark.parametrize("seed", [0, 1])
def test_short_training_learns_three_digit_numbers(small_task, trained, seed):
    """300 updates: the attending model is then right on > 90% of the held-out numbers,
    for each seed (an untrained one on none)."""
    params, hist = trained[True, seed]
    assert hist["step"] == [100, 200, 300] and len(hist["seconds"]) == 3
    assert hist["train_loss"][-1] < 0.3 * hist["train_loss"][0]
    vocabs = small_task.src_vocab, small_task.tgt_vocab
    test = evaluate(params, small_task.test, *vocabs, max_len=4)
    assert test.mean() > 0.9, test.mean()
    fresh = init_params(vocabs[0].size, vocabs[1].size, 32, 8, np.random.default_rng(seed),
                        attention=True, attn_dim=16)
    assert evaluate(fresh, small_task.test, *vocabs, max_len=4).mean() < 0.05
    src, _ = small_task.test[0]
    out, weights = attention_map(params, src, *vocabs, max_len=4)
    assert weights.shape == (len(out) + 1, len(src))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


@pytest.mark.parametrize("attention", [False, True])
def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_output(small_task, trained,
                                                                       attention):
    params, _ = trained[attention, 0]
    # with 3 steps, short numbers end with EOS and three-digit ones are cut off before it
    pairs = small_task.test[:20] + [("seven", "7"), ("forty-two", "42")]
    batch = make_batch(pairs, small_task.src_vocab, small_task.tgt_vocab)
    ids, weights = greedy_decode(params, batch["src"], batch["src_mask"], max_len=3)
    ids_long, _ = greedy_decode(params, batch["src"], batch["src_mask"], max_len=8)
    assert np.array_equal(ids_long[:, : ids.shape[1]], ids)  # a longer run only continues
    assert (weights is None) == (not attention)
    N, T = ids.shape
    # the decoded sequence fed back as the teacher: its argmax must be the same sequence
    tgt_in = np.concatenate([np.full((N, 1), BOS), ids[:, :-1]], axis=1)
    logits, tf_weights, _ = forward(params, batch["src"], batch["src_mask"], tgt_in)
    stops = []
    for n in range(N):
        row = ids[n]
        stop = int(np.argmax(row == EOS)) + 1 if (row == EOS).any() else T
        stops.append(stop)
        assert np.array_equal(logits[n, :stop].argmax(axis=1), row[:stop])
        assert (row[stop:] == PAD).all()
        if attention:
            np.testing.assert_allclose(weights[n, :stop], tf_weights[n, :stop], atol=1e-12)
            assert (weights[n, stop:] == 0).all()
    assert min(stops) < T and (ids[:, -1] > EOS).any()  # rows that stop, rows that do not


# --- the experiment --------------------------------------------------------------------

def test_seq2seq_experiment_tiny_run_writes_a_complete_result(tmp_path):
    out = tmp_path / "seq2seq_attention.json"
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "seq2seq_attention.py"),
                           "--tiny", "--out", str(out)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    cfg = result["config"]
    assert result["task"]["sizes"] == cfg["sizes"]
    assert len(result["runs"]) == 2 * len(cfg["seeds"])
    counts = [r["params"] for r in result["runs"]]
    assert max(counts) <= 1.05 * min(counts)
    n_edges = len(cfg["edges"])
    for run in result["runs"]:
        assert len(run["step"]) == len(run["val_exact"]) == len(run["train_loss"])
        assert len(run["seconds"]) == len(run["step"]) and run["step"][-1] == cfg["steps"]
        assert 0.0 <= run["test_exact"] <= 1.0 and run["seconds"][-1] > 0
        assert len(run["test_by_length"]) == n_edges - 1
        assert sum(b["n"] for b in run["test_by_length"]) == cfg["sizes"]["test"]
    for variant in ("attention", "no_attention"):
        summary = result["summary"][variant]
        assert len(summary["test_by_length"]) == n_edges - 1
        assert {"mean", "min", "max"} <= set(summary["test_exact"])


def test_committed_result_is_the_full_run():
    result = json.loads((ROOT / "experiments" / "results" / "seq2seq_attention.json")
                        .read_text())
    cfg = result["config"]
    assert len(cfg["seeds"]) >= 3 and cfg["steps"] >= 2000
    assert cfg["sizes"]["test"] >= 2000
    assert {r["attention"] for r in result["runs"]} == {True, False}
    # the chapter's claim: on the longest inputs every attending run beats every plain one
    att, plain = (result["summary"][v]["test_by_length"][-1] for v in ("attention",
                                                                       "no_attention"))
    assert att["min"] > plain["max"] + 0.2
    counts = [result["summary"][v]["params"] for v in ("attention", "no_attention")]
    assert max(counts) <= 1.05 * min(counts)
