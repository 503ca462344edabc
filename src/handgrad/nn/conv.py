"""1-D convolution over a sequence with full-height filters (the DD2424 A3 ConvNet layer).

Layout (the sheet's, column-major as MATLAB's ``(:)``):

- One example is X (C x L): C channels (the alphabet size d for the first layer, the previous layer's
  number of filters later) at L positions. It is stored as a vector ``vec(X)`` of length L*C with
  ``index = pos*C + channel``, so a batch is an (N, L*C) array, one row per example.
- Filters F have shape (C, k, nf): filter f is the C x k matrix F[:, :, f], spanning all channels.
- The response S (nf x L_out), L_out = L + 2*padding - k + 1, S[f, i] = sum_{c,t} F[c,t,f] X[c, i+t],
  leaves the layer vectorised the same way: (N, L_out*nf) with ``index = pos*nf + filter``. So a conv
  layer feeds the next conv layer directly, and the last one feeds a Dense layer whose W is
  K x (nf*L_out), exactly the sheet's ``s = W vec(X2)``.

Implementations (``impl``), all with the same outputs and gradients:

- ``"mfmx"``: the sheet's reference. Forward ``vec(S) = MF vec(X)`` with MF = MakeMFMatrix(F, L) for the
  whole batch; backward ``dX = MF^T G``; filter gradient per example ``v = g_j^T MX_{x_j,k,nf}`` with
  the dense MakeMXMatrix. Readable and slow.
- ``"a"``: as ``mfmx``, but when the layer's input is data (``needs_input_grad`` is False, i.e. the
  first layer of a Model) its MX_{x_j,k,nf} matrices are stored sparse in a cache keyed by the input
  row's bytes: ``precompute(X)`` fills it up front (the sheet's "once for every training input"), and
  rows missing from it are built on first use. Hidden layers see new inputs every step, so there the
  cache would be useless; they use the ``mfmx`` path.
- ``"b"``: the filter gradient uses M_{x,k} (L_out x k*C, no Kronecker factor):
  ``dF = sum_j M_{x_j,k}^T G_j`` with G_j the (L_out x nf) reshaped g_j.
- ``"ab"``: (b) everywhere, with the first layer's M_{x_j,k} precomputed sparse as in (a).
- ``"fast"`` (default): batched im2col. The k-wide window at position i of a column-major vector is
  the contiguous slice ``[i*C, i*C + k*C)``, so one strided view + one copy gives all windows
  (N*L_out, k*C); forward is one matmul with the (nf, k*C) filter rows, dF one matmul, dX k small
  matmuls each added to one contiguous run of every row (col2im), or for small layers one matmul with
  MF. For one-hot input given as indices (below) the forward pass is instead a gather of filter
  columns (measured 2-3x faster than the dense matmul at C=28), and dF one matmul with one-hot windows
  built straight from the indices (scatter-adds of G's rows measured slower). Give the first layer
  indices for training speed: ~17% per update at n1=n2=100 (about even at n1=n2=10).
  Windows whose input columns are all zero (the empty tail of a short name: -1 indices in the first
  layer, then exact zeros after ReLU) have an exactly zero response and add nothing to dF, so the fast
  path skips them when at most 90% of the windows are live: the first layer gathers and builds one-hot
  rows for the live windows only, a hidden layer (when a window costs >= 4096 multiply-adds, and only
  in training, so evaluation scores do not depend on the rest of the batch) multiplies only the live
  im2col rows; dX still uses every row of G. About half the windows of the surnames are empty:
  ~25% less time per update at n1=n2=100, ~15% at n1=n2=10.

Input may also be an integer array (N, L) of channel indices with -1 for an empty column (see
``Encoder.indices``), meaning one-hot columns; only for a layer whose input is data. ``fast`` uses it
directly; the other implementations expand it to the dense one-hot form first.
"""

from __future__ import annotations

import numpy as np

from handgrad.errors import HandgradError
from handgrad.nn.conv_matrices import (_windows, filter_rows, filters_from_rows, im2col, live_windows,
                                       make_mf_matrix, make_mx_k, make_mx_matrix, sparse_mx, window_starts)
from handgrad.nn.init import init_weight
from handgrad.nn.layer import Layer, config_bool, config_int

IMPLS = ("mfmx", "a", "b", "ab", "fast")

#: below this many MF entries the fast path takes dX = G MF (one matmul) instead of col2im
_SMALL_MF = 1 << 16


#: the fast path compacts to the live windows only when at most this fraction of them is live ...
_LIVE_FRACTION = 0.9
#: ... and, for dense input, when a window costs at least this many multiply-adds (k*C*nf): below it the
#: bookkeeping costs more than the skipped work (measured: n1=n2=10 loses, n1=n2=100 gains ~25%)
_LIVE_MIN_WORK = 4096


