"""Gradient checks: a reference gradient accurate to rounding, kink crossings, and the tables.

The front door: ``check_gradients(model, X, y)``, ``check_layer(layer, x)`` and
``check_loss(loss, scores, y)`` compare the analytic backward pass with a reference gradient in
float64 and return a :class:`GradientCheck` (rows per parameter, ``passed``, a printable table). They
work on any object that follows the layer or loss protocol, one you wrote included.

Reference methods (``oracle``); the verdict of the pipeline's checks always comes from ``complex``:

- ``complex`` (default): the complex-step derivative Im f(x + ih)/h with h = 1e-20. The forward pass
  runs in complex128 with the perturbation in the imaginary part, so nothing is subtracted: the
  derivative is exact to rounding (relative error ~1e-16 of the derivative itself, whatever its size),
  where a finite difference loses everything below ulp(J)/h of the cost. That is why the course's
  methods cry wolf on entries whose true value is tiny (the data term and 2 lambda W nearly cancel).
  It needs forward passes that are analytic in their inputs: branches (ReLU, hinge, max) decided on
  the real part, L2 as sum(W*W) (never |W|^2 or vdot, which conjugate), no abs.
- ``centred``: the course's ComputeGradsNumSlow, (J(x+h) - J(x-h))/(2h), O(h^2).
- ``forward``: the course's ComputeGradsNum, (J(x+h) - J(x))/h, O(h).
- ``torch``: PyTorch autograd on the same function (the 2025 sheets' ComputeGradsWithTorch), when
  torch is installed; for handgrad's own layers and losses, or a layer you give a ``torch_forward``.

The finite differences take ``f``'s terms (an array summing to the cost) term by term and sum them
exactly (math.fsum), so terms the perturbation leaves alone cancel exactly.

Kinks: layers and losses that are not differentiable everywhere expose the inputs whose sign selects
their branch (``Layer.kink_inputs()``, ``loss.kink_inputs(scores, y)``: ReLU's input, the hinge's
margins). An entry whose perturbation crosses a kink (for differences: a branch differs between x-h,
x and x+h; for the complex step: a kink input sits exactly at 0 and the perturbation moves it) is
a kink crossing, not an error: counted in the tables and left out of the maxima and the verdict.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from handgrad.errors import HandgradError

METHODS = ("complex", "centred", "forward")
#: the method whose result is the verdict
REFERENCE = "complex"
#: default step per method: tiny for the complex step (no cancellation), the course's 1e-5 otherwise
DEFAULT_H = {"complex": 1e-20, "centred": 1e-5, "forward": 1e-5}

Kinks = Callable[[], list]


def relative_error(ga: np.ndarray, gn: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """|ga - gn| / max(eps, |ga| + |gn|), element-wise (the sheet's measure)."""
    return np.abs(ga - gn) / np.maximum(eps, np.abs(ga) + np.abs(gn))


def _diff(a, b) -> float:
    return math.fsum(np.ravel(np.asarray(a, dtype=np.float64) - b))


def _branches(kinks: Kinks | None) -> np.ndarray:
    """Which side of its kink every kink input of the last evaluation is on."""
    parts = [np.ravel(np.real(k) > 0) for k in kinks()] if kinks else []
    return np.concatenate(parts) if parts else np.zeros(0, bool)


def _at_kink(kinks: Kinks | None) -> bool:
    """Complex step: a kink input exactly at its kink that the perturbation moves (imaginary part)."""
    return bool(kinks) and any(np.any((np.real(k) == 0) & (np.imag(k) != 0)) for k in kinks())


def reference_gradient(f: Callable[[], np.ndarray], x: np.ndarray, h: float | None = None,
                       method: str = REFERENCE, kinks: Kinks | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(gradient of sum(f()) with respect to the array ``x`` which f reads, kink-crossing mask).

    Each entry of ``x`` is perturbed in place and restored, one at a time. For ``complex`` x must be
    complex128 (f then returns complex terms). ``kinks()``, read after each f(), lists the kink inputs.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "complex" and x.dtype != np.complex128:
        raise ValueError("the complex step perturbs complex128 arrays: cast the model/layer first")
    h = DEFAULT_H[method] if h is None else h
    grad = np.zeros(x.shape, dtype=np.float64)
    crossed = np.zeros(x.shape, dtype=bool)
    if method != "complex":
        f0 = f()
        base = _branches(kinks)
    for i in np.ndindex(x.shape):
        old = x[i]
        if method == "complex":
            x[i] = old + 1j * h
            grad[i] = math.fsum(np.ravel(np.imag(f()))) / h
            crossed[i] = _at_kink(kinks)
        else:
            x[i] = old + h
            fp = f()
            moved = np.any(_branches(kinks) != base)
            if method == "centred":
                x[i] = old - h
                grad[i] = _diff(fp, f()) / (2 * h)
                moved = moved or np.any(_branches(kinks) != base)
            else:
                grad[i] = _diff(fp, f0) / h
            crossed[i] = moved
        x[i] = old
    return grad, crossed


def numerical_gradient(f: Callable[[], float | np.ndarray], x: np.ndarray, h: float = 1e-5,
                       method: str = "centred") -> np.ndarray:
    """Finite-difference gradient of ``sum(f())`` with respect to ``x`` (the course's methods)."""
    return reference_gradient(f, x, h, method)[0]


# ---------------------------------------------------------------------------------------------
# Rows of the tables
# ---------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the seeds' tables 1 and 2, plus the kink crossings left out of it."""

    param: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    kinks: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


def compare(name: str, ga: np.ndarray, gn: np.ndarray, crossed: np.ndarray, eps: float = 1e-6) -> Row:
    """Max absolute and relative difference over the entries that crossed no kink."""
    ok = ~crossed
    d = np.abs(ga - gn)[ok]
    r = relative_error(ga, gn, eps)[ok]
    return Row(name, tuple(np.shape(ga)), float(d.max(initial=0.0)), float(r.max(initial=0.0)),
               int(crossed.sum()))


def _as_reference(obj, method: str):
    """The object the numerical gradient perturbs: a complex128 copy for the complex step."""
    return copy.deepcopy(obj).astype(np.complex128) if method == "complex" else obj


# ---------------------------------------------------------------------------------------------
# Models (loss + L2)
# ---------------------------------------------------------------------------------------------
def model_numerical_grads(model, X: np.ndarray, y: np.ndarray, h: float | None = None,
                          method: str = REFERENCE, train: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(reference gradient, kink mask) of the model's cost (loss + L2) for every parameter, by name."""
    m = _as_reference(model, method)
    box: list = []

    def f():
        box.clear()
        return m.cost_terms(X, y, kinks=box, train=train)

    return {name: reference_gradient(f, layer.params[k], h, method, lambda: box)
            for name, layer, k in m.named_params()}


def model_analytic_grads(model, X: np.ndarray, y: np.ndarray, train: bool = False) -> dict[str, np.ndarray]:
    """The backward pass's gradients of the same cost (evaluation mode unless ``train``)."""
    model.loss_and_grads(X, y, train=train)
    return {name: layer.grads[k].copy() for name, layer, k in model.named_params()}


def check_model(model, X: np.ndarray, y: np.ndarray, h: float | None = None, method: str = REFERENCE,
                eps: float = 1e-6, train: bool | None = None) -> list[Row]:
    """Compare analytic and numerical gradients of every parameter of a float64 ``model`` on (X, y).

    ``train``: differentiate the training-mode cost; default: when the model normalises with batch
    statistics (batch norm), whose training cost is the one backward must get right. The model must
    then have no dropout (its masks would change between evaluations).
    """
    if train is None:
        train = model.uses_batch_stats
    ga = model_analytic_grads(model, X, y, train)
    gn = model_numerical_grads(model, X, y, h, method, train)
    return [compare(name, ga[name], *gn[name], eps) for name in ga]


# ---------------------------------------------------------------------------------------------
# One layer, one loss
# ---------------------------------------------------------------------------------------------
def _fixed_rng(layer) -> Callable[[object], None]:
    """Layers that draw random numbers (Dropout) keep their Generator in ``rng``: give every forward
    pass of the check the same stream, so train-mode masks repeat."""
    rng = getattr(layer, "rng", None)
    if not isinstance(rng, np.random.Generator):
        return lambda obj: None
    state = copy.deepcopy(rng)
    return lambda obj: setattr(obj, "rng", copy.deepcopy(state))


def layer_grads(layer, x: np.ndarray, dy: np.ndarray, train: bool = False,
                inputs: dict | None = None) -> tuple[dict, np.ndarray | None, dict]:
    """(grads, dx, input grads) of ``layer`` after forward(x, **inputs) and backward(dy), as copies."""
    layer.forward(x, train=train, **(inputs or {}))
    dx = layer.backward(dy)
    extra = {k: np.array(v) for k, v in getattr(layer, "input_grads", {}).items() if k in (inputs or {})}
    return {k: v.copy() for k, v in layer.grads.items()}, None if dx is None else np.array(dx), extra


def check_layer_grads(layer, x: np.ndarray, *, train: bool = False, method: str = REFERENCE,
                      h: float | None = None, eps: float = 1e-6, seed: int = 0, **inputs) -> list[Row]:
    """Backward of a layer against the numerical gradient of J = sum(forward(x) * R), R fixed random,
    for every parameter, for dx (float input and ``needs_input_grad``) and for each extra input given
    as a keyword (the RNN's ``h0``: its gradient is ``input_grads["h0"]``). The layer is not changed."""
    reset = _fixed_rng(layer)
    lay = copy.deepcopy(layer).astype(np.float64)
    integer = np.issubdtype(x.dtype, np.integer)
    x64 = x if integer else np.asarray(x, dtype=np.float64)
    in64 = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    reset(lay)
    R = np.random.default_rng(seed).standard_normal(np.shape(lay.forward(x64, train=train, **in64)))
    reset(lay)
    ga, dx, gin = layer_grads(lay, x64, R, train, in64)
    ref = _as_reference(lay, method)
    as_ref = (lambda a: a.astype(np.complex128)) if method == "complex" else (lambda a: a.copy())
    xr = x64 if integer else as_ref(x64)
    inr = {k: as_ref(v) for k, v in in64.items()}

    def f():
        reset(ref)
        return (ref.forward(xr, train=train, **inr) * R).ravel()

    def kinks():
        k = ref.kink_inputs()
        return [] if k is None else [k]

    rows = [compare(k, ga[k], *reference_gradient(f, ref.params[k], h, method, kinks), eps) for k in ga]
    if dx is not None and not integer:
        rows.append(compare("dx", dx, *reference_gradient(f, xr, h, method, kinks), eps))
    for k in inr:
        if k not in gin:
            raise ValueError(f"{type(layer).__name__}.backward gave no input_grads[{k!r}] for the input {k!r}")
        rows.append(compare(f"d{k}", gin[k], *reference_gradient(f, inr[k], h, method, kinks), eps))
    return rows


def check_loss_grads(loss, scores: np.ndarray, y: np.ndarray, *, method: str = REFERENCE,
                     h: float | None = None, eps: float = 1e-6) -> list[Row]:
    """The loss's dscores against the numerical gradient of its terms (float64)."""
    s = np.asarray(scores, dtype=np.float64)
    _, ds = loss(s.copy(), y)
    sr = s.astype(np.complex128) if method == "complex" else s.copy()
    kink_fn = getattr(loss, "kink_inputs", None)

    def kinks():
        k = kink_fn(sr, y) if kink_fn else None
        return [] if k is None else [k]

    return [compare("dscores", ds, *reference_gradient(lambda: loss.terms(sr, y), sr, h, method, kinks), eps)]


_COURSE = {"centred": "ComputeGradsNumSlow", "forward": "ComputeGradsNum"}


def describe(method: str, h: float) -> str:
    """'complex step, h=1e-20' / 'centred differences (ComputeGradsNumSlow), h=1e-05' / 'PyTorch autograd'."""
    if method == "torch":
        return "PyTorch autograd (the 2025 sheets' ComputeGradsWithTorch)"
    name = "complex step" if method == "complex" else f"{method} differences ({_COURSE[method]})"
    return f"{name}, h={h:g}"


# ---------------------------------------------------------------------------------------------
# The front door
# ---------------------------------------------------------------------------------------------
@dataclass
class GradientCheck:
    """The result of a check: one row per parameter (and dx, and other inputs) with the largest
    absolute and relative error |ga - gn| / max(eps, |ga| + |gn|) and the kink crossings left out;
    ``passed`` when every relative error is at most ``tol``. Prints as a table."""

    what: str
    rows: list[Row]
    oracle: str
    tol: float = 1e-6

    @property
    def max_rel(self) -> float:
        return max((r.max_rel for r in self.rows), default=0.0)

    @property
    def passed(self) -> bool:
        return self.max_rel <= self.tol

    def __bool__(self) -> bool:
        return self.passed

    def table(self) -> str:
        lines = [f"{'param':>8} {'shape':>14} {'max abs diff':>13} {'max rel diff':>13} {'kinks':>5}"]
        for r in self.rows:
            lines.append(f"{r.param:>8} {str(r.shape):>14} {r.max_abs:>13.2e} {r.max_rel:>13.2e} {r.kinks:>5}"
                         + ("" if r.max_rel <= self.tol else "  <-- above tolerance"))
        oracle = describe(self.oracle, DEFAULT_H[self.oracle]) if self.oracle in DEFAULT_H else "PyTorch autograd"
        lines.append(f"{self.what}, against {oracle}: {'PASSED' if self.passed else 'FAILED'} "
                     f"(largest relative error {self.max_rel:.2e}, tolerance {self.tol:g})")
        return "\n".join(lines)

    __str__ = table

    def __repr__(self) -> str:
        return self.table()


def _oracle(oracle: str):
    if oracle != "torch" and oracle not in METHODS:
        raise ValueError(f"unknown oracle {oracle!r}; choose one of {', '.join(METHODS)} or torch")
    if oracle == "torch":
        try:
            import handgrad.gradcheck_torch as gradcheck_torch  # optional: torch is never a dependency
        except ModuleNotFoundError as e:
            raise HandgradError("oracle='torch' needs PyTorch: pip install torch==2.13.0 (a CPU build), or use "
                                f"the default oracle, the complex step ({e})") from None
        return gradcheck_torch
    return None


def check_gradients(model, X: np.ndarray, y: np.ndarray, *, oracle: str = REFERENCE, train: bool | None = None,
                    tol: float = 1e-6, eps: float = 1e-6) -> GradientCheck:
    """Check every parameter's gradient of a model's cost (loss + L2) on (X, y), in float64 (the model
    itself is not changed). ``train``: differentiate the training-mode cost (default when the model
    uses batch statistics: batch norm)."""
    m = copy.deepcopy(model).astype(np.float64)
    X = X if np.issubdtype(getattr(X, "dtype", np.float64), np.integer) else X.astype(np.float64)
    torch = _oracle(oracle)
    if torch:
        train = m.uses_batch_stats if train is None else train
        ga = model_analytic_grads(m, X, y, train)  # leaves each layer's cache (dropout masks) for torch
        gn = torch.model_reference(m, X, y, train)
        rows = [compare(name, ga[name], gn[name], np.zeros(ga[name].shape, bool), eps) for name in ga]
    else:
        rows = check_model(m, X, y, method=oracle, eps=eps, train=train)
    return GradientCheck(f"{type(model).__name__} gradients", rows, oracle, tol)


def check_layer(layer, x: np.ndarray, *, train: bool = False, oracle: str = REFERENCE, tol: float = 1e-6,
                eps: float = 1e-6, seed: int = 0, torch_forward=None, **inputs) -> GradientCheck:
    """Check a layer's backward pass: the gradient of sum(forward(x) * R) (R fixed random) with respect
    to every parameter, to x (float input) and to any extra input given as a keyword (``h0=`` for an
    RNN). Any object with ``params``, ``grads``, ``forward(x, train)``, ``backward(dy)`` and
    ``astype`` is checked, one you wrote included. With ``oracle="torch"``, ``torch_forward(params, x,
    train)`` computes the same function with torch tensors (built in for handgrad's layers)."""
    torch = _oracle(oracle)
    if not torch:
        rows = check_layer_grads(layer, x, train=train, method=oracle, eps=eps, seed=seed, **inputs)
        return GradientCheck(f"{type(layer).__name__} gradients", rows, oracle, tol)
    lay = copy.deepcopy(layer).astype(np.float64)
    x64 = x if np.issubdtype(x.dtype, np.integer) else np.asarray(x, dtype=np.float64)
    in64 = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    R = np.random.default_rng(seed).standard_normal(np.shape(copy.deepcopy(lay).forward(x64, train=train, **in64)))
    ga, dx, gin = layer_grads(lay, x64, R, train, in64)  # leaves lay.cache as torch's Dropout needs it
    gp, gx, gi = torch.layer_reference(lay, x64, R, train, torch_forward, **in64)
    rows = [compare(k, ga[k], gp[k], np.zeros(ga[k].shape, bool), eps) for k in ga]
    if dx is not None and gx is not None:
        rows.append(compare("dx", dx, gx, np.zeros(dx.shape, bool), eps))
    rows += [compare(f"d{k}", gin[k], gi[k], np.zeros(gin[k].shape, bool), eps) for k in gi]
    return GradientCheck(f"{type(layer).__name__} gradients", rows, oracle, tol)


def check_loss(loss, scores: np.ndarray, y: np.ndarray, *, oracle: str = REFERENCE, tol: float = 1e-6,
               eps: float = 1e-6) -> GradientCheck:
    """Check a loss's dscores against the reference gradient of its ``terms`` (float64)."""
    torch = _oracle(oracle)
    if torch:
        s = np.asarray(scores, dtype=np.float64)
        ds = loss(s.copy(), y)[1]
        rows = [compare("dscores", ds, torch.loss_reference(loss, s, y), np.zeros(ds.shape, bool), eps)]
    else:
        rows = check_loss_grads(loss, scores, y, method=oracle, eps=eps)
    return GradientCheck(f"{type(loss).__name__} gradients", rows, oracle, tol)
