"""A sequential model: a stack of layers, a loss and an L2 weight.

Data flows one way: ``forward`` through the layers to scores, the loss gives ``dscores``,
``backward`` runs the layers in reverse and each layer assigns its ``grads``; the L2 term
``lam * sum ||W||^2`` over every layer's ``regularized`` parameters is added here, once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from handgrad.errors import HandgradError
from handgrad.losses import Loss, make_loss
from handgrad.nn import LAYER_TYPES, BatchNorm, Layer


class Sequential:
    """Layers applied in order, a loss and an L2 weight.

    ``layers``: inputs X (N, d) -> scores (N, K); ``loss``: a loss object (``handgrad.CrossEntropy()``)
    or its name; ``lam``: the L2 weight lambda on every layer's ``regularized`` parameters.

    >>> import numpy as np, handgrad as hg
    >>> model = hg.Sequential([hg.Dense(4, 3, rng=np.random.default_rng(0))], loss=hg.CrossEntropy())
    >>> scores, cost = model.forward(np.ones((2, 4), np.float32), y=np.array([0, 2]))
    >>> scores.shape
    (2, 3)
    """

    def __init__(self, layers: list[Layer], loss: str | Loss = "cross_entropy", lam: float = 0.0) -> None:
        self.layers = list(layers)
        self.loss = make_loss(loss)
        self.lam = float(lam)
        if self.layers:
            self.layers[0].needs_input_grad = False  # its input is data: no dx to compute

    @property
    def loss_name(self) -> str:
        return self.loss.name

    # -- forward / backward --------------------------------------------------------------
    def forward(self, X: np.ndarray, y: np.ndarray | None = None, *, train: bool = False,
                sample_weight: np.ndarray | None = None):
        """Scores (N, K) of X; with labels ``y``, ``(scores, cost)`` where the cost is the loss plus
        ``lam * sum ||W||^2``. Evaluation mode unless ``train`` (dropout on, batch norm on the
        batch's statistics)."""
        for layer in self.layers:
            X = layer.forward(X, train=train)
        if y is None:
            return X
        loss, _ = self.loss(X, y, sample_weight)
        return X, loss + self.lam * self.l2()

    __call__ = forward

    def backward(self, dscores: np.ndarray) -> None:
        """Run the layers in reverse from the loss's dscores; every layer assigns its grads, and the
        L2 term's 2 lam W is added to the regularised ones."""
        g = dscores
        for layer in reversed(self.layers):
            g = layer.backward(g)
        if self.lam:
            for layer in self.layers:
                for k in layer.regularized:
                    layer.grads[k] = layer.grads[k] + (2.0 * self.lam) * layer.params[k]

    def l2(self) -> float:
        """The sum of squared regularised weights (without lam)."""
        return float(sum(np.vdot(l.params[k], l.params[k]) for l in self.layers for k in l.regularized))

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
                       train: bool = True) -> float:
        """One forward and backward pass on a batch: sets every layer's grads (L2 included) and
        returns the batch loss (the cost adds ``lam * l2()``, left out here to keep steps cheap)."""
        scores = self.forward(X, train=train)
        loss, dscores = self.loss(scores, y, sample_weight)
        self.backward(dscores)
        return loss

    def cost(self, X: np.ndarray, y: np.ndarray, train: bool = False) -> float:
        """J = mean loss + lam * sum ||W||^2 on (X, y)."""
        return self.forward(X, y, train=train)[1]

    def cost_terms(self, X: np.ndarray, y: np.ndarray, kinks: list | None = None,
                   train: bool = False) -> np.ndarray:
        """The cost split into small terms (loss terms, then lam * W_ij^2) that sum to ``cost``.

        Finite differences of the terms, summed exactly, lose far less to rounding than a difference
        of two totals: the gradient check relies on it. Works in complex128 too (the complex-step
        check: W*W, not |W|^2). ``kinks``: a list to append the kink inputs of every layer and of the
        loss to (see ``Layer.kink_inputs``).
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
        """True when a training forward pass depends on the whole batch (batch norm): gradient checks
        then differentiate the training-mode cost."""
        return any(isinstance(l, BatchNorm) for l in self.layers)

    # -- evaluation (training is handgrad.fit(model, ...): data flows one way) -------------------
    def scores(self, X: np.ndarray, batch_size: int = 10_000) -> np.ndarray:
        """Scores (N, K) in evaluation mode, in chunks so big sets don't need big temporaries.

        No backward pass follows an evaluation, so the layers' caches are let go afterwards: a big
        batch's intermediates (a served model's, a validation set's) are not kept alive."""
        n = X.shape[0]  # not len(X): scipy.sparse inputs have no len
        try:
            if n <= batch_size:
                return self.forward(X)
            return np.concatenate([self.forward(X[i:i + batch_size]) for i in range(0, n, batch_size)])
        finally:
            for layer in self.layers:
                layer.cache = None

    def predict_proba(self, X: np.ndarray) -> np.ndarray | None:
        return self.loss.probs(self.scores(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.scores(X).argmax(axis=1)

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """cost, loss and accuracy on a whole set (evaluation mode)."""
        return self.evaluate_scores(self.scores(X), y)

    def evaluate_scores(self, s: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """cost, loss and accuracy from scores already computed."""
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
        """Copy ``params`` (qualified name -> array) into the layers. An array of another dtype than
        the model's is an error, never a silent cast: call ``astype`` first, or cast the arrays."""
        for name, layer, k in self.named_params():
            a = np.asarray(params[name])
            if a.dtype != layer.params[k].dtype:
                raise HandgradError(f"parameter {name} is {a.dtype} but the model is {layer.params[k].dtype}: "
                                    f"call model.astype(np.{a.dtype}) first, or pass {layer.params[k].dtype} arrays")
            if a.shape != layer.params[k].shape:
                raise HandgradError(f"parameter {name} has shape {a.shape}, the layer's is {layer.params[k].shape}")
            layer.params[k] = a.copy()

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
            layer.buffers[k] = state["buffers"][name].copy()

    def astype(self, dtype) -> "Sequential":
        """Cast every layer's parameters in place (float32 to train, float64 to check gradients)."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def dtype(self):
        for _, layer, k in self.named_params():
            return layer.params[k].dtype
        return np.float32

    # -- saving ------------------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-able description of the architecture (``handgrad.modelfile`` saves it beside the arrays)."""
        return {"loss": self.loss.name, **({"loss_args": self.loss.config()} if self.loss.config() else {}),
                "lam": self.lam, "layers": [l.config() for l in self.layers]}

    @classmethod
    def from_config(cls, cfg: dict, params: dict[str, np.ndarray] | None = None,
                    buffers: dict[str, np.ndarray] | None = None) -> "Sequential":
        """Rebuild a model from ``config()`` and its arrays. Trusts its input: a model file is checked
        by ``handgrad.modelfile`` before it gets here."""
        layers = []
        for i, lc in enumerate(cfg["layers"]):
            args = {k: v for k, v in lc.items() if k != "type"}
            try:
                layers.append(LAYER_TYPES[lc["type"]](**args))
            except (TypeError, ValueError, OverflowError, MemoryError, HandgradError) as e:
                raise HandgradError(f"layer {i} ({lc['type']}): {e}") from None
        model = cls(layers, loss=make_loss(cfg["loss"], **cfg.get("loss_args", {})), lam=cfg.get("lam", 0.0))
        model.put_arrays(params, buffers)
        return model

    def put_arrays(self, params: dict | None, buffers: dict | None = None) -> None:
        """Put saved parameters and buffers (qualified name -> array) into the layers as they are,
        their dtype included; unlike ``set_params`` this trusts shapes and dtypes (a model file's
        were checked by ``handgrad.modelfile``)."""
        for name, layer, k in self.named_params() if params is not None else ():
            layer.params[k] = np.asarray(params[name])
        for name, layer, k in self.named_buffers() if buffers is not None else ():
            layer.buffers[k] = np.asarray(buffers[name])

    def __repr__(self) -> str:
        inner = "".join(f"\n  {layer!r}," for layer in self.layers)
        return f"Sequential([{inner}\n], loss={self.loss!r}, lam={self.lam:g})"
