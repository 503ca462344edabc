"""Confusion matrix, per-class and balanced accuracy on a hand-counted example."""

import numpy as np

from handgrad.metrics import balanced_accuracy, confusion_matrix, per_class_accuracy


def test_metrics_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 1, 0, 1, 1, 0])
    assert confusion_matrix(y, p, 4).tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    pc = per_class_accuracy(y, p, 4)
    assert np.allclose(pc[:3], [2 / 3, 1.0, 0.0]) and np.isnan(pc[3])
    assert np.isclose(balanced_accuracy(y, p, 4), (2 / 3 + 1 + 0) / 3)
