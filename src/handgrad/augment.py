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

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(X)
        c, h, w = self.shape
        imgs = X.reshape(n, c, h, w)
        if self.flip:
            flip = rng.random(n) < self.p_flip
            # a reversed view; np.where copies into a fresh batch, leaving the data set untouched
            imgs = np.where(flip[:, None, None, None], imgs[..., ::-1], imgs)
        t = self.translate
        if t:
            shifts = rng.integers(-t, t + 1, size=(n, 2))
            out = np.zeros_like(imgs)
            # one slice assignment per distinct shift, not per image
            for dy, dx in np.unique(shifts, axis=0):
                rows = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
                ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
                xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
                out[rows, :, yd, xd] = imgs[rows][:, :, ys, xs]
            imgs = out
        return imgs.reshape(n, -1)


class CharNoise:
    """``f(idx_batch, rng) -> idx_batch`` for names as character indices (N, n_len), -1 after the
    name: each character is replaced, with probability ``p``, by one drawn uniformly from the ``d``
    characters of the alphabet. A name whose every n-gram the net has memorised then looks a
    little new at each replay, which curbs memorising the few names of the small languages."""

    def __init__(self, p: float, d: int) -> None:
        self.p, self.d = float(p), int(d)

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        hit = (rng.random(X.shape) < self.p) & (X >= 0)
        out = X.copy()
        out[hit] = rng.integers(0, self.d, size=int(hit.sum()), dtype=X.dtype)
        return out
