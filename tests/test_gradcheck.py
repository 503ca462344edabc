"""The gradient-check module: finite differences, relative errors, and that it catches bugs."""

import numpy as np
import pytest

from handgrad.gradcheck import check_model, numerical_gradient, relative_error
from handgrad.models import linear_classifier, mlp


def test_centred_beats_forward_on_a_cubic():
    x = np.array([1.0, -2.0, 0.5])
    exact = 3 * x**2
    c = numerical_gradient(lambda: np.sum(x**3), x, h=1e-4, method="centred")
    f = numerical_gradient(lambda: np.sum(x**3), x, h=1e-4, method="forward")
    assert np.abs(c - exact).max() < 1e-7 < np.abs(f - exact).max()
    assert np.array_equal(x, [1.0, -2.0, 0.5])  # restored


def test_relative_error_uses_eps_floor():
    assert relative_error(np.array([0.0]), np.array([0.0]))[0] == 0.0
    assert np.isclose(relative_error(np.array([1.0]), np.array([3.0]))[0], 0.5)


@pytest.mark.parametrize("loss", ["cross_entropy", "svm", "bce"])
@pytest.mark.parametrize("lam", [0.0, 1.0])
@pytest.mark.parametrize("n", [1, 100])
def test_linear_models_pass_below_1e6(loss, lam, n, rng):
    X = rng.normal(size=(n, 20))
    y = rng.integers(0, 10, n)
    model = linear_classifier(20, 10, loss=loss, lam=lam, rng=rng).astype(np.float64)
    rows = check_model(model, X, y)
    assert {r.param for r in rows} == {"0.W", "0.b"}
    assert max(r.max_rel for r in rows) < 1e-6


def test_mlp_every_parameter_passes(rng):
    X = rng.normal(size=(3, 15))
    y = rng.integers(0, 10, 3)
    model = mlp(15, [12, 8], 10, lam=0.1, rng=rng).astype(np.float64)
    rows = check_model(model, X, y)
    assert len(rows) == 6
    assert max(r.max_rel for r in rows) < 1e-6


def test_a_wrong_gradient_is_caught(rng, monkeypatch):
    model = linear_classifier(8, 4, lam=0.5, rng=rng).astype(np.float64)
    X, y = rng.normal(size=(5, 8)), rng.integers(0, 4, 5)
    # forget the factor 2 of the L2 term's gradient: the check must notice
    orig = model.backward

    def broken(dscores):
        orig(dscores)
        model.layers[0].grads["W"] -= model.lam * model.layers[0].params["W"]

    monkeypatch.setattr(model, "backward", broken)
    assert max(r.max_rel for r in check_model(model, X, y)) > 1e-3
