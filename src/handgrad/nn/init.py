"""Weight initialisations, each drawn from an explicit Generator."""

from __future__ import annotations

import numpy as np

INITS = ("normal", "xavier", "he", "fan_in")


def init_weight(kind: str, shape: tuple[int, ...], *, fan_in: int, fan_out: int,
                std: float | None, rng: np.random.Generator) -> np.ndarray:
    """Draw a float64 array of ``shape``.

    - ``normal``: N(0, std^2), std defaults to 0.01 (the A1 sheet);
    - ``fan_in``: N(0, 1/fan_in) (the A2 sheet);
    - ``xavier``: N(0, 2/(fan_in + fan_out));
    - ``he``: N(0, 2/fan_in).
    An explicit ``std`` overrides the rule for every kind.
    """
    rules = {
        "normal": 0.01,
        "fan_in": np.sqrt(1.0 / fan_in),
        "xavier": np.sqrt(2.0 / (fan_in + fan_out)),
        "he": np.sqrt(2.0 / fan_in),
    }
    if kind not in rules:
        raise ValueError(f"unknown init {kind!r}; choose one of {', '.join(INITS)}")
    s = rules[kind] if std is None else std
    return rng.standard_normal(shape) * s
