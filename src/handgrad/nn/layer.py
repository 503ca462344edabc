"""The layer protocol every building block of a model follows (cs231n's forward/backward pairs).

A layer holds its parameters in ``params`` and, after ``backward``, the gradients of the loss with
respect to them in ``grads`` (same keys, same shapes). ``forward(x, train)`` keeps what
``backward`` needs in ``cache``; ``backward(dy)`` *assigns* ``grads`` (never accumulates, so calling
it twice gives the same result) and returns the gradient with respect to the input, ``dx``.
Gradients with respect to other inputs (the RNN's initial state) go to ``input_grads``.

State that is not trained but belongs to the model (batch norm's running averages) lives in
``buffers``: optimisers never see it, and it is saved and restored with the parameters.

A layer you write yourself needs ``forward``, ``backward`` and, to be saved, ``config``; everything
else has a default. ``handgrad.check_layer(layer, x)`` then checks its gradients.
"""

from __future__ import annotations

import numpy as np


class Layer:
    """Base class: a forward/backward pair with a cache.

    ``dtype``: the parameters' floating-point type (training runs in float32, gradient checks in
    float64); a layer without parameters keeps it only so that every constructor takes one.
    """

    #: parameters that the model's L2 term applies to (weights, not biases)
    regularized: tuple[str, ...] = ()

    def __init__(self, dtype=np.float32) -> None:
        self.dtype = np.dtype(dtype)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        #: gradients with respect to inputs other than x, after backward (the RNN's initial state)
        self.input_grads: dict[str, np.ndarray] = {}
        #: non-trained state saved with the model (e.g. running averages)
        self.buffers: dict[str, np.ndarray] = {}
        self.cache: object = None
        #: when False, backward may skip computing dx (the first layer of a model: its input is data)
        self.needs_input_grad: bool = True

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def __call__(self, x: np.ndarray, train: bool = False, **inputs) -> np.ndarray:
        """``forward``: a layer is a function of its input (``layer(x)``)."""
        return self.forward(x, train=train, **inputs)

    def kink_inputs(self) -> np.ndarray | None:
        """The inputs of the last forward pass whose sign selects a branch (ReLU: its input), or None
        for a smooth layer. The gradient check tells kink crossings from errors with them."""
        return None

    def astype(self, dtype) -> "Layer":
        """Cast the parameters in place to ``dtype`` (float32 to train, float64 to check gradients,
        complex128 for the complex-step reference: forward passes must then be analytic, see
        ``handgrad.gradcheck``). Clears the cache and the gradients."""
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype, copy=False)
        self.dtype = np.dtype(dtype)
        self.grads, self.input_grads, self.cache = {}, {}, None
        return self

    def config(self) -> dict:
        """JSON-able constructor arguments with the layer's ``type``, so that a saved model can be
        rebuilt without pickle (``LAYER_TYPES[type](**rest)``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved: it has no config()")

    # A saved model's config is checked against its arrays before any layer is built (a hostile
    # model.json must not make handgrad allocate what it says): these read the config only.
    @classmethod
    def param_shapes(cls, cfg: dict) -> dict[str, tuple[int, ...]] | None:
        """The shape of every parameter a layer built from ``cfg`` holds, or None when only a built
        layer can tell (then its parameters are checked after building)."""
        return None

    @classmethod
    def sizes(cls, cfg: dict) -> tuple[int, int] | None:
        """(input size, output size) per example, or None when the layer keeps the size."""
        return None

    def check_buffers(self) -> None:
        """Raise ValueError when the buffers (e.g. loaded from a file) cannot be this layer's state."""

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def config_int(cfg: dict, key: str, lo: int = 1, default: int | None = None) -> int:
    """``cfg[key]`` as an integer >= ``lo``; ValueError naming the key otherwise (bools refused)."""
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{key} must be an integer >= {lo}, got {v!r}")
    return int(v)


def config_bool(cfg: dict, key: str, default: bool) -> bool:
    v = cfg.get(key, default)
    if not isinstance(v, bool):
        raise ValueError(f"{key} must be true or false, got {v!r}")
    return v
