"""A data set ready for a model: what every loader hands to training."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Prepared:
    """Training, validation and (optionally) test arrays ready for a model: X (N, d), y (N,) int.

    X is standardised float rows for images, character indices (N, n_len) for surnames, and for a
    text the characters (N,) with y their successors (d is then the alphabet size).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    classes: tuple[str, ...]
    #: arrays saved beside the model so predictions preprocess like training (e.g. mean/std)
    state: dict[str, np.ndarray] = field(default_factory=dict)
    #: JSON-able facts saved with the model (image shape, alphabet, ...)
    meta: dict = field(default_factory=dict)

    @property
    def d(self) -> int:
        return self.X_train.shape[1] if self.X_train.ndim > 1 else len(self.classes)

    @property
    def K(self) -> int:
        return len(self.classes)
