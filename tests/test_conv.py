"""Conv1D: the sheet's matrices, agreement of every implementation, gradients, the convnet factory."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handgrad.errors import HandgradError
from handgrad.gradcheck import check_model
from handgrad.model import Sequential as Model
from handgrad.networks import convnet
from handgrad.nn import LAYER_TYPES
from handgrad.nn.conv import IMPLS, Conv1D
from handgrad.nn.conv_matrices import (filter_rows, filters_from_rows, make_mf_matrix, make_mx_k, make_mx_matrix,
                                       sparse_mx)
from handgrad.nn import conv_variants


def conv_by_definition(x: np.ndarray, F: np.ndarray, pad: int = 0) -> np.ndarray:
    """S[f, i] = sum_{c,t} F[c,t,f] X[c, i+t] with explicit loops; returns vec(S) rows (N, n_out*nf)."""
    C, k, nf = F.shape
    X = x.reshape(len(x), -1, C).transpose(0, 2, 1)  # (N, C, L): undo the column-major vec
    X = np.pad(X, ((0, 0), (0, 0), (pad, pad)))
    n_out = X.shape[2] - k + 1
    S = np.zeros((len(x), nf, n_out))
    for n in range(len(x)):
        for f in range(nf):
            for i in range(n_out):
                S[n, f, i] = np.sum(F[:, :, f] * X[n, :, i:i + k])
    return S.transpose(0, 2, 1).reshape(len(x), -1)  # column-major vec of each nf x n_out S


def random_onehot_indices(rng, n, n_len, d, min_len=2):
    idx = np.full((n, n_len), -1)
    for j, length in enumerate(rng.integers(min_len, n_len + 1, n)):
        idx[j, :length] = rng.integers(0, d, length)
    return idx


def onehot(idx, d):
    X = np.zeros((*idx.shape, d))
    r, p = np.nonzero(idx >= 0)
    X[r, p, idx[r, p]] = 1
    return X.reshape(len(idx), -1)


# -- the sheet's matrices ------------------------------------------------------------------------
def test_mf_and_mx_match_the_definition():
    rng = np.random.default_rng(0)
    C, L, k, nf = 4, 7, 3, 5
    x = rng.standard_normal((2, L * C))
    F = rng.standard_normal((C, k, nf))
    ref = conv_by_definition(x, F)
    MF = make_mf_matrix(F, L)
    assert MF.shape == ((L - k + 1) * nf, L * C)
    np.testing.assert_allclose(x @ MF.T, ref, atol=1e-12)
    # the sheet's debug check: MX vec(F) == MF x, with vec(F) = F(:,:,1) then F(:,:,2) ...
    MX = make_mx_matrix(x[0], C, k, nf)
    assert MX.shape == ((L - k + 1) * nf, k * nf * C)
    vecF = np.concatenate([F[:, :, f].ravel(order="F") for f in range(nf)])
    np.testing.assert_array_equal(filter_rows(F).ravel(), vecF)
    np.testing.assert_allclose(MX @ vecF, ref[0], atol=1e-12)
    # M_{x,k}: row i is vec(X[:, i:i+k])
    Mk = make_mx_k(x[0], C, k)
    Xm = x[0].reshape(L, C).T
    np.testing.assert_array_equal(Mk[2], Xm[:, 2:2 + k].ravel(order="F"))
    np.testing.assert_array_equal(filters_from_rows(vecF, C, k), F)


def test_sparse_mx_matches_dense():
    rng = np.random.default_rng(1)
    C, L, k, nf = 5, 8, 3, 4
    x = onehot(random_onehot_indices(rng, 1, L, C), C)[0]
    for nf_ in (nf, None):
        rows, cols, vals = sparse_mx(x, C, k, nf_)
        dense = make_mx_matrix(x, C, k, nf) if nf_ else make_mx_k(x, C, k)
        rebuilt = np.zeros_like(dense)
        np.add.at(rebuilt, (rows.astype(int), cols.astype(int)), vals)
        np.testing.assert_array_equal(rebuilt, dense)
        assert len(vals) == np.count_nonzero(dense)


# -- every implementation agrees -----------------------------------------------------------------
def run_layer(impl, F, b, x, dy, *, padding, first, precompute=False):
    C, k, nf = F.shape
    layer = Conv1D(C, x.shape[1] // C if x.dtype.kind == "f" else x.shape[1], k, nf, impl=impl,
                   padding=padding, bias=b is not None, dtype=np.float64)
    layer.params["F"] = F.copy()
    if b is not None:
        layer.params["b"] = b.copy()
    layer.needs_input_grad = not first
    if precompute:
        assert conv_variants.precompute(layer, x) > 0
    y = layer.forward(x, train=True)
    dx = layer.backward(dy)
    return y, {k_: v.copy() for k_, v in layer.grads.items()}, dx


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("padding", [0, 2])
@pytest.mark.parametrize("kind", ["dense", "onehot"])
def test_all_impls_identical(bias, padding, kind):
    rng = np.random.default_rng(7)
    N, C, L, k, nf = 6, 5 if kind == "dense" else 9, 8, 3, 4
    x = rng.standard_normal((N, L * C)) if kind == "dense" else onehot(random_onehot_indices(rng, N, L, C), C)
    F = rng.standard_normal((C, k, nf))
    b = rng.standard_normal(nf) if bias else None
    n_out = L + 2 * padding - k + 1
    dy = rng.standard_normal((N, n_out * nf))
    ref = conv_by_definition(x, F, padding) + (np.tile(b, n_out) if bias else 0)
    for first in (False, True):  # hidden layer (dx needed) and data layer (variant a's cache in use)
        y0, g0, dx0 = run_layer("mfmx", F, b, x, dy, padding=padding, first=first)
        np.testing.assert_allclose(y0, ref, rtol=0, atol=1e-12)
        assert (dx0 is None) == first
        for impl in IMPLS:
            for pre in ([False, True] if impl in ("a", "ab") and first else [False]):
                y, g, dx = run_layer(impl, F, b, x, dy, padding=padding, first=first, precompute=pre)
                np.testing.assert_allclose(y, y0, rtol=1e-10, atol=1e-12, err_msg=impl)
                assert g.keys() == g0.keys() == ({"F", "b"} if bias else {"F"})
                for key in g0:
                    np.testing.assert_allclose(g[key], g0[key], rtol=1e-10, atol=1e-12, err_msg=f"{impl} {key}")
                if first:
                    assert dx is None
                else:
                    np.testing.assert_allclose(dx, dx0, rtol=1e-10, atol=1e-12, err_msg=impl)


@pytest.mark.parametrize("live_fraction", [0.9, -1.0])  # fast path: skip all-zero windows, or never
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("padding", [0, 2])
def test_fast_skipping_zero_windows_matches_reference(monkeypatch, live_fraction, bias, padding):
    import handgrad.nn.conv_fast as conv_mod

    monkeypatch.setattr(conv_mod, "_LIVE_MIN_WORK", 0)  # compact even these tiny layers
    monkeypatch.setattr(conv_mod, "_LIVE_FRACTION", live_fraction)
    rng = np.random.default_rng(5)
    N, C, L, k, nf = 7, 6, 10, 3, 4
    idx = random_onehot_indices(rng, N, L, C)
    idx[1] = -1  # an empty input
    idx[2, 4:7] = -1  # a gap inside a name
    x = onehot(idx, C) * rng.standard_normal((N, L * C))  # dense with all-zero columns (hidden layer)
    F = rng.standard_normal((C, k, nf))
    b = rng.standard_normal(nf) if bias else None
    n_out = L + 2 * padding - k + 1
    dy = rng.standard_normal((N, n_out * nf))
    for dense, inp, first in ((x, x, False), (x, x, True), (onehot(idx, C), idx, True)):
        ref = conv_by_definition(dense, F, padding) + (np.tile(b, n_out) if bias else 0)
        y0, g0, dx0 = run_layer("mfmx", F, b, dense, dy, padding=padding, first=first)
        y, g, dx = run_layer("fast", F, b, inp, dy, padding=padding, first=first)
        np.testing.assert_allclose(y0, ref, atol=1e-12)
        np.testing.assert_allclose(y, y0, rtol=1e-10, atol=1e-12)
        assert g.keys() == g0.keys()
        for key in g0:
            np.testing.assert_allclose(g[key], g0[key], rtol=1e-10, atol=1e-12, err_msg=key)
        if not first:
            np.testing.assert_allclose(dx, dx0, rtol=1e-10, atol=1e-12)


def test_dx_matches_mf_transpose_and_filter_grad_matches_definition():
    # independent of the shared MF code: the gradients of sum(dy * conv(x, F))
    rng = np.random.default_rng(3)
    N, C, L, k, nf, pad = 3, 4, 6, 3, 2, 1
    x = rng.standard_normal((N, L * C))
    F = rng.standard_normal((C, k, nf))
    dy = rng.standard_normal((N, (L + 2 * pad - k + 1) * nf))
    _, g, dx = run_layer("fast", F, None, x, dy, padding=pad, first=False)
    # the convolution is linear in x and in F, so the gradients are exact on basis vectors
    dx_ref = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        E = np.zeros_like(x)
        E[idx] = 1
        dx_ref[idx] = np.sum(dy * conv_by_definition(E, F, pad))
    np.testing.assert_allclose(dx, dx_ref, atol=1e-12)
    dF_ref = np.zeros_like(F)
    for idx in np.ndindex(F.shape):
        E = np.zeros_like(F)
        E[idx] = 1
        dF_ref[idx] = np.sum(dy * conv_by_definition(x, E, pad))
    np.testing.assert_allclose(g["F"], dF_ref, atol=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("padding, bias", [(0, False), (2, True)])
def test_index_input_equals_onehot_input(impl, padding, bias):
    rng = np.random.default_rng(11)
    N, C, L, k, nf = 5, 7, 9, 4, 3
    idx = random_onehot_indices(rng, N, L, C)
    idx[0] = rng.integers(0, C, L)  # one name fills every position
    F = rng.standard_normal((C, k, nf))
    b = rng.standard_normal(nf) if bias else None
    dy = rng.standard_normal((N, (L + 2 * padding - k + 1) * nf))
    y1, g1, _ = run_layer("mfmx", F, b, onehot(idx, C), dy, padding=padding, first=True)
    y2, g2, _ = run_layer(impl, F, b, idx, dy, padding=padding, first=True, precompute=impl in ("a", "ab"))
    np.testing.assert_allclose(y2, y1, atol=1e-12)
    assert g2.keys() == g1.keys()
    for key in g1:
        np.testing.assert_allclose(g2[key], g1[key], atol=1e-12)


def test_variant_a_cache_is_reused():
    rng = np.random.default_rng(2)
    idx = random_onehot_indices(rng, 8, 10, 6)
    X = onehot(idx, 6)
    X[4] = X[0]  # a duplicate row shares its entry
    for impl in ("a", "ab"):
        layer = Conv1D(6, 10, 3, 4, impl=impl, dtype=np.float64)
        layer.needs_input_grad = False
        assert conv_variants.precompute(layer, X) == 7
        layer.forward(X[:5], train=True)
        layer.backward(rng.standard_normal((5, 8 * 4)))
        assert len(layer._mx_cache) == 7  # no new entries: every row was precomputed
        layer.forward(X[:5] * 2, train=True)  # new inputs are built on first use
        layer.backward(rng.standard_normal((5, 8 * 4)))
        assert len(layer._mx_cache) == 11
    with pytest.raises(HandgradError, match="impl 'a' or 'ab'"):
        conv_variants.precompute(Conv1D(6, 10, 3, 4), X)
    with pytest.raises(HandgradError, match="input is data"):
        conv_variants.precompute(Conv1D(6, 10, 3, 4, impl="a"), X)


@pytest.mark.parametrize("impl", IMPLS)
def test_layer_backward_twice_assigns_same_grads(impl):
    rng = np.random.default_rng(6)
    for first in (False, True):
        layer = Conv1D(5, 8, 3, 4, impl=impl, bias=True, padding=1, dtype=np.float64, rng=rng)
        layer.needs_input_grad = not first
        x = onehot(random_onehot_indices(rng, 4, 8, 5), 5)
        dy = rng.standard_normal((4, 8 * 4))
        layer.forward(x, train=True)
        dx1 = layer.backward(dy)
        g1 = {k: v.copy() for k, v in layer.grads.items()}
        dx2 = layer.backward(dy)  # assigns, never accumulates
        for k in g1:
            np.testing.assert_array_equal(layer.grads[k], g1[k])
        if not first:
            np.testing.assert_array_equal(dx1, dx2)


@pytest.mark.parametrize("impl", IMPLS)
def test_float32_stays_float32(impl):
    rng = np.random.default_rng(8)
    model = convnet(6, 9, 4, [(3, 4), (2, 3)], impl=impl, bias=True, rng=rng)
    X = onehot(random_onehot_indices(rng, 5, 9, 6), 6).astype(np.float32)
    scores = model.forward(X, train=True)
    _, dscores = model.loss(scores, rng.integers(0, 4, 5))
    model.backward(dscores)
    assert scores.dtype == np.float32
    for name, layer, k in model.named_params():
        assert layer.params[k].dtype == layer.grads[k].dtype == np.float32, name


@pytest.mark.parametrize("impl", IMPLS)
def test_backward_twice_gives_same_grads(impl):
    rng = np.random.default_rng(5)
    model = convnet(6, 9, 4, [(3, 4), (2, 3)], impl=impl, bias=True, rng=rng, dtype=np.float64)
    X = onehot(random_onehot_indices(rng, 5, 9, 6), 6)
    y = rng.integers(0, 4, 5)
    model.loss_and_grads(X, y)
    first = {name: layer.grads[k].copy() for name, layer, k in model.named_params()}
    model.loss_and_grads(X, y)
    for name, layer, k in model.named_params():
        np.testing.assert_array_equal(layer.grads[k], first[name], err_msg=name)


# -- the model -----------------------------------------------------------------------------------
@pytest.mark.parametrize("impl, as_indices", [("fast", False), ("fast", True), ("mfmx", False)])
def test_convnet_gradient_check(impl, as_indices):
    """The report's check: k=5, n=5 in both layers, batch 3, d=28, n_len=19, K=18, float64."""
    rng = np.random.default_rng(0)
    model = convnet(28, 19, 18, [(5, 5), (5, 5)], impl=impl, rng=rng, dtype=np.float64)
    idx = random_onehot_indices(rng, 3, 19, 28, min_len=4)
    X = idx if as_indices else onehot(idx, 28)
    y = rng.integers(0, 18, 3)
    rows = {r.param: r for r in check_model(model, X, y, h=1e-4)}
    assert set(rows) == {"0.F", "2.F", "4.W"}  # F1, F2, W: no biases by default
    for r in rows.values():
        assert r.max_rel < 1e-6, r
        assert r.max_abs < 1e-8, r


