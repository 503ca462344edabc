"""``handgrad reproduce``: run every published experiment of a family and report ours beside theirs.

The registry below names every table and figure of the reports in ``shared/seeds`` (and the course
sheets' and peers' numbers in ``course-spec.md``) as an :class:`Experiment`: a config file, what to
do with it (``run``, ``repeat`` N seeds, ``search``, ``gradcheck``, ``timing``), and the published
numbers to compare with, each with its source and a tolerance.

Every experiment is run into ``OUT/<family>/runs/<id>/`` (a normal run folder plus
``reproduce.json``: the fingerprint of what was run, the command, the wall time). An experiment whose
folder holds ``metrics.json`` with the same fingerprint is not run again unless ``force``; one
whose config file does not exist is listed in the report as "not available". Then
:mod:`handgrad.report` renders ``OUT/<family>/index.html`` and ``report.md`` from the run folders.

``quick`` derives reduced budgets from each config (first 2,000 training images, at most 10 epochs,
one short cycle, 200 updates, 3 search trials, 2 repeats, 20-dimensional gradient checks, a short
timing); quick reports say so and make no claim about reproduction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shlex
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from handgrad.errors import HandgradError

FAMILIES = ("linear", "mlp", "convnet")
KINDS = ("run", "repeat", "search", "gradcheck", "timing")

#: quick-mode budgets
QUICK_N_TRAIN = 2000
QUICK_N_VAL = 1000
QUICK_EPOCHS = 10
QUICK_CYCLES = 2
QUICK_WIDE = 200  # hidden units above which a network counts as wide
QUICK_UPDATES = 200
QUICK_TRIALS = 3
QUICK_REPEAT = 2
QUICK_GRADCHECK_DIMS = 20
QUICK_GRADCHECK_BATCH = 20

#: relative-error bound our gradient checks must meet (the brief and report 004's reading)
GRADCHECK_BOUND = 1e-6


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One published number and how ours is compared with it.

    ``key`` is a key of the run's metrics.json (dots descend into dicts); ours is multiplied by
    ``scale`` (accuracies are fractions in metrics.json, percentages in the reports). ``mode``:

    - ``abs``: reproduced when |ours - published| <= tol (same units as the numbers);
    - ``at_least``: reproduced when ours >= published - tol (a target to reach);
    - ``log``: reproduced when |log10 ours - log10 published| <= tol (hyper-parameters);
    - ``rel``: reproduced when |ours / published - 1| <= tol (speed-ups);
    - ``info``: shown for reference only (e.g. seconds on another machine and language).
    """

    label: str
    key: str
    published: float | None
    source: str
    tol: float | None = 1.0
    mode: str = "abs"
    scale: float = 100.0
    fmt: str = ".2f"
    published_std: float | None = None
    note: str = ""

    def tolerance_text(self) -> str:
        if self.mode == "info" or self.tol is None:
            return "-"
        return {"abs": f"± {self.tol:g}", "at_least": f">= published - {self.tol:g}",
                "log": f"within a factor {10 ** self.tol:.3g}", "rel": f"± {100 * self.tol:g}%"}[self.mode]


@dataclass(frozen=True)
class Section:
    """A table or figure group of the report."""

    id: str
    family: str
    title: str
    source: str
    text: str = ""


@dataclass(frozen=True)
class Experiment:
    """One thing to run: a config and what to do with it, and what it is compared with."""

    id: str
    family: str
    section: str
    title: str
    config: str  # relative to the configs folder, e.g. "linear/setting1.toml"
    kind: str = "run"
    repeat: int = 1
    targets: tuple[Target, ...] = ()
    #: figures of the run folder shown in the report (file names under figures/ or the folder)
    figures: tuple[str, ...] = ("learning_curves.png",)
    #: gradcheck: the cases (batch size, lambda, n_dims or None for all); published rows per case
    cases: tuple[tuple[int, float, int | None], ...] = ()
    gradcheck_published: tuple[tuple[dict, ...], ...] = ()
    #: extra report tables: "per_class" (dict class -> %), "predictions" (name -> (class, prob)),
    #: "search_top" (list of (lambda, train %, val %)), "timing" (impl -> (seconds, speed-up))
    extras: tuple[tuple[str, Any], ...] = ()
    note: str = ""

    def extra(self, name: str, default=None):
        return dict(self.extras).get(name, default)


def _acc(label, published, source, tol=1.0, key="test_accuracy", **kw) -> Target:
    return Target(label, key, published, source, tol, **kw)


_R004_T3 = "report 004, table 3"
_R003 = "report 003, section 2"

