"""handgrad as a library: the front door (``import handgrad as hg``) as a notebook meets it.

Short scripts that use only the public API give exactly what ``handgrad train`` gives for the same
config and seed; layers work on their own; the gradient checks work on a layer a user writes; the
core imports nothing but NumPy.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import handgrad as hg
from handgrad.cli import app

runner = CliRunner()
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _cli_metrics(tmp_path, config, *sets) -> dict:
    out = tmp_path / Path(config).stem
    r = runner.invoke(app, ["train", str(CONFIGS / config), *sum((["--set", s] for s in sets), []), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return json.loads((out / "metrics.json").read_text())


def _accuracies(model, data) -> dict:
    return {f"{p}_accuracy": model.evaluate(getattr(data, f"X_{p}"), getattr(data, f"y_{p}"))["accuracy"]
            for p in ("train", "val", "test")}


# -- the scripts ---------------------------------------------------------------------------------
def report_004_setting_2():
    """Report 004's setting 2 (configs/linear/setting2.toml), in 7 lines of the public API."""
    data = hg.datasets.cifar10(split="a1")
    rng = hg.Rngs(seed=0)
    model = hg.Sequential([hg.Dense(3072, 10, rng=rng.init)], loss=hg.CrossEntropy(), lam=0.0)
    hg.fit(model, data.X_train, data.y_train, (data.X_val, data.y_val), optimizer=hg.SGD(),
           schedule=hg.Constant(0.001), n_batch=100, n_epochs=40, rng=rng.train)
    return _accuracies(model, data)


def sheet_figure_3():
    """The A2 sheet's figure 3 (configs/mlp/sheet-fig3.toml): one cycle of the cyclical learning rate."""
    data = hg.datasets.cifar10(split="a1")
    rng = hg.Rngs(seed=0)
    model = hg.Sequential([hg.Dense(3072, 50, init="fan_in", rng=rng.init), hg.ReLU(),
                           hg.Dense(50, 10, init="fan_in", rng=rng.init)], loss=hg.CrossEntropy(), lam=0.01)
    hg.fit(model, data.X_train, data.y_train, (data.X_val, data.y_val), optimizer=hg.SGD(),
           schedule=hg.Cyclical(1e-5, 1e-1, n_s=500), n_batch=100, n_updates=1000, record_every=100,
           rng=rng.train)
    return _accuracies(model, data)


def _script_lines(fn) -> int:
    body = inspect.getsource(fn).split('"""')[-1]
    return len([line for line in body.splitlines() if line.strip()])


@pytest.mark.parametrize("script, config", [(report_004_setting_2, "linear/setting2.toml"),
                                            (sheet_figure_3, "mlp/sheet-fig3.toml")])
def test_a_short_script_gives_exactly_what_the_command_gives(fake_cifar, tmp_path, script, config):
    assert _script_lines(script) <= 15
    cli = _cli_metrics(tmp_path, config)
    assert script() == {k: cli[k] for k in ("train_accuracy", "val_accuracy", "test_accuracy")}


@pytest.mark.realdata
@pytest.mark.parametrize("script, config", [(report_004_setting_2, "linear/setting2.toml"),
                                            (sheet_figure_3, "mlp/sheet-fig3.toml")])
def test_on_the_real_data_too(tmp_path, script, config):
    cli = _cli_metrics(tmp_path, config)
    assert script() == {k: cli[k] for k in ("train_accuracy", "val_accuracy", "test_accuracy")}


def test_a_char_rnn_trained_and_sampled_in_python_writes_what_handgrad_sample_writes(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("THE CAT\n" + "the cat sat on the mat. the dog sat on the log. " * 40)
    cfg = tmp_path / "rnn.toml"
    cfg.write_text(f'[data]\ndataset = "text"\npath = "{book}"\nn_val = 300\n[model]\nkind = "rnn"\nm = 16\n'
                   '[train]\noptimizer = "adagrad"\neta = 0.1\nclip = 5.0\nn_batch = 1\nn_updates = 150\n'
                   'record_every = 50\nsample_every = 50\n')
    assert runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "run")]).exit_code == 0
    r = runner.invoke(app, ["sample", str(tmp_path / "run"), "--n", "120", "--seed", "7", "--prime", "the "])
    assert r.exit_code == 0, r.output

    data = hg.datasets.text(book, n_val=300)
    rng = hg.Rngs(seed=0)
    model = hg.char_rnn(data.alphabet, m=16, preamble=data.preamble, rng=rng.init)
    history = hg.fit_text(model, data, optimizer=hg.AdaGrad(clip=5.0), schedule=hg.Constant(0.1), n_updates=150,
                          record_every=50, sample_every=50, rng=rng.train, sample_rng=rng.sample)
    text = model.sample(120, np.random.default_rng(7), prime="the ")
    assert r.stdout == "the " + text + "\n"
    saved = json.loads((tmp_path / "run" / "samples.json").read_text())
    assert [s["text"] for s in saved] == [s["text"] for s in history.text["samples"]]


