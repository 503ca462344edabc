"""Element-wise layers without parameters: ReLU and inverted dropout."""

from __future__ import annotations

import numpy as np

from handgrad.nn.layer import Layer


class ReLU(Layer):
    """y = max(0, x). Shapes: any -> same."""

    def __init__(self, dtype=np.float32) -> None:
        super().__init__(dtype)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.cache = x
        if np.iscomplexobj(x):  # the complex-step check: the branch is decided on the real part
            return x * (x.real > 0)
        return np.maximum(x, 0)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * (self.cache > 0)

    def kink_inputs(self) -> np.ndarray:
        return self.cache

    def config(self) -> dict:
        return {"type": "ReLU"}


class Dropout(Layer):
    """Inverted dropout: at training time keep each unit with probability ``keep`` and scale by
    1/keep, so nothing changes at test time. Shapes: any -> same."""

    def __init__(self, keep: float = 0.8, rng: np.random.Generator | None = None, dtype=np.float32) -> None:
        super().__init__(dtype)
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"dropout keep probability must be in (0, 1], got {keep}")
        self.keep = keep
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if not train or self.keep == 1.0:
            self.cache = None
            return x
        mask = (self.rng.random(x.shape, dtype=np.float32) < self.keep).astype(x.dtype)
        mask /= self.keep
        self.cache = mask
        return x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy if self.cache is None else dy * self.cache

    def config(self) -> dict:
        return {"type": "Dropout", "keep": self.keep}
