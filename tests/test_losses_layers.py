"""Every loss and layer: analytic backward against centred differences in float64."""

import numpy as np
import pytest

from handgrad.gradcheck import numerical_gradient, relative_error
from handgrad.losses import LOSSES, make_loss, sigmoid, softmax
from handgrad.nn import Dense, Dropout, ReLU


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_matches_finite_differences(name, rng):
    loss = make_loss(name)
    s = rng.normal(size=(7, 5))
    y = rng.integers(0, 5, 7)
    value, ds = loss(s.copy(), y)
    num = numerical_gradient(lambda: loss.terms(s, y), s)
    assert relative_error(ds, num).max() < 1e-7
    assert np.isclose(loss.terms(s, y).sum(), value)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_is_finite_for_extreme_scores(name):
    s = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    value, ds = make_loss(name)(s, np.array([1, 1]))
    assert np.isfinite(value) and np.all(np.isfinite(ds))


def test_known_values():
    s = np.zeros((1, 4))
    assert np.isclose(make_loss("cross_entropy")(s, np.array([0]))[0], np.log(4))
    assert np.isclose(make_loss("svm")(s, np.array([0]))[0], 3.0)  # three margins of 1
    assert np.isclose(make_loss("bce")(s, np.array([0]))[0], np.log(2))
    assert np.allclose(softmax(s), 0.25) and np.allclose(sigmoid(s), 0.5)


def test_bce_gradient_is_p_minus_y_over_k(rng):
    s = rng.normal(size=(3, 4))
    y = np.array([0, 3, 1])
    _, ds = make_loss("bce")(s, y)
    onehot = np.eye(4)[y]
    assert np.allclose(ds, (sigmoid(s) - onehot) / 4 / 3)


def _check_layer(layer, x, rng, train=False):
    out = layer.forward(x, train=train)
    dy = rng.normal(size=out.shape)
    dx = layer.backward(dy)
    first = {k: v.copy() for k, v in layer.grads.items()}
    dx2 = layer.backward(dy)  # backward assigns: a second call gives the same result
    for k in first:
        assert np.array_equal(first[k], layer.grads[k])
    if dx is not None:
        assert np.array_equal(dx, dx2)

    def f():
        return np.sum(layer.forward(x, train=train) * dy)

    for k, p in layer.params.items():
        num = numerical_gradient(f, p)
        assert relative_error(first[k], num).max() < 1e-7, k
    if dx is not None:
        num = numerical_gradient(f, x)
        assert relative_error(dx, num).max() < 1e-7


@pytest.mark.parametrize("init", ["normal", "xavier", "he", "fan_in"])
def test_dense(init, rng):
    layer = Dense(6, 4, init=init, rng=rng).astype(np.float64)
    _check_layer(layer, rng.normal(size=(5, 6)), rng)


def test_dense_first_layer_skips_input_gradient(rng):
    layer = Dense(6, 4, rng=rng)
    layer.needs_input_grad = False
    layer.forward(rng.normal(size=(2, 6)).astype(np.float32))
    assert layer.backward(np.ones((2, 4), np.float32)) is None
    assert set(layer.grads) == {"W", "b"}


def test_relu(rng):
    x = rng.normal(size=(5, 6))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    _check_layer(ReLU(), x, rng)


def test_dropout_is_identity_at_test_time_and_unbiased_in_training(rng):
    d = Dropout(0.8, rng=np.random.default_rng(1))
    x = np.ones((200, 500), np.float32)
    assert d.forward(x, train=False) is x
    y = d.forward(x, train=True)
    assert abs(y.mean() - 1.0) < 0.01
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.8)}
    g = d.backward(np.ones_like(x))
    assert np.array_equal(g, y)


def test_dropout_rejects_bad_probability():
    with pytest.raises(ValueError, match="keep probability"):
        Dropout(0.0)
