"""handgrad: small neural networks with hand-derived gradients, in NumPy, checked numerically.

The course DD2424's experiments as a library. Everything a notebook needs is here:

    import handgrad as hg

    data = hg.datasets.cifar10(split="a1")             # standardised with the training statistics
    rng = hg.Rngs(seed=0)                              # Generators for init, training, samples
    model = hg.Sequential([hg.Dense(3072, 10, rng=rng.init)], loss=hg.CrossEntropy())
    history = hg.fit(model, data.X_train, data.y_train, (data.X_val, data.y_val),
                     optimizer=hg.SGD(), schedule=hg.Constant(0.001), n_epochs=40, rng=rng.train)
    model.evaluate(data.X_test, data.y_test)           # {'cost': ..., 'loss': ..., 'accuracy': ...}
    history.plot()                                     # the learning curves, inline
    hg.check_gradients(model, data.X_train[:10], data.y_train[:10])

- layers (``forward``, ``backward`` that assigns ``grads``): Dense, ReLU, Dropout, BatchNorm,
  Conv1D, GlobalMaxPool1D, RNN, PatchConv2D (the 2025 sheet's patchify convolution); ``Layer`` to
  write your own;
- losses returning (loss, dscores): CrossEntropy, MultiClassHinge, MultiBCE, SequenceCrossEntropy;
- optimisers (each with ``clip``): SGD, Momentum, Nesterov, AdaGrad, Adam;
- schedules, functions of the update step: Constant, StepDecay, ExponentialDecay, Cyclical;
- Sequential, the course's networks (linear_classifier, mlp, convnet, patchify_convnet), CharRNN;
- fit (returns a History), Callback and its kin, fit_text (the A4 sheet's RNN training);
- check_gradients, check_layer, check_loss: the analytic gradients against the complex step (or
  finite differences, or PyTorch autograd);
- ``hg.datasets`` (cifar10, surnames, text), ``hg.plots`` (needs matplotlib), save_model /
  load_model (the model file: no pickle).

The command line (``handgrad train CONFIG`` ...) runs the same code from TOML configs.
"""

from __future__ import annotations

import importlib

from handgrad.alphabet import Alphabet
from handgrad.batches import EpochSampler, ExampleBatches, SequenceBatches
from handgrad.callbacks import Callback, ProgressBar, Snapshots, WeightAveraging
from handgrad.charrnn import (
    CharRNN,
    ResetState,
    SmoothLoss,
    TextSamples,
    char_rnn,
    fit_text,
)
from handgrad.errors import HandgradError
from handgrad.gradcheck import GradientCheck, check_gradients, check_layer, check_loss
from handgrad.history import History
from handgrad.losses import (
    CrossEntropy,
    Loss,
    MultiBCE,
    MultiClassHinge,
    SequenceCrossEntropy,
)
from handgrad.model import Sequential
from handgrad.networks import convnet, linear_classifier, mlp, patchify_convnet
from handgrad.nn import (
    RNN,
    BatchNorm,
    Conv1D,
    Dense,
    Dropout,
    GlobalMaxPool1D,
    Layer,
    PatchConv2D,
    ReLU,
)
from handgrad.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer
from handgrad.rngs import Rngs
from handgrad.schedules import Constant, Cyclical, ExponentialDecay, StepDecay
from handgrad.training import Trainer, fit

__version__ = "0.1.0"

#: loaded when first used: their dependencies (file downloads, matplotlib, pydantic) are not the core's
_LAZY = {"datasets": ("handgrad.datasets", None), "plots": ("handgrad.plots", None),
         "save_model": ("handgrad.modelfile", "save"), "load_model": ("handgrad.modelfile", "load")}

__all__ = [
    # layers
    "Layer", "Dense", "ReLU", "Dropout", "BatchNorm", "Conv1D", "GlobalMaxPool1D", "RNN", "PatchConv2D",
    # losses
    "Loss", "CrossEntropy", "MultiClassHinge", "MultiBCE", "SequenceCrossEntropy",
    # optimisers and schedules
    "Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "Adam",
    "Constant", "StepDecay", "ExponentialDecay", "Cyclical",
    # models
    "Sequential", "linear_classifier", "mlp", "convnet", "patchify_convnet", "CharRNN", "char_rnn", "Alphabet",
    # training
    "fit", "Trainer", "History", "Rngs", "Callback", "ProgressBar", "Snapshots", "WeightAveraging",
    "EpochSampler", "ExampleBatches", "SequenceBatches", "fit_text", "ResetState", "SmoothLoss", "TextSamples",
    # gradient checks
    "check_gradients", "check_layer", "check_loss", "GradientCheck",
    # data, figures, model files
    "datasets", "plots", "save_model", "load_model",
    "HandgradError", "__version__",
]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = importlib.import_module(module)
        value = value if attr is None else getattr(value, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'handgrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(globals()))
