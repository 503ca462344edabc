"""Layers as forward/backward pairs with a cache (see ``nn/layer.py`` for the protocol).

``LAYER_TYPES`` maps the ``type`` in a saved layer's config to its class, so that saved models are
rebuilt without pickle; a layer you write joins by adding itself there.
"""

from handgrad.nn.activations import Dropout, ReLU
from handgrad.nn.batchnorm import BatchNorm
from handgrad.nn.conv import Conv1D
from handgrad.nn.dense import Dense
from handgrad.nn.layer import Layer
from handgrad.nn.patchify import PatchConv2D
from handgrad.nn.pool import GlobalMaxPool1D
from handgrad.nn.rnn import RNN

LAYER_TYPES: dict[str, type[Layer]] = {"Dense": Dense, "ReLU": ReLU, "Dropout": Dropout, "Conv1D": Conv1D,
                                       "BatchNorm": BatchNorm, "GlobalMaxPool1D": GlobalMaxPool1D, "RNN": RNN,
                                       "PatchConv2D": PatchConv2D}

__all__ = ["LAYER_TYPES", "BatchNorm", "Conv1D", "Dense", "Dropout", "GlobalMaxPool1D", "Layer", "PatchConv2D", "ReLU",
           "RNN"]