SECTIONS: tuple[Section, ...] = (
    # --- linear ---
    Section("linear-gradcheck", "linear", "Gradient checks: analytic vs centred differences",
            "report 004, tables 1-2",
            "The four test cases of report 004 (first mini-batch; batch size 1 or 100, lambda 0 or 1, 20 or all "
            f"3,072 input dimensions), centred differences in float64. Ours must stay below {GRADCHECK_BOUND:g} "
            "relative error; report 004's MATLAB check reached 1.7e-4 where the gradients are tiny. With all 3,072 "
            "dimensions and lambda 1 a few entries of dJ/dW come close to 1e-6, because the data term and "
            "2 lambda W nearly cancel; there the float64 resolution of the cost itself (about ulp(J)/2h = 2e-11 "
            "for h = 1e-5) bounds the relative error near 1e-5 for any centred difference, so that case can "
            "exceed 1e-6 without a wrong gradient. The sheet's procedure (20 dimensions) is held to 1e-6 by "
            "`handgrad gradcheck` and the SVM/BCE checks below."),
    Section("linear-settings", "linear", "Cross-entropy, the four settings: test accuracy",
            _R004_T3, "40 epochs, batch 100, data_batch_1 for training, data_batch_2 for validation, "
            "test_batch for testing; mean/std normalisation from the training data."),
    Section("linear-svm", "linear", "Multi-class SVM (hinge) loss, the same four settings", _R003,
            "Report 003 trained the same four settings with the hinge loss and found it slightly worse "
            "than cross-entropy."),
    Section("linear-bce", "linear", "Sigmoid outputs with multiple binary cross-entropy", "report 001",
            "Test accuracy, and histograms of the probability given to the ground-truth class for "
            "correctly and incorrectly classified test images, BCE beside softmax + cross-entropy."),
    Section("linear-best", "linear", "Best linear classifier (bonus)", "report 001; course-spec.md",
            "All five batches minus 1,000 validation images and the bonus improvements."),
    # --- mlp ---
    Section("mlp-gradcheck", "mlp", "Gradient checks: two-layer network", "report 002, section 2",
            "Report 002 found analytic and numerical gradients equal to 5 decimals; the sheet's check is "
            f"the relative error, which we require below {GRADCHECK_BOUND:g}."),
    Section("mlp-sheet", "mlp", "Cyclical learning rates: the sheet's figures 3 and 4",
            "A2 sheet, figures 3-4; report 002, figures 1-2",
            "m=50, eta 1e-5..1e-1, lambda .01, batch 100, data_batch_1 for training."),
    Section("mlp-search", "mlp", "Coarse-to-fine search for lambda", "report 002, tables 1-2",
            "All five batches with 5,000 validation images, 2 cycles with n_s = 2 floor(n / n_batch). "
            "The report drew 20 random coarse values and 30 fine ones; our configs use the 2020 sheet's "
            "log grid of eight coarse values and 12 random fine ones, so the best lambdas are compared "
            "within a factor, and the best validation accuracies within a tolerance."),
    Section("mlp-final", "mlp", "Best lambda on 49,000 images, 10 seeds", "report 002, section 4",
            "n_s 980, 49,000 training and 1,000 validation images, trained with 10 seeds; mean and standard "
            "deviation. First the report's own setting (lambda .00895, 3 cycles), then ours, whose lambda and "
            "number of cycles our searches chose on validation accuracy for this copy of the data."),
    Section("mlp-best", "mlp", "Best two-layer network (bonus)", "course-spec.md (peer franco-ruggeri)",
            "m=1000, dropout, flips, snapshot ensemble over 5 cycles."),
    # --- convnet ---
    Section("convnet-gradcheck", "convnet", "Gradient checks: ConvNet", "report 000, table 1",
            "Report 000 checked k1=5, n1=5, k2=5, n2=5 on a batch of 3; ours must stay below "
            f"{GRADCHECK_BOUND:g}."),
    Section("convnet-imbalance", "convnet", "Class imbalance: with and without compensation",
            "report 000, section 3; course-spec.md (peer franco-ruggeri)",
            "k1=5, n1=20, k2=3, n2=20, momentum; balanced validation accuracy (252 names, 14 per class), "
            "class distribution, confusion matrices and learning curves."),
    Section("convnet-final", "convnet", "Final ConvNet", "report 000, section 4 and table 3",
            "k1=5, n1=100, k2=3, n2=100, 20,000 updates, best-validation checkpoint; per-class validation "
            "accuracy and predictions for new surnames."),
    Section("convnet-best", "convnet", "Best ConvNet (bonus)", "course-spec.md (peer franco-ruggeri)", ""),
    Section("convnet-timing", "convnet", "Efficiency variants of the convolution: timing",
            "report 000, table 2",
            "k1=5, n1=10, k2=5, n2=10, batch 100, 5 epochs. The report's seconds are MATLAB on another "
            "machine and are shown for reference; the speed-ups over no optimisation are compared."),
)

_REPORT004_GC = (
    ({"param": "W", "max_abs": 3.68e-10, "max_rel": 1.88e-06}, {"param": "b", "max_abs": 2.41e-10, "max_rel": 8.38e-10}),
    ({"param": "W", "max_abs": 8.98e-10, "max_rel": 1.72e-04}, {"param": "b", "max_abs": 4.34e-10, "max_rel": 2.32e-09}),
    ({"param": "W", "max_abs": 1.70e-09, "max_rel": 2.97e-07}, {"param": "b", "max_abs": 9.46e-10, "max_rel": 4.04e-08}),
    ({"param": "W", "max_abs": 2.15e-09, "max_rel": 2.35e-04}, {"param": "b", "max_abs": 6.66e-10, "max_rel": 1.18e-08}),
)
_REPORT000_GC = (
    ({"param": "F1", "max_abs": 4.48e-10, "max_rel": 4.09e-07}, {"param": "F2", "max_abs": 4.38e-10, "max_rel": 1.46e-06},
     {"param": "W", "max_abs": 5.65e-10, "max_rel": 2.65e-06}),
)

