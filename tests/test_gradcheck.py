"""The gradient-check module: finite differences, relative errors, and that it catches bugs."""

import numpy as np
import pytest

from handgrad.gradcheck import check_layer_grads, check_model, numerical_gradient, reference_gradient, relative_error
from handgrad.tasks.gradchecks import check_case, passed
from handgrad.networks import linear_classifier, mlp
from handgrad.nn import ReLU


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


# -- the complex-step reference and kink crossings -------------------------------------------------
def test_complex_step_is_exact_where_centred_differences_cry_wolf():
    """A tiny derivative of a term of size 1 (a loss term whose data and L2 parts nearly cancel): a
    centred difference loses it to the rounding of the term (ulp(2.3)/2h ~ 2e-11 against a derivative
    of 1.4e-6), the complex step has no subtraction and keeps it."""
    x = np.array([0.7])
    exact = 2e-6 * x[0]

    def f(x):
        return np.array([2.3 + 1e-6 * x[0] * x[0]])

    xc = x.astype(np.complex128)
    gc, crossed = reference_gradient(lambda: f(xc), xc)
    assert not crossed.any() and abs(gc[0] - exact) <= 1e-15 * exact
    gn = numerical_gradient(lambda: f(x), x, h=1e-5, method="centred")
    assert relative_error(np.array([exact]), gn)[0] > 1e-6  # would fail a 1e-6 check


def test_complex_step_needs_a_complex_array():
    with pytest.raises(ValueError, match="complex128"):
        reference_gradient(lambda: np.zeros(1), np.zeros(1), method="complex")


def test_relu_kink_crossings_are_counted_not_errors():
    x = np.array([[1e-7, -2e-7, 0.5, -0.3]])  # two inputs within h = 1e-5 of the kink
    (row,) = check_layer_grads(ReLU(), x, method="centred")
    assert row.kinks == 2 and row.max_rel < 1e-9
    (row,) = check_layer_grads(ReLU(), x)  # the complex step never moves the real part: no crossing
    assert row.kinks == 0 and row.max_rel == 0.0
    (row,) = check_layer_grads(ReLU(), np.array([[0.0, 1.0]]))  # exactly on the kink: counted
    assert row.kinks == 1


def test_hinge_kink_crossings_are_counted(rng):
    model = linear_classifier(20, 10, loss="svm", rng=rng).astype(np.float64)
    model.layers[0].params["W"] *= 100  # margins spread out, some within h of 0
    X, y = rng.normal(size=(100, 20)), rng.integers(0, 10, 100)
    rows = {r.param: r for r in check_model(model, X, y, h=1e-2, method="centred")}
    assert rows["0.W"].kinks > 0 and rows["0.W"].max_rel < 1e-9
    assert all(r.kinks == 0 and r.max_rel < 1e-12 for r in check_model(model, X, y))


def test_check_case_shows_the_course_method_and_the_reference(rng):
    model = mlp(10, [6], 4, lam=0.01, rng=rng).astype(np.float64)
    X, y = rng.normal(size=(5, 10)), rng.integers(0, 4, 5)
    case = check_case(model, X, y, method="centred")
    assert case["method"] == "centred" and case["h"] == 1e-5 and case["reference"]["method"] == "complex"
    assert [r["param"] for r in case["rows"]] == [r["param"] for r in case["reference"]["rows"]]
    assert case["reference"]["max_rel"] < 1e-10 and case["reference"]["max_rel"] < case["max_rel"]
    assert passed([case], 1e-6) and not passed([case], 1e-30)
