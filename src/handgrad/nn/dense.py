"""Fully connected (affine) layer: y = x W^T + b."""

from __future__ import annotations

import numpy as np

from handgrad.nn.init import init_weight
from handgrad.nn.layer import Layer, config_bool, config_int


def is_sparse(x) -> bool:
    """True for a scipy.sparse matrix or array (checked without importing scipy)."""
    return hasattr(x, "tocsr") and hasattr(x, "nnz")


class Dense(Layer):
    """Affine map of a batch of row vectors.

    Shapes: x (N, d_in) -> y (N, d_out); W (d_out, d_in) (the course's K x d), b (d_out,).

    ``init``: how W is drawn, 'normal' (N(0, std^2), std .01 by default: the A1 sheet, which draws b
    the same way), 'fan_in' (N(0, 1/d_in): A2), 'xavier' or 'he' (biases start at zero); ``rng``: the
    Generator the draw comes from (give one built from your seed).

    ``x`` may be a ``scipy.sparse`` matrix (character n-gram rows): forward is then a sparse-dense
    product and dW = (x^T dy)^T another, so the (N, d_in) input is never densified; dx for sparse
    input is not computed (such input is data, the model's first layer).
    """

    regularized = ("W",)

    def __init__(self, d_in: int, d_out: int, *, init: str = "normal", std: float | None = None,
                 bias: bool = True, rng: np.random.Generator | None = None, dtype=np.float32) -> None:
        super().__init__(dtype)
        self.d_in, self.d_out, self.init, self.std, self.bias = d_in, d_out, init, std, bias
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params["W"] = init_weight(init, (d_out, d_in), fan_in=d_in, fan_out=d_out, std=std, rng=rng).astype(dtype)
        if bias:
            # the course's A1 draws b like W; later sheets start biases at zero
            b = init_weight(init, (d_out,), fan_in=d_in, fan_out=d_out, std=std, rng=rng) if init == "normal" else np.zeros(d_out)
            self.params["b"] = b.astype(dtype)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.cache = x
        y = x @ self.params["W"].T
        if self.bias:
            y += self.params["b"]
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        x = self.cache
        if is_sparse(x):
            self.grads = {"W": np.asarray((x.T @ dy).T)}
            if self.bias:
                self.grads["b"] = dy.sum(axis=0)
            return None
        self.grads = {"W": dy.T @ x}
        if self.bias:
            self.grads["b"] = dy.sum(axis=0)
        # the first layer's input is data: no gradient needed, and skipping it saves a matmul
        return dy @ self.params["W"] if self.needs_input_grad else None

    @classmethod
    def param_shapes(cls, cfg: dict) -> dict[str, tuple[int, ...]]:
        d_in, d_out = config_int(cfg, "d_in"), config_int(cfg, "d_out")
        return {"W": (d_out, d_in), **({"b": (d_out,)} if config_bool(cfg, "bias", True) else {})}

    @classmethod
    def sizes(cls, cfg: dict) -> tuple[int, int]:
        return config_int(cfg, "d_in"), config_int(cfg, "d_out")

    def config(self) -> dict:
        return {"type": "Dense", "d_in": self.d_in, "d_out": self.d_out, "init": self.init,
                "std": self.std, "bias": self.bias}
