"""The ConvNet pipeline end to end: surnames data -> train -> run folder -> predict, on a tiny data set
in the course format written here (and, marked ``realdata``, short runs on the real course files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fakes import SURNAME_CLASSES, SURNAME_N_VAL, SURNAME_PER_CLASS, make_fake_surnames
from handgrad import tasks
from handgrad.tasks import gradchecks, runs
from handgrad.cli import app
from handgrad.config import load_config
from handgrad.errors import HandgradError

runner = CliRunner()  # result.stdout and result.stderr are separate; result.output has both
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "convnet"

CLASSES = list(SURNAME_CLASSES)
PER_CLASS = list(SURNAME_PER_CLASS)
N_VAL = SURNAME_N_VAL


@pytest.fixture
def tiny_surnames(tmp_path, monkeypatch):
    """HANDGRAD_DATA with a surnames/ folder in the course format (4 classes, 5 validation names each)."""
    root = tmp_path / "data"
    make_fake_surnames(root)
    monkeypatch.setenv("HANDGRAD_DATA", str(root))
    return root


def _config(tmp_path, text: str = "") -> Path:
    p = tmp_path / "convnet.toml"
    p.write_text(
        'name = "tiny-convnet"\n[data]\ndataset = "surnames"\n'
        '[model]\nkind = "convnet"\nconvs = [[3, 8], [3, 8]]\n'
        '[train]\noptimizer = "momentum"\neta = 0.01\nn_batch = 20\nn_updates = 300\nrecord_every = 100\n'
        'sampling = "balanced"\nkeep_best = true\nbest_metric = "val_balanced_accuracy"\n'
        '[gradcheck]\nconvs = [[5, 5], [5, 5]]\nbatch_sizes = [3]\nlambdas = [0.0]\n' + text)
    return p


# -- data ----------------------------------------------------------------------------------------
def test_prepare_surnames_gives_index_inputs_and_meta(tiny_surnames, tmp_path):
    data = tasks.load_data(load_config(_config(tmp_path)))
    assert np.issubdtype(data.X_train.dtype, np.integer) and data.X_train.shape == (len(data.y_train), 18)
    assert len(data.y_val) == 4 * N_VAL and data.classes == tuple(CLASSES)
    m = data.meta
    assert m["dataset"] == "surnames" and m["n_len"] == 18 and m["d"] == len(m["alphabet"])
    assert " " in m["alphabet"] and "'" in m["alphabet"] and m["input"] == "indices"
    assert m["train_class_counts"] == [n - N_VAL for n in PER_CLASS[:2]] + [PER_CLASS[2] + 1 - N_VAL,
                                                                            PER_CLASS[3] - N_VAL]
    json.dumps(m)  # saved in model.json


def test_tutorial_source_and_fallback(tiny_surnames, tmp_path, monkeypatch):
    from handgrad.datasets.names import tutorial as sn
    from handgrad.datasets.names.files import load_surnames

    fake = load_surnames(tiny_surnames / "surnames")
    fake.source = "tutorial (stub)"
    calls = []
    monkeypatch.setattr(sn, "load_tutorial_names", lambda seed=0, cache_dir=None: calls.append(seed) or fake)
    cfg = load_config(_config(tmp_path), {"data.source": "tutorial"})
    assert tasks.load_data(cfg).meta["source"] == "tutorial (stub)" and calls == [0]
    tasks._cache.clear()
    empty = tmp_path / "nosurnames"
    empty.mkdir()
    monkeypatch.setenv("HANDGRAD_DATA", str(empty))
    with pytest.warns(UserWarning, match="no surnames/ folder"):
        tasks.load_data(load_config(_config(tmp_path)))
    assert calls == [0, 0]


# -- training, run folder, predict ----------------------------------------------------------------
def test_train_run_folder_and_predict(tiny_surnames, tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", str(_config(tmp_path)), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "val_balanced_accuracy" in r.output
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["val_per_class_accuracy"]) == set(CLASSES)
    assert m["val_balanced_accuracy"] == pytest.approx(np.mean(list(m["val_per_class_accuracy"].values())))
    assert m["val_balanced_accuracy"] >= 0.6  # chance is 0.25: the toy languages are easy
    assert m["best_step"] % 100 == 0
    for f in ("learning_curves.png", "confusion_val.png", "class_distribution.png"):
        assert (out / "figures" / f).stat().st_size > 1000
    table = (out / "per_class_accuracy.md").read_text()
    assert all(c in table for c in CLASSES) and "balanced accuracy" in table
    hist = json.loads((out / "history.json").read_text())
    assert "val_balanced_accuracy" in json.dumps(hist)

    # the table: classes as rows, names as columns, a last row with the predictions
    r = runner.invoke(app, ["predict", str(out), "Ivanov", "Ramirez", "mclean", "dakkin"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["class", "Ivanov", "Ramirez", "mclean", "dakkin"]
    assert [ln.split()[0] for ln in lines[1:-1]] == CLASSES
    assert lines[-1].split()[0] == "predicted"
    assert sum(a == b for a, b in zip(lines[-1].split()[1:], CLASSES)) >= 3  # toy names, mostly right
    assert sum(ln.count("*") for ln in lines) == 4  # one starred (predicted) probability per name

    r = runner.invoke(app, ["predict", str(out), "Ivanov", "abcdeiklmnorstuvzabcdeov", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert [x["name"] for x in res] == ["Ivanov", "abcdeiklmnorstuvzabcdeov"]
    assert all(sum(x["probabilities"].values()) == pytest.approx(1, abs=1e-5) for x in res)
    assert res[0]["predicted"] == max(res[0]["probabilities"], key=res[0]["probabilities"].get)
    assert [x["truncated"] for x in res] == [False, True] and res[1]["encoded"] == "abcdeiklmnorstuvza"
    assert "longer than" in r.stderr and "first 18" in r.stderr

    from handgrad.predict import predict_names

    # float32 scores of a name may differ in the last bits with the rest of its batch (BLAS blocking)
    assert predict_names(out, ["ivanov"])[0]["probabilities"] == pytest.approx(res[0]["probabilities"], rel=1e-5)
    with pytest.raises(HandgradError, match="alphabet"):
        predict_names(out, ["ivan-ov"])
    assert predict_names(out, ["Ívanöv"], fold=True)[0]["encoded"] == "ivanov"


@pytest.mark.parametrize("name, shown", [("ivan-ov", "'-'"), ("Müller", "'ü'"), ("o9", "'9'")])
def test_predict_unknown_character_is_a_clear_error(tiny_surnames, tmp_path, name, shown):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", str(_config(tmp_path)), "--set", "train.n_updates=5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["predict", str(out), "ivanov", name])
    assert r.exit_code == 2
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    msg = r.stderr
    assert shown in msg and "alphabet" in msg and "abcdeik" in msg  # the alphabet is listed
    assert "␣" in msg and "␣ is the space" in msg  # the alphabet's space is visible
    # the hint fits the character: --fold helps accented letters only; a digit is just not a letter
    assert ("--fold" in msg) == (name == "Müller")
    assert ("digits are not in the alphabet" in msg) == (name == "o9")


def test_predict_rejects_a_non_convnet_folder(tmp_path):
    r = runner.invoke(app, ["predict", str(tmp_path / "nope"), "lee"])
    assert r.exit_code == 2 and "does not exist" in r.output + getattr(r, "stderr", "")


@pytest.mark.parametrize("impl", ["a", "ab", "mfmx"])
def test_reference_impls_train_like_fast(tiny_surnames, tmp_path, impl):
    """impl a/ab precompute the first layer's sparse MX on the index inputs; all impls agree."""
    base = load_config(_config(tmp_path), {"train.n_updates": 10, "train.record_every": 5,
                                           "train.dtype": "float64"})
    data = tasks.load_data(base)
    fast = runs.train(base, data, progress=False)
    other_cfg = base.model_copy(update={"model": base.model.model_copy(update={"impl": impl})})
    other = runs.train(other_cfg, data, progress=False)
    if impl in ("a", "ab"):
        assert len(other.model.layers[0]._mx_cache) > 0
    for k, v in fast.model.get_params().items():
        np.testing.assert_allclose(other.model.get_params()[k], v, rtol=1e-9, atol=1e-12)


