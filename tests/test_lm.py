"""Chapter 5's character-level language model: the corpus and its baselines, the embedding
layer, the GRU, the model's gradients for every cell, truncated BPTT's carried state, the
masked loss, training against the bigram baseline, sampling with temperature, equal
parameter counts, and the experiment's tiny run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcourse.gradcheck import check_gradient, eval_numerical_gradient, rel_error
from dlcourse.layers import (
    embedding_backward,
    embedding_forward,
    gru_backward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_forward,
    lstm_last_cell,
    lstm_step_forward,
)
from dlcourse.lm import (
    CELLS,
    _forward,
    init_params,
    lm_param_count,
    loss_and_grads,
    masked_softmax_loss,
    matched_hidden,
    param_count,
    perplexity,
    sample,
    train_lm,
    zero_state,
)
from dlcourse.text import (
    CORPUS,
    Vocabulary,
    bigram_perplexity,
    book_prose,
    corpus_digest,
    load_corpus,
    markdown_to_prose,
    split,
    unigram_perplexity,
)

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-6  # as in test_layers_rnn.py: a wrong gradient is off by > 1e-2


@pytest.fixture(scope="module")
def corpus():
    text = load_corpus()
    vocab = Vocabulary(text)
    return text, vocab, split(vocab.encode(text), (0.8, 0.1, 0.1))


# --- corpus, vocabulary, baselines -----------------------------------------------------

def test_markdown_to_prose_keeps_prose_and_drops_code_maths_and_roles():
    md = ("---\njupytext: x\n---\n(lab)=\n# A title\n\nSome *prose* with $x^2$ and "
          "{eq}`e1` and {term}`a term`.\n\n```{code-cell} ipython3\nprint(1)\n```\n\n"
          "$$\na = b\n$$ (eq-a)\n\n:::{admonition} Key idea\n:class: tip\nKept text.\n:::\n")
    prose = markdown_to_prose(md)
    assert prose == "A title\nSome prose with and and a term.\nKey idea Kept text.\n"


def test_corpus_is_deterministic_prose_with_a_small_vocabulary(corpus):
    text, vocab, _ = corpus
    assert load_corpus() == text
    assert book_prose() == book_prose()  # the extraction is deterministic
    assert len(text) > 100_000
    assert "```" not in text and "code-cell" not in text and "\\frac" not in text
    assert 40 < vocab.size < 120
    assert vocab.chars == sorted(vocab.chars)
    assert vocab.decode(vocab.encode(text[:500])) == text[:500]


def test_the_committed_experiment_was_computed_on_the_frozen_corpus():
    # Refreezing the corpus (tools/freeze_corpus.py) without rerunning the experiment would
    # leave the chapter's committed table describing other text than its live cells read.
    result = json.loads((ROOT / "experiments" / "results" / "char_lm.json").read_text())
    text = load_corpus()
    assert result["corpus"]["sha256"] == corpus_digest(text), (
        "data/book_prose.txt changed since experiments/char_lm.py ran: rerun it")
    assert result["corpus"]["chars"] == len(text)
    assert result["corpus"]["vocab_size"] == Vocabulary(text).size


def test_the_frozen_corpus_is_the_books_prose_of_its_day():
    # The snapshot is what book_prose() gave: it starts with the first chapter's prose,
    # and most of its paragraphs are still in the book (edits change a few).
    snapshot = load_corpus().splitlines()
    now = set(book_prose().splitlines())
    assert snapshot[0] in now
    assert sum(p in now for p in snapshot) > 0.8 * len(snapshot)


def test_a_missing_corpus_snapshot_says_how_to_write_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="tools/freeze_corpus.py"):
        load_corpus(tmp_path / "book_prose.txt")
    assert CORPUS.name == "book_prose.txt"


def test_split_is_contiguous_and_complete():
    ids = np.arange(1000)
    tr, va, te = split(ids, (0.8, 0.1, 0.1))
    assert (len(tr), len(va), len(te)) == (800, 100, 100)
    assert np.array_equal(np.concatenate([tr, va, te]), ids)
    with pytest.raises(ValueError):
        split(ids, (0.5, 0.6))


def test_baselines_unigram_worse_than_bigram_better_than_uniform(corpus):
    _, vocab, (tr, va, _) = corpus
    uni = unigram_perplexity(tr, va, vocab.size)
    bi = bigram_perplexity(tr, va, vocab.size)
    assert bi < 0.7 * uni < vocab.size  # context helps, and frequencies beat a uniform guess


def test_add_one_smoothing_gives_unseen_characters_finite_perplexity():
    train, held_out = np.array([0, 0, 1, 0, 1]), np.array([2, 0, 2])
    assert np.isfinite(unigram_perplexity(train, held_out, 3))
    assert np.isfinite(bigram_perplexity(train, held_out, 3))
    # unigram by hand: p = (3+1, 2+1, 0+1) / 8
    expected = np.exp(-np.mean(np.log([1 / 8, 4 / 8, 1 / 8])))
    assert unigram_perplexity(train, held_out, 3) == pytest.approx(expected)


# --- embedding -------------------------------------------------------------------------

def test_embedding_equals_one_hot_times_weights(rng):
    W = rng.normal(size=(7, 4))
    ids = rng.integers(7, size=(3, 5))
    out, _ = embedding_forward(ids, W)
    assert np.array_equal(out, np.eye(7)[ids] @ W)


def test_embedding_backward_matches_numerical_and_accumulates_repeats(rng):
    W = rng.normal(size=(6, 3))
    ids = np.array([[1, 4, 1], [1, 0, 4]])  # id 1 three times, id 4 twice, 2 3 5 never
    out, cache = embedding_forward(ids, W)
    dout = rng.normal(size=out.shape)
    dW = embedding_backward(dout, cache)
    num = eval_numerical_gradient(lambda w: float(np.sum(embedding_forward(ids, w)[0] * dout)),
                                  W)
    check_gradient("embedding dW", dW, num)
    assert np.allclose(dW[1], dout[0, 0] + dout[0, 2] + dout[1, 0])
    assert not dW[[2, 3, 5]].any()


# --- GRU and the LSTM's carried cell state ---------------------------------------------

def test_gru_sequence_matches_steps_and_numerical_gradients(rng):
    N, T, D, H = 2, 4, 3, 5
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(scale=0.5, size=(N, H))
    Wx, Wh = rng.normal(scale=0.5, size=(D, 3 * H)), rng.normal(scale=0.5, size=(H, 3 * H))
    b = rng.normal(scale=0.5, size=3 * H)
    hs, cache = gru_forward(x, h0, Wx, Wh, b)
    h = h0
    for t in range(T):
        h, step_cache = gru_step_forward(x[:, t], h, Wx, Wh, b)
        assert np.allclose(hs[:, t], h)
    dh = rng.normal(size=hs.shape)
    analytic = gru_backward(dh, cache)
    args = [x, h0, Wx, Wh, b]
    for k, name in enumerate(["dx", "dh0", "dWx", "dWh", "db"]):
        def f(v, k=k):
            a = list(args)
            a[k] = v
            return float(np.sum(gru_forward(*a)[0] * dh))
        assert rel_error(analytic[k], eval_numerical_gradient(f, args[k])) < TOL, name
    # one step: the step backward agrees with the sequence backward at T = 1
    dn = rng.normal(size=(N, H))
    one = gru_step_backward(dn, gru_step_forward(x[:, 0], h0, Wx, Wh, b)[1])
    seq = gru_backward(dn[:, None], gru_forward(x[:, :1], h0, Wx, Wh, b)[1])
    assert np.allclose(one[0], seq[0][:, 0]) and all(
        np.allclose(a, s) for a, s in zip(one[1:], seq[1:], strict=True))


def test_lstm_c0_and_last_cell_continue_a_sequence(rng):
    N, T, D, H = 2, 6, 3, 4
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    Wx, Wh, b = (rng.normal(scale=0.5, size=s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)])
    whole, _ = lstm_forward(x, h0, Wx, Wh, b)
    first, cache = lstm_forward(x[:, :3], h0, Wx, Wh, b)
    second, _ = lstm_forward(x[:, 3:], first[:, -1], Wx, Wh, b, c0=lstm_last_cell(cache))
    assert np.allclose(np.concatenate([first, second], axis=1), whole)
    h, c = h0, np.zeros((N, H))
    for t in range(3):
        h, c, _ = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
    assert np.allclose(lstm_last_cell(cache), c)


# --- the language model's gradients ----------------------------------------------------

def tiny_model(cell, rng, V=5, H=4, E=3):
    params = init_params(cell, V, H, E, rng)
    for name in params:  # non-zero biases, so their gradients are checked too
        params[name] = params[name] + rng.normal(scale=0.1, size=params[name].shape)
    return params


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_lm_gradients_match_numerical_for_every_parameter(cell, rng):
    N, T, V, H = 2, 4, 5, 4
    params = tiny_model(cell, rng, V, H)
    x, y = rng.integers(V, size=(N, T)), rng.integers(V, size=(N, T))
    # a non-zero carried state (with a non-zero cell state for the LSTM)
    h0 = tuple(rng.normal(scale=0.5, size=(N, H)) for _ in zero_state(cell, N, H))
    loss, grads, _ = loss_and_grads(params, x, y, h0)
    assert set(grads) == set(params)
    for name, w in params.items():
        def f(v, name=name):
            return loss_and_grads({**params, name: v}, x, y, h0)[0]
        check_gradient(f"{cell} d{name}", grads[name], eval_numerical_gradient(f, w.copy()),
                       bound=TOL)


def test_untrained_lm_loss_is_near_log_vocabulary(rng):
    """At initialisation the model is unsure: perplexity near V, as a uniform guess."""
    V = 30
    params = init_params("lstm", V, 16, 8, rng)
    x, y = rng.integers(V, size=(4, 20)), rng.integers(V, size=(4, 20))
    loss = loss_and_grads(params, x, y, np.zeros((4, 16)))[0]
    assert abs(loss - np.log(V)) < 0.5


# --- truncated BPTT --------------------------------------------------------------------

@pytest.mark.parametrize("cell", sorted(CELLS))
def test_carried_state_is_used_but_no_gradient_reaches_the_previous_window(cell, rng):
    N, T, V, H = 2, 5, 6, 4
    params = tiny_model(cell, rng, V, H)
    x1, y1, x2, y2 = (rng.integers(V, size=(N, T)) for _ in range(4))
    _, _, state = loss_and_grads(params, x1, y1, zero_state(cell, N, H))
    carried, grads, _ = loss_and_grads(params, x2, y2, state)
    fresh = loss_and_grads(params, x2, y2, zero_state(cell, N, H))[0]
    assert abs(carried - fresh) > 1e-4  # window 2's loss depends on window 1's state
    # The state is a constant: the gradient is that of window 2's loss with the state
    # held fixed...
    f = lambda w: loss_and_grads({**params, "Wh": w}, x2, y2, state)[0]  # noqa: E731
    assert rel_error(grads["Wh"], eval_numerical_gradient(f, params["Wh"].copy())) < TOL
    # ...not the full gradient, which would also flow back through window 1
    def through(w):
        p = {**params, "Wh": w}
        return loss_and_grads(p, x2, y2, loss_and_grads(p, x1, y1, zero_state(cell, N, H))[2])[0]
    full = eval_numerical_gradient(through, params["Wh"].copy())
    assert rel_error(grads["Wh"], full) > 1e-3


# --- masked loss -----------------------------------------------------------------------

def test_masked_loss_ignores_padding_and_its_gradient_is_zero_there(rng):
    N, T, V = 3, 4, 5
    logits = rng.normal(size=(N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    loss, dlogits = masked_softmax_loss(logits, y, mask)
    assert not dlogits[mask == 0].any()
    num = eval_numerical_gradient(lambda z: masked_softmax_loss(z, y, mask)[0], logits.copy())
    check_gradient("masked dlogits", dlogits, num)
    # padding's content does not matter, and the mean is over the 7 real steps
    junk = logits.copy()
    junk[mask == 0] = 1e3 * rng.normal(size=junk[mask == 0].shape)
    assert masked_softmax_loss(junk, y, mask)[0] == pytest.approx(loss)
    p = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    per_step = -np.log(np.take_along_axis(p, y[..., None], axis=2)[..., 0])
    assert loss == pytest.approx(per_step[mask == 1].mean())


def test_masked_lm_gradient_matches_numerical(rng):
    N, T, V, H = 2, 4, 5, 4
    params = tiny_model("gru", rng, V, H)
    x, y = rng.integers(V, size=(N, T)), rng.integers(V, size=(N, T))
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    _, grads, _ = loss_and_grads(params, x, y, np.zeros((N, H)), mask=mask)
    f = lambda w: loss_and_grads({**params, "W_out": w}, x, y,  # noqa: E731
                                 np.zeros((N, H)), mask=mask)[0]
    check_gradient("masked dW_out", grads["W_out"],
                   eval_numerical_gradient(f, params["W_out"].copy()), bound=TOL)


# --- training, sampling, parameter counts -----------------------------------------------

@pytest.fixture(scope="module")
def trained(corpus):
    """A short LSTM run per seed, (params, history); about 2 s CPU each."""
    _, vocab, (tr, va, _) = corpus
    return {seed: train_lm("lstm", tr, va, hidden=64, embed=16, seq_len=32, batch=16,
                           steps=300, lr=5e-3, seed=seed, clip=1.0, eval_every=100,
                           vocab_size=vocab.size) for seed in (0, 1)}


def test_short_lstm_run_beats_the_bigram_baseline_on_validation(corpus, trained):
    _, vocab, (tr, va, _) = corpus
    bigram = bigram_perplexity(tr, va, vocab.size)
    for seed, (params, history) in trained.items():
        assert history["step"] == [100, 200, 300]
        assert history["val_ppl"][-1] < 0.85 * bigram, seed  # a margin, for every seed
        assert history["val_ppl"][-1] < history["val_ppl"][0]
        assert history["val_ppl"][-1] == pytest.approx(perplexity(params, "lstm", va))


def test_sampling_at_temperature_zero_is_greedy(corpus, trained):
    _, vocab, _ = corpus
    params = trained[0][0]
    greedy = sample(params, "lstm", vocab, "The ", 30, temperature=0.0)
    cold = sample(params, "lstm", vocab, "The ", 30, temperature=1e-6,
                  rng=np.random.default_rng(5))
    assert cold == greedy
    # greedy by hand: the argmax of the model's next-character scores, step by step
    text = "The "
    for _ in range(5):
        ids = vocab.encode(text)[None]
        logits = _forward(params, ids, zero_state("lstm", 1, 64))[0]
        text += vocab.chars[int(np.argmax(logits[0, -1]))]
    assert greedy.startswith(text[4:])


def test_higher_temperature_gives_higher_entropy_of_samples(corpus, trained):
    _, vocab, _ = corpus
    params = trained[0][0]

    def entropy(temperature):
        s = sample(params, "lstm", vocab, "The ", 1500, temperature=temperature,
                   rng=np.random.default_rng(0))
        counts = np.unique(list(s), return_counts=True)[1]
        p = counts / counts.sum()
        return float(-(p * np.log(p)).sum())

    low, mid, high = entropy(0.3), entropy(1.0), entropy(2.0)
    assert low + 0.2 < mid < high - 0.2


@pytest.mark.parametrize("n_params", [20_000, 100_000])
def test_matched_hidden_sizes_have_parameter_counts_within_5_percent(n_params, rng):
    V, E = 90, 16
    sizes = matched_hidden(V, E, n_params)
    counts = {c: param_count(init_params(c, V, h, E, rng)) for c, h in sizes.items()}
    assert counts == {c: lm_param_count(c, V, h, E) for c, h in sizes.items()}
    assert max(counts.values()) <= 1.05 * min(counts.values())
    assert sizes["rnn"] > sizes["gru"] > sizes["lstm"]


@pytest.mark.parametrize("init", ["orthogonal", "identity"])
def test_orthogonal_and_identity_recurrent_blocks_preserve_norms(init, rng):
    H = 8
    params = init_params("lstm", 10, H, 4, rng, recurrent_init=init)
    for k in range(4):
        block = params["Wh"][:, k * H : (k + 1) * H]
        assert np.allclose(block.T @ block, np.eye(H))
    if init == "identity":
        assert np.array_equal(params["Wh"][:, :H], np.eye(H))
    with pytest.raises(ValueError):
        init_params("rnn", 10, H, 4, rng, recurrent_init="zeros")


# --- the experiment --------------------------------------------------------------------

def test_char_lm_experiment_tiny_run_writes_a_complete_result(tmp_path):
    out = tmp_path / "char_lm.json"
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "char_lm.py"), "--tiny",
                           "--out", str(out)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    cfg = result["config"]
    assert result["baselines"]["bigram"]["val"] < result["baselines"]["unigram"]["val"]
    assert len(result["runs"]) == len(CELLS) * len(cfg["seeds"])
    counts = [r["params"] for r in result["runs"]]
    assert max(counts) <= 1.05 * min(counts)
    for run in result["runs"]:
        assert len(run["step"]) == len(run["val_ppl"]) == len(run["seconds"])
        assert run["step"][-1] == cfg["steps"]
        assert run["final_val_ppl"] == run["val_ppl"][-1]
        assert np.isfinite(run["test_ppl"]) and run["seconds"][-1] > 0


def test_committed_result_is_the_full_run_and_every_model_beats_the_bigram():
    result = json.loads((ROOT / "experiments" / "results" / "char_lm.json").read_text())
    assert result["config"]["steps"] >= 1000 and len(result["config"]["seeds"]) >= 3
    bigram = result["baselines"]["bigram"]["val"]
    for cell in CELLS:
        assert result["summary"][cell]["val_ppl_max"] < bigram
    counts = [result["summary"][c]["params"] for c in CELLS]
    assert max(counts) <= 1.05 * min(counts)
