"""The 2025 A3 sheet's "patchify" convolution: f x f filters with stride f and no padding.

The image is cut into n_p = (H/f) * (W/f) non-overlapping f x f patches, and each of the n_f
filters is applied to each patch: a convolution whose windows do not overlap is one matrix product
of the patch matrix (the sheet's MX, n_p x f*f*C per image) with the flattened filters.

Shapes: x (N, C*H*W), the data's rows (channel-first, each channel row by row, as CIFAR-10 stores
an image) -> y (N, n_p * n_f), patch by patch, the n_f filter outputs of a patch together;
F (n_f, f, f, C), b (n_f,). A patch's vector is its pixels row by row, the C channels of a pixel
together: the sheet's ``X_ims[r:r+f, c:c+f, :].reshape(f*f*3)`` after its Fortran-order reshape.

``impl``: 'matmul' (every patch of the batch in one product, forward and backward: the sheet's
einsum) or 'loop' (the sheet's step 2: one product per image, on the sheet's MX layout
n_p x f*f*C x n), kept for the timing the sheet asks for. Because patches do not overlap, MX is a
permutation of the batch's pixels: it is built per batch (one copy of the batch) rather than kept for
the whole data set, which would hold a second copy of the training images (600 MB for CIFAR-10).
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.init import init_weight
from handgrad.nn.layer import Layer, config_bool, config_int

IMPLS = ("matmul", "loop")


class PatchConv2D(Layer):
    """Convolution with ``f`` x ``f`` filters and stride ``f`` over images of ``image_shape``
    (C, H, W); ``nf`` filters, a bias each; He initialisation by default."""

    regularized = ("F",)

    def __init__(self, f: int, nf: int, image_shape=(3, 32, 32), *, init: str = "he", std: float | None = None,
                 bias: bool = True, impl: str = "matmul", rng: np.random.Generator | None = None,
                 dtype=np.float32) -> None:
        super().__init__(dtype)
        C, H, W = (int(v) for v in image_shape)
        if f < 1 or H % f or W % f:
            raise ValueError(f"the filter width f = {f} must divide the image's height {H} and width {W}")
        if impl not in IMPLS:
            raise ValueError(f"unknown impl {impl!r}; choose one of {', '.join(IMPLS)}")
        self.f, self.nf, self.image_shape, self.impl = int(f), int(nf), (C, H, W), impl
        self.init, self.std, self.bias = init, std, bool(bias)
        rng = rng if rng is not None else np.random.default_rng(0)
        D = f * f * C
        self.params["F"] = init_weight(init, (nf, f, f, C), fan_in=D, fan_out=nf, std=std, rng=rng).astype(dtype)
        if self.bias:
            self.params["b"] = np.zeros(nf, dtype=dtype)

    @property
    def n_p(self) -> int:
        _, H, W = self.image_shape
        return (H // self.f) * (W // self.f)

    # -- the patch matrix and back -----------------------------------------------------------
    def patches(self, x: np.ndarray) -> np.ndarray:
        """(N, C*H*W) rows -> (N, n_p, f*f*C): the sheet's MX, one image per leading index."""
        C, H, W = self.image_shape
        f = self.f
        im = x.reshape(len(x), C, H // f, f, W // f, f)  # [n, c, i, a, j, b]: pixel (i f + a, j f + b)
        return im.transpose(0, 2, 4, 3, 5, 1).reshape(len(x), self.n_p, f * f * C)

    def unpatch(self, dP: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`patches` (patches do not overlap, so it is a permutation)."""
        C, H, W = self.image_shape
        f = self.f
        g = dP.reshape(len(dP), H // f, W // f, f, f, C).transpose(0, 5, 1, 3, 2, 4)
        return g.reshape(len(dP), C * H * W)

    # -- the sheet's two products on MX, in either form --------------------------------------
    def convolve(self, P: np.ndarray) -> np.ndarray:
        """MX (N, n_p, f*f*C) -> the filter outputs (N, n_p, n_f), without the bias: MX @ F_all."""
        Fm = self.params["F"].reshape(self.nf, -1)  # (nf, f*f*C), the same pixel order as a patch
        if self.impl == "loop":  # the sheet's step 2 on its layout: MX[:, :, i] @ Fs_flat, image by image
            M = P.transpose(1, 2, 0)  # (n_p, f*f*C, N), a view
            return np.stack([M[:, :, i] @ Fm.T for i in range(M.shape[2])]) if len(P) else P[..., :0] @ Fm.T
        return (P.reshape(-1, P.shape[2]) @ Fm.T).reshape(len(P), self.n_p, self.nf)

    def filter_grad(self, P: np.ndarray, dH: np.ndarray) -> np.ndarray:
        """MX (N, n_p, f*f*C), dH (N, n_p, n_f) -> dF (n_f, f, f, C): the sum over images of MX^T dH."""
        if self.impl == "loop":
            M = P.transpose(1, 2, 0)
            dF = sum((dH[i].T @ M[:, :, i] for i in range(len(P))), np.zeros((self.nf, P.shape[2]), P.dtype))
        else:
            dF = dH.reshape(-1, self.nf).T @ P.reshape(-1, P.shape[2])
        return dF.reshape(self.params["F"].shape)

    # -- forward / backward ------------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        P = self.patches(x)
        Hs = self.convolve(P)
        if self.bias:
            Hs = Hs + self.params["b"]
        self.cache = P
        return Hs.reshape(len(x), self.n_p * self.nf)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """dy (N, n_p*n_f) -> dx (N, C*H*W), or None when the input is data. dF = sum over images and
        patches of dH^T MX (the sheet's backward with MX's transpose)."""
        P = self.cache
        dH = dy.reshape(len(dy), self.n_p, self.nf)
        self.grads = {"F": self.filter_grad(P, dH)}
        if self.bias:
            self.grads["b"] = dH.sum(axis=(0, 1))
        if not self.needs_input_grad:
            return None
        return self.unpatch(dH @ self.params["F"].reshape(self.nf, -1))

    # -- saving (a saved config is read as hostile input: every number checked) -------------------
    @staticmethod
    def _shape(cfg: dict) -> tuple[int, int, int, int, int]:
        f, nf = config_int(cfg, "f"), config_int(cfg, "nf")
        shape = cfg.get("image_shape", [3, 32, 32])
        if not isinstance(shape, (list, tuple)) or len(shape) != 3:
            raise ValueError(f"image_shape must be [C, H, W], got {shape!r}")
        C, H, W = (config_int({"image_shape": v}, "image_shape") for v in shape)
        if H % f or W % f:
            raise ValueError(f"f = {f} does not divide the image's height {H} and width {W}")
        return f, nf, C, H, W

    @classmethod
    def param_shapes(cls, cfg: dict) -> dict[str, tuple[int, ...]]:
        f, nf, C, _, _ = cls._shape(cfg)
        return {"F": (nf, f, f, C), **({"b": (nf,)} if config_bool(cfg, "bias", True) else {})}

    @classmethod
    def sizes(cls, cfg: dict) -> tuple[int, int]:
        f, nf, C, H, W = cls._shape(cfg)
        return C * H * W, (H // f) * (W // f) * nf

    def config(self) -> dict:
        return {"type": "PatchConv2D", "f": self.f, "nf": self.nf, "image_shape": list(self.image_shape),
                "init": self.init, "std": self.std, "bias": self.bias, "impl": self.impl}