_PER_CLASS_000 = {
    "Arabic": 100.00, "Chinese": 92.86, "Czech": 35.71, "Dutch": 64.29, "English": 57.14, "French": 21.43,
    "German": 85.71, "Greek": 71.43, "Irish": 57.14, "Italian": 57.14, "Japanese": 78.57, "Korean": 57.14,
    "Polish": 50.00, "Portuguese": 14.29, "Russian": 78.57, "Scottish": 0.00, "Spanish": 28.57,
    "Vietnamese": 50.00,
}
#: report 000 table 3: the most probable class of each new surname, and its probability
_PREDICTIONS_000 = {
    "ruggeri": ("Italian", 0.7985), "salmeri": ("Italian", 0.7321), "lee": ("Korean", 0.3934),
    "scofield": ("English", 0.7785), "fdfr": ("German", 0.4107), "gonzales": ("Spanish", 0.7893),
}
#: report 000 table 2: seconds for 5 epochs and speed-up, per implementation of the benchmark
_TIMING_000 = {"mfmx": (176.715, 1.0), "a": (143.063, 1.24), "b": (30.873, 5.72), "ab": (25.501, 6.93)}
_TIMING_LABEL = {"mfmx": "no optimisation", "a": "(a)", "b": "(b)", "ab": "(a)+(b)", "fast": "fast (im2col)"}

#: report 002 tables 1-2, the three best of each search: (lambda, train %, val %)
_COARSE_TOP_002 = ((0.0113158071, 58.01, 52.60), (1.82477332600308e-05, 63.29, 52.32), (0.0060451793, 63.34, 52.32))
_FINE_TOP_002 = ((0.0089500283, 59.32, 54.40), (0.0094896297, 58.97, 54.20), (0.0082752579, 59.54, 54.14))


def _settings(prefix: str, loss: str, values, source: str, section: str) -> list[Experiment]:
    params = [("lambda 0, eta .1", 0), ("lambda 0, eta .001", 1), ("lambda .1, eta .001", 2), ("lambda 1, eta .001", 3)]
    out = []
    for (desc, i), pub in zip(params, values):
        figs = ("learning_curves.png", "templates.png")
        if i == 0:
            # eta .1 oscillates: the last epoch's accuracy swings by about two points with the seed
            # (and with the BLAS's rounding), so one run says little; compare the mean of five
            out.append(Experiment(
                f"{prefix}setting1", "linear", section, f"{loss} setting 1: {desc} (5 seeds)",
                f"linear/{prefix}setting1.toml", kind="repeat", repeat=5,
                targets=(_acc("setting 1 test accuracy, mean of 5 seeds (%)", pub, source, 1.5,
                              key="test_accuracy_mean"),), figures=figs))
            continue
        out.append(Experiment(
            f"{prefix}setting{i + 1}", "linear", section, f"{loss} setting {i + 1}: {desc}",
            f"linear/{prefix}setting{i + 1}.toml",
            targets=(_acc(f"setting {i + 1} test accuracy (%)", pub, source, 1.5),), figures=figs))
    return out