def test_convnet_gradient_check_bias_padding():
    rng = np.random.default_rng(4)
    model = convnet(8, 7, 3, [(3, 4), (3, 3)], padding="same", bias=True, lam=0.01, rng=rng, dtype=np.float64)
    X = onehot(random_onehot_indices(rng, 3, 7, 8), 8)
    y = rng.integers(0, 3, 3)
    for r in check_model(model, X, y, h=1e-4):
        assert r.max_rel < 1e-6, r


def test_convnet_shapes_init_and_dtype():
    rng = np.random.default_rng(0)
    model = convnet(28, 19, 18, [(5, 100), (3, 100)], rng=rng)
    c1, _, c2, _, dense = model.layers
    assert isinstance(c1, Conv1D) and c1.params["F"].shape == (28, 5, 100) and c1.n_out == 15
    assert c2.params["F"].shape == (100, 3, 100) and c2.n_out == 13
    assert dense.params["W"].shape == (18, 100 * 13) and "b" not in dense.params
    # He for one-hot input: sqrt(2/k1); later layers sqrt(2/(n1*k2)); W sqrt(2/(n2*n_len2))
    assert abs(c1.params["F"].std() / np.sqrt(2 / 5) - 1) < 0.05
    assert abs(c2.params["F"].std() / np.sqrt(2 / 300) - 1) < 0.05
    assert abs(dense.params["W"].std() / np.sqrt(2 / 1300) - 1) < 0.05
    assert c1.regularized == ("F",) and not c1.needs_input_grad and c2.needs_input_grad
    X = onehot(random_onehot_indices(rng, 4, 19, 28), 28).astype(np.float32)
    s = model.forward(X)
    assert s.shape == (4, 18) and s.dtype == np.float32
    model.loss_and_grads(X, np.arange(4))
    assert all(layer.grads[k].dtype == np.float32 for _, layer, k in model.named_params())
    same = convnet(28, 19, 18, [(5, 4), (3, 4)], padding="same")
    assert same.layers[0].n_out == 19 and same.layers[4].params["W"].shape == (18, 4 * 19)
    with pytest.raises(HandgradError, match="odd"):
        convnet(28, 19, 18, [(4, 4)], padding="same")