def test_padding_same_bias_and_three_layers(tiny_surnames, tmp_path):
    cfg = load_config(_config(tmp_path), {"model.padding": "same", "model.bias": True,
                                          "model.convs": [[3, 6], [3, 6], [3, 6]], "train.n_updates": 20})
    fitted = runs.train(cfg, tasks.load_data(cfg), progress=False)
    assert fitted.model.layers[0].padding == 1 and "b" in fitted.model.layers[0].params
    r = runner.invoke(app, ["gradcheck", str(_config(tmp_path)), "--set", "model.padding=same",
                            "--set", "model.bias=true", "--set", "gradcheck.convs=[[3,4],[3,4],[3,4]]"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", str(_config(tmp_path)), "--set", "model.padding=valid"])
    assert r.exit_code == 2 and "padding" in r.output + getattr(r, "stderr", "")


# -- gradient check ----------------------------------------------------------------------------------
def test_gradcheck_cli_on_convnet_config(tiny_surnames, tmp_path):
    r = runner.invoke(app, ["gradcheck", str(_config(tmp_path)), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["passed"] and res["tolerance"] == 1e-6
    (case,) = res["cases"]
    assert case["batch_size"] == 3
    rows = {row["param"]: row for row in case["rows"]}
    assert set(rows) == {"0.F", "2.F", "4.W"} and all(r["max_rel"] < 1e-6 for r in case["rows"])
    assert rows["0.F"]["shape"][1:] == [5, 5] and rows["2.F"]["shape"] == [5, 5, 5]


@pytest.mark.parametrize("name", ["small-balanced", "small-unbalanced", "final", "best"])
def test_shipped_configs(name, tiny_surnames, tmp_path):
    cfg = load_config(CONFIGS / f"{name}.toml")
    assert cfg.data.dataset == "surnames" and cfg.model.kind == "convnet"
    assert cfg.train.optimizer == "momentum" and cfg.train.n_batch == 100 and cfg.train.record_every == 500
    assert cfg.train.keep_best and cfg.train.best_metric == "val_balanced_accuracy"
    assert cfg.gradcheck.convs == [(5, 5), (5, 5)] and cfg.gradcheck.batch_sizes == [3]
    if name != "best":
        assert cfg.train.eta == 0.001 and cfg.train.rho == 0.9
        assert cfg.train.n_updates == 20000 and not cfg.model.bias and cfg.model.padding == 0
        assert cfg.train.sampling == ("shuffle" if name == "small-unbalanced" else "balanced")
        assert cfg.model.convs == ([(5, 100), (3, 100)] if name == "final" else [(5, 20), (3, 20)])
    # runs end to end (a few updates) on the tiny data
    c = load_config(CONFIGS / f"{name}.toml", {"train.n_updates": 3, "train.record_every": 3})
    m = runs.run(c, None, progress=False)
    assert 0 <= m["val_balanced_accuracy"] <= 1


# -- real data (HANDGRAD_DATA with the course files) -----------------------------------------------
def _real_surnames() -> bool:
    root = os.environ.get("HANDGRAD_DATA")
    return bool(root) and (Path(root) / "surnames" / "ascii_names.txt").is_file()


@pytest.mark.realdata
def test_realdata_prepare_and_gradcheck():
    if not _real_surnames():
        pytest.skip("HANDGRAD_DATA has no surnames/")
    cfg = load_config(CONFIGS / "small-balanced.toml")
    data = tasks.load_data(cfg)
    assert data.X_train.shape == (19798, 19) and data.X_val.shape == (252, 19)
    assert data.meta["d"] == 28 and data.meta["alphabet"] == " '" + "abcdefghijklmnopqrstuvwxyz"
    assert np.bincount(data.y_val).tolist() == [14] * 18 and min(data.meta["train_class_counts"]) == 59
    cases = gradchecks.gradcheck_cases(cfg)
    assert [r["param"] for r in cases[0]["rows"]] == ["0.F", "2.F", "4.W"]
    assert cases[0]["max_rel"] < 1e-6


@pytest.mark.realdata
def test_realdata_short_balanced_run_beats_chance():
    if not _real_surnames():
        pytest.skip("HANDGRAD_DATA has no surnames/")
    cfg = load_config(CONFIGS / "small-balanced.toml", {"train.n_updates": 3000, "train.record_every": 500})
    m = runs.run(cfg, None, progress=False)
    assert m["val_balanced_accuracy"] > 0.2  # chance is 1/18 = 0.056 (the full 20k-update run: 0.46)