EXPERIMENTS: tuple[Experiment, ...] = (
    # ----------------------------------------------------------------------------- linear
    Experiment("gradcheck-linear", "linear", "linear-gradcheck", "cross-entropy gradients, report 004's four cases",
               "linear/setting1.toml", kind="gradcheck",
               cases=((1, 0.0, None), (1, 1.0, None), (100, 1.0, 20), (100, 1.0, None)),
               gradcheck_published=_REPORT004_GC, figures=()),
    Experiment("gradcheck-svm", "linear", "linear-gradcheck", "SVM (hinge) gradients", "linear/svm-setting1.toml",
               kind="gradcheck", cases=((1, 0.0, None), (100, 1.0, 20)), figures=()),
    Experiment("gradcheck-bce", "linear", "linear-gradcheck", "multiple-BCE gradients (report 001: below 1e-6)",
               "linear/bce.toml", kind="gradcheck", cases=((1, 0.0, None), (100, 1.0, 20)), figures=()),
    *_settings("", "cross-entropy", (29.74, 38.69, 39.08, 37.57), _R004_T3, "linear-settings"),
    *_settings("svm-", "SVM", (28.92, 34.98, 35.81, 36.03), _R003, "linear-svm"),
    Experiment("bce", "linear", "linear-bce", "sigmoid + multiple BCE", "linear/bce.toml",
               targets=(_acc("BCE test accuracy (%)", 35.46, "report 001", 1.5,
                             note="report 001 kept the cross-entropy settings; ours raises eta for the 1/K factor"),
                        _acc("BCE test accuracy (%), peer", 37.31, "course-spec.md, peer ttperr 2024 "
                             "(lambda .1, batch 200, eta .005)", 1.5)),
               figures=("learning_curves.png", "templates.png", "probability_histograms.png")),
    Experiment("bce-softmax", "linear", "linear-bce", "softmax + cross-entropy, for the histogram comparison",
               "linear/setting3.toml", figures=("probability_histograms.png",)),
    Experiment("best-linear", "linear", "linear-best", "best linear classifier", "linear/best.toml",
               targets=(_acc("best test accuracy (%), report 001", 40.58, "report 001 (all data)", 0.0,
                             mode="at_least"),
                        _acc("best test accuracy (%), target", 41.5, "issue 2 target (franco-ruggeri 41.09)", 0.0,
                             mode="at_least")),
               figures=("learning_curves.png", "templates.png")),
    # ----------------------------------------------------------------------------- mlp
    Experiment("gradcheck-mlp", "mlp", "mlp-gradcheck", "two-layer gradients (m=50, 20 dimensions)",
               "mlp/sheet-fig3.toml", kind="gradcheck",
               cases=((1, 0.0, 20), (20, 0.0, 20), (20, 0.1, 20)), figures=()),
    Experiment("sheet-fig3", "mlp", "mlp-sheet", "figure 3: one cycle, n_s=500", "mlp/sheet-fig3.toml",
               targets=(_acc("figure 3 test accuracy (%)", 45.85, "A2 sheet, figure 3", 1.0),
                        _acc("figure 3 test accuracy (%), report 002", 45.73, "report 002, figure 1", 1.0)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("sheet-fig4", "mlp", "mlp-sheet", "figure 4: three cycles, n_s=800", "mlp/sheet-fig4.toml",
               targets=(_acc("figure 4 test accuracy (%)", 47.47, "A2 sheet, figure 4", 1.0),
                        _acc("figure 4 test accuracy (%), report 002", 45.59, "report 002, figure 2", 1.0)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("search-coarse", "mlp", "mlp-search", "coarse search: lambda = 10^l, l in [-5, -1]",
               "mlp/search-coarse.toml", kind="search",
               targets=(_acc("coarse search: best validation accuracy (%)", 52.60, "report 002, table 1", 1.5,
                             key="best_val_accuracy"),
                        Target("coarse search: best lambda", "best_lambda", 0.0113158071, "report 002, table 1",
                               1.0, mode="log", scale=1.0, fmt=".3g",
                               note="the report's top 3 span 1.8e-5 .. 1.3e-2: a flat optimum")),
               extras=(("search_top", _COARSE_TOP_002),), figures=("val_accuracy_vs_lambda.png",)),
    Experiment("search-fine", "mlp", "mlp-search", "fine search: l ~ U(-3, -1.7)", "mlp/search-fine.toml",
               kind="search",
               targets=(_acc("fine search: best validation accuracy (%)", 54.40, "report 002, table 2", 1.5,
                             key="best_val_accuracy"),
                        Target("fine search: best lambda", "best_lambda", 0.00895, "report 002, table 2",
                               0.5, mode="log", scale=1.0, fmt=".3g")),
               extras=(("search_top", _FINE_TOP_002),), figures=("val_accuracy_vs_lambda.png",)),
    Experiment("report-final", "mlp", "mlp-final", "report 002's setting: lambda .00895, 3 cycles, 10 seeds",
               "mlp/report-final.toml", kind="repeat", repeat=10,
               targets=(_acc("test accuracy, mean of 10 (%)", 52.07, "report 002, section 4", 1.0,
                             key="test_accuracy_mean", published_std=0.26),
                        _acc("validation accuracy, mean of 10 (%)", 52.28, "report 002, section 4", 1.5,
                             key="val_accuracy_mean", published_std=0.66),
                        _acc("training accuracy, mean of 10 (%)", 57.01, "report 002, section 4", 1.5,
                             key="train_accuracy_mean", published_std=0.15)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("final", "mlp", "mlp-final", "our final: lambda .0025, 4 cycles (chosen on validation), 10 seeds",
               "mlp/final.toml", kind="repeat", repeat=10,
               targets=(_acc("test accuracy, mean of 10 (%)", 52.0, "issue 3 target (report 002: 52.07)", 0.0,
                             key="test_accuracy_mean", mode="at_least"),
                        _acc("test accuracy, mean of 10 (%)", 52.07, "report 002, section 4", 1.0,
                             key="test_accuracy_mean", published_std=0.26)),
               figures=("learning_curves.png", "learning_rate.png")),
    Experiment("best-mlp", "mlp", "mlp-best", "m=1000, dropout .8, flips, snapshot ensemble", "mlp/best.toml",
               targets=(_acc("test accuracy (%)", 57.0, "issue 3 target (peer franco-ruggeri: 58.04)", 0.0,
                             mode="at_least"),
                        _acc("snapshot-ensemble test accuracy (%)", 58.04, "course-spec.md, peer franco-ruggeri",
                             1.0, key="ensemble_test_accuracy", mode="at_least")),
               figures=("learning_curves.png", "learning_rate.png")),
    # ----------------------------------------------------------------------------- convnet
    Experiment("gradcheck-convnet", "convnet", "convnet-gradcheck", "k1=5, n1=5, k2=5, n2=5, batch 3",
               "convnet/small-balanced.toml", kind="gradcheck", cases=((3, 0.0, None),),
               gradcheck_published=_REPORT000_GC, figures=()),
    Experiment("small-unbalanced", "convnet", "convnet-imbalance", "n1=n2=20, no compensation",
               "convnet/small-unbalanced.toml",
               targets=(_acc("balanced validation accuracy (%), no compensation", 40.87,
                             "report 000 section 3; course-spec.md", 2.0, key="val_balanced_accuracy"),),
               figures=("class_distribution.png", "confusion_val.png", "learning_curves.png")),
    Experiment("small-balanced", "convnet", "convnet-imbalance", "n1=n2=20, balanced sampling each epoch",
               "convnet/small-balanced.toml",
               targets=(_acc("balanced validation accuracy (%), balanced sampling", 51.59,
                             "report 000 section 3; course-spec.md", 2.0, key="val_balanced_accuracy"),),
               figures=("confusion_val.png", "learning_curves.png")),
    Experiment("final-convnet", "convnet", "convnet-final", "k1=5, n1=100, k2=3, n2=100", "convnet/final.toml",
               targets=(_acc("balanced validation accuracy (%)", 55.56, "report 000, section 4", 2.0,
                             key="val_balanced_accuracy"),),
               extras=(("per_class", _PER_CLASS_000), ("predictions", _PREDICTIONS_000)),
               figures=("confusion_val.png", "learning_curves.png")),
    Experiment("best-convnet", "convnet", "convnet-best", "best ConvNet", "convnet/best.toml",
               targets=(_acc("balanced validation accuracy (%)", 61.11,
                             "course-spec.md, peer franco-ruggeri (3 conv layers)", 2.0, key="val_balanced_accuracy",
                             mode="at_least"),),
               figures=("confusion_val.png", "learning_curves.png")),
    Experiment("timing", "convnet", "convnet-timing", "report 000 table 2 setting",
               "../benchmarks/bench_conv_variants.py",
               kind="timing",
               targets=tuple(Target(f"speed-up {_TIMING_LABEL[k]}", f"speedup.{k}", v[1], "report 000, table 2",
                                    0.5, mode="rel", scale=1.0, fmt=".2f") for k, v in _TIMING_000.items()
                             if k != "mfmx")
               + tuple(Target(f"seconds {_TIMING_LABEL[k]} (5 epochs)", f"total_s.{k}", v[0], "report 000, table 2",
                              None, mode="info", scale=1.0, fmt=".1f") for k, v in _TIMING_000.items()),
               extras=(("timing", _TIMING_000),), figures=()),
)


def sections(family: str) -> list[Section]:
    return [s for s in SECTIONS if s.family == family]


def experiments(family: str) -> list[Experiment]:
    if family not in FAMILIES:
        raise HandgradError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)} or all")
    return [e for e in EXPERIMENTS if e.family == family]


def families(which: str) -> list[str]:
    if which == "all":
        return list(FAMILIES)
    if which not in FAMILIES:
        raise HandgradError(f"unknown family {which!r}; choose one of {', '.join(FAMILIES)} or all")
    return [which]


# --------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------


def repo_root() -> Path:
    """The source checkout this package is installed from (src layout), if there is one."""
    return Path(__file__).resolve().parents[2]


def configs_root(explicit: str | os.PathLike | None = None) -> Path:
    """Where the shipped configs live: ``explicit``, $HANDGRAD_CONFIGS, the checkout's configs/, ./configs."""
    if explicit is not None:
        p = Path(explicit)
        if not p.is_dir():
            raise HandgradError(f"configs folder {p} does not exist")
        return p
    env = os.environ.get("HANDGRAD_CONFIGS")
    if env:
        return Path(env)
    for p in (repo_root() / "configs", Path.cwd() / "configs"):
        if p.is_dir():
            return p
    raise HandgradError("cannot find the configs/ folder; run from the handgrad checkout or pass --configs")


def run_dir(out: Path, exp: Experiment) -> Path:
    return Path(out) / exp.family / "runs" / exp.id


# --------------------------------------------------------------------------------------------
# Quick budgets
# --------------------------------------------------------------------------------------------

_sizes: dict[tuple, int] = {}


def _cifar_batch_size() -> int:
    """Images per CIFAR-10 training batch (10,000 in the official data; fewer in test fakes)."""
    from handgrad.data import sources

    root = sources.cifar10_dir()
    key = (str(root),)
    if key not in _sizes:
        folder = root if root.is_dir() else None
        if folder is not None and not (folder / "data_batch_1").is_file() and (folder / sources.CIFAR10_FOLDER).is_dir():
            folder = folder / sources.CIFAR10_FOLDER
        if folder is None:  # the official archive: 10,000 per batch
            _sizes[key] = 10000
        else:
            from handgrad.data.cifar10 import load_batch

            _sizes[key] = len(load_batch(folder / "data_batch_1")[1])
    return _sizes[key]


def quick_overrides(cfg, exp: Experiment) -> dict[str, Any]:
    """Overrides that cut a config's budget for ``--quick`` (same pipeline, smaller numbers)."""
    ov: dict[str, Any] = {}
    dc, tc = cfg.data, cfg.train
    n_train = None
    if dc.dataset == "cifar10":
        per_batch = _cifar_batch_size()
        if dc.split == "all":
            n_val = min(dc.n_val, QUICK_N_VAL, max(1, per_batch))
            if n_val != dc.n_val:
                ov["data.n_val"] = n_val
            avail = 5 * per_batch - n_val
        else:
            avail = per_batch
        n_full = dc.n_train or avail
        n_train = min(QUICK_N_TRAIN, n_full)
        if n_train < n_full:
            ov["data.n_train"] = n_train
    if exp.kind == "gradcheck":
        return ov
    if tc.n_epochs is not None and tc.n_epochs > QUICK_EPOCHS:
        ov["train.n_epochs"] = QUICK_EPOCHS
    if tc.n_updates is not None and tc.n_updates > QUICK_UPDATES:
        ov["train.n_updates"] = QUICK_UPDATES
        if tc.record_every is not None and tc.record_every > QUICK_UPDATES // 4:
            ov["train.record_every"] = max(1, QUICK_UPDATES // 4)
    if tc.schedule == "cyclical":
        # wide networks (the bonus nets, m=1000) cost 20x an m=50 update: one short cycle for them
        wide = cfg.model.kind == "mlp" and max(cfg.model.hidden, default=0) > QUICK_WIDE
        cycles = 1 if wide else QUICK_CYCLES
        if tc.n_cycles is not None and tc.n_cycles > cycles:
            ov["train.n_cycles"] = cycles
        if tc.n_s is not None and n_train is not None and n_train < n_full:
            # the same number of epochs per half cycle on the smaller training set
            n_s = max(10, round(tc.n_s * n_train / n_full / (2 if wide else 1)))
            if n_s < tc.n_s:
                ov["train.n_s"] = n_s
    if exp.kind == "search":
        sc = cfg.search
        if sc.log_grid:
            ov["search.log_grid"] = {k: [lo, hi, min(int(n), QUICK_TRIALS)] for k, (lo, hi, n) in sc.log_grid.items()}
        if sc.log_uniform and sc.n_trials > QUICK_TRIALS:
            ov["search.n_trials"] = QUICK_TRIALS
        if sc.grid:
            ov["search.grid"] = {k: list(v)[:2] for k, v in sc.grid.items()}
    return ov


def quick_cases(exp: Experiment) -> tuple:
    """The gradient-check cases on at most 20 dimensions and 20 examples (one per full case, in order,
    so the published rows still line up)."""
    return tuple((min(b, QUICK_GRADCHECK_BATCH), lam,
                  QUICK_GRADCHECK_DIMS if nd is None or nd > QUICK_GRADCHECK_DIMS else nd)
                 for b, lam, nd in exp.cases)


# --------------------------------------------------------------------------------------------
# Commands (what a user would type to run one experiment alone)
# --------------------------------------------------------------------------------------------


def toml_value(v) -> str:
    """A value in the TOML syntax ``--set`` parses."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        raise ValueError("TOML has no null")
    return str(v)


def _sets(ov: dict) -> list[str]:
    out = []
    for k, v in ov.items():
        out += ["--set", f"{k}={toml_value(v)}"]
    return out


def _cmd(argv: list[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def _rel(p: Path) -> str:
    """``p`` relative to the working directory when it lies below it, else absolute."""
    p = Path(p).absolute()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def timing_argv(quick: bool) -> list[str]:
    """Arguments for benchmarks/bench_conv_variants.py (without --json)."""
    if quick:  # every update counted, per-update time measured for about a second and extrapolated
        return ["--repeats", "1", "--min-updates", "10", "--budget", "1"]
    return ["--repeats", "3", "--budget", "60"]


def commands(exp: Experiment, config_path: Path, folder: Path, ov: dict, quick: bool,
             dataset: str = "cifar10") -> list[str]:
    c, o = _rel(config_path), _rel(folder)
    if exp.kind == "run":
        return [_cmd(["handgrad", "train", c, *_sets(ov), "--out", o])]
    if exp.kind == "repeat":
        n = min(exp.repeat, QUICK_REPEAT) if quick else exp.repeat
        return [_cmd(["handgrad", "train", c, *_sets(ov), "--repeat", n, "--out", o])]
    if exp.kind == "search":
        return [_cmd(["handgrad", "search", c, *_sets(ov), "--out", o])]
    if exp.kind == "gradcheck":
        return [_cmd(["handgrad", "gradcheck", c, *_sets({**ov, **_case_overrides(case, dataset)}), "--json"])
                for case in (quick_cases(exp) if quick else exp.cases)]
    if exp.kind == "timing":
        bench = _rel(repo_root() / "benchmarks" / "bench_conv_variants.py")
        return [_cmd(["python", bench, *timing_argv(quick), "--json", _rel(folder / "timing.json")])]
    raise ValueError(exp.kind)


def _case_overrides(case, dataset: str = "cifar10") -> dict:
    """--set overrides for one gradient-check case; n_dims None means every input dimension."""
    b, lam, nd = case
    ov = {"gradcheck.batch_sizes": [b], "gradcheck.lambdas": [lam], "train.lambda": lam}
    if nd is not None:
        ov["gradcheck.n_dims"] = nd
    elif dataset == "cifar10":
        ov["gradcheck.n_dims"] = 3072
    return ov


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan_experiment(exp: Experiment, configs: Path, quick: bool) -> dict:
    """Resolve an experiment: its config (with quick overrides), fingerprint and commands.

    Returns {"available": False, "reason": ...} when the config file does not exist yet.
    """
    from handgrad.config import from_dict, load_config

    if exp.kind == "timing":  # the benchmark script has its own settings (report 000's)
        bench = repo_root() / "benchmarks" / "bench_conv_variants.py"
        if not bench.is_file():
            return {"available": False, "reason": f"the benchmark {bench} is not available"}
        return {"available": True, "config_path": bench, "cfg": None, "overrides": {}, "repeat": 1, "cases": (),
                "fingerprint": _fingerprint({"kind": "timing", "bench": timing_argv(quick)})}
    path = configs / exp.config
    if not path.is_file():
        return {"available": False, "reason": f"config {exp.config} does not exist yet"}
    base = load_config(path)
    ov = quick_overrides(base, exp) if quick else {}
    cfg = from_dict(base.to_dict(), str(path), ov) if ov else base
    repeat = (min(exp.repeat, QUICK_REPEAT) if quick else exp.repeat) if exp.kind == "repeat" else 1
    cases = (quick_cases(exp) if quick else exp.cases) if exp.kind == "gradcheck" else ()
    extra = timing_argv(quick) if exp.kind == "timing" else []
    fp = _fingerprint({"kind": exp.kind, "config": cfg.to_dict(), "repeat": repeat, "cases": cases, "bench": extra})
    return {"available": True, "config_path": path, "cfg": cfg, "overrides": ov, "repeat": repeat,
            "cases": cases, "fingerprint": fp}


def is_done(folder: Path, fingerprint: str) -> bool:
    """A finished run of the same thing: metrics.json present and reproduce.json's fingerprint equal."""
    meta = folder / "reproduce.json"
    if not (folder / "metrics.json").is_file() or not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text())["fingerprint"] == fingerprint
    except (json.JSONDecodeError, KeyError):
        return False


def _execute(exp: Experiment, plan: dict, folder: Path, quick: bool, progress: bool | None) -> dict:
    """Run the experiment into ``folder``; returns its metrics.json dict."""
    from handgrad import experiment

    cfg = plan["cfg"]
    if exp.kind == "run":
        return experiment.run(cfg, folder, progress=progress, desc=exp.id)
    if exp.kind == "repeat":
        return experiment.run_repeated(cfg, folder, plan["repeat"], progress=progress)
    if exp.kind == "search":
        return _run_search(exp, cfg, folder, progress)
    if exp.kind == "gradcheck":
        return _run_gradcheck(cfg, plan["cases"], folder)
    if exp.kind == "timing":
        return _run_timing(folder, quick)
    raise ValueError(exp.kind)  # pragma: no cover


def _run_search(exp: Experiment, cfg, folder: Path, progress: bool | None) -> dict:
    from tqdm.auto import tqdm

    from handgrad import io, search

    trials = search.trial_overrides(cfg.search)
    t0 = time.perf_counter()
    with tqdm(total=len(trials), desc=f"{exp.id} trials", unit="trial", leave=False,
              disable=(not sys.stderr.isatty()) if progress is None else not progress) as bar:
        records = search.run_search(cfg, folder, extra_overrides=trials, on_done=lambda rec: bar.update(1))
    search.write_table(folder, records)
    io.write_json(folder / "config.json", cfg.to_dict())
    best = records[0]
    lam_key = next((k for k in best["overrides"] if k in ("train.lambda", "train.lam")), None)
    m = {"name": cfg.name, "n_trials": len(records),
         "seconds": float(sum(r["metrics"]["seconds"] for r in records)),
         "wall_seconds": time.perf_counter() - t0,
         "best_overrides": best["overrides"],
         "best_train_accuracy": best["metrics"]["train_accuracy"],
         "best_val_accuracy": best["metrics"]["val_accuracy"],
         "best_test_accuracy": best["metrics"].get("test_accuracy")}
    if lam_key:
        m["best_lambda"] = best["overrides"][lam_key]
    io.write_json(folder / "metrics.json", m)
    return m


def _run_gradcheck(cfg, cases, folder: Path) -> dict:
    from handgrad import experiment, io
    from handgrad.config import from_dict

    t0 = time.perf_counter()
    out = []
    for case in cases:
        c = from_dict(cfg.to_dict(), "gradcheck case", _case_overrides(case, cfg.data.dataset))
        res = experiment.gradcheck_cases(c)
        out.extend(res)
    m = {"name": cfg.name, "cases": out, "max_rel": max(c["max_rel"] for c in out),
         "bound": GRADCHECK_BOUND, "passed": all(c["max_rel"] <= GRADCHECK_BOUND for c in out),
         "seconds": time.perf_counter() - t0, "seed": cfg.seed}
    io.write_json(folder / "config.json", cfg.to_dict())
    io.write_json(folder / "metrics.json", m)
    return m


def _load_bench():
    """benchmarks/bench_conv_variants.py as a module (it is a script, not part of the package)."""
    import importlib.util

    path = repo_root() / "benchmarks" / "bench_conv_variants.py"
    if not path.is_file():
        raise HandgradError(f"the timing benchmark {path} is not available")
    spec = importlib.util.spec_from_file_location("handgrad_bench_conv_variants", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run_timing(folder: Path, quick: bool) -> dict:
    from handgrad import io

    bench = _load_bench()
    folder.mkdir(parents=True, exist_ok=True)
    js = folder / "timing.json"
    t0 = time.perf_counter()
    with open(folder / "bench.log", "w", encoding="utf-8") as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        code = bench.main([*timing_argv(quick), "--json", str(js)])
    if code:
        raise HandgradError(f"the timing benchmark failed (exit {code}); see {folder / 'bench.log'}")
    res = json.loads(js.read_text())
    rows = {r["impl"]: r for r in res["rows"]}
    m = {"name": "timing", "updates": res["updates"], "rows": res["rows"],
         "speedup": {k: r["speedup_total"] for k, r in rows.items()},
         "total_s": {k: r["total_s"] for k, r in rows.items()},
         "labels": dict(getattr(bench, "LABEL", {})),
         "seconds": time.perf_counter() - t0, "seed": res["setting"].get("seed")}
    io.write_json(folder / "metrics.json", m)
    return m


def environment() -> dict:
    """Python, package versions, BLAS and the machine (for the report's manifest)."""
    from importlib import metadata

    import numpy  # noqa: F401 - load BLAS so threadpoolctl can see it

    pkgs = {}
    for name in ("handgrad", "numpy", "matplotlib", "pydantic", "typer", "jinja2", "tqdm", "threadpoolctl", "pooch"):
        try:
            pkgs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pkgs[name] = "not installed"
    try:
        from threadpoolctl import threadpool_info

        blas = [{k: i.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "filepath")}
                for i in threadpool_info()]
    except Exception:  # noqa: BLE001 - the manifest must not fail on an odd BLAS
        blas = []
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "packages": pkgs, "blas": blas, "git_commit": _git_commit()}


def _git_commit() -> str | None:
    """The checkout's commit, read from .git without running git."""
    git = repo_root() / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            p = git / ref
            if p.is_file():
                return p.read_text().strip()
            packed = git / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
            return None
        return head
    except OSError:
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def reproduce(which: str = "all", *, out: str | os.PathLike = "reports", quick: bool = False, force: bool = False,
              configs: str | os.PathLike | None = None, progress: bool | None = None,
              command: str | None = None, echo=None, threads: int | None = 1) -> dict[str, Path]:
    """Run the experiments of one family (or all) into OUT/<family>/runs/ and render the reports.

    Returns {family: path of index.html}. Finished experiments (same fingerprint) are skipped unless
    ``force``; a failing experiment is recorded and reported, and the others still run. BLAS runs
    on ``threads`` threads (None: the library's default): the matrices here are small, and on a busy
    machine one thread is several times faster than two.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    from handgrad import io, report

    out = Path(out)
    root = configs_root(configs)
    fams = families(which)
    echo = echo or (lambda s: print(s, file=sys.stderr))
    command = command or _cmd(["handgrad", "reproduce", which, *(["--quick"] if quick else []), "--out", str(out),
                               *(["--force"] if force else [])])
    todo = [e for f in fams for e in experiments(f)]
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    env = environment()
    results: dict[str, Path] = {}
    bar = tqdm(total=len(todo), desc="experiments", unit="exp", disable=disable)
    import numpy  # noqa: F401 - load BLAS first: threadpoolctl limits only libraries already loaded

    limits = threadpool_limits(threads) if threads else contextlib.nullcontext()
    try:
        with limits:
            for fam in fams:
                fam_dir = out / fam
                fam_dir.mkdir(parents=True, exist_ok=True)
                t_fam = time.perf_counter()
                status = {}
                for exp in experiments(fam):
                    bar.set_postfix_str(exp.id)
                    status[exp.id] = _one(exp, root, out, quick, force, progress, echo)
                    bar.update(1)
                manifest = {"family": fam, "quick": quick, "command": command, "configs": str(root),
                            "cwd": str(Path.cwd()), "finished": _now(),
                            "wall_seconds_this_call": time.perf_counter() - t_fam,
                            "environment": env, "status": status,
                            "data_env": os.environ.get("HANDGRAD_DATA"),
                            "blas_threads": threads}
                io.write_json(fam_dir / "manifest.json", manifest)
                results[fam] = report.render(fam_dir)
                echo(f"{fam}: report {results[fam]} (and {results[fam].with_name('report.md')})")
    finally:
        bar.close()
    return results


def _one(exp: Experiment, root: Path, out: Path, quick: bool, force: bool, progress, echo) -> dict:
    """Plan, skip or run one experiment; returns its status for the manifest."""
    from handgrad import io

    try:
        plan = plan_experiment(exp, root, quick)
    except HandgradError as e:
        echo(f"  {exp.id}: not available ({e})")
        return {"state": "not available", "reason": str(e)}
    if not plan["available"]:
        echo(f"  {exp.id}: not available ({plan['reason']})")
        return {"state": "not available", "reason": plan["reason"]}
    folder = run_dir(out, exp)
    cmds = commands(exp, plan["config_path"], folder, plan["overrides"], quick,
                    plan["cfg"].data.dataset if plan["cfg"] is not None else "")
    if not force and is_done(folder, plan["fingerprint"]):
        return {"state": "done", "skipped": True, "commands": cmds}
    if folder.exists():
        # stale (another config or budget), interrupted or --force: start clean
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    meta = {"id": exp.id, "family": exp.family, "kind": exp.kind, "config": exp.config,
            "config_path": str(plan["config_path"]), "overrides": plan["overrides"], "quick": quick,
            "repeat": plan["repeat"], "fingerprint": plan["fingerprint"], "commands": cmds, "started": _now()}
    t0 = time.perf_counter()
    try:
        _execute(exp, plan, folder, quick, progress)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - record it, report it, go on with the others
        meta.update(error=f"{type(e).__name__}: {e}", wall_seconds=time.perf_counter() - t0, finished=_now())
        io.atomic_write_text(folder / "error.txt", traceback.format_exc())
        (folder / "metrics.json").unlink(missing_ok=True)
        io.write_json(folder / "reproduce.json", meta)
        echo(f"  {exp.id}: FAILED ({type(e).__name__}: {e})")
        return {"state": "failed", "error": meta["error"], "commands": cmds}
    meta.update(wall_seconds=time.perf_counter() - t0, finished=_now())
    io.write_json(folder / "reproduce.json", meta)
    return {"state": "done", "skipped": False, "commands": cmds}


__all__ = ["EXPERIMENTS", "SECTIONS", "Experiment", "Section", "Target", "reproduce", "experiments", "sections",
           "quick_overrides", "configs_root", "environment"]
