"""Conformance checks for layers and losses, in the spirit of scikit-learn's ``check_estimator``.

``check_layer_conformance(name_or_factory)`` checks one layer over shapes drawn with hypothesis:

1. backward matches the complex-step reference (``handgrad.gradcheck``) for every parameter and for
   dx, in evaluation and in training mode (relative error below ``tol``; kink crossings skipped);
2. calling backward twice gives the same grads and dx (grads are assigned, never accumulated);
3. float32 in gives float32 out: output, grads and dx (no silent float64 upcast);
4. the same seed gives the same numbers (parameters, and outputs in training mode);
5. a model saved and reloaded by ``handgrad.modelfile`` (config() + params) computes the same function.

(``handgrad.check_layer(layer, x)`` is the first check alone, on one layer and input you give.)
``check_loss_conformance(name_or_loss)`` checks a loss likewise: dscores against the reference of its ``terms``,
terms summing to the loss, repeatable, float32 stays float32, rebuilt by name gives the same numbers.

tests/test_conformance.py puts every layer of ``handgrad.nn.LAYER_TYPES`` and every loss of
``handgrad.losses.LOSSES`` through these (one test id each), and ``handgrad gradcheck --all`` prints
the gradient table of all of them. **A new layer joins by one line**: adding it to ``LAYER_TYPES``
is enough when ``Cls()`` builds it and it takes (N, d) float input; otherwise register a factory
here, one decorator line above a function that builds the layer and an input batch from drawn sizes
(and, for a layer with other inputs, a dict of them: the RNN's initial state ``h0``)::

    @register_layer("Embedding")
    def _embedding(draw, rng):  # draw(lo, hi) -> int; rng: numpy Generator
        V, D, n, T = draw(2, 6), draw(1, 4), draw(1, 3), draw(1, 4)
        return Embedding(V, D, rng=rng), rng.integers(0, V, (n, T))

A new loss in ``LOSSES`` joins with no line when ``Cls()`` builds it (else ``register_loss``).
Forward passes must also run in complex128 for the reference (see ``handgrad.gradcheck``). A layer
with several code paths (Conv1D's implementations) may list them in ``VARIANTS`` so that
``gradcheck --all`` shows a row group for each.
"""

from __future__ import annotations

import copy
import functools
import json
import tempfile
from collections.abc import Callable

import numpy as np

from handgrad import modelfile
from handgrad.gradcheck import (
    REFERENCE,
    Row,
    check_layer_grads,
    check_loss_grads,
)
from handgrad.losses import LOSSES
from handgrad.model import Sequential
from handgrad.nn import (
    LAYER_TYPES,
    RNN,
    BatchNorm,
    Conv1D,
    Dense,
    Dropout,
    GlobalMaxPool1D,
    PatchConv2D,
    Layer,
)
from handgrad.nn.conv import IMPLS

TOL = 1e-6


class Draw:
    """Sizes for a factory: ``draw(lo, hi)`` is an int in [lo, hi] (from hypothesis in the tests).

    The values are recorded, so ``replay()`` builds the same layer again (the same-seed check).
    """

    def __init__(self, source: Callable[[int, int], int] | None) -> None:
        self._source = source
        self.values: list[int] = []
        self._queue: list[int] | None = None

    def __call__(self, lo: int, hi: int) -> int:
        if self._queue is not None:
            return self._queue.pop(0)
        v = int(self._source(lo, hi))
        self.values.append(v)
        return v

    def choice(self, options):
        return options[self(0, len(options) - 1)]

    def replay(self) -> "Draw":
        d = Draw(None)
        d._queue = list(self.values)
        return d


def rng_draw(seed: int = 0) -> Draw:
    """Sizes drawn from a seeded Generator (no hypothesis needed)."""
    rng = np.random.default_rng(seed)
    return Draw(lambda lo, hi: rng.integers(lo, hi + 1))


