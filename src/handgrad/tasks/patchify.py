"""The 2025/26 A3 task: the "patchify" ConvNet on CIFAR-10.

What it builds: n_f filters of f x f x 3 with stride f (``nn.PatchConv2D``), ReLU, a hidden layer of
n_h ReLU units and 10 scores (``networks.patchify_convnet``), softmax + cross-entropy with optional
label smoothing. How it is fed, what it measures and writes: the image classifier's (``tasks/
classifier.py``: the [train] table's batches, flips and translations, the cyclical schedule with
``n_s_growth`` for the sheet's doubling cycles; accuracy, loss and cost on every part; learning
curves). Adding it took this module, its configs (``configs/patchify/``), the layer, and two options
the sheet needed everywhere: label smoothing in ``CrossEntropy`` and growing cycles in ``Cyclical``.
"""

from __future__ import annotations

from typing import Literal

from handgrad.config import register as register_config
from handgrad.config.tables import (
    Cifar10Data,
    ConfigBase,
    GradcheckBase,
    ImageTrain,
    PositiveInt,
    SearchConfig,
    Strict,
)
from handgrad.config.tables import f as field  # (the model has a key named f)
from handgrad.networks import patchify_convnet
from handgrad.tasks import register
from handgrad.tasks.classifier import INIT, INIT_TEXT, ImageClassifier


class PatchifyModel(Strict):
    """[model]: the patchify ConvNet, (f, n_f, n_h) in the sheet's notation."""

    kind: Literal["patchify"] = field("patchify", "the model: the 2025 A3 sheet's patchify ConvNet on images")
    f: PositiveInt = field(4, "filter width and stride: non-overlapping f x f patches (the sheet: 2, 4, 8 or 16)")
    nf: PositiveInt = field(10, "number of filters n_f")
    nh: PositiveInt = field(50, "hidden ReLU units n_h")
    init: INIT = field("he", INIT_TEXT + " (the sheet: 'he')")
    label_smoothing: float = field(0.0, "label smoothing eps: 1 - eps on the true class, eps / (K - 1) on each other "
                                    "(the sheet's exercise 4: .1)", ge=0, lt=1)
    impl: Literal["matmul", "loop"] = field("matmul", "the convolution: one matrix product for the batch, or the "
                                                  "sheet's loop over images (for the timing)")

    @property
    def loss(self) -> str:
        return "cross_entropy"  # softmax + cross-entropy, always (label smoothing is its option)


class PatchifyGradcheck(GradcheckBase):
    """[gradcheck] of the patchify ConvNet: the whole image (a convolution needs it), a smaller net."""

    batch_sizes: list[PositiveInt] = field(lambda: [1, 10], "the batch sizes checked")
    nf: PositiveInt | None = field(2, "filters of the check's network (default: the model's)")
    nh: PositiveInt | None = field(6, "hidden units of the check's network (default: the model's)")


class PatchifyConfig(ConfigBase):
    """The patchify ConvNet on CIFAR-10 (the 2025/26 A3)."""

    data: Cifar10Data = field(Cifar10Data, Cifar10Data.__doc__)
    model: PatchifyModel = field(PatchifyModel, PatchifyModel.__doc__)
    train: ImageTrain = field(ImageTrain, ImageTrain.__doc__)
    gradcheck: PatchifyGradcheck = field(PatchifyGradcheck, PatchifyGradcheck.__doc__)
    search: SearchConfig = field(SearchConfig, SearchConfig.__doc__)


class PatchifyClassifier(ImageClassifier):
    """The image classifier's training and measures, with the patchify ConvNet as its network."""

    name = "patchify ConvNet"

    @staticmethod
    def network(cfg, d: int, K: int, rng):
        mc = cfg.model
        return patchify_convnet(mc.f, mc.nf, mc.nh, K, label_smoothing=mc.label_smoothing, lam=cfg.train.lam,
                                init=mc.init, impl=mc.impl, rng=rng)

    def build(self, cfg, data, rng, d=None):
        return self.network(cfg, data.d, data.K, rng)  # the whole image, always

    def slice_inputs(self, cfg) -> bool:
        return False  # a convolution reads whole images

    def gradcheck_config(self, cfg) -> dict:
        gc = cfg.gradcheck
        return {k: v for k, v in (("nf", gc.nf), ("nh", gc.nh)) if v is not None}


PATCHIFY = PatchifyClassifier()
register_config("patchify", PatchifyConfig)
register("patchify", PATCHIFY)
