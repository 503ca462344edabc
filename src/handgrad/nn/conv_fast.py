"""The fast path of :class:`handgrad.nn.Conv1D` (``impl="fast"``, the default): the same function and
gradients as the sheet's MF/MX computation in ``nn/conv.py``, which tests prove, computed by batched
im2col.

- The k-wide window at position i of a column-major vector is the contiguous slice
  ``[i*C, i*C + k*C)``, so one strided view + one copy gives all windows (N*L_out, k*C); forward is
  one matmul with the (nf, k*C) filter rows, dF one matmul, dX k small matmuls each added to one
  contiguous run of every row (col2im), or for small layers one matmul with MF.
- For one-hot input given as indices the forward pass is instead a gather of filter columns
  (measured 2-3x faster than the dense matmul at C=28), and dF one matmul with one-hot windows built
  straight from the indices (scatter-adds of G's rows measured slower). Give the first layer indices
  for training speed: ~17% per update at n1=n2=100 (about even at n1=n2=10).
- Windows whose input columns are all zero (the empty tail of a short name: -1 indices in the first
  layer, then exact zeros after ReLU) have an exactly zero response and add nothing to dF, so they
  are skipped when at most 90% of the windows are live: the first layer gathers and builds one-hot
  rows for the live windows only, a hidden layer (when a window costs >= 4096 multiply-adds, and only
  in training, so evaluation scores do not depend on the rest of the batch) multiplies only the live
  im2col rows; dX still uses every row of G. About half the windows of the surnames are empty: ~25%
  less time per update at n1=n2=100, ~15% at n1=n2=10.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from handgrad.nn.conv_matrices import (
    _windows,
    filter_rows,
    filters_from_rows,
    im2col,
    live_windows,
    make_mf_matrix,
    window_starts,
)

#: below this many MF entries dX = G MF (one matmul) beats col2im
_SMALL_MF = 1 << 16
#: compact to the live windows only when at most this fraction of them is live ...
_LIVE_FRACTION = 0.9
#: ... and, for dense input, when a window costs at least this many multiply-adds (k*C*nf): below it the
#: bookkeeping costs more than the skipped work (measured: n1=n2=10 loses, n1=n2=100 gains ~25%)
_LIVE_MIN_WORK = 4096


def forward(layer, x: np.ndarray, train: bool = False) -> np.ndarray:
    if np.issubdtype(x.dtype, np.integer):
        return _forward_indices(layer, layer.check_indices(x))
    xp = layer.pad(layer.as_dense(x))
    n, C, k, nf, n_out = len(xp), layer.C, layer.k, layer.nf, layer.n_out
    VF = filter_rows(layer.params["F"])
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
    layer.cache = ("dense", cols, VF, rows)
    return layer.add_bias(y)


def _forward_indices(layer, idx: np.ndarray) -> np.ndarray:
    """One-hot input given as indices (N, n_len): no im2col, no matmul.

    S[:, i] = sum_t F[idx[:, i+t], t, :]: a gather of filter columns, one per filter position t.
    Empty (-1) and padded positions index a zero row appended as channel C.
    """
    n, C, k, nf, n_out = len(idx), layer.C, layer.k, layer.nf, layer.n_out
    idz = idx.astype(np.intp)  # widen first: C may not fit the caller's integer type
    idz[idz < 0] = C
    if layer.padding:
        idz = np.pad(idz, ((0, 0), (layer.padding, layer.padding)), constant_values=C)
    idz = np.ascontiguousarray(idz)
    F = layer.params["F"]
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
    if layer.bias:
        S += layer.params["b"]
    layer.cache = ("indices", idz, rows, win)
    return S.reshape(n, n_out * nf)


def backward(layer, dy: np.ndarray) -> np.ndarray | None:
    n, C, k, nf, n_out = len(dy), layer.C, layer.k, layer.nf, layer.n_out
    G = np.ascontiguousarray(dy).reshape(n * n_out, nf)  # row (j, i): the nf responses of position i
    layer.grads = {}
    dx = None
    if layer.cache[0] == "indices":
        # one-hot windows with a dummy channel C per filter column for empty positions: building them
        # and one matmul measured faster than scatter-adds (np.add.at, bincount) of the rows of G
        _, idz, rows, win = layer.cache
        width = k * (C + 1)
        if rows is None:
            windows, m, Gl = _windows(idz, 1, k), n * n_out, G  # (n, n_out, k)
        else:  # only the live windows (all-empty ones add nothing to dF)
            windows, m, Gl = win.T, len(rows), G[rows]
        # flat position of the 1 of window row r, filter column t: r*width + t*(C+1) + idz[n, i+t]
        flat = windows + (np.arange(m).reshape(windows.shape[:-1] + (1,)) * width + np.arange(k) * (C + 1))
        cols = _zeroed_buffer(layer, m * width, G.dtype)
        cols[flat.ravel()] = 1
        dV = (Gl.T @ cols.reshape(m, width)).reshape(nf, k, C + 1)[:, :, :C]  # drop the dummy
        layer.grads["F"] = np.ascontiguousarray(dV.transpose(2, 1, 0))
    else:
        _, cols, VF, rows = layer.cache
        dV = (G.T if rows is None else G[rows].T) @ cols  # (nf, kC); all-zero windows add nothing
        layer.grads["F"] = filters_from_rows(dV, C, k)
        if layer.needs_input_grad:
            length = layer.n_len + 2 * layer.padding
            if n_out * nf * length * C <= _SMALL_MF:
                # small layers: one matmul with the (Toeplitz) MF beats k small ones
                dxp = dy.reshape(n, n_out * nf) @ make_mf_matrix(layer.params["F"], length)
            else:
                # col2im, one filter column t at a time: dX[:, i+t] += F[:, t, :] g_i for all i, which
                # for every example is one contiguous run [t*C, (t+n_out)*C) of the flat dx row
                # (measured ~2x faster than adding back whole (k*C)-windows for small C)
                dxp = np.zeros((n, length * C), dtype=G.dtype)
                for t in range(k):
                    dxp[:, t * C:(t + n_out) * C] += (G @ VF[:, t * C:(t + 1) * C]).reshape(n, n_out * C)
            dx = layer.unpad(dxp)
    if layer.bias:
        layer.grads["b"] = G.sum(axis=0)
    return dx


def _zeroed_buffer(layer, size: int, dtype) -> np.ndarray:
    """A zero-filled scratch vector kept on the layer and reused (refilling beats a fresh allocation)."""
    buf = layer._scratch
    if buf is None or buf.size != size or buf.dtype != dtype:
        buf = layer._scratch = np.zeros(size, dtype=dtype)
    else:
        buf.fill(0)
    return buf


#: what ``Conv1D(impl="fast")`` calls
FAST = SimpleNamespace(forward=forward, backward=backward)
