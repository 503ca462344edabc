"""The sheet's speed-ups of the convolution's backward pass (Background 5), as Ruggeri 2020's A3 report's timing
table compares them: ``impl="a"``, ``"b"`` and ``"ab"`` of :class:`handgrad.nn.Conv1D`
(``benchmarks/bench_conv_variants.py`` times them against the MF/MX reference and the fast path).

Forward is the reference's ``vec(S) = MF vec(X)``; the filter gradient differs:

- (a): when the layer's input is data (the first layer, ``needs_input_grad`` False), its
  MX_{x_j,k,nf} matrices are stored sparse, keyed by the input row's bytes: :func:`precompute`
  fills the store up front (the sheet's "once for every training input"), and rows missing from it
  are built on first use. Hidden layers see new inputs every step, so there a store would be
  useless; they use the reference formula.
- (b): the filter gradient uses M_{x,k} (L_out x k*C, no Kronecker factor):
  ``dF = sum_j M_{x_j,k}^T G_j`` with G_j the (L_out x nf) reshaped g_j.
- (a)+(b): (b) everywhere, with the first layer's M_{x_j,k} stored sparse as in (a).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handgrad.errors import HandgradError
from handgrad.nn.conv_matrices import (
    filters_from_rows,
    make_mf_matrix,
    make_mx_k,
    make_mx_matrix,
    sparse_mx,
)


@dataclass(frozen=True)
class Variant:
    """One of the sheet's speed-ups: M_{x,k} instead of MX (``use_b``), sparse stored matrices for
    data input (``store``)."""

    use_b: bool
    store: bool

    def forward(self, layer, x: np.ndarray, train: bool = False) -> np.ndarray:
        xp = layer.pad(layer.as_dense(x))
        MF = make_mf_matrix(layer.params["F"], layer.n_len + 2 * layer.padding)
        layer.cache = (x, xp, MF)
        return layer.add_bias(xp @ MF.T)

    def backward(self, layer, dy: np.ndarray) -> np.ndarray | None:
        raw, xp, MF = layer.cache
        n = len(dy)
        layer.grads = {"F": self._filter_grad(layer, raw, xp, dy.reshape(n, layer.n_out * layer.nf))}
        layer.bias_grad(dy)
        if np.issubdtype(raw.dtype, np.integer) or not layer.needs_input_grad:
            return None
        return layer.unpad(dy @ MF)

    def _filter_grad(self, layer, raw: np.ndarray, xp: np.ndarray, g: np.ndarray) -> np.ndarray:
        """dL/dF by the sheet's per-example formulas; g (N, n_out*nf) holds the g_j as rows."""
        C, k, nf, n_out = layer.C, layer.k, layer.nf, layer.n_out
        if self.store and not layer.needs_input_grad:  # the input is data, fixed across epochs
            keys = _keys(raw)
            if self.use_b:  # (a)+(b): sparse M_{x,k}; V = M^T G_j, (kC, nf)
                V = np.zeros(k * C * nf, dtype=g.dtype)
                f = np.arange(nf)
                for j, key in enumerate(keys):
                    rows, cols, vals = _stored(layer, key, xp[j], None)
                    Gj = g[j].reshape(n_out, nf)
                    V += np.bincount((cols.astype(np.intp)[:, None] * nf + f).ravel(),
                                     weights=(vals[:, None] * Gj[rows]).ravel(), minlength=k * C * nf)
                return filters_from_rows(V.reshape(k * C, nf).T, C, k)
            v = np.zeros(nf * k * C, dtype=g.dtype)  # (a): sparse MX_{x,k,nf}; v = g_j^T MX
            for j, key in enumerate(keys):
                rows, cols, vals = _stored(layer, key, xp[j], nf)
                v += np.bincount(cols, weights=g[j][rows] * vals, minlength=nf * k * C)
            return filters_from_rows(v, C, k)
        if self.use_b:  # (b): V = sum_j M_{x_j,k}^T reshape(g_j, nf, n_out)^T, vec(V) = v
            V = np.zeros((k * C, nf), dtype=g.dtype)
            for j in range(len(xp)):
                V += make_mx_k(xp[j], C, k).T @ g[j].reshape(n_out, nf)
            return filters_from_rows(V.T, C, k)
        v = np.zeros(nf * k * C, dtype=g.dtype)  # the reference: v = sum_j g_j^T MX_{x_j,k,nf}
        for j in range(len(xp)):
            v += g[j] @ make_mx_matrix(xp[j], C, k, nf)
        return filters_from_rows(v, C, k)


A, B, AB = Variant(use_b=False, store=True), Variant(use_b=True, store=False), Variant(use_b=True, store=True)


def _keys(raw: np.ndarray) -> list[bytes]:
    prefix = raw.dtype.str.encode()
    raw = np.ascontiguousarray(raw)
    return [prefix + row.tobytes() for row in raw]


def _stored(layer, key: bytes, xrow: np.ndarray, nf: int | None):
    entry = layer._mx_cache.get(key)
    if entry is None:
        entry = layer._mx_cache[key] = sparse_mx(xrow, layer.C, layer.k, nf)
    return entry


def precompute(layer, X: np.ndarray, batch_size: int = 1000) -> int:
    """Variant (a): build the sparse MX (impl "a") or M_{x,k} (impl "ab") of every row of X now.

    X must be in the same form (dtype, dense or index) as the batches later given to ``forward``,
    because rows are looked up by their bytes. Duplicate rows share one entry. Returns the number of
    stored inputs. Only meaningful for a layer whose input is data (``needs_input_grad=False``).
    """
    if layer.impl not in ("a", "ab"):
        raise HandgradError(f"precompute is for impl 'a' or 'ab', this layer uses {layer.impl!r}")
    if layer.needs_input_grad:
        raise HandgradError("precompute needs a layer whose input is data (the first layer of a model, "
                            "needs_input_grad=False)")
    nf = layer.nf if layer.impl == "a" else None
    for s in range(0, len(X), batch_size):
        raw = X[s:s + batch_size]
        xp = layer.pad(layer.as_dense(raw))
        for j, key in enumerate(_keys(raw)):
            _stored(layer, key, xp[j], nf)
    return len(layer._mx_cache)
