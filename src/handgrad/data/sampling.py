"""Which training examples make up each epoch, in which order."""

from __future__ import annotations

import numpy as np

SAMPLINGS = ("sequential", "shuffle", "balanced")


class EpochSampler:
    """Index arrays for successive epochs over labels ``y`` (N,).

    - ``sequential``: 0..N-1 every epoch (the sheet's default); ``indices`` returns None so the
      trainer can slice views instead of copying;
    - ``shuffle``: a fresh permutation every epoch;
    - ``balanced``: every epoch draws, without replacement, as many examples from each class as
      the smallest class has, then shuffles them (the A3 sheet's imbalance compensation).
    """

    def __init__(self, y: np.ndarray, kind: str = "sequential") -> None:
        if kind not in SAMPLINGS:
            raise ValueError(f"unknown sampling {kind!r}; choose one of {', '.join(SAMPLINGS)}")
        self.kind = kind
        self.n = len(y)
        if kind == "balanced":
            classes = np.unique(y)
            self.by_class = [np.flatnonzero(y == c) for c in classes]
            self.per_class = min(len(ix) for ix in self.by_class)

    @property
    def epoch_size(self) -> int:
        return self.per_class * len(self.by_class) if self.kind == "balanced" else self.n

    def indices(self, rng: np.random.Generator) -> np.ndarray | None:
        if self.kind == "sequential":
            return None
        if self.kind == "shuffle":
            return rng.permutation(self.n)
        picked = np.concatenate([rng.choice(ix, self.per_class, replace=False) for ix in self.by_class])
        return rng.permutation(picked)
