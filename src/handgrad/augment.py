"""Data augmentation of image batches: horizontal flips and small random translations.

Works on standardised rows (N, 3*32*32), channel-first as CIFAR-10 stores them. Zero is the
mean after standardisation, so translated-in pixels are filled with zeros.
"""

from __future__ import annotations

import numpy as np


class ImageAugmenter:
    """``f(X_batch, rng) -> X_batch``: flip each image with probability ``p_flip`` and shift it by
    up to ``translate`` pixels in x and y."""

    def __init__(self, flip: bool = True, translate: int = 0, shape: tuple[int, int, int] = (3, 32, 32),
                 p_flip: float = 0.5) -> None:
        self.flip, self.translate, self.shape, self.p_flip = flip, translate, shape, p_flip
        c, h, w = shape
        # the flip as a precomputed permutation of feature indices (the 2024 sheet's trick)
        self.flip_index = np.arange(c * h * w).reshape(shape)[:, :, ::-1].ravel()

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        X = X.copy()
        n = len(X)
        if self.flip:
            m = rng.random(n) < self.p_flip
            X[m] = X[m][:, self.flip_index]
        t = self.translate
        if t:
            c, h, w = self.shape
            imgs = X.reshape(n, c, h, w)
            shifts = rng.integers(-t, t + 1, size=(n, 2))
            out = np.zeros_like(imgs)
            for i, (dy, dx) in enumerate(shifts):
                ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
                xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
                out[i, :, yd, xd] = imgs[i, :, ys, xs]
            X = out.reshape(n, -1)
        return X
