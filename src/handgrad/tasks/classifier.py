"""The image classifier task: a linear classifier (A1) or a k-layer perceptron, with batch norm if asked
(A2, A3), trained on CIFAR-10 by mini-batch gradient descent. What it builds, how it is fed (examples
in the [train] table's order, flips and translations), what it measures (accuracy, loss and cost on
every part) and what it writes (learning curves, the learning rate, class templates, probability
histograms). ``Classifier`` is what every classifier task shares (the surname task builds on it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Discriminator, Tag, model_validator

from handgrad import plots
from handgrad.augment import ImageAugmenter
from handgrad.batches import EpochSampler
from handgrad.callbacks import Snapshots, WeightAveraging
from handgrad.config import register as register_config
from handgrad.config.tables import (
    Cifar10Data,
    ConfigBase,
    DenseGradcheck,
    EnsembleConfig,
    ImageTrain,
    PositiveInt,
    SearchConfig,
    Strict,
    SurnamesData,
    f,
)
from handgrad.datasets import Dataset, cifar10
from handgrad.networks import linear_classifier, mlp
from handgrad.tasks import Task, optimizer, plan, register
from handgrad.training import fit

LOSS = Literal["cross_entropy", "svm", "bce"]
LOSS_TEXT = "softmax + cross-entropy, multi-class hinge (SVM) or sigmoid + multiple binary cross-entropy"
INIT = Literal["normal", "xavier", "he", "fan_in"]
INIT_TEXT = "weight initialisation: 'normal' N(0, std^2), 'xavier', 'he' or 'fan_in' N(0, 1/fan_in)"


class LinearModel(Strict):
    """[model]: a linear classifier s = Wx + b."""

    kind: Literal["linear"] = f("linear", "the model: a linear classifier")
    loss: LOSS = f("cross_entropy", LOSS_TEXT)
    init: INIT = f("normal", INIT_TEXT + " (the A1 sheet: 'normal', std .01)")
    std: float | None = f(None, "standard deviation of every initial weight, overriding init's rule", gt=0)


class MLPModel(Strict):
    """[model]: a k-layer perceptron, Dense -> [BatchNorm] -> ReLU (-> Dropout) per hidden layer."""

    kind: Literal["mlp"] = f("mlp", "the model: a k-layer perceptron")
    loss: LOSS = f("cross_entropy", LOSS_TEXT)
    init: INIT = f("fan_in", INIT_TEXT + " (the A2 sheet: 'fan_in'; A3: 'he')")
    std: float | None = f(None, "standard deviation of every initial weight, overriding init's rule (the "
                                "sensitivity study)", gt=0)
    hidden: list[PositiveInt] = f(lambda: [50], "the size of every hidden layer, e.g. [50, 50]")
    dropout: float = f(1.0, "keep probability of dropout after each hidden ReLU; 1 = no dropout", gt=0, le=1)
    batch_norm: bool = f(False, "batch normalisation in every hidden layer (never the last)")
    bn_position: Literal["before", "after"] = f("before", "batch norm before the ReLU (the sheet) or after it")
    bn_alpha: float = f(0.9, "weight of the old running average, mu_av <- alpha mu_av + (1 - alpha) mu", ge=0, lt=1)
    bn_eps: float = f(1e-8, "added to the batch variance", gt=0)


class MLPGradcheck(DenseGradcheck):
    """[gradcheck] of a k-layer perceptron."""

    hidden: list[PositiveInt] | None = f(None, "hidden sizes of the check's network (default: the model's)")


def _dataset(table) -> str:
    """Which [data] table a linear model's is: its ``dataset`` (CIFAR-10 when it names none)."""
    return (table.get("dataset") if isinstance(table, dict) else getattr(table, "dataset", None)) or "cifar10"