# -- the front door --------------------------------------------------------------------------------
def test_the_front_door_is_small_documented_and_complete():
    for name in hg.__all__:
        obj = getattr(hg, name)
        if callable(obj) or inspect.ismodule(obj):
            assert (obj.__doc__ or "").strip(), f"hg.{name} has no docstring"
    for name in ("Dense", "ReLU", "Dropout", "BatchNorm", "Conv1D", "GlobalMaxPool1D", "RNN", "CrossEntropy",
                 "MultiClassHinge", "MultiBCE", "SGD", "Momentum", "Nesterov", "AdaGrad", "Adam", "Constant",
                 "StepDecay", "ExponentialDecay", "Cyclical", "Sequential", "fit", "History", "Callback",
                 "check_gradients", "check_layer", "check_loss", "datasets", "plots"):
        assert name in hg.__all__ and name in dir(hg)
    assert {"cifar10", "surnames", "text"} <= set(hg.datasets.__all__)


CORE = ["handgrad", "handgrad.nn", "handgrad.losses", "handgrad.optim", "handgrad.schedules", "handgrad.model",
        "handgrad.networks", "handgrad.charrnn", "handgrad.training", "handgrad.callbacks", "handgrad.history",
        "handgrad.gradcheck", "handgrad.batches", "handgrad.rngs"]
