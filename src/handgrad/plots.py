"""Figures with matplotlib (optional: ``pip install matplotlib``; the core never imports it).

Every function returns a ``matplotlib.figure.Figure``, which a notebook shows inline and
:func:`save` writes as a PNG (atomically). Figures are made without pyplot, so nothing depends on a
screen or a backend, and a figure is freed as soon as it is not referenced. (Without pyplot no
backend registers a notebook display for them, so :class:`InlineFigure` brings its own PNG.)
"""

from __future__ import annotations

import io as _io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from handgrad.io import atomic_write_bytes


def png(fig: Figure, dpi: int = 110) -> bytes:
    """``fig`` rendered as PNG bytes."""
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parent folders created; written atomically)."""
    return atomic_write_bytes(path, png(fig))


class InlineFigure(Figure):
    """A Figure that Jupyter shows as an image when it is a cell's value: IPython asks an object for
    ``_repr_png_``. (When pyplot's inline backend is loaded, its own display for Figures wins, so a
    figure never shows twice.)"""

    def _repr_png_(self) -> bytes:
        return png(self, dpi=100)


def _figure(figsize, rows: int = 1, cols: int = 1, **kw):
    fig = InlineFigure(figsize=figsize)
    return fig, fig.subplots(rows, cols, **kw)


def learning_curves(history, *, by: str = "epoch", title: str = "") -> Figure:
    """Cost, loss and accuracy on training and validation data, by epoch or update step."""
    cols = history.columns
    x = cols[by]
    metrics = [m for m in ("cost", "loss", "accuracy", "balanced_accuracy") if f"train_{m}" in cols]
    fig, axes = _figure((4.2 * len(metrics), 3.4), 1, len(metrics))
    for ax, m in zip(np.atleast_1d(axes), metrics):
        for split, style in (("train", "-"), ("val", "--")):
            if f"{split}_{m}" in cols:
                ax.plot(x, cols[f"{split}_{m}"], style, label="training" if split == "train" else "validation")
        if history.best_step is not None and by == "step":
            ax.axvline(history.best_step, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("epoch" if by == "epoch" else "update step")
        ax.set_title(m.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def curve_grid(panels: list[list[tuple[str, object] | None]], *, metric: str = "loss", title: str = "") -> Figure:
    """Training and validation ``metric`` by update step, one panel per run, side by side: ``panels``
    is rows of (title, History) (None leaves a panel empty), e.g. the sensitivity study's sigmas
    across and with / without batch norm down. Panels share the y axis, so they compare at a glance."""
    n_rows, n_cols = len(panels), max(len(r) for r in panels)
    fig, axes = _figure((3.8 * n_cols, 3.0 * n_rows), n_rows, n_cols, sharey=True, squeeze=False)
    for i, row in enumerate(panels):
        for j in range(n_cols):
            ax = axes[i][j]
            cell = row[j] if j < len(row) else None
            if cell is None:
                ax.axis("off")
                continue
            name, history = cell
            cols = history.columns
            for split, style in (("train", "-"), ("val", "--")):
                if f"{split}_{metric}" in cols:
                    ax.plot(cols["step"], cols[f"{split}_{metric}"], style,
                            label="training" if split == "train" else "validation")
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("update step")
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel(metric)
                ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def learning_rate(schedule, n_updates: int) -> Figure:
    """The learning rate of every update step."""
    t = np.arange(n_updates)
    fig, ax = _figure((5, 3))
    ax.plot(t, [schedule(i) for i in t])
    ax.set_xlabel("update step")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def class_templates(W, classes, shape=(3, 32, 32)) -> Figure:
    """Each row of W (K, 3072) as an image, min-max scaled, in a 2 x 5 grid (the course's montage).
    ``W`` may be a linear classifier itself (its first layer's W)."""
    if hasattr(W, "layers"):
        W = W.layers[0].params["W"]
    k = len(W)
    cols = 5 if k % 5 == 0 else k
    rows = int(np.ceil(k / cols))
    fig, axes = _figure((1.9 * cols, 2.1 * rows), rows, cols)
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i < k:
            im = W[i].reshape(shape).transpose(1, 2, 0).astype(np.float64)
            im = (im - im.min()) / max(im.max() - im.min(), 1e-12)
            ax.imshow(im, interpolation="nearest")
            ax.set_title(classes[i], fontsize=9)
    fig.tight_layout()
    return fig


def probability_histograms(p_true: np.ndarray, correct: np.ndarray, title: str = "") -> Figure:
    """Histograms of the probability given to the ground-truth class, correct vs incorrect."""
    fig, ax = _figure((5.5, 3.5))
    bins = np.linspace(0, 1, 41)
    ax.hist(p_true[correct], bins=bins, alpha=0.6, label=f"correctly classified ({int(correct.sum())})")
    ax.hist(p_true[~correct], bins=bins, alpha=0.6, label=f"incorrectly classified ({int((~correct).sum())})")
    ax.set_xlabel("probability of the ground-truth class")
    ax.set_ylabel("test images")
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def confusion(cm: np.ndarray, classes, title: str = "") -> Figure:
    """Confusion matrix, rows true classes, columns predictions, counts written in the cells."""
    k = len(classes)
    fig, ax = _figure((0.45 * k + 2.5, 0.45 * k + 2))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    hi = cm.max() if cm.size else 0
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > hi / 2 else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def class_distribution(counts: dict[str, np.ndarray], classes) -> Figure:
    """Bar plot of examples per class for each named set, on a log scale."""
    k = len(classes)
    width = 0.8 / len(counts)
    fig, ax = _figure((0.5 * k + 2, 3.5))
    for i, (name, c) in enumerate(counts.items()):
        ax.bar(np.arange(k) + i * width, c, width, label=name)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(k) + width * (len(counts) - 1) / 2, classes, rotation=90)
    ax.set_ylabel("names")
    ax.legend()
    fig.tight_layout()
    return fig


def search_scatter(records: list[dict], key: str, *, ylabel: str = "validation accuracy",
                   metric: str = "val_accuracy") -> Figure:
    """Every trial's ``metric`` against the hyper-parameter ``key`` (e.g. lambda), one series per
    combination of the other keys searched (e.g. eta), the top three ringed. The x axis is
    logarithmic, and symmetric-log around zero when a trial has ``key`` = 0, so no trial is dropped."""
    others = sorted({k for r in records for k in r["overrides"] if k != key})
    series: dict[tuple, list[tuple[float, float]]] = {}
    for r in records:
        label = tuple(r["overrides"].get(k) for k in others)
        series.setdefault(label, []).append((float(r["overrides"][key]), r["metrics"][metric]))
    fig, ax = _figure((6.5, 3.8))
    for label, pts in sorted(series.items(), key=lambda kv: str(kv[0])):
        pts.sort()
        name = ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in zip(others, label)) or "trials"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=5, lw=0.8, label=name)
    ranked = sorted(records, key=lambda r: -r["metrics"][metric])[:3]
    ax.scatter([float(r["overrides"][key]) for r in ranked], [r["metrics"][metric] for r in ranked], s=140,
               facecolors="none", edgecolors="red", linewidths=1.5, label="top 3", zorder=3)
    xs = [float(r["overrides"][key]) for r in records]
    positive = [x for x in xs if x > 0]
    if any(x <= 0 for x in xs):
        # symlog: linear within [-t, t] around 0, logarithmic beyond; t = the smallest positive value
        ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0)
        ax.axvline(0.0, color="grey", lw=0.6, ls=":")
    elif positive and max(positive) / min(positive) > 10:
        ax.set_xscale("log")
    ax.set_xlabel(key.split(".")[-1] + (" (symmetric log scale: 0 is shown)" if any(x <= 0 for x in xs) else ""))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def smooth_loss(history, title: str = "") -> Figure:
    """A character RNN's smooth loss by update step, with its loss on the whole training and
    validation text at the recording points (same unit: the loss of one sequence)."""
    cols = history.columns
    fig, ax = _figure((7, 3.8))
    for key, label, style in (("smooth_loss", "smooth loss", "-"), ("train_loss", "training text", "o--"),
                              ("val_loss", "validation text", "s--")):
        pts = [(s, v) for s, v in zip(cols["step"], cols.get(key, [])) if v is not None]
        if pts:
            ax.plot(*zip(*pts), style, label=label, lw=1.2, ms=3)
    if history.best_step is not None:
        ax.axvline(history.best_step, color="grey", lw=0.8, ls=":", label="best model")
    ax.set_xlabel("update step")
    ax.set_ylabel("loss per sequence")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def lr_range(res, val_smoothed: np.ndarray, title: str = "") -> Figure:
    """The learning-rate range test: accuracy and loss against the learning rate, the smoothed
    validation accuracy, and the suggested eta_min / eta_max marked (``handgrad.lrfind``)."""
    fig, axes = _figure((9.5, 3.6), 1, 2)
    lr = np.asarray(res.lr)
    win = res.suggestion.get("window", 5)
    for ax, key in zip(axes, ("accuracy", "loss")):
        for split, style in (("train", "-"), ("val", "--")):
            y = np.array([np.nan if v is None else v for v in getattr(res, f"{split}_{key}")], dtype=float)
            ax.plot(lr, y, style, alpha=0.5, label="training" if split == "train" else "validation")
        if key == "accuracy":
            ax.plot(lr, val_smoothed, color="black", lw=1, label=f"validation, smoothed ({win})")
        for k, c in (("eta_min", "green"), ("eta_max", "red")):
            if res.suggestion.get(k) is not None:
                ax.axvline(res.suggestion[k], color=c, ls=":", label=f"{k} = {res.suggestion[k]:.3g}")
        ax.set_xlabel("learning rate")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
