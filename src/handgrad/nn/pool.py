"""Global max pooling over the positions of a sequence (after the ConvNet's last conv layer).

A Dense layer on the flattened (position x filter) responses gives every filter a separate weight
at every position, so "-ov" ending a 6-letter name and "-ov" ending an 8-letter one share nothing
and the net memorises positions. Taking each filter's maximum over the positions (Kim 2014) makes
the features position-free detectors of character patterns, like a bag of n-grams, with nf inputs
to the Dense layer instead of nf * n_len.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.layer import Layer, config_int


class GlobalMaxPool1D(Layer):
    """y[j, c] = max_i x[j, i, c]; no parameters.

    Shapes: x (N, L*C) column-major as the conv layers give it (index pos*C + channel) -> y (N, C).
    Backward sends dy[j, c] to the position of the maximum (the first one if several are equal:
    a subgradient; after a ReLU, tied maxima are zeros whose ReLU gradient is zero anyway).
    """

    def __init__(self, C: int, n_len: int, dtype=np.float32) -> None:
        super().__init__(dtype)
        self.C, self.n_len = int(C), int(n_len)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        x3 = x.reshape(x.shape[0], self.n_len, self.C)
        arg = x3.argmax(axis=1)  # (N, C)
        self.cache = (arg, x.shape, x.dtype)
        return np.take_along_axis(x3, arg[:, None, :], axis=1)[:, 0, :]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        arg, shape, dtype = self.cache
        dx = np.zeros((shape[0], self.n_len, self.C), dtype=np.result_type(dtype, dy.dtype))
        np.put_along_axis(dx, arg[:, None, :], dy[:, None, :], axis=1)
        self.grads = {}
        return dx.reshape(shape)

    @classmethod
    def sizes(cls, cfg: dict) -> tuple[int, int]:
        """(n_len * C, C): what a saved model's shape check sees of this layer."""
        C, n_len = config_int(cfg, "C"), config_int(cfg, "n_len")
        return C * n_len, C

    def config(self) -> dict:
        return {"type": "GlobalMaxPool1D", "C": self.C, "n_len": self.n_len}
