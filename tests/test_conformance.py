"""Every layer and loss of the package through handgrad.testing's conformance checks (one test id
each, from the LAYER_TYPES / LOSSES registries), and checks that a wrong backward is caught."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from handgrad import testing
from handgrad.cli import app
from handgrad.gradcheck import check_model
from handgrad.losses import LOSSES, CrossEntropy
from handgrad.model import Sequential as Model
from handgrad.nn import LAYER_TYPES, Dense, ReLU
from handgrad.nn.conv import IMPLS


@pytest.mark.parametrize("name", sorted(LAYER_TYPES))
def test_layer_conforms(name):
    testing.check_layer_conformance(name, max_examples=4)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_conforms(name):
    testing.check_loss_conformance(name, max_examples=4)


def test_a_layer_class_is_accepted():
    testing.check_layer_conformance(ReLU, max_examples=2)
    testing.check_layer_conformance(Dense, max_examples=2)  # the registered factory of its LAYER_TYPES name


def test_every_layer_can_be_built_for_the_checks():
    for name in LAYER_TYPES:
        layer, x, *_ = testing.layer_factory(name)(testing.rng_draw(1), np.random.default_rng(1))
        assert type(layer) is LAYER_TYPES[name] and len(x) >= 1


def test_a_layer_needing_arguments_asks_for_a_factory(monkeypatch):
    class Scale(Dense):  # needs d_in, d_out: no default factory can build it
        pass

    monkeypatch.setitem(LAYER_TYPES, "Scale", Scale)
    with pytest.raises(TypeError, match="register_layer"):
        testing.check_layer_conformance("Scale", max_examples=1)


# -- a check that cannot fail is worth nothing ---------------------------------------------------
class FlippedDense(Dense):
    """A copy of Dense whose bias gradient has the wrong sign."""

    def backward(self, dy):
        dx = super().backward(dy)
        if self.bias:
            self.grads["b"] = -self.grads["b"]
        return dx


class WrongDx(Dense):
    def backward(self, dy):
        dx = super().backward(dy)
        return None if dx is None else -dx


class Accumulating(Dense):
    """grads += instead of =: right the first time, wrong the second."""

    def backward(self, dy):
        old = self.grads
        dx = super().backward(dy)
        self.grads = {k: v + old[k] for k, v in self.grads.items()} if old else self.grads
        return dx


class Upcasting(ReLU):
    def forward(self, x, train=False):
        y = super().forward(x, train)
        return y.astype(np.float64) if y.dtype == np.float32 else y


def _factory(cls, bias=True):
    def make(draw, rng):
        n, d_in, d_out = draw(1, 3), draw(1, 4), draw(1, 4)
        return cls(d_in, d_out, bias=bias, init="xavier", rng=rng), rng.standard_normal((n, d_in))
    return make


@pytest.mark.parametrize("cls, message", [(FlippedDense, "backward disagrees"), (WrongDx, "backward disagrees"),
                                          (Accumulating, "second backward")])
def test_wrong_backward_is_caught(cls, message):
    with pytest.raises(AssertionError, match=message):
        testing.check_layer_conformance(_factory(cls), max_examples=3)


def test_upcast_is_caught():
    def make(draw, rng):
        return Upcasting(), rng.standard_normal((draw(1, 3), draw(1, 4)))

    with pytest.raises(AssertionError, match="float32 input gives"):
        testing.check_layer_conformance(make, max_examples=2)


def test_wrong_loss_gradient_is_caught():
    class Halved(CrossEntropy):
        def __call__(self, scores, y, sample_weight=None):
            loss, ds = super().__call__(scores, y, sample_weight)
            return loss, ds / 2

    with pytest.raises(AssertionError, match="dscores disagree"):
        testing.check_loss_conformance(Halved, max_examples=2)


def test_dropping_the_l2_term_is_caught(rng):
    """A copy of Model whose backward forgets 2*lambda*W: the complex-step check sees it."""

    class NoL2(Model):
        def backward(self, dscores):
            lam, self.lam = self.lam, 0.0
            try:
                super().backward(dscores)
            finally:
                self.lam = lam

    layers = [Dense(6, 5, init="xavier", rng=rng), ReLU(), Dense(5, 3, init="xavier", rng=rng)]
    X, y = rng.normal(size=(4, 6)), rng.integers(0, 3, 4)
    good = Model(layers, lam=0.1).astype(np.float64)
    assert max(r.max_rel for r in check_model(good, X, y)) < 1e-12
    bad = NoL2(layers, lam=0.1).astype(np.float64)
    rows = {r.param: r for r in check_model(bad, X, y)}
    assert rows["0.W"].max_rel > 1e-3 and rows["2.W"].max_rel > 1e-3 and rows["0.b"].max_rel < 1e-12


# -- gradcheck --all -------------------------------------------------------------------------------
def test_gradcheck_all_prints_every_layer_and_loss():
    r = CliRunner().invoke(app, ["gradcheck", "--all"])
    assert r.exit_code == 0, r.output
    components = {line.split()[0] for line in r.stdout.splitlines()[1:-1]}
    assert set(LAYER_TYPES) <= components
    assert all(f"Conv1D {impl} " in r.stdout for impl in IMPLS)  # each implementation's own backward
    assert all(f"loss {n}" in r.stdout for n in LOSSES)
    assert "complex" in r.stdout and "PASSED" in r.stdout.splitlines()[-1]
    assert r.stdout.splitlines()[0].split()[-2:] == ["method", "kinks"]


def test_gradcheck_all_or_config_not_both(tmp_path):
    r = CliRunner().invoke(app, ["gradcheck"])
    assert r.exit_code == 2
