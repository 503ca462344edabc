"""The 2025/26 course: the patchify convolution against the sheet's own loops and against torch, label
smoothing, doubling cycles, the sheets' single random stream, the loss per character, and a
patchify run through ``handgrad train`` / ``gradcheck`` on fake CIFAR-10 in the real format."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import handgrad as hg
from handgrad.cli import app

runner = CliRunner()


def sheet_conv_outputs(X: np.ndarray, Fs: np.ndarray) -> np.ndarray:
    """The A3 2025 sheet's exercise 1, step 1, written out: X (3072, n) columns, Fs (f, f, 3, nf);
    loop over images, filters and the f x f x 3 sub-patches -> conv_outputs (n_p, nf, n)."""
    f, nf, n = Fs.shape[0], Fs.shape[3], X.shape[1]
    X_ims = np.transpose(X.reshape((32, 32, 3, n), order="F"), (1, 0, 2, 3))
    out = np.zeros(((32 // f) ** 2, nf, n))
    for i in range(n):
        for j in range(nf):
            p = 0
            for r in range(0, 32, f):
                for c in range(0, 32, f):
                    out[p, j, i] = np.sum(np.multiply(X_ims[r:r + f, c:c + f, :, i], Fs[:, :, :, j]))
                    p += 1
    return out


@pytest.mark.parametrize("f", [2, 4, 8, 16])
def test_patch_conv_is_the_sheets_convolution(f):
    rng = np.random.default_rng(f)
    n, nf = 3, 2
    X = rng.standard_normal((3072, n))  # the sheet's layout: one image per column
    Fs = rng.standard_normal((f, f, 3, nf))
    want = sheet_conv_outputs(X, Fs)
    for impl in ("matmul", "loop"):
        layer = hg.PatchConv2D(f, nf, bias=False, impl=impl, dtype=np.float64)
        layer.params["F"] = np.ascontiguousarray(Fs.transpose(3, 0, 1, 2))  # (nf, f, f, C)
        y = layer.forward(X.T)  # handgrad's rows are the sheet's columns
        got = y.reshape(n, layer.n_p, nf).transpose(1, 2, 0)  # patch by patch, a patch's filters together
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        # the patch matrix is the sheet's MX (image first): MX[i, l] = X_patch.reshape(f*f*3) (C order)
        MX = layer.patches(X.T)
        X_ims = np.transpose(X.reshape((32, 32, 3, n), order="F"), (1, 0, 2, 3))
        np.testing.assert_array_equal(MX[1, 1], X_ims[0:f, f:2 * f, :, 1].reshape(f * f * 3))


def test_the_two_forms_agree_forward_and_backward():
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((5, 3072)), rng.standard_normal((5, 64 * 6))
    out = {}
    for impl in ("matmul", "loop"):
        layer = hg.PatchConv2D(4, 6, impl=impl, rng=np.random.default_rng(1), dtype=np.float64)
        layer.needs_input_grad = True
        y = layer.forward(x, train=True)
        dx = layer.backward(dy)
        out[impl] = (y, dx, layer.grads["F"], layer.grads["b"])
        assert np.array_equal(layer.backward(dy), dx)  # backward assigns: twice gives the same
    for a, b in zip(out["matmul"], out["loop"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_patch_conv_gradients_pass_the_complex_step_check():
    rng = np.random.default_rng(3)
    layer = hg.PatchConv2D(2, 3, image_shape=(3, 4, 6), rng=rng)
    layer.params["b"] = rng.normal(0, 0.5, 3).astype(np.float32)
    res = hg.check_layer(layer, rng.standard_normal((4, 72)))
    assert res.passed and res.max_rel < 1e-10, res
    net = hg.patchify_convnet(4, 2, 6, lam=0.1, label_smoothing=0.1, rng=np.random.default_rng(0))
    X, y = rng.standard_normal((6, 3072)), rng.integers(0, 10, 6)
    res = hg.check_gradients(net, X, y)
    assert res.passed and res.max_rel < 1e-10, res


def test_patch_conv_matches_torch_conv2d_with_stride_f():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3072))
    layer = hg.PatchConv2D(8, 5, rng=rng, dtype=np.float64)
    layer.params["b"] = rng.standard_normal(5)
    y = layer.forward(x)
    w = torch.tensor(layer.params["F"]).permute(0, 3, 1, 2)  # (nf, C, f, f)
    t = torch.nn.functional.conv2d(torch.tensor(x).reshape(4, 3, 32, 32), w, torch.tensor(layer.params["b"]),
                                   stride=8)  # (n, nf, 4, 4)
    want = t.permute(0, 2, 3, 1).reshape(4, -1).numpy()  # patch by patch, the filters of a patch together
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    res = hg.check_layer(layer, x[:2], oracle="torch")
    assert res.passed, res


def test_bad_patch_sizes_are_named():
    with pytest.raises(ValueError, match="f = 5 must divide"):
        hg.PatchConv2D(5, 2)
    with pytest.raises(ValueError, match="unknown impl 'fast'"):
        hg.PatchConv2D(4, 2, impl="fast")


def test_label_smoothing_is_the_sheets_target():
    s = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    y = np.array([1, 2])
    eps = 0.1
    t = np.array([[eps / 2, 1 - eps, eps / 2], [eps / 2, eps / 2, 1 - eps]])
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    loss, ds = hg.CrossEntropy(label_smoothing=eps)(s, y)
    assert loss == pytest.approx(-(t * np.log(p)).sum() / 2, rel=1e-12)
    np.testing.assert_allclose(ds, (p - t) / 2, rtol=1e-12)  # the sheet: -(y_smooth - p), averaged
    assert hg.check_loss(hg.CrossEntropy(label_smoothing=eps), s, y).passed
    with pytest.raises(ValueError, match="label_smoothing"):
        hg.CrossEntropy(label_smoothing=1.0)


def test_cycles_that_double():
    sched = hg.Cyclical(1e-5, 1e-1, 800, growth=2)
    assert sched.updates(3) == 2 * (800 + 1600 + 3200)
    assert sched.updates(4) == 24_000  # architecture 5
    assert sched(0) == pytest.approx(1e-5)
    assert sched(800) == pytest.approx(1e-1)  # the first peak
    assert sched(1600) == pytest.approx(1e-5)  # the second cycle starts
    assert sched(1600 + 1600) == pytest.approx(1e-1)  # and peaks after 1,600
    assert sched(4800 + 3200) == pytest.approx(1e-1)
    assert hg.Cyclical(1e-5, 1e-1, 800).updates(3) == 4800


def test_one_stream_draws_w_then_b_as_the_2025_sheet():
    rng = hg.Rngs(42, streams="one")
    net = hg.linear_classifier(3072, 10, rng=rng.init)
    ref = np.random.default_rng(42)
    W = ref.normal(0.0, 0.01, (10, 3072))
    b = ref.normal(0.0, 0.01, 10)
    np.testing.assert_allclose(net.layers[0].params["W"], W.astype(np.float32))
    np.testing.assert_allclose(net.layers[0].params["b"], b.astype(np.float32))
    assert rng.train is rng.init  # the shuffles come next from the same stream
    with pytest.raises(ValueError, match="streams"):
        hg.Rngs(0, streams="two")


def test_loss_per_character_is_the_loss_per_sequence_over_its_length():
    rng = np.random.default_rng(0)
    s, y = rng.standard_normal((2, 25, 7)), rng.integers(0, 7, (2, 25))
    per_seq, d_seq = hg.SequenceCrossEntropy()(s, y)
    per_char, d_char = hg.SequenceCrossEntropy(per="character")(s, y)
    assert per_char == pytest.approx(per_seq / 25, rel=1e-12)
    np.testing.assert_allclose(d_char, d_seq / 25, rtol=1e-12)
    assert hg.check_loss(hg.SequenceCrossEntropy(per="character"), s, y).passed


PATCHIFY_CONFIG = """name = "tiny-patchify"
seed = 0
[data]
dataset = "cifar10"
split = "all"
n_val = 30
[model]
kind = "patchify"
f = 8
nf = 4
nh = 8
label_smoothing = 0.1
[train]
n_batch = 20
lambda = 0.003
schedule = "cyclical"
eta_min = 1e-5
eta_max = 1e-1
n_s = 5
n_cycles = 2
n_s_growth = 2
records_per_cycle = 2
sampling = "shuffle"
flip = true
translate = 2
"""


def test_patchify_trains_saves_and_checks_from_the_command_line(fake_cifar, tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text(PATCHIFY_CONFIG)
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", str(cfg), "--out", str(out)])
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_updates"] == 2 * (5 + 10)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    model, _, _ = hg.load_model(out)
    conv = model.layers[0]
    assert isinstance(conv, hg.PatchConv2D) and (conv.f, conv.nf) == (8, 4)
    assert model.loss.label_smoothing == pytest.approx(0.1)
    r = runner.invoke(app, ["gradcheck", str(cfg), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["passed"]
