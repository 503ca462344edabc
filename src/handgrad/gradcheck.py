"""Numerical gradients by finite differences, and the tables that compare them with backward.

The course's two methods: ``forward`` is ComputeGradsNum, (J(theta+h) - J(theta))/h, fast but
O(h) accurate; ``centred`` is ComputeGradsNumSlow, (J(theta+h) - J(theta-h))/(2h), O(h^2).
Run in float64: in float32 rounding error swamps the differences. ``f`` may return an array of
terms that sum to the cost: differences are then taken term by term and summed exactly
(math.fsum), so terms the perturbation leaves alone cancel exactly instead of adding rounding
noise of the size of the whole cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

METHODS = ("centred", "forward")


def relative_error(ga: np.ndarray, gn: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """|ga - gn| / max(eps, |ga| + |gn|), element-wise (the sheet's measure)."""
    return np.abs(ga - gn) / np.maximum(eps, np.abs(ga) + np.abs(gn))


def _diff(a, b) -> float:
    return math.fsum(np.ravel(np.asarray(a, dtype=np.float64) - b))


def numerical_gradient(f: Callable[[], float | np.ndarray], x: np.ndarray, h: float = 1e-5,
                       method: str = "centred") -> np.ndarray:
    """Gradient of ``sum(f())`` with respect to the array ``x``, which f reads.

    Each entry of ``x`` is perturbed in place and restored, one at a time.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    grad = np.zeros_like(x, dtype=np.float64)
    f0 = f() if method == "forward" else None
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        if method == "centred":
            x[i] = old - h
            grad[i] = _diff(fp, f()) / (2 * h)
        else:
            grad[i] = _diff(fp, f0) / h
        x[i] = old
    return grad


def model_numerical_grads(model, X: np.ndarray, y: np.ndarray, h: float = 1e-5,
                          method: str = "centred", train: bool = False) -> dict[str, np.ndarray]:
    """Numerical gradient of the model's cost (loss + L2) for every parameter, by name."""
    return {name: numerical_gradient(lambda: model.cost_terms(X, y, train=train), layer.params[k], h, method)
            for name, layer, k in model.named_params()}


def model_analytic_grads(model, X: np.ndarray, y: np.ndarray, train: bool = False) -> dict[str, np.ndarray]:
    """The backward pass's gradients of the same cost (evaluation mode unless ``train``)."""
    model.loss_and_grads(X, y, train=train)
    return {name: layer.grads[k].copy() for name, layer, k in model.named_params()}


@dataclass
class Row:
    """One line of the seeds' tables 1 and 2."""

    param: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


def check_model(model, X: np.ndarray, y: np.ndarray, h: float = 1e-5, method: str = "centred",
                eps: float = 1e-6, train: bool | None = None) -> list[Row]:
    """Compare analytic and numerical gradients of every parameter of ``model`` on (X, y).

    ``train``: differentiate the training-mode cost; default: when the model normalises with batch
    statistics (batch norm), whose training cost is the one backward must get right. The model must
    then have no dropout (its masks would change between evaluations).
    """
    if train is None:
        train = model.uses_batch_stats
    ga = model_analytic_grads(model, X, y, train)
    gn = model_numerical_grads(model, X, y, h, method, train)
    return [Row(name, ga[name].shape, float(np.max(np.abs(ga[name] - gn[name]))),
                float(np.max(relative_error(ga[name], gn[name], eps)))) for name in ga]
