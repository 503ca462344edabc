"""Flips and translations of standardised image rows."""

import numpy as np

from handgrad.augment import ImageAugmenter


def test_flip_mirrors_about_half_the_images_and_leaves_the_input_alone(rng):
    X = rng.normal(size=(200, 3 * 4 * 5)).astype(np.float32)
    X0 = X.copy()
    Y = ImageAugmenter(flip=True, shape=(3, 4, 5))(X, np.random.default_rng(1))
    assert np.array_equal(X, X0)
    I, J = X.reshape(-1, 3, 4, 5), Y.reshape(-1, 3, 4, 5)
    flipped = np.array([np.array_equal(J[i], I[i][..., ::-1]) for i in range(200)])
    same = np.array([np.array_equal(J[i], I[i]) for i in range(200)])
    assert np.all(flipped | same) and 60 < flipped.sum() < 140


def test_translation_shifts_and_fills_with_zeros(rng):
    X = rng.normal(size=(50, 2 * 6 * 6)).astype(np.float32)
    Y = ImageAugmenter(flip=False, translate=1, shape=(2, 6, 6))(X, np.random.default_rng(0))
    I, J = X.reshape(-1, 2, 6, 6), Y.reshape(-1, 2, 6, 6)
    for i in range(50):
        ok = False
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                R = np.roll(I[i], (dy, dx), axis=(1, 2))
                if dy == 1: R[:, 0] = 0
                if dy == -1: R[:, -1] = 0
                if dx == 1: R[:, :, 0] = 0
                if dx == -1: R[:, :, -1] = 0
                ok |= np.array_equal(R, J[i])
        assert ok, i
