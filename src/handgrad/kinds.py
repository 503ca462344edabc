"""Model kinds and data sets by name: what :mod:`handgrad.experiment` asks for when it builds a model
or loads data, so that a new kind or data set is one :func:`register_model` / :func:`register_dataset`
call and the trainer, search, reproduce and report code do not change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from handgrad.data.prepared import Prepared
from handgrad.errors import HandgradError
from handgrad.models import Model


@dataclass(frozen=True)
class ModelKind:
    """How to build one kind of network from a config.

    ``build(cfg, d, K, rng, meta)`` returns the model for inputs of size d, K classes and the data's
    meta; ``init`` is the default weight initialisation; ``prepare(model, cfg, X_train)``, if given,
    runs once before training (e.g. a precomputation on the training inputs); ``slice_inputs`` says
    whether the gradient check may keep only the first ``n_dims`` input features; ``gradcheck_setup
    (model, cfg, rng)``, if given, adjusts the float64 model before its gradients are checked.

    A kind whose training is not mini-batches of rows (the character RNN reads one long text) gives
    the rest: ``training(cfg, data, rng)`` -> (batches, callbacks, extras, evaluate) for the
    Trainer; ``metrics(cfg, data, fitted, m)`` -> metrics.json's dict (``m`` holds name, seconds
    and n_updates); ``write_files(run_dir, cfg, data, fitted)`` adds files to the run folder;
    ``figures(run_dir, cfg, data, fitted)`` draws its figures; ``gradcheck_inputs(cfg, data, n)``
    -> (X, y) the check's n examples.
    """

    build: Callable[..., Model]
    init: str
    prepare: Callable[..., None] | None = None
    slice_inputs: bool = True
    gradcheck_setup: Callable[..., None] | None = None
    training: Callable[..., tuple] | None = None
    metrics: Callable[..., dict] | None = None
    write_files: Callable[..., None] | None = None
    figures: Callable[..., None] | None = None
    gradcheck_inputs: Callable[..., tuple] | None = None


MODEL_KINDS: dict[str, ModelKind] = {}
#: data set name -> prepare(data config, dtype) -> Prepared
DATASETS: dict[str, Callable[..., Prepared]] = {}


def register_model(name: str, kind: ModelKind) -> ModelKind:
    MODEL_KINDS[name] = kind
    return kind


def register_dataset(name: str, prepare: Callable[..., Prepared]) -> None:
    DATASETS[name] = prepare


def model_kind(name: str) -> ModelKind:
    if name not in MODEL_KINDS:
        raise HandgradError(f"unknown model kind {name!r}; known: {', '.join(MODEL_KINDS)}")
    return MODEL_KINDS[name]


def dataset(name: str) -> Callable[..., Prepared]:
    if name not in DATASETS:
        raise HandgradError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


# --------------------------------------------------------------------------------------------
# The built-in kinds and data sets
# --------------------------------------------------------------------------------------------


def _linear(cfg, d, K, rng, meta=None) -> Model:
    from handgrad.models import linear_classifier

    mc = cfg.model
    return linear_classifier(d, K, loss=mc.loss, lam=cfg.train.lam, init=cfg.model.init or "normal", std=mc.std,
                             rng=rng)


def _mlp(cfg, d, K, rng, meta=None) -> Model:
    from handgrad.models import mlp

    mc = cfg.model
    return mlp(d, mc.hidden, K, loss=mc.loss, lam=cfg.train.lam, init=cfg.model.init or "fan_in", std=mc.std,
               dropout=mc.dropout, batch_norm=mc.batch_norm, bn_position=mc.bn_position, bn_alpha=mc.bn_alpha,
               bn_eps=mc.bn_eps, rng=rng)


def _convnet(cfg, d, K, rng, meta=None) -> Model:
    from handgrad.models import convnet

    mc, meta = cfg.model, meta or {}
    return convnet(meta["d"], meta["n_len"], K, [tuple(c) for c in mc.convs], impl=mc.impl,
                   padding=mc.padding, bias=mc.bias, loss=mc.loss, lam=cfg.train.lam, dropout=mc.dropout,
                   pool=mc.pool, rng=rng)


def _convnet_prepare(model: Model, cfg, X_train) -> None:
    if cfg.model.impl in ("a", "ab"):
        model.layers[0].precompute(X_train)  # variant (a): the first layer's sparse MX, once


def _convnet_gradcheck(model: Model, cfg, rng: np.random.Generator) -> None:
    if cfg.model.bias:
        # zero biases put every empty (zero-padded) position exactly on the ReLU kink, where the
        # derivative is not defined (the check would skip those entries as kink crossings): check at
        # small random biases instead
        for _, layer, k in model.named_params():
            if k == "b":
                layer.params[k] = rng.normal(0.0, 0.1, layer.params[k].shape)


def _rnn(cfg, d, K, rng, meta=None) -> Model:
    from handgrad.language_model import char_rnn

    return char_rnn(K, cfg.model.m, seq_length=cfg.train.seq_length, lam=cfg.train.lam,
                    std=cfg.model.std or 0.01, rng=rng)


def _rnn_kind() -> ModelKind:
    from handgrad import charrnn

    return ModelKind(_rnn, "normal", slice_inputs=False, training=charrnn.training_pieces,
                     metrics=charrnn.final_metrics, write_files=charrnn.write_files,
                     figures=charrnn.figures, gradcheck_inputs=charrnn.gradcheck_inputs)


def _text(dc, dtype) -> Prepared:
    from handgrad.data.text import prepare_text

    return prepare_text(dc, dtype)


def _cifar10(dc, dtype) -> Prepared:
    from handgrad.data.cifar10 import load_cifar10
    from handgrad.preprocessing import Standardizer

    splits = load_cifar10(dc.split, n_val=dc.n_val, n_train=dc.n_train)
    std = Standardizer().fit(splits.train.X)
    return Prepared(std.transform(splits.train.X, dtype), splits.train.y,
                    std.transform(splits.val.X, dtype), splits.val.y,
                    std.transform(splits.test.X, dtype), splits.test.y,
                    tuple(splits.classes), state=std.state(),
                    meta={"dataset": "cifar10", "image_shape": [3, 32, 32]})


def _surnames(dc, dtype) -> Prepared:
    from handgrad.data.surname_inputs import prepare_surnames

    return prepare_surnames(dc, dtype)


register_model("linear", ModelKind(_linear, "normal"))
register_model("mlp", ModelKind(_mlp, "fan_in"))
register_model("convnet", ModelKind(_convnet, "he", prepare=_convnet_prepare, slice_inputs=False,
                                    gradcheck_setup=_convnet_gradcheck))
register_dataset("cifar10", _cifar10)
register_dataset("surnames", _surnames)
register_model("rnn", _rnn_kind())
register_dataset("text", _text)