class LinearConfig(ConfigBase):
    """A linear classifier: on CIFAR-10 images (A1), or on the surnames' character n-grams."""

    data: Annotated[Annotated[Cifar10Data, Tag("cifar10")] | Annotated[SurnamesData, Tag("surnames")],
                    Discriminator(_dataset)] = f(Cifar10Data, "[data]: CIFAR-10 images, or the surnames "
                                                              "(features = 'ngrams')")
    model: LinearModel = f(LinearModel, LinearModel.__doc__)
    train: ImageTrain = f(ImageTrain, ImageTrain.__doc__)
    gradcheck: DenseGradcheck = f(DenseGradcheck, DenseGradcheck.__doc__)
    search: SearchConfig = f(SearchConfig, SearchConfig.__doc__)
    ensemble: EnsembleConfig = f(EnsembleConfig, EnsembleConfig.__doc__)

    @model_validator(mode="after")
    def _augment_images_only(self):
        if self.data.dataset != "cifar10" and (self.train.flip or self.train.translate):
            raise ValueError("train.flip / train.translate apply to images only (dataset cifar10)")
        return self


class MLPConfig(ConfigBase):
    """A k-layer perceptron on CIFAR-10 images, optionally with batch normalisation (A2, A3)."""

    data: Cifar10Data = f(Cifar10Data, Cifar10Data.__doc__)
    model: MLPModel = f(MLPModel, MLPModel.__doc__)
    train: ImageTrain = f(ImageTrain, ImageTrain.__doc__)
    gradcheck: MLPGradcheck = f(MLPGradcheck, MLPGradcheck.__doc__)
    search: SearchConfig = f(SearchConfig, SearchConfig.__doc__)


class Classifier(Task):
    """What every classifier task shares: mini-batches of examples through ``handgrad.fit``, and the
    accuracy, loss and cost of the final model on every part."""

    def evaluator(self, cfg: ConfigBase, data: Dataset):
        """f(model, X, y) -> the recorded numbers at each evaluation (default: cost, loss, accuracy)."""
        return None

    def augmenter(self, cfg: ConfigBase, data: Dataset):
        return None

    def train(self, cfg, data, model, rngs, *, progress=None, desc="train"):
        tc = cfg.train
        epoch_size = EpochSampler(data.y_train, tc.sampling, tc.sampling_power).epoch_size
        p = plan(tc, epoch_size, len(data.y_train))
        callbacks, snaps = [], None
        if tc.average_from is not None:
            callbacks.append(WeightAveraging(int(tc.average_from * p.n_updates)))
        if tc.snapshot_ensemble:
            snaps = Snapshots(2 * p.n_s if p.n_s else p.steps_per_epoch)
            callbacks.append(snaps)
        history = fit(model, data.X_train, data.y_train, (data.X_val, data.y_val), optimizer=optimizer(tc),
                      schedule=p.schedule, n_batch=tc.n_batch, n_updates=p.n_updates, sampling=tc.sampling,
                      sampling_power=tc.sampling_power, record_every=p.record_every, keep_best=tc.keep_best,
                      best_metric=tc.best_metric, evaluate=self.evaluator(cfg, data),
                      augment=self.augmenter(cfg, data), callbacks=callbacks, rng=rngs[0], progress=progress,
                      desc=desc)
        return history, p, snaps.states if snaps else []

    def parts(self, data: Dataset) -> list[tuple[str, np.ndarray, np.ndarray]]:
        out = [("train", data.X_train, data.y_train), ("val", data.X_val, data.y_val)]
        return out + ([("test", data.X_test, data.y_test)] if data.X_test is not None else [])

    def measure(self, cfg, data, fitted) -> dict:
        """Accuracy (a fraction), loss and cost of the final model on every part; with snapshots, the
        snapshot ensemble's accuracy."""
        m: dict = {}
        for name, X, y in self.parts(data):
            ev = fitted.model.evaluate(X, y)
            m[f"{name}_accuracy"], m[f"{name}_loss"], m[f"{name}_cost"] = ev["accuracy"], ev["loss"], ev["cost"]
        if fitted.history.best_step is not None:
            m["best_step"] = fitted.history.best_step
        h = fitted.history
        if "train_cost" in h and 1.0 in h["epoch"]:  # the 2025 A1 sheet's check: the cost after one epoch
            m["train_cost_after_epoch_1"] = h["train_cost"][h["epoch"].index(1.0)]
        if fitted.snapshots:
            m["n_snapshots"] = len(fitted.snapshots)
            for name, X, y in self.parts(data):
                m[f"ensemble_{name}_accuracy"] = float(np.mean(ensemble_predict(fitted.model, fitted.snapshots, X) == y))
        return m

    def write_figures(self, folder: Path, cfg, data, fitted) -> None:
        """Learning curves, the learning rate of a scheduled run, and for probabilistic losses the
        histograms of the probability of the ground-truth class on the test part."""
        figs = Path(folder) / "figures"
        by = "step" if cfg.train.schedule == "cyclical" or cfg.train.n_updates else "epoch"
        plots.save(plots.learning_curves(fitted.history, by=by, title=cfg.name), figs / "learning_curves.png")
        if cfg.train.schedule != "constant":
            plots.save(plots.learning_rate(fitted.plan.schedule, fitted.plan.n_updates), figs / "learning_rate.png")
        if data.X_test is not None:
            probs = fitted.model.predict_proba(data.X_test)
            if probs is not None:
                p_true = probs[np.arange(len(data.y_test)), data.y_test]
                correct = probs.argmax(axis=1) == data.y_test
                plots.save(plots.probability_histograms(p_true, correct, title=f"{cfg.name}: {cfg.model.loss} "
                                                                               "(test data)"),
                           figs / "probability_histograms.png")

    def gradcheck_config(self, cfg) -> dict:
        return {}


