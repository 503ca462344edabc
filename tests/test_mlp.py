"""Issue 3: multi-layer perceptrons, the cyclical schedule, training plans and the shipped configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from handgrad import repeat, tasks
from handgrad.tasks import runs
from handgrad.cli import app
from handgrad.config import load_config
from handgrad.config.tables import ImageTrain as TrainConfig
from handgrad.gradcheck import check_model
from handgrad.networks import mlp
from handgrad.nn import Dense, Dropout
from handgrad.schedules import Cyclical

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "mlp"


@pytest.fixture
def fake_data(fake_cifar_with):
    return fake_cifar_with(n_per_batch=40, seed=3)


# -- gradients ---------------------------------------------------------------------------------
@pytest.mark.parametrize("hidden", [[7], [6, 5]])
@pytest.mark.parametrize("init", ["fan_in", "he", "xavier"])
@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_mlp_gradients_every_parameter(hidden, init, lam):
    rng = np.random.default_rng(1)
    d, K, n = 12, 4, 9
    X = rng.standard_normal((n, d))
    y = rng.integers(0, K, n)
    model = mlp(d, hidden, K, lam=lam, init=init, rng=np.random.default_rng(2)).astype(np.float64)
    # perturb the zero biases so the check also exercises them away from their starting value
    for _, layer, k in model.named_params():
        if k == "b":
            layer.params[k] = layer.params[k] + 0.1 * rng.standard_normal(layer.params[k].shape)
    rows = check_model(model, X, y, h=1e-5, method="centred")
    names = {r.param for r in rows}
    n_dense = len(hidden) + 1
    assert len(names) == 2 * n_dense  # W and b of every Dense layer
    for r in rows:
        assert r.max_rel < 1e-6, (r.param, r.max_rel)


def test_mlp_structure_and_l2_over_every_weight_matrix():
    model = mlp(10, [8, 6], 3, lam=0.5, dropout=0.8, rng=np.random.default_rng(0))
    dense = [l for l in model.layers if isinstance(l, Dense)]
    assert [l.params["W"].shape for l in dense] == [(8, 10), (6, 8), (3, 6)]
    assert sum(isinstance(l, Dropout) for l in model.layers) == 2
    assert model.l2() == pytest.approx(sum(float(np.sum(l.params["W"] ** 2)) for l in dense))
    # dropout off at evaluation: the cost is deterministic
    X = np.random.default_rng(1).standard_normal((5, 10))
    y = np.array([0, 1, 2, 0, 1])
    assert model.cost(X, y) == model.cost(X, y)


@pytest.mark.parametrize("init,expected", [
    ("fan_in", lambda fi, fo: np.sqrt(1 / fi)),
    ("he", lambda fi, fo: np.sqrt(2 / fi)),
    ("xavier", lambda fi, fo: np.sqrt(2 / (fi + fo))),
])
def test_init_std(init, expected):
    model = mlp(1500, [400], 10, init=init, rng=np.random.default_rng(0))
    dense = [l for l in model.layers if isinstance(l, Dense)]
    for layer in dense:
        fo, fi = layer.params["W"].shape
        assert layer.params["W"].std() == pytest.approx(expected(fi, fo), rel=0.03)
        assert abs(layer.params["W"].mean()) < 0.01 * expected(fi, fo) * 10
        assert np.all(layer.params["b"] == 0)


def test_default_mlp_init_is_fan_in():
    cfg = load_config(CONFIGS / "final.toml", {"model.init": None})
    assert cfg.model.init == "fan_in"


# -- schedule and plan -------------------------------------------------------------------------
def test_cyclical_values_at_key_steps():
    s = Cyclical(1e-5, 1e-1, 500)
    mid = (1e-5 + 1e-1) / 2
    expected = {0: 1e-5, 250: mid, 500: 1e-1, 750: mid, 1000: 1e-5, 1250: mid, 1500: 1e-1, 2000: 1e-5, 100: 1e-5 + 0.2 * (1e-1 - 1e-5)}
    for t, v in expected.items():
        assert s(t) == pytest.approx(v), t


def test_plan_cycles_and_records():
    tc = TrainConfig(schedule="cyclical", n_s=800, n_cycles=3, records_per_cycle=9)
    p = tasks.plan(tc, 10_000, 10_000)
    assert (p.n_s, p.n_updates, p.record_every, p.steps_per_epoch) == (800, 4800, 177, 100)
    # n_s from the factor: 2 * floor(45000 / 100)
    tc = TrainConfig(schedule="cyclical", n_s_factor=2, n_cycles=2)
    p = tasks.plan(tc, 45_000, 45_000)
    assert (p.n_s, p.n_updates) == (900, 3600)
    # lengths in updates or epochs also work with the cyclical schedule
    assert tasks.plan(TrainConfig(schedule="cyclical", n_s=500, n_updates=700), 10_000, 10_000).n_updates == 700
    assert tasks.plan(TrainConfig(schedule="cyclical", n_s=500, n_epochs=10), 10_000, 10_000).n_updates == 1000


@pytest.mark.parametrize("name,n_s,n_updates,n_train", [
    ("sheet-fig3", 500, 1000, 10_000), ("sheet-fig4", 800, 4800, 10_000), ("final", 980, 7840, 49_000)])
def test_shipped_config_lengths(name, n_s, n_updates, n_train):
    cfg = load_config(CONFIGS / f"{name}.toml")
    assert cfg.model.kind == "mlp" and cfg.train.schedule == "cyclical"
    p = tasks.plan(cfg.train, n_train, n_train)
    assert (p.n_s, p.n_updates) == (n_s, n_updates)
    assert 9 <= 2 * p.n_s / p.record_every <= 11  # ~10 records per cycle


@pytest.mark.parametrize("name", ["sheet-fig3", "sheet-fig4", "final", "search-coarse", "search-fine", "best"])
def test_all_mlp_configs_validate(name):
    load_config(CONFIGS / f"{name}.toml")


# -- on fake data ------------------------------------------------------------------------------
def test_cyclical_mlp_run_records_by_step(fake_data, tmp_path):
    cfg = load_config(CONFIGS / "sheet-fig3.toml", {"train.n_s": 10, "train.n_batch": 8, "model.hidden": [16]})
    m = runs.run(cfg, tmp_path / "run", progress=False)
    assert m["n_updates"] == 20
    hist = json.loads((tmp_path / "run" / "history.json").read_text())["columns"]
    assert hist["step"] == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert max(hist["lr"]) == pytest.approx(Cyclical(1e-5, 0.1, 10)(9))
    assert (tmp_path / "run" / "figures" / "learning_curves.png").exists()
    assert (tmp_path / "run" / "figures" / "learning_rate.png").exists()


def test_gradcheck_cli_on_final_config(fake_data):
    res = CliRunner().invoke(app, ["gradcheck", str(CONFIGS / "final.toml"), "--set", "data.n_val=20", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["passed"]
    params = {r["param"] for c in out["cases"] for r in c["rows"]}
    assert params == {"0.W", "0.b", "2.W", "2.b"}
    assert max(c["max_rel"] for c in out["cases"]) < 1e-6


def test_repeat_reports_mean_std_and_runs(fake_data, tmp_path):
    cfg = load_config(CONFIGS / "final.toml", {"data.n_val": 20, "train.n_s": 5, "train.n_cycles": 1,
                                               "model.hidden": [8]})
    agg = repeat.run_repeated(cfg, tmp_path / "rep", 3, progress=False)
    for k in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert len(agg[f"{k}_runs"]) == 3
        assert agg[f"{k}_mean"] == pytest.approx(np.mean(agg[f"{k}_runs"]))
        assert agg[f"{k}_std"] == pytest.approx(np.std(agg[f"{k}_runs"], ddof=1))
    assert json.loads((tmp_path / "rep" / "metrics.json").read_text())["repeat"] == 3
