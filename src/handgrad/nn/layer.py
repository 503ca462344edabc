"""The layer protocol every building block of a model follows.

A layer holds its parameters in ``params`` and, after ``backward``, the gradients of the
loss with respect to them in ``grads`` (same keys, same shapes). State that is not trained
but belongs to the model (batch norm's running averages) lives in ``buffers``; it is saved and
restored with the parameters. ``forward(x, train)`` keeps
what ``backward`` needs in ``self.cache``; ``backward(dy)`` *assigns* ``grads`` (never
accumulates, so calling it twice gives the same result) and returns the gradient with
respect to the input.
"""

from __future__ import annotations

import numpy as np


class Layer:
    """Base class: a forward/backward pair with a cache, cs231n style."""

    #: parameters that L2 regularisation applies to (weights, not biases)
    regularized: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        #: non-trained state saved with the model (e.g. running averages); optimizers never see it
        self.buffers: dict[str, np.ndarray] = {}
        self.cache: object = None
        #: when False, backward may skip computing dx (first layer of a model)
        self.needs_input_grad: bool = True

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def kink_inputs(self) -> np.ndarray | None:
        """The inputs of the last forward pass whose sign selects a branch (ReLU: its input), or None
        for a layer that is smooth. The gradient check tells kink crossings from errors with them."""
        return None

    def astype(self, dtype: np.dtype) -> "Layer":
        """Cast parameters in place to ``dtype`` (float32 for training, float64 for checks, complex128
        for the complex-step reference: forward passes must then be analytic, see gradcheck.py)."""
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype, copy=False)
        self.grads = {}
        self.cache = None
        return self

    def config(self) -> dict:
        """JSON-able constructor arguments, so a saved model can be rebuilt without pickle."""
        raise NotImplementedError

    # A saved model's config is checked against its arrays before any layer is built (a hostile
    # model.json must not make handgrad allocate what it says): these two read the config only.
    @classmethod
    def param_shapes(cls, cfg: dict) -> dict[str, tuple[int, ...]] | None:
        """The shape of every parameter a layer built from ``cfg`` (its ``config()``) holds, or
        None when only a built layer can tell (then its parameters are checked after building)."""
        return None

    def check_buffers(self) -> None:
        """Raise ValueError when the buffers (e.g. loaded from a file) cannot be this layer's state."""

    @classmethod
    def sizes(cls, cfg: dict) -> tuple[int, int] | None:
        """(input size, output size) per example, or None when the layer keeps the size."""
        return None

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def config_int(cfg: dict, key: str, lo: int = 1, default: int | None = None) -> int:
    """``cfg[key]`` as an integer >= ``lo``; ValueError naming the key otherwise (bools refused)."""
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{key} must be an integer >= {lo}, got {v!r}")
    return v


def config_bool(cfg: dict, key: str, default: bool) -> bool:
    v = cfg.get(key, default)
    if not isinstance(v, bool):
        raise ValueError(f"{key} must be true or false, got {v!r}")
    return v
