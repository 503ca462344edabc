"""1-D convolution over a sequence with full-height filters (the DD2424 A3 ConvNet layer), computed
the way the sheet does it: as products with the matrices MF and MX.

Layout (the sheet's, column-major as MATLAB's ``(:)``):

- One example is X (C x L): C channels (the alphabet size d for the first layer, the previous layer's
  number of filters later) at L positions. It is stored as a vector ``vec(X)`` of length L*C with
  ``index = pos*C + channel``, so a batch is an (N, L*C) array, one row per example.
- Filters F have shape (C, k, nf): filter f is the C x k matrix F[:, :, f], spanning all channels.
- The response S (nf x L_out), L_out = L + 2*padding - k + 1, S[f, i] = sum_{c,t} F[c,t,f] X[c, i+t],
  leaves the layer vectorised the same way: (N, L_out*nf) with ``index = pos*nf + filter``. So a conv
  layer feeds the next conv layer directly, and the last one feeds a Dense layer whose W is
  K x (nf*L_out), exactly the sheet's ``s = W vec(X2)``.

The sheet's computation (``impl="mfmx"``, the methods below):

- forward ``vec(S) = MF vec(X)`` with MF = MakeMFMatrix(F, L), built once per pass for the whole batch;
- backward ``dX = MF^T G``, and per example ``dvec(F) += g_j^T MX_{x_j,k,nf}`` with MX = MakeMXMatrix.

Readable and slow. The same function is computed faster by ``impl="fast"`` (``nn/conv_fast.py``:
im2col windows, index input, skipping empty windows; the default) and by the sheet's speed-ups
(a), (b), (a)+(b) that Ruggeri 2020's A3 report timed (``impl="a"|"b"|"ab"``, ``nn/conv_variants.py``). Tests prove
every implementation equal to this one.

Input may also be an integer array (N, L) of channel indices with -1 for an empty column, meaning
one-hot columns (``Encoder.indices`` makes them); such input is data, so backward gives no dx.
"""

from __future__ import annotations

import numpy as np

from handgrad.errors import HandgradError
from handgrad.nn.conv_fast import FAST
from handgrad.nn.conv_matrices import filters_from_rows, make_mf_matrix, make_mx_matrix
from handgrad.nn.conv_variants import AB, A, B
from handgrad.nn.init import init_weight
from handgrad.nn.layer import Layer, config_bool, config_int

#: the other implementations of the same function, each with forward(layer, x, train) and backward(layer, dy)
FASTER = {"fast": FAST, "a": A, "b": B, "ab": AB}
IMPLS = ("mfmx", *FASTER)


