"""Issue 12: batch normalisation, k-layer MLPs with it, their gradient checks, saving and configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from handgrad import modelfile, tasks
from handgrad.tasks import runs
from handgrad.cli import app
from handgrad.config import load_config
from handgrad.gradcheck import check_model, numerical_gradient, relative_error
from handgrad.model import Sequential as Model
from handgrad.networks import mlp
from handgrad.nn import BatchNorm, Dense, Dropout, ReLU

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "bn"


@pytest.fixture
def fake_data(fake_cifar_with):
    return fake_cifar_with(n_per_batch=40, seed=3)


def _layer(rng, d=6) -> BatchNorm:
    bn = BatchNorm(d, dtype=np.float64)
    bn.params["gamma"] = rng.uniform(0.5, 1.5, d)
    bn.params["beta"] = rng.normal(0, 0.5, d)
    return bn


# -- the layer ---------------------------------------------------------------------------------
def test_training_forward_normalises_with_the_batch_statistics(rng):
    bn = _layer(rng)
    x = rng.normal(3.0, 2.0, (50, 6))
    y = bn.forward(x, train=True)
    xhat = (y - bn.params["beta"]) / bn.params["gamma"]
    assert np.allclose(xhat.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(xhat.var(axis=0), x.var(axis=0) / (x.var(axis=0) + bn.eps))  # biased variance, 1/n


@pytest.mark.parametrize("train", [True, False])
def test_backward_matches_finite_differences_and_assigns(rng, train):
    bn = _layer(rng)
    bn.forward(rng.normal(size=(30, 6)), train=True)  # running statistics for evaluation mode
    x = rng.normal(1.0, 2.0, (9, 6))
    dy = rng.normal(size=(9, 6))
    bn.forward(x, train=train)
    dx = bn.backward(dy)
    first = {k: v.copy() for k, v in bn.grads.items()}
    assert np.array_equal(dx, bn.backward(dy))  # assigns: a second call gives the same result
    assert all(np.array_equal(first[k], bn.grads[k]) for k in first)

    def f():
        return np.sum(bn.forward(x, train=train) * dy)

    for k, p in bn.params.items():
        assert relative_error(first[k], numerical_gradient(f, p)).max() < 1e-7, k
    assert relative_error(dx, numerical_gradient(f, x)).max() < 1e-7


def test_forward_is_complex_step_safe(rng):
    """Plain arithmetic only: a complex step through the training forward pass gives the
    derivative to machine precision (what a complex-step gradient check relies on)."""
    bn = _layer(rng)
    x = rng.normal(size=(8, 6))
    dy = rng.normal(size=(8, 6))
    bn.forward(x, train=True)
    dx = bn.backward(dy)
    h = 1e-30
    for i, j in [(0, 0), (3, 2), (7, 5)]:
        xc = x.astype(np.complex128)
        xc[i, j] += 1j * h
        deriv = np.sum(bn.forward(xc, train=True) * dy).imag / h
        assert deriv == pytest.approx(dx[i, j], rel=1e-12, abs=1e-15)
    assert bn.buffers["mean"].dtype == np.float64  # running averages stay real


def test_running_averages_start_from_the_first_batch_then_decay(rng):
    bn = BatchNorm(4, alpha=0.9, dtype=np.float64)
    x1, x2 = rng.normal(2.0, 3.0, (20, 4)), rng.normal(-1.0, 0.5, (20, 4))
    bn.forward(x1, train=True)
    assert np.allclose(bn.buffers["mean"], x1.mean(0)) and np.allclose(bn.buffers["var"], x1.var(0))
    bn.forward(x2, train=True)
    assert np.allclose(bn.buffers["mean"], 0.9 * x1.mean(0) + 0.1 * x2.mean(0))
    assert np.allclose(bn.buffers["var"], 0.9 * x1.var(0) + 0.1 * x2.var(0))
    assert int(bn.buffers["count"]) == 2
    # evaluation uses the running averages and leaves them alone
    before = {k: v.copy() for k, v in bn.buffers.items()}
    x3 = rng.normal(size=(5, 4))
    y = bn.forward(x3, train=False)
    assert np.allclose(y, (x3 - before["mean"]) / np.sqrt(before["var"] + bn.eps))
    assert all(np.array_equal(before[k], bn.buffers[k]) for k in before)


def test_bad_hyper_parameters_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        BatchNorm(3, alpha=1.0)
    with pytest.raises(ValueError, match="eps"):
        BatchNorm(3, eps=0.0)


# -- k-layer networks --------------------------------------------------------------------------
@pytest.mark.parametrize("position", ["before", "after"])
def test_mlp_layout_with_batch_norm(position):
    model = mlp(12, [8, 7, 6], 4, init="he", batch_norm=True, bn_position=position, dropout=0.8,
                rng=np.random.default_rng(0))
    kinds = [type(l).__name__ for l in model.layers]
    block = ["Dense", "BatchNorm", "ReLU"] if position == "before" else ["Dense", "ReLU", "BatchNorm"]
    assert kinds == [*block, "Dropout"] * 3 + ["Dense"]  # no batch norm on the last layer
    dense = [l for l in model.layers if isinstance(l, Dense)]
    # the sheet's b before batch norm cancels in s - mu: those layers have none
    assert [("b" in l.params) for l in dense] == [position == "after"] * 3 + [True]
    assert [l.d for l in model.layers if isinstance(l, BatchNorm)] == [8, 7, 6]


def test_fixed_sigma_initialisation():
    model = mlp(2000, [300, 300], 10, init="he", std=1e-3, rng=np.random.default_rng(0))
    for layer in (l for l in model.layers if isinstance(l, Dense)):
        assert layer.params["W"].std() == pytest.approx(1e-3, rel=0.05)
        assert np.all(layer.params["b"] == 0)


def _complex_step_grads(model, X, y, h=1e-30):
    """Reference gradients of the training cost by the complex step, Im J(theta + ih) / h: no
    difference of two costs, so no cancellation (centred differences of a batch-norm net's cost
    bottom out near 1e-11 absolute, which the 1e-6 relative bound cannot absorb at tiny entries)."""
    real = model.copy_params()
    for _, layer, k in model.named_params():  # all complex, so in-place adds keep their dtype
        layer.params[k] = layer.params[k].astype(np.complex128)
    out = {}
    for name, layer, k in model.named_params():
        p = layer.params[k]
        g = np.zeros(p.shape)
        for i in np.ndindex(p.shape):
            p[i] += 1j * h
            g[i] = model.cost_terms(X, y, train=True).sum().imag / h
            p[i] = real[name][i]
        out[name] = g
    for name, layer, k in model.named_params():
        layer.params[k] = real[name]
    return out


@pytest.mark.parametrize("hidden", [[9], [9, 8], [9, 8, 7]])
@pytest.mark.parametrize("position", ["before", "after"])
def test_gradients_of_every_parameter_in_training_mode(hidden, position):
    """2-, 3- and 4-layer nets (small; the CLI checks the sheet's 50-unit nets on the data)."""
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((15, 6)), rng.integers(0, 5, 15)
    model = mlp(6, hidden, 5, init="he", lam=0.05, batch_norm=True, bn_position=position,
                rng=np.random.default_rng(2)).astype(np.float64)
    for _, layer, k in model.named_params():  # away from the initial values, to exercise every term
        layer.params[k] = layer.params[k] + 0.1 * rng.standard_normal(layer.params[k].shape)
    assert model.uses_batch_stats
    model.loss_and_grads(X, y, train=True)
    analytic = {name: layer.grads[k].copy() for name, layer, k in model.named_params()}
    reference = _complex_step_grads(model, X, y)
    assert {n.split(".")[1] for n in analytic} == {"W", "b", "gamma", "beta"}
    assert len([n for n in analytic if n.endswith("gamma")]) == len(hidden)
    for name in analytic:
        assert relative_error(analytic[name], reference[name]).max() < 1e-6, name
    # and the centred differences of ``check_model`` (training mode chosen for batch norm) agree
    # to the precision they can reach
    assert max(r.max_rel for r in check_model(model, X, y)) < 1e-4


def test_evaluation_mode_gradients_are_those_of_the_frozen_statistics(rng):
    """check_model(train=False) differentiates the evaluation cost (running statistics as constants)."""
    X, y = rng.standard_normal((12, 8)), rng.integers(0, 5, 12)
    model = mlp(8, [9], 5, init="he", batch_norm=True, rng=np.random.default_rng(1)).astype(np.float64)
    model.forward(rng.standard_normal((40, 8)), train=True)
    assert max(r.max_rel for r in check_model(model, X, y, train=False)) < 1e-7


# -- state: snapshots, best checkpoints, saved models ------------------------------------------
def test_copy_and_set_state_include_the_running_statistics(rng):
    model = mlp(6, [5], 3, batch_norm=True, rng=np.random.default_rng(0))
    model.forward(rng.standard_normal((10, 6)).astype(np.float32), train=True)
    state = model.copy_state()
    assert set(state["buffers"]) == {"1.mean", "1.var", "1.count"}
    X = rng.standard_normal((4, 6)).astype(np.float32)
    before = model.scores(X)
    model.forward(rng.normal(5.0, 3.0, (10, 6)).astype(np.float32), train=True)  # moves the averages
    assert not np.allclose(model.scores(X), before)
    model.set_state(state)
    assert np.array_equal(model.scores(X), before)


def test_saved_model_keeps_gamma_beta_and_running_statistics(fake_data, tmp_path):
    cfg = load_config(CONFIGS / "3layer-bn.toml", {"data.n_val": 20, "train.n_s": 6, "train.n_cycles": 1,
                                                  "model.hidden": [16, 12], "train.n_batch": 10})
    metrics = runs.run(cfg, tmp_path / "run", progress=False, figures=False)
    model, extra, meta = modelfile.load(tmp_path / "run")
    data = tasks.load_data(cfg)
    bns = [l for l in model.layers if isinstance(l, BatchNorm)]
    assert len(bns) == 2 and all(int(l.buffers["count"]) == 12 for l in bns)
    with np.load(tmp_path / "run" / "model.npz") as z:
        assert {"param/1.gamma", "param/1.beta", "buffer/1.mean", "buffer/1.var"} <= set(z.files)
    assert not np.allclose(bns[0].buffers["var"], 1.0)  # trained statistics, not the defaults
    for split in ("train", "val", "test"):
        X, yv = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
        assert model.evaluate(X, yv)["accuracy"] == metrics[f"{split}_accuracy"]


def test_snapshot_ensemble_and_keep_best_restore_the_statistics(fake_data, tmp_path):
    cfg = load_config(CONFIGS / "3layer-bn.toml", {
        "data.n_val": 20, "train.n_s": 4, "train.n_cycles": 2, "model.hidden": [10], "train.n_batch": 10,
        "train.snapshot_ensemble": True, "train.keep_best": True, "train.records_per_cycle": 2})
    data = tasks.load_data(cfg)
    fitted = runs.train(cfg, data, progress=False)
    assert len(fitted.snapshots) == 2 and all("1.mean" in s["buffers"] for s in fitted.snapshots)
    best = fitted.history.best_step
    assert fitted.history["val_accuracy"][fitted.history["step"].index(best)] == \
        fitted.model.evaluate(data.X_val, data.y_val)["accuracy"]


# -- configs and the command line --------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.toml")))
def test_bn_configs_validate(name):
    cfg = load_config(CONFIGS / f"{name}.toml")
    assert cfg.model.kind == "mlp" and cfg.data.split == "all"


@pytest.mark.parametrize("name,n_s,n_updates", [("3layer", 2250, 9000), ("3layer-bn", 2250, 9000),
                                                ("9layer", 2250, 9000), ("9layer-bn", 2250, 9000)])
def test_sheet_setting(name, n_s, n_updates):
    cfg = load_config(CONFIGS / f"{name}.toml")
    assert (cfg.data.n_val, cfg.train.n_batch, cfg.train.lam, cfg.train.sampling) == (5000, 100, 0.005, "shuffle")
    p = tasks.plan(cfg.train, 45_000, 45_000)
    assert (p.n_s, p.n_updates) == (n_s, n_updates)
    assert cfg.model.batch_norm == name.endswith("-bn")


def test_gradcheck_cli_on_a_bn_config(fake_data):
    res = CliRunner().invoke(app, ["gradcheck", str(CONFIGS / "3layer-bn.toml"), "--set", "data.n_val=20",
                                   "--set", "gradcheck.batch_sizes=[10]", "--set", "gradcheck.hidden=[8, 6]",
                                   "--set", "gradcheck.n_dims=10", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    params = {r["param"] for c in out["cases"] for r in c["rows"]}
    assert params == {"0.W", "1.gamma", "1.beta", "3.W", "4.gamma", "4.beta", "6.W", "6.b"}
    assert out["passed"]


def test_unknown_bn_position_is_a_config_error(fake_data):
    res = CliRunner().invoke(app, ["train", str(CONFIGS / "3layer-bn.toml"), "--set", "model.bn_position=middle"])
    assert res.exit_code == 2 and "model.bn_position" in res.output


def test_model_from_config_round_trip(rng):
    model = mlp(6, [5, 4], 3, batch_norm=True, bn_position="after", bn_alpha=0.8, bn_eps=1e-5,
                rng=np.random.default_rng(0))
    model.forward(rng.standard_normal((10, 6)).astype(np.float32), train=True)
    again = Model.from_config(json.loads(json.dumps(model.config())), model.get_params(), model.get_buffers())
    assert [type(l) for l in again.layers] == [Dense, ReLU, BatchNorm, Dense, ReLU, BatchNorm, Dense]
    assert (again.layers[2].alpha, again.layers[2].eps) == (0.8, 1e-5)
    X = rng.standard_normal((3, 6)).astype(np.float32)
    assert np.array_equal(again.scores(X), model.scores(X))
    assert not any(isinstance(l, Dropout) for l in again.layers)


def test_sensitivity_search_draws_the_loss_curves_side_by_side(fake_data, tmp_path):
    res = CliRunner().invoke(app, ["search", str(CONFIGS / "sensitivity.toml"), "--keep-runs", "--out",
                                   str(tmp_path / "s"), "--set", "data.n_val=20", "--set", "train.n_s=3",
                                   "--set", "train.n_cycles=1", "--set", "model.hidden=[8]",
                                   "--set", "train.records_per_cycle=2"])
    assert res.exit_code == 0, res.output
    records = json.loads((tmp_path / "s" / "results.json").read_text())
    assert sorted((r["overrides"]["model.std"], r["overrides"]["model.batch_norm"]) for r in records) == \
        sorted((s, b) for s in (1e-1, 1e-3, 1e-4) for b in (False, True))
    assert (tmp_path / "s" / "loss_curves.png").stat().st_size > 10_000


def test_bn_family_is_registered_with_shipped_configs():
    from handgrad import families

    fam = families.get("bn")
    names = families.names()
    assert names.index("mlp") < names.index("bn")
    kinds = {e.kind for e in fam.experiments}
    assert kinds == {"gradcheck", "run", "repeat", "search"}
    # one seed's test accuracy moves by about 0.4 points: the 3-layer nets are judged on 10 seeds' mean
    three = {e.id: e for e in fam.experiments if e.id in ("bn-3layer", "bn-3layer-bn", "bn-3layer-bn-tuned")}
    assert len(three) == 3
    for e in three.values():
        assert (e.kind, e.repeat) == ("repeat", 10)
        assert {t.key for t in e.targets} == {"test_accuracy_mean"}
    for e in fam.experiments:
        load_config(CONFIGS.parent / e.config)  # every experiment's config exists and validates
    gc = [load_config(CONFIGS.parent / e.config).gradcheck.hidden for e in fam.experiments if e.kind == "gradcheck"]
    assert sorted(len(h) + 1 for h in gc) == [2, 3, 4]  # 2-, 3- and 4-layer nets
    assert next(e for e in fam.experiments if e.id == "bn-sensitivity").extra("keep_runs")


@pytest.mark.parametrize("change,message", [
    (lambda b: b.pop("1.var"), "buffer var is missing"),
    (lambda b: b.update({"1.var": -np.ones(5, np.float32)}), "negative"),
    (lambda b: b.update({"1.mean": np.full(5, np.nan, np.float32)}), "NaN"),
    (lambda b: b.update({"1.mean": np.zeros(4, np.float32)}), "shape"),
    (lambda b: b.update({"7.mean": np.zeros(5, np.float32)}), "buffers the layers do not have"),
])
def test_bad_saved_buffers_are_named(rng, change, message):
    from handgrad.errors import HandgradError

    model = mlp(6, [5], 3, batch_norm=True, rng=np.random.default_rng(0))
    model.forward(rng.standard_normal((10, 6)).astype(np.float32), train=True)
    buffers = {k: v.copy() for k, v in model.get_buffers().items()}
    change(buffers)
    with pytest.raises(HandgradError, match=message):
        modelfile.build(model.config(), model.get_params(), buffers, source="model.npz")
