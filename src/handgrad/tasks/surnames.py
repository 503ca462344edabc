"""The surname task: which of 18 languages a surname is from (A3). It builds the character ConvNet
(or, on character n-grams, a linear model), feeds it names as character indices with class-balanced
or 'power' sampling and character noise, measures balanced accuracy and the accuracy of every
language, and writes the per-class table, the confusion matrix and the class distribution. The
predictor for new names (``handgrad predict``) and ensembles of surname models are
``handgrad/predict.py`` and ``tasks/ensemble.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from handgrad import io, plots
from handgrad.augment import CharNoise
from handgrad.config import register as register_config
from handgrad.config.tables import (
    ClassifierTrain,
    ConfigBase,
    EnsembleConfig,
    GradcheckBase,
    PositiveInt,
    SearchConfig,
    Strict,
    SurnamesData,
    f,
)
from handgrad.datasets import surnames
from handgrad.errors import HandgradError
from handgrad.metrics import balanced_accuracy, confusion_matrix, per_class_accuracy
from handgrad.networks import convnet, linear_classifier
from handgrad.nn import conv_variants
from handgrad.tasks import register
from handgrad.tasks.classifier import LOSS, LOSS_TEXT, Classifier


class ConvNetModel(Strict):
    """[model]: the character ConvNet, [Conv1D -> ReLU] per layer, then Dense to the 18 scores."""

    kind: Literal["convnet"] = f("convnet", "the model: the character ConvNet")
    loss: LOSS = f("cross_entropy", LOSS_TEXT)
    convs: list[tuple[PositiveInt, PositiveInt]] = f(lambda: [(5, 20), (3, 20)],
                                                     "[[k1, n1], [k2, n2], ...] filter widths and counts")
    padding: Annotated[int, Field(ge=0)] | Literal["same"] = f(
        0, "zero columns on each side of every conv layer's input, or 'same' ((k-1)/2, odd k)")
    bias: bool = f(False, "bias terms in every layer (the sheet has none)")
    pool: Literal["none", "max"] = f("none", "'none' (the Dense layer sees every position, the sheet) or 'max' "
                                             "(each filter's maximum over the positions)")
    dropout: float = f(1.0, "keep probability of dropout before the last layer; 1 = no dropout", gt=0, le=1)
    impl: Literal["mfmx", "a", "b", "ab", "fast"] = f(
        "fast", "the convolution's implementation: the sheet's MF/MX reference 'mfmx', its speed-ups 'a', 'b', "
        "'ab', or handgrad's 'fast' path (all give the same numbers)")


class ConvNetTrain(ClassifierTrain):
    """[train] of the ConvNet: also character noise."""

    char_noise: float = f(0.0, "replace each training character by a random one with this probability", ge=0, lt=1)


class ConvNetGradcheck(GradcheckBase):
    """[gradcheck] of the ConvNet."""

    convs: list[tuple[PositiveInt, PositiveInt]] | None = f(None, "[k, n] layers of the check's network "
                                                                  "(default: the model's)")


class ConvNetConfig(ConfigBase):
    """The character ConvNet that predicts a surname's language (A3)."""

    data: SurnamesData = f(SurnamesData, SurnamesData.__doc__)
    model: ConvNetModel = f(ConvNetModel, ConvNetModel.__doc__)
    train: ConvNetTrain = f(ConvNetTrain, ConvNetTrain.__doc__)
    gradcheck: ConvNetGradcheck = f(ConvNetGradcheck, ConvNetGradcheck.__doc__)
    search: SearchConfig = f(SearchConfig, SearchConfig.__doc__)
    ensemble: EnsembleConfig = f(EnsembleConfig, EnsembleConfig.__doc__)


