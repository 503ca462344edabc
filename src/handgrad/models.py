"""Models: a stack of layers, a loss and an L2 weight; factories for the course's networks.

Data flows one way: ``forward`` through the layers to scores, the loss gives ``dscores``,
``backward`` runs the layers in reverse and each layer assigns its ``grads``; the L2 term
``lam * sum ||W||^2`` over every layer's ``regularized`` parameters is added here, once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from handgrad.losses import make_loss
from handgrad.nn import LAYER_TYPES, BatchNorm, Dense, Dropout, Layer, ReLU


class Model:
    """A sequential network with a loss.

    ``layers``: applied in order to inputs X (N, d) giving scores (N, K).
    ``loss``: name in ``handgrad.losses.LOSSES``; ``lam``: L2 weight on every weight matrix.
    """

    def __init__(self, layers: list[Layer], loss: str = "cross_entropy", lam: float = 0.0) -> None:
        self.layers = layers
        self.loss_name = loss
        self.loss = make_loss(loss)
        self.lam = float(lam)
        if layers:
            layers[0].needs_input_grad = False

    # -- forward / backward --------------------------------------------------------------
    def forward(self, X: np.ndarray, train: bool = False) -> np.ndarray:
        for layer in self.layers:
            X = layer.forward(X, train=train)
        return X

    def backward(self, dscores: np.ndarray) -> None:
        g = dscores
        for layer in reversed(self.layers):
            g = layer.backward(g)
        if self.lam:
            for layer in self.layers:
                for k in layer.regularized:
                    layer.grads[k] = layer.grads[k] + (2.0 * self.lam) * layer.params[k]

    def l2(self) -> float:
        """sum of squared regularised weights (without lam)."""
        return float(sum(np.vdot(l.params[k], l.params[k]) for l in self.layers for k in l.regularized))

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
                       train: bool = True) -> float:
        """One forward and backward pass on a batch; sets every layer's grads (L2 included) and
        returns the batch loss (the cost adds ``lam * l2()``, left out here to keep steps cheap)."""
        scores = self.forward(X, train=train)
        loss, dscores = self.loss(scores, y, sample_weight)
        self.backward(dscores)
        return loss

    def cost(self, X: np.ndarray, y: np.ndarray, train: bool = False) -> float:
        """J = mean loss + lam * sum ||W||^2 on (X, y); evaluation mode unless ``train`` (batch
        norm then uses the batch's statistics, as in a training step)."""
        loss, _ = self.loss(self.forward(X, train=train), y)
        return loss + self.lam * self.l2()

    def cost_terms(self, X: np.ndarray, y: np.ndarray, kinks: list | None = None,
                   train: bool = False) -> np.ndarray:
        """The cost split into small terms (loss terms, then lam * W_ij^2) that sum to ``cost``.

        Finite differences of the terms, summed exactly, lose far less to rounding than a
        difference of two totals: the gradient check relies on it. Works in complex128 too (the
        complex-step check: W*W, not |W|^2). ``kinks``: a list to append the kink inputs of every
        layer and of the loss to (see ``Layer.kink_inputs``).
        """
        s = self.forward(X, train=train)
        parts = [self.loss.terms(s, y).ravel()]
        parts += [self.lam * np.square(l.params[k]).ravel() for l in self.layers for k in l.regularized]
        if kinks is not None:
            kinks += [k for k in (l.kink_inputs() for l in self.layers) if k is not None]
            k = getattr(self.loss, "kink_inputs", lambda s, y: None)(s, y)
            if k is not None:
                kinks.append(k)
        return np.concatenate(parts)

    @property
    def uses_batch_stats(self) -> bool:
        """True when a training forward pass depends on the whole batch (batch norm): gradient
        checks must then differentiate the training-mode cost."""
        return any(isinstance(l, BatchNorm) for l in self.layers)

    # -- evaluation ----------------------------------------------------------------------
    def scores(self, X: np.ndarray, batch_size: int = 10_000) -> np.ndarray:
        """Scores (N, K) in evaluation mode, in chunks so big sets don't need big temporaries."""
        n = X.shape[0]  # not len(X): scipy.sparse inputs have no len
        if n <= batch_size:
            return self.forward(X, train=False)
        return np.concatenate([self.forward(X[i:i + batch_size]) for i in range(0, n, batch_size)])

    def predict_proba(self, X: np.ndarray) -> np.ndarray | None:
        return self.loss.probs(self.scores(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.scores(X).argmax(axis=1)

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """cost, loss and accuracy on a whole set (no dropout)."""
        return self.evaluate_scores(self.scores(X), y)

    def evaluate_scores(self, s: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """cost, loss and accuracy from scores already computed (callers that need more than these
        from the same forward pass, e.g. per-class accuracy, start here)."""
        loss, _ = self.loss(s, y)
        return {"cost": loss + self.lam * self.l2(), "loss": loss,
                "accuracy": float(np.mean(s.argmax(axis=1) == y))}

    # -- parameters ----------------------------------------------------------------------
    def named_params(self) -> Iterator[tuple[str, Layer, str]]:
        """(qualified name, layer, key) for every parameter, e.g. ('0.W', layer, 'W')."""
        for i, layer in enumerate(self.layers):
            for k in layer.params:
                yield f"{i}.{k}", layer, k

    def get_params(self) -> dict[str, np.ndarray]:
        return {name: layer.params[k] for name, layer, k in self.named_params()}

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        for name, layer, k in self.named_params():
            layer.params[k] = params[name].astype(layer.params[k].dtype, copy=True)

    def copy_params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.get_params().items()}

    def named_buffers(self) -> Iterator[tuple[str, Layer, str]]:
        """(qualified name, layer, key) for every buffer (non-trained state), e.g. ('1.mean', layer, 'mean')."""
        for i, layer in enumerate(self.layers):
            for k in layer.buffers:
                yield f"{i}.{k}", layer, k

    def get_buffers(self) -> dict[str, np.ndarray]:
        return {name: layer.buffers[k] for name, layer, k in self.named_buffers()}

    def copy_state(self) -> dict[str, dict[str, np.ndarray]]:
        """Copies of the parameters and the buffers: what a snapshot or a best checkpoint keeps
        (a batch-norm net needs its running averages beside its weights)."""
        return {"params": self.copy_params(), "buffers": {k: v.copy() for k, v in self.get_buffers().items()}}

    def set_state(self, state: dict[str, dict[str, np.ndarray]]) -> None:
        self.set_params(state["params"])
        for name, layer, k in self.named_buffers():
            layer.buffers[k] = state["buffers"][name].astype(layer.buffers[k].dtype, copy=True)

    def astype(self, dtype) -> "Model":
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def dtype(self):
        for _, layer, k in self.named_params():
            return layer.params[k].dtype
        return np.float32

    def config(self) -> dict:
        return {"loss": self.loss_name, "lam": self.lam, "layers": [l.config() for l in self.layers]}

    @classmethod
    def from_config(cls, cfg: dict, params: dict[str, np.ndarray] | None = None,
                    buffers: dict[str, np.ndarray] | None = None, source: str = "saved model") -> "Model":
        """Rebuild a model from ``config()`` and (optionally) its parameters and buffers (batch norm's
        running averages), checking everything.

        Before any layer is built: the loss, lam, the layer types, and for layers that can tell
        from their config (``Layer.param_shapes`` / ``Layer.sizes``: Dense, Conv1D) their sizes,
        that each one's input size is the previous one's output size, and the shape of every
        parameter given (so a hostile config cannot make handgrad allocate what it says). After:
        every parameter of every layer is given, floating-point, finite and of the built layer's
        shape, and no other is; with parameters, every buffer likewise (of its layer's kind of
        number and shape). A failure is a HandgradError naming ``source`` (the file), the
        layer and the parameter.
        """
        from handgrad.errors import HandgradError
        from handgrad.losses import LOSSES

        def fail(msg: str):
            raise HandgradError(f"{source}: {msg}")

        def check(i: int, typ: str, k: str, shape: tuple[int, ...]) -> None:
            where, a = f"layer {i} ({typ}) parameter {k}", params.get(f"{i}.{k}")
            if a is None:
                fail(f"{where} is missing")
            if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
                fail(f"{where} must be a floating-point array, got {getattr(a, 'dtype', type(a).__name__)}")
            if a.shape != tuple(shape):
                fail(f"{where} has shape {a.shape}, expected {tuple(shape)}")
            if not np.isfinite(a).all():
                fail(f"{where} holds NaN or infinite values")

        if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list) or not cfg["layers"]:
            fail("the model has no list of layers")
        if not isinstance(cfg.get("loss"), str) or cfg["loss"] not in LOSSES:
            fail(f"unknown loss {cfg.get('loss')!r} (known: {', '.join(LOSSES)})")
        lam = cfg.get("lam", 0.0)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0 or lam == float("inf"):
            fail(f"lam must be a finite number >= 0, got {lam!r}")
        prev = None  # (layer index, output size) of the last layer that sets a size
        for i, lc in enumerate(cfg["layers"]):
            typ = lc.get("type") if isinstance(lc, dict) else None
            if not isinstance(typ, str) or typ not in LAYER_TYPES:
                fail(f"layer {i}: unknown layer type {typ!r} (known: {', '.join(LAYER_TYPES)})")
            try:
                shapes, sizes = LAYER_TYPES[typ].param_shapes(lc), LAYER_TYPES[typ].sizes(lc)
            except (TypeError, ValueError) as e:
                fail(f"layer {i} ({typ}): {e}")
            if sizes is not None:
                if prev is not None and sizes[0] != prev[1]:
                    fail(f"layer {i} ({typ}) takes inputs of size {sizes[0]}, but layer {prev[0]} gives {prev[1]}")
                prev = (i, sizes[1])
            for k, shape in (shapes or {}).items() if params is not None else ():
                check(i, typ, k, shape)
        layers = []
        for i, lc in enumerate(cfg["layers"]):
            lc = dict(lc)
            typ = lc.pop("type")
            try:
                layers.append(LAYER_TYPES[typ](**lc))
            except (TypeError, ValueError, OverflowError, MemoryError, HandgradError) as e:
                fail(f"layer {i} ({typ}): {e}")
        model = cls(layers, loss=cfg["loss"], lam=lam)
        if params is not None:
            names = [name for name, _, _ in model.named_params()]
            for name, layer, k in model.named_params():
                check(int(name.split(".")[0]), type(layer).__name__, k, layer.params[k].shape)
                layer.params[k] = np.asarray(params[name])
            unexpected = sorted(set(params) - set(names))
            if unexpected:
                fail(f"parameters the layers do not have: {', '.join(unexpected)}")
            given = {} if buffers is None else buffers
            for name, layer, k in model.named_buffers():
                where = f"layer {name.split('.')[0]} ({type(layer).__name__}) buffer {k}"
                a, want = given.get(name), layer.buffers[k]
                if a is None:
                    fail(f"{where} is missing")
                if not isinstance(a, np.ndarray) or a.dtype.kind != want.dtype.kind:
                    fail(f"{where} must be an array of kind {want.dtype.kind!r}, got {getattr(a, 'dtype', type(a).__name__)}")
                if a.shape != want.shape:
                    fail(f"{where} has shape {a.shape}, expected {want.shape}")
                if not np.isfinite(a).all():
                    fail(f"{where} holds NaN or infinite values")
                layer.buffers[k] = np.asarray(a)
            for i, layer in enumerate(model.layers):
                try:
                    layer.check_buffers()
                except ValueError as e:
                    fail(f"layer {i} ({type(layer).__name__}): {e}")
            unexpected = sorted(set(given) - {name for name, _, _ in model.named_buffers()})
            if unexpected:
                fail(f"buffers the layers do not have: {', '.join(unexpected)}")
        return model

    def __repr__(self) -> str:
        return f"Model({self.layers}, loss={self.loss_name!r}, lam={self.lam})"


def linear_classifier(d: int, k: int, *, loss: str = "cross_entropy", lam: float = 0.0,
                      init: str = "normal", std: float | None = None,
                      rng: np.random.Generator | None = None) -> Model:
    """s = Wx + b, W (k, d) initialised N(0, 0.01^2) by default (A1), Xavier as an option."""
    return Model([Dense(d, k, init=init, std=std, rng=rng)], loss=loss, lam=lam)


def mlp(d: int, hidden: list[int], k: int, *, loss: str = "cross_entropy", lam: float = 0.0,
        init: str = "fan_in", std: float | None = None, dropout: float = 1.0, batch_norm: bool = False,
        bn_position: str = "before", bn_alpha: float = 0.9, bn_eps: float = 1e-8,
        rng: np.random.Generator | None = None) -> Model:
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
        layers.append(Dense(a, b, init=init, std=std, bias=not (batch_norm and bn_position == "before"), rng=rng))
        block: list[Layer] = [ReLU()]
        if batch_norm:
            bn = BatchNorm(b, alpha=bn_alpha, eps=bn_eps)
            block = [bn, *block] if bn_position == "before" else [*block, bn]
        layers += block
        if dropout < 1.0:
            layers.append(Dropout(dropout, rng=rng))
    layers.append(Dense(sizes[-1], k, init=init, std=std, rng=rng))
    return Model(layers, loss=loss, lam=lam)


def convnet(d: int, n_len: int, K: int, convs=((5, 20), (3, 20)), *, impl: str = "fast",
            padding: int | str = 0, bias: bool = False, loss: str = "cross_entropy", lam: float = 0.0,
            dropout: float = 1.0, pool: str = "none", rng: np.random.Generator | None = None,
            dtype=np.float32) -> Model:
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
    from handgrad.errors import HandgradError
    from handgrad.nn.conv import Conv1D

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
        from handgrad.nn.pool import GlobalMaxPool1D

        layers.append(GlobalMaxPool1D(C, length))
        length = 1
    elif pool != "none":
        raise HandgradError(f"unknown pooling {pool!r}; choose none or max")
    if dropout < 1.0:
        layers.append(Dropout(dropout, rng=rng))
    layers.append(Dense(C * length, K, init="he", bias=bias, rng=rng, dtype=dtype))
    return Model(layers, loss=loss, lam=lam)
