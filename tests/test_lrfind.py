"""Issue 3: the learning-rate range test (handgrad lrfind)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from handgrad import lrfind
from handgrad.cli import app
from handgrad.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "mlp"


@pytest.fixture
def fake_data(fake_cifar_with):
    return fake_cifar_with(n_per_batch=40, seed=7)


def test_smooth_keeps_length_and_constants():
    x = np.array([1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(lrfind.smooth(x, 3), x)
    np.testing.assert_allclose(lrfind.smooth([0.0, 3.0, 0.0], 3), [1.5, 1.0, 1.5])
    assert len(lrfind.smooth(np.arange(7.0), 5)) == 7


def test_suggest_peak_rise_and_min():
    lr = np.linspace(0.0, 0.2, 41)[1:]
    # accuracy rises until lr = 0.05, then falls: the peak is the suggested eta_max
    acc = np.where(lr <= 0.05, 0.1 + 8 * lr, 0.5 - 4 * (lr - 0.05))
    loss = 2.5 - acc
    s = lrfind.suggest(lr, acc, loss, window=1, min_factor=10, tol=0.0)
    assert s["eta_max"] == s["eta_peak"] == pytest.approx(0.05)
    assert s["eta_min"] == pytest.approx(0.005)
    # with a tolerance: the first lr within tol of the peak, where accuracy stops improving
    s2 = lrfind.suggest(lr, acc, loss, window=1, min_factor=4, tol=0.081)
    assert s2["eta_max"] == pytest.approx(0.04) and s2["eta_min"] == pytest.approx(0.01)
    assert s2["eta_peak"] == pytest.approx(0.05)
    assert s["eta_min_loss"] == pytest.approx(0.05)
    assert s["eta_rise"] == pytest.approx(lr[np.nonzero(acc >= acc[0] + 0.02)[0][0]])
    assert not s["at_end"]
    assert lrfind.suggest(lr, lr, window=1)["at_end"]  # still rising: widen the range


def test_range_test_on_fake_data(fake_data, tmp_path):
    cfg = load_config(CONFIGS / "sheet-fig3.toml", {"model.hidden": [12], "train.n_batch": 20})
    res = lrfind.range_test(cfg, eta_min=1e-4, eta_max=0.5, n_steps=30, n_points=10, n_eval=25, progress=False)
    assert res.step == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert res.lr[0] == pytest.approx(1e-4) and res.lr[-1] == pytest.approx(1e-4 + (0.5 - 1e-4) * 29 / 30)
    assert np.all(np.diff(res.lr) > 0)
    assert 1e-4 <= res.suggestion["eta_max"] <= 0.5
    assert res.suggestion["eta_min"] == pytest.approx(res.suggestion["eta_max"] / 10)
    paths = lrfind.write(res, tmp_path / "lr")
    assert paths["figure"].stat().st_size > 0
    saved = json.loads(paths["json"].read_text())
    assert saved["suggestion"] == res.suggestion and len(saved["val_accuracy"]) == 11


def test_lrfind_cli(fake_data, tmp_path):
    res = CliRunner().invoke(app, ["lrfind", str(CONFIGS / "best.toml"), "--set", "data.n_val=20",
                                   "--set", "model.hidden=[10]", "--steps", "20", "--points", "5",
                                   "--eta-max", "0.3", "--n-eval", "30", "--out", str(tmp_path / "lr")])
    assert res.exit_code == 0, res.output
    assert "suggested: --set train.eta_min=" in res.output
    assert (tmp_path / "lr" / "lrfind.png").exists() and (tmp_path / "lr" / "lrfind.json").exists()


def test_lrfind_cli_bad_range_is_an_error(fake_data, tmp_path):
    res = CliRunner().invoke(app, ["lrfind", str(CONFIGS / "sheet-fig3.toml"), "--eta-min", "0.1",
                                   "--eta-max", "0.01", "--out", str(tmp_path / "lr")])
    assert res.exit_code == 2
    assert "eta_min < eta_max" in res.output
