"""Per-feature standardisation fitted on the training split only (the A1 2020+ sheets)."""

from __future__ import annotations

import numpy as np


class Standardizer:
    """X <- (X/scale - mean_) / std_, feature by feature.

    ``scale`` is 255 for pixels. ``fit`` accumulates in float64 over chunks so a 49,000 x 3,072
    set never needs a float64 copy (that alone would be 1.2 GB).
    """

    def __init__(self, scale: float = 255.0, chunk: int = 5000) -> None:
        self.scale, self.chunk = scale, chunk

    def fit(self, X: np.ndarray) -> "Standardizer":
        n, d = X.shape
        s = np.zeros(d)
        for i in range(0, n, self.chunk):
            s += X[i:i + self.chunk].sum(axis=0, dtype=np.float64)
        mean = s / n / self.scale
        ss = np.zeros(d)
        for i in range(0, n, self.chunk):
            c = X[i:i + self.chunk] / self.scale - mean
            ss += np.einsum("ij,ij->j", c, c)
        std = np.sqrt(ss / n)
        self.mean_ = mean
        # a constant feature would divide by zero; leave it centred only
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Standardised copy of X (N, d) in ``dtype``, computed chunk by chunk."""
        dtype = np.dtype(dtype)
        out = np.empty(X.shape, dtype=dtype)
        mean, std = self.mean_.astype(dtype), self.std_.astype(dtype)
        for i in range(0, len(X), self.chunk):
            c = out[i:i + self.chunk]
            np.divide(X[i:i + self.chunk], self.scale, out=c, dtype=dtype)
            c -= mean
            c /= std
        return out

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save beside a model so predictions use the training statistics."""
        return {"mean": self.mean_, "std": self.std_, "scale": np.array(self.scale)}

