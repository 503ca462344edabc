"""The course's networks, built from layers: the A1 linear classifier, the A2/A3 k-layer perceptron
(optionally with batch normalisation), the A3 character ConvNet and the 2025 A3 patchify ConvNet. Each returns a
:class:`handgrad.Sequential`; ``rng`` is the Generator every initial weight is drawn from."""

from __future__ import annotations

import numpy as np

from handgrad.errors import HandgradError
from handgrad.losses import CrossEntropy
from handgrad.model import Sequential
from handgrad.nn import BatchNorm, Conv1D, Dense, Dropout, GlobalMaxPool1D, Layer, PatchConv2D, ReLU


def linear_classifier(d: int, k: int, *, loss: str = "cross_entropy", lam: float = 0.0,
                      init: str = "normal", std: float | None = None,
                      rng: np.random.Generator | None = None, dtype=np.float32) -> Sequential:
    """s = Wx + b, W (k, d) initialised N(0, 0.01^2) by default (A1), Xavier as an option."""
    return Sequential([Dense(d, k, init=init, std=std, rng=rng, dtype=dtype)], loss=loss, lam=lam)


def mlp(d: int, hidden: list[int], k: int, *, loss: str = "cross_entropy", lam: float = 0.0,
        init: str = "fan_in", std: float | None = None, dropout: float = 1.0, batch_norm: bool = False,
        bn_position: str = "before", bn_alpha: float = 0.9, bn_eps: float = 1e-8,
        rng: np.random.Generator | None = None, dtype=np.float32) -> Sequential:
    """A k-layer perceptron: for each hidden size Dense -> [BatchNorm] -> ReLU (-> Dropout), then
    Dense to k scores (the last layer never has batch norm).

    ``init='fan_in'`` is the A2 sheet's N(0, 1/fan_in) with zero biases; ``he``/``xavier`` too;
    ``init='normal'`` with ``std`` is the A3 sheet's fixed-sigma initialisation (sensitivity study).
    ``dropout`` is the keep probability after each hidden ReLU (1 = off). ``batch_norm`` puts a
    BatchNorm (running-average weight ``bn_alpha``, ``bn_eps``) in every hidden layer, before the
    ReLU (the sheet) or, with ``bn_position='after'``, after it. A Dense layer feeding batch norm has
    no bias: the sheet's b there cancels in s - mu (zero gradient, so it never leaves its zero start)
    and beta takes its place; the function and the training are the sheet's.
    """
    if bn_position not in ("before", "after"):
        raise ValueError(f"bn_position must be 'before' or 'after', got {bn_position!r}")
    rng = rng if rng is not None else np.random.default_rng(0)
    layers: list[Layer] = []
    sizes = [d, *hidden]
    for a, b in zip(sizes[:-1], sizes[1:]):
        # a bias right before batch norm is a no-op (the mean is subtracted, beta shifts): its gradient is
        # exactly zero and it would stay at its initial value, so that Dense has none (as in PyTorch practice)
        layers.append(Dense(a, b, init=init, std=std, bias=not (batch_norm and bn_position == "before"), rng=rng,
                            dtype=dtype))
        block: list[Layer] = [ReLU(dtype)]
        if batch_norm:
            bn = BatchNorm(b, alpha=bn_alpha, eps=bn_eps, dtype=dtype)
            block = [bn, *block] if bn_position == "before" else [*block, bn]
        layers += block
        if dropout < 1.0:
            layers.append(Dropout(dropout, rng=rng, dtype=dtype))
    layers.append(Dense(sizes[-1], k, init=init, std=std, rng=rng, dtype=dtype))
    return Sequential(layers, loss=loss, lam=lam)


def convnet(d: int, n_len: int, K: int, convs=((5, 20), (3, 20)), *, impl: str = "fast",
            padding: int | str = 0, bias: bool = False, loss: str = "cross_entropy", lam: float = 0.0,
            dropout: float = 1.0, pool: str = "none", rng: np.random.Generator | None = None,
            dtype=np.float32) -> Sequential:
    """The A3 character ConvNet: [Conv1D -> ReLU] for each (k, nf) in ``convs``, then Dense to K.

    Input (N, d*n_len) one-hot, column-major (or int indices (N, n_len), see ``Conv1D``); scores (N, K).
    ``padding``: zero columns on each side of every conv layer's input, or ``"same"`` for (k-1)/2 (odd k);
    ``bias``: bias terms in every layer (the sheet has none). He initialisation throughout; the first
    layer's sees one-hot input, so its fan-in is k1 (sig1 = sqrt(2/k1)), later layers n_prev*k, and the
    Dense layer nf_last*n_len_last. ``impl`` picks the convolution implementation (see nn/conv.py).
    ``dropout``: keep probability of inverted dropout on the last conv layer's output, before the
    Dense layer (which holds most of the weights); 1 = off, as in the sheet. ``pool``: 'none' (the
    sheet: the Dense layer sees every position) or 'max' (each filter's maximum over the positions,
    ``GlobalMaxPool1D``: position-free features, Dense K x nf_last).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    if not convs:
        raise HandgradError("convnet needs at least one (k, nf) convolution layer")
    layers: list[Layer] = []
    C, length = d, n_len
    for i, (k, nf) in enumerate(convs):
        if padding == "same":
            if k % 2 == 0:
                raise HandgradError(f"padding 'same' needs odd filter widths, layer {i + 1} has k={k}")
            p = (k - 1) // 2
        elif isinstance(padding, str):
            raise HandgradError(f"padding must be an integer or 'same', got {padding!r}")
        else:
            p = padding
        conv = Conv1D(C, length, k, nf, impl=impl, padding=p, bias=bias, init="he",
                      sparse_input=(i == 0), rng=rng, dtype=dtype)
        layers += [conv, ReLU()]
        C, length = nf, conv.n_out
    if pool == "max":
        layers.append(GlobalMaxPool1D(C, length))
        length = 1
    elif pool != "none":
        raise HandgradError(f"unknown pooling {pool!r}; choose none or max")
    if dropout < 1.0:
        layers.append(Dropout(dropout, rng=rng))
    layers.append(Dense(C * length, K, init="he", bias=bias, rng=rng, dtype=dtype))
    return Sequential(layers, loss=loss, lam=lam)


def patchify_convnet(f: int, nf: int, nh: int, K: int = 10, *, image_shape=(3, 32, 32), label_smoothing: float = 0.0,
                     lam: float = 0.0, init: str = "he", impl: str = "matmul", rng: np.random.Generator | None = None,
                     dtype=np.float32) -> Sequential:
    """The 2025 A3 sheet's ConvNet: n_f filters f x f x C with stride f (non-overlapping patches) and a
    bias each -> ReLU -> Dense to ``nh`` -> ReLU -> Dense to K, softmax + cross-entropy (with label
    smoothing if asked); L2 on the filters and both dense matrices; He initialisation.

    Input (N, C*H*W) image rows (channel-first, as CIFAR-10 stores them); scores (N, K).
    """
    conv = PatchConv2D(f, nf, image_shape, init=init, impl=impl, rng=rng, dtype=dtype)
    d = conv.n_p * nf
    return Sequential([conv, ReLU(dtype=dtype), Dense(d, nh, init=init, rng=rng, dtype=dtype), ReLU(dtype=dtype),
                       Dense(nh, K, init=init, rng=rng, dtype=dtype)], loss=CrossEntropy(label_smoothing), lam=lam)
