"""Learning-rate schedules: each is a pure function of the update step t (0-based), ``schedule(t)``.

Epoch-based schedules are built with ``steps_per_epoch`` so the trainer never special-cases one; any
function of the step works as a schedule too (``handgrad.fit(..., schedule=lambda t: 0.1 / (1 + t))``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Constant:
    """The same learning rate ``eta`` at every step (the A1 sheet)."""

    eta: float

    def __call__(self, t: int) -> float:
        return self.eta


@dataclass(frozen=True)
class StepDecay:
    """eta * factor ** floor(epoch / every): e.g. divide by 10 every 10 epochs."""

    eta: float
    factor: float
    every: int  # epochs
    steps_per_epoch: int

    def __call__(self, t: int) -> float:
        return self.eta * self.factor ** ((t // self.steps_per_epoch) // self.every)


@dataclass(frozen=True)
class ExponentialDecay:
    """eta * gamma ** epoch: the sheet's 'decay by ~0.9 after each epoch'."""

    eta: float
    gamma: float
    steps_per_epoch: int

    def __call__(self, t: int) -> float:
        return self.eta * self.gamma ** (t // self.steps_per_epoch)


@dataclass(frozen=True)
class Cyclical:
    """Triangular cyclical learning rate (Smith 2015), as the A2 sheet defines it.

    One cycle is 2 * n_s steps: up from eta_min to eta_max in n_s steps, then back down. With
    ``growth`` g, cycle c (from 0) has the half-length n_s * g^c: the 2025 A3 sheet's "train longer"
    doubles it each cycle (g = 2: 800, 1600, 3200).
    """

    eta_min: float
    eta_max: float
    n_s: int
    growth: float = 1.0

    def half_length(self, cycle: int) -> int:
        return int(round(self.n_s * self.growth ** cycle))

    def updates(self, n_cycles: float) -> int:
        """Updates in the first ``n_cycles`` cycles (a fraction of the last one counts in proportion)."""
        whole = int(n_cycles)
        return sum(2 * self.half_length(c) for c in range(whole)) + int(round((n_cycles - whole) * 2 *
                                                                               self.half_length(whole)))

    def __call__(self, t: int) -> float:
        n_s = self.n_s
        if self.growth != 1.0:
            c = 0
            while t >= 2 * self.half_length(c):
                t -= 2 * self.half_length(c)
                c += 1
            n_s = self.half_length(c)
        pos = t % (2 * n_s)
        frac = pos / n_s if pos <= n_s else 2.0 - pos / n_s
        return self.eta_min + frac * (self.eta_max - self.eta_min)


@dataclass(frozen=True)
class LinearRange:
    """eta grows linearly from eta_min to eta_max over n_steps: the LR range test's sweep."""

    eta_min: float
    eta_max: float
    n_steps: int

    def __call__(self, t: int) -> float:
        return self.eta_min + (self.eta_max - self.eta_min) * min(t, self.n_steps) / self.n_steps


def curve(schedule, n_steps: int) -> np.ndarray:
    """The schedule's value at every step 0..n_steps-1 (for the learning-rate figure)."""
    return np.array([schedule(t) for t in range(n_steps)])