class ImageClassifier(Classifier):
    """The image classifier on CIFAR-10."""

    name = "image classifier"

    def load(self, cfg):
        dc = cfg.data
        return cifar10(dc.split, n_val=dc.n_val, n_train=dc.n_train, dtype=np.dtype(cfg.train.dtype))

    def build(self, cfg, data, rng, d=None):
        return self.network(cfg, data.d if d is None else d, data.K, rng)

    @staticmethod
    def network(cfg, d: int, K: int, rng):
        """The [model] table's network for inputs of size d and K classes (``handgrad.sklearn`` too)."""
        mc = cfg.model
        if mc.kind == "linear":
            return linear_classifier(d, K, loss=mc.loss, lam=cfg.train.lam, init=mc.init, std=mc.std, rng=rng)
        return mlp(d, mc.hidden, K, loss=mc.loss, lam=cfg.train.lam, init=mc.init, std=mc.std,
                   dropout=mc.dropout, batch_norm=mc.batch_norm, bn_position=mc.bn_position, bn_alpha=mc.bn_alpha,
                   bn_eps=mc.bn_eps, rng=rng)

    def augmenter(self, cfg, data):
        tc = cfg.train
        return ImageAugmenter(flip=tc.flip, translate=tc.translate, shape=data.image_shape) \
            if tc.flip or tc.translate else None

    def write(self, folder, cfg, data, fitted, metrics, figures):
        if not figures:
            return
        self.write_figures(folder, cfg, data, fitted)
        if cfg.model.kind == "linear":
            plots.save(plots.class_templates(fitted.model.layers[0].params["W"], data.classes, data.image_shape),
                       Path(folder) / "figures" / "templates.png")

    def gradcheck_config(self, cfg) -> dict:
        if cfg.model.kind != "mlp":
            return {}
        return {"dropout": 1.0, **({"hidden": cfg.gradcheck.hidden} if cfg.gradcheck.hidden is not None else {})}


def ensemble_predict(model, snapshots: list[dict], X: np.ndarray) -> np.ndarray:
    """Average the class probabilities (or scores) of the snapshots (``copy_state``); returns labels."""
    current = model.copy_state()
    total = None
    for state in snapshots:
        model.set_state(state)
        s = model.scores(X)
        p = model.loss.probs(s)
        p = s if p is None else p
        total = p if total is None else total + p
    model.set_state(current)
    return total.argmax(axis=1)


IMAGES = ImageClassifier()
register_config("linear", LinearConfig)
register_config("mlp", MLPConfig)
register("linear", IMAGES, dataset="cifar10")
register("mlp", IMAGES)
