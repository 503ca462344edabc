"""Batch normalisation (Ioffe & Szegedy 2015) as the DD2424 A3 sheet defines it.

Training: each feature is normalised with the batch's own mean and (biased, 1/n) variance,
s_hat = (s - mu) / sqrt(v + eps), then scaled and shifted, y = gamma * s_hat + beta. The running
averages used at evaluation time follow mu_av <- alpha mu_av + (1 - alpha) mu (v likewise), started
from the first training batch's statistics (not from 0 and 1).

The forward pass uses only plain arithmetic and sqrt on the data (no abs, max or comparisons), so
it also runs on complex arrays (complex-step gradient checks); the running averages take the real
part, since they are statistics kept beside the differentiated function, not part of it.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.layer import Layer, config_int


class BatchNorm(Layer):
    """Per-feature batch normalisation with a learned scale and shift.

    Shapes: x (N, d) -> y (N, d); params gamma (d,) = 1, beta (d,) = 0; buffers ``mean`` (d,),
    ``var`` (d,) (the running averages) and ``count`` () (training batches seen).

    ``alpha``: weight of the old running average (the sheet's ~0.9); ``eps``: added to the variance.
    """

    def __init__(self, d: int, *, alpha: float = 0.9, eps: float = 1e-8, dtype=np.float32) -> None:
        super().__init__(dtype)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha < 1.0:
            raise ValueError(f"batch-norm alpha must be in [0, 1), got {alpha}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < float("inf"):
            raise ValueError(f"batch-norm eps must be positive, got {eps}")
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"batch-norm d must be an integer >= 1, got {d!r}")
        self.d, self.alpha, self.eps = int(d), float(alpha), float(eps)
        self.params["gamma"] = np.ones(self.d, dtype=dtype)
        self.params["beta"] = np.zeros(self.d, dtype=dtype)
        self.buffers["mean"] = np.zeros(self.d, dtype=dtype)
        self.buffers["var"] = np.ones(self.d, dtype=dtype)
        self.buffers["count"] = np.zeros((), dtype=np.int64)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not train:
            # evaluation: one affine map per feature from the running statistics
            inv = 1.0 / np.sqrt(self.buffers["var"] + self.eps)
            self.cache = ("eval", (x - self.buffers["mean"]) * inv, inv)
            scale = gamma * inv
            return x * scale + (beta - self.buffers["mean"] * scale)
        n = x.shape[0]
        mu = x.sum(axis=0) / n
        xc = x - mu
        v = (xc * xc).sum(axis=0) / n  # biased variance, as the sheet (no abs: complex-safe)
        inv = 1.0 / np.sqrt(v + self.eps)
        xhat = xc * inv
        self._update_running(mu, v)
        self.cache = ("train", xhat, inv)
        return xhat * gamma + beta

    def _update_running(self, mu: np.ndarray, v: np.ndarray) -> None:
        mean, var = self.buffers["mean"], self.buffers["var"]
        if self.buffers["count"] == 0:  # the sheet: initialise from the first batch
            mean[...] = np.real(mu)
            var[...] = np.real(v)
        else:
            a = self.alpha
            mean *= a
            mean += (1.0 - a) * np.real(mu)
            var *= a
            var += (1.0 - a) * np.real(v)
        self.buffers["count"] = np.asarray(self.buffers["count"] + 1, dtype=np.int64)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, d) -> dx (N, d).

        Training mode, the sheet's BatchNormBackPass in closed form: with g = gamma * dy,
        dx = inv * (g - mean(g) - s_hat * mean(g * s_hat)); here mean(g) = gamma * dbeta / n and
        mean(g * s_hat) = gamma * dgamma / n, so dx = gamma * inv * (dy - (dbeta + s_hat * dgamma) / n).
        """
        mode, xhat, inv = self.cache
        gamma = self.params["gamma"]
        dbeta = dy.sum(axis=0)
        dgamma = (dy * xhat).sum(axis=0)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        if mode == "eval":  # the statistics are constants here
            return dy * (gamma * inv)
        n = dy.shape[0]
        return (dy - (dbeta + xhat * dgamma) / n) * (gamma * inv)

    @classmethod
    def param_shapes(cls, cfg: dict) -> dict[str, tuple[int, ...]]:
        d = config_int(cfg, "d")
        return {"gamma": (d,), "beta": (d,)}

    def check_buffers(self) -> None:
        if np.any(self.buffers["var"] < 0):
            raise ValueError("the running variance has negative entries")
        if self.buffers["count"] < 0:
            raise ValueError(f"the batch count must be >= 0, got {int(self.buffers['count'])}")

    def astype(self, dtype) -> "BatchNorm":
        super().astype(dtype)
        for k in ("mean", "var"):
            self.buffers[k] = self.buffers[k].astype(dtype, copy=False)
        return self

    def config(self) -> dict:
        return {"type": "BatchNorm", "d": self.d, "alpha": self.alpha, "eps": self.eps}

    def __repr__(self) -> str:
        return f"BatchNorm(d={self.d}, alpha={self.alpha}, eps={self.eps})"
