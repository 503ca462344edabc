"""Which training examples make up each epoch, in which order."""

from __future__ import annotations

import numpy as np

SAMPLINGS = ("sequential", "shuffle", "balanced", "power")


class EpochSampler:
    """Index arrays for successive epochs over labels ``y`` (N,).

    - ``sequential``: 0..N-1 every epoch (the sheet's default); ``indices`` returns None so the
      trainer can slice views instead of copying;
    - ``shuffle``: a fresh permutation every epoch;
    - ``balanced``: every epoch draws, without replacement, as many examples from each class as
      the smallest class has, then shuffles them (the A3 sheet's imbalance compensation).
    - ``power``: between natural (power 1) and balanced (power 0) frequencies: an epoch of N
      examples holds round(N n_c^power / sum_c n_c^power) of class c (whole passes over the class,
      then a draw without replacement), shuffled; ``weights`` gives each example the loss weight
      n_c^-power, so the expected loss is still the balanced one (each class counts the same) while
      a small class is replayed less often than with ``balanced``.
    """

    def __init__(self, y: np.ndarray, kind: str = "sequential", power: float = 0.5) -> None:
        if kind not in SAMPLINGS:
            raise ValueError(f"unknown sampling {kind!r}; choose one of {', '.join(SAMPLINGS)}")
        self.kind = kind
        self.n = len(y)
        self.weights: np.ndarray | None = None
        if kind in ("balanced", "power"):
            classes = np.unique(y)
            self.by_class = [np.flatnonzero(y == c) for c in classes]
            self.per_class = min(len(ix) for ix in self.by_class)
        if kind == "power":
            sizes = np.array([len(ix) for ix in self.by_class], dtype=np.float64)
            share = sizes ** power / np.sum(sizes ** power)
            self.counts = np.maximum(1, np.round(self.n * share)).astype(np.int64)
            w = np.zeros(self.n)
            for ix, size in zip(self.by_class, sizes):
                w[ix] = size ** -power
            self.weights = w  # the losses normalise weights per batch: only their ratios matter

    @property
    def epoch_size(self) -> int:
        if self.kind == "balanced":
            return self.per_class * len(self.by_class)
        if self.kind == "power":
            return int(self.counts.sum())
        return self.n

    def indices(self, rng: np.random.Generator) -> np.ndarray | None:
        if self.kind == "sequential":
            return None
        if self.kind == "shuffle":
            return rng.permutation(self.n)
        if self.kind == "power":
            picked = []
            for ix, m in zip(self.by_class, self.counts):
                full, rest = divmod(int(m), len(ix))
                picked += [rng.permutation(ix) for _ in range(full)] + [rng.choice(ix, rest, replace=False)]
            return rng.permutation(np.concatenate(picked))
        picked = np.concatenate([rng.choice(ix, self.per_class, replace=False) for ix in self.by_class])
        return rng.permutation(picked)