def test_config_round_trip():
    rng = np.random.default_rng(9)
    model = convnet(6, 9, 4, [(3, 4), (2, 3)], impl="ab", padding=1, bias=True, rng=rng)
    assert LAYER_TYPES["Conv1D"] is Conv1D
    cfg = json.loads(json.dumps(model.config()))
    back = Model.from_config(cfg, model.get_params())
    assert back.config() == model.config()
    X = onehot(random_onehot_indices(rng, 5, 9, 6), 6).astype(np.float32)
    np.testing.assert_array_equal(back.forward(X), model.forward(X))


def test_conv_errors():
    with pytest.raises(HandgradError, match="unknown convolution impl"):
        Conv1D(4, 5, 3, 2, impl="im2col")
    with pytest.raises(HandgradError, match="longer than the padded input"):
        Conv1D(4, 2, 3, 2)
    layer = Conv1D(4, 5, 3, 2)
    with pytest.raises(HandgradError, match=r"expected \(N, 20\)"):
        layer.forward(np.zeros((2, 21), np.float32))
    # index input is data, whether or not the layer is a model's first: no dx (a layer works alone)
    y = layer.forward(np.zeros((2, 5), np.int64))
    assert layer.backward(np.ones_like(y)) is None and set(layer.grads) == {"F"}
    layer.needs_input_grad = False
    with pytest.raises(HandgradError, match="-1..3"):
        layer.forward(np.full((2, 5), 4))
