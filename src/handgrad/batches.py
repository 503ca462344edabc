"""Which training examples make up each epoch, in which order, and how they are cut into batches:
rows of a data set (``ExampleBatches``: sequential, shuffled, class-balanced or between the two) or
windows of one long sequence such as a book (``SequenceBatches``). ``handgrad.fit`` takes either."""

from __future__ import annotations

import numpy as np

from handgrad.errors import HandgradError

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


class ExampleBatches:
    """Mini-batches of examples (rows of X, y, and the sampler's loss weights or None) for successive
    epochs, in an EpochSampler's order."""

    def __init__(self, y: np.ndarray, kind: str = "sequential", n_batch: int = 100, power: float = 0.5) -> None:
        self.sampler = EpochSampler(y, kind, power)
        self.n_batch = n_batch

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.sampler.epoch_size // self.n_batch)  # a last, smaller batch counts

    def epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator):
        """Yield (X_batch, y_batch, weights_batch or None) for one epoch."""
        order = self.sampler.indices(rng)
        n, w = self.n_batch, self.sampler.weights
        for start in range(0, self.sampler.epoch_size, n):
            if order is None:  # sequential: slices are views, no copy
                yield X[start:start + n], y[start:start + n], None
            else:
                b = order[start:start + n]
                yield X[b], y[b], None if w is None else w[b]


class SequenceBatches:
    """Windows of ``seq_length`` consecutive positions of one long sequence (a text), B = n_batch
    windows per batch: X_batch, y_batch (B, seq_length).

    - ``sequential``: the sequence is cut into B equal streams read side by side, so row i of the
      next batch continues row i of this one (a carried hidden state stays meaningful). With B = 1
      this is the A4 sheet's loop: e = 0, T, 2T, ... while a whole window fits.
    - ``random``: every batch takes B windows at uniformly drawn locations; an epoch is as many
      batches as a sequential epoch has. ``carries_state`` is False: nothing continues.

    Batches come as (X_batch, y_batch, None): no loss weights.
    """

    KINDS = ("sequential", "random")

    def __init__(self, n: int, seq_length: int, n_batch: int = 1, kind: str = "sequential") -> None:
        if kind not in self.KINDS:
            raise HandgradError(f"sampling {kind!r} does not apply to sequences; choose one of "
                                f"{', '.join(self.KINDS)}")
        self.n, self.T, self.B, self.kind = n, seq_length, n_batch, kind
        self.stream = n // n_batch
        if self.stream < seq_length:
            raise HandgradError(f"a text of {n} characters cannot give {n_batch} streams of at least "
                                f"seq_length = {seq_length} characters: lower n_batch or seq_length")
        self.carries_state = kind == "sequential"
        self._base = np.arange(n_batch)[:, None] * self.stream + np.arange(seq_length)

    @property
    def steps_per_epoch(self) -> int:
        return self.stream // self.T

    def epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator):
        T = self.T
        for k in range(self.steps_per_epoch):
            if self.kind == "sequential":
                if self.B == 1:  # views, no copy
                    yield X[k * T:(k + 1) * T][None], y[k * T:(k + 1) * T][None], None
                    continue
                idx = self._base + k * T
            else:
                idx = rng.integers(0, self.n - T + 1, size=self.B)[:, None] + np.arange(T)
            yield X[idx], y[idx], None
