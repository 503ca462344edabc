"""A data set ready for a model: what every loader of ``handgrad.datasets`` returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from handgrad.alphabet import Alphabet


@dataclass(eq=False)
class Dataset:
    """Training, validation and (optionally) test arrays ready for a model: X (N, d) and y (N,) int.

    X is standardised float rows for images, character indices (N, n_len) or n-gram rows for
    surnames, and for a text the characters (N,) with y their successors. ``classes`` names the
    labels (for a text: its characters). ``state`` holds the arrays a saved model keeps so that
    predictions preprocess like training (the images' mean and std, the n-gram vocabulary); ``meta``
    the JSON-able facts (image shape, alphabet, split sizes, ...). Properties read them back.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    classes: tuple[str, ...]
    state: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    #: surnames: names -> the model's inputs, exactly as the training names were encoded (lowercased;
    #: character indices, or n-gram rows with the training vocabulary)
    encode: Callable | None = field(default=None, repr=False)

    @property
    def d(self) -> int:
        """Input size: features per example (for a text, the alphabet size)."""
        return self.X_train.shape[1] if self.X_train.ndim > 1 else len(self.classes)

    @property
    def K(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """(channels, height, width) of an image data set, else None."""
        return tuple(self.meta["image_shape"]) if "image_shape" in self.meta else None

    @property
    def alphabet(self) -> Alphabet | None:
        """The characters of a text or of the surnames, in index order."""
        return Alphabet(self.meta["alphabet"]) if "alphabet" in self.meta else None

    @property
    def preamble(self) -> str:
        """A text's opening, read before held-out or generated text (see ``handgrad.datasets.text``)."""
        return self.meta.get("preamble", "")

    def __repr__(self) -> str:
        sizes = ", ".join(f"{p} {getattr(self, 'X_' + p).shape[0]:,}" for p in ("train", "val", "test")
                          if getattr(self, "X_" + p) is not None)
        return f"Dataset({self.meta.get('dataset', '?')}: {sizes}; {self.K} classes)"