class Conv1D(Layer):
    """Full-height 1-D convolution, stride 1, optional zero padding and bias.

    Shapes: x (N, n_len*C) column-major (or int indices (N, n_len), see the module doc) ->
    y (N, n_out*nf), n_out = n_len + 2*padding - k + 1; F (C, k, nf); b (nf,).

    ``impl``: 'mfmx' (the sheet's matrices, as written here), 'fast' (the default), or the timing
    table's 'a', 'b', 'ab'. ``sparse_input``: the input is one-hot (one non-zero per column), which only
    changes the He initialisation: a filter then sees k non-zero inputs of its C*k, so fan_in = k
    (sig = sqrt(2/k), as course peers used) instead of C*k.
    """

    regularized = ("F",)

    def __init__(self, C: int, n_len: int, k: int, nf: int, *, impl: str = "fast", padding: int = 0,
                 bias: bool = False, init: str = "he", std: float | None = None, sparse_input: bool = False,
                 rng: np.random.Generator | None = None, dtype=np.float32) -> None:
        super().__init__(dtype)
        if impl not in IMPLS:
            raise HandgradError(f"unknown convolution impl {impl!r}; choose one of {', '.join(IMPLS)}")
        for key, v, lo in (("C", C, 1), ("n_len", n_len, 1), ("k", k, 1), ("nf", nf, 1), ("padding", padding, 0)):
            if int(v) != v or v < lo:
                raise HandgradError(f"convolution {key} must be an integer >= {lo}, got {v!r}")
        if n_len + 2 * padding < k:
            raise HandgradError(f"filter width k={k} is longer than the padded input "
                                f"({n_len} + 2*{padding} positions)")
        self.C, self.n_len, self.k, self.nf = int(C), int(n_len), int(k), int(nf)
        self.impl, self.padding, self.bias = impl, int(padding), bool(bias)
        self.init, self.std, self.sparse_input = init, std, bool(sparse_input)
        rng = rng if rng is not None else np.random.default_rng(0)
        fan_in = k if sparse_input else C * k
        self.params["F"] = init_weight(init, (C, k, nf), fan_in=fan_in, fan_out=nf * k, std=std,
                                       rng=rng).astype(dtype)
        if bias:
            self.params["b"] = np.zeros(nf, dtype=dtype)
        # impl "a"/"ab": sparse MX of each data row seen, keyed by the row's dtype and bytes
        self._mx_cache: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._scratch: np.ndarray | None = None  # fast path's one-hot windows, refilled each backward

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n_out(self) -> int:
        """Output positions n_len + 2*padding - k + 1."""
        return self.n_len + 2 * self.padding - self.k + 1

    @property
    def d_in(self) -> int:
        return self.n_len * self.C

    @property
    def d_out(self) -> int:
        return self.n_out * self.nf

    # -- the sheet's computation -----------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if self.impl != "mfmx":
            return FASTER[self.impl].forward(self, x, train)
        xp = self.pad(self.as_dense(x))
        MF = make_mf_matrix(self.params["F"], self.n_len + 2 * self.padding)  # depends on F: once per pass
        y = xp @ MF.T  # vec(S) = MF vec(X), every example of the batch at once
        self.cache = (xp, MF, np.issubdtype(x.dtype, np.integer))
        return self.add_bias(y)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """dy (N, n_out*nf) -> dx (N, n_len*C), or None when the input is data. dy already holds the
        loss's 1/N, so the filter gradient is a plain sum over examples."""
        if self.impl != "mfmx":
            return FASTER[self.impl].backward(self, dy)
        xp, MF, data_input = self.cache
        C, k, nf = self.C, self.k, self.nf
        v = np.zeros(nf * k * C, dtype=dy.dtype)
        for j in range(len(xp)):  # dvec(F) = sum_j g_j^T MX_{x_j,k,nf}
            v += dy[j] @ make_mx_matrix(xp[j], C, k, nf)
        self.grads = {"F": filters_from_rows(v, C, k)}
        self.bias_grad(dy)
        if data_input or not self.needs_input_grad:
            return None
        return self.unpad(dy @ MF)  # G <- MF^T G, as rows

    # -- shared by every implementation --------------------------------------------------
    def add_bias(self, y: np.ndarray) -> np.ndarray:
        if not self.bias:
            return y
        n = len(y)
        return (y.reshape(n, self.n_out, self.nf) + self.params["b"]).reshape(n, self.n_out * self.nf)

    def bias_grad(self, dy: np.ndarray) -> None:
        if self.bias:
            self.grads["b"] = dy.reshape(-1, self.nf).sum(axis=0)

    def check_indices(self, x: np.ndarray) -> np.ndarray:
        """Validate integer input (N, n_len) of channel indices, -1 = an all-zero column."""
        if x.ndim != 2 or x.shape[1] != self.n_len:
            raise HandgradError(f"index input has shape {x.shape}, expected (N, {self.n_len})")
        if x.size and (x.min() < -1 or x.max() >= self.C):
            raise HandgradError(f"index input must lie in -1..{self.C - 1}, got {x.min()}..{x.max()}")
        return x

    def as_dense(self, x: np.ndarray) -> np.ndarray:
        """Validate x and return it as (N, n_len*C) in the parameters' dtype (indices -> one-hot)."""
        dtype = self.params["F"].dtype
        if np.issubdtype(x.dtype, np.integer):
            x = self.check_indices(x)
            n = len(x)
            X = np.zeros((n, self.n_len, self.C), dtype=dtype)
            rows, pos = np.nonzero(x >= 0)
            X[rows, pos, x[rows, pos]] = 1
            return X.reshape(n, self.d_in)
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise HandgradError(f"convolution input has shape {x.shape}, expected (N, {self.d_in}) = "
                                f"(N, n_len*C) with n_len={self.n_len}, C={self.C}")
        return np.ascontiguousarray(x, dtype=dtype)

    def pad(self, x: np.ndarray) -> np.ndarray:
        """(N, n_len*C) -> (N, (n_len+2p)*C): zero columns of X on both sides are zeros at the vector's ends."""
        if not self.padding:
            return x
        z = np.zeros((len(x), self.padding * self.C), dtype=x.dtype)
        return np.concatenate([z, x, z], axis=1)

    def unpad(self, dxp: np.ndarray) -> np.ndarray:
        p = self.padding * self.C
        return dxp[:, p:dxp.shape[1] - p] if p else dxp

    def astype(self, dtype) -> "Conv1D":
        super().astype(dtype)
        self._mx_cache.clear()  # cached values are in the old dtype
        self._scratch = None
        return self

    # -- saving ------------------------------------------------------------------------------
    @classmethod
    def _dims(cls, cfg: dict) -> tuple[int, int, int, int, int]:
        C, n_len, k, nf = (config_int(cfg, key) for key in ("C", "n_len", "k", "nf"))
        padding = config_int(cfg, "padding", lo=0, default=0)
        if n_len + 2 * padding < k:
            raise ValueError(f"filter width k={k} is longer than the padded input ({n_len} + 2*{padding})")
        return C, n_len, k, nf, n_len + 2 * padding - k + 1

    @classmethod
    def param_shapes(cls, cfg: dict) -> dict[str, tuple[int, ...]]:
        C, _, k, nf, _ = cls._dims(cfg)
        return {"F": (C, k, nf), **({"b": (nf,)} if config_bool(cfg, "bias", False) else {})}

    @classmethod
    def sizes(cls, cfg: dict) -> tuple[int, int]:
        C, n_len, _, nf, n_out = cls._dims(cfg)
        return C * n_len, nf * n_out

    def config(self) -> dict:
        return {"type": "Conv1D", "C": self.C, "n_len": self.n_len, "k": self.k, "nf": self.nf,
                "impl": self.impl, "padding": self.padding, "bias": self.bias, "init": self.init,
                "std": self.std, "sparse_input": self.sparse_input}

    def __repr__(self) -> str:
        return (f"Conv1D(C={self.C}, n_len={self.n_len}, k={self.k}, nf={self.nf}, impl={self.impl!r}, "
                f"padding={self.padding}, bias={self.bias})")
