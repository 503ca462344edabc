"""Optimizers: update a model's parameters in place from the gradients its backward set.

``step(model, lr)`` takes the learning rate from the schedule, so one optimizer serves every
schedule. State (velocities, moments) is kept per qualified parameter name.
"""

from __future__ import annotations

import numpy as np


class SGD:
    """Plain mini-batch gradient descent: theta <- theta - lr * g."""

    def step(self, model, lr: float) -> None:
        for _, layer, k in model.named_params():
            # in place: no new arrays on the hot path
            layer.params[k] -= lr * layer.grads[k]


class Momentum:
    """Heavy-ball momentum as in the A3 sheet: v <- rho v + lr g; theta <- theta - v."""

    def __init__(self, rho: float = 0.9, nesterov: bool = False) -> None:
        self.rho, self.nesterov = rho, nesterov
        self.v: dict[str, np.ndarray] = {}

    def step(self, model, lr: float) -> None:
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


class Adam:
    """Adam (Kingma & Ba 2015) with the paper's defaults beta1=.9, beta2=.999, eps=1e-8."""

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m: dict[str, np.ndarray] = {}
        self.s: dict[str, np.ndarray] = {}
        self.t = 0

    def step(self, model, lr: float) -> None:
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
