"""Optimisers: update a model's parameters in place from the gradients its backward pass assigned.

``optimizer.step(model, lr)`` takes the learning rate from the schedule, so one optimiser serves every
schedule. State (velocities, moments, sums of squares) is kept per qualified parameter name. Every
optimiser takes ``clip``: each gradient entry is first clipped to [-clip, clip] (the A4 sheet's 5).
"""

from __future__ import annotations

import numpy as np


class Optimizer:
    """Base class: ``step`` clips the gradients when asked, then ``update``s every parameter."""

    def __init__(self, clip: float | None = None) -> None:
        if clip is not None and not clip > 0:
            raise ValueError(f"clip must be > 0 (or None), got {clip!r}")
        self.clip = clip

    def step(self, model, lr: float) -> None:
        if self.clip is not None:
            for _, layer, k in model.named_params():
                np.clip(layer.grads[k], -self.clip, self.clip, out=layer.grads[k])
        self.update(model, lr)

    def update(self, model, lr: float) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items() if not isinstance(v, dict))})"


class SGD(Optimizer):
    """Plain mini-batch gradient descent: theta <- theta - lr * g."""

    def update(self, model, lr: float) -> None:
        for _, layer, k in model.named_params():
            layer.params[k] -= lr * layer.grads[k]  # in place: no new arrays on the hot path


class Momentum(Optimizer):
    """Heavy-ball momentum as in the A3 sheet: v <- rho v + lr g; theta <- theta - v. With
    ``nesterov``, the step looks ahead: theta <- theta - (rho v + lr g)."""

    def __init__(self, rho: float = 0.9, nesterov: bool = False, clip: float | None = None) -> None:
        super().__init__(clip)
        self.rho, self.nesterov = rho, nesterov
        self.v: dict[str, np.ndarray] = {}

    def update(self, model, lr: float) -> None:
        for name, layer, k in model.named_params():
            g = layer.grads[k]
            v = self.v.get(name)
            if v is None:
                v = self.v[name] = np.zeros_like(g)
            v *= self.rho
            v += lr * g
            if self.nesterov:
                layer.params[k] -= self.rho * v + lr * g
            else:
                layer.params[k] -= v


class Nesterov(Momentum):
    """Nesterov momentum (the A2 sheet's bonus): ``Momentum(rho, nesterov=True)``."""

    def __init__(self, rho: float = 0.9, clip: float | None = None) -> None:
        super().__init__(rho, nesterov=True, clip=clip)


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al. 2011) as the A4 sheet: G <- G + g^2; theta <- theta - lr g / sqrt(G + eps).

    G is kept in float64 whatever the parameters' dtype: it sums hundreds of thousands of squares,
    and in float32 the small ones stop counting once G is large (the step sizes then stay too big;
    measured on the sheet's RNN: a worse smooth loss, by up to 3 at 20,000 updates)."""

    def __init__(self, eps: float = 1e-8, clip: float | None = None) -> None:
        super().__init__(clip)
        self.eps = eps
        self.G: dict[str, np.ndarray] = {}

    def update(self, model, lr: float) -> None:
        for name, layer, k in model.named_params():
            g = layer.grads[k]
            G = self.G.get(name)
            if G is None:
                G = self.G[name] = np.zeros(g.shape, dtype=np.float64)
            G += np.square(g, dtype=np.float64)
            step = g / np.sqrt(G + self.eps)
            step *= lr
            layer.params[k] -= step


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with the paper's defaults beta1=.9, beta2=.999, eps=1e-8."""

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 clip: float | None = None) -> None:
        super().__init__(clip)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m: dict[str, np.ndarray] = {}
        self.s: dict[str, np.ndarray] = {}
        self.t = 0

    def update(self, model, lr: float) -> None:
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t
        c2 = 1.0 - self.beta2 ** self.t
        for name, layer, k in model.named_params():
            g = layer.grads[k]
            if name not in self.m:
                self.m[name] = np.zeros_like(g)
                self.s[name] = np.zeros_like(g)
            m, s = self.m[name], self.s[name]
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            s *= self.beta2
            s += (1.0 - self.beta2) * (g * g)
            layer.params[k] -= (lr / c1) * m / (np.sqrt(s / c2) + self.eps)