# ---------------------------------------------------------------------------------------------
# The layer
# ---------------------------------------------------------------------------------------------
class Conv1D(Layer):
    """Full-height 1-D convolution, stride 1, optional zero padding and bias.

    Shapes: x (N, n_len*C) column-major (or int indices (N, n_len), see the module doc) ->
    y (N, n_out*nf), n_out = n_len + 2*padding - k + 1; F (C, k, nf); b (nf,).

    ``sparse_input``: the input is one-hot (one non-zero per column), which only changes the He
    initialisation: a filter then sees k non-zero inputs of its C*k, so fan_in = k
    (sig = sqrt(2/k), as course peers used) instead of C*k (sig = sqrt(2/(C*k))).
    """

    regularized = ("F",)

    def __init__(self, C: int, n_len: int, k: int, nf: int, *, impl: str = "fast", padding: int = 0,
                 bias: bool = False, init: str = "he", std: float | None = None, sparse_input: bool = False,
                 rng: np.random.Generator | None = None, dtype=np.float32) -> None:
        super().__init__()
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

    # -- input handling ------------------------------------------------------------------
    def _check_indices(self, x: np.ndarray) -> np.ndarray:
        """Validate integer input (N, n_len) of channel indices, -1 = an all-zero column."""
        if self.needs_input_grad:
            raise HandgradError("integer (index) input is only accepted by a first layer, whose input is "
                                "data (needs_input_grad=False)")
        if x.ndim != 2 or x.shape[1] != self.n_len:
            raise HandgradError(f"index input has shape {x.shape}, expected (N, {self.n_len})")
        if x.size and (x.min() < -1 or x.max() >= self.C):
            raise HandgradError(f"index input must lie in -1..{self.C - 1}, got {x.min()}..{x.max()}")
        return x

    def _as_dense(self, x: np.ndarray) -> np.ndarray:
        """Validate x and return it as (N, n_len*C) in the parameters' dtype."""
        dtype = self.params["F"].dtype
        if np.issubdtype(x.dtype, np.integer):
            x = self._check_indices(x)
            n = len(x)
            X = np.zeros((n, self.n_len, self.C), dtype=dtype)
            rows, pos = np.nonzero(x >= 0)
            X[rows, pos, x[rows, pos]] = 1
            return X.reshape(n, self.d_in)
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise HandgradError(f"convolution input has shape {x.shape}, expected (N, {self.d_in}) = "
                                f"(N, n_len*C) with n_len={self.n_len}, C={self.C}")
        return np.ascontiguousarray(x, dtype=dtype)

    def _pad(self, x: np.ndarray) -> np.ndarray:
        """(N, n_len*C) -> (N, (n_len+2p)*C): zero columns of X on both sides are zeros at the vector's ends."""
        if not self.padding:
            return x
        z = np.zeros((len(x), self.padding * self.C), dtype=x.dtype)
        return np.concatenate([z, x, z], axis=1)

    def _unpad(self, dxp: np.ndarray) -> np.ndarray:
        p = self.padding * self.C
        return dxp[:, p:dxp.shape[1] - p] if p else dxp

    def _uses_cache(self) -> bool:
        # the sparse precomputation (variant a) pays only where the input is data, fixed across epochs
        return self.impl in ("a", "ab") and not self.needs_input_grad

    # -- forward / backward --------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if self.impl == "fast" and np.issubdtype(x.dtype, np.integer):
            return self._forward_indices(self._check_indices(x))
        raw = x
        xp = self._pad(self._as_dense(x))
        n, C, k, nf, n_out = len(xp), self.C, self.k, self.nf, self.n_out
        F = self.params["F"]
        if self.impl == "fast":
            VF = filter_rows(F)
            # training only: a matmul's float32 rounding can depend on its row count, so evaluation keeps
            # the full product and a name's scores do not depend on the rest of its batch
            rows = None
            if train and k * C * nf >= _LIVE_MIN_WORK:
                rows = live_windows(xp.reshape(n, -1, C).any(axis=2), k, _LIVE_FRACTION)
            if rows is None:
                cols = im2col(xp, C, k)
                y = (cols @ VF.T).reshape(n, n_out * nf)
            else:
                # windows of all-zero input (the empty tail of short names after the first layer) give
                # exact zeros and add nothing to dF: gather only the live windows and multiply those
                start = window_starts(rows, n_out, xp.shape[1] // C)
                cols = xp.reshape(-1, C)[start[:, None] + np.arange(k)].reshape(len(rows), k * C)
                y = np.zeros((n * n_out, nf), dtype=cols.dtype)
                y[rows] = cols @ VF.T
                y = y.reshape(n, n_out * nf)
            self.cache = ("dense", cols, VF, rows)
        else:
            # the sheet: one MF per forward pass (it depends on F), applied to the whole batch
            MF = make_mf_matrix(F, self.n_len + 2 * self.padding)
            y = xp @ MF.T
            self.cache = (raw, xp, MF)
        if self.bias:
            y = (y.reshape(n, n_out, nf) + self.params["b"]).reshape(n, n_out * nf)
        return y

    def _forward_indices(self, idx: np.ndarray) -> np.ndarray:
        """Fast path for one-hot input given as indices (N, n_len): no im2col, no matmul.

        S[:, i] = sum_t F[idx[:, i+t], t, :]: a gather of filter columns, one per filter position t.
        Empty (-1) and padded positions index a zero row appended as channel C.
        """
        n, C, k, nf, n_out = len(idx), self.C, self.k, self.nf, self.n_out
        idz = idx.astype(np.intp)  # widen first: C may not fit the caller's integer type
        idz[idz < 0] = C
        if self.padding:
            idz = np.pad(idz, ((0, 0), (self.padding, self.padding)), constant_values=C)
        idz = np.ascontiguousarray(idz)
        F = self.params["F"]
        Fz = np.zeros((k, C + 1, nf), dtype=F.dtype)  # Fz[t, c] = F[c, t, :]; Fz[t, C] = 0
        Fz[:, :C] = F.transpose(1, 0, 2)
        rows = live_windows(idz != C, k, _LIVE_FRACTION)
        if rows is None:
            S = np.take(Fz[0], idz[:, :n_out], axis=0)  # (N, n_out, nf)
            for t in range(1, k):
                S += np.take(Fz[t], idz[:, t:t + n_out], axis=0)
            win = None
        else:
            # only windows holding a character: the rest (short names' empty tails) are exact zeros
            win = idz.ravel()[window_starts(rows, n_out, idz.shape[1]) + np.arange(k)[:, None]]  # (k, live)
            Sv = np.take(Fz[0], win[0], axis=0)
            for t in range(1, k):
                Sv += np.take(Fz[t], win[t], axis=0)
            S = np.zeros((n * n_out, nf), dtype=F.dtype)
            S[rows] = Sv
            S = S.reshape(n, n_out, nf)
        if self.bias:
            S += self.params["b"]
        self.cache = ("indices", idz, rows, win)
        return S.reshape(n, n_out * nf)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """dy (N, n_out*nf) -> dx (N, n_len*C), or None when the input is data.

        dy already holds the loss's 1/N, so the filter gradient is a plain sum over examples.
        """
        n, C, k, nf, n_out = len(dy), self.C, self.k, self.nf, self.n_out
        G = np.ascontiguousarray(dy).reshape(n * n_out, nf)  # row (j, i): the nf responses of position i
        self.grads = {}
        if self.impl == "fast" and self.cache[0] == "indices":
            # one-hot windows with a dummy channel C per filter column for empty positions: building them
            # and one matmul measured faster than scatter-adds (np.add.at, bincount) of the rows of G
            _, idz, rows, win = self.cache
            width = k * (C + 1)
            if rows is None:
                windows, m, Gl = _windows(idz, 1, k), n * n_out, G  # (n, n_out, k)
            else:  # only the live windows (all-empty ones add nothing to dF)
                windows, m, Gl = win.T, len(rows), G[rows]
            # flat position of the 1 of window row r, filter column t: r*width + t*(C+1) + idz[n, i+t]
            flat = windows + (np.arange(m).reshape(windows.shape[:-1] + (1,)) * width + np.arange(k) * (C + 1))
            cols = self._zeroed_buffer(m * width, G.dtype)
            cols[flat.ravel()] = 1
            dV = (Gl.T @ cols.reshape(m, width)).reshape(nf, k, C + 1)[:, :, :C]  # drop the dummy
            self.grads["F"] = np.ascontiguousarray(dV.transpose(2, 1, 0))
            dx = None
        elif self.impl == "fast":
            _, cols, VF, rows = self.cache
            dV = (G.T if rows is None else G[rows].T) @ cols  # (nf, kC); all-zero windows add nothing
            self.grads["F"] = filters_from_rows(dV, C, k)
            dx = None
            if self.needs_input_grad:
                length = self.n_len + 2 * self.padding
                if n_out * nf * length * C <= _SMALL_MF:
                    # small layers: one matmul with the (Toeplitz) MF beats k small ones
                    dxp = dy.reshape(n, n_out * nf) @ make_mf_matrix(self.params["F"], length)
                else:
                    # col2im, one filter column t at a time: dX[:, i+t] += F[:, t, :] g_i for all i, which
                    # for every example is one contiguous run [t*C, (t+n_out)*C) of the flat dx row
                    # (measured ~2x faster than adding back whole (k*C)-windows for small C)
                    dxp = np.zeros((n, length * C), dtype=G.dtype)
                    for t in range(k):
                        dxp[:, t * C:(t + n_out) * C] += (G @ VF[:, t * C:(t + 1) * C]).reshape(n, n_out * C)
                dx = self._unpad(dxp)
        else:
            raw, xp, MF = self.cache
            self.grads["F"] = self._filter_grad(raw, xp, dy.reshape(n, n_out * nf))
            dx = self._unpad(dy @ MF) if self.needs_input_grad else None  # G <- MF^T G
        if self.bias:
            self.grads["b"] = G.sum(axis=0)
        return dx

    def _filter_grad(self, raw: np.ndarray, xp: np.ndarray, g: np.ndarray) -> np.ndarray:
        """dL/dF by the sheet's per-example formulas; g (N, n_out*nf) holds the g_j as rows."""
        C, k, nf, n_out = self.C, self.k, self.nf, self.n_out
        use_b = self.impl in ("b", "ab")
        if self._uses_cache():
            keys = self._keys(raw)
            if use_b:  # (a)+(b): sparse M_{x,k}; V = M^T G_j, (kC, nf)
                V = np.zeros(k * C * nf, dtype=g.dtype)
                f = np.arange(nf)
                for j, key in enumerate(keys):
                    rows, cols, vals = self._sparse(key, xp[j], None)
                    Gj = g[j].reshape(n_out, nf)
                    V += np.bincount((cols.astype(np.intp)[:, None] * nf + f).ravel(),
                                     weights=(vals[:, None] * Gj[rows]).ravel(), minlength=k * C * nf)
                return filters_from_rows(V.reshape(k * C, nf).T, C, k)
            v = np.zeros(nf * k * C, dtype=g.dtype)  # (a): sparse MX_{x,k,nf}; v = g_j^T MX
            for j, key in enumerate(keys):
                rows, cols, vals = self._sparse(key, xp[j], nf)
                v += np.bincount(cols, weights=g[j][rows] * vals, minlength=nf * k * C)
            return filters_from_rows(v, C, k)
        if use_b:  # (b): V = sum_j M_{x_j,k}^T reshape(g_j, nf, n_out)^T, vec(V) = v
            V = np.zeros((k * C, nf), dtype=g.dtype)
            for j in range(len(xp)):
                V += make_mx_k(xp[j], C, k).T @ g[j].reshape(n_out, nf)
            return filters_from_rows(V.T, C, k)
        v = np.zeros(nf * k * C, dtype=g.dtype)  # the reference: v = sum_j g_j^T MX_{x_j,k,nf}
        for j in range(len(xp)):
            v += g[j] @ make_mx_matrix(xp[j], C, k, nf)
        return filters_from_rows(v, C, k)

    # -- variant (a): sparse precomputation for data input -------------------------------
    @staticmethod
    def _keys(raw: np.ndarray) -> list[bytes]:
        prefix = raw.dtype.str.encode()
        raw = np.ascontiguousarray(raw)
        return [prefix + row.tobytes() for row in raw]

    def _sparse(self, key: bytes, xrow: np.ndarray, nf: int | None):
        entry = self._mx_cache.get(key)
        if entry is None:
            entry = self._mx_cache[key] = sparse_mx(xrow, self.C, self.k, nf)
        return entry

    def precompute(self, X: np.ndarray, batch_size: int = 1000) -> int:
        """Variant (a): build the sparse MX (impl "a") or M_{x,k} (impl "ab") of every row of X now.

        X must be in the same form (dtype, dense or index) as the batches later given to ``forward``,
        because rows are looked up by their bytes. Duplicate rows share one entry. Returns the number of
        cached inputs. Only meaningful for a layer whose input is data (``needs_input_grad=False``).
        """
        if self.impl not in ("a", "ab"):
            raise HandgradError(f"precompute is for impl 'a' or 'ab', this layer uses {self.impl!r}")
        if self.needs_input_grad:
            raise HandgradError("precompute needs a layer whose input is data (the first layer of a Model, "
                                "needs_input_grad=False)")
        nf = self.nf if self.impl == "a" else None
        for s in range(0, len(X), batch_size):
            raw = X[s:s + batch_size]
            xp = self._pad(self._as_dense(raw))
            for j, key in enumerate(self._keys(raw)):
                self._sparse(key, xp[j], nf)
        return len(self._mx_cache)

    def _zeroed_buffer(self, size: int, dtype) -> np.ndarray:
        """A zero-filled scratch vector reused across calls (refilling beats a fresh allocation)."""
        buf = self._scratch
        if buf is None or buf.size != size or buf.dtype != dtype:
            buf = self._scratch = np.zeros(size, dtype=dtype)
        else:
            buf.fill(0)
        return buf

    def astype(self, dtype) -> "Conv1D":
        super().astype(dtype)
        self._mx_cache.clear()  # cached values are in the old dtype
        self._scratch = None
        return self

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
