"""The sheet's matrices for the 1-D convolution of ``nn/conv.py``, as plain functions so tests can check
them against the definition: MakeMFMatrix, MakeMXMatrix, M_{x,k}, their sparse forms, and the strided
im2col windows the fast path multiplies, and which of those windows hold any input.

Layout as in ``nn/conv.py``: one example X (C x L) is the column-major vector vec(X) of length L*C
(``index = pos*C + channel``); filters F are (C, k, nf).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view


def filter_rows(F: np.ndarray) -> np.ndarray:
    """V_F (nf, k*C): row f is vec(F[:, :, f])^T, i.e. V_F[f, t*C + c] = F[c, t, f].

    ``V_F.ravel()`` is the sheet's vec(F) (F(:,:,1) first, then F(:,:,2), ...).
    """
    C, k, nf = F.shape
    return np.ascontiguousarray(F.transpose(2, 1, 0).reshape(nf, k * C))


def filters_from_rows(V: np.ndarray, C: int, k: int) -> np.ndarray:
    """Inverse of ``filter_rows``: (nf, k*C) or the flat vec(F) -> F (C, k, nf)."""
    return np.ascontiguousarray(V.reshape(-1, k, C).transpose(2, 1, 0))


def make_mf_matrix(F: np.ndarray, n_len: int) -> np.ndarray:
    """MakeMFMatrix: MF ((n_len-k+1)*nf, n_len*C) with vec(S) = MF vec(X) for any X (C x n_len).

    Block row i (rows i*nf .. i*nf+nf-1) holds V_F starting at column i*C.
    """
    C, k, nf = F.shape
    n_out = n_len - k + 1
    VF = filter_rows(F)
    MF = np.zeros((n_out * nf, n_len * C), dtype=F.dtype)
    for i in range(n_out):
        MF[i * nf:(i + 1) * nf, i * C:i * C + k * C] = VF
    return MF


def make_mx_k(x: np.ndarray, C: int, k: int) -> np.ndarray:
    """M_{x,k} (n_len-k+1, k*C): row i is vec(X[:, i:i+k])^T, a contiguous slice of x = vec(X)."""
    return np.ascontiguousarray(sliding_window_view(x, k * C)[::C])


def make_mx_matrix(x: np.ndarray, C: int, k: int, nf: int) -> np.ndarray:
    """MakeMXMatrix: MX ((n_len-k+1)*nf, k*nf*C) with vec(S) = MX vec(F); x = vec(X) (n_len*C,).

    Rows of position i are I_nf (x) vec(X[:, i:i+k])^T: row i*nf+f holds the window in column block f.
    """
    m = make_mx_k(x, C, k)  # (n_out, kC)
    n_out, kc = m.shape
    MX = np.zeros((n_out, nf, nf, kc), dtype=x.dtype)
    f = np.arange(nf)
    MX[:, f, f, :] = m[:, None, :]  # the Kronecker identity: block (f, f) of each position
    return MX.reshape(n_out * nf, nf * kc)


def im2col(x: np.ndarray, C: int, k: int) -> np.ndarray:
    """All k-wide windows of a batch: x (N, L*C) -> (N*(L-k+1), k*C), row (j, i) = M_{x_j,k}[i].

    In the column-major vector the window at position i is the contiguous slice [i*C, i*C + k*C), so
    the windows are a strided view (step C) of each row; one copy makes them a matrix.
    """
    x = np.ascontiguousarray(x)
    n, length = x.shape
    n_out = length // C - k + 1
    s0, s1 = x.strides
    return as_strided(x, (n, n_out, k * C), (s0, C * s1, s1), writeable=False).reshape(n * n_out, k * C)


def _windows(x: np.ndarray, C: int, k: int) -> np.ndarray:
    """Read-only strided view (N, L-k+1, k*C) of all k-wide windows of x (N, L*C) (``im2col`` uncopied)."""
    n, length = x.shape
    s0, s1 = x.strides
    return as_strided(x, (n, length // C - k + 1, k * C), (s0, C * s1, s1), writeable=False)


def _small_int(n: int) -> type:
    return np.int16 if n < np.iinfo(np.int16).max else np.int32


def sparse_mx(x: np.ndarray, C: int, k: int, nf: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compact COO (rows, cols, vals) of MX_{x,k,nf} (``nf`` given) or of M_{x,k} (``nf=None``).

    One-hot input has at most k non-zeros per window, so this is tiny next to the dense matrix.
    """
    m = make_mx_k(x, C, k)
    i, r = np.nonzero(m)
    vals = m[i, r]
    if nf is None:
        t = _small_int(m.size)
        return i.astype(t), r.astype(t), vals
    kc = m.shape[1]
    f = np.arange(nf)
    rows = (i[:, None] * nf + f).ravel()  # row i*nf + f ...
    cols = (f * kc + r[:, None]).ravel()  # ... column block f
    t = _small_int(max(m.shape[0] * nf, nf * kc))
    return rows.astype(t), cols.astype(t), np.repeat(vals, nf)


def live_windows(nonzero: np.ndarray, k: int, max_fraction: float) -> np.ndarray | None:
    """Window starts (flat j*L + i, L = nonzero.shape[1]) of the windows holding any non-zero input
    column, or None if more than ``max_fraction`` of the windows are live.

    ``nonzero`` (N, L) bool: input column i of example j is not all zero. A window of only zero columns
    has an exactly zero response and adds nothing to the filter gradient, so the fast path skips it.
    """
    n_out = nonzero.shape[1] - k + 1
    live = nonzero[:, :n_out].copy()
    for t in range(1, k):
        live |= nonzero[:, t:t + n_out]
    rows = np.flatnonzero(live)  # j*n_out + i
    if len(rows) > max_fraction * live.size:
        return None
    return rows


def window_starts(rows: np.ndarray, n_out: int, length: int) -> np.ndarray:
    """Flat output rows j*n_out + i -> flat input positions j*length + i (the windows' first columns)."""
    return rows + (rows // n_out) * (length - n_out)
