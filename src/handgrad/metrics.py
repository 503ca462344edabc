"""Classification metrics from labels and predictions."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts: rows are true classes, columns predicted classes."""
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    return cm


def per_class_accuracy(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Recall of each class (nan for a class absent from y)."""
    cm = confusion_matrix(y, pred, k)
    totals = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / np.maximum(totals, 1), np.nan)


def balanced_accuracy(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Mean of the per-class accuracies over the classes present."""
    return float(np.nanmean(per_class_accuracy(y, pred, k)))
