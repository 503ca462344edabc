"""The character RNN (A4): BPTT against finite differences, the text loader, sequence batches,
AdaGrad and clipping, training on a tiny text, sampling, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from handgrad.cli import app
from handgrad.config import from_dict
from handgrad.batches import SequenceBatches
from handgrad import tasks
from handgrad.alphabet import Alphabet
from handgrad.datasets.textfile import read_text
from handgrad.errors import HandgradError
from handgrad.charrnn import generate, next_char_probs
from handgrad.tasks.charrnn import sample_run
from handgrad.gradcheck import check_model
from handgrad.charrnn import CharRNN, char_rnn
from handgrad.optim import AdaGrad

runner = CliRunner()
REPEATED = "hello world, said the cat.\n"


def _windows(rng, K, B, T):
    return rng.integers(0, K, (B, T)), rng.integers(0, K, (B, T))


@pytest.mark.parametrize("B,T,std", [(1, 7, 0.1), (3, 5, 0.3), (2, 25, 0.1)])
def test_bptt_matches_finite_differences(B, T, std):
    rng = np.random.default_rng(B * 10 + T)
    model = char_rnn(9, 5, std=std, rng=rng, dtype=np.float64)
    for k in ("b", "c"):  # non-zero biases so their gradients are exercised off the symmetric point
        model.rnn.params[k] += rng.normal(0, 0.1, model.rnn.params[k].shape)
    X, y = _windows(rng, 9, B, T)
    rows = check_model(model, X, y, h=1e-5)
    assert {r.param for r in rows} == {"0.U", "0.W", "0.b", "0.V", "0.c"}
    for r in rows:
        assert r.max_rel < 1e-6, r


def test_backward_assigns_and_loss_sums_over_time():
    rng = np.random.default_rng(1)
    model = char_rnn(6, 4, rng=rng, dtype=np.float64)
    X, y = _windows(rng, 6, 2, 8)
    loss = model.loss_and_grads(X, y, train=False)
    first = {k: v.copy() for k, v in model.rnn.grads.items()}
    model.loss_and_grads(X, y, train=False)
    for k, v in model.rnn.grads.items():
        np.testing.assert_array_equal(v, first[k])
    # at init the scores are ~0: each character costs ~log K, a sequence T log K
    assert loss == pytest.approx(8 * np.log(6), rel=1e-3)


def test_state_is_carried_while_training_and_reset():
    rng = np.random.default_rng(2)
    model = char_rnn(6, 4, std=0.5, rng=rng, dtype=np.float64)
    X, y = _windows(rng, 6, 1, 10)
    whole = model.loss_and_grads(X, y)  # one window of 10 ...
    model.reset_state()
    halves = model.loss_and_grads(X[:, :5], y[:, :5]) + model.loss_and_grads(X[:, 5:], y[:, 5:])
    assert halves == pytest.approx(whole, rel=1e-12)  # ... is two windows of 5 with the state carried
    model.reset_state()
    assert model.state is None
    assert model.cost(X, y) == pytest.approx(whole, rel=1e-12)  # evaluation starts from zeros


def test_adagrad_and_clipping():
    rng = np.random.default_rng(3)
    model = char_rnn(5, 3, rng=rng, dtype=np.float64)
    X, y = _windows(rng, 5, 1, 4)
    model.loss_and_grads(X, y)
    for layer in [model.rnn]:
        layer.grads["W"][0, 0] = 100.0
    before = model.copy_params()
    g = {k: np.clip(v, -5, 5) for k, v in model.rnn.grads.items()}
    AdaGrad(eps=1e-8, clip=5.0).step(model, 0.1)
    for k in g:
        expected = before[f"0.{k}"] - 0.1 * g[k] / np.sqrt(g[k] ** 2 + 1e-8)
        np.testing.assert_allclose(model.rnn.params[k], expected, rtol=1e-12)
    assert model.rnn.grads["W"][0, 0] == 5.0


def test_sequence_batches_streams_continue():
    n, T, B = 103, 4, 3
    X = np.arange(n)
    batches = SequenceBatches(n, T, B, "sequential")
    got = [xb for xb, _, _ in batches.epoch(X, X + 1, np.random.default_rng(0))]
    assert len(got) == batches.steps_per_epoch == (n // B) // T
    for a, b in zip(got[:-1], got[1:]):
        np.testing.assert_array_equal(b[:, 0], a[:, -1] + 1)  # row i continues row i
    one = SequenceBatches(1000, 25, 1)  # the sheet's loop: e = 0, 25, ... while a window fits
    assert one.steps_per_epoch == 40
    rnd = SequenceBatches(n, T, 5, "random")
    xb, yb, _ = next(rnd.epoch(X, X + 1, np.random.default_rng(0)))
    assert xb.shape == (5, T) and not rnd.carries_state
    np.testing.assert_array_equal(np.diff(xb, axis=1), 1)
    with pytest.raises(HandgradError, match="streams"):
        SequenceBatches(10, 25, 1)


def test_alphabet_round_trip_with_unicode():
    text = "Grüße, naïve café ☃ — ok\n\tend"
    a = Alphabet.from_text(text)
    assert a.chars == "".join(sorted(set(text)))
    assert a.decode(a.encode(text)) == text
    with pytest.raises(HandgradError, match="'x' is not in the model's alphabet"):
        a.encode("ox")


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"abc\x00\x01\x02", "binary"),
    (b"caf\xe9 au lait", "not UTF-8"),
])
def test_text_loader_rejects_bad_files(tmp_path, content, message):
    p = tmp_path / "t.txt"
    p.write_bytes(content)
    with pytest.raises(HandgradError, match=message):
        read_text(p)


def test_text_loader_missing_and_unreadable(tmp_path):
    with pytest.raises(HandgradError, match="not found"):
        read_text(tmp_path / "nope.txt")
    p = tmp_path / "locked.txt"
    p.write_text("secret")
    p.chmod(0)
    try:
        if os.access(p, os.R_OK):  # root reads anything
            pytest.skip("running as a user who can read mode-000 files")
        with pytest.raises(HandgradError, match="cannot read"):
            read_text(p)
    finally:
        p.chmod(0o600)


def _cfg(path: Path, **train) -> dict:
    # n_val 81: the held-out end of REPEATED * 40 starts a sentence, as the text after the preamble
    # (its first 7 sentences) does
    return {"name": "tiny", "seed": 0,
            "data": {"dataset": "text", "path": str(path), "n_val": 81},
            "model": {"kind": "rnn", "m": 24},
            "train": {"optimizer": "adam", "eta": 0.01, "clip": 5.0, "seq_length": 12, "n_batch": 4,
                      "n_updates": 400, "record_every": 200, "sample_every": 200,
                      "sample_length": 30, "passage_length": 50, "smooth_every": 50,
                      "keep_best": True, "best_metric": "val_loss", **train}}


def test_text_splits_and_validation(tmp_path):
    p = tmp_path / "book.txt"
    p.write_text("abcdefghij" * 20)
    cfg = from_dict(_cfg(p))
    data = tasks.load_data(cfg)
    assert len(data.X_train) == 200 - 81 - 1 and len(data.X_val) == 81 - 1
    np.testing.assert_array_equal(data.y_train[:-1], data.X_train[1:])
    assert data.meta["alphabet"] == "abcdefghij" and data.K == 10
    assert data.meta["preamble"] == ("abcdefghij" * 12)[:119]  # no line break or space: all of train
    from handgrad.datasets.textfile import preamble

    assert preamble("TITLE\n\nOne two") == "TITLE\n\n" and preamble("one two three") == "one two "
    bad = from_dict(_cfg(p, ), overrides={"data.n_val": 500})
    with pytest.raises(HandgradError, match="too few"):
        tasks.load_data(bad)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A small RNN trained on a short repeated sentence, through `handgrad train`."""
    root = tmp_path_factory.mktemp("rnn")
    text = root / "repeat.txt"
    text.write_text(REPEATED * 40)
    cfg = root / "tiny.json"
    cfg.write_text(json.dumps(_cfg(text)))
    out = root / "run"
    res = runner.invoke(app, ["train", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_tiny_rnn_learns_a_repeated_string(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["smooth_loss_at"]["1"] == pytest.approx(12 * np.log(len(set(REPEATED))), rel=0.02)
    assert metrics["val_loss_per_char"] < 0.05
    # greedy continuation (a very low temperature) reproduces the sentence
    text = sample_run(tiny_run, n=2 * len(REPEATED), temperature=0.01, prime="hello", seed=0)
    assert text.startswith((REPEATED * 3)[:len(text)])
    for name in ("history.json", "samples.md", "samples.json", "passage.txt", "model.npz",
                 "figures/smooth_loss.png"):
        assert (tiny_run / name).is_file(), name
    model_json = json.loads((tiny_run / "model.json").read_text())
    assert model_json["meta"]["alphabet"] == "".join(sorted(set(REPEATED)))
    samples = json.loads((tiny_run / "samples.json").read_text())
    assert [s["step"] for s in samples] == [200, 400] and all(len(s["text"]) == 30 for s in samples)
    assert len((tiny_run / "passage.txt").read_text()) == 51
    # keep_best on a loss keeps the lowest one
    cols = json.loads((tiny_run / "history.json").read_text())["columns"]
    val = [(v, s) for s, v in zip(cols["step"], cols["val_loss"]) if v is not None]
    assert metrics["best_step"] == min(val)[1]
    smooth = [v for v in cols["smooth_loss"] if v is not None]
    assert smooth[-1] == pytest.approx(metrics["smooth_loss"]) and len(smooth) == 400 // 50 + 1


def test_repeat_summarises_the_smooth_loss_over_seeds(tmp_path):
    # the smooth loss is the RNN's main figure and it varies with the seed: --repeat reports it
    text = tmp_path / "repeat.txt"
    text.write_text(REPEATED * 40)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(_cfg(text, n_updates=60, record_every=30, sample_every=30, smooth_every=10)))
    res = runner.invoke(app, ["train", str(cfg), "--repeat", "2", "--jobs", "1", "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    runs = [json.loads((tmp_path / "rep" / f"run-0{i}" / "metrics.json").read_text()) for i in (0, 1)]
    for k in ("smooth_loss", "smooth_loss_min", "val_loss_per_char"):
        assert m[f"{k}_runs"] == [r[k] for r in runs]
        assert m[f"{k}_mean"] == pytest.approx(np.mean(m[f"{k}_runs"]))
        assert m[f"{k}_std"] == pytest.approx(np.std(m[f"{k}_runs"], ddof=1)) and m[f"{k}_std"] > 0
    assert runs[0]["smooth_loss"] != runs[1]["smooth_loss"]  # the seeds differ
    assert f"smooth_loss_min: {m['smooth_loss_min_mean']:.4g} +- " in res.output


def test_seeded_sampling_repeats(tiny_run):
    a = sample_run(tiny_run, n=300, seed=7, temperature=1.5)
    assert a == sample_run(tiny_run, n=300, seed=7, temperature=1.5)
    assert a != sample_run(tiny_run, n=300, seed=8, temperature=1.5)
    res = runner.invoke(app, ["sample", str(tiny_run), "--n", "40", "--seed", "7", "--prime", "the ",
                              "--top-p", "0.9"])
    assert res.exit_code == 0 and res.output.startswith("the ") and len(res.output) == 45


@pytest.mark.parametrize("args,message", [
    (["--top-p", "0"], "--top-p"), (["--temperature", "0"], "--temperature"),
    (["--prime", "xyz€"], "not in the model's alphabet"),
])
def test_sample_bad_options(tiny_run, args, message):
    res = runner.invoke(app, ["sample", str(tiny_run), *args])
    assert res.exit_code == 2 and message in res.output


def test_nucleus_keeps_the_top_mass():
    s = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    np.testing.assert_allclose(next_char_probs(s, top_p=0.75), [0.625, 0.375, 0, 0])
    np.testing.assert_allclose(next_char_probs(s, top_p=0.85), np.array([0.5, 0.3, 0.15, 0.0]) / 0.95)
    assert next_char_probs(s, temperature=0.01)[0] == pytest.approx(1.0)


def test_generate_from_loaded_model_matches(tiny_run):
    from handgrad.modelfile import load as load_model

    model, _, meta = load_model(tiny_run)
    assert isinstance(model, CharRNN)
    a = generate(model.rnn, Alphabet(meta["alphabet"]), 20, rng=np.random.default_rng(1), prime="h")
    assert a == sample_run(tiny_run, n=20, seed=1, prime="h")[1:]


@pytest.mark.realdata
def test_goblet_book_loads():
    from handgrad.config import load_config

    cfg = load_config(Path(__file__).parents[1] / "configs/rnn/goblet.toml")
    data = tasks.load_data(cfg)
    assert data.meta["n_chars"] == 1_107_542 and data.K == 80
    assert len(data.X_train) + len(data.X_val) == 1_107_542 - 2


def test_saved_rnn_is_checked_when_read(tiny_run, tmp_path):
    import shutil

    from handgrad.modelfile import load as load_model

    bad = tmp_path / "bad"
    shutil.copytree(tiny_run, bad)
    info = json.loads((bad / "model.json").read_text())
    info["meta"]["alphabet"] = info["meta"]["alphabet"][:-1]
    (bad / "model.json").write_text(json.dumps(info))
    with pytest.raises(HandgradError, match="alphabet has"):
        load_model(bad)
    info["meta"]["alphabet"] = json.loads((tiny_run / "model.json").read_text())["meta"]["alphabet"]
    info["model"]["layers"][0]["m"] = 7  # the parameters say 24
    (bad / "model.json").write_text(json.dumps(info))
    with pytest.raises(HandgradError, match="shape"):
        load_model(bad)
    res = runner.invoke(app, ["sample", str(bad)])
    assert res.exit_code == 2 and "Traceback" not in res.output


def _textbook_sheet_loop(params: dict, d: np.ndarray, K: int, T: int, n_updates: int, eta: float = 0.1) -> dict:
    """The A4 sheet's training loop as textbooks write it (min-char-rnn): one time step at a time,
    AdaGrad on clipped gradients, the state carried and reset when the text starts again."""
    U, W, b, V, c = (params[f"0.{k}"].copy() for k in "UWbVc")
    P = [U, W, b, V, c]
    M = [np.zeros_like(p) for p in P]
    m, e, hprev = len(b), 0, np.zeros(len(b))
    for _ in range(n_updates):
        if e + T + 1 > len(d):
            e, hprev = 0, np.zeros(m)
        X, Y = d[e:e + T], d[e + 1:e + T + 1]
        hs, ps = [hprev], []
        for t in range(T):
            hs.append(np.tanh(W @ hs[-1] + U[:, X[t]] + b))
            o = V @ hs[-1] + c
            p = np.exp(o - o.max())
            ps.append(p / p.sum())
        dU, dW, db, dV, dc = (np.zeros_like(p) for p in P)
        dnext = np.zeros(m)
        for t in reversed(range(T)):
            do = ps[t].copy()
            do[Y[t]] -= 1
            dV += np.outer(do, hs[t + 1])
            dc += do
            da = (V.T @ do + dnext) * (1 - hs[t + 1] ** 2)
            dW += np.outer(da, hs[t])
            dU[:, X[t]] += da
            db += da
            dnext = W.T @ da
        for p, g, mem in zip(P, (dU, dW, db, dV, dc), M):
            np.clip(g, -5, 5, out=g)
            mem += g * g
            p -= eta * g / np.sqrt(mem + 1e-8)
        hprev, e = hs[-1], e + T
    return dict(zip("UWbVc", P))


def test_training_matches_the_textbook_sheet_loop():
    """handgrad's batched BPTT, SequenceBatches, state reset and clipped AdaGrad take the same 30
    steps (over three epochs of a short text) as the step-by-step loop of the sheet."""
    from handgrad.schedules import Constant
    from handgrad.charrnn import ResetState
    from handgrad.training import Trainer

    text = (REPEATED * 12)[:300]
    chars = sorted(set(text))
    d = np.array([chars.index(ch) for ch in text])
    K, T = len(chars), 25
    model = char_rnn(K, 8, std=0.1, rng=np.random.default_rng(4), dtype=np.float64)
    start = model.copy_params()
    trainer = Trainer(model, optimizer=AdaGrad(clip=5.0), schedule=Constant(0.1), n_batch=1,
                      batches=SequenceBatches(len(d) - 1, T, 1), callbacks=[ResetState()],
                      evaluate_train=False, stop_on_divergence=False)
    assert trainer.batches.steps_per_epoch == 11
    trainer.fit(d[:-1], d[1:], n_updates=30)
    expected = _textbook_sheet_loop(start, d, K, T, 30)
    for k, v in expected.items():
        np.testing.assert_allclose(model.rnn.params[k], v, rtol=1e-9, atol=1e-12)


def test_reproduce_rnn_quick_renders_the_samples(tmp_path, monkeypatch):
    """``handgrad reproduce rnn --quick`` on a fake book: the report shows the samples and the passage;
    a samples.json that is not a list of samples is one clear error naming it."""
    words = ("harry", "ron", "hermione", "said", "the", "wand", "Dumbledore", "Goblet", "of", "Fire.")
    (tmp_path / "data" / "text").mkdir(parents=True)
    text = " ".join(np.random.default_rng(0).choice(words, 15_000)) + "\n"
    (tmp_path / "data" / "text" / "goblet_book.txt").write_text(text, encoding="utf-8")
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path / "data"))
    out = tmp_path / "rep"
    r = runner.invoke(app, ["reproduce", "rnn", "--quick", "--jobs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    md = (out / "rnn" / "report.md").read_text(encoding="utf-8")
    assert "samples during training" in md and "passage from the best model" in md
    assert "| 1,000 |" in md or "| best model (update" in md
    (out / "rnn" / "runs" / "goblet" / "samples.json").write_text('{"step": 1}', encoding="utf-8")
    r = runner.invoke(app, ["reproduce", "rnn", "--quick", "--jobs", "1", "--out", str(out)])  # re-renders
    assert r.exit_code == 2 and "samples.json should hold a JSON list" in r.output