def middle_draw() -> Draw:
    """The middle of every range (``gradcheck --all``: fixed, and neither the smallest nor trivial)."""
    return Draw(lambda lo, hi: (lo + hi + 1) // 2)


# ---------------------------------------------------------------------------------------------
# Factories: name -> f(draw, rng) -> (layer, input batch)
# ---------------------------------------------------------------------------------------------
Factory = Callable[[Draw, np.random.Generator], tuple[Layer, np.ndarray]]
LAYER_FACTORIES: dict[str, Factory] = {}
LOSS_FACTORIES: dict[str, Callable[[], object]] = {}


def register_layer(name: str):
    """Decorator: ``factory(draw, rng) -> (layer, x)`` (or ``(layer, x, other inputs)``) builds layer
    ``name`` for the checks."""
    def deco(factory: Factory) -> Factory:
        LAYER_FACTORIES[name] = factory
        return factory
    return deco


def register_loss(name: str, factory: Callable[[], object]) -> None:
    """``factory()`` builds loss ``name`` (for losses that need constructor arguments)."""
    LOSS_FACTORIES[name] = factory


def layer_factory(layer: str | type[Layer] | Factory) -> Factory:
    """The factory for a layer name in ``LAYER_TYPES`` or a layer class (its registered factory, else
    a default one), or ``layer`` itself when it is a factory."""
    if isinstance(layer, str):
        cls, name = LAYER_TYPES[layer], layer
    elif isinstance(layer, type) and issubclass(layer, Layer):
        cls, name = layer, next((n for n, c in LAYER_TYPES.items() if c is layer), layer.__name__)
    else:
        return layer
    return LAYER_FACTORIES.get(name) or _default_factory(cls, name)


def _default_factory(cls: type[Layer], name: str) -> Factory:
    """``cls()`` on an (N, d) float batch: enough for layers without constructor arguments."""
    def default(draw: Draw, rng: np.random.Generator):
        try:
            lay = cls()
        except TypeError as e:
            raise TypeError(f"{name} needs constructor arguments: register a factory with "
                            f"@handgrad.testing.register_layer({name!r}) ({e})") from None
        return lay, rng.standard_normal((draw(1, 4), draw(1, 6)))
    return default


@register_layer("Dense")
def _dense(draw: Draw, rng: np.random.Generator):
    n, d_in, d_out, bias = draw(1, 4), draw(1, 6), draw(1, 5), draw.choice([False, True])
    return Dense(d_in, d_out, init="xavier", bias=bias, rng=rng), rng.standard_normal((n, d_in))


@register_layer("Dropout")
def _dropout(draw: Draw, rng: np.random.Generator):
    keep, n, d = draw.choice([0.5, 0.8]), draw(1, 4), draw(1, 6)
    return Dropout(keep, rng=rng), rng.standard_normal((n, d))


@register_layer("BatchNorm")
def _batchnorm(draw: Draw, rng: np.random.Generator):
    # a batch of >= 2 (one example has zero variance), and running averages from a first training
    # batch, so evaluation mode does not just see the initial 0 and 1
    n, d = draw(2, 5), draw(1, 6)
    layer = BatchNorm(d)
    layer.params["gamma"] = rng.normal(1.0, 0.3, d).astype(np.float32)
    layer.params["beta"] = rng.normal(0.0, 0.3, d).astype(np.float32)
    layer.forward((2.0 * rng.standard_normal((8, d)) + 1.0).astype(np.float32), train=True)
    return layer, rng.standard_normal((n, d))


@register_layer("RNN")
def _rnn(draw: Draw, rng: np.random.Generator):
    # input: character indices (B, T) and an initial state h0, whose gradient is checked too;
    # std 0.5 so the recurrence is not nearly linear
    K, m, B, T = draw(2, 5), draw(1, 4), draw(1, 3), draw(1, 4)
    return RNN(K, m, std=0.5, rng=rng), rng.integers(0, K, (B, T)), {"h0": 0.5 * rng.standard_normal((B, m))}


@register_layer("Conv1D")
def _conv1d(draw: Draw, rng: np.random.Generator, impl: str | None = None, indices: bool | None = None):
    C, n_len, nf, padding, n = draw(1, 4), draw(1, 6), draw(1, 4), draw(0, 2), draw(1, 3)
    k = draw(1, min(4, n_len + 2 * padding))
    impl = draw.choice(IMPLS) if impl is None else impl
    bias = draw.choice([False, True])
    indices = draw.choice([False, True]) if indices is None else indices
    layer = Conv1D(C, n_len, k, nf, impl=impl, padding=padding, bias=bias, sparse_input=indices, rng=rng)
    if bias:  # non-zero biases keep zero-padded positions off the ReLU kink of a following layer
        layer.params["b"] = rng.normal(0.0, 0.5, nf).astype(np.float32)
    if indices:  # one-hot input as indices: only a first layer takes it, and gives no dx
        layer.needs_input_grad = False
        return layer, rng.integers(-1, C, (n, n_len))
    return layer, rng.standard_normal((n, n_len * C))


@register_layer("PatchConv2D")
def _patch_conv(draw: Draw, rng: np.random.Generator):
    f, C, nf, n = draw(1, 3), draw(1, 3), draw(1, 4), draw(1, 3)
    H, W = f * draw(1, 3), f * draw(1, 3)
    layer = PatchConv2D(f, nf, (C, H, W), impl=draw.choice(["matmul", "loop"]), bias=draw.choice([False, True]),
                        rng=rng)
    if layer.bias:
        layer.params["b"] = rng.normal(0.0, 0.5, nf).astype(np.float32)
    return layer, rng.standard_normal((n, C * H * W))


@register_layer("GlobalMaxPool1D")
def _global_max_pool(draw: Draw, rng: np.random.Generator):
    C, n_len, n = draw(1, 4), draw(1, 6), draw(1, 4)
    # continuous draws: ties (where the maximum has no gradient) have probability zero
    return GlobalMaxPool1D(C, n_len), rng.standard_normal((n, n_len * C))


#: ``gradcheck --all`` rows per variant of a layer whose variants have their own backward code
VARIANTS: dict[str, dict[str, Factory]] = {
    # dense input (with dx), and index input as a first layer (impls a/ab then use their sparse cache)
    "Conv1D": {**{f"Conv1D {impl}": functools.partial(_conv1d, impl=impl, indices=False) for impl in IMPLS},
               **{f"Conv1D {impl}, indices": functools.partial(_conv1d, impl=impl, indices=True)
                  for impl in ("a", "ab", "fast")}},
}


def loss_factory(loss) -> Callable[[], object]:
    """The factory of a loss name (registered, else ``LOSSES[name]``), a loss instance, or a factory."""
    if isinstance(loss, str):
        return LOSS_FACTORIES.get(loss, LOSSES[loss])
    if hasattr(loss, "terms") and not isinstance(loss, type):
        return lambda: copy.deepcopy(loss)
    return loss


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------
def _fail(what: str, msg: str) -> None:
    raise AssertionError(f"{what}: {msg}")


def _bad(rows: list[Row], tol: float) -> list[str]:
    return [f"{r.param} {r.shape}: max rel {r.max_rel:.2e} (abs {r.max_abs:.2e})" for r in rows if r.max_rel > tol]


def check_layer_once(factory: Factory, draw: Draw, seed: int = 0, tol: float = TOL) -> None:
    """All five checks on one drawn layer; raises AssertionError naming the first that fails."""
    layer, x, inputs = _built(factory, draw, seed)
    what = repr(layer)
    integer = np.issubdtype(x.dtype, np.integer)
    if not set(layer.regularized) <= set(layer.params):  # the model adds lam*||p||^2 for these names
        _fail(what, f"regularized names {layer.regularized} that are not parameters {tuple(layer.params)}")
    # 1. gradients against the reference (every parameter, dx, and other inputs), both modes
    for train in (False, True):
        bad = _bad(check_layer_grads(layer, x, train=train, seed=seed, **inputs), tol)
        if bad:
            _fail(what, f"backward disagrees with the {REFERENCE}-step reference (train={train}): {bad}")
    # 2. backward twice
    lay = copy.deepcopy(layer).astype(np.float64)
    x64 = x if integer else x.astype(np.float64)
    y = lay.forward(x64, train=False, **{k: v.astype(np.float64) for k, v in inputs.items()})
    dy = np.random.default_rng(seed + 1).standard_normal(y.shape)
    dx1 = lay.backward(dy)
    g1 = {k: v.copy() for k, v in lay.grads.items()}
    dx2 = lay.backward(dy)
    if set(g1) != set(lay.params) or any(not np.array_equal(g1[k], lay.grads[k]) for k in g1):
        _fail(what, "a second backward gives other grads (they must be assigned, one per parameter)")
    if (dx1 is None) != (dx2 is None) or dx1 is not None and not np.array_equal(dx1, dx2):
        _fail(what, "a second backward gives another dx")
    # 3. float32 in, float32 out
    lay = copy.deepcopy(layer).astype(np.float32)
    y = lay.forward(x if integer else x.astype(np.float32), train=True,
                    **{k: v.astype(np.float32) for k, v in inputs.items()})
    dx = lay.backward(dy.astype(np.float32))
    dtypes = {"output": y.dtype, **{f"grad {k}": v.dtype for k, v in lay.grads.items()},
              **{f"grad {k}": v.dtype for k, v in lay.input_grads.items()}, **({} if dx is None else {"dx": dx.dtype})}
    upcast = {k: str(v) for k, v in dtypes.items() if v != np.float32}
    if upcast:
        _fail(what, f"float32 input gives {upcast}")
    # 4. same seed, same numbers
    again, x2, _ = _built(factory, draw.replay(), seed)
    if not np.array_equal(x, x2) or set(again.params) != set(layer.params) or any(
            not np.array_equal(again.params[k], v) for k, v in layer.params.items()):
        _fail(what, "the same seed builds other parameters")
    a, b = copy.deepcopy(layer), copy.deepcopy(again)
    if not np.array_equal(a.forward(x, train=True, **inputs), b.forward(x2, train=True, **inputs)):
        _fail(what, "the same seed gives other training-mode outputs")
    # 5. saved and reloaded (model.json + model.npz) computes the same function
    _check_reload(layer, x, inputs, what)


def _built(factory: Factory, draw: Draw, seed: int) -> tuple[Layer, np.ndarray, dict]:
    """(layer, x, other inputs) from a factory that returns (layer, x) or (layer, x, inputs)."""
    layer, x, *inputs = factory(draw, np.random.default_rng(seed))
    return layer, x, (inputs[0] if inputs else {})


def _check_reload(layer: Layer, x: np.ndarray, inputs: dict, what: str) -> None:
    lay = copy.deepcopy(layer)
    json.dumps(lay.config())  # JSON-able, or this raises
    needs = lay.needs_input_grad
    model = Sequential([lay])
    lay.needs_input_grad = needs
    with tempfile.TemporaryDirectory() as d:
        modelfile.save(d, model)
        loaded = modelfile.load(d)[0].layers[0]
    loaded.needs_input_grad = needs
    if type(loaded) is not type(layer):
        _fail(what, f"reloads as {type(loaded).__name__}: config()['type'] must name it in LAYER_TYPES")
    if not np.array_equal(lay.forward(x, train=False, **inputs), loaded.forward(x, train=False, **inputs)):
        _fail(what, "the saved and reloaded layer computes another function")


def _over_draws(check_once: Callable, factory, max_examples: int, tol: float) -> None:
    """Run ``check_once(factory, draw, seed, tol)`` on ``max_examples`` hypothesis draws (derandomised:
    the same examples every run; no shrinking, which costs many checks: the message names the layer)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))
    @given(st.data(), st.integers(0, 2**16))
    def run(data, seed):
        check_once(factory, Draw(lambda lo, hi: data.draw(st.integers(lo, hi))), seed, tol)

    run()


def check_layer_conformance(layer: str | type[Layer] | Factory, *, max_examples: int = 5, tol: float = TOL) -> None:
    """``check_layer_once`` on ``max_examples`` layers built from sizes drawn with hypothesis.

    ``layer``: a name in ``LAYER_TYPES`` or a layer class (its registered or default factory), or a
    factory ``f(draw, rng) -> (layer, x)``.
    """
    _over_draws(check_layer_once, layer_factory(layer), max_examples, tol)


def check_loss_once(factory: Callable[[], object], draw: Draw, seed: int = 0, tol: float = TOL) -> None:
    loss = factory()
    what = f"loss {getattr(loss, 'name', type(loss).__name__)}"
    rng = np.random.default_rng(seed)
    n, K = draw(1, 5), draw(2, 6)
    s, y = 3 * rng.standard_normal((n, K)), rng.integers(0, K, n)
    s0 = s.copy()
    bad = _bad(check_loss_grads(loss, s, y), tol)
    if bad:
        _fail(what, f"dscores disagree with the {REFERENCE}-step reference: {bad}")
    value, ds = loss(s, y)
    if not np.array_equal(s, s0):
        _fail(what, "the loss changed its input scores")
    if not np.isclose(loss.terms(s, y).sum(), value, rtol=1e-12, atol=1e-15):
        _fail(what, "its terms do not sum to the loss")
    v2, ds2 = loss(s, y)
    if v2 != value or not np.array_equal(ds, ds2):
        _fail(what, "a second call gives other numbers")
    vw, dsw = loss(s, y, np.ones(n))
    if not np.isclose(vw, value) or not np.allclose(dsw, ds):
        _fail(what, "equal sample weights change the result")
    v32, ds32 = loss(s.astype(np.float32), y)
    if ds32.dtype != np.float32 or not np.isfinite(v32):
        _fail(what, f"float32 scores give {ds32.dtype} dscores")
    name = getattr(loss, "name", None)
    if name not in LOSSES or type(LOSSES[name]()) is not type(loss):
        _fail(what, "its name does not rebuild it from handgrad.losses.LOSSES (how saved models name it)")
    if LOSSES[name]()(s, y)[0] != value and name not in LOSS_FACTORIES:
        _fail(what, "rebuilt by name it computes another loss")


def check_loss_conformance(loss, *, max_examples: int = 5, tol: float = TOL) -> None:
    """``check_loss_once`` on ``max_examples`` batch and class counts drawn with hypothesis.

    ``loss``: a name in ``LOSSES``, a loss instance, or a class / factory building one.
    """
    _over_draws(check_loss_once, loss_factory(loss), max_examples, tol)
