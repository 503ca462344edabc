"""Vanilla recurrent network over one-hot characters, with its output layer (the A4 sheet's RNN).

    a_t = W h_{t-1} + U x_t + b,   h_t = tanh(a_t),   o_t = V h_t + c

Backpropagation through time is written by hand over the sequence the forward pass saw. Training
truncates it there (the state the sequence started from is a constant of the step), but the
gradient with respect to that initial state is computed too, ``input_grads["h0"]``, and checked like
every other gradient. Only the recurrence is a Python loop; everything that does not depend on
h_{t-1} is done for all time steps at once: U x_t is a gather of U's columns (x is one-hot), the
output layer one matmul over (T*B, m).
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.layer import Layer, config_int


class RNN(Layer):
    """Shapes: x (B, T) integer character indices in 0..K-1 -> scores (B, T, K).

    Parameters U (m, K), W (m, m), b (m,), V (K, m), c (K,); the sheet draws U, W, V from
    N(0, std^2) with std 0.01 and starts the biases at zero. ``forward`` starts from ``h0``
    (B, m) (zeros when None) and leaves the last hidden state in ``h_last`` for a caller that
    carries it to the next sequence; ``backward`` sets ``input_grads["h0"]`` (B, m).
    """

    regularized = ("U", "W", "V")

    def __init__(self, K: int, m: int = 100, *, std: float = 0.01, rng: np.random.Generator | None = None,
                 dtype=np.float32) -> None:
        super().__init__(dtype)
        self.K, self.m, self.std = K, m, std
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params["U"] = (rng.standard_normal((m, K)) * std).astype(dtype)
        self.params["W"] = (rng.standard_normal((m, m)) * std).astype(dtype)
        self.params["b"] = np.zeros(m, dtype)
        self.params["V"] = (rng.standard_normal((K, m)) * std).astype(dtype)
        self.params["c"] = np.zeros(K, dtype)
        self.h_last: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = False, h0: np.ndarray | None = None) -> np.ndarray:
        U, W, b, V, c = (self.params[k] for k in "UWbVc")
        B, T = x.shape
        m = self.m
        xt = x.T  # time-major: H[t] is one contiguous (B, m) block
        H = np.empty((T + 1, B, m), dtype=U.dtype)
        H[0] = 0.0 if h0 is None else h0
        A = U.T[xt]  # (T, B, m): U x_t for every t in one gather
        A += b
        WT = W.T
        tmp = np.empty((B, m), dtype=U.dtype)
        for t in range(T):
            np.matmul(H[t], WT, out=tmp)
            tmp += A[t]
            np.tanh(tmp, out=H[t + 1])
        O = H[1:].reshape(T * B, m) @ V.T
        O += c
        self.cache = (xt, H)
        self.h_last = H[T]
        return O.reshape(T, B, self.K).transpose(1, 0, 2)

    def backward(self, dy: np.ndarray) -> None:
        """dy (B, T, K): gradient of the loss with respect to the scores. Sets grads and
        ``input_grads["h0"]``; returns None (the input, characters, has no gradient)."""
        xt, H = self.cache
        T, B = xt.shape
        m, K = self.m, self.K
        W, V = self.params["W"], self.params["V"]
        dO = np.ascontiguousarray(dy.transpose(1, 0, 2)).reshape(T * B, K)
        Hs = H[1:].reshape(T * B, m)
        dV = dO.T @ Hs
        dc = dO.sum(axis=0)
        dA = (dO @ V).reshape(T, B, m)  # dL/dh_t from the outputs; becomes dL/da_t in the loop
        G = 1.0 - np.square(H[1:])  # tanh' for all t at once
        for t in range(T - 1, -1, -1):
            dA[t] *= G[t]
            if t:
                dA[t - 1] += dA[t] @ W  # W^T da_t, as rows
        self.input_grads = {"h0": dA[0] @ W}  # dL/dh_0: what a_1 = W h_0 + ... passes back
        dA2 = dA.reshape(T * B, m)
        dW = dA2.T @ H[:-1].reshape(T * B, m)
        db = dA2.sum(axis=0)
        # U x_t with one-hot x: dU gathers da_t into the column of x_t
        onehot = np.zeros((T * B, K), dtype=dA2.dtype)
        onehot[np.arange(T * B), xt.reshape(-1)] = 1.0
        dU = dA2.T @ onehot
        self.grads = {"U": dU, "W": dW, "b": db, "V": dV, "c": dc}
        return None

    def step(self, x: int, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One time step for generation, float64: (scores (K,), next hidden state (m,))."""
        p = self.params
        h = np.tanh(p["W"] @ h + p["U"][:, x] + p["b"])
        return p["V"] @ h + p["c"], h

    @classmethod
    def param_shapes(cls, cfg: dict) -> dict[str, tuple[int, ...]]:
        K, m = config_int(cfg, "K"), config_int(cfg, "m")
        return {"U": (m, K), "W": (m, m), "b": (m,), "V": (K, m), "c": (K,)}

    @classmethod
    def sizes(cls, cfg: dict) -> tuple[int, int]:
        return config_int(cfg, "K"), config_int(cfg, "K")  # a character in, scores of the next out

    def config(self) -> dict:
        return {"type": "RNN", "K": self.K, "m": self.m, "std": self.std}