FORBIDDEN = ["handgrad.config", "handgrad.readers", "handgrad.modelfile", "handgrad.tasks", "handgrad.io",
             "dask", "distributed", "fastapi", "typer", "pydantic", "matplotlib", "jinja2", "tqdm", "pooch",
             "scipy", "sklearn", "torch"]


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_numpy_and_nothing_of_the_pipeline(module):
    code = (f"import sys, {module}; print(' '.join(m for m in {FORBIDDEN!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing {module} loads {out}"


# -- layers on their own ---------------------------------------------------------------------------
LAYERS = [lambda dtype: hg.Dense(4, 3, dtype=dtype), lambda dtype: hg.ReLU(dtype=dtype),
          lambda dtype: hg.Dropout(0.5, dtype=dtype), lambda dtype: hg.BatchNorm(4, dtype=dtype),
          lambda dtype: hg.Conv1D(2, 2, 2, 3, dtype=dtype), lambda dtype: hg.GlobalMaxPool1D(2, 2, dtype=dtype),
          lambda dtype: hg.RNN(4, 3, dtype=dtype)]


@pytest.mark.parametrize("make", LAYERS)
def test_every_layer_takes_a_dtype_and_works_without_a_model(make):
    x = np.random.default_rng(0).standard_normal((5, 4))
    if isinstance(make(np.float32), hg.RNN):
        x = np.random.default_rng(0).integers(0, 4, (5, 3))
    for dtype in (np.float32, np.float64):
        layer = make(dtype)
        assert all(p.dtype == dtype for p in layer.params.values())
        y = layer(x if x.dtype.kind == "i" else x.astype(dtype), train=True)
        assert y.dtype == dtype
        layer.backward(np.ones_like(y))
        assert all(g.dtype == dtype for g in layer.grads.values())


def test_setting_float64_parameters_never_silently_casts_them():
    model = hg.Sequential([hg.Dense(4, 3)])
    W64 = np.ones((3, 4))
    with pytest.raises(hg.HandgradError, match="float64 but the model is float32"):
        model.set_params({"0.W": W64, "0.b": np.zeros(3)})
    model.astype(np.float64).set_params({"0.W": W64, "0.b": np.zeros(3)})
    assert model.layers[0].params["W"].dtype == np.float64 and (model.layers[0].params["W"] == 1).all()


def test_a_forward_pass_returns_the_scores_with_the_loss():
    rng = hg.Rngs(0)
    model = hg.Sequential([hg.Dense(4, 3, rng=rng.init)], loss=hg.MultiClassHinge(), lam=0.1)
    X, y = np.random.default_rng(1).standard_normal((6, 4)), np.arange(6) % 3
    scores, cost = model(X, y)
    assert scores.shape == (6, 3) and cost == pytest.approx(model.cost(X, y))
    assert np.array_equal(model(X), scores)


def test_the_rnn_gradient_of_its_initial_state_is_checked():
    rnn = hg.RNN(5, 4, std=0.5, rng=np.random.default_rng(0), dtype=np.float64)
    x, h0 = np.random.default_rng(1).integers(0, 5, (2, 3)), np.random.default_rng(2).standard_normal((2, 4))
    check = hg.check_layer(rnn, x, h0=h0)
    assert check.passed and "dh0" in [r.param for r in check.rows]
    assert "PASSED" in repr(check)


# -- a layer the user writes -----------------------------------------------------------------------
class LeakyReLU(hg.Layer):
    """y = x for x > 0, a x otherwise."""

    def __init__(self, a=0.01, dtype=np.float32, wrong=False):
        super().__init__(dtype)
        self.a, self.wrong = a, wrong

    def forward(self, x, train=False):
        self.cache = x
        return np.where(x.real > 0, x, self.a * x)

    def backward(self, dy):
        slope = np.where(self.cache > 0, 1.0, self.a if not self.wrong else -self.a)  # a planted sign error
        return dy * slope


def test_check_layer_passes_a_correct_user_layer_and_catches_a_planted_mistake():
    x = np.random.default_rng(0).standard_normal((4, 5))
    assert hg.check_layer(LeakyReLU(0.1), x).passed
    bad = hg.check_layer(LeakyReLU(0.1, wrong=True), x)
    assert not bad.passed and bad.rows[0].param == "dx" and "FAILED" in bad.table()


def test_check_loss_and_check_gradients():
    rng = np.random.default_rng(0)
    for loss in (hg.CrossEntropy(), hg.MultiClassHinge(), hg.MultiBCE()):
        assert hg.check_loss(loss, rng.standard_normal((5, 4)), rng.integers(0, 4, 5)).passed
    model = hg.mlp(6, [5], 3, lam=0.3, rng=rng)
    check = hg.check_gradients(model, rng.standard_normal((4, 6)), rng.integers(0, 3, 4))
    assert check.passed and [r.param for r in check.rows] == ["0.W", "0.b", "2.W", "2.b"]
    assert model.dtype == np.float32  # the check works on a float64 copy


@pytest.mark.parametrize("make", LAYERS)
def test_the_torch_oracle_agrees(make):
    pytest.importorskip("torch", reason="the torch oracle needs PyTorch (pip install torch==2.13.0)")
    rng = np.random.default_rng(3)
    layer = make(np.float64)
    x = rng.standard_normal((5, 4)) if not isinstance(layer, hg.RNN) else rng.integers(0, 4, (5, 3))
    inputs = {"h0": rng.standard_normal((5, 3))} if isinstance(layer, hg.RNN) else {}
    if isinstance(layer, hg.BatchNorm):
        layer.forward(rng.standard_normal((8, 4)), train=True)
    for train in (False, True):
        check = hg.check_layer(layer, x, train=train, oracle="torch", **inputs)
        assert check.passed, check.table()


def test_the_torch_oracle_on_losses_and_a_model():
    pytest.importorskip("torch", reason="the torch oracle needs PyTorch (pip install torch==2.13.0)")
    rng = np.random.default_rng(0)
    for loss in (hg.CrossEntropy(), hg.MultiClassHinge(), hg.MultiBCE()):
        assert hg.check_loss(loss, rng.standard_normal((5, 4)), rng.integers(0, 4, 5), oracle="torch").passed
    model = hg.mlp(6, [5], 3, lam=0.3, batch_norm=True, rng=rng)
    assert hg.check_gradients(model, rng.standard_normal((4, 6)), rng.integers(0, 3, 4), oracle="torch").passed
    with pytest.raises(ValueError, match="torch_forward"):
        hg.check_layer(LeakyReLU(), rng.standard_normal((2, 3)), oracle="torch")
    check = hg.check_layer(LeakyReLU(0.1), rng.standard_normal((2, 3)), oracle="torch",
                           torch_forward=lambda p, x, train: __import__("torch").where(x > 0, x, 0.1 * x))
    assert check.passed
