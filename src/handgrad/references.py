"""The published sources that handgrad's reports put its numbers beside.

Every published number in a report, a family or the documentation names its source by
:func:`cite`, e.g. ``cite("ruggeri2020-a3", "table 2")`` gives "Ruggeri 2020, DD2424 assignment 3
report, table 2", and the report lists the sources it cites in full (:func:`cited_in`). The
documentation's references page is generated from :data:`REFERENCES`.

The course is KTH's DD2424 "Deep Learning in Data Science". Its assignment sheets are written by the
course's teacher and change little from year to year; the students' reports below are the ones
whose numbers handgrad reproduces, and the peer repositories are public student solutions whose
numbers serve as further points of comparison.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from handgrad.errors import HandgradError

_RUGGERI = "https://github.com/franco-ruggeri/dd2424-deep-learning-in-data-science"


@dataclass(frozen=True)
class Reference:
    key: str
    #: how a report names it: "Ruggeri 2020, DD2424 assignment 3 report"
    short: str
    author: str
    year: str
    title: str
    assignment: str
    kind: str  # "report" | "sheet" | "repository"
    #: what handgrad takes from it
    reports: str
    url: str = ""


REFERENCES: dict[str, Reference] = {r.key: r for r in (
    # --- students' reports -----------------------------------------------------------------------
    Reference("ruggeri2020-a1", "Ruggeri 2020, DD2424 assignment 1 report", "Franco Ruggeri", "2020",
              "DD2424 Deep Learning in Data Science, Assignment 1 (March 30, 2020)",
              "A1: one-layer linear classifier on CIFAR-10", "report",
              "Gradient checks against ComputeGradsNumSlow for four cases (tables 1-2); test accuracy of the "
              "four settings of the sheet, 29.74 / 38.69 / 39.08 / 37.57 % (table 3); class templates.",
              f"{_RUGGERI}/tree/master/assignment1"),
    Reference("dieme2024-a1", "Dieme 2024, DD2424 assignment 1 report", "Eloi Dieme", "2024",
              "DD2424 - Deep Learning in Data Science, Assignment 1 (March 2024)",
              "A1: one-layer linear classifier on CIFAR-10, with the bonus", "report",
              "Gradient check (relative error below 1e-6); the bonus: all training data, grid search and step "
              "decay, 40.58 % test accuracy; sigmoid outputs with multiple binary cross-entropy, 35.46 %, and "
              "the histograms of the ground-truth class's probability."),
    Reference("straathof2019-a2", "Straathof 2019, DD2424 assignment 2 report", "Bas Straathof", "2019",
              "DD2424 Deep Learning in Data Science - Assignment 1 (April 10, 2019; the title says "
              "assignment 1, the content is assignment 2)",
              "A2: two-layer network with cyclical learning rates", "report",
              "Gradient check (equal to 5 decimals); the learning curves of the sheet's figures 3 and 4 "
              "(figures 1-2); coarse and fine lambda searches (tables 1-2); the final network, 52.07 +- 0.26 % "
              "test accuracy over 10 runs (section 4)."),
    Reference("garciasanz2020-a1", "García Sanz 2020, DD2424 assignment 1 bonus report", "Fernando García Sanz",
              "2020", "Deep Learning in Data Science - Assignment 1 - Bonus Tasks (March 26, 2020)",
              "A1 bonus: better linear classifiers, the multi-class SVM loss", "report",
              "All data, weight decay and shuffling; the multi-class SVM (hinge) loss on the four settings, "
              "28.92 / 34.98 / 35.81 / 36.03 % test accuracy (section 2)."),
    Reference("ruggeri2020-a3", "Ruggeri 2020, DD2424 assignment 3 report", "Franco Ruggeri", "2020",
              "DD2424 Deep Learning in Data Science, Assignment 3 (May 27, 2020)",
              "A3: character-level ConvNet for the language of a surname", "report",
              "Gradient check (table 1); the convolution's speed-ups (a), (b), (a)+(b) timed over 5 epochs "
              "(table 2); the final net's 55.56 % balanced validation accuracy, its per-class accuracy "
              "(table 3) and its predictions for new surnames.",
              f"{_RUGGERI}/tree/master/assignment3"),
    # --- the course's assignment sheets --------------------------------------------------------------
    Reference("sheet-a1-2020", "DD2424 assignment 1 sheet (2020/2024)", "DD2424 course teacher, KTH", "2020, 2024",
              "Assignment 1", "A1: one-layer linear classifier on CIFAR-10", "sheet",
              "The exact definitions (normalisation with the training data's mean and std, the cost, the "
              "gradient checks), the four settings, 38.83 % for lambda 0, eta .001 with shuffling; the "
              "2024 bonus: flips, multiple binary cross-entropy."),
    Reference("sheet-a1-2025", "DD2424 assignment 1 sheet (2025)", "DD2424 course teacher, KTH", "2025",
              "Assignment 1 (Python version)", "A1: one-layer linear classifier on CIFAR-10", "sheet",
              "Seed 42 with NumPy's default_rng; training cost 1.972 after the first epoch and 39.13 % test "
              "accuracy with shuffling; gradients checked against PyTorch autograd."),
    Reference("sheet-a2", "DD2424 assignment 2 sheet (2019/2020/2024)", "DD2424 course teacher, KTH",
              "2019, 2020, 2024", "Assignment 2", "A2: two-layer network with cyclical learning rates", "sheet",
              "Cyclical learning rates (figure 3: one cycle, n_s = 500, 45.85 %; figure 4: three cycles, "
              "n_s = 800, 47.47 %), the coarse-to-fine lambda search, about 52 % for the final network."),
    Reference("sheet-a3-convnet", "DD2424 assignment 3 sheet, ConvNet (2019/2020)", "DD2424 course teacher, KTH",
              "2019, 2020", "Assignment 3 (ConvNet)", "A3: character-level ConvNet on surnames", "sheet",
              "The convolution as matrix products (M_F, M_X), its gradients and speed-ups, class-balanced "
              "sampling, the final net's hyper-parameters."),
    Reference("sheet-a3-bn-2019", "DD2424 assignment 3 sheet, batch norm (2019)", "DD2424 course teacher, KTH",
              "2019", "Assignment 3 (k-layer network with batch normalisation)",
              "A3: k-layer network with batch normalisation", "sheet",
              "About 53.8 % for the 3-layer network with batch normalisation."),
    Reference("sheet-a3-bn-2024", "DD2424 assignment 3 sheet, batch norm (2024)", "DD2424 course teacher, KTH",
              "2024", "Assignment 3, option 1 (k-layer network with batch normalisation)",
              "A3: k-layer network with batch normalisation", "sheet",
              "About 52 % without and 53.5 % with batch normalisation for the 3-layer network; the 9-layer "
              "network; the sensitivity to the initial scale (sigma 1e-1, 1e-3, 1e-4)."),
    Reference("sheet-a4", "DD2424 assignment 4 sheet (2020/2024)", "DD2424 course teacher, KTH", "2020, 2024",
              "Assignment 4", "A4: character RNN on Harry Potter and the Goblet of Fire", "sheet",
              "The vanilla RNN (m = 100, sequences of 25, AdaGrad eta .1, clipping at 5), its smooth loss "
              "109.2 / 86.4 / 60.1 / 47.6 at updates 1 / 1,000 / 4,000 / 30,000 and 39.45 at 363,000."),
    Reference("sheet-a3-2025", "DD2424 assignment 3 sheet (2025/26), patchify ConvNet", "DD2424 course teacher, KTH",
              "2025, 2026", "Assignment 3 (2025/26): a patchify ConvNet on CIFAR-10",
              "A3 2025/26: patchify ConvNet on CIFAR-10", "sheet",
              "The network (f x f filters with stride f, a hidden layer, softmax), the patch matrix MX and the "
              "einsum form (more than 3x faster than loops), architectures 1-5; architecture 2 about 57.61 % test "
              "accuracy in the basic run (under 50 s on a laptop), at least one model above 60 % when training "
              "longer (doubling cycles), architecture 5 about 10 minutes; label smoothing; the instructor's best "
              "67.26 %, bonus points at 68 and 70 %.",
              "https://github.com/kahoujo1/DD2424-assignments"),
    Reference("sheet-a4-2025", "DD2424 assignment 4 sheet (2025)", "DD2424 course teacher, KTH", "2025",
              "Assignment 4 (2025)", "A4 2025: character RNN with Adam", "sheet",
              "Adam (eta .001), the loss averaged over the 25 characters of a sequence; smooth loss 4.6049 / "
              "3.3806 / 2.2598 / 1.7861 / 1.5344 at updates 1 / 1,000 / 4,000 / 30,000 / 150,000."),
    # --- peers' public repositories ------------------------------------------------------------------
    Reference("peer-ruggeri", "franco-ruggeri's repository (2020)", "Franco Ruggeri", "2020",
              "dd2424-deep-learning-in-data-science", "A1-A4", "repository",
              "Best linear classifier 41.09 %; best two-layer network 58.04 %; ConvNet without / with "
              "balanced sampling 40.87 / 51.59 %, best ConvNet 61.11 % (3 conv layers).", _RUGGERI),
    Reference("peer-ttperr", "ttperr's repository (2024)", "ttperr", "2024", "DD2424-DL-KTH",
              "A1-A4", "repository", "Multiple binary cross-entropy, 37.31 % (lambda .1, batch 200, eta .005).",
              "https://github.com/ttperr/DD2424-DL-KTH"),
    Reference("peer-antolu", "antolu's repository (2019)", "antolu", "2019", "KTH-DeepLearning-DD2424",
              "A1-A4", "repository",
              "3-layer network without / with batch normalisation 53.97 / 53.55 %, tuned 53.88 %; 9-layer "
              "network 47.77 / 51.79 %.", "https://github.com/antolu/KTH-DeepLearning-DD2424"),
    Reference("peers-2025", "2025/26 peers' repositories", "DD2424 students of 2025/26 (sil-pixel, Jackson0422, "
              "K-I-D-1412, kahoujo1, jackeygle and others)", "2025, 2026", "public solutions to the 2025/26 "
              "assignments", "A1, A3 (patchify) and A4 of 2025/26", "repository",
              "A1 2025: 39.11-39.48 % test accuracy. A3 patchify, basic runs of architectures 1-4: 51.5 / 55.9 / "
              "57.6 / 57.0 (sil-pixel), 50.0 / 55.9 / 58.0 / 56.8 (Jackson0422), 51.2 / 56.2 / 58.7 / 56.6 "
              "(K-I-D-1412); training longer: architecture 3 60.4-61.3, architecture 2 with 40 filters "
              "63.5-64.6; architecture 5 65.7-66.1 (with label smoothing 65.6-66.1); best: 74.88 % "
              "(jackeygle: f 4, 64 filters, 512 hidden units, flips and shifts, label smoothing .1, 5 doubling "
              "cycles, 6,945 s), 71.97 (kahoujo1), 71.02 (Jackson0422), 69.80 (K-I-D-1412). A4 2025: smooth "
              "loss 3.293 / 2.256 / 1.788 at updates 1,000 / 4,000 / 30,000.",
              "https://github.com/kahoujo1/DD2424-assignments"),
    Reference("peer-chris4540", "chris4540's repository (2019)", "chris4540", "2019", "DD2424_Deep_Learning",
              "A1-A4", "repository", "3-layer network with batch normalisation, 52.89 % after a lambda search.",
              "https://github.com/chris4540/DD2424_Deep_Learning"),
)}


def ref(key: str) -> Reference:
    try:
        return REFERENCES[key]
    except KeyError:
        raise HandgradError(f"unknown reference {key!r}; known: {', '.join(REFERENCES)}") from None


def cite(key: str, where: str = "") -> str:
    """How a report names a source: ``cite("ruggeri2020-a3", "table 2")`` ->
    "Ruggeri 2020, DD2424 assignment 3 report, table 2"."""
    short = ref(key).short
    return f"{short}, {where}" if where else short


def cited_in(texts: Iterable[str]) -> list[Reference]:
    """The references whose citation occurs in any of ``texts``, in the order of :data:`REFERENCES`."""
    blob = "\n".join(t for t in texts if t)
    return [r for r in REFERENCES.values() if r.short in blob]


def markdown(refs: Iterable[Reference] | None = None, *, heading: str = "###") -> str:
    """The references as Markdown, one section each (the documentation's references page)."""
    out = []
    for r in REFERENCES.values() if refs is None else refs:
        title = f"[{r.title}]({r.url})" if r.url else r.title
        out += [f"{heading} {r.short} {{#{r.key}}}", "",
                f"{r.author} ({r.year}). *{title}*. {r.assignment}; {r.kind}.", "", r.reports, ""]
    return "\n".join(out)