class SurnameClassifier(Classifier):
    name = "surname classifier"

    def load(self, cfg):
        dc = cfg.data
        return surnames(dc.split, features=dc.features, source=dc.source, split_seed=dc.split_seed,
                        holdout_fraction=dc.holdout_fraction, holdout_min=dc.holdout_min,
                        holdout_max=dc.holdout_max, ngram_range=dc.ngram_range, ngram_tf=dc.ngram_tf,
                        n_train=dc.n_train, dtype=np.dtype(cfg.train.dtype))

    def build(self, cfg, data, rng, d=None):
        mc = cfg.model
        if mc.kind == "linear":  # the n-gram linear model
            return linear_classifier(data.d if d is None else d, data.K, loss=mc.loss, lam=cfg.train.lam,
                                     init=mc.init, std=mc.std, rng=rng)
        return convnet(data.meta["d"], data.meta["n_len"], data.K, [tuple(c) for c in mc.convs], impl=mc.impl,
                       padding=mc.padding, bias=mc.bias, loss=mc.loss, lam=cfg.train.lam, dropout=mc.dropout,
                       pool=mc.pool, rng=rng)

    def train(self, cfg, data, model, rngs, *, progress=None, desc="train"):
        if cfg.model.kind == "convnet" and cfg.model.impl in ("a", "ab"):
            conv_variants.precompute(model.layers[0], data.X_train)  # variant (a): the first layer's MX, once
        return super().train(cfg, data, model, rngs, progress=progress, desc=desc)

    def evaluator(self, cfg, data):
        def evaluate(model, X, y):  # cost, loss, accuracy and balanced accuracy from one forward pass
            s = model.scores(X)
            return {**model.evaluate_scores(s, y), "balanced_accuracy": balanced_accuracy(y, s.argmax(axis=1), data.K)}
        return evaluate

    def augmenter(self, cfg, data):
        noise = getattr(cfg.train, "char_noise", 0.0)
        if not noise:
            return None
        if data.meta.get("input") != "indices":
            raise HandgradError("train.char_noise applies to surnames as character indices (a ConvNet)")
        return CharNoise(noise, data.meta["d"])

    def measure(self, cfg, data, fitted) -> dict:
        m = super().measure(cfg, data, fitted)
        for name, X, y in self.parts(data)[1:]:  # validation, and the leak-free split's test part
            pred = fitted.model.predict(X)
            m[f"{name}_balanced_accuracy"] = balanced_accuracy(y, pred, data.K)
            m[f"{name}_per_class_accuracy"] = dict(zip(data.classes, per_class_accuracy(y, pred, data.K).tolist()))
        m["split"] = cfg.data.split
        m["split_info"] = data.meta.get("split", {})  # sizes, duplicates, the course split's leak
        return m

    def write(self, folder, cfg, data, fitted, metrics, figures):
        io.atomic_write_text(Path(folder) / "per_class_accuracy.md", per_class_table(metrics))
        if not figures:
            return
        self.write_figures(folder, cfg, data, fitted)
        figs = Path(folder) / "figures"
        cm = confusion_matrix(data.y_val, fitted.model.predict(data.X_val), data.K)
        plots.save(plots.confusion(cm, data.classes, title=f"{cfg.name}: validation"), figs / "confusion_val.png")
        counts = {"training": np.bincount(data.y_train, minlength=data.K),
                  "validation": np.bincount(data.y_val, minlength=data.K)}
        plots.save(plots.class_distribution(counts, data.classes), figs / "class_distribution.png")

    def slice_inputs(self, cfg) -> bool:
        return cfg.model.kind == "linear"  # n-gram rows can be cut to their first features; names cannot

    def gradcheck_config(self, cfg) -> dict:
        if cfg.model.kind != "convnet":
            return {}
        return {"dropout": 1.0, **({"convs": cfg.gradcheck.convs} if cfg.gradcheck.convs is not None else {})}

    def gradcheck_setup(self, model, cfg, rng) -> None:
        if cfg.model.kind == "convnet" and cfg.model.bias:
            # zero biases put every empty (zero-padded) position exactly on the ReLU kink, where the
            # derivative is not defined (the check would skip those entries as kink crossings): check at
            # small random biases instead
            for _, layer, k in model.named_params():
                if k == "b":
                    layer.params[k] = rng.normal(0.0, 0.1, layer.params[k].shape)


def per_class_table(metrics: dict) -> str:
    """Markdown table of the per-class validation (and, on the leak-free split, test) accuracy (%) and
    their means (balanced accuracy)."""
    parts = [p for p in ("val", "test") if f"{p}_per_class_accuracy" in metrics]
    title = {"val": "validation", "test": "test"}
    fmt = lambda a: "-" if a is None or a != a else f"{100 * a:.2f}"  # noqa: E731
    lines = [f"# {metrics.get('name', '')}: {' and '.join(title[p] for p in parts)} accuracy per class", "",
             "| class | " + " | ".join(f"{title[p]} accuracy (%)" for p in parts) + " |",
             "|---|" + "---:|" * len(parts)]
    for cls in metrics["val_per_class_accuracy"]:
        lines.append(f"| {cls} | " + " | ".join(fmt(metrics[f"{p}_per_class_accuracy"][cls]) for p in parts) + " |")
    lines.append("| **mean (balanced accuracy)** | "
                 + " | ".join(f"**{fmt(metrics.get(f'{p}_balanced_accuracy'))}**" for p in parts) + " |")
    lines.append("| overall (all names of the part) | "
                 + " | ".join(fmt(metrics.get(f"{p}_accuracy")) for p in parts) + " |")
    return "\n".join(lines) + "\n"


SURNAMES = SurnameClassifier()
register_config("convnet", ConvNetConfig)
register("convnet", SURNAMES)
register("linear", SURNAMES, dataset="surnames")
